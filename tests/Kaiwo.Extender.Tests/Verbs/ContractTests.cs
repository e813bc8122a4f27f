using System.Net;
using System.Text.Json;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>
/// The wire contract against the bodies a real kube-scheduler sent, posted byte for byte through the whole service
/// (routing, JSON, verbs, pipeline, standalone state), in both extender modes.
/// </summary>
/// <remarks>
/// Every captured call is replayed on clusters of its own (<see cref="NamesReplayCluster"/>, <see cref="FullReplayCluster"/>):
/// its binds take devices, so the scenarios below run on clusters where only the scenarios themselves bind.
/// </remarks>
public sealed class ContractTests(NamesCluster names, FullCluster full, NamesReplayCluster namesReplay, FullReplayCluster fullReplay)
    : IClassFixture<NamesCluster>, IClassFixture<FullCluster>, IClassFixture<NamesReplayCluster>, IClassFixture<FullReplayCluster>
{
    private static readonly string[] FilterKeys = ["Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"];
    private static readonly string[] HostPriorityKeys = ["Host", "Score"];
    private static readonly string[] BindKeys = ["Error"];
    private static readonly string[] PreemptKeys = ["NodeNameToMetaVictims"];
    private static readonly string[] MetaVictimsKeys = ["Pods", "NumPDBViolations"];
    private static readonly string[] MetaPodKeys = ["UID"];

    private static readonly string[] SpxNodes = [.. Enumerable.Range(1, 8).Select(i => $"gpu-node-{i:00}")];
    private static readonly string[] CpxNodes = [.. Enumerable.Range(9, 4).Select(i => $"gpu-node-{i:00}")];
    private static readonly string[] CpuNodes = ["cpu-node-01", "cpu-node-02"];
    private static readonly string[] PreemptionNodes = ["gpu-node-09", "gpu-node-10", "gpu-node-11"];

    /// <summary>
    /// Binds that must be refused: the bad annotation, the xcd pod that the capturing extender let onto an SPX node,
    /// and (names only) a pod whose filter was never captured, so the extender never saw it.
    /// </summary>
    private static readonly HashSet<string> RefusedBinds = new(StringComparer.Ordinal)
    {
        "names/bind-bad-fraction.json",
        "names/bind-frac-quarter-xcd.json",
        "names/bind-multi-container.json",
        "full/bind-bad-fraction.json",
        "full/bind-frac-quarter-xcd.json",
    };

    public static TheoryData<string, string> CapturedPayloads()
    {
        var data = new TheoryData<string, string>();
        foreach (var mode in Fixtures.Modes)
        {
            foreach (var file in Fixtures.PayloadFiles(mode))
            {
                data.Add(mode, file);
            }
        }

        return data;
    }

    [Theory]
    [InlineData("names", "filter-frac-half.json")]
    [InlineData("names", "prioritize-frac-half.json")]
    [InlineData("full", "filter-frac-half.json")]
    public async Task Verb_FilterOrPrioritize_AnswersWholeWithItsContentLength(string mode, string file)
    {
        var client = mode == "names" ? names.Client : full.Client;
        using var content = new ByteArrayContent(Fixtures.ReadPayload(mode, file));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        using var response = await client.PostAsync($"/{Fixtures.VerbOf(file)}", content);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEqual(true, response.Headers.TransferEncodingChunked);
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);
        Assert.True(body.Length > 2, "the answer has a body");
    }

    [Theory]
    [MemberData(nameof(CapturedPayloads))]
    public async Task Verb_CapturedPayloadAfterTheCallsBeforeIt_AnswersInTheExtenderV1Shape(string mode, string file)
    {
        var client = mode == "names" ? namesReplay.Client : fullReplay.Client;
        foreach (var earlier in EarlierCallsFor(mode, file))
        {
            var answer = await Fixtures.PostPayloadAsync(client, mode, earlier);
            Assert.True(answer.Status == HttpStatusCode.OK, $"{mode}/{earlier} (posted before {file}): {answer}");
        }

        var request = Fixtures.ReadPayloadJson(mode, file);
        var result = await Fixtures.PostPayloadAsync(client, mode, file);

        Assert.True(result.Status == HttpStatusCode.OK, $"{mode}/{file}: {result}");
        Assert.Equal("application/json", result.MediaType);
        var json = result.Json;
        switch (Fixtures.VerbOf(file))
        {
            case "filter":
                AssertFilterAnswer(mode, request, json);
                break;
            case "prioritize":
                AssertPrioritizeAnswer(request, json);
                break;
            case "bind":
                AssertBindAnswer(json, shouldSucceed: !RefusedBinds.Contains($"{mode}/{file}"));
                break;
            case "preempt":
                AssertPreemptShape(json);
                break;
            default:
                Assert.Fail($"unexpected verb in {file}");
                break;
        }
    }

    [Theory]
    [InlineData("names")]
    [InlineData("full")]
    public async Task Filter_BadFractionAnnotation_EveryNodeUnresolvableNamingAnnotationAndValue(string mode)
    {
        var answer = (await Fixtures.PostPayloadAsync(ClientFor(mode), mode, "filter-bad-fraction.json")).Json;

        var request = Fixtures.ReadPayloadJson(mode, "filter-bad-fraction.json");
        var unresolvable = JsonShape.StringMap(answer.GetProperty("FailedAndUnresolvableNodes"));
        Assert.Equal(JsonShape.CandidateNodes(request).Order(StringComparer.Ordinal), unresolvable.Keys.Order(StringComparer.Ordinal));
        Assert.All(unresolvable.Values, reason =>
        {
            Assert.Contains("kaiwo.ai/gpu-fraction", reason, StringComparison.Ordinal);
            Assert.Contains("abc", reason, StringComparison.Ordinal);
        });
        Assert.Empty(answer.GetProperty("FailedNodes").EnumerateObject());
        Assert.Empty(PassedNodes(mode, answer));
    }

    [Theory]
    [InlineData("names")]
    [InlineData("full")]
    public async Task Bind_BadFractionPodAfterFilter_ReturnsErrorNamingTheAnnotation(string mode)
    {
        var client = ClientFor(mode);
        await Fixtures.PostPayloadAsync(client, mode, "filter-bad-fraction.json");

        var answer = await Fixtures.PostPayloadAsync(client, mode, "bind-bad-fraction.json");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Contains("kaiwo.ai/gpu-fraction", answer.Json.GetProperty("Error").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("names")]
    [InlineData("full")]
    public async Task Filter_QuarterXcdFraction_PassesOnlyPartitionedNodes(string mode)
    {
        var answer = (await Fixtures.PostPayloadAsync(ClientFor(mode), mode, "filter-frac-quarter-xcd.json")).Json;

        var unresolvable = JsonShape.StringMap(answer.GetProperty("FailedAndUnresolvableNodes"));
        Assert.Equal(CpxNodes, PassedNodes(mode, answer));
        Assert.Equal([.. CpuNodes, .. SpxNodes], unresolvable.Keys.Order(StringComparer.Ordinal));
        Assert.All(SpxNodes, node => Assert.Contains("xcd", unresolvable[node], StringComparison.Ordinal));
        Assert.Empty(answer.GetProperty("FailedNodes").EnumerateObject());
    }

    [Theory]
    [InlineData("names")]
    [InlineData("full")]
    public async Task Filter_FourWholeGpus_PassesEveryGpuNode(string mode)
    {
        var answer = (await Fixtures.PostPayloadAsync(ClientFor(mode), mode, "filter-gpu-x4.json")).Json;

        Assert.Equal([.. SpxNodes, .. CpxNodes], PassedNodes(mode, answer));
        Assert.Empty(answer.GetProperty("FailedNodes").EnumerateObject());
        Assert.Empty(answer.GetProperty("FailedAndUnresolvableNodes").EnumerateObject());
    }

    [Theory]
    [InlineData("names")]
    [InlineData("full")]
    public async Task Filter_PodWithoutGpuAsk_PassesEveryNode(string mode)
    {
        var answer = (await Fixtures.PostPayloadAsync(ClientFor(mode), mode, "filter-cpu-only.json")).Json;

        Assert.Equal([.. SpxNodes, .. CpxNodes, .. CpuNodes], PassedNodes(mode, answer));
    }

    [Theory]
    [InlineData("names")]
    [InlineData("full")]
    public async Task Prioritize_PodWithoutGpuAsk_ScoresCpuNodesAboveGpuNodes(string mode)
    {
        var client = ClientFor(mode);
        await Fixtures.PostPayloadAsync(client, mode, "filter-cpu-only.json");

        var answer = (await Fixtures.PostPayloadAsync(client, mode, "prioritize-cpu-only.json")).Json;

        var scores = answer.EnumerateArray().ToDictionary(e => e.GetProperty("Host").GetString()!, e => e.GetProperty("Score").GetInt64(), StringComparer.Ordinal);
        var lowestCpu = CpuNodes.Min(n => scores[n]);
        var highestGpu = SpxNodes.Concat(CpxNodes).Max(n => scores[n]);
        Assert.True(lowestCpu > highestGpu, $"cpu nodes should score above GPU nodes: {answer}");
    }

    [Theory]
    [InlineData("names")]
    [InlineData("full")]
    public async Task Bind_RepeatedToTheSameNode_SucceedsWithOneHold(string mode)
    {
        var client = ClientFor(mode);
        var bind = Fixtures.ReadPayloadJson(mode, "bind-frac-half.json");
        var uid = bind.GetProperty("PodUID").GetString()!;
        var node = bind.GetProperty("Node").GetString()!;
        await Fixtures.PostPayloadAsync(client, mode, "filter-frac-half.json");

        var first = await Fixtures.PostPayloadAsync(client, mode, "bind-frac-half.json");
        var second = await Fixtures.PostPayloadAsync(client, mode, "bind-frac-half.json");

        Assert.Equal(string.Empty, first.Json.GetProperty("Error").GetString());
        Assert.Equal(string.Empty, second.Json.GetProperty("Error").GetString());
        var holds = await HoldsOfAsync(client, uid);
        var hold = Assert.Single(holds);
        Assert.Equal(node, hold.Node);
        Assert.Equal("0.5", hold.Compute);
    }

    [Theory]
    [InlineData("names")]
    [InlineData("full")]
    public async Task Bind_BoundPodToAnotherNode_ReturnsErrorAndKeepsTheFirstHold(string mode)
    {
        var client = ClientFor(mode);
        var bind = Fixtures.ReadPayloadJson(mode, "bind-frac-half.json");
        var uid = bind.GetProperty("PodUID").GetString()!;
        var node = bind.GetProperty("Node").GetString()!;
        var other = node == "gpu-node-07" ? "gpu-node-06" : "gpu-node-07";
        await Fixtures.PostPayloadAsync(client, mode, "filter-frac-half.json");
        await Fixtures.PostPayloadAsync(client, mode, "bind-frac-half.json");

        var elsewhere = JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["PodName"] = bind.GetProperty("PodName").GetString()!,
            ["PodNamespace"] = bind.GetProperty("PodNamespace").GetString()!,
            ["PodUID"] = uid,
            ["Node"] = other,
        });
        var answer = await Fixtures.PostAsync(client, "/bind", elsewhere);

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        var error = answer.Json.GetProperty("Error").GetString();
        Assert.False(string.IsNullOrEmpty(error), $"a bind to {other} after {node} must be refused: {answer}");
        Assert.Contains(node, error, StringComparison.Ordinal);
        var hold = Assert.Single(await HoldsOfAsync(client, uid));
        Assert.Equal(node, hold.Node);
    }

    [Fact]
    public async Task Bind_PodNeverFiltered_ReturnsErrorSayingItIsNotKnown()
    {
        // The names capture has a bind for multi-container but no filter: this extender never saw the pod.
        var answer = await Fixtures.PostPayloadAsync(names.Client, "names", "bind-multi-container.json");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Contains("not known", answer.Json.GetProperty("Error").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("names")]
    [InlineData("full")]
    public async Task Preempt_VictimsThatFreeRoomForTheGpu_PassesEveryNodeWithItsVictimUids(string mode)
    {
        var request = Fixtures.ReadPayloadJson(mode, "preempt-hp-preemptor.json");
        var expected = mode == "names"
            ? request.GetProperty("NodeNameToMetaVictims").EnumerateObject().ToDictionary(
                p => p.Name,
                p => p.Value.GetProperty("Pods").EnumerateArray().Select(v => v.GetProperty("UID").GetString()!).ToList(),
                StringComparer.Ordinal)
            : request.GetProperty("NodeNameToVictims").EnumerateObject().ToDictionary(
                p => p.Name,
                p => p.Value.GetProperty("Pods").EnumerateArray().Select(v => v.GetProperty("metadata").GetProperty("uid").GetString()!).ToList(),
                StringComparer.Ordinal);
        Assert.Equal(PreemptionNodes, expected.Keys.Order(StringComparer.Ordinal));

        var answer = await Fixtures.PostPayloadAsync(ClientFor(mode), mode, "preempt-hp-preemptor.json");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        AssertPreemptShape(answer.Json);
        var victims = answer.Json.GetProperty("NodeNameToMetaVictims");
        Assert.Equal(PreemptionNodes, JsonShape.PropertyNames(victims).Order(StringComparer.Ordinal));
        foreach (var node in PreemptionNodes)
        {
            var entry = victims.GetProperty(node);
            Assert.Equal(expected[node], entry.GetProperty("Pods").EnumerateArray().Select(v => v.GetProperty("UID").GetString()!));
            Assert.Equal(0, entry.GetProperty("NumPDBViolations").GetInt64());
        }
    }

    private HttpClient ClientFor(string mode) => mode == "names" ? names.Client : full.Client;

    /// <summary>
    /// The captured calls for the same pod that kube-scheduler makes before this one: filter (and its retry), then
    /// prioritize, then preempt, then bind. A bind thus follows the filter that made the pod known.
    /// </summary>
    private static IEnumerable<string> EarlierCallsFor(string mode, string file)
    {
        var pod = Fixtures.PodOf(file);
        var rank = Rank(file);
        return Fixtures.PayloadFiles(mode)
            .Where(f => Fixtures.PodOf(f) == pod && Rank(f).CompareTo(rank) < 0)
            .OrderBy(Rank);

        static (int Verb, int Attempt) Rank(string f) => (
            Fixtures.VerbOf(f) switch { "filter" => 0, "prioritize" => 1, "preempt" => 2, _ => 3 },
            f.EndsWith(".2.json", StringComparison.Ordinal) ? 2 : 1);
    }

    /// <summary>The names of the nodes a filter answer passed: NodeNames, or the names of Nodes.items.</summary>
    private static IReadOnlyList<string> PassedNodes(string mode, JsonElement answer) =>
        mode == "names"
            ? JsonShape.Strings(answer.GetProperty("NodeNames"))
            : [.. answer.GetProperty("Nodes").GetProperty("items").EnumerateArray().Select(n => n.GetProperty("metadata").GetProperty("name").GetString()!)];

    private static void AssertFilterAnswer(string mode, JsonElement request, JsonElement answer)
    {
        Assert.Equal(FilterKeys.Order(StringComparer.Ordinal), JsonShape.PropertyNames(answer).Order(StringComparer.Ordinal));
        Assert.Equal(string.Empty, answer.GetProperty("Error").GetString());

        var candidates = JsonShape.CandidateNodes(request);
        IReadOnlyList<string> passed;
        if (mode == "names")
        {
            Assert.Equal(JsonValueKind.Null, answer.GetProperty("Nodes").ValueKind);
            Assert.Equal(JsonValueKind.Array, answer.GetProperty("NodeNames").ValueKind);
            passed = JsonShape.Strings(answer.GetProperty("NodeNames"));
        }
        else
        {
            Assert.Equal(JsonValueKind.Null, answer.GetProperty("NodeNames").ValueKind);
            var items = answer.GetProperty("Nodes").GetProperty("items").EnumerateArray().ToList();
            passed = [.. items.Select(n => n.GetProperty("metadata").GetProperty("name").GetString()!)];

            // The passed Node objects are the ones kube-scheduler sent, not stand-ins.
            var sent = request.GetProperty("Nodes").GetProperty("items").EnumerateArray()
                .ToDictionary(n => n.GetProperty("metadata").GetProperty("name").GetString()!, StringComparer.Ordinal);
            Assert.All(items, item =>
            {
                var original = sent[item.GetProperty("metadata").GetProperty("name").GetString()!];
                Assert.Equal(original.GetProperty("metadata").GetProperty("uid").GetString(), item.GetProperty("metadata").GetProperty("uid").GetString());
                Assert.Equal(
                    original.GetProperty("status").GetProperty("allocatable").GetRawText(),
                    item.GetProperty("status").GetProperty("allocatable").GetRawText());
            });
        }

        var failed = JsonShape.StringMap(answer.GetProperty("FailedNodes"));
        var unresolvable = JsonShape.StringMap(answer.GetProperty("FailedAndUnresolvableNodes"));

        // Passed nodes keep the order they came in.
        Assert.Equal(candidates.Where(passed.Contains), passed);
        foreach (var node in candidates)
        {
            var places = (passed.Contains(node) ? 1 : 0) + (failed.ContainsKey(node) ? 1 : 0) + (unresolvable.ContainsKey(node) ? 1 : 0);
            Assert.True(places == 1, $"node {node} must be passed or listed exactly once; it is in {places} places: {answer}");
        }

        Assert.Equal(candidates.Count, passed.Count + failed.Count + unresolvable.Count);
        Assert.All(failed.Concat(unresolvable), p => Assert.False(string.IsNullOrWhiteSpace(p.Value), $"node {p.Key} is listed without a reason"));
    }

    private static void AssertPrioritizeAnswer(JsonElement request, JsonElement answer)
    {
        Assert.Equal(JsonValueKind.Array, answer.ValueKind);
        var entries = answer.EnumerateArray().ToList();
        Assert.All(entries, entry =>
        {
            Assert.Equal(HostPriorityKeys, JsonShape.PropertyNames(entry));
            var score = entry.GetProperty("Score");
            Assert.Equal(JsonValueKind.Number, score.ValueKind);
            Assert.True(score.TryGetInt64(out var value) && !score.GetRawText().Contains('.', StringComparison.Ordinal), $"score {score} is not an integer");
            Assert.InRange(value, 0, 10);
        });
        Assert.Equal(JsonShape.CandidateNodes(request), entries.Select(e => e.GetProperty("Host").GetString()!));
    }

    private static void AssertBindAnswer(JsonElement answer, bool shouldSucceed)
    {
        Assert.Equal(BindKeys, JsonShape.PropertyNames(answer));
        Assert.Equal(JsonValueKind.String, answer.GetProperty("Error").ValueKind);
        var error = answer.GetProperty("Error").GetString();
        if (shouldSucceed)
        {
            Assert.True(error == string.Empty, $"bind should succeed: {error}");
        }
        else
        {
            Assert.False(string.IsNullOrEmpty(error), "bind should be refused with a reason");
        }
    }

    private static void AssertPreemptShape(JsonElement answer)
    {
        Assert.Equal(PreemptKeys, JsonShape.PropertyNames(answer));
        var victims = answer.GetProperty("NodeNameToMetaVictims");
        Assert.Equal(JsonValueKind.Object, victims.ValueKind);
        foreach (var node in victims.EnumerateObject())
        {
            Assert.Equal(MetaVictimsKeys, JsonShape.PropertyNames(node.Value));
            var pods = node.Value.GetProperty("Pods").EnumerateArray().ToList();
            Assert.NotEmpty(pods);
            Assert.All(pods, pod =>
            {
                Assert.Equal(MetaPodKeys, JsonShape.PropertyNames(pod));
                Assert.False(string.IsNullOrEmpty(pod.GetProperty("UID").GetString()));
            });
            Assert.True(node.Value.GetProperty("NumPDBViolations").TryGetInt64(out _));
        }
    }

    /// <summary>Every hold /inspect lists for a pod uid: the node and the compute share on each GPU entry.</summary>
    private static async Task<List<(string Node, int Gpu, string Compute)>> HoldsOfAsync(HttpClient client, string uid)
    {
        var inspect = await Fixtures.GetAsync(client, "/inspect");
        Assert.Equal(HttpStatusCode.OK, inspect.Status);
        var holds = new List<(string, int, string)>();
        foreach (var node in inspect.Json.GetProperty("nodes").EnumerateArray())
        {
            foreach (var gpu in node.GetProperty("gpus").EnumerateArray())
            {
                foreach (var pod in gpu.GetProperty("pods").EnumerateArray().Where(p => p.GetProperty("uid").GetString() == uid))
                {
                    holds.Add((node.GetProperty("name").GetString()!, gpu.GetProperty("index").GetInt32(), pod.GetProperty("compute").GetString()!));
                }
            }
        }

        return holds;
    }
}

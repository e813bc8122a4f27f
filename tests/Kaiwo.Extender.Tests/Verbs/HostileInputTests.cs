using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>The names cluster for the hostile-input classes alone (some of them bind).</summary>
public sealed class HostileCluster() : ExtenderFixture(ExtenderFactory.ForMode("names"));

/// <summary>The names cluster remembering at most three pods from filter.</summary>
public sealed class SmallPendingCluster() : ExtenderFixture(
    ExtenderFactory.ForMode("names", new Dictionary<string, string?> { ["Extender:PendingPodCapacity"] = "3" }))
{
    public const int Capacity = 3;
}

/// <summary>
/// One test per class of hostile input: a body that is not a usable request is a 400 naming the JSON path; a pod
/// asking for something invalid is refused on every node with the field, the value and what is accepted; a field
/// never read cannot fail a request; filter holds nothing for what a body claims; bind takes the newest copy and
/// only pods that are ours; nodes beyond the limits are refused, not allocated for.
/// </summary>
public sealed class HostileInputTests(HostileCluster cluster, SmallPendingCluster small) : IClassFixture<HostileCluster>, IClassFixture<SmallPendingCluster>
{
    private readonly HttpClient _client = cluster.Client;

    /// <summary>The captured filter of frac-half (half a GPU, team-a, kaiwo-scheduler), as a tree to change.</summary>
    private static JsonObject FracHalf() => JsonNode.Parse(File.ReadAllText(Fixtures.PayloadPath("names", "filter-frac-half.json")))!.AsObject();

    private static JsonObject Pod(JsonObject body) => body["Pod"]!.AsObject();

    private static JsonObject Metadata(JsonObject body) => Pod(body)["metadata"]!.AsObject();

    private static JsonObject Container(JsonObject body) => Pod(body)["spec"]!["containers"]![0]!.AsObject();

    /// <summary>A copy of frac-half with a fresh name and uid, so that each test has its own pod.</summary>
    private static JsonObject NewPod(string name)
    {
        var body = FracHalf();
        Metadata(body)["name"] = name;
        Metadata(body)["uid"] = $"00000000-0000-4000-8000-{Math.Abs(name.GetHashCode(StringComparison.Ordinal)):000000000000}";
        return body;
    }

    public static TheoryData<string, string, string> UnusableBodies() => new()
    {
        // verb, JSON pointer-ish change applied by Unusable(), the path the error must name
        { "filter", "NodeNames[1]=null", "$.NodeNames[1]" },
        { "filter", "annotation=object", "$.Pod.metadata.annotations['kaiwo.ai/gpu-fraction']" },
        { "filter", "containers=string", "$.Pod.spec.containers" },
        { "filter", "priority=1e400", "$.Pod.spec.priority" },
        { "filter", "labels=array", "$.Pod.metadata.labels" },
        { "filter", "name=megabyte", "$.Pod.metadata.name" },
        { "filter", "requests=array", "$.Pod.spec.containers[0].resources.requests" },
        { "prioritize", "cpu=object", "$.Pod.spec.containers[0].resources.requests['cpu']" },
        { "preempt", "victim-uid=null", "$.NodeNameToMetaVictims['gpu-node-01'].Pods[0].UID" },
        { "bind", "PodUID=number", "$.PodUID" },
    };

    [Theory]
    [MemberData(nameof(UnusableBodies))]
    public async Task Verb_WrongJsonTypeInAFieldItReads_Returns400NamingThePath(string verb, string change, string path)
    {
        var before = await Fixtures.GetAsync(_client, "/inspect");

        var answer = await Fixtures.PostAsync(_client, "/" + verb, Unusable(verb, change));

        Assert.True(answer.Status == HttpStatusCode.BadRequest, answer.ToString());
        Assert.Contains(path, answer.Json.GetProperty("Error").GetString(), StringComparison.Ordinal);
        Assert.Equal(before.Body, (await Fixtures.GetAsync(_client, "/inspect")).Body);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("abc")]
    [InlineData("1x")]
    [InlineData("1e400")]
    [InlineData("1E")]
    public async Task Filter_CpuQuantityTheCoreCannotCount_RefusesThePodOnEveryNodeQuotingTheValue(string cpu)
    {
        var body = NewPod("bad-cpu");
        Container(body)["resources"]!["requests"]!["cpu"] = cpu;

        var answer = await Fixtures.PostAsync(_client, "/filter", body.ToJsonString());

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        var refused = JsonShape.StringMap(answer.Json.GetProperty("FailedAndUnresolvableNodes"));
        Assert.Equal(14, refused.Count);
        Assert.All(refused.Values, reason => Assert.Contains($"container \"main\" resources.requests.cpu: \"{cpu}\" is not accepted; a non-negative Kubernetes quantity", reason, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Filter_NullAnnotationValue_RefusesThePodNamingTheAnnotationAndTheEmptyValue()
    {
        // null is the empty string in a Go map[string]string: a usable request whose ask is invalid.
        var body = NewPod("null-fraction");
        Metadata(body)["annotations"]!["kaiwo.ai/gpu-fraction"] = null;

        var answer = await Fixtures.PostAsync(_client, "/filter", body.ToJsonString());

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        var refused = JsonShape.StringMap(answer.Json.GetProperty("FailedAndUnresolvableNodes"));
        Assert.Equal(14, refused.Count);
        Assert.All(refused.Values, reason => Assert.Contains("kaiwo.ai/gpu-fraction: \"\" is not accepted", reason, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Filter_HostileFieldsItNeverReads_AnswersAsForTheCleanPod()
    {
        var clean = NewPod("unused-fields");
        var hostile = NewPod("unused-fields");
        var container = Container(hostile);
        container["ports"] = new JsonArray(new JsonObject { ["containerPort"] = new JsonArray(1, 2), ["name"] = new JsonObject() });
        container["livenessProbe"] = new JsonObject { ["httpGet"] = new JsonObject { ["port"] = new JsonObject { ["a"] = null } } };
        container["env"] = new JsonArray(null, 3, "x");
        container["image"] = new JsonArray();
        Metadata(hostile)["creationTimestamp"] = "not a time";
        Metadata(hostile)["managedFields"] = "garbage";
        Pod(hostile)["spec"]!["tolerations"] = 1e300;
        Pod(hostile)["status"]!["conditions"] = new JsonObject { ["lastTransitionTime"] = false };

        var expected = await Fixtures.PostAsync(_client, "/filter", clean.ToJsonString());
        var answer = await Fixtures.PostAsync(_client, "/filter", hostile.ToJsonString());

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(expected.Body, answer.Body);
    }

    [Fact]
    public async Task Filter_DuplicateAndOddlyCasedKeys_TheLastOneWins()
    {
        // "POD" after "Pod" is the same key to Go's decoder: the later one, a pod without GPUs, is the request.
        var gpuPod = Pod(NewPod("dup-gpu")).ToJsonString();
        var cpuPod = File.ReadAllText(Fixtures.PayloadPath("names", "filter-cpu-only.json"));
        var cpuPodJson = JsonNode.Parse(cpuPod)!["Pod"]!.ToJsonString();
        var names = FracHalf()["NodeNames"]!.ToJsonString();
        var body = $$"""{"Pod":{{gpuPod}},"NodeNames":{{names}},"POD":{{cpuPodJson}}}""";

        var answer = await Fixtures.PostAsync(_client, "/filter", body);

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(14, answer.Json.GetProperty("NodeNames").GetArrayLength());
    }

    [Fact]
    public async Task Filter_PodClaimingANodeAndAnAllocationRecord_HoldsNothing()
    {
        var body = NewPod("claims-a-gpu");
        Pod(body)["spec"]!["nodeName"] = "gpu-node-01";
        Pod(body)["status"]!["phase"] = "Running";
        Metadata(body)["annotations"]!["kaiwo.ai/gpu-allocation"] =
            """{"version":1,"node":"gpu-node-01","kind":"whole","isolation":"time-slicing","gpus":[{"index":0,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[0],"computeMilli":1000,"memoryMiB":196608}]}""";
        var before = (await Fixtures.GetAsync(_client, "/inspect")).Json.GetProperty("nodes").GetRawText();

        await Fixtures.PostAsync(_client, "/filter", body.ToJsonString());
        await Fixtures.PostAsync(_client, "/prioritize", body.ToJsonString());

        Assert.Equal(before, (await Fixtures.GetAsync(_client, "/inspect")).Json.GetProperty("nodes").GetRawText());
    }

    [Fact]
    public async Task Bind_PodFilteredAgainWithAnotherAsk_PlacesTheNewestAsk()
    {
        var body = NewPod("changes-its-mind");
        await Fixtures.PostAsync(_client, "/filter", body.ToJsonString());
        Metadata(body)["annotations"]!["kaiwo.ai/gpu-fraction"] = "0.25";
        await Fixtures.PostAsync(_client, "/filter", body.ToJsonString());

        var answer = await Fixtures.PostAsync(_client, "/bind", Binding(body, "gpu-node-07"));

        Assert.Equal(string.Empty, answer.Json.GetProperty("Error").GetString());
        var node = (await Fixtures.GetAsync(_client, "/inspect/gpu-node-07")).Json;
        var held = node.GetProperty("gpus").EnumerateArray().SelectMany(g => g.GetProperty("pods").EnumerateArray())
            .Single(p => p.GetProperty("pod").GetString() == "team-a/changes-its-mind");
        Assert.Equal("0.25", held.GetProperty("compute").GetString());
    }

    public static TheoryData<string, string> NotOurs() => new()
    {
        { "schedulerName", "spec.schedulerName \"default-scheduler\"" },
        { "deleting", "being deleted" },
        { "boundElsewhere", "already bound to gpu-node-02" },
        { "uidOfAnotherPod", "belongs to team-a/" },
    };

    [Theory]
    [MemberData(nameof(NotOurs))]
    public async Task Bind_PodThatIsNotOurs_RefusesWithTheReasonAndReservesNothing(string why, string reason)
    {
        var body = NewPod("not-ours-" + why);
        switch (why)
        {
            case "schedulerName":
                Pod(body)["spec"]!["schedulerName"] = "default-scheduler";
                break;
            case "deleting":
                Metadata(body)["deletionTimestamp"] = "2026-11-23T13:59:00Z";
                break;
            case "boundElsewhere":
                Pod(body)["spec"]!["nodeName"] = "gpu-node-02";
                break;
        }

        await Fixtures.PostAsync(_client, "/filter", body.ToJsonString());
        if (why == "uidOfAnotherPod")
        {
            Metadata(body)["name"] = "someone-else";
        }

        var before = (await Fixtures.GetAsync(_client, "/inspect")).Json.GetProperty("nodes").GetRawText();
        var answer = await Fixtures.PostAsync(_client, "/bind", Binding(body, "gpu-node-03"));

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Contains(reason, answer.Json.GetProperty("Error").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, (await Fixtures.GetAsync(_client, "/inspect")).Json.GetProperty("nodes").GetRawText());
    }

    [Fact]
    public async Task Preempt_PreemptorOfAnotherScheduler_IsOfferedNoVictims()
    {
        var body = JsonNode.Parse(File.ReadAllText(Fixtures.PayloadPath("names", "preempt-hp-preemptor.json")))!.AsObject();
        body["Pod"]!["spec"]!["schedulerName"] = "default-scheduler";

        var answer = await Fixtures.PostAsync(_client, "/preempt", body.ToJsonString());

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Empty(answer.Json.GetProperty("NodeNameToMetaVictims").EnumerateObject());
    }

    public static TheoryData<string, string, string> NodesBeyondTheLimits() => new()
    {
        { "amd.com/gpu", "1000000000", "at most 1024 logical GPUs per node" },
        { "amd.com/gpu", "1E", "at most 1024 logical GPUs per node" },
        { "cpu", "1E", "allocatable cpu is \"1E\"" },
        { "memory", "-5Gi", "allocatable memory is \"-5Gi\"" },
    };

    [Theory]
    [MemberData(nameof(NodesBeyondTheLimits))]
    public async Task Filter_NodeAdvertisingMoreThanTheLimits_IsUnresolvableWithTheReason(string resource, string amount, string reason)
    {
        var body = NewPod("beyond-limits");
        body["NodeNames"] = null;
        body["Nodes"] = new JsonObject
        {
            ["items"] = new JsonArray(new JsonObject
            {
                ["metadata"] = new JsonObject { ["name"] = "huge-node", ["labels"] = new JsonObject { ["amd.com/gpu.product-name"] = "AMD_Instinct_MI300X_OAM" } },
                ["status"] = new JsonObject { ["allocatable"] = new JsonObject { ["amd.com/gpu"] = "8", ["cpu"] = "96", [resource] = amount } },
            }),
        };

        var answer = await Fixtures.PostAsync(_client, "/filter", body.ToJsonString());

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Contains(reason, JsonShape.StringMap(answer.Json.GetProperty("FailedAndUnresolvableNodes"))["huge-node"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Filter_StreamOfNewPods_RemembersAtMostTheCapacityAndCountsOnlyThoseAsPending()
    {
        var state = small.Factory.Services.GetRequiredService<ClusterState>();
        var before = state.PodCount;

        for (var i = 0; i < 20; i++)
        {
            await Fixtures.PostAsync(small.Client, "/filter", NewPod($"stream-{i}").ToJsonString());
        }

        Assert.Equal(before + SmallPendingCluster.Capacity, state.PodCount);
        Assert.True(state.TryGetPod(Metadata(NewPod("stream-19"))["uid"]!.GetValue<string>(), out _, out _));
        Assert.False(state.TryGetPod(Metadata(NewPod("stream-0"))["uid"]!.GetValue<string>(), out _, out _));
    }

    private static string Binding(JsonObject filterBody, string node)
    {
        var metadata = Metadata(filterBody);
        return JsonSerializer.Serialize(new { PodName = metadata["name"]!.GetValue<string>(), PodNamespace = metadata["namespace"]!.GetValue<string>(), PodUID = metadata["uid"]!.GetValue<string>(), Node = node });
    }

    private static string Unusable(string verb, string change)
    {
        if (verb == "bind")
        {
            return """{"PodName":"frac-half","PodNamespace":"team-a","PodUID":12,"Node":"gpu-node-01"}""";
        }

        if (verb == "preempt")
        {
            var preempt = JsonNode.Parse(File.ReadAllText(Fixtures.PayloadPath("names", "preempt-hp-preemptor.json")))!.AsObject();
            preempt["NodeNameToMetaVictims"] = new JsonObject { ["gpu-node-01"] = new JsonObject { ["Pods"] = new JsonArray(new JsonObject { ["UID"] = null }) } };
            return preempt.ToJsonString();
        }

        var body = NewPod("unusable");
        switch (change)
        {
            case "NodeNames[1]=null":
                body["NodeNames"]![1] = null;
                break;
            case "annotation=object":
                Metadata(body)["annotations"]!["kaiwo.ai/gpu-fraction"] = new JsonObject { ["value"] = "0.5" };
                break;
            case "containers=string":
                Pod(body)["spec"]!["containers"] = "main";
                break;
            case "priority=1e400":
                return body.ToJsonString().Replace("\"priority\":0", "\"priority\":1e400", StringComparison.Ordinal);
            case "labels=array":
                Metadata(body)["labels"] = new JsonArray("a");
                break;
            case "name=megabyte":
                Metadata(body)["name"] = new string('p', 1 << 20);
                break;
            case "requests=array":
                Container(body)["resources"]!["requests"] = new JsonArray();
                break;
            case "cpu=object":
                Container(body)["resources"]!["requests"]!["cpu"] = new JsonObject();
                break;
        }

        return body.ToJsonString();
    }
}

using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Standalone;
using Kaiwo.Extender.Verbs;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>
/// The quick wire path of filter and prioritize (<see cref="WireArgs"/>, answers written straight from the bytes)
/// against the complete one (<see cref="ExtenderRequests"/>, the verbs over objects, the serializer): on every captured
/// filter and prioritize body, in both modes, over the captured cluster with some of its GPUs taken (fixed seed),
/// the two answers are the same JSON, and the quick reader takes the plain bodies instead of handing them over.
/// </summary>
public sealed class WireVerbsTests
{
    public static TheoryData<string, string> Payloads() => PayloadsOf("filter", "prioritize");

    public static TheoryData<string, string> PrioritizePayloads() => PayloadsOf("prioritize");

    /// <summary>The captured bodies of these verbs, in both modes.</summary>
    private static TheoryData<string, string> PayloadsOf(params string[] verbs)
    {
        var data = new TheoryData<string, string>();
        foreach (var mode in Fixtures.Modes)
        {
            foreach (var file in Fixtures.PayloadFiles(mode).Where(f => verbs.Contains(Fixtures.VerbOf(f))))
            {
                data.Add(mode, file);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Payloads))]
    public void Answer_CapturedBody_IsTheCompleteReadersAnswer(string mode, string file)
    {
        var (verbs, state) = Build(mode);
        var body = Fixtures.ReadPayload(mode, file);
        var filter = Fixtures.VerbOf(file) == "filter";

        var quick = new ArrayBufferWriter<byte>();
        Assert.Null(filter ? verbs.Filter(body, quick) : verbs.Prioritize(body, quick));
        var args = ExtenderRequests.ReadArgs(body);
        var complete = filter
            ? JsonSerializer.SerializeToUtf8Bytes(verbs.Filter(args), ExtenderJson.Options)
            : JsonSerializer.SerializeToUtf8Bytes(verbs.Prioritize(args), ExtenderJson.Options);

        Assert.True(
            JsonNode.DeepEquals(JsonNode.Parse(quick.WrittenSpan), JsonNode.Parse(complete)),
            $"quick: {Encoding.UTF8.GetString(quick.WrittenSpan)}\ncomplete: {Encoding.UTF8.GetString(complete)}");

        // Every candidate of the captures is a node of the captured cluster: the quick reader must take the body.
        var reader = WireArgs.Rent();
        try
        {
            Assert.Equal(args.Pod.Name.Length > 0, reader.TryRead(body, state));
        }
        finally
        {
            reader.Release();
        }
    }

    [Theory]
    [MemberData(nameof(PrioritizePayloads))]
    public void Prioritize_CapturedBody_AnswersTheBytesOfTheCompletePath(string mode, string file)
    {
        // Each entry is put together from the name's bytes and the score's digits: the bytes the serializer writes.
        var (verbs, _) = Build(mode);
        var body = Fixtures.ReadPayload(mode, file);

        var quick = new ArrayBufferWriter<byte>();
        Assert.Null(verbs.Prioritize(body, quick));
        var complete = JsonSerializer.SerializeToUtf8Bytes(verbs.Prioritize(ExtenderRequests.ReadArgs(body)), ExtenderJson.Options);

        Assert.Equal(Encoding.UTF8.GetString(complete), Encoding.UTF8.GetString(quick.WrittenSpan));
    }

    [Fact]
    public void Prioritize_LongestPlainName_IsTheBytesTheWriterWrites()
    {
        var name = new string('n', 253);
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var state = new ClusterState();
        state.UpsertNode(new NodeFacts { Name = name });
        var verbs = new ExtenderVerbs(state, pipeline, new PendingPods(100), new InMemoryBinder(state, pipeline, TimeProvider.System), TimeProvider.System, NullLogger<ExtenderVerbs>.Instance, Options.Create(new ExtenderOptions()));
        var body = Encoding.UTF8.GetBytes($$$"""{"Pod":{"metadata":{"name":"p"}},"NodeNames":["{{{name}}}","{{{name}}}"]}""");

        var prioritize = new ArrayBufferWriter<byte>();
        Assert.Null(verbs.Prioritize(body, prioritize));

        Assert.Equal($$$"""[{"Host":"{{{name}}}","Score":10},{"Host":"{{{name}}}","Score":10}]""", Encoding.UTF8.GetString(prioritize.WrittenSpan));
    }

    [Fact]
    public void Filter_UnknownNodeInFullMode_IsJudgedFromItsLabelsByTheCompleteReader()
    {
        var (verbs, _) = Build("names");
        var body = Encoding.UTF8.GetBytes("""
            {"Pod":{"metadata":{"name":"p","namespace":"team-a","uid":"u-1","annotations":{"kaiwo.ai/gpu-fraction":"0.5"}},"spec":{"containers":[{"name":"c"}]}},
             "Nodes":{"items":[{"metadata":{"name":"new-node","labels":{"amd.com/gpu.product-name":"AMD_Instinct_MI300X_OAM","amd.com/gpu.compute-memory-partition":"spx_nps1"}},"status":{"allocatable":{"amd.com/gpu":"8"}}},
                               {"metadata":{"name":"new-cpu-node"},"status":{"allocatable":{"cpu":"8"}}}]},"NodeNames":null}
            """);

        var answer = new ArrayBufferWriter<byte>();
        Assert.Null(verbs.Filter(body, answer));

        var json = JsonNode.Parse(answer.WrittenSpan)!;
        Assert.Equal("new-node", json["Nodes"]!["items"]![0]!["metadata"]!["name"]!.GetValue<string>());
        Assert.Single(json["Nodes"]!["items"]!.AsArray());
        Assert.Contains("no AMD GPUs", json["FailedAndUnresolvableNodes"]!["new-cpu-node"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public void Filter_NameListedTwiceThatFails_IsOneKeyOfTheFailedNodes()
    {
        var (verbs, state) = Build("names");
        var cpu = state.Nodes().First(n => !n.Usage.Inventory.HasGpus).Name;
        var gpu = state.Nodes().First(n => n.Usage.Inventory.HasGpus).Name;
        var body = Encoding.UTF8.GetBytes($$$"""
            {"Pod":{"metadata":{"name":"p","namespace":"team-a","uid":"u-1","annotations":{"kaiwo.ai/gpu-fraction":"0.5"}},"spec":{"containers":[{"name":"c"}]}},
             "NodeNames":["{{{cpu}}}","{{{gpu}}}","{{{cpu}}}","{{{gpu}}}"]}
            """);

        var answer = new ArrayBufferWriter<byte>();
        Assert.Null(verbs.Filter(body, answer));

        var text = Encoding.UTF8.GetString(answer.WrittenSpan);
        Assert.Equal(1, CountOf(text, $"\"{cpu}\":"));
        var json = JsonNode.Parse(text)!;
        Assert.Equal([gpu, gpu], json["NodeNames"]!.AsArray().Select(n => n!.GetValue<string>()));
    }

    [Fact]
    public void Filter_MalformedBody_WritesNothingAndNamesThePath()
    {
        var (verbs, state) = Build("names");
        var gpu = state.Nodes().First(n => n.Usage.Inventory.HasGpus).Name;
        var body = Encoding.UTF8.GetBytes($$$"""{"Pod":{"metadata":{"name":"p","uid":"u"}},"NodeNames":["{{{gpu}}}",7]}""");

        var answer = new ArrayBufferWriter<byte>();
        var error = verbs.Filter(body, answer);

        Assert.Equal("request body is not a valid ExtenderArgs: $.NodeNames[1]: expected a string, got the number 7", error);
        Assert.Equal(0, answer.WrittenCount);
    }

    [Theory]
    [InlineData("""{"metadata":{"name":"p","labels":["a"]}}""", "$.Pod.metadata.labels: expected an object of strings, got an array")]
    [InlineData("""{"metadata":{"name":"p","annotations":{"kaiwo.ai/gpu-fraction":{}}}}""", "$.Pod.metadata.annotations['kaiwo.ai/gpu-fraction']: expected a string, got an object")]
    [InlineData("""{"metadata":{"name":"p"},"spec":{"priority":"high"}}""", "$.Pod.spec.priority: expected a whole number from -2147483648 to 2147483647, got the string \"high\"")]
    [InlineData("""{"metadata":{"name":"p"},"spec":{"initContainers":[null,{"name":"i","resources":{"limits":{"cpu":true}}}]}}""", "$.Pod.spec.initContainers[1].resources.limits['cpu']: expected a quantity (a string such as \"500m\" or a number), got true")]
    [InlineData("""{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":7}]}}""", "$.Pod.spec.containers[0].resources: expected a ResourceRequirements object, got the number 7")]
    [InlineData("""{"metadata":{"name":"p"},"status":{"phase":1}}""", "$.Pod.status.phase: expected a string, got the number 1")]
    [InlineData("""{"metadata":{"namespace":"team-a"}}""", "$.Pod.metadata.name: is missing; the Pod to schedule needs a name")]
    [InlineData("""[]""", "$.Pod: expected a Pod object, got an array")]
    public void Filter_MalformedPod_WritesNothingAndNamesThePath(string pod, string problem)
    {
        var (verbs, state) = Build("names");
        var gpu = state.Nodes().First(n => n.Usage.Inventory.HasGpus).Name;
        var body = Encoding.UTF8.GetBytes($$$"""{"Pod":{{{pod}}},"NodeNames":["{{{gpu}}}"]}""");

        var answer = new ArrayBufferWriter<byte>();
        var error = verbs.Filter(body, answer);

        Assert.Equal("request body is not a valid ExtenderArgs: " + problem, error);
        Assert.Equal(0, answer.WrittenCount);
    }

    [Fact]
    public void Answer_PlainAndOtherAsciiNames_AreTheBytesTheWriterWrites()
    {
        // A plain name is copied as it came; "+" and DEL are not plain and go through the writer, which escapes DEL.
        string[] names = ["gpu-a.b_C9", "gpu+node", "gpu\u007fnode"];
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var state = new ClusterState();
        foreach (var name in names)
        {
            state.UpsertNode(new NodeFacts { Name = name });
        }

        var verbs = new ExtenderVerbs(state, pipeline, new PendingPods(100), new InMemoryBinder(state, pipeline, TimeProvider.System), TimeProvider.System, NullLogger<ExtenderVerbs>.Instance, Options.Create(new ExtenderOptions()));
        var body = Encoding.UTF8.GetBytes("{\"Pod\":{\"metadata\":{\"name\":\"p\"}},\"NodeNames\":[" + string.Join(",", names.Select(n => $"\"{n}\"")) + "]}");
        var filter = new ArrayBufferWriter<byte>();
        var prioritize = new ArrayBufferWriter<byte>();

        Assert.Null(verbs.Filter(body, filter));
        Assert.Null(verbs.Prioritize(body, prioritize));

        Assert.Equal("""{"Nodes":null,"NodeNames":["gpu-a.b_C9","gpu+node","gpu\u007Fnode"],"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":""}""", Encoding.UTF8.GetString(filter.WrittenSpan));
        Assert.Equal("""[{"Host":"gpu-a.b_C9","Score":10},{"Host":"gpu+node","Score":10},{"Host":"gpu\u007Fnode","Score":10}]""", Encoding.UTF8.GetString(prioritize.WrittenSpan));
        var reader = WireArgs.Rent();
        try
        {
            Assert.True(reader.TryRead(body, state));
            Assert.Equal([true, false, false], reader.Candidates.ToArray().Select(c => c.NameIsPlain));
        }
        finally
        {
            reader.Release();
        }
    }

    [Fact]
    public void Filter_CallsInTurnOnOneThread_WriteEachAnswerWholeToItsOwnOutput()
    {
        // The answer writer is the thread's, moved from output to output: no call may write into another's.
        var (verbs, _) = Build("names");
        var filterBody = Fixtures.ReadPayload("names", Fixtures.PayloadFiles("names").First(f => Fixtures.VerbOf(f) == "filter"));
        var prioritizeBody = Fixtures.ReadPayload("names", Fixtures.PayloadFiles("names").First(f => Fixtures.VerbOf(f) == "prioritize"));
        var first = new ArrayBufferWriter<byte>();
        var between = new ArrayBufferWriter<byte>();
        var again = new ArrayBufferWriter<byte>();

        Assert.Null(verbs.Filter(filterBody, first));
        var firstAnswer = first.WrittenSpan.ToArray();
        Assert.Null(verbs.Prioritize(prioritizeBody, between));
        Assert.Null(verbs.Filter(filterBody, again));

        Assert.Equal(firstAnswer, first.WrittenSpan.ToArray());
        Assert.Equal(firstAnswer, again.WrittenSpan.ToArray());
        using var prioritized = JsonDocument.Parse(between.WrittenMemory);
        Assert.Equal(JsonValueKind.Array, prioritized.RootElement.ValueKind);
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>The captured cluster of a mode, with whole GPUs taken on some nodes (fixed seed) so that some candidates fail.</summary>
    internal static (ExtenderVerbs Verbs, ClusterState State) Build(string mode, PipelineOptions? options = null)
    {
        var pipeline = new SchedulingPipeline(options ?? new PipelineOptions());
        var state = new ClusterState();
        StandaloneCluster.Apply(state, ClusterFile.Load(Fixtures.ClusterFile(mode)), _ => { });
        var random = new Random(7);
        var n = 0;
        foreach (var node in state.Nodes().Where(c => c.Usage.Inventory.HasGpus))
        {
            var gpus = random.Next(3) switch { 0 => 0, 1 => 4, _ => node.Usage.Inventory.LogicalGpuCount };
            for (var i = 0; i < gpus; i++)
            {
                var pod = new PodFacts
                {
                    Namespace = "team-a",
                    Name = $"filler-{n++}",
                    Uid = $"uid-filler-{n}",
                    Containers = [new ContainerFacts("main", new Dictionary<string, string> { [WellKnown.GpuResource] = "1" }, new Dictionary<string, string>())],
                };
                var evaluation = pipeline.EvaluatePod(pod, DateTimeOffset.UnixEpoch);
                state.Reserve(pod, node.Name, c => pipeline.EvaluateNode(evaluation, c));
            }
        }

        var verbs = new ExtenderVerbs(state, pipeline, new PendingPods(100), new InMemoryBinder(state, pipeline, TimeProvider.System), TimeProvider.System, NullLogger<ExtenderVerbs>.Instance, Options.Create(new ExtenderOptions()));
        return (verbs, state);
    }
}

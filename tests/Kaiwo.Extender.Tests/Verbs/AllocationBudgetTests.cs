using System.Buffers;
using System.Text;
using System.Text.Json;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Standalone;
using Kaiwo.Extender.Verbs;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>
/// Bytes allocated per filter and prioritize call, as the HTTP handler runs them (body bytes in, answer bytes out),
/// at 500 candidates of 5,000 nodes with pods on them: allocation counts are stable where times are not, so the
/// budget is held by a test. Measured on the calling thread around a warmed-up call.
/// </summary>
public sealed class AllocationBudgetTests(ITestOutputHelper output)
{
    /// <summary>
    /// Issue 9 asks for at most 64 KB; the call allocates under 2 KB today (BenchmarkDotNet: 1.86 KB), nearly all of it the pod's facts (its
    /// strings, maps and containers, about 1,000 bytes) and its evaluation by the pipeline (about 700). The budget is
    /// held just above that, so that anything allocated per node or per name fails it.
    /// </summary>
    private const long BudgetBytes = 2 * 1024;
    private const int NodeCount = 5_000;

    private static readonly Lazy<(ExtenderVerbs Verbs, byte[] Body)> Cluster = new(Build);

    [Fact]
    public void Filter_NamesModeFiveHundredOfFiveThousandNodes_AllocatesWithinBudget()
    {
        var (verbs, body) = Cluster.Value;
        var answerBytes = new ArrayBufferWriter<byte>(1 << 20);
        var allocated = Measure(() => verbs.Filter(body, answerBytes), answerBytes);
        output.WriteLine($"filter, names mode, 500 of 5,000 nodes: {allocated} bytes allocated per call");

        using var answer = JsonDocument.Parse(answerBytes.WrittenMemory);
        Assert.Equal(500, answer.RootElement.GetProperty("NodeNames").GetArrayLength() + answer.RootElement.GetProperty("FailedNodes").EnumerateObject().Count());
        Assert.True(allocated <= BudgetBytes, $"filter allocated {allocated} bytes per call; the budget is {BudgetBytes}");
    }

    [Fact]
    public void Prioritize_NamesModeFiveHundredOfFiveThousandNodes_AllocatesWithinBudget()
    {
        var (verbs, body) = Cluster.Value;
        var answerBytes = new ArrayBufferWriter<byte>(1 << 20);
        var allocated = Measure(() => verbs.Prioritize(body, answerBytes), answerBytes);
        output.WriteLine($"prioritize, names mode, 500 of 5,000 nodes: {allocated} bytes allocated per call");

        using var answer = JsonDocument.Parse(answerBytes.WrittenMemory);
        Assert.Equal(500, answer.RootElement.GetArrayLength());
        Assert.Contains(answer.RootElement.EnumerateArray(), e => e.GetProperty("Score").GetInt64() > 0);
        Assert.True(allocated <= BudgetBytes, $"prioritize allocated {allocated} bytes per call; the budget is {BudgetBytes}");
    }

    /// <summary>The fewest bytes of a few warmed-up calls: a stray allocation of the runtime (a tiered JIT, a timer) is not the call's.</summary>
    private static long Measure(Func<string?> call, ArrayBufferWriter<byte> output)
    {
        var fewest = long.MaxValue;
        for (var i = 0; i < 8; i++)
        {
            output.ResetWrittenCount();
            var before = GC.GetAllocatedBytesForCurrentThread();
            var error = call();
            var after = GC.GetAllocatedBytesForCurrentThread();
            Assert.Null(error);
            if (i >= 3)
            {
                fewest = Math.Min(fewest, after - before);
            }
        }

        return fewest;
    }

    /// <summary>5,000 MI300X nodes (one in five CPX/NPS4), each with two pods holding a quarter and half a GPU; the ask is a quarter GPU.</summary>
    private static (ExtenderVerbs, byte[]) Build()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var state = new ClusterState();
        var now = DateTimeOffset.UnixEpoch;
        for (var n = 0; n < NodeCount; n++)
        {
            var name = $"node-{n:D4}";
            var cpx = n % 5 == 4;
            state.UpsertNode(new NodeFacts
            {
                Name = name,
                Labels = new Dictionary<string, string> { [WellKnown.ProductNameLabel] = "AMD_Instinct_MI300X_OAM", [WellKnown.PartitionLabel] = cpx ? "cpx_nps4" : "spx_nps1" },
                Allocatable = new Dictionary<string, string> { [WellKnown.GpuResource] = cpx ? "64" : "8" },
            });
            foreach (var (p, fraction) in new[] { (0, "0.25"), (1, "0.5") })
            {
                var pod = Pod($"p-{n}-{p}", fraction);
                var evaluation = pipeline.EvaluatePod(pod, now);
                Assert.True(state.Reserve(pod, name, c => pipeline.EvaluateNode(evaluation, c)).Succeeded);
            }
        }

        var verbs = new ExtenderVerbs(state, pipeline, new PendingPods(10_000), new InMemoryBinder(state, pipeline, TimeProvider.System), TimeProvider.System, NullLogger<ExtenderVerbs>.Instance, Options.Create(new ExtenderOptions()));
        var names = string.Join(",", Enumerable.Range(0, NodeCount / 10).Select(n => $"\"node-{n * 10:D4}\""));
        const string IncomingPod = """{"metadata":{"name":"incoming","namespace":"team-a","uid":"uid-incoming","annotations":{"kaiwo.ai/gpu-fraction":"0.25"}},"spec":{"schedulerName":"kaiwo-scheduler","containers":[{"name":"main","resources":{"requests":{"cpu":"2"}}}]}}""";
        var body = Encoding.UTF8.GetBytes("{\"Pod\":" + IncomingPod + ",\"Nodes\":null,\"NodeNames\":[" + names + "]}");
        return (verbs, body);
    }

    private static PodFacts Pod(string name, string fraction) => new()
    {
        Namespace = "team-a",
        Name = name,
        Uid = $"uid-{name}",
        Annotations = new Dictionary<string, string> { [WellKnown.GpuFractionAnnotation] = fraction },
        Containers = [new ContainerFacts("main", new Dictionary<string, string> { ["cpu"] = "2" }, new Dictionary<string, string>())],
    };
}

using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Scoring;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Scoring;

public sealed class ScoringTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 14, 0, 0, TimeSpan.Zero);

    private static int Score(SchedulingPipeline pipeline, PodFacts pod, NodeFacts facts, NodeUsage usage)
    {
        var evaluation = pipeline.EvaluatePod(pod, Now);
        var candidate = new NodeCandidate(facts, usage);
        return pipeline.Score(evaluation, candidate, pipeline.EvaluateNode(evaluation, candidate));
    }

    /// <summary>Only the load score counts, so that a score reads the node's load alone.</summary>
    private static readonly PipelineOptions LoadOnly = new()
    {
        Stages = new Dictionary<string, StageOptions> { ["packing"] = new() { Enabled = false }, ["topology"] = new() { Enabled = false } },
    };

    private static NodeFacts WithUtilization(NodeFacts node, string annotation) =>
        node with { Annotations = new Dictionary<string, string> { [WellKnown.UtilizationAnnotation] = annotation } };

    private static NodeUsage HalfUsed(NodeFacts node)
    {
        var usage = Usage(node);
        for (var g = 0; g < 4; g++)
        {
            usage = usage.With(new PodHold($"u{g}", $"ns/p{g}", new PodAllocation(node.Name, AllocationKind.Whole, GpuIsolation.TimeSlicing, [new GpuGrant(g, [], [], [g], 1000, 196608)])));
        }

        return usage;
    }

    [Fact]
    public void Score_BinpackPod_PrefersTheFullerNode()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var empty = Mi300XSpx("empty");
        var busy = Mi300XSpx("busy");

        var emptyScore = Score(pipeline, Fraction("f", "0.5"), empty, Usage(empty));
        var busyScore = Score(pipeline, Fraction("f", "0.5"), busy, HalfUsed(busy));

        Assert.True(busyScore > emptyScore, $"busy {busyScore} should beat empty {emptyScore}");
    }

    [Fact]
    public void Score_SpreadPod_PrefersTheEmptierNode()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var pod = Pod("s", new() { ["kaiwo.ai/gpu-fraction"] = "0.5", ["kaiwo.ai/placement"] = "spread" });
        var empty = Mi300XSpx("empty");
        var busy = Mi300XSpx("busy");

        Assert.True(Score(pipeline, pod, empty, Usage(empty)) > Score(pipeline, pod, busy, HalfUsed(busy)));
    }

    [Fact]
    public void Score_CpuPod_PrefersCpuNodes()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var cpu = CpuOnly();
        var gpu = Mi300XSpx();

        Assert.Equal(10, Score(pipeline, Pod("cpu"), cpu, Usage(cpu)));
        Assert.True(Score(pipeline, Pod("cpu"), gpu, Usage(gpu)) < 10);
    }

    [Fact]
    public void Score_NodeThatDoesNotFit_IsZero()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var spx = Mi300XSpx();

        Assert.Equal(0, Score(pipeline, Fraction("x", "0.25", "xcd"), spx, Usage(spx)));
    }

    [Fact]
    public void Score_FreshHighUtilization_LowersTheScoreAndAStaleOneDoesNot()
    {
        var options = new PipelineOptions
        {
            Stages = new Dictionary<string, StageOptions> { ["packing"] = new() { Enabled = false }, ["topology"] = new() { Enabled = false } },
        };
        var pipeline = new SchedulingPipeline(options);
        var annotated = (DateTimeOffset at) => Mi300XSpx() with
        {
            Annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-utilization"] = $$"""{"utilization":0.9,"timestamp":"{{at:O}}"}""" },
        };

        var fresh = annotated(Now.AddSeconds(-30));
        var stale = annotated(Now.AddHours(-1));

        Assert.Equal(1, Score(pipeline, Fraction("f", "0.5"), fresh, Usage(fresh)));
        Assert.Equal(10, Score(pipeline, Fraction("f", "0.5"), stale, Usage(stale)));
    }

    [Theory]
    [InlineData(-1_200_000_000L, 1)]
    [InlineData(1_200_000_000L, 1)]
    [InlineData(-1_200_000_001L, 10)]
    [InlineData(1_200_000_001L, 10)]
    public void Score_UtilizationAtTheAgeLimitEitherWay_CountsAndBeyondItDoesNot(long offsetTicks, int expected)
    {
        var pipeline = new SchedulingPipeline(LoadOnly);
        var node = WithUtilization(Mi300XSpx(), $$"""{"utilization":0.9,"timestamp":"{{Now.AddTicks(offsetTicks):O}}"}""");

        Assert.Equal(expected, Score(pipeline, Fraction("f", "0.5"), node, Usage(node)));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"utilization":1.5,"timestamp":"2026-11-23T14:00:00Z"}""")]
    [InlineData("""{"utilization":0.9}""")]
    [InlineData("""{"utilization":0.9,"timestamp":"soon"}""")]
    public void Score_MalformedUtilizationAnnotation_IsIgnored(string text)
    {
        var pipeline = new SchedulingPipeline(LoadOnly);
        var node = WithUtilization(Mi300XSpx(), text);

        Assert.Null(new NodeCandidate(node, Usage(node)).Utilization);
        Assert.Equal(10, Score(pipeline, Fraction("f", "0.5"), node, Usage(node)));
    }

    [Fact]
    public void Score_UtilizationAnnotationChangedOnTheNode_ChangesTheLoadScore()
    {
        var pipeline = new SchedulingPipeline(LoadOnly);
        var state = new ClusterState();
        var pod = Fraction("f", "0.5");
        int ScoreInState()
        {
            var evaluation = pipeline.EvaluatePod(pod, Now);
            Assert.True(state.TryGetNode("gpu-node-01", out var node));
            return pipeline.Score(evaluation, node!, pipeline.EvaluateNode(evaluation, node!));
        }

        state.UpsertNode(WithUtilization(Mi300XSpx(), $$"""{"utilization":0.9,"timestamp":"{{Now:O}}"}"""));
        var busy = ScoreInState();
        state.UpsertNode(WithUtilization(Mi300XSpx(), $$"""{"utilization":0.2,"timestamp":"{{Now:O}}"}"""));
        var calmer = ScoreInState();
        state.UpsertNode(WithUtilization(Mi300XSpx(), "not json"));
        var unknown = ScoreInState();

        Assert.Equal((1, 8, 10), (busy, calmer, unknown));
    }

    [Fact]
    public void NodeCandidate_WithNewFacts_ReadsTheirUtilizationAndWithNewUsageKeepsIt()
    {
        var busy = WithUtilization(Mi300XSpx(), $$"""{"utilization":0.9,"timestamp":"{{Now:O}}"}""");
        var candidate = new NodeCandidate(busy, Usage(busy));

        var newUsage = candidate with { Usage = HalfUsed(busy) };
        var newFacts = candidate with { Facts = WithUtilization(busy, $$"""{"utilization":0.3,"timestamp":"{{Now:O}}"}""") };
        var noAnnotation = candidate with { Facts = Mi300XSpx() };

        Assert.Equal(new NodeUtilization(0.9, Now), candidate.Utilization);
        Assert.Equal(new NodeUtilization(0.9, Now), newUsage.Utilization);
        Assert.Equal(new NodeUtilization(0.3, Now), newFacts.Utilization);
        Assert.Null(noAnnotation.Utilization);
    }

    [Fact]
    public void Score_WholeGpusWithinOneNumaNode_BeatsSpanningTwo()
    {
        var options = new PipelineOptions
        {
            Stages = new Dictionary<string, StageOptions> { ["packing"] = new() { Weight = 0 }, ["load"] = new() { Weight = 0 } },
        };
        var pipeline = new SchedulingPipeline(options);
        var clean = Mi300XSpx("clean");
        var fragmented = Mi300XSpx("fragmented");
        var usage = Usage(fragmented);
        foreach (var g in new[] { 0, 1, 4, 5 })
        {
            usage = usage.With(new PodHold($"u{g}", $"ns/p{g}", new PodAllocation("fragmented", AllocationKind.Whole, GpuIsolation.TimeSlicing, [new GpuGrant(g, [], [], [g], 1000, 196608)])));
        }

        var pod = Pod("four", gpus: 4);

        Assert.Equal(10, Score(pipeline, pod, clean, Usage(clean)));
        Assert.True(Score(pipeline, pod, fragmented, usage) < 10);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"utilization":1.5,"timestamp":"2026-11-23T14:00:00Z"}""")]
    [InlineData("""{"utilization":0.5}""")]
    [InlineData("""{"utilization":"high","timestamp":"2026-11-23T14:00:00Z"}""")]
    public void TryReadUtilization_Malformed_IsIgnored(string text)
    {
        Assert.False(Kaiwo.Scheduling.Scoring.LoadScore.TryReadUtilization(text, out _, out _));
    }
}

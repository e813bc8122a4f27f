using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Scoring;
using Kaiwo.Scheduling.Tests.Fits;
using static Kaiwo.Scheduling.Tests.Fits.FitSummaryPropertyTests;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Scoring;

/// <summary>
/// The pipeline keeps the scores that follow from the fit (packing, topology) with the fit on the node's snapshot: on
/// random nodes, usages, utilization annotations, asks, times and score settings (two pipelines with different ones
/// sharing each snapshot), every score, first or kept, must equal the one computed afresh the way it was before the
/// cache, with the annotation parsed on the call; and prioritize's <see cref="SchedulingPipeline.ScoreNode"/>, which reads
/// the known fit instead of judging the node again, the same verdict and score (fixed seeds).
/// </summary>
public sealed class ScoreCachePropertyTests
{
    internal static readonly DateTimeOffset Now = new(2026, 11, 23, 14, 0, 0, TimeSpan.Zero);

    private static readonly string[] ScoreNames = ["packing", "topology", "load"];

    [Theory]
    [MemberData(nameof(FitSummaryPropertyTests.Seeds), MemberType = typeof(FitSummaryPropertyTests))]
    public void Score_RandomNodesAsksTimesAndSettings_KeptScoresEqualFreshOnes(int seed)
    {
        var random = new Random(seed);
        var kept = 0;
        var distinct = new HashSet<int>();
        for (var n = 0; n < 20; n++)
        {
            var first = RandomOptions(random);
            var second = RandomOptions(random) with { Placement = random.Next(2) == 0 ? first.Placement : first.Placement with { } };
            var pipelines = new[] { (Options: first, Pipeline: new SchedulingPipeline(first)), (Options: second, Pipeline: new SchedulingPipeline(second)) };
            var usage = RandomUsage(random, first.Placement);
            var node = new NodeCandidate(new NodeFacts { Name = usage.NodeName, Annotations = RandomUtilization(random) }, usage);
            for (var r = 0; r < 15; r++)
            {
                var request = RandomRequest(random);
                for (var call = 0; call < 6; call++)
                {
                    var (options, pipeline) = pipelines[random.Next(2)];
                    var pod = new PodEvaluation(new PodContext(Pod("p"), request, Now.AddSeconds(random.Next(-200, 201))), null);

                    // Prioritize's one question per node, asked before or after the fit is known, answers as the three.
                    var scoreFirst = random.Next(2) == 0;
                    var (scoreNode, verdictNode) = scoreFirst ? (pipeline.ScoreNode(pod, node, out var v), v) : (0, default);
                    var fit = pipeline.EvaluateNode(pod, node);
                    if (!scoreFirst)
                    {
                        scoreNode = pipeline.ScoreNode(pod, node, out verdictNode);
                    }

                    Assert.Equal(pipeline.Verdict(pod, node), verdictNode);
                    Assert.Equal(FreshScore(options, pod.Context, node, fit), scoreNode);
                    if (fit.Fits && node.Usage.FitCache.EntryOf(request, fit)?.ScoresOf(pipeline) is not null)
                    {
                        kept++;
                    }

                    var score = pipeline.Score(pod, node, fit);
                    Assert.True(
                        score == FreshScore(options, pod.Context, node, fit),
                        $"seed {seed}, node {usage.NodeName} ({usage.Holds.Count} holds), ask {request.Describe()} {request.Placement}, call {call}: score {score}, fresh {FreshScore(options, pod.Context, node, fit)}");
                    distinct.Add(score);
                }

                // A fit made on another snapshot (as for a pod's own reservation) is scored afresh against this node.
                if (usage.Holds.Count > 0)
                {
                    var (options, pipeline) = pipelines[0];
                    var pod = new PodEvaluation(new PodContext(Pod("p"), request, Now), null);
                    var other = GpuPlacer.CachedFit(usage.Without(usage.Holds.Keys.First()), request, options.Placement);
                    Assert.Equal(FreshScore(options, pod.Context, node, other), pipeline.Score(pod, node, other));
                }
            }
        }

        // The cases reach the kept scores, and more than one score value.
        Assert.True(kept > 0, $"seed {seed}: no score was read from the cache");
        Assert.True(distinct.Count > 2, $"seed {seed}: only scores {string.Join(", ", distinct)}");
    }

    [Fact]
    public void Score_SameShapeOnAnUnchangedNode_IsKeptWithTheFitAndANewSnapshotStartsAfresh()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var facts = Mi300XSpx();
        var node = new NodeCandidate(facts, Usage(facts));
        var pod = pipeline.EvaluatePod(Fraction("f", "0.5"), Now);

        var fit = pipeline.EvaluateNode(pod, node);
        var before = node.Usage.FitCache.EntryOf(pod.Context.Request, fit)?.ScoresOf(pipeline);
        var score = pipeline.Score(pod, node, fit);
        var after = node.Usage.FitCache.EntryOf(pod.Context.Request, fit)?.ScoresOf(pipeline);
        var changed = node with { Usage = node.Usage.With(new PodHold("u0", "ns/p0", fit.Allocation!)) };
        var changedFit = pipeline.EvaluateNode(pod, changed);

        Assert.Null(before);
        Assert.NotNull(after);
        Assert.Same(after, node.Usage.FitCache.EntryOf(pod.Context.Request, pipeline.EvaluateNode(pod, node))?.ScoresOf(pipeline));
        Assert.Equal(score, pipeline.Score(pod, node, fit));
        Assert.Null(changed.Usage.FitCache.EntryOf(pod.Context.Request, changedFit)?.ScoresOf(pipeline));
        Assert.Null(node.Usage.FitCache.EntryOf(pod.Context.Request, fit)?.ScoresOf(new SchedulingPipeline(new PipelineOptions())));
    }

    [Fact]
    public void ScoreNode_RefusedPodOrFullNode_IsZeroWithTheVerdictOfTheRefusalOrTheFit()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var facts = Mi300XSpx();
        var node = new NodeCandidate(facts, Usage(facts));
        var refused = pipeline.EvaluatePod(Fraction("bad", "1.5"), Now);
        var xcd = pipeline.EvaluatePod(Fraction("x", "0.25", "xcd"), Now);

        var refusedScore = pipeline.ScoreNode(refused, node, out var refusedVerdict);
        var unknownScore = pipeline.ScoreNode(xcd, node, out var unknownVerdict);
        pipeline.EvaluateNode(xcd, node);
        var knownScore = pipeline.ScoreNode(xcd, node, out var knownVerdict);

        Assert.Equal((0, FitVerdict.Of(refused.Refusal!)), (refusedScore, refusedVerdict));
        Assert.Equal((0, pipeline.Verdict(xcd, node)), (unknownScore, unknownVerdict));
        Assert.Equal((0, unknownVerdict), (knownScore, knownVerdict));
        Assert.False(knownVerdict.Fits);
    }

    /// <summary>The score as the pipeline computed it before scores were kept: every score on the call, the annotation parsed there.</summary>
    internal static int FreshScore(PipelineOptions options, PodContext pod, NodeCandidate node, FitResult fit)
    {
        if (!fit.Fits)
        {
            return 0;
        }

        double?[] values = [new PackingScore().Score(pod, node, fit), new TopologyScore().Score(pod, node, fit), FreshLoad(options, pod, node)];
        int[] defaults = [3, 2, 1];
        double sum = 0;
        double weights = 0;
        for (var i = 0; i < ScoreNames.Length; i++)
        {
            var settings = options.Stages.GetValueOrDefault(ScoreNames[i]) ?? new StageOptions();
            var weight = settings.Weight ?? defaults[i];
            if (settings.Enabled && weight > 0 && values[i] is { } v)
            {
                sum += Math.Clamp(v, 0, 1) * weight;
                weights += weight;
            }
        }

        return weights == 0 ? 0 : (int)Math.Round(SchedulingPipeline.MaxScore * sum / weights, MidpointRounding.AwayFromZero);
    }

    private static double? FreshLoad(PipelineOptions options, PodContext pod, NodeCandidate node)
    {
        if (!node.Usage.Inventory.HasGpus)
        {
            return null;
        }

        var load = node.Usage.UsedFraction();
        if (node.Facts.Annotations.TryGetValue(WellKnown.UtilizationAnnotation, out var text)
            && LoadScore.TryReadUtilization(text, out var utilization, out var at)
            && pod.Now - at <= options.MaxUtilizationAge
            && at - pod.Now <= options.MaxUtilizationAge)
        {
            load = Math.Max(load, utilization);
        }

        return 1 - load;
    }

    internal static PipelineOptions RandomOptions(Random random)
    {
        var stages = new Dictionary<string, StageOptions>();
        foreach (var name in ScoreNames)
        {
            switch (random.Next(4))
            {
                case 0:
                    stages[name] = new StageOptions { Enabled = false };
                    break;
                case 1:
                    stages[name] = new StageOptions { Weight = random.Next(6) };
                    break;
            }
        }

        return new PipelineOptions
        {
            Placement = new PlacementOptions
            {
                TimeSlicingCapacityMilli = random.Next(2) == 0 ? 1000 : 2000,
                DeviceChoice = random.Next(4) == 0 ? DeviceChoice.FirstFit : DeviceChoice.BestFit,
            },
            MaxUtilizationAge = TimeSpan.FromSeconds(random.Next(30, 180)),
            Stages = stages,
        };
    }

    /// <summary>No annotation, a reading of some age either way (some beyond any limit), one out of range, or one that is not JSON.</summary>
    internal static Dictionary<string, string> RandomUtilization(Random random)
    {
        var at = Now.AddSeconds(random.Next(-240, 241));
        return random.Next(6) switch
        {
            0 => [],
            1 => new() { [WellKnown.UtilizationAnnotation] = "not json" },
            2 => new() { [WellKnown.UtilizationAnnotation] = $$"""{"utilization":1.5,"timestamp":"{{at:O}}"}""" },
            _ => new() { [WellKnown.UtilizationAnnotation] = $$"""{"utilization":{{random.Next(101) / 100.0}},"timestamp":"{{at:O}}"}""" },
        };
    }
}

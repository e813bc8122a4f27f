using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Kaiwo.Scheduling.Tests.Fits;
using static Kaiwo.Scheduling.Tests.Scoring.ScoreCachePropertyTests;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Pipeline;

/// <summary>
/// <see cref="SchedulingPipeline.Best"/>, the node filter passes alone under <see cref="PipelineOptions.PassOnlyBestNode"/>:
/// the first of the highest scores among the nodes that fit, each score as a fresh pipeline makes it, whatever the
/// nodes, their usage, the ask and the score settings (fixed seeds).
/// </summary>
public sealed class BestNodeTests
{
    [Theory]
    [MemberData(nameof(FitSummaryPropertyTests.Seeds), MemberType = typeof(FitSummaryPropertyTests))]
    public void Best_RandomNodesAndAsks_IsTheFirstHighestFreshScoreAmongTheFits(int seed)
    {
        var random = new Random(seed);
        var picked = 0;
        for (var round = 0; round < 20; round++)
        {
            var options = RandomOptions(random) with { PassOnlyBestNode = true };
            var pipeline = new SchedulingPipeline(options);
            var nodes = Enumerable.Range(0, random.Next(1, 9))
                .Select(i =>
                {
                    var usage = FitSummaryPropertyTests.RandomUsage(random, options.Placement);
                    return new NodeCandidate(Mi300XSpx($"node-{i}"), usage);
                })
                .ToArray();
            var request = FitSummaryPropertyTests.RandomRequest(random);
            var pod = new PodEvaluation(new PodContext(Pod("asked"), request, Now), null);
            var verdicts = new FitVerdict[nodes.Length];
            pipeline.Verdicts(pod, nodes, verdicts);

            var best = pipeline.Best(pod, nodes, verdicts);

            var expected = -1;
            var expectedScore = -1;
            for (var i = 0; i < nodes.Length; i++)
            {
                var fresh = new NodeCandidate(nodes[i].Facts, nodes[i].Usage);
                var fit = GpuPlacer.Fit(fresh.Usage, request, options.Placement);
                if (fit.Fits && FreshScore(options, pod.Context, fresh, fit) is var score && score > expectedScore)
                {
                    (expected, expectedScore) = (i, score);
                }
            }

            Assert.True(expected == best, $"seed {seed}, round {round}, ask {request.Describe()}: picked {best}, expected {expected} (score {expectedScore})");
            picked += best >= 0 ? 1 : 0;
        }

        Assert.True(picked > 0, $"seed {seed}: no round had a node that fits");
    }

    [Fact]
    public void Best_NoNodeFits_IsMinusOne()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions { PassOnlyBestNode = true });
        var nodes = new[] { new NodeCandidate(CpuOnly("cpu-a"), Usage(CpuOnly("cpu-a"))), new NodeCandidate(CpuOnly("cpu-b"), Usage(CpuOnly("cpu-b"))) };
        var pod = pipeline.EvaluatePod(Fraction("f", "0.5"), Now);
        var verdicts = new FitVerdict[2];
        pipeline.Verdicts(pod, nodes, verdicts);

        Assert.Equal(-1, pipeline.Best(pod, nodes, verdicts));
    }

    [Fact]
    public void Best_EqualScores_IsTheFirstOfThem()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions { PassOnlyBestNode = true });
        NodeFacts[] facts = [CpuOnly("cpu-a"), Mi300XSpx("spx-a"), Mi300XSpx("spx-b")];
        var nodes = facts.Select(f => new NodeCandidate(f, Usage(f))).ToArray();
        var pod = pipeline.EvaluatePod(Fraction("f", "0.5"), Now);
        var verdicts = new FitVerdict[3];
        pipeline.Verdicts(pod, nodes, verdicts);

        Assert.Equal(1, pipeline.Best(pod, nodes, verdicts));
        Assert.True(pipeline.PassesOnlyBestNode);
        Assert.False(new SchedulingPipeline(new PipelineOptions()).PassesOnlyBestNode);
    }
}

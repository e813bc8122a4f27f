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
/// Filter's verdict and prioritize's verdict and score are kept on the node's candidate per pipeline and ask shape
/// (<see cref="KeptAnswer"/>). In a live state whose nodes take and release pods and get new utilization readings,
/// asked by two pipelines with random score settings, with asks of a few shapes that repeat: every verdict and score,
/// read from the candidate or not, must equal the one a fresh pipeline makes on a fresh candidate with an uncached fit
/// (fixed seeds).
/// </summary>
public sealed class KeptAnswerPropertyTests
{
    [Theory]
    [MemberData(nameof(FitSummaryPropertyTests.Seeds), MemberType = typeof(FitSummaryPropertyTests))]
    public void VerdictAndScoreNode_RandomStateChanges_EqualFreshAnswers(int seed)
    {
        var random = new Random(seed);
        var options = new[] { RandomOptions(random), RandomOptions(random) };
        var pipelines = options.Select(o => new SchedulingPipeline(o)).ToArray();
        var state = new ClusterState();
        string[] names = ["spx-a", "spx-b", "cpx-a", "cpu-a"];
        foreach (var name in names)
        {
            state.UpsertNode(Facts(name, random));
        }

        var requests = Enumerable.Range(0, 4).Select(_ => FitSummaryPropertyTests.RandomRequest(random)).ToArray();
        var reserved = new List<string>();
        var readKept = 0;
        for (var step = 0; step < 300; step++)
        {
            var name = names[random.Next(names.Length)];
            switch (random.Next(10))
            {
                case 0:
                    state.UpsertNode(Facts(name, random));
                    continue;
                case 1 or 2:
                    var uid = $"uid-{seed}-{step}";
                    var pod = Pod($"p{step}", uid: uid);
                    var evaluation = new PodEvaluation(new PodContext(pod, requests[random.Next(requests.Length)], Now), null);
                    if (state.Reserve(pod, name, c => pipelines[0].EvaluateNode(evaluation, c)).Succeeded)
                    {
                        reserved.Add(uid);
                    }

                    continue;
                case 3 when reserved.Count > 0:
                    var released = reserved[random.Next(reserved.Count)];
                    state.Release(released);
                    reserved.Remove(released);
                    continue;
            }

            if (random.Next(4) == 0)
            {
                // Filter's question of all nodes at once: each the verdict a fresh pipeline gives a fresh candidate.
                var all = state.Nodes().ToArray();
                var at = random.Next(pipelines.Length);
                var pod = new PodEvaluation(new PodContext(Pod("many"), requests[random.Next(requests.Length)], Now), null);
                var verdicts = new FitVerdict[all.Length];
                pipelines[at].Verdicts(pod, all, verdicts);
                var afresh = new SchedulingPipeline(options[at]);
                Assert.Equal(all.Select(n => afresh.Verdict(pod, new NodeCandidate(n.Facts, n.Usage))), verdicts);
                continue;
            }

            Assert.True(state.TryGetNode(name, out var node));
            var which = random.Next(pipelines.Length);
            var pipeline = pipelines[which];
            var request = requests[random.Next(requests.Length)];
            var asked = new PodEvaluation(new PodContext(Pod("asked"), request, Now.AddSeconds(random.Next(-200, 201))), null);
            var fresh = new NodeCandidate(node!.Facts, node.Usage);
            var freshPipeline = new SchedulingPipeline(options[which]);
            var expectedVerdict = freshPipeline.Verdict(asked, fresh);
            var expectedScore = FreshScore(options[which], asked.Context, fresh, GpuPlacer.Fit(node.Usage, request, options[which].Placement));
            for (var call = 0; call < 3; call++)
            {
                readKept += node.KeptFor(pipeline, request.Shape) is { Fit: not null } ? 1 : 0;
                if (random.Next(2) == 0)
                {
                    Assert.Equal(expectedVerdict, pipeline.Verdict(asked, node));
                }
                else
                {
                    var score = pipeline.ScoreNode(asked, node, out var verdict);
                    Assert.True(
                        (expectedVerdict, expectedScore) == (verdict, score),
                        $"seed {seed}, step {step}, node {name} ({node.Usage.Holds.Count} holds), ask {request.Describe()} {request.Placement}: kept {verdict.Code}/{score}, fresh {expectedVerdict.Code}/{expectedScore}");
                }
            }
        }

        Assert.True(readKept > 0, $"seed {seed}: no answer was read from a candidate");
    }

    [Fact]
    public void Verdicts_RefusedPod_IsTheRefusalForEveryNode()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var nodes = new[] { new NodeCandidate(Mi300XSpx(), Usage(Mi300XSpx())), new NodeCandidate(CpuOnly(), Usage(CpuOnly())) };
        var refused = pipeline.EvaluatePod(Fraction("bad", "1.5"), Now);
        var verdicts = new FitVerdict[2];

        pipeline.Verdicts(refused, nodes, verdicts);

        Assert.All(verdicts, v => Assert.Equal(FitVerdict.Of(refused.Refusal!), v));
    }

    [Fact]
    public void KeptFor_NewUsageOrFactsOrAnotherPipeline_FindsNothing()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var facts = Mi300XSpx();
        var node = new NodeCandidate(facts, Usage(facts));
        var pod = pipeline.EvaluatePod(Fraction("f", "0.5"), Now);
        var shape = pod.Context.Request.Shape;

        pipeline.EvaluateNode(pod, node);
        pipeline.ScoreNode(pod, node, out _);

        Assert.NotNull(node.KeptFor(pipeline, shape)?.Fit);
        Assert.Null(node.KeptFor(new SchedulingPipeline(new PipelineOptions()), shape));
        Assert.Null((node with { Usage = Usage(facts) }).KeptFor(pipeline, shape));
        Assert.Null((node with { Facts = facts with { Annotations = new Dictionary<string, string>() } }).KeptFor(pipeline, shape));
    }

    [Fact]
    public void Verdict_PodWithAReservation_IsNotKept()
    {
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var facts = Mi300XSpx();
        var node = new NodeCandidate(facts, Usage(facts));
        var plain = Fraction("f", "0.5");
        var allocation = pipeline.EvaluateNode(pipeline.EvaluatePod(plain, Now), node).Allocation!;
        var pod = pipeline.EvaluatePod(plain, Now, reservation: new Reservation(plain.Uid, plain.Key, "elsewhere", allocation, ReservationKind.Gang, "team-a/gang", Now.AddMinutes(1)));

        var verdict = pipeline.Verdict(pod, node);

        Assert.False(verdict.Fits);
        Assert.Null(node.KeptFor(pipeline, pod.Context.Request.Shape));
    }

    /// <summary>One of a few node kinds under <paramref name="name"/>, with a random utilization reading (or none).</summary>
    private static NodeFacts Facts(string name, Random random) =>
        (name[..3] switch { "spx" => Mi300XSpx(name), "cpx" => Mi300XCpx(name), _ => CpuOnly(name) }) with { Annotations = RandomUtilization(random) };
}

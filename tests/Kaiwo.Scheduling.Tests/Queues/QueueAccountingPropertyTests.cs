using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Kaiwo.Scheduling.Tests.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Queues;

/// <summary>
/// The running per-queue totals that pod changes keep up to date give the same usage, demand and smallest pending
/// request as a fresh state rebuilt from the same pods, after any random history.
/// </summary>
public sealed class QueueAccountingPropertyTests
{
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());
    private static readonly string?[] Labels = [null, "research", "prod", "gone"];

    public static TheoryData<int> Seeds() => [1, 2, 3, 4, 5, 6, 7, 8];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void RandomHistory_RunningTotals_MatchAFreshRebuild(int seed)
    {
        var random = new Random(seed);
        var tree = QueueTree.Build([new QueueSpec { Name = "research" }, new QueueSpec { Name = "prod" }], "default");
        var state = new ClusterState();
        state.UpsertNode(Mi300XSpx("n1"));
        state.UpsertNode(Mi300XSpx("n2"));
        var pods = new Dictionary<string, PodFacts>();

        for (var step = 0; step < 400; step++)
        {
            var roll = random.Next(10);
            if (roll < 5 || pods.Count == 0)
            {
                var label = Labels[random.Next(Labels.Length)];
                var pod = (random.Next(3) switch
                {
                    0 => Pod($"p{step}", gpus: 1 + random.Next(2)),
                    1 => Fraction($"p{step}", "0.25"),
                    _ => Pod($"p{step}", new() { ["kaiwo.ai/gpu-memory"] = "24Gi" }),
                }) with
                {
                    Labels = label is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [WellKnown.QueueLabel] = label },
                    SchedulerName = random.Next(4) == 0 ? "default-scheduler" : "kaiwo-scheduler",
                };
                state.UpsertPod(pod);
                pods[pod.Uid] = pod;
            }
            else
            {
                var uid = pods.Keys.ElementAt(random.Next(pods.Count));
                var pod = pods[uid];
                switch (roll)
                {
                    case 5 or 6 when pod.NodeName is null:
                        var evaluation = Pipeline.EvaluatePod(pod, DateTimeOffset.UnixEpoch);
                        var result = state.Reserve(pod, random.Next(2) == 0 ? "n1" : "n2", c => Pipeline.EvaluateNode(evaluation, c));
                        if (result.Status == ReserveStatus.Reserved)
                        {
                            var bound = result.Allocation is { } allocation ? ClusterStateTests.RecordedPod(pod, allocation) : pod with { NodeName = "n1", Phase = PodPhase.Running };
                            state.UpsertPod(bound);
                            pods[uid] = bound;
                        }

                        break;
                    case 7:
                        var done = pod with { Phase = PodPhase.Succeeded };
                        state.UpsertPod(done);
                        pods[uid] = done;
                        break;
                    default:
                        state.RemovePod(uid);
                        pods.Remove(uid);
                        break;
                }
            }
        }

        var fresh = new ClusterState();
        fresh.UpsertNode(Mi300XSpx("n1"));
        fresh.UpsertNode(Mi300XSpx("n2"));
        foreach (var pod in pods.Values)
        {
            fresh.UpsertPod(pod);
        }

        var running = state.QueueSnapshot(tree, "kaiwo-scheduler");
        var rebuilt = fresh.QueueSnapshot(tree, "kaiwo-scheduler");
        Assert.Equal(rebuilt.Usage.OrderBy(p => p.Key), running.Usage.OrderBy(p => p.Key));
        Assert.Equal(rebuilt.Demand.OrderBy(p => p.Key), running.Demand.OrderBy(p => p.Key));
        Assert.Equal(rebuilt.SmallestPending.OrderBy(p => p.Key), running.SmallestPending.OrderBy(p => p.Key));
        Assert.Equal(rebuilt.CountedInDefault, running.CountedInDefault);
    }
}

using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Kaiwo.Scheduling.Tests.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Queues;

/// <summary>
/// The running per-queue totals that pod and node changes keep up to date give the same usage, demand, smallest
/// pending request and capacity as a fresh state rebuilt from the same nodes and pods, after any random history.
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
        var nodes = new Dictionary<string, Kaiwo.Scheduling.Inventory.NodeFacts> { ["n1"] = Mi300XSpx("n1"), ["n2"] = Mi300XSpx("n2") };

        for (var step = 0; step < 400; step++)
        {
            var roll = random.Next(12);
            if (roll >= 10)
            {
                // A node without pods of its own comes, changes its allocatable CPU or goes.
                if (roll == 10)
                {
                    var node = CpuOnly("n3") with { Allocatable = new Dictionary<string, string> { ["cpu"] = $"{1 + random.Next(64)}", ["memory"] = "64Gi" } };
                    state.UpsertNode(node);
                    nodes["n3"] = node;
                }
                else
                {
                    state.RemoveNode("n3");
                    nodes.Remove("n3");
                }
            }
            else if (roll < 5 || pods.Count == 0)
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
        foreach (var node in nodes.Values)
        {
            fresh.UpsertNode(node);
        }
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
        Assert.Equal(rebuilt.Capacity, running.Capacity);
    }
}

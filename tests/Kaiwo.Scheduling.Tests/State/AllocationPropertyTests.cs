using System.Text.Json;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.State;

/// <summary>
/// Invariants over random histories of binds, deletions and terminations, with fixed seeds so that a failure
/// is reproducible: no GPU, partition or XCD is ever over-allocated, and rebuilding the state from the pods'
/// records gives the same table.
/// </summary>
public sealed class AllocationPropertyTests
{
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());
    private static readonly string[] SharedFractions = ["0.1", "0.125", "0.25", "0.5", "0.75", "1"];
    private static readonly string[] XcdFractions = ["0.125", "0.25", "0.5"];

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 1; seed <= 25; seed++)
        {
            data.Add(seed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void RandomHistory_NeverOverAllocates_AndRebuildGivesTheSameTable(int seed)
    {
        var random = new Random(seed);
        var nodes = new[] { Mi300XSpx("spx-a"), Mi300XSpx("spx-b"), Mi300XCpx("cpx-a"), Mi300XCpx("cpx-b", vram: "24G"), CpuOnly("cpu") };
        var state = new ClusterState();
        foreach (var node in nodes)
        {
            state.UpsertNode(node);
        }

        var bound = new Dictionary<string, PodFacts>();
        for (var step = 0; step < 300; step++)
        {
            if (bound.Count > 0 && random.Next(4) == 0)
            {
                var victim = bound.Keys.ElementAt(random.Next(bound.Count));
                if (random.Next(2) == 0)
                {
                    state.RemovePod(victim);
                }
                else
                {
                    state.UpsertPod(bound[victim] with { Phase = random.Next(2) == 0 ? PodPhase.Succeeded : PodPhase.Failed });
                }

                bound.Remove(victim);
            }
            else
            {
                var pod = RandomPod(random, step);
                var node = nodes[random.Next(nodes.Length)].Name;
                var evaluation = Pipeline.EvaluatePod(pod, DateTimeOffset.UnixEpoch);
                var result = state.Reserve(pod, node, c => Pipeline.EvaluateNode(evaluation, c));
                if (result.Status == ReserveStatus.Reserved && result.Allocation is { } allocation)
                {
                    var recorded = ClusterStateTests.RecordedPod(pod, allocation);
                    state.UpsertPod(recorded);
                    bound[pod.Uid] = recorded;
                }
            }

            AssertNoOverAllocation(state);
        }

        var rebuilt = new ClusterState();
        foreach (var node in nodes.Reverse())
        {
            rebuilt.UpsertNode(node);
        }

        foreach (var pod in bound.Values.OrderBy(_ => random.Next()))
        {
            Assert.Null(rebuilt.UpsertPod(pod));
        }

        Assert.Equal(Table(state), Table(rebuilt));
    }

    private static string Table(ClusterState state) => JsonSerializer.Serialize(InspectTable.Build(state.Nodes()));

    private static PodFacts RandomPod(Random random, int step)
    {
        var name = $"p{step}";
        return random.Next(7) switch
        {
            0 => Pod(name, gpus: 1 + random.Next(8)),
            1 => Fraction(name, SharedFractions[random.Next(SharedFractions.Length)]),
            2 => Fraction(name, XcdFractions[random.Next(XcdFractions.Length)], "xcd"),
            3 => Pod(name, new() { ["kaiwo.ai/gpu-memory"] = $"{1 + random.Next(96)}Gi" }),
            4 => Pod(name, new() { ["kaiwo.ai/gpu-fraction"] = "0.3", ["kaiwo.ai/gpu-sharing"] = "false" }),
            5 => Pod(name, new() { ["kaiwo.ai/gpu-fraction"] = "0.2", ["kaiwo.ai/gpu-isolation"] = "mps", ["kaiwo.ai/placement"] = "spread" }),
            _ => Pod(name),
        };
    }

    /// <summary>Recounts every node from its holds alone, independently of <see cref="NodeUsage"/>'s arithmetic.</summary>
    private static void AssertNoOverAllocation(ClusterState state)
    {
        foreach (var node in state.Nodes())
        {
            var usage = node.Usage;
            Assert.Empty(usage.Conflicts);
            foreach (var gpu in usage.Inventory.Gpus)
            {
                var grants = usage.Holds.Values
                    .SelectMany(h => h.Allocation.Gpus.Where(g => g.Index == gpu.Index).Select(g => (h.Allocation.Kind, Grant: g)))
                    .ToList();
                if (gpu.IsPartitioned)
                {
                    var partitions = grants.SelectMany(g => g.Grant.Partitions).ToList();
                    Assert.Equal(partitions.Count, partitions.Distinct().Count());
                    Assert.All(partitions, p => Assert.InRange(p, 0, gpu.Partitions - 1));
                    var xcds = grants.SelectMany(g => g.Grant.Xcds).ToList();
                    Assert.Equal(xcds.Count, xcds.Distinct().Count());
                    continue;
                }

                if (grants.Any(g => g.Kind == AllocationKind.Whole))
                {
                    Assert.Single(grants);
                }
                else
                {
                    Assert.InRange(grants.Sum(g => g.Grant.ComputeMilli), 0, 1000);
                    Assert.InRange(grants.Sum(g => g.Grant.MemoryMiB), 0, gpu.MemoryMiB);
                }
            }
        }
    }
}

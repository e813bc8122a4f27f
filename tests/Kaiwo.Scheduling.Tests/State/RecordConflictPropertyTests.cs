using System.Text.Json;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.State;

/// <summary>
/// Any set of records, however wrong (random GPUs, partitions, amounts, kinds; fixed seeds): on every GPU that is not
/// in conflict the records fit, every conflict is real, rebuilding from the pods in another order gives the same table
/// with the same conflicts, no fit lands on a GPU in conflict, and removing the pods a conflict names clears it.
/// The checks recount from the holds alone, independently of <see cref="NodeUsage"/>'s arithmetic.
/// </summary>
public sealed class RecordConflictPropertyTests
{
    public static TheoryData<int, int> Cases()
    {
        var data = new TheoryData<int, int>();
        for (var seed = 1; seed <= 40; seed++)
        {
            data.Add(seed, seed % 3 == 0 ? 1500 : 1000);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AnyRecords_UsageFitsOffConflicts_AndRebuildGivesTheSameTableWithItsConflicts(int seed, int timeSlicingCapacityMilli)
    {
        var random = new Random(seed);
        var nodes = new[] { Mi300XSpx("spx"), Mi300XCpx("cpx"), Mi300XCpx("cpx-small", vram: "24G") };
        var placement = new PlacementOptions { TimeSlicingCapacityMilli = timeSlicingCapacityMilli };
        var pods = Enumerable.Range(0, 10 + random.Next(40)).Select(i => RandomRecordedPod(random, i, nodes[random.Next(nodes.Length)].Name)).ToList();

        var state = Build(nodes, pods, placement, nodesFirst: true);

        foreach (var node in state.Nodes())
        {
            AssertConflictsAreExactlyTheMisfits(node.Usage, timeSlicingCapacityMilli);
            AssertNoFitOnAConflictedGpu(node.Usage, placement, random);
        }

        // The random records are wrong often enough to test something: some GPUs in conflict, some not.
        var conflicted = state.ConflictedGpuCount;
        Assert.InRange(conflicted, 1, state.Nodes().Sum(n => n.Usage.Gpus.Count) - 1);

        var rebuilt = Build(nodes.Reverse(), [.. pods.OrderBy(_ => random.Next())], placement, nodesFirst: random.Next(2) == 0);
        Assert.Equal(Table(state), Table(rebuilt));

        // Removing the pods a conflict names clears it: the GPU's remaining records fit.
        foreach (var node in state.Nodes().ToList())
        {
            foreach (var conflict in node.Usage.Conflicts)
            {
                foreach (var pod in pods.Where(p => p.NodeName == node.Name && conflict.Pods.Contains(p.Key)))
                {
                    state.RemovePod(pod.Uid);
                }
            }
        }

        foreach (var node in state.Nodes())
        {
            Assert.Empty(node.Usage.Conflicts);
            AssertConflictsAreExactlyTheMisfits(node.Usage, timeSlicingCapacityMilli);
        }

        Assert.Equal(0, state.ConflictedGpuCount);
        var remaining = pods.Where(p => state.TryGetPod(p.Uid, out _, out _)).ToList();
        Assert.Equal(Table(state), Table(Build(nodes, remaining, placement, nodesFirst: false)));
    }

    private static ClusterState Build(IEnumerable<NodeFacts> nodes, IReadOnlyList<PodFacts> pods, PlacementOptions placement, bool nodesFirst)
    {
        var state = new ClusterState(new RequestOptions(), placement);
        if (nodesFirst)
        {
            foreach (var node in nodes)
            {
                state.UpsertNode(node);
            }
        }

        foreach (var pod in pods)
        {
            state.UpsertPod(pod);
        }

        if (!nodesFirst)
        {
            foreach (var node in nodes)
            {
                state.UpsertNode(node);
            }
        }

        return state;
    }

    private static string Table(ClusterState state) => JsonSerializer.Serialize(InspectTable.Build(state.Nodes()));

    /// <summary>A bound pod with a record that may or may not fit: GPUs 0..9 (the nodes have 8), partitions 0..8.</summary>
    private static PodFacts RandomRecordedPod(Random random, int i, string node)
    {
        var grants = new List<GpuGrant>();
        var kind = random.Next(4) == 0 ? AllocationKind.Whole : AllocationKind.Shared;
        var isolation = (GpuIsolation)random.Next(3);
        for (var g = 0; g < 1 + random.Next(2); g++)
        {
            var index = random.Next(30) == 0 ? 8 + random.Next(2) : random.Next(3);
            var partitions = random.Next(3) switch
            {
                0 => [],
                1 => new[] { random.Next(9) },
                _ => Enumerable.Range(0, 9).Where(_ => random.Next(4) == 0).ToArray(),
            };
            grants.Add(new GpuGrant(index, partitions, partitions, [.. partitions.Select(p => (index * 8) + p)], random.Next(1001), random.Next(110_000)));
        }

        var pod = Pod($"r{i}", uid: $"uid-r{i:D3}");
        return ClusterStateTests.RecordedPod(pod, new PodAllocation(node, kind, isolation, grants));
    }

    /// <summary>
    /// Per GPU, recounted from the holds: the GPU is listed as a conflict exactly when its records cannot all hold.
    /// </summary>
    private static void AssertConflictsAreExactlyTheMisfits(NodeUsage usage, int timeSlicingCapacityMilli)
    {
        var inventoryIndexes = usage.Inventory.Gpus.Select(g => g.Index).ToHashSet();
        var named = usage.Holds.Values.SelectMany(h => h.Allocation.Gpus.Select(g => g.Index)).Where(i => !inventoryIndexes.Contains(i)).ToHashSet();
        var expected = new SortedSet<int>(named);
        for (var i = 0; i < usage.Inventory.Gpus.Count; i++)
        {
            var gpu = usage.Inventory.Gpus[i];
            var grants = usage.Holds.Values
                .SelectMany(h => h.Allocation.Gpus.Where(g => g.Index == gpu.Index).Select(g => (h.Allocation, Grant: g)))
                .ToList();
            if (!Fits(gpu, grants, timeSlicingCapacityMilli))
            {
                expected.Add(gpu.Index);
            }

            Assert.Equal(expected.Contains(gpu.Index), usage.IsConflicted(i));
        }

        Assert.Equal(expected, usage.Conflicts.Select(c => c.Gpu));
        Assert.All(usage.Conflicts, c => Assert.NotEmpty(c.Pods));
        Assert.All(usage.Conflicts, c => Assert.False(string.IsNullOrEmpty(c.Reason)));
        Assert.All(usage.Gpus.Select((_, i) => usage.UsedMilli(i)), u => Assert.InRange(u, 0, 1000));
    }

    private static bool Fits(PhysicalGpu gpu, List<(PodAllocation Allocation, GpuGrant Grant)> grants, int timeSlicingCapacityMilli)
    {
        if (gpu.IsPartitioned)
        {
            if (grants.Any(g => g.Grant.Partitions.Count == 0))
            {
                return false;
            }

            var partitions = grants.SelectMany(g => g.Grant.Partitions.Distinct()).ToList();
            return partitions.All(p => p < gpu.Partitions) && partitions.Count == partitions.Distinct().Count();
        }

        if (grants.Any(g => g.Grant.Partitions.Any(p => p > 0) || g.Grant.Partitions.Count > 1))
        {
            return false;
        }

        if (grants.Any(g => g.Allocation.Kind == AllocationKind.Whole || g.Grant.Partitions.Count > 0))
        {
            return grants.Count == 1;
        }

        return grants.Sum(g => g.Grant.ComputeMilli) <= timeSlicingCapacityMilli
            && grants.Where(g => g.Allocation.Isolation == GpuIsolation.Mps).Sum(g => g.Grant.ComputeMilli) <= 1000
            && grants.Sum(g => g.Grant.MemoryMiB) <= gpu.MemoryMiB;
    }

    private static void AssertNoFitOnAConflictedGpu(NodeUsage usage, PlacementOptions placement, Random random)
    {
        string[] fractions = ["0.125", "0.25", "0.5", "1"];
        for (var n = 0; n < 6; n++)
        {
            var ask = random.Next(3) switch
            {
                0 => Pod("ask", gpus: 1 + random.Next(4)),
                1 => Fraction("ask", fractions[random.Next(fractions.Length)]),
                _ => Fraction("ask", fractions[random.Next(3)], "xcd"),
            };
            var fit = GpuPlacer.Fit(usage, Parse(ask), placement);
            if (fit.Allocation is { } allocation)
            {
                Assert.All(allocation.Gpus, g => Assert.False(usage.IsConflicted(NodeUsage.IndexOf(usage.Inventory, g.Index)), $"fit placed on GPU {g.Index} in conflict"));
            }
        }
    }
}

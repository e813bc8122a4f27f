using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Allocation;

/// <summary>What a snapshot computes once for the scores of every node (<see cref="NodeUsage.HasGpus"/>, <see cref="NodeUsage.UsedFraction"/>) follows its inventory and holds in every snapshot made from it.</summary>
public sealed class NodeUsageSummaryTests
{
    [Fact]
    public void HasGpusAndUsedFraction_SnapshotsOfGpuAndCpuNodes_AreTheInventorysAndTheHoldsShare()
    {
        var spx = Usage(Mi300XSpx());
        var held = spx.With(new PodHold("u0", "ns/p0", new PodAllocation(spx.NodeName, AllocationKind.Whole, GpuIsolation.TimeSlicing, [new GpuGrant(0, [], [], [0], 1000, 196608)])));
        var freed = held.Without("u0");
        var cpu = Usage(CpuOnly());
        var relabelled = held.WithInventory(InventoryReader.Read(CpuOnly(spx.NodeName)));

        Assert.Equal((true, 0.0), (spx.HasGpus, spx.UsedFraction()));
        Assert.Equal((true, 1 / 8.0), (held.HasGpus, held.UsedFraction()));
        Assert.Equal((true, 0.0), (freed.HasGpus, freed.UsedFraction()));
        Assert.Equal((false, 0.0), (cpu.HasGpus, cpu.UsedFraction()));
        Assert.Equal((false, 0.0), (relabelled.HasGpus, relabelled.UsedFraction()));
    }
}

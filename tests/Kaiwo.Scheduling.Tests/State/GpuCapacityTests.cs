using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.State;

/// <summary>The fragmentation figures of the metrics, and GPUs held on nodes the state no longer has.</summary>
public sealed class GpuCapacityTests
{
    private static ReserveResult Bind(ClusterState state, PodFacts pod, string node)
    {
        var result = ClusterStateTests.Bind(state, pod, node);
        Assert.True(result.Succeeded, result.Reason);
        return result;
    }

    private static ClusterState WithNode(Kaiwo.Scheduling.Inventory.NodeFacts node)
    {
        var state = new ClusterState();
        state.UpsertNode(node);
        return state;
    }

    private static GpuCapacity CapacityOf(ClusterState state, string node)
    {
        Assert.True(state.TryGetNode(node, out var candidate));
        return GpuCapacity.Of(candidate!.Usage);
    }

    /// <summary>The largest whole ask the placer itself fits on the node: what FreeWholeGpus must equal.</summary>
    private static int LargestWholeAskThatFits(ClusterState state, string node)
    {
        state.TryGetNode(node, out var candidate);
        var largest = 0;
        for (var n = 1; n <= candidate!.Usage.Inventory.LogicalGpuCount; n++)
        {
            if (GpuPlacer.Fit(candidate.Usage, Parse(Pod($"ask-{n}", gpus: n)), new PlacementOptions()).Fits)
            {
                largest = n;
            }
        }

        return largest;
    }

    [Fact]
    public void Of_IdleSpxNode_NothingAllocatedNothingStrandedEveryGpuFreeWhole()
    {
        var capacity = CapacityOf(WithNode(Mi300XSpx()), "gpu-node-01");

        Assert.Equal(new GpuCapacity(8, 0, 0, 8), capacity);
    }

    [Fact]
    public void Of_SpxNodeWithFractionsOnTwoGpus_TheirFreeShareIsStrandedAndTheRestFreeWhole()
    {
        var state = WithNode(Mi300XSpx());
        Bind(state, Fraction("quarter", "0.25"), "gpu-node-01");
        Bind(state, Fraction("three-quarters", "0.75"), "gpu-node-01");
        Bind(state, Fraction("tenth", "0.1"), "gpu-node-01");
        Bind(state, Pod("whole", gpus: 2), "gpu-node-01");

        var capacity = CapacityOf(state, "gpu-node-01");

        // The binpacker puts the quarter and three quarters on one GPU (full) and the tenth on another.
        Assert.Equal(8, capacity.Gpus);
        Assert.Equal(250 + 750 + 100 + 2000, capacity.AllocatedMilli);
        Assert.Equal(900, capacity.StrandedMilli);
        Assert.Equal(4, capacity.FreeWholeGpus);
        Assert.Equal(LargestWholeAskThatFits(state, "gpu-node-01"), capacity.FreeWholeGpus);
    }

    [Fact]
    public void Of_CpxNodeWithPartitionsHeld_FreePartitionsAreFreeWholeNotStranded()
    {
        var state = WithNode(Mi300XCpx());
        Bind(state, Fraction("eighth", "0.125", isolation: "xcd"), "gpu-node-09");
        Bind(state, Pod("three", gpus: 3), "gpu-node-09");

        var capacity = CapacityOf(state, "gpu-node-09");

        Assert.Equal(0, capacity.StrandedMilli);
        Assert.Equal(64 - 4, capacity.FreeWholeGpus);
        Assert.Equal(4 * 125, capacity.AllocatedMilli);
        Assert.Equal(LargestWholeAskThatFits(state, "gpu-node-09"), capacity.FreeWholeGpus);
    }

    [Fact]
    public void Of_NodeRelabelledUnderAPod_TheGpuInConflictCountsNeitherFreeNorStranded()
    {
        var state = WithNode(Mi300XSpx("n"));
        var pod = Fraction("half", "0.5");
        var reserved = Bind(state, pod, "n");
        state.UpsertPod(ClusterStateTests.RecordedPod(pod, reserved.Allocation!));
        state.UpsertNode(Mi300XCpx("n"));

        var capacity = CapacityOf(state, "n");

        // GPU 0 holds an unpartitioned record on a CPX GPU: in conflict; the other 7 GPUs' 8 partitions each are free.
        Assert.Equal(7 * 8, capacity.FreeWholeGpus);
        Assert.Equal(0, capacity.StrandedMilli);
        Assert.Equal(LargestWholeAskThatFits(state, "n"), capacity.FreeWholeGpus);
    }

    [Fact]
    public void Of_RecordNamingAGpuTheNodeLacks_TakesNoWholeAsk()
    {
        var state = WithNode(Mi300XSpx("n"));
        var allocation = new PodAllocation("n", AllocationKind.Whole, GpuIsolation.TimeSlicing, [new GpuGrant(9, [], [0, 1, 2, 3, 4, 5, 6, 7], [9], 1000, 196608)]);
        state.UpsertPod(ClusterStateTests.RecordedPod(Pod("ninth", gpus: 1), allocation));

        var capacity = CapacityOf(state, "n");

        Assert.Equal(0, capacity.FreeWholeGpus);
        Assert.Equal(0, LargestWholeAskThatFits(state, "n"));
    }

    [Fact]
    public void HeldOnMissingNodes_NodeDeletedUnderRunningPods_CountsTheirShareUnderTheNodeName()
    {
        var state = WithNode(Mi300XSpx("a"));
        state.UpsertNode(Mi300XSpx("b"));
        foreach (var (pod, node) in new[] { (Fraction("half", "0.5"), "a"), (Pod("two", gpus: 2), "a"), (Fraction("stay", "0.25"), "b") })
        {
            var reserved = Bind(state, pod, node);
            state.UpsertPod(ClusterStateTests.RecordedPod(pod, reserved.Allocation!));
        }

        Assert.Empty(state.HeldOnMissingNodes());
        state.RemoveNode("a");

        Assert.Equal(new Dictionary<string, long> { ["a"] = 2500 }, state.HeldOnMissingNodes());
    }

    [Fact]
    public void HeldOnMissingNodes_DeletedNodesPodsGoneOrNodeBack_CountsNothing()
    {
        var state = WithNode(Mi300XSpx("a"));
        var pod = Fraction("half", "0.5");
        var reserved = Bind(state, pod, "a");
        state.UpsertPod(ClusterStateTests.RecordedPod(pod, reserved.Allocation!));
        state.RemoveNode("a");

        state.UpsertNode(Mi300XSpx("a"));
        var afterNodeBack = state.HeldOnMissingNodes();
        state.RemoveNode("a");
        state.RemovePod(pod.Uid);

        Assert.Empty(afterNodeBack);
        Assert.Empty(state.HeldOnMissingNodes());
    }
}

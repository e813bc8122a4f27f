using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.State;

/// <summary>
/// Records on pods that do not fit their GPU (from the informer or a cluster file: any controller may write them)
/// are conflicts: listed per GPU with the pods and what is over-claimed, the GPU takes no new pods, and the conflict
/// clears when the offending pod goes away.
/// </summary>
public sealed class RecordConflictTests
{
    private static PodFacts Running(string name, string node, PodAllocation allocation) =>
        ClusterStateTests.RecordedPod(Pod(name), allocation with { Node = node });

    internal static PodAllocation Shared(int gpu, int milli, long mib, GpuIsolation isolation = GpuIsolation.TimeSlicing) =>
        new("n", AllocationKind.Shared, isolation, [new GpuGrant(gpu, [], [0, 1, 2, 3, 4, 5, 6, 7], [gpu], milli, mib)]);

    internal static PodAllocation Partitions(int gpu, params int[] partitions) =>
        new("n", AllocationKind.Shared, GpuIsolation.Xcd, [new GpuGrant(gpu, partitions, partitions, [.. partitions.Select(p => (gpu * 8) + p)], partitions.Length * 125, partitions.Length * 24576L)]);

    private static ClusterState State(NodeFacts node, int timeSlicingCapacityMilli = 1000)
    {
        var state = new ClusterState(new RequestOptions(), new PlacementOptions { TimeSlicingCapacityMilli = timeSlicingCapacityMilli });
        state.UpsertNode(node);
        return state;
    }

    private static NodeUsage Usage(ClusterState state, string node)
    {
        Assert.True(state.TryGetNode(node, out var candidate));
        return candidate!.Usage;
    }

    [Fact]
    public void UpsertPod_TwoRecordsClaimingMoreMemoryThanTheGpuHas_ListsTheGpuWithBothPodsAndTheAmounts()
    {
        var state = State(Mi300XSpx("n"));

        Assert.Null(state.UpsertPod(Running("a", "n", Shared(2, 500, 120_000))));
        var warning = state.UpsertPod(Running("b", "n", Shared(2, 400, 120_000)));

        var conflict = Assert.Single(Usage(state, "n").Conflicts);
        Assert.Equal(2, conflict.Gpu);
        Assert.Equal(["team-a/a", "team-a/b"], conflict.Pods);
        Assert.Equal("memory 240000 MiB claimed, it has 196608 MiB", conflict.Reason);
        Assert.Contains("team-a/b", warning, StringComparison.Ordinal);
        Assert.Contains("GPU 2: memory 240000 MiB claimed", warning, StringComparison.Ordinal);
        Assert.Equal(1, state.ConflictedGpuCount);
    }

    [Fact]
    public void UpsertPod_ComputeOverTheGpu_IsAConflictAndWithinTheOversubscriptionIsNot()
    {
        var plain = State(Mi300XSpx("n"));
        var oversubscribed = State(Mi300XSpx("n"), timeSlicingCapacityMilli: 2000);
        foreach (var state in new[] { plain, oversubscribed })
        {
            state.UpsertPod(Running("a", "n", Shared(0, 800, 1024)));
            state.UpsertPod(Running("b", "n", Shared(0, 700, 1024)));
        }

        Assert.Equal("compute 1.5 claimed, it has 1", Assert.Single(Usage(plain, "n").Conflicts).Reason);
        Assert.Empty(Usage(oversubscribed, "n").Conflicts);
    }

    [Fact]
    public void UpsertPod_MpsComputeOverTheGpu_IsAConflictEvenWithOversubscription()
    {
        // mps reserves compute: binds never oversubscribe it, so records that do are wrong.
        var state = State(Mi300XSpx("n"), timeSlicingCapacityMilli: 2000);

        state.UpsertPod(Running("a", "n", Shared(0, 600, 1024, GpuIsolation.Mps)));
        state.UpsertPod(Running("b", "n", Shared(0, 600, 1024, GpuIsolation.Mps)));

        Assert.Equal("mps compute 1.2 claimed, it has 1", Assert.Single(Usage(state, "n").Conflicts).Reason);
    }

    [Fact]
    public void UpsertPod_SamePartitionTwice_ListsThePartitionAndOnlyThePodsThatClaimIt()
    {
        var state = State(Mi300XCpx("n"));

        state.UpsertPod(Running("a", "n", Partitions(1, 2, 3)));
        state.UpsertPod(Running("b", "n", Partitions(1, 3, 4)));
        state.UpsertPod(Running("c", "n", Partitions(1, 6)));

        var conflict = Assert.Single(Usage(state, "n").Conflicts);
        Assert.Equal(1, conflict.Gpu);
        Assert.Equal(["team-a/a", "team-a/b"], conflict.Pods);
        Assert.Equal("partition(s) 3 claimed by more than one pod", conflict.Reason);
    }

    [Fact]
    public void UpsertPod_WholeGpuAlsoHeldShared_IsAConflict()
    {
        var state = State(Mi300XSpx("n"));

        state.UpsertPod(Running("shared", "n", Shared(4, 250, 1024)));
        state.UpsertPod(Running("whole", "n", new PodAllocation("n", AllocationKind.Whole, GpuIsolation.TimeSlicing, [new GpuGrant(4, [], [], [4], 1000, 196608)])));

        var conflict = Assert.Single(Usage(state, "n").Conflicts);
        Assert.Equal(["team-a/shared", "team-a/whole"], conflict.Pods);
        Assert.Equal("held whole by team-a/whole and by 1 other pod(s)", conflict.Reason);
    }

    [Fact]
    public void UpsertPod_HugeMemoryClaims_SaturateInsteadOfWrappingAndStayAConflict()
    {
        var state = State(Mi300XSpx("n"));

        state.UpsertPod(Running("a", "n", Shared(0, 100, long.MaxValue - 1)));
        state.UpsertPod(Running("b", "n", Shared(0, 100, long.MaxValue - 1)));

        Assert.Contains($"memory {long.MaxValue} MiB claimed", Assert.Single(Usage(state, "n").Conflicts).Reason, StringComparison.Ordinal);
        Assert.Equal(1000, Usage(state, "n").UsedMilli(0));
    }

    [Fact]
    public void Fit_GpuInConflict_TakesNoNewPodWhileTheOtherGpusDo()
    {
        var state = State(Mi300XSpx("n"));
        state.UpsertPod(Running("a", "n", Shared(0, 600, 120_000)));
        state.UpsertPod(Running("b", "n", Shared(0, 600, 120_000)));
        var usage = Usage(state, "n");

        // GPU 0 is the fullest, so binpack would pick it if it could; it is in conflict, so a fraction goes elsewhere.
        var fraction = GpuPlacer.Fit(usage, Parse(Fraction("f", "0.1")), new PlacementOptions());
        var eight = GpuPlacer.Fit(usage, Parse(Pod("w", gpus: 8)), new PlacementOptions());

        Assert.Equal(FitOutcome.Fits, fraction.Outcome);
        Assert.NotEqual(0, Assert.Single(fraction.Allocation!.Gpus).Index);
        Assert.Equal(FitOutcome.FullNow, eight.Outcome);
        Assert.Equal("record-conflict", eight.Code);
        Assert.Contains("GPU 0: compute 1.2 claimed, it has 1; memory 240000 MiB claimed, it has 196608 MiB (pods team-a/a, team-a/b)", eight.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_EveryGpuInConflict_SaysSo()
    {
        var state = State(Mi300XCpx("n"));
        for (var gpu = 0; gpu < 8; gpu++)
        {
            state.UpsertPod(Running($"a{gpu}", "n", Partitions(gpu, 0)));
            state.UpsertPod(Running($"b{gpu}", "n", Partitions(gpu, 0)));
        }

        var fit = GpuPlacer.Fit(Usage(state, "n"), Parse(Fraction("f", "0.125", "xcd")), new PlacementOptions());

        Assert.Equal(FitOutcome.FullNow, fit.Outcome);
        Assert.Equal("record-conflict", fit.Code);
        Assert.StartsWith("pod asks 0.125 GPU; every GPU that could take it is in conflict", fit.Reason, StringComparison.Ordinal);
        Assert.Equal(8, state.ConflictedGpuCount);
    }

    [Fact]
    public void RemovePod_OffendingPodGoes_ClearsTheConflictAndTheGpuTakesPodsAgain()
    {
        var state = State(Mi300XSpx("n"));
        state.UpsertPod(Running("a", "n", Shared(0, 600, 1024)));
        var b = Running("b", "n", Shared(0, 600, 1024));
        state.UpsertPod(b);
        Assert.Single(Usage(state, "n").Conflicts);

        state.RemovePod(b.Uid);

        var usage = Usage(state, "n");
        Assert.Empty(usage.Conflicts);
        Assert.False(usage.IsConflicted(0));
        Assert.Equal(0, state.ConflictedGpuCount);
        Assert.Equal(0, GpuPlacer.Fit(usage, Parse(Fraction("f", "0.4")), new PlacementOptions()).Allocation!.Gpus[0].Index);
    }

    [Fact]
    public void UpsertPod_OffendingPodTerminates_ClearsTheConflict()
    {
        var state = State(Mi300XCpx("n"));
        state.UpsertPod(Running("a", "n", Partitions(5, 1)));
        var b = Running("b", "n", Partitions(5, 1));
        state.UpsertPod(b);
        Assert.Single(Usage(state, "n").Conflicts);

        state.UpsertPod(b with { Phase = PodPhase.Succeeded });

        Assert.Empty(Usage(state, "n").Conflicts);
    }

    [Fact]
    public void UpsertNode_NodeRelabelledBackToWhatTheRecordsSay_ClearsTheConflict()
    {
        var state = State(Mi300XSpx("n"));
        state.UpsertPod(Running("x", "n", Partitions(3, 1)));
        Assert.Single(Usage(state, "n").Conflicts);

        state.UpsertNode(Mi300XCpx("n"));

        Assert.Empty(Usage(state, "n").Conflicts);
    }
}

using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Requests;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Fits;

public sealed class GpuPlacerTests
{
    private static readonly PlacementOptions Defaults = new();

    private static FitResult Fit(NodeUsage node, PodFacts pod, PlacementOptions? options = null) =>
        GpuPlacer.Fit(node, Parse(pod), options ?? Defaults);

    /// <summary>Places the pod and returns the node with its hold, as bind does.</summary>
    private static NodeUsage Place(NodeUsage node, PodFacts pod, PlacementOptions? options = null)
    {
        var fit = Fit(node, pod, options);
        Assert.True(fit.Fits, fit.Reason);
        return node.With(new PodHold(pod.Uid, pod.Key, fit.Allocation!));
    }

    [Fact]
    public void Fit_HalfOnEmptySpxNode_TakesHalfOfGpuZero()
    {
        var fit = Fit(Usage(Mi300XSpx()), Fraction("half", "0.5"));

        Assert.Equal(FitOutcome.Fits, fit.Outcome);
        var grant = Assert.Single(fit.Allocation!.Gpus);
        Assert.Equal(0, grant.Index);
        Assert.Equal(500, grant.ComputeMilli);
        Assert.Equal(98304, grant.MemoryMiB);
        Assert.Empty(grant.Partitions);
        Assert.Equal([0], grant.Devices);
        Assert.Equal(AllocationKind.Shared, fit.Allocation.Kind);
        Assert.Equal("0", fit.Allocation.VisibleDevices);
    }

    [Fact]
    public void Fit_TenTenths_FillOneGpuExactlyAndTheEleventhGoesElsewhere()
    {
        var node = Usage(Mi300XSpx());
        for (var i = 0; i < 10; i++)
        {
            node = Place(node, Fraction($"tenth-{i}", "0.1"));
        }

        Assert.Equal(1000, node.Gpus[0].ComputeMilli);
        Assert.Equal(10, node.Gpus[0].SharedPods);
        Assert.Equal(1000, node.UsedMilli(0));

        var eleventh = Fit(node, Fraction("tenth-10", "0.1"));
        Assert.Equal(1, eleventh.Allocation!.Gpus[0].Index);
    }

    [Fact]
    public void Fit_Binpack_ChoosesTheFullestGpuThatFits()
    {
        var node = Usage(Mi300XSpx());
        node = Place(node, Fraction("a", "0.5")); // GPU 0
        node = Place(node, Fraction("b", "0.75")); // does not fit GPU 0's 0.5 free: GPU 1

        var fit = Fit(node, Fraction("c", "0.25"));

        // GPU 1 (0.25 free) is tighter than GPU 0 (0.5 free): best fit keeps more room elsewhere.
        Assert.Equal(1, fit.Allocation!.Gpus[0].Index);
    }

    [Fact]
    public void Fit_Spread_ChoosesTheEmptiestGpu()
    {
        var node = Place(Usage(Mi300XSpx()), Fraction("a", "0.5"));
        var pod = Pod("s", new() { ["kaiwo.ai/gpu-fraction"] = "0.25", ["kaiwo.ai/placement"] = "spread" });

        var fit = Fit(node, pod);

        Assert.NotEqual(0, fit.Allocation!.Gpus[0].Index);
    }

    [Fact]
    public void Fit_MemoryLargerThanAnyGpu_NeverFitsNamingBothSizes()
    {
        var fit = Fit(Usage(Mi300XSpx()), Pod("huge", new() { ["kaiwo.ai/gpu-memory"] = "256Gi" }));

        Assert.Equal(FitOutcome.NeverFits, fit.Outcome);
        Assert.Contains("262144 MiB", fit.Reason, StringComparison.Ordinal);
        Assert.Contains("196608 MiB", fit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_EveryGpuAtThreeQuarters_FullNowNamingTheGap()
    {
        var node = Usage(Mi300XSpx());
        for (var i = 0; i < 8; i++)
        {
            node = Place(node, Fraction($"p{i}", "0.75"));
        }

        var fit = Fit(node, Fraction("half", "0.5"));

        Assert.Equal(FitOutcome.FullNow, fit.Outcome);
        Assert.Contains("has 0.25 compute", fit.Reason, StringComparison.Ordinal);
        Assert.Contains("pod asks 0.5", fit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_XcdIsolationOnSpxNode_NeverFitsSayingWhy()
    {
        var fit = Fit(Usage(Mi300XSpx()), Fraction("x", "0.25", "xcd"));

        Assert.Equal(FitOutcome.NeverFits, fit.Outcome);
        Assert.Contains("xcd", fit.Reason, StringComparison.Ordinal);
        Assert.Contains("SPX", fit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_GpuPodOnCpuNode_NeverFits()
    {
        var fit = Fit(Usage(CpuOnly()), Fraction("f", "0.5"));

        Assert.Equal(FitOutcome.NeverFits, fit.Outcome);
        Assert.Contains("no AMD GPUs", fit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_CpuPodOnAnyNode_Fits()
    {
        Assert.True(Fit(Usage(CpuOnly()), Pod("cpu")).Fits);
        Assert.True(Fit(Usage(Mi300XSpx()), Pod("cpu")).Fits);
    }

    [Fact]
    public void Fit_QuarterOnCpxNode_TwoPartitionsOfOneQuadrant()
    {
        var fit = Fit(Usage(Mi300XCpx()), Fraction("q", "0.25", "xcd"));

        var grant = Assert.Single(fit.Allocation!.Gpus);
        Assert.Equal([0, 1], grant.Partitions);
        Assert.Equal([0, 1], grant.Xcds);
        Assert.Equal([0, 1], grant.Devices);
        Assert.Equal(250, grant.ComputeMilli);
        Assert.Equal(49152, grant.MemoryMiB);
        Assert.Equal(1, fit.Quality!.QuadrantsSpanned);
    }

    [Fact]
    public void Fit_OnePartitionWhereAQuadrantIsHalfUsed_FillsThatQuadrant()
    {
        // GPU 0 holds partitions 0 and 2 (one in each of quadrants 0 and 1).
        var node = Usage(Mi300XCpx());
        node = node.With(new PodHold("u1", "ns/one", Partitions(0, [0])));
        node = node.With(new PodHold("u2", "ns/two", Partitions(0, [2])));

        var fit = Fit(node, Fraction("small", "0.1"));

        var grant = Assert.Single(fit.Allocation!.Gpus);
        Assert.Equal(0, grant.Index);
        Assert.Equal([1], grant.Partitions); // the fullest quadrant that can take it; quadrants 2 and 3 stay whole
    }

    [Fact]
    public void Fit_TwoPartitionsWhenNoQuadrantOfAGpuHasTwoFree_PrefersAnotherGpuInOneQuadrant()
    {
        var node = Usage(Mi300XCpx());
        node = node.With(new PodHold("u1", "ns/one", Partitions(0, [0, 2, 4, 6])));

        var fit = Fit(node, Fraction("q", "0.25"));

        var grant = Assert.Single(fit.Allocation!.Gpus);
        Assert.Equal(1, grant.Index);
        Assert.Equal([0, 1], grant.Partitions);
    }

    [Fact]
    public void Fit_HalfOnCpxNode_TakesTwoWholeQuadrants()
    {
        var fit = Fit(Usage(Mi300XCpx()), Fraction("half", "0.5"));

        var grant = Assert.Single(fit.Allocation!.Gpus);
        Assert.Equal([0, 1, 2, 3], grant.Partitions);
        Assert.Equal(2, fit.Quality!.QuadrantsSpanned);
        Assert.Equal(2, fit.Quality.MinimumQuadrants);
    }

    [Theory]
    [InlineData(250, 0, 2)]
    [InlineData(100, 0, 1)]
    [InlineData(125, 0, 1)]
    [InlineData(126, 0, 2)]
    [InlineData(0, 30000, 2)]
    [InlineData(1000, 0, 8)]
    public void PartitionsNeeded_CpxMi300X_EnoughForComputeAndMemory(int compute, long memory, int expected)
    {
        var gpu = Usage(Mi300XCpx()).Inventory.Gpus[0];

        Assert.Equal(expected, GpuPlacer.PartitionsNeeded(gpu, compute, memory));
    }

    [Fact]
    public void Fit_WholeGpusWhereNumaZeroIsFull_TakesThemOnNumaOne()
    {
        var node = Usage(Mi300XSpx());
        node = node.With(new PodHold("u", "ns/busy", Whole(0, 1, 2)));

        var fit = Fit(node, Pod("two", gpus: 2));

        Assert.Equal([4, 5], fit.Allocation!.Gpus.Select(g => g.Index));
        Assert.Equal(1, fit.Quality!.NumaNodes);
    }

    [Fact]
    public void Fit_OneWholeGpu_BestFitTakesTheNumaNodeWithFewestFree()
    {
        var node = Usage(Mi300XSpx()).With(new PodHold("u", "ns/busy", Whole(0, 1, 2)));

        var fit = Fit(node, Pod("one", gpus: 1));

        Assert.Equal(3, fit.Allocation!.Gpus[0].Index); // NUMA 0 has one free: keep NUMA 1's four together
    }

    [Fact]
    public void Fit_FiveWholeGpus_SpansTheFewestNumaNodes()
    {
        var fit = Fit(Usage(Mi300XSpx()), Pod("five", gpus: 5));

        Assert.Equal(5, fit.Allocation!.Gpus.Count);
        Assert.Equal(2, fit.Quality!.NumaNodes);
    }

    [Fact]
    public void Fit_EightWholeOnCpxNode_OnePhysicalGpu()
    {
        var fit = Fit(Usage(Mi300XCpx()), Pod("eight", gpus: 8));

        var grant = Assert.Single(fit.Allocation!.Gpus);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], grant.Partitions);
        Assert.Equal(1000, grant.ComputeMilli);
        Assert.Equal("0,1,2,3,4,5,6,7", fit.Allocation.VisibleDevices);
    }

    [Fact]
    public void Fit_WholeGpusWhenAGpuHoldsAFraction_ThatGpuIsNotFree()
    {
        var node = Place(Usage(Mi300XSpx()), Fraction("tiny", "0.1"));

        var fit = Fit(node, Pod("all", gpus: 8));

        Assert.Equal(FitOutcome.FullNow, fit.Outcome);
        Assert.Contains("7 free", fit.Reason, StringComparison.Ordinal);
        Assert.Contains("fractions", fit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_MoreWholeGpusThanTheNodeHas_NeverFits()
    {
        var fit = Fit(Usage(Mi300XSpx()), Pod("nine", gpus: 9));

        Assert.Equal(FitOutcome.NeverFits, fit.Outcome);
        Assert.Contains("node has 8", fit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_FractionOnGpuHeldWhole_GoesElsewhere()
    {
        var node = Usage(Mi300XSpx()).With(new PodHold("u", "ns/busy", Whole(0)));

        var fit = Fit(node, Fraction("f", "0.1"));

        Assert.Equal(1, fit.Allocation!.Gpus[0].Index);
    }

    [Fact]
    public void Fit_ExclusiveFraction_TakesAnIdleGpuWholeAndSharesItWithNobody()
    {
        var node = Place(Usage(Mi300XSpx()), Fraction("shared", "0.1"));
        var exclusive = Pod("alone", new() { ["kaiwo.ai/gpu-fraction"] = "0.25", ["kaiwo.ai/gpu-sharing"] = "false" });

        var fit = Fit(node, exclusive);

        var grant = Assert.Single(fit.Allocation!.Gpus);
        Assert.NotEqual(0, grant.Index);
        Assert.Equal(1000, grant.ComputeMilli);
        Assert.Equal(AllocationKind.Whole, fit.Allocation.Kind);
        node = node.With(new PodHold(exclusive.Uid, exclusive.Key, fit.Allocation));
        Assert.True(node.Gpus[grant.Index].HeldWhole);
    }

    [Fact]
    public void Fit_TimeSlicingOversubscription_SharesComputeButNeverMemory()
    {
        var options = new PlacementOptions { TimeSlicingCapacityMilli = 2000 };
        var pod = (string name, string isolation) => Pod(name, new()
        {
            ["kaiwo.ai/gpu-fraction"] = "0.75",
            ["kaiwo.ai/gpu-memory"] = "10Gi",
            ["kaiwo.ai/gpu-isolation"] = isolation,
        });
        var node = Place(Usage(Mi300XSpx()), pod("a", "time-slicing"), options);

        var second = Fit(node, pod("b", "time-slicing"), options);
        var mps = Fit(node, pod("c", "mps"), options);

        Assert.Equal(0, second.Allocation!.Gpus[0].Index); // 1.5 of 2.0 time-sliced compute
        Assert.Equal(1, mps.Allocation!.Gpus[0].Index); // mps reserves compute: GPU 0 has only 0.25 left
    }

    [Fact]
    public void Fit_NodeWithConflictingRecords_RefusesNewGpuPods()
    {
        var node = Usage(Mi300XSpx()).With(new PodHold("u", "ns/ghost", Whole(9)));

        var fit = Fit(node, Fraction("f", "0.1"));

        Assert.Equal(FitOutcome.NeverFits, fit.Outcome);
        Assert.Contains("GPU 9", fit.Reason, StringComparison.Ordinal);
    }

    private static PodAllocation Whole(params int[] gpus) => new(
        "n",
        AllocationKind.Whole,
        GpuIsolation.TimeSlicing,
        [.. gpus.Select(g => new GpuGrant(g, [], [0, 1, 2, 3, 4, 5, 6, 7], [g], 1000, 196608))]);

    private static PodAllocation Partitions(int gpu, int[] partitions) => new(
        "n",
        AllocationKind.Shared,
        GpuIsolation.Xcd,
        [new GpuGrant(gpu, partitions, partitions, [.. partitions.Select(p => (gpu * 8) + p)], partitions.Length * 125, partitions.Length * 24576L)]);
}

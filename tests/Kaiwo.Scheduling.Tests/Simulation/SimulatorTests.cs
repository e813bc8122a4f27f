using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Simulation;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Simulation;

/// <summary>
/// Small traces replayed through the service's pipeline, each outcome worked out by hand in the comments. One
/// MI300X SPX node has 8 GPUs = 8000 thousandths; series are bucket means over [0, horizon].
/// </summary>
public sealed class SimulatorTests
{
    private const long Gpu = 1000;

    private static SimulatedCluster Cluster(IReadOnlyList<QueueSpec>? queues = null, params NodeFacts[] nodes) =>
        new(nodes.Length == 0 ? [Mi300XSpx("node-a")] : nodes, [], queues ?? [], new Dictionary<string, string>());

    private static TracePod At(double arrival, double duration, PodFacts pod, int priority = 0, string? queue = null) => new(
        pod with
        {
            Priority = priority,
            Labels = queue is null ? pod.Labels : new Dictionary<string, string> { [WellKnown.QueueLabel] = queue },
        },
        TimeSpan.FromSeconds(arrival),
        TimeSpan.FromSeconds(duration));

    private static SimulationOptions Options(int buckets) => new() { Buckets = buckets };

    private static QueueSpec Queue(string name, long quotaGpus, int priority = 0, ReclaimStrategy reclaim = ReclaimStrategy.Aggressive) => new()
    {
        Name = name,
        Priority = priority,
        Reclaim = reclaim,
        Gpu = new QueueResourceSpec(quotaGpus * Gpu, 1, -1),
    };

    [Fact]
    public void Run_WholeGpuPodWaitsForAFractionToLeave_AllocationTimelineIsExact()
    {
        // p1: 4 GPUs 0..100. p2: 0.5 GPU 10..60, on a GPU of its own (the other 4 are idle).
        // p3: 4 GPUs at 20: only 3 idle GPUs (the 4th holds p2's half) → waits; at 60 p2 leaves → p3 runs 60..160.
        // Held: 0-10 4000 (50%); 10-60 4500 (56.25%); 60-100 8000 (100%); 100-160 4000 (50%); 160-200 0.
        var trace = new Trace(
            [At(0, 100, Pod("p1", gpus: 4)), At(10, 50, Fraction("p2", "0.5")), At(20, 100, Pod("p3", gpus: 4))],
            TimeSpan.FromSeconds(200));

        var run = Simulator.Run(Cluster(), trace, SimulationPolicy.Binpack, Options(buckets: 20));

        double[] expected = [50, 56.25, 56.25, 56.25, 56.25, 56.25, 100, 100, 100, 100, 50, 50, 50, 50, 50, 50, 0, 0, 0, 0];
        Assert.Equal(expected, run.AllocationPercent.Select(v => Math.Round(v, 6)));
        Assert.Equal(((50 * 10) + (56.25 * 50) + (100 * 40) + (50 * 60)) / 200, run.MeanAllocationPercent, 9);
        Assert.Equal(3, run.Completed);
        Assert.Equal(new WaitStats(3, 0, 40, 40, 0), run.Wait);
        Assert.Equal(20, run.FirstRefusal!.AtSeconds);
        Assert.Equal(56.25, run.FirstRefusal.AllocationPercent, 9);
        Assert.Equal("team-a/p3", run.FirstRefusal.Pod);
        Assert.Equal(0, run.Preemptions);
        Assert.Equal([0.0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3], run.CompletedSoFar); // p2 at 60, p1 at 100, p3 at 160
    }

    [Fact]
    public void Run_FractionsLeaveAQuarterOnAGpu_FragmentationIsExact()
    {
        // Asks 0.25, 0.5, 0.5 (median 0.5). Binpack: 0.25 on GPU 0; the first 0.5 best-fits onto GPU 0 (0.75 held);
        // the second 0.5 onto GPU 1. Free: GPU 0 0.25 (no room for 0.5: 250 stranded), GPU 1 0.5 (one copy, 0),
        // GPUs 2-7 1.0 (two copies, 0). 250 / 8000 = 3.125%. Before: at 0 GPU 0 has 0.75 free (one copy, 250
        // stranded), at 1 it has 0.25 free (250 stranded): 3.125% throughout.
        var trace = new Trace(
            [At(0, 100, Fraction("q1", "0.25")), At(1, 100, Fraction("h1", "0.5")), At(2, 100, Fraction("h2", "0.5"))],
            TimeSpan.FromSeconds(10));

        var run = Simulator.Run(Cluster(), trace, SimulationPolicy.Binpack, Options(buckets: 10));

        Assert.Equal(3.125, run.FragmentationPercent[^1], 9);
        Assert.Equal(3.125, run.MeanFragmentationPercent, 9);
        Assert.Equal(15.625, run.AllocationPercent[^1], 9); // 1.25 GPUs of 8
        Assert.Equal(6, run.LargestWholeGpuAsk[^1]);
    }

    [Fact]
    public void Run_WholeGpusPolicy_EachFractionHoldsAWholeGpuAndNothingIsStranded()
    {
        // The same three pods with gpu-sharing "false": each holds a whole GPU, 3 of 8 = 37.5%. The median ask as
        // this policy submits it (0.5, not shared) fits any idle GPU, and no GPU is partly free: 0 stranded.
        var trace = new Trace(
            [At(0, 100, Fraction("q1", "0.25")), At(1, 100, Fraction("h1", "0.5")), At(2, 100, Fraction("h2", "0.5"))],
            TimeSpan.FromSeconds(10));

        var run = Simulator.Run(Cluster(), trace, SimulationPolicy.WholeGpus, Options(buckets: 10));

        Assert.Equal(37.5, run.AllocationPercent[^1], 9);
        Assert.Equal(0, run.FragmentationPercent[^1]);
        Assert.Equal(5, run.LargestWholeGpuAsk[^1]);
    }

    [Fact]
    public void Run_SpreadAndBinpack_TwoFractionsShareAGpuOnlyUnderBinpack()
    {
        // Binpack best-fits the 0.25 onto the GPU that holds the 0.5: 7 GPUs stay idle. Spread takes the emptiest GPU: 6.
        var trace = new Trace([At(0, 100, Fraction("a", "0.5")), At(1, 100, Fraction("b", "0.25"))], TimeSpan.FromSeconds(10));

        var binpack = Simulator.Run(Cluster(), trace, SimulationPolicy.Binpack, Options(buckets: 10));
        var spread = Simulator.Run(Cluster(), trace, SimulationPolicy.Spread, Options(buckets: 10));

        Assert.Equal(7, binpack.LargestWholeGpuAsk[^1]);
        Assert.Equal(6, spread.LargestWholeGpuAsk[^1]);
    }

    [Fact]
    public void Run_FirstFitOnTwoNodes_FillsTheFirstNodeByNameBeforeTheSecond()
    {
        // No scores: every node scores 0 and the first by name wins; on it, the first GPU with room. Nine 1-GPU pods:
        // eight fill node-a, the ninth goes to node-b. Spread-by-score is off, so node-b keeps 7 idle GPUs.
        var pods = Enumerable.Range(0, 9).Select(i => At(i, 100, Pod($"p{i}", gpus: 1))).ToList();
        var cluster = Cluster(null, Mi300XSpx("node-b"), Mi300XSpx("node-a"));

        var run = Simulator.Run(cluster, new Trace(pods, TimeSpan.FromSeconds(20)), SimulationPolicy.FirstFit, Options(buckets: 10));

        Assert.Equal(7, run.LargestWholeGpuAsk[^1]);
        Assert.Equal(9 / 16.0 * 100, run.AllocationPercent[^1], 9);
    }

    [Fact]
    public void Run_QueueWaitsBehindAnotherQueuesBurst_ShareAndLargestGapAreExact()
    {
        // Queues a and b, quota 4 GPUs each, all pods priority 0 (no preemption). a: 8 x 1 GPU at 0 for 100 s; alone,
        // its fair share is 8 and it takes the node. b: 4 x 1 GPU at 10: fair shares become a 4, b 4, but nothing is
        // free: b waits until a's pods end at 100, then runs 100..200.
        // b: held 0 until 100, 4 after; fair 0 until 10, 4 after; largest gap 4 GPUs at 10 s.
        // Means over 200 s: b held 4 x 100 / 200 = 2; b fair 4 x 190 / 200 = 3.8; a held 8 x 100 / 200 = 4.
        var pods = new List<TracePod>();
        for (var i = 0; i < 8; i++)
        {
            pods.Add(At(0, 100, Pod($"a{i}", gpus: 1), queue: "a"));
        }

        for (var i = 0; i < 4; i++)
        {
            pods.Add(At(10, 100, Pod($"b{i}", gpus: 1), queue: "b"));
        }

        var run = Simulator.Run(Cluster([Queue("a", 4), Queue("b", 4)]), new Trace(pods, TimeSpan.FromSeconds(200)), SimulationPolicy.Binpack, Options(buckets: 20));

        var a = run.Queues.Single(q => q.Queue == "a");
        var b = run.Queues.Single(q => q.Queue == "b");
        Assert.Equal(4, b.LargestGapGpus, 9);
        Assert.Equal(10, b.LargestGapAtSeconds);
        Assert.Equal(2, b.MeanAllocatedGpus, 9);
        Assert.Equal(3.8, b.MeanFairShareGpus, 9);
        Assert.Equal(4, a.MeanAllocatedGpus, 9);
        Assert.Equal([8.0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], a.FairShareGpus.Select(v => Math.Round(v, 6)));
        Assert.Equal([0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], b.AllocatedGpus.Select(v => Math.Round(v, 6)));
        Assert.Equal(12, run.Completed);
        Assert.Equal(new WaitStats(12, 0, 90, 90, 0), run.Wait); // nearest rank: the 12 x 0.95 = 11.4th → 12th value, 90
    }

    [Fact]
    public void Run_HighPriorityPodFindsTheNodeFull_PreemptsTheLowPriorityPodWhichStartsOver()
    {
        // L: 8 GPUs at 0 for 1000 s, priority 0. H: 4 GPUs at 10 for 50 s, priority 100: nothing is free, L is the only
        // lower-priority pod and removing it makes room → L evicted at 10, H runs 10..60, L starts over 60..1060.
        // Held: 0-10 100%, 10-60 50%, 60-1060 100%, 1060-1100 0%. Waits: H 0, L 50.
        var trace = new Trace([At(0, 1000, Pod("low", gpus: 8)), At(10, 50, Pod("high", gpus: 4), priority: 100)], TimeSpan.FromSeconds(1100));

        var run = Simulator.Run(Cluster(), trace, SimulationPolicy.Binpack, Options(buckets: 110));

        Assert.Equal(1, run.Preemptions);
        Assert.Equal(2, run.Completed);
        Assert.Equal(new WaitStats(2, 0, 50, 50, 0), run.Wait);
        Assert.Equal(100, run.AllocationPercent[0], 9);
        Assert.Equal(50, run.AllocationPercent[1], 9);
        Assert.Equal(100, run.AllocationPercent[6], 9);
        Assert.Equal(0, run.AllocationPercent[^1], 9);
        Assert.Equal(((100 * 10) + (50 * 50) + (100 * 1000)) / 1100.0, run.MeanAllocationPercent, 9);
    }

    [Fact]
    public void Run_VictimQueueWithinItsQuota_QueueRulesRefuseThePreemption()
    {
        // The same pods, but L is in queue dev (quota 8: it holds exactly its quota) and H in prod. Reclaim never takes
        // a queue below its quota, so the preempt verb keeps no victim: H waits for L to end at 1000, runs 1000..1050.
        var trace = new Trace(
            [At(0, 1000, Pod("low", gpus: 8), queue: "dev"), At(10, 50, Pod("high", gpus: 4), priority: 100, queue: "prod")],
            TimeSpan.FromSeconds(1100));

        var run = Simulator.Run(Cluster([Queue("dev", 8), Queue("prod", 0, priority: 10)]), trace, SimulationPolicy.Binpack, Options(buckets: 110));

        Assert.Equal(0, run.Preemptions);
        Assert.Equal(2, run.Completed);
        Assert.Equal(new WaitStats(2, 0, 990, 990, 0), run.Wait);
    }

    [Fact]
    public void Run_XcdPodOnSpxOnlyCluster_IsRefusedForGoodAndNeverWaits()
    {
        var trace = new Trace([At(0, 10, Fraction("x", "0.25", isolation: "xcd"))], TimeSpan.FromSeconds(20));

        var run = Simulator.Run(Cluster(), trace, SimulationPolicy.Binpack, Options(buckets: 10));

        Assert.Equal(new Dictionary<string, int> { ["xcd-needs-partitions"] = 1 }, run.Refused);
        Assert.Equal(0, run.Wait.Pods);
        Assert.Null(run.FirstRefusal);
    }

    [Fact]
    public void Run_NodeSelectorMatchesNoNode_PodIsRefusedForGood()
    {
        var pod = new TracePod(Pod("pinned", gpus: 1), TimeSpan.Zero, TimeSpan.FromSeconds(10), new Dictionary<string, string> { ["pool"] = "missing" });

        var run = Simulator.Run(Cluster(), new Trace([pod], TimeSpan.FromSeconds(20)), SimulationPolicy.Binpack, Options(buckets: 10));

        Assert.Equal(new Dictionary<string, int> { ["node-selector"] = 1 }, run.Refused);
    }

    [Fact]
    public void Run_PendingAtTheHorizon_CountsWithItsWaitSoFar()
    {
        // 8 GPUs held 0..1000; a 1-GPU pod at 100 waits until the horizon at 400: 300 s, still pending.
        var trace = new Trace([At(0, 1000, Pod("big", gpus: 8)), At(100, 10, Pod("small", gpus: 1))], TimeSpan.FromSeconds(400));

        var run = Simulator.Run(Cluster(), trace, SimulationPolicy.Binpack, Options(buckets: 4));

        Assert.Equal(1, run.PendingAtHorizon);
        Assert.Equal(1, run.RunningAtHorizon);
        Assert.Equal(0, run.Completed);
        Assert.Equal(300, run.Wait.MaxSeconds);
        Assert.Equal([0.0, 1, 1, 1], run.Pending);
    }

    [Fact]
    public void Fit_FirstFitDeviceChoice_TakesTheFirstGpuWithRoomWhereBestFitTakesTheTightest()
    {
        // GPU 0 holds 0.25, GPU 1 holds 0.5. A 0.5 ask: best fit fills GPU 1 (leaves 0); first fit takes GPU 0.
        var node = Mi300XSpx();
        var usage = Usage(node);
        foreach (var (uid, gpu, milli) in new[] { ("u0", 0, 250), ("u1", 1, 500) })
        {
            var grant = new GpuGrant(gpu, [], [0, 1, 2, 3, 4, 5, 6, 7], [gpu], milli, milli * 196608L / 1000);
            usage = usage.With(new PodHold(uid, uid, new PodAllocation(node.Name, AllocationKind.Shared, GpuIsolation.TimeSlicing, [grant])));
        }

        var ask = Parse(Fraction("p", "0.5"));

        Assert.Equal(1, GpuPlacer.Fit(usage, ask, new PlacementOptions()).Allocation!.Gpus[0].Index);
        Assert.Equal(0, GpuPlacer.Fit(usage, ask, new PlacementOptions { DeviceChoice = DeviceChoice.FirstFit }).Allocation!.Gpus[0].Index);
    }

    [Fact]
    public void Fit_FirstFitWholeGpusOnCpx_TakesTheLowestFreePartitions()
    {
        var usage = Usage(Mi300XCpx());

        var fit = GpuPlacer.Fit(usage, Parse(Pod("p", gpus: 3)), new PlacementOptions { DeviceChoice = DeviceChoice.FirstFit });

        Assert.Equal([0, 1, 2], fit.Allocation!.Gpus.Single().Partitions);
        Assert.Equal(0, fit.Allocation.Gpus[0].Index);
    }

    [Fact]
    public void StrandedMilli_CpxGpuWithFivePartitionsFree_StrandsOneForATwoPartitionAsk()
    {
        // 0.25 on CPX = 2 partitions of 8. A GPU with partitions 0-2 held has 5 free: 2 copies (4 partitions), 1 stranded (125).
        // The other 7 GPUs: 8 free = 4 copies, nothing stranded.
        var node = Mi300XCpx();
        var hold = GpuPlacer.Fit(Usage(node), Parse(Pod("w", gpus: 3)), new PlacementOptions { DeviceChoice = DeviceChoice.FirstFit }).Allocation!;
        var usage = Usage(node).With(new PodHold("w", "w", hold));

        Assert.Equal(125, CapacityMeasures.StrandedMilli(usage, Parse(Fraction("m", "0.25")), new PlacementOptions()));
        Assert.Equal(7, CapacityMeasures.IdleGpus(usage));
        Assert.Equal(0, CapacityMeasures.IdleGpus(usage, unpartitionedOnly: true)); // partitions, not GPUs, for amd.com/gpu
    }

    [Fact]
    public void PolicyRules_FirstFit_SwitchesEveryScoreOffAndChoosesDevicesFirstFit()
    {
        var options = PolicyRules.Pipeline(SimulationPolicy.FirstFit, new Kaiwo.Scheduling.Pipeline.PipelineOptions());

        Assert.False(options.Stages["packing"].Enabled);
        Assert.False(options.Stages["topology"].Enabled);
        Assert.False(options.Stages["load"].Enabled);
        Assert.Equal(DeviceChoice.FirstFit, options.Placement.DeviceChoice);
        Assert.Same(PolicyRules.Pipeline(SimulationPolicy.Binpack, options), options);
    }
}

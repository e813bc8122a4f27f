using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Reservations;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Time.Testing;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Reservations;

public sealed class StarvationReconcilerTests
{
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());
    private static readonly StarvationOptions Options = new();

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero));
    private readonly StarvationReconciler _reconciler = new(Options);
    private readonly ClusterState _state = new();

    private DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Nodes of 8 MI300X, each GPU taken by a running 1-GPU pod except <paramref name="free"/> on the first.</summary>
    /// <remarks>The running pods are in the default queue.</remarks>
    private void Cluster(int nodes, params int[] free)
    {
        for (var n = 1; n <= nodes; n++)
        {
            var name = $"gpu-node-0{n}";
            _state.UpsertNode(Mi300XSpx(name));
            for (var gpu = 0; gpu < 8; gpu++)
            {
                if (n > 1 || !free.Contains(gpu))
                {
                    Run(Pod($"run-{n}-{gpu}", gpus: 1) with { SchedulerName = "kaiwo-scheduler" }, name);
                }
            }
        }
    }

    private ReserveResult Run(PodFacts pod, string node)
    {
        _state.UpsertPod(pod);
        return Bind(pod, node);
    }

    private ReserveResult Bind(PodFacts pod, string node)
    {
        var evaluation = Pipeline.EvaluatePod(pod, Now, reservation: Reservation(pod));
        return _state.Reserve(pod, node, c => Pipeline.EvaluateNode(evaluation, c));
    }

    private Reservation? Reservation(PodFacts pod) => _state.TryGetReservation(pod.Uid, out var r) ? r : null;

    private FitResult Filter(PodFacts pod, string node)
    {
        _state.TryGetNode(node, out var candidate);
        return Pipeline.EvaluateNode(Pipeline.EvaluatePod(pod, Now, reservation: Reservation(pod)), candidate!);
    }

    private static PodFacts Big(string name = "big", int gpus = 4) => Pod(name, gpus: gpus) with { SchedulerName = "kaiwo-scheduler" };

    private StarvationStep Step(QueueTree? queues = null) =>
        _reconciler.Reconcile(_state, Pipeline, () => queues is null ? null : _state.QueueSnapshot(queues, "kaiwo-scheduler"), Now);

    /// <summary>A pod that arrives now and has waited past ReserveAfter when this returns.</summary>
    private PodFacts Starving(PodFacts pod)
    {
        _state.UpsertPod(pod);
        Step();
        _time.Advance(Options.After + TimeSpan.FromSeconds(1));
        return pod;
    }

    [Fact]
    public void Reconcile_PendingNotLongerThanReserveAfter_ReservesNothingAndThenReserves()
    {
        Cluster(1, free: [6, 7]);
        var big = Big();
        _state.UpsertPod(big);

        var first = Step();
        _time.Advance(Options.After);
        var atTheLimit = Step();
        _time.Advance(TimeSpan.FromSeconds(1));
        var after = Step();

        Assert.Empty(first.Reserved);
        Assert.Empty(atTheLimit.Reserved);
        var reservation = Assert.Single(after.Reserved);
        Assert.Equal(("gpu-node-01", ReservationKind.Starving, 2), (reservation.Node, reservation.Kind, StarvationPlanner.LogicalGpus(reservation.Allocation)));
        Assert.Equal(Now + Options.Ttl, reservation.Expires);
        Assert.Equal(reservation, Reservation(big));
    }

    [Fact]
    public void Reconcile_PodCreatedLongAgo_CountsItsWaitFromItsCreation()
    {
        Cluster(1, free: [7]);
        var big = Big() with { CreatedAt = Now - Options.After - TimeSpan.FromMinutes(1) };
        _state.UpsertPod(big);

        Assert.Single(Step().Reserved);
    }

    [Fact]
    public void Reconcile_GpusEndOnTheReservedNode_GrowsUntilThePodFitsThereAndNoOtherPodDoes()
    {
        Cluster(1, free: [7]);
        var big = Starving(Big());
        Step();
        var small = Fraction("small", "0.25") with { SchedulerName = "kaiwo-scheduler" };
        _state.UpsertPod(small);

        _state.RemovePod("uid-run-1-0");
        var grown = Step();
        Assert.Equal(FitOutcome.FullNow, Filter(big, "gpu-node-01").Outcome);
        Assert.Equal(FitOutcome.FullNow, Filter(small, "gpu-node-01").Outcome);
        _state.RemovePod("uid-run-1-1");
        _state.RemovePod("uid-run-1-2");
        var complete = Step();

        Assert.Equal(2, StarvationPlanner.LogicalGpus(Assert.Single(grown.Grown).Allocation));
        Assert.Empty(grown.Complete);
        Assert.Equal(4, StarvationPlanner.LogicalGpus(Assert.Single(complete.Complete).Allocation));
        Assert.True(Filter(big, "gpu-node-01").Fits);
        Assert.Equal(FitOutcome.FullNow, Filter(small, "gpu-node-01").Outcome);
    }

    [Fact]
    public void Reconcile_CompleteReservationAndTheBind_TheReservationBecomesThePodsHold()
    {
        Cluster(1, free: [4, 5, 6, 7]);
        var big = Starving(Big());
        Assert.Single(Step().Complete);

        var bind = Bind(big, "gpu-node-01");
        var after = Step();

        Assert.True(bind.Succeeded, bind.Reason);
        Assert.Equal([4, 5, 6, 7], bind.Allocation!.Gpus.Select(g => g.Index));
        Assert.Empty(_state.Reservations());
        Assert.False(after.Changed);
    }

    [Fact]
    public void Reconcile_ReservationPastItsTtl_ReleasesItAndReservesOnAnotherNodeNotTheSame()
    {
        Cluster(2, free: [7]);
        var big = Starving(Big());
        var first = Assert.Single(Step().Reserved);
        _time.Advance(Options.Ttl);

        var step = Step();

        Assert.Equal([first], step.Released);
        Assert.Empty(step.Refused);
        var again = Assert.Single(step.Reserved);
        Assert.Equal(("gpu-node-01", "gpu-node-02"), (first.Node, again.Node));
        Assert.Equal([new ClosedNode(big.Uid, "gpu-node-01", Now + Options.After)], _reconciler.ClosedNodes(Now));
    }

    [Fact]
    public void Reconcile_ReservationExpiredByAnotherStep_StillClosesTheNodeToThePod()
    {
        Cluster(2, free: [7]);
        var big = Starving(Big());
        var first = Assert.Single(Step().Reserved);
        _time.Advance(Options.Ttl);

        Assert.Equal([first], _state.ExpireReservations(Now));
        var step = Step();

        Assert.Equal("gpu-node-02", Assert.Single(step.Reserved).Node);
        Assert.Contains(_reconciler.ClosedNodes(Now), c => c.PodUid == big.Uid && c.Node == "gpu-node-01");
    }

    [Fact]
    public void Reconcile_ReservedPodDeleted_ItsDevicesAreFreeAndNothingIsReservedAgain()
    {
        Cluster(1, free: [6, 7]);
        var big = Starving(Big());
        Step();

        _state.RemovePod(big.Uid);
        var step = Step();

        Assert.False(step.Changed);
        Assert.Empty(_state.Reservations());
        Assert.True(Filter(Big("other", gpus: 2), "gpu-node-01").Fits);
    }

    [Fact]
    public void Reconcile_TwoStarvingPods_AtMostOneReservationPerNode()
    {
        Cluster(1, free: [5, 6, 7]);
        _state.UpsertPod(Big("big-1"));
        _state.UpsertPod(Big("big-2"));
        Step();
        _time.Advance(Options.After + TimeSpan.FromSeconds(1));

        var step = Step();

        Assert.Equal("team-a/big-1", Assert.Single(step.Reserved).PodKey);
        Assert.Single(_state.Reservations());
    }

    [Fact]
    public void Reconcile_QueueRefusesTheWholeAsk_NoReservation()
    {
        Cluster(1, free: [6, 7]);
        var limited = Big() with { Labels = new Dictionary<string, string> { ["kaiwo.ai/queue"] = "small" } };
        Starving(limited);
        var tree = QueueTree.Build([new QueueSpec { Name = "small", Gpu = new QueueResourceSpec(2000, 1, 2000) }], "default");

        var step = Step(tree);

        Assert.Empty(step.Reserved);
        Assert.Empty(_state.Reservations());
    }

    [Fact]
    public void Reconcile_GangMember_NoStarvationReservation()
    {
        Cluster(1, free: [6, 7]);
        Starving(Big() with { Annotations = new Dictionary<string, string> { ["kaiwo.ai/pod-group"] = "job", ["kaiwo.ai/pod-group-size"] = "2" } });

        Assert.Empty(Step().Reserved);
    }

    [Fact]
    public void Reconcile_SwitchedOff_DoesNothing()
    {
        Cluster(1, free: [6, 7]);
        var big = Starving(Big());

        var step = new StarvationReconciler(Options with { MinimumGpus = 0 }).Reconcile(_state, Pipeline, () => null, Now);

        Assert.False(step.Changed);
        Assert.Null(Reservation(big));
    }

    [Fact]
    public void Reconcile_GrowthWouldTakeTheQueueOverItsLimit_TheReservationWaits()
    {
        Cluster(2, free: [7]);
        _state.RemovePod("uid-run-2-7");
        var queue = new Dictionary<string, string> { ["kaiwo.ai/queue"] = "q" };
        var tree = QueueTree.Build([new QueueSpec { Name = "q", Gpu = new QueueResourceSpec(6000, 1, 6000) }], "default");
        _state.UpsertPod(Big("a") with { Labels = queue });
        _state.UpsertPod(Big("b") with { Labels = queue });
        Step(tree);
        _time.Advance(Options.After + TimeSpan.FromSeconds(1));
        Assert.Equal(2, Step(tree).Reserved.Count);

        foreach (var gpu in new[] { 0, 1, 2 })
        {
            _state.RemovePod($"uid-run-1-{gpu}");
            _state.RemovePod($"uid-run-2-{gpu}");
        }

        var step = Step(tree);

        Assert.Equal("team-a/a", Assert.Single(step.Complete).PodKey);
        Assert.Equal(1, StarvationPlanner.LogicalGpus(_state.Reservations().Single(r => r.PodKey == "team-a/b").Allocation));
        Assert.Equal(5000, _state.QueueSnapshot(tree, "kaiwo-scheduler").UsageOf("q").Gpu);
    }

    /// <summary>One node whose GPUs hold 31 running 0.25-GPU pods, packed: GPUs 0-6 full (q-0..q-27), GPU 7 three.</summary>
    private void Quarters()
    {
        _state.UpsertNode(Mi300XSpx("gpu-node-01"));
        for (var k = 0; k < 31; k++)
        {
            Assert.True(Run(Fraction($"q-{k}", "0.25") with { SchedulerName = "kaiwo-scheduler" }, "gpu-node-01").Succeeded);
        }
    }

    [Fact]
    public void RemovePod_FractionEndsOnADrainedGpu_TheReservationTakesItsShareAtOnce()
    {
        Quarters();
        var big = Starving(Big(gpus: 2));
        var drain = Assert.Single(Step().Reserved);
        Assert.Equal([(0, 0), (7, 250)], drain.Allocation.Gpus.Select(g => (g.Index, g.ComputeMilli)));
        var small = Fraction("small", "0.25") with { SchedulerName = "kaiwo-scheduler" };
        _state.UpsertPod(small);

        _state.RemovePod("uid-q-0");

        Assert.Equal(FitOutcome.FullNow, Filter(small, "gpu-node-01").Outcome);
        var step = Step();
        Assert.Equal([(0, 250), (7, 250)], Assert.Single(step.Grown).Allocation.Gpus.Select(g => (g.Index, g.ComputeMilli)));
        Assert.Equal(FitOutcome.FullNow, Filter(big, "gpu-node-01").Outcome);
    }

    [Fact]
    public void RemovePod_FractionEndsOnAGpuNotDrained_OtherPodsMayTakeIt()
    {
        Quarters();
        Starving(Big(gpus: 2));
        Step();
        var small = Fraction("small", "0.25") with { SchedulerName = "kaiwo-scheduler" };
        _state.UpsertPod(small);

        _state.RemovePod("uid-q-4");

        var fit = Filter(small, "gpu-node-01");
        Assert.True(fit.Fits, fit.Reason);
        Assert.Equal(1, fit.Allocation!.Gpus.Single().Index);
        Assert.False(Step().Changed);
    }

    [Fact]
    public void RecordOfferedNodes_PendingWholeGpuPod_ItsReservationKeepsToThem()
    {
        Cluster(2, free: [6, 7]);
        var big = Big();
        _state.UpsertPod(big);
        var small = Fraction("small", "0.25") with { SchedulerName = "kaiwo-scheduler" };
        _state.UpsertPod(small);

        var version = _state.Version;
        _state.RecordOfferedNodes(big.Uid, ["gpu-node-02"]);
        _state.RecordOfferedNodes(small.Uid, ["gpu-node-02"]);
        Assert.Equal(version, _state.Version);
        Step();
        _time.Advance(Options.After + TimeSpan.FromSeconds(1));

        Assert.Equal(["gpu-node-02"], _state.PendingWholeGpuPods(2).Single().OfferedNodes!);
        Assert.Equal("gpu-node-02", Assert.Single(Step().Reserved).Node);
    }
}

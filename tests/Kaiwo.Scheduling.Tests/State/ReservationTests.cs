using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.State;

public sealed class ReservationTests
{
    private const string Node = "gpu-node-01";
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 6, 0, 0, TimeSpan.Zero);

    private static ClusterState StateWithNode(params PodFacts[] pods)
    {
        var state = new ClusterState();
        state.UpsertNode(Mi300XSpx());
        foreach (var pod in pods)
        {
            state.UpsertPod(pod);
        }

        return state;
    }

    private static NodeUsage Usage(ClusterState state, string node = Node)
    {
        state.TryGetNode(node, out var candidate);
        return candidate!.Usage;
    }

    /// <summary>A slot for the pod where the fit would place it now, as a planner would make it.</summary>
    private static Reservation Slot(ClusterState state, PodFacts pod, ReservationKind kind = ReservationKind.Gang, string owner = "team-a/job", string node = Node, NodeUsage? on = null)
    {
        var fit = GpuPlacer.Fit(on ?? Usage(state, node), Parse(pod), new PlacementOptions());
        Assert.True(fit.Fits, fit.Reason);
        return new Reservation(pod.Uid, pod.Key, node, fit.Allocation!, kind, owner, Now.AddSeconds(60));
    }

    private static FitResult Filter(ClusterState state, PodFacts pod, string node = Node)
    {
        state.TryGetReservation(pod.Uid, out var reservation);
        state.TryGetNode(node, out var candidate);
        return Pipeline.EvaluateNode(Pipeline.EvaluatePod(pod, Now, reservation: reservation), candidate!);
    }

    private static ReserveResult Bind(ClusterState state, PodFacts pod, string node = Node)
    {
        state.TryGetReservation(pod.Uid, out var reservation);
        var evaluation = Pipeline.EvaluatePod(pod, Now, reservation: reservation);
        return state.Reserve(pod, node, c => Pipeline.EvaluateNode(evaluation, c), Now.AddSeconds(30));
    }

    [Fact]
    public void Hold_PendingPods_OthersSeeTheDevicesTaken()
    {
        var a = Pod("a", gpus: 4);
        var b = Pod("b", gpus: 4);
        var other = Pod("other", gpus: 1);
        var state = StateWithNode(a, b, other);
        var first = Slot(state, a);
        var second = Slot(state, b, on: Usage(state).With(first.Hold));

        var outcome = state.Hold([first, second]);

        Assert.True(outcome.Held, outcome.Refusal);
        Assert.Equal(2, state.Reservations().Count);
        var fit = Filter(state, other);
        Assert.Equal(FitOutcome.FullNow, fit.Outcome);
        Assert.Equal(FitOutcome.FullNow, Pipeline.Verdict(Pipeline.EvaluatePod(other, Now), CandidateOf(state)).Outcome);
    }

    [Fact]
    public void Hold_ReservedPod_FitsItsOwnDevices()
    {
        var a = Pod("a", gpus: 8);
        var state = StateWithNode(a);
        Assert.True(state.Hold([Slot(state, a)]).Held);

        Assert.True(Filter(state, a).Fits);
        state.TryGetReservation(a.Uid, out var reservation);
        Assert.True(Pipeline.Verdict(Pipeline.EvaluatePod(a, Now, reservation: reservation), CandidateOf(state)).Fits);
    }

    [Fact]
    public void Hold_OneSlotNoLongerFree_HoldsNothing()
    {
        var a = Pod("a", gpus: 4);
        var b = Pod("b", gpus: 8);
        var taker = Pod("taker", gpus: 2);
        var state = StateWithNode(a, b, taker);
        var slotA = Slot(state, a);
        var slotB = Slot(state, b);
        Assert.True(Bind(state, taker).Succeeded);

        var outcome = state.Hold([slotA, slotB]);

        Assert.False(outcome.Held);
        Assert.Contains("are no longer free", outcome.Refusal, StringComparison.Ordinal);
        Assert.Empty(state.Reservations());
        Assert.Single(Usage(state).Holds);
    }

    [Fact]
    public void Hold_BoundPod_IsRefused()
    {
        var a = Pod("a", gpus: 1);
        var state = StateWithNode(a);
        var slot = Slot(state, a);
        Assert.True(Bind(state, a).Succeeded);

        var outcome = state.Hold([slot]);

        Assert.False(outcome.Held);
        Assert.Contains("not pending", outcome.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Hold_UnknownPodOrNode_IsRefused()
    {
        var a = Pod("a", gpus: 1);
        var state = StateWithNode(a);
        var slot = Slot(state, a);

        Assert.Contains("not known", state.Hold([slot with { PodUid = "nobody" }]).Refusal, StringComparison.Ordinal);
        Assert.Contains("node gone is not known", state.Hold([slot with { Node = "gone" }]).Refusal, StringComparison.Ordinal);
        Assert.Empty(state.Reservations());
    }

    [Fact]
    public void Hold_TheSamePodTwice_IsRefused()
    {
        var a = Pod("a", gpus: 1);
        var state = StateWithNode(a);
        var slot = Slot(state, a);

        Assert.False(state.Hold([slot, slot]).Held);
        Assert.Empty(state.Reservations());
    }

    [Fact]
    public void Hold_PodWithAReservation_ReplacesIt()
    {
        var a = Pod("a", gpus: 2);
        var state = StateWithNode(a);
        var small = Slot(state, a, ReservationKind.Starving, a.Key);
        Assert.True(state.Hold([small]).Held);
        var bigger = Slot(state, Pod("a", gpus: 4), ReservationKind.Starving, a.Key, on: Usage(state).Without(small.HoldKey));

        Assert.True(state.Hold([bigger]).Held);

        var held = Assert.Single(state.Reservations());
        Assert.Equal(4, held.Allocation.Gpus.Count);
        Assert.Equal(4, Usage(state).Gpus.Count(g => g.HeldWhole));
    }

    [Fact]
    public void Reserve_ReservedPodOnItsNode_TurnsTheReservationIntoItsHold()
    {
        var a = Pod("a", gpus: 8);
        var state = StateWithNode(a);
        Assert.True(state.Hold([Slot(state, a)]).Held);

        var result = Bind(state, a);

        Assert.True(result.Succeeded, result.Reason);
        Assert.Empty(state.Reservations());
        var hold = Assert.Single(Usage(state).Holds);
        Assert.Equal(a.Uid, hold.Key);
        Assert.Empty(Usage(state).Conflicts);
    }

    [Fact]
    public void Reserve_GangMemberOnAnotherNode_IsRefused()
    {
        var a = Pod("a", gpus: 1);
        var state = StateWithNode(a);
        state.UpsertNode(Mi300XSpx("gpu-node-02"));
        Assert.True(state.Hold([Slot(state, a)]).Held);

        var fit = Filter(state, a, "gpu-node-02");
        var result = Bind(state, a, "gpu-node-02");

        Assert.Equal("gang-slot", fit.Code);
        Assert.Contains("holds the slot of gang team-a/job on node gpu-node-01", fit.Reason, StringComparison.Ordinal);
        Assert.False(result.Succeeded);
        Assert.Single(state.Reservations());
    }

    [Fact]
    public void Reserve_StarvingPodOnAnotherNode_BindsThereAndReleasesTheReservation()
    {
        var a = Pod("a", gpus: 2);
        var state = StateWithNode(a);
        state.UpsertNode(Mi300XSpx("gpu-node-02"));
        Assert.True(state.Hold([Slot(state, a, ReservationKind.Starving, a.Key)]).Held);

        var result = Bind(state, a, "gpu-node-02");

        Assert.True(result.Succeeded, result.Reason);
        Assert.Empty(state.Reservations());
        Assert.Empty(Usage(state).Holds);
        Assert.Single(Usage(state, "gpu-node-02").Holds);
    }

    [Fact]
    public void ExpireReservations_PastTheExpiry_ReleasesTheDevices()
    {
        var a = Pod("a", gpus: 8);
        var state = StateWithNode(a);
        Assert.True(state.Hold([Slot(state, a)]).Held);

        Assert.Empty(state.ExpireReservations(Now.AddSeconds(59)));
        var expired = state.ExpireReservations(Now.AddSeconds(60));

        Assert.Equal(a.Uid, Assert.Single(expired).PodUid);
        Assert.Empty(Usage(state).Holds);
        Assert.False(state.TryGetReservation(a.Uid, out _));
    }

    [Fact]
    public void ReleaseReservationsOf_AGang_ReleasesOnlyItsSlots()
    {
        var a = Pod("a", gpus: 2);
        var b = Pod("b", gpus: 2);
        var c = Pod("c", gpus: 2);
        var state = StateWithNode(a, b, c);
        var slotA = Slot(state, a, owner: "team-a/one");
        var slotB = Slot(state, b, owner: "team-a/one", on: Usage(state).With(slotA.Hold));
        Assert.True(state.Hold([slotA, slotB]).Held);
        Assert.True(state.Hold([Slot(state, c, owner: "team-a/two")]).Held);

        var released = state.ReleaseReservationsOf("team-a/one");

        Assert.Equal(2, released.Count);
        Assert.Equal("team-a/two", Assert.Single(state.Reservations()).Owner);
        Assert.Single(Usage(state).Holds);
    }

    [Theory]
    [InlineData("deleted")]
    [InlineData("terminated")]
    [InlineData("deleting")]
    [InlineData("bound-elsewhere")]
    public void UpsertPod_PodNoLongerToPlace_ReleasesItsReservation(string change)
    {
        var a = Pod("a", gpus: 2);
        var state = StateWithNode(a);
        state.UpsertNode(Mi300XSpx("gpu-node-02"));
        Assert.True(state.Hold([Slot(state, a)]).Held);

        switch (change)
        {
            case "deleted":
                state.RemovePod(a.Uid);
                break;
            case "terminated":
                state.UpsertPod(a with { Phase = PodPhase.Failed });
                break;
            case "deleting":
                state.UpsertPod(a with { IsDeleting = true });
                break;
            default:
                state.UpsertPod(a with { NodeName = "gpu-node-02" });
                break;
        }

        Assert.Empty(state.Reservations());
        Assert.Empty(Usage(state).Holds);
    }

    [Fact]
    public void RemoveNode_WithAReservation_ReleasesIt()
    {
        var a = Pod("a", gpus: 2);
        var state = StateWithNode(a);
        Assert.True(state.Hold([Slot(state, a)]).Held);

        state.RemoveNode(Node);

        Assert.Empty(state.Reservations());
        Assert.False(state.TryGetReservation(a.Uid, out _));
    }

    [Fact]
    public void UpsertPod_PendingEventOfAReservedPod_KeepsTheReservation()
    {
        var a = Pod("a", gpus: 2);
        var state = StateWithNode(a);
        Assert.True(state.Hold([Slot(state, a)]).Held);

        state.UpsertPod(a with { Labels = new Dictionary<string, string> { ["x"] = "y" } });

        Assert.Single(state.Reservations());
        Assert.Single(Usage(state).Holds);
    }

    [Fact]
    public void QueueTotals_ReservedPod_CountsAsUsingItsDevicesNotAsPending()
    {
        var a = Pod("a", gpus: 2) with { SchedulerName = "kaiwo-scheduler", Labels = new Dictionary<string, string> { [WellKnown.QueueLabel] = "team-a" } };
        var state = StateWithNode(a);
        var version = state.QueueVersion;
        Assert.True(state.QueueTotals("kaiwo-scheduler").PendingByLabel.ContainsKey("team-a"));

        Assert.True(state.Hold([Slot(state, a)]).Held);

        var reserved = state.QueueTotals("kaiwo-scheduler");
        Assert.NotEqual(version, state.QueueVersion);
        Assert.Equal(2000, reserved.BoundByLabel["team-a"].Sum.Gpu);
        Assert.False(reserved.PendingByLabel.ContainsKey("team-a"));
        Assert.True(state.ReleaseReservation(a.Uid));
        var released = state.QueueTotals("kaiwo-scheduler");
        Assert.False(released.BoundByLabel.ContainsKey("team-a") && released.BoundByLabel["team-a"].Pods > 0);
        Assert.True(released.PendingByLabel.ContainsKey("team-a"));
    }

    [Fact]
    public void EvaluatePod_ReservedPodOfAQueueAtItsLimit_IsNotJudgedTwice()
    {
        // The queue is at its limit of 2 GPUs because of the pod's own reservation: a pending pod of it would be
        // refused, the reserved one passes (its queue admitted it when the reservation was made).
        var a = Pod("a", gpus: 2) with { SchedulerName = "kaiwo-scheduler", Labels = new Dictionary<string, string> { [WellKnown.QueueLabel] = "team-a" } };
        var state = StateWithNode(a);
        var tree = QueueTree.Build([new QueueSpec { Name = "team-a", Gpu = new QueueResourceSpec(2000, 1, 2000) }], "default");
        Assert.True(state.Hold([Slot(state, a)]).Held);
        var queues = state.QueueSnapshot(tree, "kaiwo-scheduler");
        state.TryGetReservation(a.Uid, out var reservation);

        var unreserved = Pipeline.EvaluatePod(a with { Uid = "uid-other" }, Now, queues);
        var reserved = Pipeline.EvaluatePod(a, Now, queues, reservation);

        Assert.Equal("queue-limit", unreserved.Refusal?.Code);
        Assert.Null(reserved.Refusal);
    }

    [Fact]
    public void EvaluatePod_ReservationOfAnotherPod_IsIgnored()
    {
        var a = Pod("a", gpus: 2);
        var b = Pod("b", gpus: 2);
        var state = StateWithNode(a, b);
        Assert.True(state.Hold([Slot(state, a)]).Held);
        state.TryGetReservation(a.Uid, out var reservation);

        var evaluation = Pipeline.EvaluatePod(b, Now, reservation: reservation);

        Assert.Null(evaluation.Context.Reservation);
    }

    private static NodeCandidate CandidateOf(ClusterState state, string node = Node)
    {
        state.TryGetNode(node, out var candidate);
        return candidate!;
    }
}

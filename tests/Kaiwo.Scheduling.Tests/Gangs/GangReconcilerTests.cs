using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Time.Testing;
using static Kaiwo.Scheduling.Tests.Gangs.GangPods;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Gangs;

/// <summary>The gangs' reconcile step and the reservations' lifecycle, on a fake clock.</summary>
public sealed class GangReconcilerTests
{
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero));
    private static readonly GangOptions Options = new(TimeSpan.FromSeconds(60), ["kaiwo-scheduler"]);
    private GangReconciler? _gangs;

    /// <summary>The reconciler of the test's one cluster state.</summary>
    private GangReconciler Gangs(ClusterState state) => _gangs ??= new GangReconciler(state, Pipeline, Options);

    private GangReconcileResult Reconcile(ClusterState state) => Gangs(state).ReconcileGangs(_time.GetUtcNow(), null);

    /// <summary>A member's filter as the host runs it: with its reservation and its gang.</summary>
    private PodEvaluation Filter(ClusterState state, PodFacts pod) =>
        Pipeline.EvaluatePod(pod, _time.GetUtcNow(), reservation: state.TryGetReservation(pod.Uid, out var r) ? r : null, gang: Gangs(state).ViewFor(pod));

    /// <summary>A member's bind as the host runs it; the reserved node is where its filter passed.</summary>
    private ReserveResult Bind(ClusterState state, PodFacts pod)
    {
        var evaluation = Filter(state, pod);
        Assert.Null(evaluation.Refusal);
        var node = evaluation.Context.Reservation!.Node;
        return state.Reserve(pod, node, candidate => Pipeline.EvaluateNode(evaluation, candidate));
    }

    private static int HeldGpus(ClusterState state) => state.Reservations().Sum(r => r.Allocation.Gpus.Count);

    [Fact]
    public void Reconcile_LastMemberArrives_HoldsEverySlotAndReportsTheGangToNudge()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 4, size: 4, gpus: 4);
        Pending(state, members.Take(3));
        Assert.Empty(Reconcile(state).Placed);
        Assert.Equal("waiting for gang team-a/train: 3 of 4 members", Filter(state, members[0]).Refusal!.Reason);

        state.UpsertPod(members[3]);
        var result = Reconcile(state);

        var placed = Assert.Single(result.Placed);
        Assert.Equal("team-a/train", placed.Gang);
        Assert.Equal(members.Select(m => m.Key), placed.Members.Select(m => m.Key));
        Assert.Equal(16, HeldGpus(state));
        Assert.All(state.Reservations(), r => Assert.Equal(_time.GetUtcNow().AddSeconds(60), r.Expires));
        Assert.Equal(GangPhase.Reserved, Gangs(state).Book.Find("team-a/train")!.Phase);
        Assert.All(members, m => Assert.Null(Filter(state, m).Refusal));
    }

    [Fact]
    public void Reconcile_SchedulerNoLongerOffersASlotsNode_ReleasesTheGangAndPlansItOnTheOfferedNodes()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 2, size: 2, gpus: 4);
        Pending(state, members);
        Assert.Single(Reconcile(state).Placed);
        var first = state.Reservations()[0].Node;
        var other = first == "a" ? "b" : "a";

        // The members' filter calls show kube-scheduler lets them go only to the other node (a selector, a taint).
        foreach (var member in members)
        {
            state.RecordOfferedNodes(member.Uid, [other]);
        }

        var released = Reconcile(state);
        var replanned = Reconcile(state);

        Assert.Contains("kube-scheduler does not offer node", Assert.Single(released.Released).Reason, StringComparison.Ordinal);
        Assert.Single(replanned.Placed);
        Assert.All(state.Reservations(), r => Assert.Equal(other, r.Node));
    }

    [Fact]
    public void Reconcile_PlanDoesNotFit_EveryMemberIsRefusedWithHowManyFitNow()
    {
        var state = Cluster(Mi300XSpx("a"));
        var filler = Pod("filler", gpus: 2);
        state.UpsertPod(filler);
        Kaiwo.Scheduling.Tests.State.ClusterStateTests.Bind(state, filler, "a");
        var members = Members("train", 8, size: 8, gpus: 1);
        Pending(state, members);

        var result = Reconcile(state);

        Assert.Empty(result.Placed);
        Assert.Empty(state.Reservations());
        var refusal = Filter(state, members[5]).Refusal!;
        Assert.Equal(FitOutcome.FullNow, refusal.Outcome);
        Assert.Equal("gang team-a/train needs 8 GPUs in 8 pods; 6 pods can be placed now", refusal.Reason);
        Assert.Contains(result.Waiting, w => w.Key == "team-a/train" && w.Reason == refusal.Reason);
    }

    [Fact]
    public void Reconcile_CapacityFreesUp_TheWaitingGangIsPlacedThen()
    {
        var state = Cluster(Mi300XSpx("a"));
        var filler = Pod("filler", gpus: 2);
        state.UpsertPod(filler);
        Kaiwo.Scheduling.Tests.State.ClusterStateTests.Bind(state, filler, "a");
        Pending(state, Members("train", 8, size: 8, gpus: 1));
        Assert.Empty(Reconcile(state).Placed);

        state.RemovePod(filler.Uid);
        var result = Reconcile(state);

        Assert.Equal(8, Assert.Single(result.Placed).Members.Count);
        Assert.Equal(8, HeldGpus(state));
    }

    [Fact]
    public void Reconcile_EveryMemberBindsWithinTheTtl_GangIsPlacedAndNothingIsReleased()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 4, size: 4, gpus: 4);
        Pending(state, members);
        Reconcile(state);

        _time.Advance(TimeSpan.FromSeconds(30));
        foreach (var member in members)
        {
            Assert.Equal(ReserveStatus.Reserved, Bind(state, member).Status);
        }

        _time.Advance(TimeSpan.FromSeconds(60));
        var result = Reconcile(state);

        Assert.Empty(result.Released);
        Assert.Empty(state.Reservations());
        Assert.Equal(GangPhase.Placed, Gangs(state).Book.Find("team-a/train")!.Phase);
        Assert.Equal(4, state.GangMembers("team-a/train").Count(m => m.IsBound));
        Assert.Equal(1, Gangs(state).Book.PlacedTotal);
        Assert.Equal(0, Gangs(state).Book.ReleasedTotal);
    }

    [Fact]
    public void Reconcile_TtlPassesWithSomeMembersBound_ReleasesTheRestWholeAndTheBoundStayBound()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 4, size: 4, gpus: 4);
        Pending(state, members);
        Reconcile(state);
        Bind(state, members[0]);
        Bind(state, members[1]);

        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty(Reconcile(state).Released);
        _time.Advance(TimeSpan.FromSeconds(1));
        var result = Reconcile(state);

        var released = Assert.Single(result.Released);
        Assert.Equal("team-a/train", released.Gang);
        Assert.Equal(2, released.Reservations.Count);
        Assert.Contains("expired", released.Reason, StringComparison.Ordinal);
        Assert.Contains("2 of 4 members bound", released.Reason, StringComparison.Ordinal);
        Assert.Empty(state.Reservations());
        Assert.Equal(2, state.GangMembers("team-a/train").Count(m => m.IsBound));
        Assert.Equal(FitOutcome.FullNow, Filter(state, members[2]).Refusal!.Outcome);
        Assert.Equal(1, Gangs(state).Book.ReleasedTotal);
    }

    [Fact]
    public void Reconcile_StartedGangsExtraMemberPastTheTtl_ReleasesOnlyItsSlot()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 3, size: 2, gpus: 4);
        Pending(state, members);
        Reconcile(state);
        Bind(state, members[0]);
        Bind(state, members[1]);

        _time.Advance(TimeSpan.FromSeconds(60));
        var result = Reconcile(state);

        Assert.Empty(result.Released);
        Assert.Empty(state.Reservations());
        Assert.Equal(2, state.GangMembers("team-a/train").Count(m => m.IsBound));
        Assert.Equal(GangPhase.Placed, Gangs(state).Book.Find("team-a/train")!.Phase);
        Assert.Null(Filter(state, members[2]).Refusal);
    }

    [Fact]
    public void Reconcile_AfterARelease_TheRestIsPlannedAgainOnTheNextReconcile()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 4, size: 4, gpus: 4);
        Pending(state, members);
        Reconcile(state);
        Bind(state, members[0]);
        _time.Advance(TimeSpan.FromSeconds(60));
        Assert.Single(Reconcile(state).Released);

        var result = Reconcile(state);

        var placed = Assert.Single(result.Placed);
        Assert.Equal(["team-a/train-1", "team-a/train-2", "team-a/train-3"], placed.Members.Select(m => m.Key));
        Assert.Equal(3, state.Reservations().Count);
    }

    [Fact]
    public void Reconcile_MemberDeletedMidWay_ReleasesTheWholeReservation()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 4, size: 4, gpus: 4);
        Pending(state, members);
        Reconcile(state);
        Bind(state, members[0]);

        state.RemovePod(members[3].Uid);
        var result = Reconcile(state);

        var released = Assert.Single(result.Released);
        Assert.Contains("fell below its minimum (3 of 4 members)", released.Reason, StringComparison.Ordinal);
        Assert.Empty(state.Reservations());
        Assert.Equal("waiting for gang team-a/train: 3 of 4 members", Filter(state, members[1]).Refusal!.Reason);
    }

    [Fact]
    public void Reconcile_MemberWithASlotDeletedWhileExtrasRemain_ReleasesTheWholeReservation()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 3, size: 2, gpus: 4);
        Pending(state, members);
        Reconcile(state);
        Assert.Equal(3, state.Reservations().Count);

        state.UpsertPod(members[1] with { IsDeleting = true });
        var result = Reconcile(state);

        Assert.Contains("is gone before it bound", Assert.Single(result.Released).Reason, StringComparison.Ordinal);
        Assert.Empty(state.Reservations());
    }

    [Fact]
    public void Reconcile_TwoGangsCompetingForTheSameCapacity_OneHoldsItWholeTheOtherWaitsWithNothing()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var first = Members("alpha", 3, size: 3, gpus: 4);
        var second = Members("beta", 3, size: 3, gpus: 4);
        Pending(state, first);
        Pending(state, second);

        var result = Reconcile(state);

        Assert.Equal("team-a/alpha", Assert.Single(result.Placed).Gang);
        Assert.All(state.Reservations(), r => Assert.Equal("team-a/alpha", r.Owner));
        Assert.Equal(3, state.Reservations().Count);
        Assert.Equal("gang team-a/beta needs 12 GPUs in 3 pods; 1 pods can be placed now", Filter(state, second[0]).Refusal!.Reason);

        // Alpha runs and finishes; beta then gets the whole cluster, never half of it before.
        foreach (var member in first)
        {
            Bind(state, member);
        }

        Reconcile(state);
        Assert.Empty(state.Reservations());
        foreach (var member in first)
        {
            state.UpsertPod(member with { NodeName = state.GangMembers("team-a/alpha").Single(m => m.Pod.Uid == member.Uid).BoundNode, Phase = PodPhase.Succeeded });
        }

        var next = Reconcile(state);

        Assert.Equal("team-a/beta", Assert.Single(next.Placed).Gang);
        Assert.Equal(3, state.Reservations().Count(r => r.Owner == "team-a/beta"));
    }

    [Fact]
    public void Reconcile_TwoGangsWaiting_TheHigherPriorityOneIsPlannedFirst()
    {
        var state = Cluster(Mi300XSpx("a"));
        Pending(state, Members("alpha", 2, size: 2, gpus: 4, priority: 0));
        Pending(state, Members("beta", 2, size: 2, gpus: 4, priority: 100));

        var result = Reconcile(state);

        Assert.Equal("team-a/beta", Assert.Single(result.Placed).Gang);
    }

    [Fact]
    public void Reconcile_AfterARestartWithSomeMembersBoundFromTheirRecords_PlansOnlyTheRest()
    {
        var before = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 4, size: 4, gpus: 4);
        Pending(before, members);
        Reconcile(before);
        var bound = members.Take(2).Select(m => (Pod: m, Allocation: Bind(before, m).Allocation!)).ToList();

        // A new replica: the bound members come back from the API server with their records, the rest pending.
        var after = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        foreach (var (pod, allocation) in bound)
        {
            after.UpsertPod(pod with
            {
                NodeName = allocation.Node,
                Annotations = new Dictionary<string, string>(pod.Annotations) { [WellKnown.AllocationAnnotation] = AllocationRecord.Write(allocation) },
            });
        }

        Pending(after, members.Skip(2));
        var result = new GangReconciler(after, Pipeline, Options).ReconcileGangs(_time.GetUtcNow(), null);

        var placed = Assert.Single(result.Placed);
        Assert.Equal(["team-a/train-2", "team-a/train-3"], placed.Members.Select(m => m.Key));
        var devices = after.Nodes().SelectMany(n => n.Usage.Holds.Values.SelectMany(h => h.Allocation.Gpus.Select(g => (n.Name, g.Index)))).ToList();
        Assert.Equal(16, devices.Count);
        Assert.Equal(devices.Count, devices.Distinct().Count());
    }

    [Fact]
    public void Reconcile_GangOfAnotherScheduler_IsNotPlanned()
    {
        var state = Cluster(Mi300XSpx("a"));
        Pending(state, [Member("train", 0, 2, scheduler: "default-scheduler"), Member("train", 1, 2, scheduler: "default-scheduler")]);

        var result = Reconcile(state);

        Assert.Empty(result.Placed);
        Assert.Empty(state.Reservations());
        Assert.Null(Gangs(state).Book.Find("team-a/train"));
    }

    [Fact]
    public void Reconcile_MembersDisagree_GangIsInvalidAndHoldsNothing()
    {
        var state = Cluster(Mi300XSpx("a"));
        Pending(state, [Member("train", 0, 2), Member("train", 1, 3)]);

        var result = Reconcile(state);

        Assert.Empty(state.Reservations());
        var status = Assert.Single(result.Waiting);
        Assert.Equal(GangPhase.Invalid, status.Phase);
        Assert.Contains("disagree on the size", status.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Reconcile_QueueRefusesTheGangsTotal_NothingIsHeld()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Pending(state, [Member("train", 0, 2, gpus: 4, queue: "team"), Member("train", 1, 2, gpus: 4, queue: "team")]);
        var tree = QueueTree.Build([new QueueSpec { Name = "team", Gpu = new QueueResourceSpec(6000, 1, 6000) }], "default");

        var result = Gangs(state).ReconcileGangs(_time.GetUtcNow(), state.QueueSnapshot(tree, "kaiwo-scheduler"));

        Assert.Empty(result.Placed);
        Assert.Empty(state.Reservations());
        Assert.Equal("queue-limit", Filter(state, Member("train", 0, 2, gpus: 4, queue: "team")).Refusal!.Code);
    }

    [Fact]
    public void Reconcile_TwoGangsOfOneQueue_TheSecondIsAdmittedWithTheFirstsHoldCounted()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Pending(state, [Member("alpha", 0, 2, gpus: 2, queue: "team"), Member("alpha", 1, 2, gpus: 2, queue: "team")]);
        Pending(state, [Member("beta", 0, 2, gpus: 2, queue: "team"), Member("beta", 1, 2, gpus: 2, queue: "team")]);
        var tree = QueueTree.Build([new QueueSpec { Name = "team", Gpu = new QueueResourceSpec(6000, 1, 6000) }], "default");

        var result = Gangs(state).ReconcileGangs(_time.GetUtcNow(), state.QueueSnapshot(tree, "kaiwo-scheduler"));

        Assert.Equal("team-a/alpha", Assert.Single(result.Placed).Gang);
        Assert.Equal("queue-limit", Filter(state, Member("beta", 0, 2, gpus: 2, queue: "team")).Refusal!.Code);
    }

    [Fact]
    public void Reconcile_AsTheHostsStep_NamesThePlacedMembersToRetry()
    {
        var state = Cluster(Mi300XSpx("a"));
        Pending(state, Members("train", 2, size: 2, gpus: 4));

        var report = ((IReservationStep)Gangs(state)).Reconcile(_time.GetUtcNow(), null);

        Assert.Equal(["team-a/train-0", "team-a/train-1"], report.Retry.Select(p => p.Key));
        Assert.Empty(((IReservationStep)Gangs(state)).Reconcile(_time.GetUtcNow(), null).Retry);
    }

    [Fact]
    public void Reconcile_GangWithALauncherThatAsksForNoGpu_SlotsForTheWorkersAndEveryoneToRetry()
    {
        var state = Cluster(Mi300XSpx("a"));
        var launcher = Member("train", 0, 3, gpus: 0);
        var workers = new[] { Member("train", 1, 3, gpus: 4), Member("train", 2, 3, gpus: 4) };
        Pending(state, [launcher, .. workers]);

        var placed = Assert.Single(Reconcile(state).Placed);

        Assert.Equal(["team-a/train-0", "team-a/train-1", "team-a/train-2"], placed.Members.Select(m => m.Key));
        Assert.Equal(["team-a/train-1", "team-a/train-2"], state.Reservations().Select(r => r.PodKey));
        Assert.Null(Filter(state, launcher).Refusal);
    }

    [Fact]
    public void Reconcile_ReservedDevices_AreTakenForOtherPods()
    {
        var state = Cluster(Mi300XSpx("a"));
        Pending(state, Members("train", 2, size: 2, gpus: 4));
        Reconcile(state);
        var other = Pod("single", gpus: 1);

        state.TryGetNode("a", out var node);
        var fit = Pipeline.EvaluateNode(Pipeline.EvaluatePod(other, _time.GetUtcNow()), node!);

        Assert.Equal(FitOutcome.FullNow, fit.Outcome);
    }
}

using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Reservations;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Reservations;

public sealed class StarvationPlannerTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 6, 0, 0, TimeSpan.Zero);
    private static readonly StarvationOptions Options = new();

    /// <summary>A node of 8 MI300X whose GPUs <paramref name="busy"/> are each held whole by a running pod.</summary>
    private static NodeCandidate Node(string name, params int[] busy)
    {
        var facts = Mi300XSpx(name);
        var usage = NodeUsage.Create(InventoryReader.Read(facts));
        foreach (var gpu in busy)
        {
            var grant = new GpuGrant(gpu, [], [], [gpu], 1000, 192 * 1024);
            usage = usage.With(new PodHold($"running-{gpu}", $"team-b/running-{gpu}", new PodAllocation(name, AllocationKind.Whole, GpuIsolation.TimeSlicing, [grant])));
        }

        return new NodeCandidate(facts, usage);
    }

    private static NodeCandidate WithReservation(NodeCandidate node, Reservation reservation) =>
        node with { Usage = node.Usage.With(new PodHold(reservation.HoldKey, reservation.PodKey, reservation.Allocation)) };

    private static StarvingPod Starving(string name, int gpus, int priority = 0, int waitedMinutes = 3)
    {
        var pod = Pod(name, gpus: gpus) with { SchedulerName = "kaiwo-scheduler", Priority = priority };
        return new StarvingPod(pod, Parse(pod), Now.AddMinutes(-waitedMinutes));
    }

    private static StarvationPlan Plan(IReadOnlyList<StarvingPod> pods, IReadOnlyList<NodeCandidate> nodes, IReadOnlyList<Reservation>? reservations = null, IReadOnlyCollection<ClosedNode>? closed = null, DateTimeOffset? now = null) =>
        StarvationPlanner.Plan(pods, nodes, reservations ?? [], closed ?? [], Options, now ?? Now);

    private static int[] Gpus(Reservation reservation) => [.. reservation.Allocation.Gpus.Select(g => g.Index)];

    [Fact]
    public void Plan_NoReservationYet_ReservesTheFreeGpusOfTheNodeWithTheMostOfTheAskFree()
    {
        var nodes = new[] { Node("a", 0, 1, 2, 3, 4, 5, 6), Node("b", 0, 1, 2, 3, 4, 5), Node("c", 0, 1, 2, 3, 4, 5, 6, 7) };

        var plan = Plan([Starving("big", 4)], nodes);

        var reservation = Assert.Single(plan.Holds);
        Assert.Equal("b", reservation.Node);
        Assert.Equal([6, 7], Gpus(reservation));
        Assert.Equal(ReservationKind.Starving, reservation.Kind);
        Assert.Equal("team-a/big", reservation.Owner);
        Assert.Equal(Now + Options.Ttl, reservation.Expires);
    }

    [Fact]
    public void Plan_NodesEquallyFree_ReservesOnTheFirstByName()
    {
        var plan = Plan([Starving("big", 4)], [Node("b", 0, 1, 2, 3, 4, 5, 6), Node("a", 1, 2, 3, 4, 5, 6, 7)]);

        Assert.Equal("a", Assert.Single(plan.Holds).Node);
    }

    [Fact]
    public void Plan_NothingFreeAnywhere_ClaimsANodeWithAnEmptyReservation()
    {
        var plan = Plan([Starving("big", 4)], [Node("a", 0, 1, 2, 3, 4, 5, 6, 7)]);

        var reservation = Assert.Single(plan.Holds);
        Assert.Equal("a", reservation.Node);
        Assert.Empty(reservation.Allocation.Gpus);
    }

    [Fact]
    public void Plan_MoreGpusFreedOnTheReservedNode_GrowsTheReservationAndKeepsItsExpiry()
    {
        var pod = Starving("big", 4);
        var first = Assert.Single(Plan([pod], [Node("a", 0, 1, 2, 3, 4, 5, 6)]).Holds);
        var later = Now.AddSeconds(30);

        // GPU 5 ended; GPU 7 is the pod's own reservation now.
        var node = WithReservation(Node("a", 0, 1, 2, 3, 4, 6), first);
        var plan = Plan([pod], [node], [first], now: later);

        var grown = Assert.Single(plan.Holds);
        Assert.Equal([5, 7], Gpus(grown));
        Assert.Equal(first.Expires, grown.Expires);
    }

    [Fact]
    public void Plan_NothingMoreFreedOnTheReservedNode_LeavesTheReservationAsItIs()
    {
        var pod = Starving("big", 4);
        var first = Assert.Single(Plan([pod], [Node("a", 0, 1, 2, 3, 4, 5)]).Holds);

        var plan = Plan([pod], [WithReservation(Node("a", 0, 1, 2, 3, 4, 5), first)], [first], now: Now.AddSeconds(30));

        Assert.Empty(plan.Holds);
        Assert.Empty(plan.Expired);
        Assert.Empty(plan.Dropped);
    }

    [Fact]
    public void Plan_ReservationHoldsTheWholeAsk_DoesNotGrowPastIt()
    {
        var pod = Starving("big", 2);
        var first = Assert.Single(Plan([pod], [Node("a", 0, 1, 2, 3, 4, 5)]).Holds);

        var plan = Plan([pod], [WithReservation(Node("a"), first)], [first], now: Now.AddSeconds(30));

        Assert.Equal(2, StarvationPlanner.LogicalGpus(first.Allocation));
        Assert.Empty(plan.Holds);
    }

    [Fact]
    public void Plan_NodeHoldsAnotherPodsStarvingReservation_ReservesOnAnotherNode()
    {
        var first = Assert.Single(Plan([Starving("big-1", 4)], [Node("a", 0, 1, 2, 3), Node("b", 0, 1, 2, 3, 4, 5)]).Holds);
        var nodes = new[] { WithReservation(Node("a", 0, 1, 2, 3), first), Node("b", 0, 1, 2, 3, 4, 5) };

        var plan = Plan([Starving("big-1", 4), Starving("big-2", 4)], nodes, [first]);

        var second = Assert.Single(plan.Holds);
        Assert.Equal(("team-a/big-2", "b"), (second.PodKey, second.Node));
    }

    [Fact]
    public void Plan_ReservationPastItsTtl_ExpiresItAndReservesAtOnceOnAnotherNode()
    {
        var pod = Starving("big", 4);
        var first = Assert.Single(Plan([pod], [Node("a", 0, 1, 2, 3, 4, 5), Node("b", 0, 1, 2, 3, 4, 5, 6)]).Holds);
        var nodes = new[] { WithReservation(Node("a", 0, 1, 2, 3, 4, 5), first), Node("b", 0, 1, 2, 3, 4, 5, 6) };

        var plan = Plan([pod], nodes, [first], now: first.Expires);

        Assert.Equal([first], plan.Expired);
        var again = Assert.Single(plan.Holds);
        Assert.Equal("b", again.Node);
        Assert.Equal(first.Expires + Options.Ttl, again.Expires);
    }

    [Fact]
    public void Plan_NodeClosedToThePod_IsNotChosenUntilItReopens()
    {
        var pod = Starving("big", 4);
        var nodes = new[] { Node("a", 0, 1, 2, 3, 4, 5), Node("b", 0, 1, 2, 3, 4, 5, 6) };
        var closed = new[] { new ClosedNode(pod.Pod.Uid, "a", Now.AddMinutes(1)) };

        Assert.Equal("b", Assert.Single(Plan([pod], nodes, closed: closed).Holds).Node);
        Assert.Equal("a", Assert.Single(Plan([pod], nodes, closed: closed, now: Now.AddMinutes(1)).Holds).Node);
    }

    [Fact]
    public void Plan_NodeWithTooFewGpusForTheAsk_IsNeverChosen()
    {
        var small = Node("a") with { Facts = Mi300XSpx("a") with { Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "2" } } };
        small = small with { Usage = NodeUsage.Create(InventoryReader.Read(small.Facts)) };

        var plan = Plan([Starving("big", 4)], [small, Node("b", 0, 1, 2, 3, 4, 5, 6, 7)]);

        Assert.Equal("b", Assert.Single(plan.Holds).Node);
    }

    [Fact]
    public void Plan_ReservedPodNoLongerStarving_DropsItsReservation()
    {
        var first = Assert.Single(Plan([Starving("big", 4)], [Node("a", 0, 1, 2, 3, 4, 5)]).Holds);

        var plan = Plan([], [WithReservation(Node("a", 0, 1, 2, 3, 4, 5), first)], [first]);

        Assert.Equal([first], plan.Dropped);
        Assert.Empty(plan.Holds);
    }

    [Fact]
    public void Plan_TwoPodsForOneNode_TheHigherPriorityThenTheLongerWaitingReservesIt()
    {
        var nodes = new[] { Node("a", 0, 1, 2, 3, 4, 5), Node("b", 0, 1, 2, 3, 4, 5, 6, 7) };

        var byPriority = Plan([Starving("old", 4, priority: 0, waitedMinutes: 10), Starving("urgent", 4, priority: 5)], nodes);
        var byWait = Plan([Starving("new", 4, waitedMinutes: 3), Starving("old", 4, waitedMinutes: 10)], nodes);

        Assert.Equal("team-a/urgent", byPriority.Holds.Single(r => r.Node == "a").PodKey);
        Assert.Equal("team-a/old", byWait.Holds.Single(r => r.Node == "a").PodKey);
    }

    [Fact]
    public void Plan_GangReservationOnTheNode_ItsDevicesAreNotFreeButTheNodeMayStillBeReserved()
    {
        var node = Node("a", 0, 1, 2, 3, 4, 5);
        var grant = new GpuGrant(6, [], [], [6], 1000, 192 * 1024);
        var gang = new Reservation("uid-member", "team-c/member", "a", new PodAllocation("a", AllocationKind.Whole, GpuIsolation.TimeSlicing, [grant]), ReservationKind.Gang, "team-c/job", Now.AddMinutes(1));

        var plan = Plan([Starving("big", 4)], [WithReservation(node, gang)], [gang]);

        var reservation = Assert.Single(plan.Holds);
        Assert.Equal([7], Gpus(reservation));
        Assert.Empty(plan.Dropped);
    }

    [Theory]
    [InlineData(2, null, null, "kaiwo-scheduler", true)]
    [InlineData(1, null, null, "kaiwo-scheduler", false)]
    [InlineData(4, "kaiwo.ai/pod-group", null, "kaiwo-scheduler", false)]
    [InlineData(4, null, "kueue.x-k8s.io/pod-group-name", "kaiwo-scheduler", false)]
    [InlineData(4, null, null, "default-scheduler", false)]
    [InlineData(4, null, null, null, false)]
    public void MayReserve_PodOfAKind_OnlyOurWholeGpuPodsOutsideGangs(int gpus, string? annotation, string? label, string? scheduler, bool expected)
    {
        var pod = Pod("p", gpus: gpus) with
        {
            SchedulerName = scheduler,
            Annotations = annotation is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [annotation] = "job" },
            Labels = label is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [label] = "job" },
        };

        Assert.Equal(expected, StarvationPlanner.MayReserve(pod, Parse(pod), Options));
    }

    [Fact]
    public void MayReserve_FractionalAskOrSwitchedOff_IsFalse()
    {
        var fraction = Fraction("f", "0.5") with { SchedulerName = "kaiwo-scheduler" };
        var whole = Pod("w", gpus: 4) with { SchedulerName = "kaiwo-scheduler" };

        Assert.False(StarvationPlanner.MayReserve(fraction, Parse(fraction), Options));
        Assert.False(StarvationPlanner.MayReserve(whole, Parse(whole), Options with { MinimumGpus = 0 }));
    }
}

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

    /// <summary>A node of 8 MI300X where GPU i holds <c>quarters[i]</c> running 0.25-GPU pods.</summary>
    private static NodeCandidate Shared(string name, params int[] quarters)
    {
        var facts = Mi300XSpx(name);
        var usage = NodeUsage.Create(InventoryReader.Read(facts));
        for (var gpu = 0; gpu < quarters.Length; gpu++)
        {
            for (var q = 0; q < quarters[gpu]; q++)
            {
                var grant = new GpuGrant(gpu, [], [], [gpu], 250, 48 * 1024);
                usage = usage.With(new PodHold($"quarter-{gpu}-{q}", $"team-b/quarter-{gpu}-{q}", new PodAllocation(name, AllocationKind.Shared, GpuIsolation.TimeSlicing, [grant])));
            }
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

        var reservation = Assert.Single(plan.Slots);
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

        Assert.Equal("a", Assert.Single(plan.Slots).Node);
    }

    [Fact]
    public void Plan_NothingFreeAnywhere_ClaimsANodeWithAnEmptyReservation()
    {
        var plan = Plan([Starving("big", 4)], [Node("a", 0, 1, 2, 3, 4, 5, 6, 7)]);

        var reservation = Assert.Single(plan.Slots);
        Assert.Equal("a", reservation.Node);
        Assert.Empty(reservation.Allocation.Gpus);
    }

    [Fact]
    public void Plan_MoreGpusFreedOnTheReservedNode_GrowsTheReservationAndExtendsItsExpiry()
    {
        var pod = Starving("big", 4);
        var first = Assert.Single(Plan([pod], [Node("a", 0, 1, 2, 3, 4, 5, 6)]).Slots);
        var later = Now.AddSeconds(30);

        // GPU 5 ended; GPU 7 is the pod's own reservation now.
        var node = WithReservation(Node("a", 0, 1, 2, 3, 4, 6), first);
        var plan = Plan([pod], [node], [first], now: later);

        var grown = Assert.Single(plan.Slots);
        Assert.Equal([5, 7], Gpus(grown));
        Assert.Equal(later + Options.Ttl, grown.Expires);
    }

    [Fact]
    public void Plan_NothingMoreFreedOnTheReservedNode_LeavesTheReservationAsItIs()
    {
        var pod = Starving("big", 4);
        var first = Assert.Single(Plan([pod], [Node("a", 0, 1, 2, 3, 4, 5)]).Slots);

        var plan = Plan([pod], [WithReservation(Node("a", 0, 1, 2, 3, 4, 5), first)], [first], now: Now.AddSeconds(30));

        Assert.Empty(plan.Slots);
        Assert.Empty(plan.Expired);
        Assert.Empty(plan.Dropped);
    }

    [Fact]
    public void Plan_ReservationHoldsTheWholeAsk_DoesNotGrowPastIt()
    {
        var pod = Starving("big", 2);
        var first = Assert.Single(Plan([pod], [Node("a", 0, 1, 2, 3, 4, 5)]).Slots);

        var plan = Plan([pod], [WithReservation(Node("a"), first)], [first], now: Now.AddSeconds(30));

        Assert.Equal(2, StarvationPlanner.LogicalGpus(first.Allocation));
        Assert.Empty(plan.Slots);
    }

    [Fact]
    public void Plan_NodeHoldsAnotherPodsStarvingReservation_ReservesOnAnotherNode()
    {
        var first = Assert.Single(Plan([Starving("big-1", 4)], [Node("a", 0, 1, 2, 3), Node("b", 0, 1, 2, 3, 4, 5)]).Slots);
        var nodes = new[] { WithReservation(Node("a", 0, 1, 2, 3), first), Node("b", 0, 1, 2, 3, 4, 5) };

        var plan = Plan([Starving("big-1", 4), Starving("big-2", 4)], nodes, [first]);

        var second = Assert.Single(plan.Slots);
        Assert.Equal(("team-a/big-2", "b"), (second.PodKey, second.Node));
    }

    [Fact]
    public void Plan_ReservationPastItsTtl_ExpiresItAndReservesAtOnceOnAnotherNode()
    {
        var pod = Starving("big", 4);
        var first = Assert.Single(Plan([pod], [Node("a", 0, 1, 2, 3, 4, 5), Node("b", 0, 1, 2, 3, 4, 5, 6)]).Slots);
        var nodes = new[] { WithReservation(Node("a", 0, 1, 2, 3, 4, 5), first), Node("b", 0, 1, 2, 3, 4, 5, 6) };

        var plan = Plan([pod], nodes, [first], now: first.Expires);

        Assert.Equal([first], plan.Expired);
        var again = Assert.Single(plan.Slots);
        Assert.Equal("b", again.Node);
        Assert.Equal(first.Expires + Options.Ttl, again.Expires);
    }

    [Fact]
    public void Plan_NodeClosedToThePod_IsNotChosenUntilItReopens()
    {
        var pod = Starving("big", 4);
        var nodes = new[] { Node("a", 0, 1, 2, 3, 4, 5), Node("b", 0, 1, 2, 3, 4, 5, 6) };
        var closed = new[] { new ClosedNode(pod.Pod.Uid, "a", Now.AddMinutes(1)) };

        Assert.Equal("b", Assert.Single(Plan([pod], nodes, closed: closed).Slots).Node);
        Assert.Equal("a", Assert.Single(Plan([pod], nodes, closed: closed, now: Now.AddMinutes(1)).Slots).Node);
    }

    [Fact]
    public void Plan_NodeWithTooFewGpusForTheAsk_IsNeverChosen()
    {
        var small = Node("a") with { Facts = Mi300XSpx("a") with { Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "2" } } };
        small = small with { Usage = NodeUsage.Create(InventoryReader.Read(small.Facts)) };

        var plan = Plan([Starving("big", 4)], [small, Node("b", 0, 1, 2, 3, 4, 5, 6, 7)]);

        Assert.Equal("b", Assert.Single(plan.Slots).Node);
    }

    [Fact]
    public void Plan_ReservedPodNoLongerStarving_DropsItsReservation()
    {
        var first = Assert.Single(Plan([Starving("big", 4)], [Node("a", 0, 1, 2, 3, 4, 5)]).Slots);

        var plan = Plan([], [WithReservation(Node("a", 0, 1, 2, 3, 4, 5), first)], [first]);

        Assert.Equal([first], plan.Dropped);
        Assert.Empty(plan.Slots);
    }

    [Fact]
    public void Plan_TwoPodsForOneNode_TheHigherPriorityThenTheLongerWaitingReservesIt()
    {
        var nodes = new[] { Node("a", 0, 1, 2, 3, 4, 5), Node("b", 0, 1, 2, 3, 4, 5, 6, 7) };

        var byPriority = Plan([Starving("old", 4, priority: 0, waitedMinutes: 10), Starving("urgent", 4, priority: 5)], nodes);
        var byWait = Plan([Starving("new", 4, waitedMinutes: 3), Starving("old", 4, waitedMinutes: 10)], nodes);

        Assert.Equal("team-a/urgent", byPriority.Slots.Single(r => r.Node == "a").PodKey);
        Assert.Equal("team-a/old", byWait.Slots.Single(r => r.Node == "a").PodKey);
    }

    [Fact]
    public void Plan_GangReservationOnTheNode_ItsDevicesAreNotFreeButTheNodeMayStillBeReserved()
    {
        var node = Node("a", 0, 1, 2, 3, 4, 5);
        var grant = new GpuGrant(6, [], [], [6], 1000, 192 * 1024);
        var gang = new Reservation("uid-member", "team-c/member", "a", new PodAllocation("a", AllocationKind.Whole, GpuIsolation.TimeSlicing, [grant]), ReservationKind.Gang, "team-c/job", Now.AddMinutes(1));

        var plan = Plan([Starving("big", 4)], [WithReservation(node, gang)], [gang]);

        var reservation = Assert.Single(plan.Slots);
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

    [Fact]
    public void Plan_FractionsOnEveryGpu_DrainsTheLeastUsedGpusByHoldingTheirFreeShare()
    {
        var node = Shared("a", 1, 1, 3, 1, 1, 3, 2, 2);

        var hold = Assert.Single(Plan([Starving("big", 4)], [node]).Holds);

        Assert.False(hold.Complete);
        Assert.Equal([0, 1, 3, 4], Gpus(hold.Slot));
        Assert.All(hold.Slot.Allocation.Gpus, g => Assert.Equal((750, 144 * 1024L), (g.ComputeMilli, g.MemoryMiB)));
        var after = WithReservation(node, hold.Slot).Usage;
        var quarter = Parse(Fraction("small", "0.25"));
        var fit = GpuPlacer.Fit(after, quarter, new PlacementOptions());
        Assert.DoesNotContain(fit.Allocation!.Gpus.Single().Index, Gpus(hold.Slot));
        Assert.Empty(after.Conflicts);
    }

    [Fact]
    public void Plan_FractionsEndOnTheDrainedGpus_TheGrantsGrowToWholeGpusAndTheReservationCompletes()
    {
        var pod = Starving("big", 2);
        var first = Assert.Single(Plan([pod], [Shared("a", 1, 2, 4, 4, 4, 4, 4, 4)]).Slots);
        Assert.Equal([0, 1], Gpus(first));

        var partly = Assert.Single(Plan([pod], [WithReservation(Shared("a", 0, 2, 4, 4, 4, 4, 4, 4), first)], [first]).Holds);
        var whole = Assert.Single(Plan([pod], [WithReservation(Shared("a", 0, 0, 4, 4, 4, 4, 4, 4), partly.Slot)], [partly.Slot]).Holds);

        Assert.False(partly.Complete);
        Assert.Equal([1000, 500], partly.Slot.Allocation.Gpus.Select(g => g.ComputeMilli));
        Assert.True(whole.Complete);
        Assert.Equal([1000, 1000], whole.Slot.Allocation.Gpus.Select(g => g.ComputeMilli));
        Assert.Equal(Now + Options.Ttl, whole.Slot.Expires);
    }

    [Fact]
    public void Plan_NodesWithFractions_ReservesWhereTheMostOfTheAskIsFree()
    {
        var plan = Plan([Starving("big", 2)], [Shared("a", 4, 4, 4, 4, 4, 4, 1, 4), Shared("b", 4, 4, 4, 4, 4, 4, 2, 2)]);

        // a: GPUs 6 and one full one, 0.75 + 0 free; b: GPUs 6 and 7, 0.5 + 0.5 free.
        Assert.Equal("b", Assert.Single(plan.Slots).Node);
    }

    [Fact]
    public void Plan_KubeSchedulerOffersThePodSomeNodes_ReservesOnlyOnOneOfThem()
    {
        var pod = Starving("big", 4) with { OfferedNodes = new HashSet<string>(StringComparer.Ordinal) { "b" } };

        var plan = Plan([pod], [Node("a"), Node("b", 0, 1, 2, 3, 4, 5, 6, 7)]);

        Assert.Equal("b", Assert.Single(plan.Slots).Node);
    }

    [Fact]
    public void Plan_ReservedNodeNoLongerOffered_DropsTheReservation()
    {
        var first = Assert.Single(Plan([Starving("big", 4)], [Node("a", 0, 1, 2, 3, 4, 5)]).Slots);
        var pod = Starving("big", 4) with { OfferedNodes = new HashSet<string>(StringComparer.Ordinal) { "b" } };

        var plan = Plan([pod], [WithReservation(Node("a", 0, 1, 2, 3, 4, 5), first), Node("b", 0, 1, 2, 3, 4, 5, 6, 7)], [first]);

        Assert.Equal([first], plan.Dropped);
        Assert.Equal("b", Assert.Single(plan.Slots).Node);
    }
}

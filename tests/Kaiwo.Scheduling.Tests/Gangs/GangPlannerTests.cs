using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.Gangs.GangPods;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Gangs;

public sealed class GangPlannerTests
{
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;

    private static GangPlan Plan(ClusterState state, QueueSnapshot? queues = null) =>
        GangPlanner.Plan(View(state, "team-a/train"), state.Nodes(), Pipeline, queues, Now);

    /// <summary>Takes <paramref name="gpus"/> whole GPUs of the node with a pod of no gang.</summary>
    private static void Fill(ClusterState state, string node, int gpus)
    {
        var filler = Pod($"filler-{node}", gpus: gpus);
        state.UpsertPod(filler);
        BindTo(state, filler, node);
    }

    [Fact]
    public void Plan_MembersOfferedOnlyTheFullerNode_PlacesThemThereNotOnTheEmptyOne()
    {
        // kube-scheduler's own checks (a node selector here) let the members go only to "a": the empty "b" is not theirs.
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Fill(state, "a", 4);
        var members = Members("train", 2, size: 2, gpus: 2);
        Pending(state, members);
        foreach (var member in members)
        {
            state.RecordOfferedNodes(member.Uid, ["a"]);
        }

        var plan = Plan(state);

        Assert.True(plan.Fits);
        Assert.All(plan.Slots, s => Assert.Equal("a", s.Node));
    }

    [Fact]
    public void Plan_OfferedNodesTooSmall_IsRefusedEvenWithRoomElsewhere()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Fill(state, "a", 6);
        var members = Members("train", 2, size: 2, gpus: 2);
        Pending(state, members);
        foreach (var member in members)
        {
            state.RecordOfferedNodes(member.Uid, ["a"]);
        }

        var plan = Plan(state);

        Assert.False(plan.Fits);
        Assert.Equal(1, plan.Placeable);
    }

    [Fact]
    public void RecordOfferedNodes_SameNodesAgain_LeavesTheVersion()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var member = Members("train", 1, size: 1, gpus: 1)[0];
        Pending(state, [member]);
        var before = state.Version;

        state.RecordOfferedNodes(member.Uid, ["a", "b"]);
        var recorded = state.Version;
        state.RecordOfferedNodes(member.Uid, ["b", "a"]);

        Assert.NotEqual(before, recorded);
        Assert.Equal(recorded, state.Version);
        Assert.True(Assert.Single(state.GangMembers("team-a/train")).MayGoTo("a"));
    }

    [Fact]
    public void RecordOfferedNodes_PodOfNoGang_KeepsNothing()
    {
        var state = Cluster(Mi300XSpx("a"));
        var pod = Pod("single", gpus: 1);
        state.UpsertPod(pod);
        var before = state.Version;

        state.RecordOfferedNodes(pod.Uid, ["a"]);

        Assert.Equal(before, state.Version);
    }

    [Fact]
    public void Plan_EightOneGpuPodsOnSixFreeGpus_IsRefusedSayingHowManyCanBePlaced()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Fill(state, "a", 6);
        Fill(state, "b", 4);
        Pending(state, Members("train", 8, size: 8, gpus: 1));

        var plan = Plan(state);

        Assert.False(plan.Fits);
        Assert.Empty(plan.Slots);
        Assert.Equal(FitOutcome.FullNow, plan.Refusal!.Outcome);
        Assert.Equal("gang team-a/train needs 8 GPUs in 8 pods; 6 pods can be placed now", plan.Refusal.Reason);
        Assert.Equal(6, plan.Placeable);
    }

    [Fact]
    public void Plan_GangThatFits_GivesEveryMemberASlotWithDevicesNoOtherSlotHolds()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Fill(state, "a", 6);
        Fill(state, "b", 2);
        Pending(state, Members("train", 8, size: 8, gpus: 1));

        var plan = Plan(state);

        Assert.True(plan.Fits);
        Assert.Equal(8, plan.Slots.Count);
        var devices = plan.Slots.SelectMany(s => s.Allocation.Gpus.Select(g => (s.Node, g.Index))).ToList();
        Assert.Equal(devices.Count, devices.Distinct().Count());
        Assert.Equal(6, plan.Slots.Count(s => s.Node == "b"));
        Assert.Equal(2, plan.Slots.Count(s => s.Node == "a"));
    }

    [Fact]
    public void Plan_TwoFourGpuPodsOnEmptyNodes_PutsBothOnOneNode()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"), Mi300XSpx("c"));
        Pending(state, Members("train", 2, size: 2, gpus: 4));

        var plan = Plan(state);

        Assert.True(plan.Fits);
        Assert.All(plan.Slots, s => Assert.Equal("a", s.Node));
    }

    [Fact]
    public void Plan_OneNodeHasRoomForTheWholeGang_OpensItRatherThanSplitting()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Fill(state, "a", 4);
        Pending(state, Members("train", 2, size: 2, gpus: 4));

        var plan = Plan(state);

        Assert.True(plan.Fits);
        Assert.All(plan.Slots, s => Assert.Equal("b", s.Node));
    }

    /// <summary>A pod of no gang bound to <paramref name="node"/> holding exactly the whole GPUs given, from its record.</summary>
    private static void Hold(ClusterState state, string node, params int[] gpus)
    {
        state.TryGetNode(node, out var candidate);
        var all = GpuPlacer.Fit(candidate!.Usage, Parse(Pod("probe", gpus: 8)), new PlacementOptions()).Allocation!;
        var allocation = all with { Gpus = [.. all.Gpus.Where(g => gpus.Contains(g.Index))] };
        state.UpsertPod(Pod($"held-{node}", gpus: gpus.Length) with
        {
            NodeName = node,
            Annotations = new Dictionary<string, string> { [WellKnown.AllocationAnnotation] = AllocationRecord.Write(allocation) },
        });
    }

    [Fact]
    public void Plan_TwoNodesWithAsMuchRoom_OpensTheOneWhereTheMemberSpansFewerNumaDomains()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Hold(state, "a", 0, 1, 2, 4, 5, 6); // free: GPU 3 (NUMA 0) and GPU 7 (NUMA 1)
        Hold(state, "b", 0, 1, 2, 3, 4, 5); // free: GPUs 6 and 7, both NUMA 1
        Pending(state, Members("train", 1, size: 1, gpus: 2));

        var plan = Plan(state);

        var slot = Assert.Single(plan.Slots);
        Assert.Equal("b", slot.Node);
        Assert.Equal([6, 7], slot.Allocation.Gpus.Select(g => g.Index));
    }

    [Fact]
    public void Plan_BiggerAsksFirst_LeavesTheSmallOnesTheGaps()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Fill(state, "a", 2);
        Fill(state, "b", 2);
        Pending(state, [Member("train", 0, 3, gpus: 2), Member("train", 1, 3, gpus: 6), Member("train", 2, 3, gpus: 4)]);

        var plan = Plan(state);

        Assert.True(plan.Fits);
        Assert.Equal(["team-a/train-1", "team-a/train-2", "team-a/train-0"], plan.Slots.Select(s => s.Pod.Key));
        Assert.Equal(["a", "b", "b"], plan.Slots.Select(s => s.Node));
    }

    [Fact]
    public void Plan_SomeMembersBoundAlready_PlansOnlyTheRest()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 4, size: 4, gpus: 4);
        Pending(state, members);
        BindTo(state, members[0], "a");
        BindTo(state, members[1], "a");

        var plan = Plan(state);

        Assert.True(plan.Fits);
        Assert.Equal(["team-a/train-2", "team-a/train-3"], plan.Slots.Select(s => s.Pod.Key));
        Assert.All(plan.Slots, s => Assert.Equal("b", s.Node));
    }

    [Fact]
    public void Plan_TooFewMembers_IsRefusedWaitingForThem()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, Members("train", 3, size: 8, gpus: 1));

        var plan = Plan(state);

        Assert.Equal("waiting for gang team-a/train: 3 of 8 members", plan.Refusal!.Reason);
    }

    [Fact]
    public void Plan_MemberWithABadRequest_RefusesTheGangNamingThePod()
    {
        var state = Cluster(Mi300XSpx());
        var bad = Member("train", 1, 2) with
        {
            Annotations = new Dictionary<string, string> { ["kaiwo.ai/pod-group"] = "train", ["kaiwo.ai/pod-group-size"] = "2", ["kaiwo.ai/gpu-fraction"] = "2" },
        };
        Pending(state, [Member("train", 0, 2), bad]);

        var plan = Plan(state);

        Assert.Equal(FitOutcome.NeverFits, plan.Refusal!.Outcome);
        Assert.StartsWith("gang team-a/train cannot be placed: pod team-a/train-1: ", plan.Refusal.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_QueueLimitBelowTheGangsTotal_IsRefusedAsOneAskThoughEachMemberAloneFits()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        Pending(state, [Member("train", 0, 2, gpus: 4, queue: "team"), Member("train", 1, 2, gpus: 4, queue: "team")]);
        var tree = QueueTree.Build([new QueueSpec { Name = "team", Gpu = new QueueResourceSpec(6000, 1, 6000) }], "default");
        var queues = state.QueueSnapshot(tree, "kaiwo-scheduler");
        Assert.Null(QueueAdmission.Check(queues, "team", new ResourceVector(4000, 0, 0)));

        var plan = Plan(state, queues);

        Assert.Equal(FitOutcome.NeverFits, plan.Refusal!.Outcome);
        Assert.Equal("queue-limit", plan.Refusal.Code);
        Assert.StartsWith("gang team-a/train (2 pods, 8 GPUs as one ask): queue \"team\" would exceed its gpu limit of 6 GPU", plan.Refusal.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_MembersInDifferentQueues_IsRefusedNamingBoth()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, [Member("train", 0, 2, gpus: 1, queue: "x"), Member("train", 1, 2, gpus: 1, queue: "y")]);
        var tree = QueueTree.Build([new QueueSpec { Name = "x" }, new QueueSpec { Name = "y" }], "default");

        var plan = Plan(state, state.QueueSnapshot(tree, "kaiwo-scheduler"));

        Assert.Equal(FitOutcome.NeverFits, plan.Refusal!.Outcome);
        Assert.Equal("gang team-a/train cannot be placed: its members are in different queues: pod team-a/train-0 in \"x\", pod team-a/train-1 in \"y\"", plan.Refusal.Reason);
    }

    [Fact]
    public void Plan_SameStateTwice_GivesTheSameSlots()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"), Mi300XCpx("c"));
        Fill(state, "a", 3);
        Pending(state, Members("train", 5, size: 5, gpus: 3));

        var first = Plan(state);
        var second = Plan(state);

        Assert.True(first.Fits);
        Assert.Equal(
            first.Slots.Select(s => (s.Pod.Key, s.Node, s.Allocation.VisibleDevices)),
            second.Slots.Select(s => (s.Pod.Key, s.Node, s.Allocation.VisibleDevices)));
    }
}

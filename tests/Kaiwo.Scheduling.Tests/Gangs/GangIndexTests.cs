using Kaiwo.Scheduling.Requests;
using static Kaiwo.Scheduling.Tests.Gangs.GangPods;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Gangs;

/// <summary>The state's group index: a gang's members by its key, kept as pods come, change and go.</summary>
public sealed class GangIndexTests
{
    [Fact]
    public void GangMembers_PodsAddedAndOneRemoved_ListsTheRemainingMembersByKey()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, Members("train", 3, size: 3));
        state.UpsertPod(Pod("single", gpus: 1));

        state.RemovePod("uid-train-1");

        Assert.Equal(["team-a/train-0", "team-a/train-2"], state.GangMembers("team-a/train").Select(m => m.Pod.Key));
        Assert.Equal(["team-a/train"], state.GangKeys());
    }

    [Fact]
    public void GangKeys_LastMemberRemoved_ForgetsTheGang()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, Members("train", 1, size: 2));

        state.RemovePod("uid-train-0");

        Assert.Empty(state.GangKeys());
        Assert.Empty(state.GangMembers("team-a/train"));
    }

    [Fact]
    public void GangMembers_PodMovedToAnotherGroup_IsListedUnderItsNewGangOnly()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, Members("train", 2, size: 2));
        var moved = Member("train", 1, 2) with
        {
            Annotations = new Dictionary<string, string> { ["kaiwo.ai/pod-group"] = "eval", ["kaiwo.ai/pod-group-size"] = "1" },
        };

        state.UpsertPod(moved);

        Assert.Equal(["team-a/train-0"], state.GangMembers("team-a/train").Select(m => m.Pod.Key));
        Assert.Equal(["team-a/train-1"], state.GangMembers("team-a/eval").Select(m => m.Pod.Key));
    }

    [Fact]
    public void GangMembers_TerminatedMember_IsNotListed()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, Members("train", 2, size: 2));

        state.UpsertPod(Member("train", 0, 2) with { Phase = PodPhase.Failed });

        Assert.Equal(["team-a/train-1"], state.GangMembers("team-a/train").Select(m => m.Pod.Key));
    }

    [Fact]
    public void GangMembers_BoundMember_CarriesItsNodeAndDevices()
    {
        var state = Cluster(Mi300XSpx());
        var members = Members("train", 2, size: 2, gpus: 2);
        Pending(state, members);

        BindTo(state, members[0], "gpu-node-01");

        var bound = state.GangMembers("team-a/train")[0];
        Assert.Equal("gpu-node-01", bound.BoundNode);
        Assert.Equal(2, bound.Allocation!.Gpus.Count);
        Assert.Null(state.GangMembers("team-a/train")[1].BoundNode);
    }

    [Fact]
    public void GangMembers_PendingPodRegisteredFromFilter_IsIndexed()
    {
        var state = Cluster(Mi300XSpx());

        state.RegisterPending(Member("train", 0, 2) with { NodeName = "gpu-node-01" });

        var member = Assert.Single(state.GangMembers("team-a/train"));
        Assert.Null(member.BoundNode);
    }
}

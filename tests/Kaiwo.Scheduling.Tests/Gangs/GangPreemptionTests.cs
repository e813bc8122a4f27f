using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.Gangs.GangPods;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Gangs;

/// <summary>Preempt respects gangs: whole or not at all, and never for a pod of lower priority than the gang.</summary>
public sealed class GangPreemptionTests
{
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());

    private static IReadOnlyList<string>? VictimsOn(ClusterState state, string node, int priority, int gpus, params string[] victims) =>
        Preemption.VictimsOn(state, Pipeline, Pipeline.EvaluatePod(Pod("preemptor", gpus: gpus) with { Priority = priority }, DateTimeOffset.UnixEpoch), node, victims);

    /// <summary>The gang's members bound in order to the nodes given.</summary>
    private static ClusterState Placed(int priority, int gpus, params string[] nodes)
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", nodes.Length, size: nodes.Length, gpus: gpus, priority: priority);
        Pending(state, members);
        for (var i = 0; i < nodes.Length; i++)
        {
            BindTo(state, members[i], nodes[i]);
        }

        return state;
    }

    [Fact]
    public void VictimsOn_WholeGangOnTheNodeForAHigherPriorityPod_OffersEveryMember()
    {
        var state = Placed(priority: 10, gpus: 4, "a", "a");

        var victims = VictimsOn(state, "a", priority: 100, gpus: 8, "uid-train-0", "uid-train-1");

        Assert.Equal(["uid-train-0", "uid-train-1"], victims);
    }

    [Fact]
    public void VictimsOn_PartOfTheGangOnTheNode_DropsTheNode()
    {
        var state = Placed(priority: 10, gpus: 8, "a", "b");

        Assert.Null(VictimsOn(state, "a", priority: 100, gpus: 8, "uid-train-0"));
    }

    [Fact]
    public void VictimsOn_OnlySomeOfTheGangsMembersOnTheNodeProposed_DropsTheNode()
    {
        var state = Placed(priority: 10, gpus: 4, "a", "a");

        Assert.Null(VictimsOn(state, "a", priority: 100, gpus: 4, "uid-train-0"));
    }

    [Fact]
    public void VictimsOn_PreemptorOfLowerPriorityThanTheGang_NeverGetsAMember()
    {
        var state = Placed(priority: 100, gpus: 4, "a", "a");
        var single = Pod("single", gpus: 0) with { Priority = 0 };
        state.UpsertPod(single);

        var victims = GangPreemption.Allowed(state, preemptorPriority: 50, ["uid-train-0", "uid-train-1", single.Uid]);

        Assert.Equal([single.Uid], victims);
        Assert.Null(VictimsOn(state, "a", priority: 50, gpus: 8, "uid-train-0", "uid-train-1"));
    }

    [Fact]
    public void VictimsOn_MemberOfAGangThatHoldsNothingYet_IsJudgedAsAnyPod()
    {
        var state = Cluster(Mi300XSpx("a"));
        Pending(state, Members("train", 1, size: 2, gpus: 4, priority: 100));

        Assert.Equal(["uid-train-0"], GangPreemption.Allowed(state, preemptorPriority: 0, ["uid-train-0"]));
    }
}

using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.Gangs.GangPods;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Gangs;

/// <summary>The gang check, run by the pipeline as filter and bind run it: with the gang view the caller read.</summary>
public sealed class GangCheckTests
{
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;

    [Fact]
    public void EvaluatePod_FewerMembersThanTheMinimum_IsFullNowWaitingForTheGang()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, Members("train", 3, size: 8));

        var evaluation = Pipeline.EvaluatePod(Member("train", 0, 8), Now, gang: View(state, "team-a/train"));

        Assert.Equal(FitOutcome.FullNow, evaluation.Refusal!.Outcome);
        Assert.Equal("gang-waiting", evaluation.Refusal.Code);
        Assert.Equal("waiting for gang team-a/train: 3 of 8 members", evaluation.Refusal.Reason);
    }

    [Fact]
    public void EvaluatePod_MembersDisagreeOnTheSize_EveryMemberFitsNowhereNamingBoth()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, [Member("train", 0, 8), Member("train", 1, 4)]);
        var view = View(state, "team-a/train");

        foreach (var pod in new[] { Member("train", 0, 8), Member("train", 1, 4) })
        {
            var refusal = Pipeline.EvaluatePod(pod, Now, gang: view).Refusal!;

            Assert.Equal(FitOutcome.NeverFits, refusal.Outcome);
            Assert.Equal(
                "gang team-a/train cannot be placed: its members disagree on the size: pod team-a/train-0 declares 8 (kaiwo.ai/pod-group-size), pod team-a/train-1 declares 4 (kaiwo.ai/pod-group-size)",
                refusal.Reason);
        }
    }

    [Fact]
    public void EvaluatePod_MembersDisagreeOnTheScheduler_EveryMemberFitsNowhereNamingBoth()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, [Member("train", 0, 2), Member("train", 1, 2, scheduler: "default-scheduler")]);

        var refusal = Pipeline.EvaluatePod(Member("train", 0, 2), Now, gang: View(state, "team-a/train")).Refusal!;

        Assert.Equal(FitOutcome.NeverFits, refusal.Outcome);
        Assert.Contains("disagree on spec.schedulerName: pod team-a/train-0 has \"kaiwo-scheduler\", pod team-a/train-1 has \"default-scheduler\"", refusal.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void EvaluatePod_OneMemberWithAnUnreadableSize_ItsSiblingsAreRefusedWithItsReason()
    {
        var state = Cluster(Mi300XSpx());
        var bad = Member("train", 1, 2) with
        {
            Annotations = new Dictionary<string, string> { ["kaiwo.ai/pod-group"] = "train", ["kaiwo.ai/pod-group-size"] = "two" },
        };
        Pending(state, [Member("train", 0, 2), bad]);

        var refusal = Pipeline.EvaluatePod(Member("train", 0, 2), Now, gang: View(state, "team-a/train")).Refusal!;

        Assert.Equal(FitOutcome.NeverFits, refusal.Outcome);
        Assert.Equal("gang team-a/train cannot be placed: pod team-a/train-1: kaiwo.ai/pod-group-size is \"two\"; it must be a whole number from 1 to 10000", refusal.Reason);
    }

    [Fact]
    public void EvaluatePod_UnreadableSizeWithoutAGangView_FitsNowhere()
    {
        var pod = Pod("w", new Dictionary<string, string> { ["kaiwo.ai/pod-group"] = "g", ["kaiwo.ai/pod-group-size"] = "0" }, gpus: 1);

        var refusal = Pipeline.EvaluatePod(pod, Now).Refusal!;

        Assert.Equal(FitOutcome.NeverFits, refusal.Outcome);
        Assert.Equal("gang-invalid", refusal.Code);
    }

    [Fact]
    public void EvaluatePod_CompleteGangWhosePlanDoesNotFit_IsFullNowWithThePlansReason()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, Members("train", 2, size: 2));
        var refusal = FitResult.Full("gang-no-room", "gang team-a/train needs 8 GPUs in 2 pods; 1 pods can be placed now");
        var view = GangView.Of("team-a/train", state.GangMembers("team-a/train"), planRefusal: refusal);

        var evaluation = Pipeline.EvaluatePod(Member("train", 0, 2), Now, gang: view);

        Assert.Same(refusal, evaluation.Refusal);
    }

    [Fact]
    public void EvaluatePod_CompleteGangNotPlannedYet_IsFullNowUntilItsPlanHolds()
    {
        var state = Cluster(Mi300XSpx());
        Pending(state, Members("train", 2, size: 2));

        var refusal = Pipeline.EvaluatePod(Member("train", 0, 2), Now, gang: View(state, "team-a/train")).Refusal!;

        Assert.Equal(FitOutcome.FullNow, refusal.Outcome);
        Assert.Equal("gang team-a/train has 2 of 2 members and waits for its plan", refusal.Reason);
    }

    [Fact]
    public void EvaluatePod_MemberHoldingItsSlot_PassesAndFitsOnlyItsSlotsNode()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 2, size: 2, gpus: 4);
        Pending(state, members);
        var plan = GangPlanner.Plan(View(state, "team-a/train"), state.Nodes(), Pipeline, null, Now);
        Assert.True(state.Hold([.. plan.Slots.Select(s => new Reservation(s.Pod.Uid, s.Pod.Key, s.Node, s.Allocation, ReservationKind.Gang, "team-a/train", Now.AddMinutes(1)))]).Held);
        state.TryGetReservation("uid-train-0", out var reservation);

        var evaluation = Pipeline.EvaluatePod(members[0], Now, reservation: reservation, gang: View(state, "team-a/train"));

        Assert.Null(evaluation.Refusal);
        state.TryGetNode("a", out var a);
        state.TryGetNode("b", out var b);
        Assert.True(Pipeline.EvaluateNode(evaluation, a!).Fits);
        Assert.Equal("gang-slot", Pipeline.EvaluateNode(evaluation, b!).Code);
    }

    [Fact]
    public void EvaluatePod_LateMemberOfAGangThatStarted_IsPlacedAlone()
    {
        var state = Cluster(Mi300XSpx("a"), Mi300XSpx("b"));
        var members = Members("train", 3, size: 2, gpus: 4);
        Pending(state, members);
        BindTo(state, members[0], "a");
        BindTo(state, members[1], "b");

        var evaluation = Pipeline.EvaluatePod(members[2], Now, gang: View(state, "team-a/train"));

        Assert.Null(evaluation.Refusal);
    }

    [Fact]
    public void EvaluatePod_PodOfNoGang_IgnoresTheGangCheck()
    {
        Assert.Null(Pipeline.EvaluatePod(Pod("single", gpus: 2), Now).Refusal);
    }
}

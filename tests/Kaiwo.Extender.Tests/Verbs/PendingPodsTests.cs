using Kaiwo.Extender.Verbs;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>The pods remembered from filter: bounded, the newest copy of each, the one seen longest ago forgotten first.</summary>
public sealed class PendingPodsTests
{
    private static PodFacts Pod(int i, string fraction = "0.5") => new()
    {
        Namespace = "team-a",
        Name = $"p{i}",
        Uid = $"uid-{i}",
        Annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-fraction"] = fraction },
    };

    [Fact]
    public void Remember_StreamOfNewPods_StaysAtTheCapacityAndReturnsWhatItForgot()
    {
        var pending = new PendingPods(100);
        var forgotten = 0;

        for (var i = 0; i < 100_000; i++)
        {
            forgotten += pending.Remember(Pod(i), registered: i % 2 == 0).Count;
        }

        Assert.Equal(100, pending.Count);
        Assert.Equal(100_000 - 100, forgotten);
        Assert.NotNull(pending.Find("uid-99999"));
        Assert.Null(pending.Find("uid-99899"));
    }

    [Fact]
    public void Remember_SamePodAgain_KeepsTheNewestCopyAndMakesItTheYoungest()
    {
        var pending = new PendingPods(2);
        pending.Remember(Pod(1), registered: true);
        pending.Remember(Pod(2), registered: false);

        pending.Remember(Pod(1, "0.25"), registered: false);
        var forgotten = pending.Remember(Pod(3), registered: false);

        Assert.Equal("uid-2", Assert.Single(forgotten).Pod.Uid);
        var kept = pending.Find("uid-1")!;
        Assert.Equal("0.25", kept.Pod.Annotations["kaiwo.ai/gpu-fraction"]);
        Assert.True(kept.Registered, "a pod registered once stays registered until it is forgotten");
    }

    [Fact]
    public void Forget_ThenRememberAgain_LeavesNothingBehind()
    {
        var pending = new PendingPods(10);
        for (var i = 0; i < 10_000; i++)
        {
            pending.Remember(Pod(i), registered: false);
            pending.Forget($"uid-{i}");
        }

        Assert.Equal(0, pending.Count);
    }
}

using Kaiwo.Scheduling.Pipeline;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.State;

/// <summary>Which binds are ours: the pod of one of our schedulers, named as the call names it, not deleted, not bound elsewhere.</summary>
public sealed class BindRulesTests
{
    private static readonly string[] Ours = ["kaiwo-scheduler"];

    private static readonly BindTarget Target = new("team-a", "p", "uid-p", "gpu-node-01");

    private static Kaiwo.Scheduling.Requests.PodFacts OurPod() => Pod("p", uid: "uid-p") with { Namespace = "team-a", SchedulerName = "kaiwo-scheduler" };

    [Fact]
    public void Refusal_OurPendingPod_IsNull() => Assert.Null(BindRules.Refusal(Target, OurPod(), null, Ours));

    [Fact]
    public void Refusal_BoundToTheSameNode_IsNullSoARepeatedBindSucceeds() =>
        Assert.Null(BindRules.Refusal(Target, OurPod() with { NodeName = "gpu-node-01" }, null, Ours));

    [Theory]
    [InlineData("scheduler", "spec.schedulerName \"default-scheduler\"")]
    [InlineData("no-scheduler", "spec.schedulerName \"default-scheduler\"")]
    [InlineData("deleting", "being deleted")]
    [InlineData("elsewhere", "already bound to gpu-node-02, not gpu-node-01")]
    [InlineData("renamed", "belongs to team-a/q, not team-a/p")]
    public void Refusal_PodThatIsNotOurs_SaysWhy(string why, string reason)
    {
        var pod = why switch
        {
            "scheduler" => OurPod() with { SchedulerName = "default-scheduler" },
            "no-scheduler" => OurPod() with { SchedulerName = null },
            "deleting" => OurPod() with { IsDeleting = true },
            "elsewhere" => OurPod() with { NodeName = "gpu-node-02" },
            _ => OurPod() with { Name = "q" },
        };

        Assert.Contains(reason, BindRules.Refusal(Target, pod, null, Ours), StringComparison.Ordinal);
    }

    [Fact]
    public void Refusal_ClusterCopyBoundElsewhere_WinsOverAnOlderRequestCopy()
    {
        var inCluster = OurPod() with { NodeName = "gpu-node-02" };

        Assert.Contains("already bound to gpu-node-02", BindRules.Refusal(Target, OurPod(), inCluster, Ours), StringComparison.Ordinal);
    }
}

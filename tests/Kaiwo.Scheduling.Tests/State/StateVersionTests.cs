using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.State;

/// <summary>
/// <see cref="ClusterState.Version"/> and <see cref="ClusterState.QueueVersion"/> move when something the decisions
/// read moved, and only then: node heartbeats and pod status updates are most of a cluster's events.
/// </summary>
public sealed class StateVersionTests
{
    private const string Scheduler = "kaiwo-scheduler";

    private static ClusterState WithNode(NodeFacts node)
    {
        var state = new ClusterState();
        state.UpsertNode(node);
        return state;
    }

    /// <summary>The same node as a new object: equal labels and allocatable, new dictionaries, annotations nobody reads.</summary>
    private static NodeFacts Heartbeat(NodeFacts node) => node with
    {
        Labels = new Dictionary<string, string>(node.Labels),
        Allocatable = new Dictionary<string, string>(node.Allocatable),
        Annotations = new Dictionary<string, string>(node.Annotations) { ["node.alpha.kubernetes.io/ttl"] = "0" },
    };

    private static (long Version, long QueueVersion) Versions(ClusterState state) => (state.Version, state.QueueVersion);

    private static PodFacts Queued(PodFacts pod, string queue) => pod with
    {
        Labels = new Dictionary<string, string> { [WellKnown.QueueLabel] = queue },
        SchedulerName = Scheduler,
    };

    [Fact]
    public void UpsertNode_HeartbeatWithTheSameInputs_MovesNoVersionAndKeepsTheNodeSnapshot()
    {
        var state = WithNode(Mi300XSpx());
        var before = Versions(state);
        state.TryGetNode("gpu-node-01", out var node);

        state.UpsertNode(Heartbeat(Mi300XSpx()));

        state.TryGetNode("gpu-node-01", out var after);
        Assert.Equal(before, Versions(state));
        Assert.Same(node, after);
    }

    [Fact]
    public void UpsertNode_AllocatableCpuHalved_MovesBothVersionsAndTheCapacity()
    {
        var state = WithNode(Mi300XSpx());
        var before = Versions(state);

        state.UpsertNode(Mi300XSpx() with { Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "8", ["cpu"] = "96", ["memory"] = "1536Gi" } });

        Assert.True(state.Version > before.Version);
        Assert.True(state.QueueVersion > before.QueueVersion);
        Assert.Equal(new ResourceVector(8_000, 96_000, 1536 * 1024), state.QueueTotals(Scheduler).Capacity);
    }

    [Fact]
    public void UpsertNode_OnlyTheUtilizationAnnotationChanged_MovesVersionButNotQueueVersion()
    {
        var state = WithNode(Mi300XSpx());
        var before = Versions(state);

        state.UpsertNode(Mi300XSpx() with { Annotations = new Dictionary<string, string> { [WellKnown.UtilizationAnnotation] = "{}" } });

        Assert.True(state.Version > before.Version);
        Assert.Equal(before.QueueVersion, state.QueueVersion);
        state.TryGetNode("gpu-node-01", out var node);
        Assert.Equal("{}", node!.Facts.Annotations[WellKnown.UtilizationAnnotation]);
    }

    [Fact]
    public void RemoveNode_KnownNode_TakesItsCapacityOutOfTheTotals()
    {
        var state = WithNode(Mi300XSpx());
        state.UpsertNode(CpuOnly());
        var before = state.QueueVersion;

        state.RemoveNode("gpu-node-01");

        Assert.True(state.QueueVersion > before);
        Assert.Equal(new ResourceVector(0, 192_000, 1536 * 1024), state.QueueTotals(Scheduler).Capacity);
    }

    [Fact]
    public void RemoveNode_UnknownNode_MovesNoVersion()
    {
        var state = WithNode(Mi300XSpx());
        var before = Versions(state);

        state.RemoveNode("gpu-node-99");

        Assert.Equal(before, Versions(state));
    }

    [Fact]
    public void UpsertPod_StatusOnlyUpdateOfABoundPod_MovesNoVersionAndKeepsTheNodeSnapshot()
    {
        var state = WithNode(Mi300XSpx());
        var pod = Queued(Fraction("half", "0.5"), "research");
        var recorded = ClusterStateTests.RecordedPod(pod, ClusterStateTests.Bind(state, pod, "gpu-node-01").Allocation!);
        state.UpsertPod(recorded with { Phase = PodPhase.Pending });
        var before = Versions(state);
        state.TryGetNode("gpu-node-01", out var node);

        // Pending to Running on the same node with the same record: a bound pod either way.
        state.UpsertPod(recorded with { Annotations = new Dictionary<string, string>(recorded.Annotations) });
        state.UpsertPod(recorded);

        state.TryGetNode("gpu-node-01", out var after);
        Assert.Equal(before, Versions(state));
        Assert.Same(node, after);
    }

    [Fact]
    public void UpsertPod_StatusOnlyUpdateOfAPendingPod_MovesNoVersion()
    {
        var state = WithNode(Mi300XSpx());
        var pod = Queued(Pod("waiting", gpus: 2), "research");
        state.UpsertPod(pod);
        var before = Versions(state);

        state.UpsertPod(pod with { Labels = new Dictionary<string, string>(pod.Labels) });

        Assert.Equal(before, Versions(state));
    }

    [Fact]
    public void UpsertPod_PendingPodSeenBound_MovesItFromDemandToUsage()
    {
        var state = WithNode(Mi300XSpx());
        var pod = Queued(Pod("job", gpus: 2), "research");
        state.UpsertPod(pod);
        var pending = state.QueueTotals(Scheduler);
        var allocation = ClusterStateTests.Bind(state, pod, "gpu-node-01").Allocation!;

        state.UpsertPod(ClusterStateTests.RecordedPod(pod, allocation));

        var bound = state.QueueTotals(Scheduler);
        Assert.True(bound.Version > pending.Version);
        Assert.Equal(2_000, pending.PendingByLabel["research"].Sum.Gpu);
        Assert.False(bound.PendingByLabel.ContainsKey("research"));
        Assert.Equal((new ResourceVector(2_000, 0, 0), 1), bound.BoundByLabel["research"]);
    }

    [Fact]
    public void UpsertPod_QueueLabelChanged_MovesTheUsageBetweenLabelsInOneStep()
    {
        var state = WithNode(Mi300XSpx());
        var pod = Queued(Pod("job", gpus: 1), "research");
        var recorded = ClusterStateTests.RecordedPod(pod, ClusterStateTests.Bind(state, pod, "gpu-node-01").Allocation!);
        state.UpsertPod(recorded);
        var before = state.QueueVersion;

        state.UpsertPod(Queued(recorded, "prod"));

        var totals = state.QueueTotals(Scheduler);
        Assert.Equal(before + 1, totals.Version);
        Assert.Equal(["prod"], totals.BoundByLabel.Keys);
    }

    [Fact]
    public void UpsertPod_StatusUpdateOfAForeignWholeGpuPodWithoutARecord_KeepsTheGpusItWasGiven()
    {
        // Another scheduler's pod asking amd.com/gpu, without our record: it holds the fullest free GPUs. A status
        // update must not place it again (on GPUs its own hold already took, or nowhere).
        var state = WithNode(Mi300XSpx());
        var pod = Pod("foreign", gpus: 2) with { NodeName = "gpu-node-01", Phase = PodPhase.Running, SchedulerName = "default-scheduler" };
        state.UpsertPod(pod);
        state.TryGetPod(pod.Uid, out _, out var held);
        var before = Versions(state);

        state.UpsertPod(pod with { Labels = new Dictionary<string, string>() });

        state.TryGetPod(pod.Uid, out _, out var after);
        Assert.Equal(before, Versions(state));
        Assert.Same(held, after);
        Assert.Equal(2, after!.Gpus.Count);
    }

    [Fact]
    public void RegisterPending_SamePodAgain_MovesNoVersion()
    {
        var state = WithNode(Mi300XSpx());
        var pod = Queued(Fraction("half", "0.5"), "research");
        state.RegisterPending(pod);
        var before = Versions(state);

        state.RegisterPending(pod with { Labels = new Dictionary<string, string>(pod.Labels) });

        Assert.Equal(before, Versions(state));
    }
}

using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.State;

public sealed class ClusterStateTests
{
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());

    private static ReserveResult Bind(ClusterState state, PodFacts pod, string node)
    {
        var evaluation = Pipeline.EvaluatePod(pod, DateTimeOffset.UnixEpoch);
        return state.Reserve(pod, node, candidate => Pipeline.EvaluateNode(evaluation, candidate));
    }

    private static ClusterState WithNodes(params Kaiwo.Scheduling.Inventory.NodeFacts[] nodes)
    {
        var state = new ClusterState();
        foreach (var node in nodes)
        {
            state.UpsertNode(node);
        }

        return state;
    }

    [Fact]
    public void Reserve_SamePodSameNodeTwice_SucceedsWithoutASecondAllocation()
    {
        var state = WithNodes(Mi300XSpx());
        var pod = Fraction("half", "0.5");

        var first = Bind(state, pod, "gpu-node-01");
        var second = Bind(state, pod, "gpu-node-01");

        Assert.Equal(ReserveStatus.Reserved, first.Status);
        Assert.Equal(ReserveStatus.AlreadyBoundHere, second.Status);
        Assert.True(second.Allocation!.SameAs(first.Allocation!));
        state.TryGetNode("gpu-node-01", out var node);
        Assert.Single(node!.Usage.Holds);
        Assert.Equal(500, node.Usage.Gpus[0].ComputeMilli);
    }

    [Fact]
    public void Reserve_BoundPodToAnotherNode_IsRefused()
    {
        var state = WithNodes(Mi300XSpx("a"), Mi300XSpx("b"));
        var pod = Fraction("half", "0.5");
        Bind(state, pod, "a");

        var again = Bind(state, pod, "b");

        Assert.Equal(ReserveStatus.BoundElsewhere, again.Status);
        Assert.Contains("already bound to a", again.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Reserve_UnknownNode_IsRefused()
    {
        Assert.Equal(ReserveStatus.UnknownNode, Bind(WithNodes(), Fraction("f", "0.5"), "nowhere").Status);
    }

    [Fact]
    public void Reserve_ManyConcurrentBindsForTheLastCapacity_ExactlyAsManySucceedAsFit()
    {
        // One GPU node: 8 GPUs of 1.0. 40 pods of 0.25 race for 32 quarters.
        var state = WithNodes(Mi300XSpx());
        var pods = Enumerable.Range(0, 40).Select(i => Fraction($"q{i}", "0.25")).ToArray();

        var results = new ReserveResult[pods.Length];
        using var start = new ManualResetEventSlim();
        var threads = pods.Select((pod, i) => new Thread(() =>
        {
            start.Wait();
            results[i] = Bind(state, pod, "gpu-node-01");
        })).ToList();
        threads.ForEach(t => t.Start());
        start.Set();
        threads.ForEach(t => t.Join());

        Assert.Equal(32, results.Count(r => r.Status == ReserveStatus.Reserved));
        Assert.Equal(8, results.Count(r => r.Status == ReserveStatus.DoesNotFit));
        state.TryGetNode("gpu-node-01", out var node);
        Assert.All(node!.Usage.Gpus, g => Assert.Equal(1000, g.ComputeMilli));
        Assert.Empty(node.Usage.Conflicts);
    }

    [Fact]
    public void Reserve_SamePodRacingToTwoNodes_BindsExactlyOnce()
    {
        var state = WithNodes(Mi300XSpx("a"), Mi300XSpx("b"));
        var pod = Pod("whole", gpus: 8);
        var results = new ReserveResult[2];

        Parallel.For(0, 2, i => results[i] = Bind(state, pod, i == 0 ? "a" : "b"));

        Assert.Single(results, r => r.Status == ReserveStatus.Reserved);
        Assert.Single(results, r => r.Status == ReserveStatus.BoundElsewhere);
    }

    [Fact]
    public void UpsertPod_TerminatedPod_FreesItsDevicesAtOnce()
    {
        var state = WithNodes(Mi300XSpx());
        var pod = Fraction("half", "0.5");
        var reserved = Bind(state, pod, "gpu-node-01");
        var recorded = RecordedPod(pod, reserved.Allocation!);
        state.UpsertPod(recorded);

        state.UpsertPod(recorded with { Phase = PodPhase.Succeeded });

        state.TryGetNode("gpu-node-01", out var node);
        Assert.Empty(node!.Usage.Holds);
        Assert.True(node.Usage.Gpus[0].IsIdle);
    }

    [Fact]
    public void RemovePod_DeletedPod_FreesItsDevices()
    {
        var state = WithNodes(Mi300XSpx());
        var pod = Pod("w", gpus: 4);
        Bind(state, pod, "gpu-node-01");

        state.RemovePod(pod.Uid);

        state.TryGetNode("gpu-node-01", out var node);
        Assert.All(node!.Usage.Gpus, g => Assert.True(g.IsIdle));
    }

    [Fact]
    public void UpsertPod_BoundWithoutRecordAskingGpus_HoldsThatManyWholeGpus()
    {
        var state = WithNodes(Mi300XSpx());
        var foreign = Pod("other-scheduler", gpus: 3) with { NodeName = "gpu-node-01", Phase = PodPhase.Running };

        state.UpsertPod(foreign);

        state.TryGetNode("gpu-node-01", out var node);
        Assert.Equal(3, node!.Usage.Gpus.Count(g => g.HeldWhole));
        var fit = GpuPlacer.Fit(node.Usage, Parse(Pod("six", gpus: 6)), new PlacementOptions());
        Assert.Equal(FitOutcome.FullNow, fit.Outcome);
    }

    [Fact]
    public void UpsertPod_PodSeenBeforeItsNode_TakesItsDevicesWhenTheNodeArrives()
    {
        var state = new ClusterState();
        var allocation = new PodAllocation("gpu-node-01", AllocationKind.Whole, GpuIsolation.TimeSlicing, [new GpuGrant(5, [], [0, 1, 2, 3, 4, 5, 6, 7], [5], 1000, 196608)]);
        state.UpsertPod(RecordedPod(Pod("early", gpus: 1), allocation));

        state.UpsertNode(Mi300XSpx());

        state.TryGetNode("gpu-node-01", out var node);
        Assert.True(node!.Usage.Gpus[5].HeldWhole);
    }

    [Fact]
    public void UpsertPod_UnreadableRecord_WarnsAndCountsTheGpusWhole()
    {
        var state = WithNodes(Mi300XSpx());
        var pod = Pod("broken", gpus: 2) with
        {
            NodeName = "gpu-node-01",
            Phase = PodPhase.Running,
            Annotations = new Dictionary<string, string> { [WellKnown.AllocationAnnotation] = "{oops" },
        };

        var warning = state.UpsertPod(pod);

        Assert.Contains("kaiwo.ai/gpu-allocation", warning, StringComparison.Ordinal);
        state.TryGetNode("gpu-node-01", out var node);
        Assert.Equal(2, node!.Usage.Gpus.Count(g => g.HeldWhole));
    }

    [Fact]
    public void UpsertNode_RelabelledToCpxUnderRunningPods_KeepsHoldsAndTheirGpuTakesNoNewPods()
    {
        var state = WithNodes(Mi300XSpx("n"));
        var pod = Fraction("half", "0.5");
        var reserved = Bind(state, pod, "n");
        state.UpsertPod(RecordedPod(pod, reserved.Allocation!));

        state.UpsertNode(Mi300XCpx("n"));

        state.TryGetNode("n", out var node);
        Assert.Single(node!.Usage.Holds);
        var conflict = Assert.Single(node.Usage.Conflicts);
        Assert.Equal(0, conflict.Gpu);
        Assert.Equal(["team-a/half"], conflict.Pods);
        Assert.Contains("unpartitioned", conflict.Reason, StringComparison.Ordinal);

        // The conflict is GPU 0's alone: the other GPUs keep taking pods (until this change, the whole node refused them).
        var fit = GpuPlacer.Fit(node.Usage, Parse(Fraction("new", "0.125", "xcd")), new PlacementOptions());
        Assert.Equal(FitOutcome.Fits, fit.Outcome);
        Assert.NotEqual(0, Assert.Single(fit.Allocation!.Gpus).Index);
    }

    internal static PodFacts RecordedPod(PodFacts pod, PodAllocation allocation) => pod with
    {
        NodeName = allocation.Node,
        Phase = PodPhase.Running,
        Annotations = new Dictionary<string, string>(pod.Annotations)
        {
            [WellKnown.AllocationAnnotation] = AllocationRecord.Write(allocation),
            [WellKnown.VisibleDevicesAnnotation] = allocation.VisibleDevices,
        },
    };
}

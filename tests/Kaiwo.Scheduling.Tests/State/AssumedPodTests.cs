using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.State;

public sealed class AssumedPodTests
{
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 14, 0, 0, TimeSpan.Zero);

    private static (ClusterState State, PodFacts Pod, ReserveResult Result) Assumed()
    {
        var state = new ClusterState();
        state.UpsertNode(Mi300XSpx());
        var pod = Fraction("half", "0.5");
        state.UpsertPod(pod);
        var evaluation = Pipeline.EvaluatePod(pod, Now);
        var result = state.Reserve(pod, "gpu-node-01", c => Pipeline.EvaluateNode(evaluation, c), Now.AddSeconds(30));
        return (state, pod, result);
    }

    private static int Holds(ClusterState state)
    {
        state.TryGetNode("gpu-node-01", out var node);
        return node!.Usage.Holds.Count;
    }

    [Fact]
    public void UpsertPod_PendingEventOfAnAssumedPod_KeepsTheReservation()
    {
        var (state, pod, _) = Assumed();

        state.UpsertPod(pod with { Annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-fraction"] = "0.5", ["unrelated"] = "x" } });

        Assert.Equal(1, Holds(state));
        Assert.Equal(1, state.AssumedCount);
    }

    [Fact]
    public void ExpireAssumed_BeforeTheExpiry_ReleasesNothing()
    {
        var (state, _, _) = Assumed();

        Assert.Empty(state.ExpireAssumed(Now.AddSeconds(29)));
        Assert.Equal(1, Holds(state));
    }

    [Fact]
    public void ExpireAssumed_NeverSeenBound_ReleasesTheDevices()
    {
        var (state, pod, _) = Assumed();

        var expired = state.ExpireAssumed(Now.AddSeconds(30));

        Assert.Equal([pod.Key], expired);
        Assert.Equal(0, Holds(state));
        Assert.Equal(0, state.AssumedCount);
    }

    [Fact]
    public void UpsertPod_SeenBoundWithTheRecord_ConfirmsSoExpiryChangesNothing()
    {
        var (state, pod, result) = Assumed();

        state.UpsertPod(ClusterStateTests.RecordedPod(pod, result.Allocation!));

        Assert.Equal(0, state.AssumedCount);
        Assert.Empty(state.ExpireAssumed(Now.AddMinutes(5)));
        Assert.Equal(1, Holds(state));
    }

    [Fact]
    public void RemovePodUnlessAssumed_AssumedPodMissingFromAList_IsKept()
    {
        var (state, pod, _) = Assumed();

        state.RemovePodUnlessAssumed(pod.Uid);

        Assert.Equal(1, Holds(state));
    }

    [Fact]
    public void Release_AfterAFailedBinding_FreesTheDevicesAndTheRecordOnAnUnboundPodHoldsNothing()
    {
        var (state, pod, result) = Assumed();

        state.Release(pod.Uid);
        var recordedButUnbound = ClusterStateTests.RecordedPod(pod, result.Allocation!) with { NodeName = null, Phase = PodPhase.Pending };
        state.UpsertPod(recordedButUnbound);

        Assert.Equal(0, Holds(state));
    }

    [Fact]
    public async Task ConcurrentBindsAndWatchEvents_NeverOverAllocate()
    {
        // Binds race with a "watch" that confirms, terminates and deletes pods, on one 8-GPU node.
        var state = new ClusterState();
        state.UpsertNode(Mi300XSpx());
        var bound = new System.Collections.Concurrent.ConcurrentQueue<PodFacts>();
        using var stop = new CancellationTokenSource();

        var binders = Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 300; i++)
            {
                var pod = (i % 3) switch
                {
                    0 => Fraction($"b{t}-{i}", "0.25"),
                    1 => Pod($"b{t}-{i}", gpus: 1 + (i % 4)),
                    _ => Fraction($"b{t}-{i}", "0.5", "mps"),
                };
                var evaluation = Pipeline.EvaluatePod(pod, Now);
                var result = state.Reserve(pod, "gpu-node-01", c => Pipeline.EvaluateNode(evaluation, c), Now.AddSeconds(30));
                if (result.Status == ReserveStatus.Reserved && result.Allocation is { } allocation)
                {
                    bound.Enqueue(ClusterStateTests.RecordedPod(pod, allocation));
                }
            }
        })).ToArray();

        var watcher = Task.Run(() =>
        {
            var step = 0;
            while (!stop.IsCancellationRequested || !bound.IsEmpty)
            {
                if (!bound.TryDequeue(out var pod))
                {
                    Thread.Yield();
                    continue;
                }

                state.UpsertPod(pod);
                switch (step++ % 3)
                {
                    case 0:
                        state.UpsertPod(pod with { Phase = PodPhase.Succeeded });
                        break;
                    case 1:
                        state.RemovePod(pod.Uid);
                        break;
                }

                AssertNotOverAllocated(state);
            }
        });

        await Task.WhenAll(binders);
        await stop.CancelAsync();
        await watcher;
        AssertNotOverAllocated(state);
    }

    private static void AssertNotOverAllocated(ClusterState state)
    {
        state.TryGetNode("gpu-node-01", out var node);
        var usage = node!.Usage;
        Assert.Empty(usage.Conflicts);
        for (var i = 0; i < usage.Gpus.Count; i++)
        {
            var g = usage.Gpus[i];
            Assert.True(!g.HeldWhole || g.SharedPods == 0, $"GPU {i} is held whole and shared");
            Assert.InRange(g.ComputeMilli, 0, 1000);
            Assert.InRange(g.MemoryMiB, 0, usage.Inventory.Gpus[i].MemoryMiB);
        }
    }
}

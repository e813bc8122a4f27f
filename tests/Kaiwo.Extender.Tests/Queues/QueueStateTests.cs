using System.Text.Json;
using Kaiwo.Extender.Live;
using Kaiwo.Scheduling.Queues;
using Microsoft.Extensions.Logging.Abstractions;
using static Kaiwo.Extender.Tests.Queues.QueueHarness;

namespace Kaiwo.Extender.Tests.Queues;

/// <summary>
/// The queue snapshot is exact as of every call: a filter right after a bind sees the bind, and events that change
/// nothing the queues count build nothing.
/// </summary>
public sealed class QueueStateTests
{
    private static QueueHarness WithResearchLimit(decimal limit)
    {
        var harness = new QueueHarness();
        harness.State.UpsertNode(Node("gpu-a"));
        harness.Catalog.Replace([QueueObject("research", quota: limit, limit: limit)]);
        return harness;
    }

    [Fact]
    public void Filter_RightAfterABindTookTheQueuesLimit_RefusesTheNextPodWithTheReasonTheBindGives()
    {
        var harness = WithResearchLimit(1);
        var first = harness.Arrive(Pod("first", "research", gpus: 1));
        var second = harness.Arrive(Pod("second", "research", gpus: 1));
        Assert.Null(Verdict(harness.Filter(first, "gpu-a"), "gpu-a"));
        Assert.Null(harness.Bind(first, "gpu-a"));

        // The clock stands still: no snapshot may outlive the bind, however young it is.
        var filter = harness.Filter(second, "gpu-a");
        var bind = harness.Bind(second, "gpu-a");

        const string Reason = "queue \"research\" would exceed its gpu limit of 1 GPU: usage 1 GPU + request 1 GPU";
        Assert.Equal(Reason, filter.FailedAndUnresolvableNodes["gpu-a"]);
        Assert.Equal($"pod team-a/second cannot be placed: {Reason}", bind);
    }

    [Fact]
    public void Current_NothingChanged_ReturnsTheSamePublishedSnapshot()
    {
        var harness = WithResearchLimit(2);

        var first = harness.Queues.Current();
        var second = harness.Queues.Current();

        Assert.NotNull(first);
        Assert.Same(first, second);
    }

    [Fact]
    public void Current_NodeHeartbeatAndPodStatusEvents_ReturnTheSameSnapshotAndMoveNoVersion()
    {
        var harness = WithResearchLimit(2);
        var nodes = new NodeTarget(harness.State);
        var pods = new PodTarget(harness.State, NullLogger<PodTarget>.Instance);
        nodes.Apply("MODIFIED", NodeJson("1", "2026-12-01T12:00:00Z"));
        var pod = harness.Arrive(Pod("running", "research", gpus: 1));
        Assert.Null(harness.Bind(pod, "gpu-a"));
        harness.State.TryGetPod(pod.Uid, out var bound, out _);
        pods.Apply("MODIFIED", PodJson(bound!, "Pending", "10"));
        var snapshot = harness.Queues.Current();
        var versions = (harness.State.Version, harness.State.QueueVersion);

        nodes.Apply("MODIFIED", NodeJson("2", "2026-12-01T12:00:10Z"));
        pods.Apply("MODIFIED", PodJson(bound!, "Running", "11"));
        pods.Apply("MODIFIED", PodJson(bound!, "Running", "12"));

        Assert.Equal(versions, (harness.State.Version, harness.State.QueueVersion));
        Assert.Same(snapshot, harness.Queues.Current());
        Assert.Equal(1_000, snapshot!.UsageOf("research").Gpu);
    }

    [Fact]
    public void Current_PodDeleted_PublishesANewSnapshotWithoutItsUsage()
    {
        var harness = WithResearchLimit(2);
        var pod = harness.Arrive(Pod("running", "research", gpus: 1));
        Assert.Null(harness.Bind(pod, "gpu-a"));
        var before = harness.Queues.Current()!;

        harness.State.RemovePod(pod.Uid);

        var after = harness.Queues.Current()!;
        Assert.NotSame(before, after);
        Assert.True(after.Version > before.Version);
        Assert.Equal(1_000, before.UsageOf("research").Gpu);
        Assert.Equal(0, after.UsageOf("research").Gpu);
    }

    [Fact]
    public void Current_QueueLimitRaised_AdmitsAtOnceWhatTheOldLimitRefused()
    {
        var harness = WithResearchLimit(1);
        Assert.Null(harness.Bind(harness.Arrive(Pod("first", "research", gpus: 1)), "gpu-a"));
        var second = harness.Arrive(Pod("second", "research", gpus: 1));
        Assert.NotNull(Verdict(harness.Filter(second, "gpu-a"), "gpu-a"));

        harness.Catalog.Apply("MODIFIED", QueueObject("research", quota: 1, limit: 2));

        Assert.Null(Verdict(harness.Filter(second, "gpu-a"), "gpu-a"));
        Assert.Null(harness.Bind(second, "gpu-a"));
    }

    [Fact]
    public void Current_NoQueues_IsNullAndStaysTheSameThroughPodChanges()
    {
        var harness = new QueueHarness();
        harness.State.UpsertNode(Node("gpu-a"));

        Assert.Null(harness.Queues.Current());
        Assert.Null(harness.Bind(harness.Arrive(Pod("any", null, gpus: 1)), "gpu-a"));
        Assert.Null(harness.Queues.Current());
    }

    [Fact]
    public void Current_CatalogueNotServed_IsNullEvenWithQueuesListed()
    {
        var harness = WithResearchLimit(1);
        Assert.NotNull(harness.Queues.Current());

        harness.Catalog.SetAvailable(false, "the KaiwoQueue CRD is not installed");

        Assert.Null(harness.Queues.Current());
    }

    [Fact]
    public void QueueTable_RightAfterABind_ShowsTheBindsUsage()
    {
        var harness = WithResearchLimit(2);
        Assert.Equal("0 GPU", Row(harness, "research").Allocated.Gpu);

        Assert.Null(harness.Bind(harness.Arrive(Pod("half", "research", fraction: "0.5")), "gpu-a"));

        Assert.Equal("0.5 GPU", Row(harness, "research").Allocated.Gpu);
    }

    private static QueueRow Row(QueueHarness harness, string queue) => QueueTable.Build(harness.Queues.Current()!).Single(r => r.Name == queue);

    /// <summary>The node as a watch event shows it: heartbeats change the resourceVersion and the conditions only.</summary>
    private static JsonElement NodeJson(string resourceVersion, string heartbeat) => JsonSerializer.SerializeToElement(new
    {
        apiVersion = "v1",
        kind = "Node",
        metadata = new { name = "gpu-a", resourceVersion, labels = Node("gpu-a").Labels },
        status = new
        {
            allocatable = Node("gpu-a").Allocatable,
            capacity = Node("gpu-a").Allocatable,
            conditions = new[] { new { type = "Ready", status = "True", lastHeartbeatTime = heartbeat, reason = "KubeletReady" } },
        },
    });

    /// <summary>The pod as a watch event shows it: its record and node, a phase and a resourceVersion.</summary>
    private static JsonElement PodJson(Kaiwo.Scheduling.Requests.PodFacts pod, string phase, string resourceVersion) => JsonSerializer.SerializeToElement(new
    {
        apiVersion = "v1",
        kind = "Pod",
        metadata = new { name = pod.Name, @namespace = pod.Namespace, uid = pod.Uid, resourceVersion, labels = pod.Labels, annotations = pod.Annotations },
        spec = new
        {
            nodeName = pod.NodeName,
            schedulerName = pod.SchedulerName,
            containers = pod.Containers.Select(c => new { name = c.Name, image = "rocm/pytorch", resources = new { requests = c.Requests, limits = c.Limits } }),
        },
        status = new { phase, conditions = new[] { new { type = "Ready", status = phase == "Running" ? "True" : "False" } } },
    });
}

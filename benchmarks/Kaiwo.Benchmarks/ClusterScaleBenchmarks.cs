using System.Text.Json;
using BenchmarkDotNet.Attributes;
using k8s.Models;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Extender.Verbs;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kaiwo.Benchmarks;

/// <summary>
/// The live cluster at scale: 5,000 nodes (4,000 MI300X SPX, 1,000 MI300X CPX/NPS4) and 50,000 pods, every GPU pod
/// bound with an allocation record. Measures what the informer does per pod event (from the event's JSON to the
/// updated node snapshot), filter and prioritize as the HTTP handler runs them (body bytes in, answer bytes out) over
/// 500 and over all 5,000 nodes, and the in-memory part of a bind.
/// </summary>
[MemoryDiagnoser]
public class ClusterScaleBenchmarks
{
    private const int NodeCount = 5_000;
    private const int PodsPerNode = 10;

    private readonly SchedulingPipeline _pipeline = new(new PipelineOptions());
    private ClusterState _state = null!;
    private ExtenderVerbs _verbs = null!;
    private byte[] _filterBody = [];
    private byte[] _filter500Body = [];
    private readonly System.Buffers.ArrayBufferWriter<byte> _output = new(1 << 20);
    private BindTarget _bind = null!;
    private JsonElement _statusOnlyEvent;
    private JsonElement[] _bindEvents = [];
    private JsonElement[] _pendingEvents = [];
    private int _next;
    private readonly QueueTree _queues = QueueTree.Build(
        [new QueueSpec { Name = "research" }, new QueueSpec { Name = "prod", Priority = 100 }, new QueueSpec { Name = "batch" }],
        "default");

    [GlobalSetup]
    public void Setup()
    {
        _state = new ClusterState();
        var now = DateTimeOffset.UnixEpoch;
        PodFacts? sample = null;
        for (var n = 0; n < NodeCount; n++)
        {
            var name = $"node-{n:D4}";
            _state.UpsertNode(Node(name, cpx: n % 5 == 4));
            for (var p = 0; p < PodsPerNode; p++)
            {
                var pod = PodOf($"p-{n}-{p}", p);
                var evaluation = _pipeline.EvaluatePod(pod, now);
                var result = _state.Reserve(pod, name, c => _pipeline.EvaluateNode(evaluation, c));
                var bound = result.Allocation is { } allocation ? Recorded(pod, allocation) : pod with { NodeName = name, Phase = PodPhase.Running };
                _state.UpsertPod(bound);
                if (result.Allocation is not null)
                {
                    sample = bound;
                }
            }
        }

        // A MODIFIED event that changes nothing we hold (a status update of a running GPU pod): the common case.
        _statusOnlyEvent = JsonSerializer.SerializeToElement(ToV1Pod(sample!), ExtenderJson.Options);

        // Pods that appear pending and then bound with a new record, on nodes with room: the churn case.
        var churn = new List<(JsonElement Pending, JsonElement Bound)>();
        for (var i = 0; churn.Count < 1_000 && i < NodeCount; i++)
        {
            var pod = PodOf($"churn-{i}", 1);
            var node = $"node-{i:D4}";
            _state.TryGetNode(node, out var candidate);
            var fit = _pipeline.EvaluateNode(_pipeline.EvaluatePod(pod, now), candidate!);
            if (fit.Allocation is { } allocation)
            {
                churn.Add((JsonSerializer.SerializeToElement(ToV1Pod(pod), ExtenderJson.Options), JsonSerializer.SerializeToElement(ToV1Pod(Recorded(pod, allocation)), ExtenderJson.Options)));
            }
        }

        _pendingEvents = [.. churn.Select(c => c.Pending)];
        _bindEvents = [.. churn.Select(c => c.Bound)];

        _verbs = new ExtenderVerbs(_state, _pipeline, new PendingPods(10_000), new ReserveOnlyBinder(_state, _pipeline), TimeProvider.System, NullLogger<ExtenderVerbs>.Instance, Microsoft.Extensions.Options.Options.Create(new Kaiwo.Extender.Hosting.ExtenderOptions { SchedulerNames = ["kaiwo-scheduler"] }));
        var filterPod = ToV1Pod(PodOf("incoming", 1));
        _filterBody = JsonSerializer.SerializeToUtf8Bytes(new { Pod = filterPod, Nodes = (object?)null, NodeNames = Enumerable.Range(0, NodeCount).Select(n => $"node-{n:D4}").ToList() }, ExtenderJson.Options);

        // 500 candidates spread over the cluster (every tenth node: SPX and CPX alike), as kube-scheduler's
        // percentageOfNodesToScore sends at this size.
        _filter500Body = JsonSerializer.SerializeToUtf8Bytes(new { Pod = filterPod, Nodes = (object?)null, NodeNames = Enumerable.Range(0, NodeCount / 10).Select(n => $"node-{n * 10:D4}").ToList() }, ExtenderJson.Options);

        // The pod to bind is first seen in a filter, as kube-scheduler does it; its node has room.
        var bindPod = ToV1Pod(PodOf("to-bind", 1));
        var bindBody = JsonSerializer.SerializeToUtf8Bytes(new { Pod = bindPod, Nodes = (object?)null, NodeNames = (string[])["node-0003"] }, ExtenderJson.Options);
        _verbs.Filter(bindBody, _output);
        _bind = new BindTarget("team-a", "to-bind", "uid-to-bind", "node-0003");
        if (BindAndRelease() is { Length: > 0 } error)
        {
            throw new InvalidOperationException($"the benchmark's bind does not succeed: {error}");
        }
    }

    [Benchmark(Description = "pod event: status-only MODIFIED (JSON to state)")]
    public string? StatusOnlyEvent() => _state.UpsertPod(ObjectJson.PodFactsOf(_statusOnlyEvent)!);

    [Benchmark(Description = "pod event: pending ADDED then bound MODIFIED with a record, then DELETED")]
    public void BindChurnEvents()
    {
        var i = _next++ % _bindEvents.Length;
        var pending = ObjectJson.PodFactsOf(_pendingEvents[i])!;
        _state.UpsertPod(pending);
        _state.UpsertPod(ObjectJson.PodFactsOf(_bindEvents[i])!);
        _state.RemovePod(pending.Uid);
    }

    [Benchmark(Description = "queue snapshot (50,000 pods, 3 queues): usage, demand, fair share")]
    public QueueSnapshot QueueSnapshot() => _state.QueueSnapshot(_queues, "kaiwo-scheduler");

    [Benchmark(Description = "filter names (all 5,000 of 5,000 nodes, 50,000 pods): bytes in, bytes out")]
    public int Filter() => Answer(_filterBody, filter: true);

    [Benchmark(Description = "filter names (500 of 5,000 nodes, 50,000 pods): bytes in, bytes out")]
    public int Filter500() => Answer(_filter500Body, filter: true);

    [Benchmark(Description = "prioritize names (500 of 5,000 nodes, 50,000 pods): bytes in, bytes out")]
    public int Prioritize500() => Answer(_filter500Body, filter: false);

    /// <summary>The in-memory bind: the checks, one evaluation and the reservation, no API call; then the reservation is released for the next.</summary>
    [Benchmark(Description = "bind without API calls (evaluate, reserve), then release")]
    public string BindAndRelease()
    {
        var result = _verbs.BindPodAsync(_bind, CancellationToken.None).GetAwaiter().GetResult();
        _state.Release(_bind.PodUid);
        return result.Error;
    }

    private int Answer(byte[] body, bool filter) => WireCall.Answer(_verbs, body, _output, filter);

    /// <summary>A binder that only reserves in memory (<see cref="Reservations.Reserve"/>): the bind less its API calls.</summary>
    private sealed class ReserveOnlyBinder(ClusterState state, SchedulingPipeline pipeline) : IPodBinder
    {
        public Task<BindOutcome> BindAsync(PodFacts pod, string nodeName, CancellationToken cancellationToken)
        {
            var result = Reservations.Reserve(state, pipeline, null, pod, nodeName, DateTimeOffset.UnixEpoch, assumedUntil: null);
            return Task.FromResult(result.Succeeded ? new BindOutcome(null, result.Allocation?.VisibleDevices) : new BindOutcome(result.Reason, null));
        }
    }

    private static NodeFacts Node(string name, bool cpx) => new()
    {
        Name = name,
        Labels = new Dictionary<string, string>
        {
            [WellKnown.ProductNameLabel] = "AMD_Instinct_MI300X_OAM",
            [WellKnown.PartitionLabel] = cpx ? "cpx_nps4" : "spx_nps1",
        },
        Allocatable = new Dictionary<string, string> { [WellKnown.GpuResource] = cpx ? "64" : "8" },
    };

    private static PodFacts PodOf(string name, int kind)
    {
        var annotations = new Dictionary<string, string>();
        var requests = new Dictionary<string, string> { ["cpu"] = "2" };
        switch (kind % 5)
        {
            case 0:
                requests[WellKnown.GpuResource] = "1";
                break;
            case 1:
                annotations[WellKnown.GpuFractionAnnotation] = "0.25";
                break;
            case 2:
                annotations[WellKnown.GpuMemoryAnnotation] = "24Gi";
                break;
            case 3:
                annotations[WellKnown.GpuFractionAnnotation] = "0.5";
                break;
        }

        return new PodFacts
        {
            Namespace = "team-a",
            Name = name,
            Uid = $"uid-{name}",
            Annotations = annotations,
            Containers = [new ContainerFacts("main", requests, new Dictionary<string, string>())],
        };
    }

    private static PodFacts Recorded(PodFacts pod, PodAllocation allocation) => pod with
    {
        NodeName = allocation.Node,
        Phase = PodPhase.Running,
        Annotations = new Dictionary<string, string>(pod.Annotations)
        {
            [WellKnown.AllocationAnnotation] = AllocationRecord.Write(allocation),
            [WellKnown.VisibleDevicesAnnotation] = allocation.VisibleDevices,
        },
    };

    private static V1Pod ToV1Pod(PodFacts pod) => new()
    {
        ApiVersion = "v1",
        Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = pod.Name, NamespaceProperty = pod.Namespace, Uid = pod.Uid, Annotations = pod.Annotations.ToDictionary() },
        Spec = new V1PodSpec
        {
            NodeName = pod.NodeName,
            SchedulerName = "kaiwo-scheduler",
            Containers = [.. pod.Containers.Select(c => new V1Container
            {
                Name = c.Name,
                Image = "rocm/pytorch",
                Resources = new V1ResourceRequirements { Requests = c.Requests.ToDictionary(p => p.Key, p => new ResourceQuantity(p.Value)) },
            })],
        },
        Status = new V1PodStatus { Phase = pod.Phase.ToString() },
    };
}

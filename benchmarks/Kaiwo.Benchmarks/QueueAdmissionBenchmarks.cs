using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Live;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

namespace Kaiwo.Benchmarks;

/// <summary>
/// Exact queue admission at 5,000 nodes and 50,000 bound pods spread over the leaf queues: what one pod change costs
/// with the queue snapshot published again after it (the totals move, the first read builds the snapshot from them,
/// fair share included), and what reading the published snapshot costs a filter. With 3 queues (flat) and 20 (four
/// departments of four teams each, see <see cref="Catalog"/>).
/// </summary>
[MemoryDiagnoser]
public class QueueAdmissionBenchmarks
{
    private const int NodeCount = 5_000;
    private const int PodsPerNode = 10;

    private readonly SchedulingPipeline _pipeline = new(new PipelineOptions());
    private ClusterState _state = null!;
    private QueueState _queues = null!;
    private PodFacts[] _arrivals = [];
    private int _next;

    [Params(3, 20)]
    public int Queues { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _state = new ClusterState();
        var catalog = new QueueCatalog();
        var leaves = Catalog(catalog, Queues);
        _queues = new QueueState(_state, catalog, Options.Create(new SchedulingOptions()));
        var now = DateTimeOffset.UnixEpoch;
        for (var n = 0; n < NodeCount; n++)
        {
            var name = $"node-{n:D4}";
            _state.UpsertNode(Node(name));
            for (var p = 0; p < PodsPerNode; p++)
            {
                var pod = PodOf($"p-{n}-{p}", leaves[((n * PodsPerNode) + p) % leaves.Count], p);
                var evaluation = _pipeline.EvaluatePod(pod, now);
                _state.Reserve(pod, name, c => _pipeline.EvaluateNode(evaluation, c));
            }
        }

        // Pending pods that arrive in the leaves and go again: each is two pod changes, each followed by a read.
        _arrivals = [.. Enumerable.Range(0, 1_000).Select(i => PodOf($"arrival-{i}", leaves[i % leaves.Count], 1))];
        _queues.Current();
    }

    [Benchmark(OperationsPerInvoke = 2, Description = "pod change (pending pod added, then deleted) with the queue snapshot published again")]
    public QueueSnapshot? PodChangeRepublished()
    {
        var pod = _arrivals[_next++ % _arrivals.Length];
        _state.UpsertPod(pod);
        _queues.Current();
        _state.RemovePod(pod.Uid);
        return _queues.Current();
    }

    [Benchmark(Description = "queue snapshot read by a filter (nothing changed since it was published)")]
    public QueueSnapshot? ReadForFilter() => _queues.Current();

    /// <summary>
    /// 3: three flat queues. 20: four departments, each with four team leaves (the default queue is made up beside
    /// them), with quotas, limits and a priority tier per department, so that fair share has levels and tiers to fill.
    /// </summary>
    private static List<string> Catalog(QueueCatalog catalog, int queues)
    {
        var objects = new List<JsonElement>();
        var leaves = new List<string>();
        if (queues == 3)
        {
            objects.Add(Queue("research", null, 4_000, 1));
            objects.Add(Queue("prod", null, 8_000, 100));
            objects.Add(Queue("batch", null, 0, 0));
            leaves.AddRange(["research", "prod", "batch"]);
        }
        else
        {
            for (var d = 0; d < 4; d++)
            {
                objects.Add(Queue($"dept-{d}", null, 4_000, d));
                for (var t = 0; t < 4; t++)
                {
                    objects.Add(Queue($"team-{d}-{t}", $"dept-{d}", 1_000, t == 0 ? 100 : 0));
                    leaves.Add($"team-{d}-{t}");
                }
            }
        }

        catalog.Replace(objects);
        catalog.SetAvailable(true, null);
        return leaves;
    }

    /// <summary>A KaiwoQueue with a GPU quota (in GPUs) and twice that as its limit; no limit without a quota.</summary>
    private static JsonElement Queue(string name, string? parent, int quotaGpus, int priority) => JsonSerializer.SerializeToElement(new
    {
        apiVersion = QueueSpecReader.ApiVersion,
        kind = QueueSpecReader.Kind,
        metadata = new { name },
        spec = new { parentQueue = parent, priority, resources = new { gpu = new { quota = quotaGpus, limit = quotaGpus > 0 ? quotaGpus * 2 : -1 } } },
    });

    private static NodeFacts Node(string name) => new()
    {
        Name = name,
        Labels = new Dictionary<string, string> { [WellKnown.ProductNameLabel] = "AMD_Instinct_MI300X_OAM", [WellKnown.PartitionLabel] = "spx_nps1" },
        Allocatable = new Dictionary<string, string> { [WellKnown.GpuResource] = "8", ["cpu"] = "192", ["memory"] = "1536Gi" },
    };

    private static PodFacts PodOf(string name, string queue, int kind) => new()
    {
        Namespace = "team-a",
        Name = name,
        Uid = $"uid-{name}",
        SchedulerName = "kaiwo-scheduler",
        Labels = new Dictionary<string, string> { [WellKnown.QueueLabel] = queue },
        Annotations = (kind % 3) switch
        {
            0 => new Dictionary<string, string> { [WellKnown.GpuFractionAnnotation] = "0.25" },
            1 => new Dictionary<string, string> { [WellKnown.GpuFractionAnnotation] = "0.5" },
            _ => new Dictionary<string, string>(),
        },
        Containers = [new ContainerFacts("main", new Dictionary<string, string> { ["cpu"] = "2" }, new Dictionary<string, string>())],
    };
}

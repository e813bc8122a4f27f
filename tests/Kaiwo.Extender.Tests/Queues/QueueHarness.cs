using System.Text.Json;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Standalone;
using Kaiwo.Extender.Verbs;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Kaiwo.Extender.Tests.Queues;

/// <summary>
/// The in-memory extender without HTTP: the state, the queue catalogue and the queue state, and the verbs over them with
/// the standalone binder (reserve under the admission gate, then the recorded pod into the state), on a fixed clock.
/// </summary>
internal sealed class QueueHarness
{
    public const string Scheduler = "kaiwo-scheduler";

    public QueueHarness()
    {
        Queues = new QueueState(State, Catalog, Options.Create(new SchedulingOptions()));
        Verbs = new ExtenderVerbs(
            State,
            Pipeline,
            new PendingPods(10_000),
            new InMemoryBinder(State, Pipeline, Time, Queues),
            Time,
            NullLogger<ExtenderVerbs>.Instance,
            Options.Create(new ExtenderOptions()),
            queues: Queues);
        Catalog.SetAvailable(true, null);
    }

    public ClusterState State { get; } = new();

    public QueueCatalog Catalog { get; } = new();

    public QueueState Queues { get; }

    public SchedulingPipeline Pipeline { get; } = new(new PipelineOptions());

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

    public ExtenderVerbs Verbs { get; }

    /// <summary>An MI300X node in SPX: 8 GPUs, 192 cores, 1.5 TiB.</summary>
    public static NodeFacts Node(string name) => new()
    {
        Name = name,
        Labels = new Dictionary<string, string>
        {
            [WellKnown.ProductNameLabel] = "AMD_Instinct_MI300X_OAM",
            [WellKnown.PartitionLabel] = "spx_nps1",
        },
        Allocatable = new Dictionary<string, string> { [WellKnown.GpuResource] = "8", ["cpu"] = "192", ["memory"] = "1536Gi" },
    };

    /// <summary>A pending pod of the kaiwo scheduler in <paramref name="queue"/> (none: the default queue).</summary>
    public static PodFacts Pod(string name, string? queue, int gpus = 0, string? fraction = null) => new()
    {
        Namespace = "team-a",
        Name = name,
        Uid = $"uid-{name}",
        SchedulerName = Scheduler,
        Labels = queue is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [WellKnown.QueueLabel] = queue },
        Annotations = fraction is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [WellKnown.GpuFractionAnnotation] = fraction },
        Containers =
        [
            new ContainerFacts(
                "main",
                gpus > 0 ? new Dictionary<string, string> { [WellKnown.GpuResource] = $"{gpus}" } : new Dictionary<string, string>(),
                gpus > 0 ? new Dictionary<string, string> { [WellKnown.GpuResource] = $"{gpus}" } : new Dictionary<string, string>()),
        ],
    };

    /// <summary>A KaiwoQueue object as the API server serves it; a limit below 0 means none.</summary>
    public static JsonElement QueueObject(string name, string? parent = null, decimal quota = 0, decimal limit = -1, int priority = 0)
    {
        var gpu = new Dictionary<string, object> { ["quota"] = quota };
        if (limit >= 0)
        {
            gpu["limit"] = limit;
        }

        var spec = new Dictionary<string, object> { ["priority"] = priority, ["resources"] = new Dictionary<string, object> { ["gpu"] = gpu } };
        if (parent is not null)
        {
            spec["parentQueue"] = parent;
        }

        return JsonSerializer.SerializeToElement(new Dictionary<string, object>
        {
            ["apiVersion"] = QueueSpecReader.ApiVersion,
            ["kind"] = QueueSpecReader.Kind,
            ["metadata"] = new Dictionary<string, object> { ["name"] = name },
            ["spec"] = spec,
        });
    }

    /// <summary>The pod as the pod informer brings it: pending in the state, counted in its queue's demand.</summary>
    public PodFacts Arrive(PodFacts pod)
    {
        State.UpsertPod(pod);
        return pod;
    }

    public ExtenderFilterResult Filter(PodFacts pod, params string[] nodes) => Verbs.Filter(new ExtenderArgs { Pod = pod, NodeNames = nodes });

    /// <summary>The bind's answer: null when bound, else its error.</summary>
    public string? Bind(PodFacts pod, string node)
    {
        var error = Verbs.BindPodAsync(new BindTarget(pod.Namespace, pod.Name, pod.Uid, node), CancellationToken.None).GetAwaiter().GetResult().Error;
        return error.Length == 0 ? null : error;
    }

    /// <summary>The filter's word on one node: null when it passes, else its reason.</summary>
    public static string? Verdict(ExtenderFilterResult filter, string node) =>
        filter.NodeNames?.Contains(node) == true ? null : filter.FailedNodes.GetValueOrDefault(node) ?? filter.FailedAndUnresolvableNodes.GetValueOrDefault(node);
}

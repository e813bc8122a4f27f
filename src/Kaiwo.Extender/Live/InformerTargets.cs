using System.Text.Json;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Live;

/// <summary>Nodes into the cluster state.</summary>
internal sealed class NodeTarget(ClusterState state) : IInformerTarget
{
    public string Resource => "nodes";

    public string Path => "api/v1/nodes";

    public bool Optional => false;

    public ListReplace BeginReplace() => new(
        item =>
        {
            if (ObjectJson.NodeFactsOf(item) is not { } facts)
            {
                return null;
            }

            state.UpsertNode(facts);
            return facts.Name;
        },
        seen =>
        {
            foreach (var name in state.NodeNames())
            {
                if (!seen.Contains(name))
                {
                    state.RemoveNode(name);
                }
            }
        });

    public void Apply(string type, JsonElement item)
    {
        if (ObjectJson.NodeFactsOf(item) is not { } facts)
        {
            return;
        }

        if (type == "DELETED")
        {
            state.RemoveNode(facts.Name);
        }
        else
        {
            state.UpsertNode(facts);
        }
    }

    public void SetAvailable(bool available, string? reason)
    {
    }
}

/// <summary>
/// Pods of every namespace and scheduler into the cluster state: any pod may hold GPUs. Terminated and deleted
/// pods free their devices at once; records that cannot be read are logged.
/// </summary>
internal sealed partial class PodTarget(ClusterState state, ILogger<PodTarget> log, PodEvents? events = null) : IInformerTarget
{
    public string Resource => "pods";

    public string Path => "api/v1/pods";

    public bool Optional => false;

    public ListReplace BeginReplace() => new(
        item =>
        {
            if (ObjectJson.PodFactsOf(item) is not { } pod)
            {
                return null;
            }

            Upsert(pod);
            return pod.Uid;
        },
        seen =>
        {
            foreach (var uid in state.PodUids())
            {
                if (!seen.Contains(uid))
                {
                    state.RemovePodUnlessAssumed(uid);
                }
            }
        });

    public void Apply(string type, JsonElement item)
    {
        if (ObjectJson.PodFactsOf(item) is not { } pod)
        {
            return;
        }

        if (type == "DELETED")
        {
            state.RemovePod(pod.Uid);
        }
        else
        {
            Upsert(pod);
        }
    }

    public void SetAvailable(bool available, string? reason)
    {
    }

    private void Upsert(Scheduling.Requests.PodFacts pod)
    {
        if (state.UpsertPod(pod) is { } warning)
        {
            LogRecordWarning(log, warning);
            events?.RecordConflict(pod, warning);
        }
    }

    [LoggerMessage(EventId = 30, Level = LogLevel.Warning, Message = "{Warning}")]
    private static partial void LogRecordWarning(ILogger logger, LogText warning);
}

/// <summary>
/// The KaiwoQueue objects (from the informer, or the cluster file in standalone mode), read into specs. Absent when
/// the CRD is not installed. <see cref="Version"/> changes with every change, so derived state knows when to rebuild.
/// </summary>
internal sealed class QueueCatalog : IInformerTarget
{
    private readonly Lock _gate = new();
    private Dictionary<string, JsonElement> _queues = new(StringComparer.Ordinal);
    private string? _unavailableReason = "not listed yet";
    private long _version;

    public string Resource => "kaiwoqueues";

    public string Path => "apis/kaiwo.ai/v1alpha2/kaiwoqueues";

    public bool Optional => true;

    /// <summary>Null when queues are served; otherwise why the extender runs without them.</summary>
    public string? UnavailableReason => _unavailableReason;

    public long Version => Interlocked.Read(ref _version);

    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_gate)
            {
                return [.. _queues.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>The queues' specs, and the queues whose definition does not read with why.</summary>
    public (IReadOnlyList<QueueSpec> Specs, IReadOnlyDictionary<string, string> Invalid) Read()
    {
        List<JsonElement> items;
        lock (_gate)
        {
            items = [.. _queues.Values];
        }

        var specs = new List<QueueSpec>();
        var invalid = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (QueueSpecReader.TryRead(item, out var spec, out var errors))
            {
                specs.Add(spec!);
            }
            else if (NameOf(item) is { } name)
            {
                invalid[name] = string.Join("; ", errors);
            }
        }

        return (specs, invalid);
    }

    /// <summary>Queues are few and their catalogue changes at once: the pages are gathered and replace it when complete.</summary>
    public ListReplace BeginReplace()
    {
        var items = new List<JsonElement>();
        return new ListReplace(
            item =>
            {
                items.Add(item);
                return null;
            },
            _ => Replace(items));
    }

    public void Replace(IReadOnlyList<JsonElement> items)
    {
        var queues = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (NameOf(item) is { } name)
            {
                queues[name] = item;
            }
        }

        lock (_gate)
        {
            _queues = queues;
        }

        Interlocked.Increment(ref _version);
    }

    public void Apply(string type, JsonElement item)
    {
        if (NameOf(item) is not { } name)
        {
            return;
        }

        lock (_gate)
        {
            if (type == "DELETED")
            {
                _queues.Remove(name);
            }
            else
            {
                _queues[name] = item;
            }
        }

        Interlocked.Increment(ref _version);
    }

    public void SetAvailable(bool available, string? reason)
    {
        _unavailableReason = available ? null : reason;
        Interlocked.Increment(ref _version);
    }

    private static string? NameOf(JsonElement item) =>
        item.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object
        && m.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
            ? n.GetString()
            : null;
}

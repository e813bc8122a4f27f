using System.Text.Json;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Live;

/// <summary>Nodes into the cluster state.</summary>
internal sealed class NodeTarget(ClusterState state) : IInformerTarget
{
    public string Resource => "nodes";

    public string Path => "api/v1/nodes";

    public bool Optional => false;

    public void Replace(IReadOnlyList<JsonElement> items)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (ObjectJson.NodeFactsOf(item) is { } facts)
            {
                state.UpsertNode(facts);
                seen.Add(facts.Name);
            }
        }

        foreach (var name in state.NodeNames())
        {
            if (!seen.Contains(name))
            {
                state.RemoveNode(name);
            }
        }
    }

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

    public void Replace(IReadOnlyList<JsonElement> items)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (ObjectJson.PodFactsOf(item) is { } pod)
            {
                Upsert(pod);
                seen.Add(pod.Uid);
            }
        }

        foreach (var uid in state.PodUids())
        {
            if (!seen.Contains(uid))
            {
                state.RemovePodUnlessAssumed(uid);
            }
        }
    }

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

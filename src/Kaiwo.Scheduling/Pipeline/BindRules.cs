using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Pipeline;

/// <summary>What a bind call names: the pod by namespace, name and uid, and the node.</summary>
public sealed record BindTarget(string PodNamespace, string PodName, string PodUid, string Node)
{
    public string Key => $"{PodNamespace}/{PodName}";
}

/// <summary>
/// Which binds are ours to make. The extender creates Bindings with its own rights, so it binds only a pod of one
/// of its schedulers, named exactly as the call names it, not being deleted and not bound to another node: anyone
/// who can reach <c>/bind</c> must not be able to place other teams' pods. Checked before any reservation or API call.
/// </summary>
public static class BindRules
{
    /// <summary>The scheduler of a pod that names none: what the API server defaults it to.</summary>
    public const string DefaultSchedulerName = "default-scheduler";

    /// <summary>
    /// Null when the bind may go ahead; otherwise why not. <paramref name="pod"/> is the copy to place (the newest
    /// kube-scheduler showed us); <paramref name="inCluster"/> the cluster's own copy when the state has one. Both must
    /// pass: the cluster's copy knows of a binding or deletion the request may predate.
    /// </summary>
    public static string? Refusal(BindTarget target, PodFacts pod, PodFacts? inCluster, IReadOnlyCollection<string> schedulerNames)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(schedulerNames);
        foreach (var copy in inCluster is null ? [pod] : new[] { inCluster, pod })
        {
            if (copy.Namespace != target.PodNamespace || copy.Name != target.PodName)
            {
                return $"pod uid {target.PodUid} belongs to {copy.Key}, not {target.Key}";
            }

            var scheduler = string.IsNullOrEmpty(copy.SchedulerName) ? DefaultSchedulerName : copy.SchedulerName;
            if (!schedulerNames.Contains(scheduler))
            {
                return $"pod {target.Key} has spec.schedulerName \"{scheduler}\"; this extender binds only pods of {string.Join(", ", schedulerNames.Select(n => $"\"{n}\""))}";
            }

            if (copy.IsDeleting)
            {
                return $"pod {target.Key} is being deleted (metadata.deletionTimestamp is set); it is not bound";
            }

            if (copy.NodeName is { } bound && bound != target.Node)
            {
                return $"pod {target.Key} is already bound to {bound}, not {target.Node}";
            }
        }

        return null;
    }
}

using k8s.Models;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Kubernetes;

/// <summary>Maps KubernetesClient's model types to the plain facts the scheduling core reads.</summary>
internal static class KubernetesFacts
{
    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();

    /// <summary>Maps a pod; null when it lacks the identity the core needs (a name and a uid).</summary>
    public static PodFacts? ToFacts(V1Pod pod)
    {
        var metadata = pod.Metadata;
        if (metadata is null || string.IsNullOrEmpty(metadata.Name))
        {
            return null;
        }

        var spec = pod.Spec;
        return new PodFacts
        {
            Namespace = metadata.NamespaceProperty ?? "default",
            Name = metadata.Name,
            Uid = string.IsNullOrEmpty(metadata.Uid) ? $"{metadata.NamespaceProperty ?? "default"}/{metadata.Name}" : metadata.Uid,
            Labels = Copy(metadata.Labels),
            Annotations = Copy(metadata.Annotations),
            Containers = spec?.Containers?.Select(c => Container(c.Name, c.Resources, false)).ToList() ?? [],
            InitContainers = spec?.InitContainers?.Select(c => Container(c.Name, c.Resources, c.RestartPolicy == "Always")).ToList() ?? [],
            NodeName = string.IsNullOrEmpty(spec?.NodeName) ? null : spec.NodeName,
            Phase = Phase(pod.Status?.Phase),
            Priority = spec?.Priority ?? 0,
            SchedulerName = spec?.SchedulerName,
        };
    }

    public static NodeFacts? ToFacts(V1Node node)
    {
        if (string.IsNullOrEmpty(node.Metadata?.Name))
        {
            return null;
        }

        return new NodeFacts
        {
            Name = node.Metadata.Name,
            Labels = Copy(node.Metadata.Labels),
            Annotations = Copy(node.Metadata.Annotations),
            Allocatable = node.Status?.Allocatable is { } allocatable
                ? allocatable.ToDictionary(p => p.Key, p => p.Value?.ToString() ?? string.Empty, StringComparer.Ordinal)
                : Empty,
        };
    }

    private static ContainerFacts Container(string name, V1ResourceRequirements? resources, bool restartableInit) => new(
        name ?? string.Empty,
        Quantities(resources?.Requests),
        Quantities(resources?.Limits),
        restartableInit);

    private static IReadOnlyDictionary<string, string> Quantities(IDictionary<string, ResourceQuantity>? values) =>
        values is null || values.Count == 0
            ? Empty
            : values.ToDictionary(p => p.Key, p => p.Value?.ToString() ?? string.Empty, StringComparer.Ordinal);

    private static IReadOnlyDictionary<string, string> Copy(IDictionary<string, string>? values) =>
        values is null || values.Count == 0 ? Empty : new Dictionary<string, string>(values, StringComparer.Ordinal);

    private static PodPhase Phase(string? phase) => phase switch
    {
        "Running" => PodPhase.Running,
        "Succeeded" => PodPhase.Succeeded,
        "Failed" => PodPhase.Failed,
        "Unknown" => PodPhase.Unknown,
        _ => PodPhase.Pending,
    };
}

using System.Text.Json;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Kubernetes;

/// <summary>
/// Reads the facts the scheduling core needs straight from a Pod's or Node's JSON, without materialising
/// KubernetesClient's models: the informers apply every event of the cluster, and a full NodeList arrives with
/// every filter call when the extender is not nodeCacheCapable, so this keeps both cheap.
/// </summary>
internal static class ObjectJson
{
    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();

    public static PodFacts? PodFactsOf(JsonElement pod)
    {
        if (!pod.TryGetProperty("metadata", out var metadata) || metadata.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var name = String(metadata, "name");
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        var ns = String(metadata, "namespace") ?? "default";
        var spec = pod.TryGetProperty("spec", out var s) && s.ValueKind == JsonValueKind.Object ? s : default;
        var status = pod.TryGetProperty("status", out var st) && st.ValueKind == JsonValueKind.Object ? st : default;
        return new PodFacts
        {
            Namespace = ns,
            Name = name,
            Uid = String(metadata, "uid") is { Length: > 0 } uid ? uid : $"{ns}/{name}",
            Labels = Strings(metadata, "labels"),
            Annotations = Strings(metadata, "annotations"),
            Containers = spec.ValueKind == JsonValueKind.Object ? Containers(spec, "containers") : [],
            InitContainers = spec.ValueKind == JsonValueKind.Object ? Containers(spec, "initContainers") : [],
            NodeName = spec.ValueKind == JsonValueKind.Object && String(spec, "nodeName") is { Length: > 0 } node ? node : null,
            SchedulerName = spec.ValueKind == JsonValueKind.Object ? String(spec, "schedulerName") : null,
            Priority = spec.ValueKind == JsonValueKind.Object && spec.TryGetProperty("priority", out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out var priority) ? priority : 0,
            Phase = (status.ValueKind == JsonValueKind.Object ? String(status, "phase") : null) switch
            {
                "Running" => PodPhase.Running,
                "Succeeded" => PodPhase.Succeeded,
                "Failed" => PodPhase.Failed,
                "Unknown" => PodPhase.Unknown,
                _ => PodPhase.Pending,
            },
        };
    }

    /// <summary>Name, labels, annotations and allocatable of a Node; null without a name.</summary>
    public static NodeFacts? NodeFactsOf(JsonElement node)
    {
        if (!node.TryGetProperty("metadata", out var metadata) || metadata.ValueKind != JsonValueKind.Object
            || String(metadata, "name") is not { Length: > 0 } name)
        {
            return null;
        }

        return new NodeFacts
        {
            Name = name,
            Labels = Strings(metadata, "labels"),
            Annotations = Strings(metadata, "annotations"),
            Allocatable = node.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.Object ? Strings(status, "allocatable") : Empty,
        };
    }

    private static List<ContainerFacts> Containers(JsonElement spec, string property)
    {
        if (!spec.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        var result = new List<ContainerFacts>(array.GetArrayLength());
        foreach (var c in array.EnumerateArray())
        {
            if (c.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            var resources = c.TryGetProperty("resources", out var r) && r.ValueKind == JsonValueKind.Object ? r : default;
            result.Add(new ContainerFacts(
                String(c, "name") ?? string.Empty,
                resources.ValueKind == JsonValueKind.Object ? Strings(resources, "requests") : Empty,
                resources.ValueKind == JsonValueKind.Object ? Strings(resources, "limits") : Empty,
                String(c, "restartPolicy") == "Always"));
        }

        return result;
    }

    private static string? String(JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static IReadOnlyDictionary<string, string> Strings(JsonElement parent, string property)
    {
        if (!parent.TryGetProperty(property, out var map) || map.ValueKind != JsonValueKind.Object)
        {
            return Empty;
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
        {
            result[p.Name] = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.Number => p.Value.GetRawText(),
                _ => string.Empty,
            };
        }

        return result;
    }
}

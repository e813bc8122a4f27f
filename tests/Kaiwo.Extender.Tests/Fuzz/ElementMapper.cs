using System.Text.Json;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Tests.Fuzz;

/// <summary>
/// The pod and node mapper as it was before it read with <see cref="Utf8JsonReader"/>: over <see cref="JsonElement"/>,
/// formatting every path. Kept unchanged as the oracle the one mapper (<see cref="ObjectJson"/>) must agree with.
/// </summary>
internal static class ElementMapper
{
    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();

    /// <summary>Reads a Pod. Its name may be empty (a pod on CREATE may have only generateName): callers that need one check.</summary>
    /// <exception cref="ObjectReadException">A field the core reads has the wrong type or is too long.</exception>
    public static PodFacts ReadPod(JsonElement pod, string path)
    {
        ObjectJson.ExpectObject(pod, path, "a Pod object");
        string? name = null, ns = null, uid = null, nodeName = null, schedulerName = null, phase = null;
        IReadOnlyDictionary<string, string> labels = Empty, annotations = Empty;
        IReadOnlyList<ContainerFacts> containers = [], initContainers = [];
        var priority = 0;
        var deleting = false;
        foreach (var top in pod.EnumerateObject())
        {
            switch (top.Name)
            {
                case "metadata":
                    var metadataPath = path + ".metadata";
                    if (top.Value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }

                    ObjectJson.ExpectObject(top.Value, metadataPath, "an ObjectMeta object");
                    foreach (var m in top.Value.EnumerateObject())
                    {
                        var at = $"{metadataPath}.{m.Name}";
                        switch (m.Name)
                        {
                            case "name":
                                name = ObjectJson.Name(m.Value, at);
                                break;
                            case "namespace":
                                ns = ObjectJson.Name(m.Value, at);
                                break;
                            case "uid":
                                uid = ObjectJson.Name(m.Value, at);
                                break;
                            case "labels":
                                labels = StringMap(m.Value, at);
                                break;
                            case "annotations":
                                annotations = StringMap(m.Value, at);
                                break;
                            case "deletionTimestamp":
                                // Only whether it is set matters: the time itself is never parsed.
                                deleting = m.Value.ValueKind != JsonValueKind.Null;
                                break;
                        }
                    }

                    break;
                case "spec":
                    var specPath = path + ".spec";
                    if (top.Value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }

                    ObjectJson.ExpectObject(top.Value, specPath, "a PodSpec object");
                    foreach (var s in top.Value.EnumerateObject())
                    {
                        var at = $"{specPath}.{s.Name}";
                        switch (s.Name)
                        {
                            case "containers":
                                containers = Containers(s.Value, at, init: false);
                                break;
                            case "initContainers":
                                initContainers = Containers(s.Value, at, init: true);
                                break;
                            case "nodeName":
                                nodeName = ObjectJson.Name(s.Value, at);
                                break;
                            case "schedulerName":
                                schedulerName = ObjectJson.Name(s.Value, at);
                                break;
                            case "priority":
                                priority = ObjectJson.Int32(s.Value, at);
                                break;
                        }
                    }

                    break;
                case "status":
                    if (top.Value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }

                    ObjectJson.ExpectObject(top.Value, path + ".status", "a PodStatus object");
                    foreach (var st in top.Value.EnumerateObject())
                    {
                        if (st.Name == "phase")
                        {
                            phase = ObjectJson.String(st.Value, path + ".status.phase");
                        }
                    }

                    break;
            }
        }

        ns = string.IsNullOrEmpty(ns) ? "default" : ns;
        name ??= string.Empty;
        return new PodFacts
        {
            Namespace = ns,
            Name = name,
            Uid = string.IsNullOrEmpty(uid) ? $"{ns}/{name}" : uid,
            Labels = labels,
            Annotations = annotations,
            Containers = containers,
            InitContainers = initContainers,
            NodeName = string.IsNullOrEmpty(nodeName) ? null : nodeName,
            SchedulerName = string.IsNullOrEmpty(schedulerName) ? null : schedulerName,
            Priority = priority,
            IsDeleting = deleting,
            Phase = phase switch
            {
                "Running" => PodPhase.Running,
                "Succeeded" => PodPhase.Succeeded,
                "Failed" => PodPhase.Failed,
                "Unknown" => PodPhase.Unknown,
                _ => PodPhase.Pending,
            },
        };
    }

    /// <summary>Reads a Node: name, labels, annotations and allocatable.</summary>
    /// <exception cref="ObjectReadException">The name is missing, or a field the core reads has the wrong type.</exception>
    public static NodeFacts ReadNode(JsonElement node, string path)
    {
        ObjectJson.ExpectObject(node, path, "a Node object");
        string? name = null;
        IReadOnlyDictionary<string, string> labels = Empty, annotations = Empty, allocatable = Empty;
        foreach (var top in node.EnumerateObject())
        {
            var at = $"{path}.{top.Name}";
            if (top.Value.ValueKind == JsonValueKind.Null || top.Name is not ("metadata" or "status"))
            {
                continue;
            }

            ObjectJson.ExpectObject(top.Value, at, "an object");
            foreach (var p in top.Value.EnumerateObject())
            {
                switch (top.Name, p.Name)
                {
                    case ("metadata", "name"):
                        name = ObjectJson.Name(p.Value, $"{at}.name");
                        break;
                    case ("metadata", "labels"):
                        labels = StringMap(p.Value, $"{at}.labels");
                        break;
                    case ("metadata", "annotations"):
                        annotations = StringMap(p.Value, $"{at}.annotations");
                        break;
                    case ("status", "allocatable"):
                        allocatable = Quantities(p.Value, $"{at}.allocatable");
                        break;
                }
            }
        }

        if (string.IsNullOrEmpty(name))
        {
            throw new ObjectReadException(path + ".metadata.name", "is missing; a Node needs a name");
        }

        return new NodeFacts { Name = name, Labels = labels, Annotations = annotations, Allocatable = allocatable };
    }

    private static List<ContainerFacts> Containers(JsonElement array, string path, bool init)
    {
        if (array.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw ObjectJson.WrongType(path, "an array of containers", array);
        }

        var result = new List<ContainerFacts>(array.GetArrayLength());
        var index = 0;
        foreach (var c in array.EnumerateArray())
        {
            var at = $"{path}[{index++}]";
            if (c.ValueKind == JsonValueKind.Null)
            {
                continue; // as Go decodes it: a container with nothing set, which asks for nothing
            }

            ObjectJson.ExpectObject(c, at, "a Container object");
            string? name = null, restartPolicy = null;
            IReadOnlyDictionary<string, string> requests = Empty, limits = Empty;
            foreach (var p in c.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "name":
                        name = ObjectJson.Name(p.Value, $"{at}.name");
                        break;
                    case "restartPolicy" when init:
                        restartPolicy = ObjectJson.String(p.Value, $"{at}.restartPolicy");
                        break;
                    case "resources" when p.Value.ValueKind != JsonValueKind.Null:
                        ObjectJson.ExpectObject(p.Value, $"{at}.resources", "a ResourceRequirements object");
                        foreach (var r in p.Value.EnumerateObject())
                        {
                            if (r.Name == "requests")
                            {
                                requests = Quantities(r.Value, $"{at}.resources.requests");
                            }
                            else if (r.Name == "limits")
                            {
                                limits = Quantities(r.Value, $"{at}.resources.limits");
                            }
                        }

                        break;
                }
            }

            result.Add(new ContainerFacts(name ?? string.Empty, requests, limits, restartPolicy == "Always"));
        }

        return result;
    }

    /// <summary>Labels or annotations: strings (null is the empty string, numbers and booleans their text).</summary>
    private static IReadOnlyDictionary<string, string> StringMap(JsonElement map, string path)
    {
        if (map.ValueKind == JsonValueKind.Null)
        {
            return Empty;
        }

        ObjectJson.ExpectObject(map, path, "an object of strings");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
        {
            result[p.Name] = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.Null => string.Empty,
                JsonValueKind.Number => p.Value.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => throw ObjectJson.WrongType(path + ObjectJson.KeySegment(p.Name), "a string", p.Value),
            };
        }

        return result.Count == 0 ? Empty : result;
    }

    /// <summary>A resource list: quantities as strings or numbers; a null entry is absent. Parsing them is the core's.</summary>
    private static IReadOnlyDictionary<string, string> Quantities(JsonElement map, string path)
    {
        if (map.ValueKind == JsonValueKind.Null)
        {
            return Empty;
        }

        ObjectJson.ExpectObject(map, path, "an object of quantities");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
        {
            switch (p.Value.ValueKind)
            {
                case JsonValueKind.String:
                    result[p.Name] = p.Value.GetString()!;
                    break;
                case JsonValueKind.Number:
                    result[p.Name] = p.Value.GetRawText();
                    break;
                case JsonValueKind.Null:
                    result.Remove(p.Name);
                    break;
                default:
                    throw ObjectJson.WrongType(path + ObjectJson.KeySegment(p.Name), "a quantity (a string such as \"500m\" or a number)", p.Value);
            }
        }

        return result.Count == 0 ? Empty : result;
    }}

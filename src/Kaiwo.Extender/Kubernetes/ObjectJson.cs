using System.Text.Json;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Kubernetes;

/// <summary>A Pod's or Node's JSON has the wrong type at a field the core reads: where, and what was wrong.</summary>
internal sealed class ObjectReadException(string path, string problem) : Exception($"{path}: {problem}")
{
    /// <summary>The JSON path of the field, from <c>$</c> (the whole body).</summary>
    public string Path { get; } = path;

    public string Problem { get; } = problem;
}

/// <summary>
/// The one reading of a Pod or Node into the facts the scheduling core needs, straight from its JSON: extender
/// requests, informer events, cluster files and the admission webhook all come through here, so the rules cannot
/// drift apart. Only what a decision needs is read, in one pass over each object; a field we never use (probes, env,
/// ports, timestamps) is never looked at and cannot fail a request.
/// </summary>
/// <remarks>
/// The rules, as the API server's own Go decoding has them where they matter: keys are case-sensitive and the last
/// of duplicate keys wins; <c>null</c> is the same as absent (in a label or annotation map it is the empty string).
/// A field we read that holds the wrong JSON type is an <see cref="ObjectReadException"/> naming its path. Map values
/// (labels, annotations, quantities) may be numbers or booleans, as a YAML cluster file writes them unquoted; they
/// are kept as their text. Whether a value is acceptable (a quantity, an annotation) is the core's to say.
/// </remarks>
internal static class ObjectJson
{
    /// <summary>The longest name, namespace or uid accepted: Kubernetes' limit for object names.</summary>
    public const int MaxNameLength = 253;

    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();

    /// <summary>Reads a Pod. Its name may be empty (a pod on CREATE may have only generateName): callers that need one check.</summary>
    /// <exception cref="ObjectReadException">A field the core reads has the wrong type or is too long.</exception>
    public static PodFacts ReadPod(JsonElement pod, string path)
    {
        ExpectObject(pod, path, "a Pod object");
        string? name = null, ns = null, uid = null, nodeName = null, schedulerName = null, phase = null;
        IReadOnlyDictionary<string, string> labels = Empty, annotations = Empty;
        IReadOnlyList<ContainerFacts> containers = [], initContainers = [];
        var priority = 0;
        var deleting = false;
        DateTimeOffset? created = null;
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

                    ExpectObject(top.Value, metadataPath, "an ObjectMeta object");
                    foreach (var m in top.Value.EnumerateObject())
                    {
                        var at = $"{metadataPath}.{m.Name}";
                        switch (m.Name)
                        {
                            case "name":
                                name = Name(m.Value, at);
                                break;
                            case "namespace":
                                ns = Name(m.Value, at);
                                break;
                            case "uid":
                                uid = Name(m.Value, at);
                                break;
                            case "labels":
                                labels = StringMap(m.Value, at);
                                break;
                            case "annotations":
                                annotations = StringMap(m.Value, at);
                                break;
                            case "creationTimestamp":
                                created = TimeOrNull(m.Value);
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

                    ExpectObject(top.Value, specPath, "a PodSpec object");
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
                                nodeName = Name(s.Value, at);
                                break;
                            case "schedulerName":
                                schedulerName = Name(s.Value, at);
                                break;
                            case "priority":
                                priority = Int32(s.Value, at);
                                break;
                        }
                    }

                    break;
                case "status":
                    if (top.Value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }

                    ExpectObject(top.Value, path + ".status", "a PodStatus object");
                    foreach (var st in top.Value.EnumerateObject())
                    {
                        if (st.Name == "phase")
                        {
                            phase = String(st.Value, path + ".status.phase");
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
            CreatedAt = created,
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
        ExpectObject(node, path, "a Node object");
        string? name = null;
        IReadOnlyDictionary<string, string> labels = Empty, annotations = Empty, allocatable = Empty;
        foreach (var top in node.EnumerateObject())
        {
            var at = $"{path}.{top.Name}";
            if (top.Value.ValueKind == JsonValueKind.Null || top.Name is not ("metadata" or "status"))
            {
                continue;
            }

            ExpectObject(top.Value, at, "an object");
            foreach (var p in top.Value.EnumerateObject())
            {
                switch (top.Name, p.Name)
                {
                    case ("metadata", "name"):
                        name = Name(p.Value, $"{at}.name");
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

    /// <summary>For the informers: the pod, or null when it has no name or cannot be read (the API server never sends one).</summary>
    public static PodFacts? PodFactsOf(JsonElement pod)
    {
        try
        {
            var facts = ReadPod(pod, "$");
            return facts.Name.Length == 0 ? null : facts;
        }
        catch (ObjectReadException)
        {
            return null;
        }
    }

    /// <summary>For the informers: the node, or null when it has no name or cannot be read.</summary>
    public static NodeFacts? NodeFactsOf(JsonElement node)
    {
        try
        {
            return ReadNode(node, "$");
        }
        catch (ObjectReadException)
        {
            return null;
        }
    }

    /// <summary>A JSON path segment for a map key: <c>['kaiwo.ai/gpu-fraction']</c>, shortened when the key is huge.</summary>
    public static string KeySegment(string key) => $"['{Shorten(key)}']";

    /// <summary>A JSON value described for a message: its kind, and a number's or short string's text.</summary>
    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => "null",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Number => $"the number {Shorten(value.GetRawText())}",
        JsonValueKind.String => $"the string \"{Shorten(value.GetString() ?? string.Empty)}\"",
        JsonValueKind.Array => "an array",
        _ => "an object",
    };

    public static ObjectReadException WrongType(string path, string expected, JsonElement value) =>
        new(path, $"expected {expected}, got {Describe(value)}");

    public static void ExpectObject(JsonElement value, string path, string expected)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw WrongType(path, expected, value);
        }
    }

    /// <summary>A string or null.</summary>
    public static string? String(JsonElement value, string path) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Null => null,
        _ => throw WrongType(path, "a string", value),
    };

    /// <summary>A name, namespace or uid: a string of at most <see cref="MaxNameLength"/> characters, or null.</summary>
    public static string? Name(JsonElement value, string path)
    {
        var text = String(value, path);
        if (text is { Length: > MaxNameLength })
        {
            throw new ObjectReadException(path, $"is {text.Length} characters long; Kubernetes names are at most {MaxNameLength}");
        }

        return text;
    }

    /// <summary>
    /// An RFC 3339 time (<c>2026-12-02T05:49:15Z</c>), or null when there is none or it is not one. Only a hint (how
    /// long a pending pod has waited, which the extender otherwise counts from when it first saw the pod): a value the
    /// API server would never write must not make the pod unplaceable.
    /// </summary>
    public static DateTimeOffset? TimeOrNull(JsonElement value) =>
        value.ValueKind == JsonValueKind.String && value.TryGetDateTimeOffset(out var time) ? time : null;

    /// <summary>A 32-bit integer, or 0 for null.</summary>
    public static int Int32(JsonElement value, string path) => value.ValueKind switch
    {
        JsonValueKind.Null => 0,
        JsonValueKind.Number when value.TryGetInt32(out var n) => n,
        _ => throw WrongType(path, "a whole number from -2147483648 to 2147483647", value),
    };

    private static string Shorten(string text) => text.Length <= 64 ? text : string.Concat(text.AsSpan(0, 64), $"... ({text.Length} characters)");

    private static List<ContainerFacts> Containers(JsonElement array, string path, bool init)
    {
        if (array.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw WrongType(path, "an array of containers", array);
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

            ExpectObject(c, at, "a Container object");
            string? name = null, restartPolicy = null;
            IReadOnlyDictionary<string, string> requests = Empty, limits = Empty;
            foreach (var p in c.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "name":
                        name = Name(p.Value, $"{at}.name");
                        break;
                    case "restartPolicy" when init:
                        restartPolicy = String(p.Value, $"{at}.restartPolicy");
                        break;
                    case "resources" when p.Value.ValueKind != JsonValueKind.Null:
                        ExpectObject(p.Value, $"{at}.resources", "a ResourceRequirements object");
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

        ExpectObject(map, path, "an object of strings");
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
                _ => throw WrongType(path + KeySegment(p.Name), "a string", p.Value),
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

        ExpectObject(map, path, "an object of quantities");
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
                    throw WrongType(path + KeySegment(p.Name), "a quantity (a string such as \"500m\" or a number)", p.Value);
            }
        }

        return result.Count == 0 ? Empty : result;
    }
}

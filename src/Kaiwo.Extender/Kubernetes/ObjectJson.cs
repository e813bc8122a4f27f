using System.Runtime.InteropServices;
using System.Text;
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
        var reader = ReaderOf(pod);
        return ReadPod(ref reader, path);
    }

    /// <summary>
    /// Reads a Pod from a reader on the pod's first token, leaving it on the pod's last: the one reading of a pod,
    /// which <see cref="ReadPod(JsonElement, string)"/> runs over the element's own bytes. No path is formatted unless
    /// a field is wrong.
    /// </summary>
    /// <exception cref="ObjectReadException">A field the core reads has the wrong type or is too long.</exception>
    public static PodFacts ReadPod(ref Utf8JsonReader reader, string path)
    {
        ExpectObject(ref reader, new FieldPath(path), "a Pod object");
        string? name = null, ns = null, uid = null, nodeName = null, schedulerName = null, phase = null;
        IReadOnlyDictionary<string, string> labels = Empty, annotations = Empty;
        IReadOnlyList<ContainerFacts> containers = [], initContainers = [];
        var priority = 0;
        var deleting = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("metadata"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.Null)
                {
                    continue;
                }

                ExpectObject(ref reader, new FieldPath(path, ".metadata"), "an ObjectMeta object");
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("name"u8))
                    {
                        reader.Read();
                        name = Name(ref reader, new FieldPath(path, ".metadata.name"));
                    }
                    else if (reader.ValueTextEquals("namespace"u8))
                    {
                        reader.Read();
                        ns = Name(ref reader, new FieldPath(path, ".metadata.namespace"));
                    }
                    else if (reader.ValueTextEquals("uid"u8))
                    {
                        reader.Read();
                        uid = Name(ref reader, new FieldPath(path, ".metadata.uid"));
                    }
                    else if (reader.ValueTextEquals("labels"u8))
                    {
                        reader.Read();
                        labels = StringMap(ref reader, new FieldPath(path, ".metadata.labels"));
                    }
                    else if (reader.ValueTextEquals("annotations"u8))
                    {
                        reader.Read();
                        annotations = StringMap(ref reader, new FieldPath(path, ".metadata.annotations"));
                    }
                    else if (reader.ValueTextEquals("deletionTimestamp"u8))
                    {
                        // Only whether it is set matters: the time itself is never parsed.
                        reader.Read();
                        deleting = reader.TokenType != JsonTokenType.Null;
                        reader.Skip();
                    }
                    else
                    {
                        SkipValue(ref reader);
                    }
                }
            }
            else if (reader.ValueTextEquals("spec"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.Null)
                {
                    continue;
                }

                ExpectObject(ref reader, new FieldPath(path, ".spec"), "a PodSpec object");
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("containers"u8))
                    {
                        reader.Read();
                        containers = Containers(ref reader, new FieldPath(path, ".spec.containers"), init: false);
                    }
                    else if (reader.ValueTextEquals("initContainers"u8))
                    {
                        reader.Read();
                        initContainers = Containers(ref reader, new FieldPath(path, ".spec.initContainers"), init: true);
                    }
                    else if (reader.ValueTextEquals("nodeName"u8))
                    {
                        reader.Read();
                        nodeName = Name(ref reader, new FieldPath(path, ".spec.nodeName"));
                    }
                    else if (reader.ValueTextEquals("schedulerName"u8))
                    {
                        reader.Read();
                        schedulerName = Name(ref reader, new FieldPath(path, ".spec.schedulerName"));
                    }
                    else if (reader.ValueTextEquals("priority"u8))
                    {
                        reader.Read();
                        priority = Int32(ref reader, new FieldPath(path, ".spec.priority"));
                    }
                    else
                    {
                        SkipValue(ref reader);
                    }
                }
            }
            else if (reader.ValueTextEquals("status"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.Null)
                {
                    continue;
                }

                ExpectObject(ref reader, new FieldPath(path, ".status"), "a PodStatus object");
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("phase"u8))
                    {
                        reader.Read();
                        phase = String(ref reader, new FieldPath(path, ".status.phase"));
                    }
                    else
                    {
                        SkipValue(ref reader);
                    }
                }
            }
            else
            {
                SkipValue(ref reader);
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
        var reader = ReaderOf(node);
        ExpectObject(ref reader, new FieldPath(path), "a Node object");
        string? name = null;
        IReadOnlyDictionary<string, string> labels = Empty, annotations = Empty, allocatable = Empty;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isMetadata = reader.ValueTextEquals("metadata"u8);
            var isStatus = !isMetadata && reader.ValueTextEquals("status"u8);
            reader.Read();
            if (!(isMetadata || isStatus) || reader.TokenType == JsonTokenType.Null)
            {
                reader.Skip();
                continue;
            }

            ExpectObject(ref reader, new FieldPath(path, isMetadata ? ".metadata" : ".status"), "an object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (isMetadata && reader.ValueTextEquals("name"u8))
                {
                    reader.Read();
                    name = Name(ref reader, new FieldPath(path, ".metadata.name"));
                }
                else if (isMetadata && reader.ValueTextEquals("labels"u8))
                {
                    reader.Read();
                    labels = StringMap(ref reader, new FieldPath(path, ".metadata.labels"));
                }
                else if (isMetadata && reader.ValueTextEquals("annotations"u8))
                {
                    reader.Read();
                    annotations = StringMap(ref reader, new FieldPath(path, ".metadata.annotations"));
                }
                else if (isStatus && reader.ValueTextEquals("allocatable"u8))
                {
                    reader.Read();
                    allocatable = Quantities(ref reader, new FieldPath(path, ".status.allocatable"));
                }
                else
                {
                    SkipValue(ref reader);
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
    public static string Describe(JsonElement value) => Describe(
        value.ValueKind,
        value.ValueKind switch
        {
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.String => value.GetString(),
            _ => null,
        });

    /// <summary>The reader's current value described as <see cref="Describe(JsonElement)"/> describes an element.</summary>
    private static string Describe(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.Null => Describe(JsonValueKind.Null, null),
        JsonTokenType.True => Describe(JsonValueKind.True, null),
        JsonTokenType.False => Describe(JsonValueKind.False, null),
        JsonTokenType.Number => Describe(JsonValueKind.Number, RawText(ref reader)),
        JsonTokenType.String => Describe(JsonValueKind.String, reader.GetString()),
        JsonTokenType.StartArray => Describe(JsonValueKind.Array, null),
        _ => Describe(JsonValueKind.Object, null),
    };

    private static string Describe(JsonValueKind kind, string? text) => kind switch
    {
        JsonValueKind.Null => "null",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Number => $"the number {Shorten(text ?? string.Empty)}",
        JsonValueKind.String => $"the string \"{Shorten(text ?? string.Empty)}\"",
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

    /// <summary>A 32-bit integer, or 0 for null.</summary>
    public static int Int32(JsonElement value, string path) => value.ValueKind switch
    {
        JsonValueKind.Null => 0,
        JsonValueKind.Number when value.TryGetInt32(out var n) => n,
        _ => throw WrongType(path, "a whole number from -2147483648 to 2147483647", value),
    };

    private static string Shorten(string text) => text.Length <= 64 ? text : string.Concat(text.AsSpan(0, 64), $"... ({text.Length} characters)");

    /// <summary>Where <see cref="ReadPod(JsonElement, string)"/> and <see cref="ReadNode"/> read an element: its own bytes, nothing copied.</summary>
    private static Utf8JsonReader ReaderOf(JsonElement element)
    {
        var reader = new Utf8JsonReader(JsonMarshal.GetRawUtf8Value(element), ElementReaderOptions);
        reader.Read();
        return reader;
    }

    /// <summary>The element's document has already taken its bytes as JSON, under whatever options it was parsed with.</summary>
    private static readonly JsonReaderOptions ElementReaderOptions = new()
    {
        MaxDepth = 1024,
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>From a property name, past its value: a field we never use.</summary>
    private static void SkipValue(ref Utf8JsonReader reader)
    {
        reader.Read();
        reader.Skip();
    }

    /// <summary>A number's text as it is written in the JSON.</summary>
    private static string RawText(ref Utf8JsonReader reader) => Encoding.UTF8.GetString(reader.ValueSpan);

    private static ObjectReadException WrongType(string path, string expected, ref Utf8JsonReader reader) =>
        new(path, $"expected {expected}, got {Describe(ref reader)}");

    private static void ExpectObject(ref Utf8JsonReader reader, FieldPath path, string expected)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw WrongType(path.ToString(), expected, ref reader);
        }
    }

    private static string? String(ref Utf8JsonReader reader, FieldPath path) => reader.TokenType switch
    {
        JsonTokenType.String => reader.GetString(),
        JsonTokenType.Null => null,
        _ => throw WrongType(path.ToString(), "a string", ref reader),
    };

    private static string? Name(ref Utf8JsonReader reader, FieldPath path)
    {
        var text = String(ref reader, path);
        if (text is { Length: > MaxNameLength })
        {
            throw new ObjectReadException(path.ToString(), $"is {text.Length} characters long; Kubernetes names are at most {MaxNameLength}");
        }

        return text;
    }

    private static int Int32(ref Utf8JsonReader reader, FieldPath path) => reader.TokenType switch
    {
        JsonTokenType.Null => 0,
        JsonTokenType.Number when reader.TryGetInt32(out var n) => n,
        _ => throw WrongType(path.ToString(), "a whole number from -2147483648 to 2147483647", ref reader),
    };

    private static List<ContainerFacts> Containers(ref Utf8JsonReader reader, FieldPath path, bool init)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return [];
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw WrongType(path.ToString(), "an array of containers", ref reader);
        }

        var result = new List<ContainerFacts>();
        var index = -1;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            index++;
            if (reader.TokenType == JsonTokenType.Null)
            {
                continue; // as Go decodes it: a container with nothing set, which asks for nothing
            }

            var at = path with { Index = index };
            ExpectObject(ref reader, at, "a Container object");
            string? name = null, restartPolicy = null;
            IReadOnlyDictionary<string, string> requests = Empty, limits = Empty;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("name"u8))
                {
                    reader.Read();
                    name = Name(ref reader, at with { Member = ".name" });
                }
                else if (init && reader.ValueTextEquals("restartPolicy"u8))
                {
                    reader.Read();
                    restartPolicy = String(ref reader, at with { Member = ".restartPolicy" });
                }
                else if (reader.ValueTextEquals("resources"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        continue;
                    }

                    ExpectObject(ref reader, at with { Member = ".resources" }, "a ResourceRequirements object");
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("requests"u8))
                        {
                            reader.Read();
                            requests = Quantities(ref reader, at with { Member = ".resources.requests" });
                        }
                        else if (reader.ValueTextEquals("limits"u8))
                        {
                            reader.Read();
                            limits = Quantities(ref reader, at with { Member = ".resources.limits" });
                        }
                        else
                        {
                            SkipValue(ref reader);
                        }
                    }
                }
                else
                {
                    SkipValue(ref reader);
                }
            }

            result.Add(new ContainerFacts(name ?? string.Empty, requests, limits, restartPolicy == "Always"));
        }

        return result;
    }

    /// <summary>Labels or annotations: strings (null is the empty string, numbers and booleans their text).</summary>
    private static IReadOnlyDictionary<string, string> StringMap(ref Utf8JsonReader reader, FieldPath path)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return Empty;
        }

        ExpectObject(ref reader, path, "an object of strings");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var key = reader.GetString()!;
            reader.Read();
            result[key] = reader.TokenType switch
            {
                JsonTokenType.String => reader.GetString()!,
                JsonTokenType.Null => string.Empty,
                JsonTokenType.Number => RawText(ref reader),
                JsonTokenType.True => "true",
                JsonTokenType.False => "false",
                _ => throw WrongType(path + KeySegment(key), "a string", ref reader),
            };
        }

        return result.Count == 0 ? Empty : result;
    }

    /// <summary>A resource list: quantities as strings or numbers; a null entry is absent. Parsing them is the core's.</summary>
    private static IReadOnlyDictionary<string, string> Quantities(ref Utf8JsonReader reader, FieldPath path)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return Empty;
        }

        ExpectObject(ref reader, path, "an object of quantities");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var key = reader.GetString()!;
            reader.Read();
            switch (reader.TokenType)
            {
                case JsonTokenType.String:
                    result[key] = reader.GetString()!;
                    break;
                case JsonTokenType.Number:
                    result[key] = RawText(ref reader);
                    break;
                case JsonTokenType.Null:
                    result.Remove(key);
                    break;
                default:
                    throw WrongType(path + KeySegment(key), "a quantity (a string such as \"500m\" or a number)", ref reader);
            }
        }

        return result.Count == 0 ? Empty : result;
    }

    /// <summary>
    /// A field's JSON path in parts (the object's path, the field, a container's index, a member of it), made into a
    /// string only for an error: reading a sound object formats no path.
    /// </summary>
    private readonly record struct FieldPath(string Root, string Field = "", int Index = -1, string Member = "")
    {
        public static string operator +(FieldPath path, string segment) => path.ToString() + segment;

        public override string ToString() => Index < 0 ? Root + Field + Member : $"{Root}{Field}[{Index}]{Member}";
    }
}

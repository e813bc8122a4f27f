using System.Text.Json;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Wire;

/// <summary>
/// Reads the bodies kube-scheduler sends, from their JSON, into the types the verbs take. The extender types' keys are
/// Go field names, matched case-insensitively as Go's encoding/json does (the last of duplicates wins); the embedded
/// Pods and Nodes go through <see cref="ObjectJson"/>. Every problem is an <see cref="ObjectReadException"/> naming
/// the JSON path; nothing is sized from the body before it is read.
/// </summary>
internal static class ExtenderRequests
{
    /// <summary>For callers with no document to keep alive (benchmarks, tools): reads a parsed copy of the body.</summary>
    public static ExtenderArgs ReadArgs(byte[] utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json);
        return ReadArgs(JsonElement.ParseValue(ref reader));
    }

    /// <summary>Deeper JSON is refused: no Pod, Node or extender type nests anywhere near this.</summary>
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    /// <summary>
    /// Parses a body and reads it as <paramref name="type"/>: the document (to be disposed once the answer, which may
    /// echo parts of it, is written) and the request, or null and the error an HTTP 400 carries, naming the JSON path
    /// or the byte where the JSON broke, and what was wrong.
    /// </summary>
    public static JsonDocument? TryRead<TArgs>(ReadOnlyMemory<byte> body, string type, Func<JsonElement, TArgs> read, out TArgs? args, out string? error)
    {
        ArgumentNullException.ThrowIfNull(read);
        args = default;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, DocumentOptions);
        }
        catch (JsonException ex)
        {
            error = $"request body is not a valid {type}: not JSON ({Where(ex)}): {ex.Message}";
            return null;
        }

        try
        {
            args = read(document.RootElement);
            error = null;
            return document;
        }
        catch (ObjectReadException ex)
        {
            document.Dispose();
            error = $"request body is not a valid {type}: {ex.Path}: {ex.Problem}";
            return null;
        }
    }

    /// <summary>Where a JSON syntax error is: the path so far and the line and byte.</summary>
    private static string Where(JsonException ex) =>
        $"at {ex.Path ?? "$"}, line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}";

    public static ExtenderArgs ReadArgs(JsonElement body)
    {
        ObjectJson.ExpectObject(body, "$", "an ExtenderArgs object");
        JsonElement? pod = null;
        NodeListPayload? nodes = null;
        List<string>? names = null;
        foreach (var p in body.EnumerateObject())
        {
            switch (p.Name.ToUpperInvariant())
            {
                case "POD":
                    pod = p.Value;
                    break;
                case "NODES":
                    nodes = ReadNodeList(p.Value, "$." + p.Name);
                    break;
                case "NODENAMES":
                    names = NodeNames(p.Value, "$." + p.Name);
                    break;
            }
        }

        var facts = RequiredPod(pod, "$.Pod");
        if (names is null && nodes is null)
        {
            throw new ObjectReadException("$.NodeNames", "and $.Nodes are both null; ExtenderArgs needs NodeNames (nodeCacheCapable: true) or Nodes.items (nodeCacheCapable: false)");
        }

        return new ExtenderArgs { Pod = facts, Nodes = nodes, NodeNames = names };
    }

    public static BindTarget ReadBinding(JsonElement body)
    {
        ObjectJson.ExpectObject(body, "$", "an ExtenderBindingArgs object");
        string? name = null, ns = null, uid = null, node = null;
        foreach (var p in body.EnumerateObject())
        {
            var at = "$." + p.Name;
            switch (p.Name.ToUpperInvariant())
            {
                case "PODNAME":
                    name = ObjectJson.Name(p.Value, at);
                    break;
                case "PODNAMESPACE":
                    ns = ObjectJson.Name(p.Value, at);
                    break;
                case "PODUID":
                    uid = ObjectJson.Name(p.Value, at);
                    break;
                case "NODE":
                    node = ObjectJson.Name(p.Value, at);
                    break;
            }
        }

        if (string.IsNullOrEmpty(name) || string.IsNullOrEmpty(ns) || string.IsNullOrEmpty(uid) || string.IsNullOrEmpty(node))
        {
            var missing = new[] { ("PodName", name), ("PodNamespace", ns), ("PodUID", uid), ("Node", node) }
                .Where(f => string.IsNullOrEmpty(f.Item2))
                .Select(f => "$." + f.Item1);
            throw new ObjectReadException(string.Join(", ", missing), "missing or empty; ExtenderBindingArgs needs PodName, PodNamespace, PodUID and Node");
        }

        return new BindTarget(ns, name, uid, node);
    }

    public static ExtenderPreemptionArgs ReadPreemption(JsonElement body)
    {
        ObjectJson.ExpectObject(body, "$", "an ExtenderPreemptionArgs object");
        JsonElement? pod = null;
        Dictionary<string, MetaVictims>? meta = null, full = null;
        foreach (var p in body.EnumerateObject())
        {
            switch (p.Name.ToUpperInvariant())
            {
                case "POD":
                    pod = p.Value;
                    break;
                case "NODENAMETOMETAVICTIMS":
                    meta = VictimsByNode(p.Value, "$." + p.Name, fullPods: false);
                    break;
                case "NODENAMETOVICTIMS":
                    full = VictimsByNode(p.Value, "$." + p.Name, fullPods: true);
                    break;
            }
        }

        return new ExtenderPreemptionArgs { Pod = RequiredPod(pod, "$.Pod"), Victims = meta ?? full ?? [] };
    }

    /// <summary>A NodeList: each item read as a Node and kept as its JSON, to be echoed back unchanged.</summary>
    public static NodeListPayload? ReadNodeList(JsonElement list, string path)
    {
        if (list.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        ObjectJson.ExpectObject(list, path, "a NodeList object");
        string? apiVersion = null, kind = null;
        JsonElement? metadata = null;
        var items = new List<NodePayload>();
        foreach (var p in list.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "apiVersion":
                    apiVersion = ObjectJson.String(p.Value, at);
                    break;
                case "kind":
                    kind = ObjectJson.String(p.Value, at);
                    break;
                case "metadata":
                    metadata = p.Value.ValueKind == JsonValueKind.Null ? null : p.Value;
                    break;
                case "items":
                    items.Clear();
                    if (p.Value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }

                    if (p.Value.ValueKind != JsonValueKind.Array)
                    {
                        throw ObjectJson.WrongType(at, "an array of Node objects", p.Value);
                    }

                    var index = 0;
                    foreach (var node in p.Value.EnumerateArray())
                    {
                        var itemPath = $"{at}[{index++}]";
                        items.Add(new NodePayload(node, ObjectJson.ReadNode(node, itemPath)));
                    }

                    break;
            }
        }

        return new NodeListPayload { ApiVersion = apiVersion, Kind = kind, Metadata = metadata, Items = items };
    }

    private static PodFacts RequiredPod(JsonElement? pod, string path)
    {
        if (pod is not { ValueKind: not JsonValueKind.Null } value)
        {
            throw new ObjectReadException(path, "is missing; the request is about this Pod");
        }

        var facts = ObjectJson.ReadPod(value, path);
        if (facts.Name.Length == 0)
        {
            throw new ObjectReadException(path + ".metadata.name", "is missing; the Pod to schedule needs a name");
        }

        return facts;
    }

    private static List<string>? NodeNames(JsonElement array, string path)
    {
        if (array.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw ObjectJson.WrongType(path, "an array of node names", array);
        }

        var names = new List<string>(array.GetArrayLength());
        var index = 0;
        foreach (var e in array.EnumerateArray())
        {
            var at = $"{path}[{index++}]";
            names.Add(ObjectJson.Name(e, at) is { Length: > 0 } name ? name : throw ObjectJson.WrongType(at, "a node name", e));
        }

        return names;
    }

    private static Dictionary<string, MetaVictims>? VictimsByNode(JsonElement map, string path, bool fullPods)
    {
        if (map.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        ObjectJson.ExpectObject(map, path, "an object of victims by node name");
        var result = new Dictionary<string, MetaVictims>(StringComparer.Ordinal);
        foreach (var node in map.EnumerateObject())
        {
            var at = path + ObjectJson.KeySegment(node.Name);
            if (node.Name.Length is 0 or > ObjectJson.MaxNameLength)
            {
                throw new ObjectReadException(at, $"is not a node name (1 to {ObjectJson.MaxNameLength} characters)");
            }

            if (node.Value.ValueKind == JsonValueKind.Null)
            {
                result.Remove(node.Name);
                continue;
            }

            ObjectJson.ExpectObject(node.Value, at, fullPods ? "a Victims object" : "a MetaVictims object");
            var victims = new MetaVictims();
            foreach (var p in node.Value.EnumerateObject())
            {
                switch (p.Name.ToUpperInvariant())
                {
                    case "PODS":
                        victims.Pods = VictimPods(p.Value, $"{at}.{p.Name}", fullPods);
                        break;
                    case "NUMPDBVIOLATIONS":
                        victims.NumPdbViolations = p.Value.ValueKind switch
                        {
                            JsonValueKind.Null => 0,
                            JsonValueKind.Number when p.Value.TryGetInt64(out var n) => n,
                            _ => throw ObjectJson.WrongType($"{at}.{p.Name}", "a whole number", p.Value),
                        };
                        break;
                }
            }

            result[node.Name] = victims;
        }

        return result;
    }

    /// <summary>The UIDs of the victims: of a full Pod only <c>metadata.uid</c>, of a MetaPod its <c>UID</c>.</summary>
    private static List<MetaPod> VictimPods(JsonElement array, string path, bool fullPods)
    {
        if (array.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw ObjectJson.WrongType(path, "an array of pods", array);
        }

        var pods = new List<MetaPod>(array.GetArrayLength());
        var index = 0;
        foreach (var victim in array.EnumerateArray())
        {
            var at = $"{path}[{index++}]";
            ObjectJson.ExpectObject(victim, at, fullPods ? "a Pod object" : "a MetaPod object");
            string? uid = null;
            foreach (var p in victim.EnumerateObject())
            {
                if (fullPods && p.Name == "metadata" && p.Value.ValueKind != JsonValueKind.Null)
                {
                    ObjectJson.ExpectObject(p.Value, $"{at}.metadata", "an ObjectMeta object");
                    foreach (var m in p.Value.EnumerateObject())
                    {
                        if (m.Name == "uid")
                        {
                            uid = ObjectJson.Name(m.Value, $"{at}.metadata.uid");
                        }
                    }
                }
                else if (!fullPods && p.Name.Equals("UID", StringComparison.OrdinalIgnoreCase))
                {
                    uid = ObjectJson.Name(p.Value, $"{at}.{p.Name}");
                }
            }

            if (string.IsNullOrEmpty(uid))
            {
                throw new ObjectReadException(fullPods ? $"{at}.metadata.uid" : $"{at}.UID", "is missing; a victim is named by its UID");
            }

            pods.Add(new MetaPod { Uid = uid });
        }

        return pods;
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Kaiwo.Extender.Standalone;

/// <summary>The objects of a cluster file.</summary>
internal sealed record ClusterFileContents(IReadOnlyList<NodeFacts> Nodes, IReadOnlyList<PodFacts> Pods, IReadOnlyList<JsonElement> Queues);

/// <summary>
/// Reads a standalone cluster: plain Kubernetes YAML as <c>kubectl get -o yaml</c> writes it, multi-document or a
/// <c>List</c>, holding Node, Pod and KaiwoQueue objects. Other kinds are refused by name, so a typo is not silently
/// dropped. Each object becomes JSON, as kubectl would send it, and Nodes and Pods are read by the same
/// <see cref="ObjectJson"/> as the API server's objects.
/// </summary>
internal static class ClusterFile
{
    public static ClusterFileContents Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ClusterFileException($"cluster file {path}: cannot be read ({ex.Message})", ex);
        }

        return Parse(text, path);
    }

    public static ClusterFileContents Parse(string yaml, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new ClusterFileException($"cluster file {source}: not valid YAML at line {ex.Start.Line}: {ex.Message}", ex);
        }

        var nodes = new List<NodeFacts>();
        var pods = new List<PodFacts>();
        var queues = new List<JsonElement>();
        var number = 0;
        foreach (var document in stream.Documents)
        {
            number++;
            if (document.RootNode is YamlScalarNode { Value: null or "" or "~" })
            {
                continue; // an empty document, e.g. after a trailing ---
            }

            if (document.RootNode is not YamlMappingNode root)
            {
                throw new ClusterFileException($"cluster file {source}: document {number} is not a Kubernetes object");
            }

            var kind = Scalar(root, "kind");
            if (kind == "List" || kind?.EndsWith("List", StringComparison.Ordinal) == true)
            {
                if (root.Children.TryGetValue(new YamlScalarNode("items"), out var items) && items is YamlSequenceNode sequence)
                {
                    var index = 0;
                    foreach (var item in sequence)
                    {
                        Add(item, $"document {number} item {index++}");
                    }
                }

                continue;
            }

            Add(root, $"document {number}");
        }

        return new ClusterFileContents(nodes, pods, queues);

        void Add(YamlNode node, string where)
        {
            if (node is not YamlMappingNode mapping)
            {
                throw new ClusterFileException($"cluster file {source}: {where} is not a Kubernetes object");
            }

            var kind = Scalar(mapping, "kind");
            if (kind is not ("Node" or "Pod" or "KaiwoQueue"))
            {
                throw new ClusterFileException($"cluster file {source}: {where} has kind \"{kind}\"; accepted kinds are Node, Pod, KaiwoQueue and List");
            }

            var json = JsonSerializer.SerializeToElement(ToJson(mapping));
            try
            {
                switch (kind)
                {
                    case "Node":
                        nodes.Add(ObjectJson.ReadNode(json, "$"));
                        break;
                    case "Pod":
                        var pod = ObjectJson.ReadPod(json, "$");
                        pods.Add(pod.Name.Length > 0 ? pod : throw new ObjectReadException("$.metadata.name", "is missing; a Pod needs a name"));
                        break;
                    default:
                        queues.Add(json);
                        break;
                }
            }
            catch (ObjectReadException ex)
            {
                throw new ClusterFileException($"cluster file {source}: {where} ({kind}) does not read as a Kubernetes {kind}: {ex.Path}: {ex.Problem}", ex);
            }
        }
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    /// <summary>A YAML node as JSON: plain scalars that read as numbers or booleans become numbers and booleans, as kubectl would send them.</summary>
    internal static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(p => KeyValuePair.Create(
            p.Key is YamlScalarNode key ? key.Value ?? string.Empty : throw new ClusterFileException($"an object has a mapping key that is not a plain value, at line {p.Key.Start.Line}"),
            ToJson(p.Value)))),
        YamlSequenceNode seq => new JsonArray([.. seq.Children.Select(ToJson)]),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "null" or "~" or "" or null } => null,
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" } => JsonValue.Create(true),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "false" } => JsonValue.Create(false),
        YamlScalarNode { Style: ScalarStyle.Plain } plain when long.TryParse(plain.Value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n) => JsonValue.Create(n),
        YamlScalarNode { Style: ScalarStyle.Plain } plain when double.TryParse(plain.Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => JsonValue.Create(d),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => null,
    };
}

/// <summary>A cluster file that cannot be served: the message says where and why.</summary>
internal sealed class ClusterFileException : Exception
{
    public ClusterFileException(string message)
        : base(message)
    {
    }

    public ClusterFileException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

using k8s;
using k8s.Models;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Kaiwo.Extender.Standalone;

/// <summary>The objects of a cluster file.</summary>
internal sealed record ClusterFileContents(IReadOnlyList<V1Node> Nodes, IReadOnlyList<V1Pod> Pods, IReadOnlyList<string> QueueNames);

/// <summary>
/// Reads a standalone cluster: plain Kubernetes YAML as <c>kubectl get -o yaml</c> writes it, multi-document or a
/// <c>List</c>, holding Node, Pod and KaiwoQueue objects. Other kinds are refused by name, so a typo is not silently
/// dropped.
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

        var nodes = new List<V1Node>();
        var pods = new List<V1Pod>();
        var queues = new List<string>();
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
            var text = Serialize(mapping);
            try
            {
                switch (kind)
                {
                    case "Node":
                        nodes.Add(KubernetesYaml.Deserialize<V1Node>(text, strict: false));
                        break;
                    case "Pod":
                        pods.Add(KubernetesYaml.Deserialize<V1Pod>(text, strict: false));
                        break;
                    case "KaiwoQueue":
                        queues.Add(mapping.Children.TryGetValue(new YamlScalarNode("metadata"), out var m) && m is YamlMappingNode meta
                            ? Scalar(meta, "name") ?? string.Empty
                            : string.Empty);
                        break;
                    default:
                        throw new ClusterFileException($"cluster file {source}: {where} has kind \"{kind}\"; accepted kinds are Node, Pod, KaiwoQueue and List");
                }
            }
            catch (YamlException ex)
            {
                throw new ClusterFileException($"cluster file {source}: {where} ({kind}) does not read as a Kubernetes {kind}: {ex.Message}", ex);
            }
        }
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    private static string Serialize(YamlNode node)
    {
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(node)).Save(writer, assignAnchors: false);
        return writer.ToString();
    }
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

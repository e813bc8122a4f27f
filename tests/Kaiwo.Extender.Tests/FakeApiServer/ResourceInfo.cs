using System.Text.Json.Nodes;

namespace Kaiwo.Extender.Tests.FakeApiServer;

internal enum ResourceKind
{
    Node,
    Pod,
    Queue,
}

/// <summary>What the fake knows about a resource: names, group, scope, and how its JSON is written.</summary>
internal sealed class ResourceInfo
{
    public static readonly ResourceInfo Nodes = new(ResourceKind.Node, "nodes", string.Empty, "v1", "Node", "NodeList", namespaced: false, GoTypes.Node);

    public static readonly ResourceInfo Pods = new(ResourceKind.Pod, "pods", string.Empty, "v1", "Pod", "PodList", namespaced: true, GoTypes.Pod);

    public static readonly ResourceInfo Queues = new(ResourceKind.Queue, "kaiwoqueues", "kaiwo.ai", "kaiwo.ai/v1alpha2", "KaiwoQueue", "KaiwoQueueList", namespaced: false, goType: null);

    private ResourceInfo(ResourceKind kind, string plural, string group, string apiVersion, string kindName, string listKind, bool namespaced, GoType? goType)
    {
        Kind = kind;
        Plural = plural;
        Group = group;
        ApiVersion = apiVersion;
        KindName = kindName;
        ListKind = listKind;
        Namespaced = namespaced;
        GoType = goType;
    }

    public ResourceKind Kind { get; }

    public string Plural { get; }

    public string Group { get; }

    public string ApiVersion { get; }

    public string KindName { get; }

    public string ListKind { get; }

    public bool Namespaced { get; }

    /// <summary>The Go struct of a built-in type; null for a custom resource, whose JSON has sorted keys.</summary>
    public GoType? GoType { get; }

    public bool IsCustom => GoType is null;

    /// <summary>"pods", or "kaiwoqueues.kaiwo.ai" for a resource in a group, as error messages name it.</summary>
    public string QualifiedResource => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    public static ResourceInfo Of(ResourceKind kind) => kind switch
    {
        ResourceKind.Node => Nodes,
        ResourceKind.Pod => Pods,
        _ => Queues,
    };

    /// <summary>The store key: "namespace/name" for a namespaced resource, the name otherwise (etcd key order).</summary>
    public string Key(string? ns, string name) => Namespaced ? $"{ns}/{name}" : name;

    /// <summary>
    /// The empty shell of the kind with only metadata.resourceVersion set, as a BOOKMARK carries it:
    /// <c>{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"95","creationTimestamp":null},"spec":{"containers":null},"status":{}}</c>.
    /// </summary>
    public JsonObject BookmarkShell(long resourceVersion)
    {
        var shell = new JsonObject
        {
            ["apiVersion"] = ApiVersion,
            ["kind"] = KindName,
            ["metadata"] = new JsonObject { ["resourceVersion"] = resourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        };
        return GoType is null ? shell : GoJson.Order(shell, GoType);
    }
}

using System.Text.Json.Serialization;
using k8s.Models;

namespace Kaiwo.Extender.Wire;

// The types of k8s.io/kube-scheduler/extender/v1. Go marshals them without JSON tags, so the keys are the Go field
// names in PascalCase. We read them case-insensitively and write them exactly as Go would.

/// <summary>ExtenderArgs: the body of filter and prioritize.</summary>
internal sealed class ExtenderArgs
{
    [JsonPropertyName("Pod")]
    public V1Pod? Pod { get; set; }

    /// <summary>Set when the extender is not nodeCacheCapable: the full candidate nodes.</summary>
    [JsonPropertyName("Nodes")]
    public NodeListPayload? Nodes { get; set; }

    /// <summary>Set when the extender is nodeCacheCapable: only the candidate node names.</summary>
    [JsonPropertyName("NodeNames")]
    public List<string>? NodeNames { get; set; }
}

/// <summary>ExtenderFilterResult.</summary>
internal sealed class ExtenderFilterResult
{
    [JsonPropertyName("Nodes")]
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public NodeListPayload? Nodes { get; set; }

    [JsonPropertyName("NodeNames")]
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public List<string>? NodeNames { get; set; }

    [JsonPropertyName("FailedNodes")]
    public Dictionary<string, string> FailedNodes { get; set; } = [];

    [JsonPropertyName("FailedAndUnresolvableNodes")]
    public Dictionary<string, string> FailedAndUnresolvableNodes { get; set; } = [];

    [JsonPropertyName("Error")]
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string Error { get; set; } = string.Empty;
}

/// <summary>HostPriority: one entry of the bare array prioritize answers.</summary>
internal sealed class HostPriority
{
    [JsonPropertyName("Host")]
    public string Host { get; set; } = string.Empty;

    [JsonPropertyName("Score")]
    public long Score { get; set; }
}

/// <summary>ExtenderBindingArgs.</summary>
internal sealed class ExtenderBindingArgs
{
    [JsonPropertyName("PodName")]
    public string? PodName { get; set; }

    [JsonPropertyName("PodNamespace")]
    public string? PodNamespace { get; set; }

    [JsonPropertyName("PodUID")]
    public string? PodUid { get; set; }

    [JsonPropertyName("Node")]
    public string? Node { get; set; }
}

/// <summary>ExtenderBindingResult.</summary>
internal sealed class ExtenderBindingResult
{
    [JsonPropertyName("Error")]
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string Error { get; set; } = string.Empty;
}

/// <summary>MetaPod: a victim named by UID.</summary>
internal sealed class MetaPod
{
    [JsonPropertyName("UID")]
    public string Uid { get; set; } = string.Empty;
}

/// <summary>MetaVictims.</summary>
internal sealed class MetaVictims
{
    [JsonPropertyName("Pods")]
    public List<MetaPod> Pods { get; set; } = [];

    [JsonPropertyName("NumPDBViolations")]
    public long NumPdbViolations { get; set; }
}

/// <summary>Victims: full victim pods, sent when the extender is not nodeCacheCapable.</summary>
internal sealed class Victims
{
    [JsonPropertyName("Pods")]
    public List<V1Pod>? Pods { get; set; }

    [JsonPropertyName("NumPDBViolations")]
    public long NumPdbViolations { get; set; }
}

/// <summary>ExtenderPreemptionArgs.</summary>
internal sealed class ExtenderPreemptionArgs
{
    [JsonPropertyName("Pod")]
    public V1Pod? Pod { get; set; }

    [JsonPropertyName("NodeNameToVictims")]
    public Dictionary<string, Victims>? NodeNameToVictims { get; set; }

    [JsonPropertyName("NodeNameToMetaVictims")]
    public Dictionary<string, MetaVictims>? NodeNameToMetaVictims { get; set; }
}

/// <summary>ExtenderPreemptionResult: always answered with meta victims, as kube-scheduler reads it.</summary>
internal sealed class ExtenderPreemptionResult
{
    [JsonPropertyName("NodeNameToMetaVictims")]
    public Dictionary<string, MetaVictims> NodeNameToMetaVictims { get; set; } = [];
}

/// <summary>The JSON body of an HTTP 400.</summary>
internal sealed class ErrorBody
{
    [JsonPropertyName("Error")]
    public string Error { get; set; } = string.Empty;
}

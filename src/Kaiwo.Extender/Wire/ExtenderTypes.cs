using System.Text.Json.Serialization;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Wire;

// The types of k8s.io/kube-scheduler/extender/v1. Go marshals them without JSON tags, so the keys are the Go field
// names in PascalCase. We read them case-insensitively and write them exactly as Go would.

/// <summary>ExtenderArgs: the body of filter and prioritize, as <see cref="ExtenderRequests"/> reads it.</summary>
internal sealed class ExtenderArgs
{
    public required PodFacts Pod { get; init; }

    /// <summary>Set when the extender is not nodeCacheCapable: the full candidate nodes.</summary>
    public NodeListPayload? Nodes { get; init; }

    /// <summary>Set when the extender is nodeCacheCapable: only the candidate node names.</summary>
    public IReadOnlyList<string>? NodeNames { get; init; }
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

/// <summary>ExtenderPreemptionArgs, as <see cref="ExtenderRequests"/> reads it: the victims by node, named by UID.</summary>
/// <remarks>kube-scheduler sends NodeNameToMetaVictims when nodeCacheCapable and NodeNameToVictims (full pods) otherwise; of a full victim only its UID is read.</remarks>
internal sealed class ExtenderPreemptionArgs
{
    public required PodFacts Pod { get; init; }

    public required IReadOnlyDictionary<string, MetaVictims> Victims { get; init; }
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

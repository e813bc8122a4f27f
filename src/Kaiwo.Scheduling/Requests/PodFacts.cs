namespace Kaiwo.Scheduling.Requests;

/// <summary>What the core needs to know of one container: its resource requests and limits as quantity strings.</summary>
public sealed record ContainerFacts(
    string Name,
    IReadOnlyDictionary<string, string> Requests,
    IReadOnlyDictionary<string, string> Limits,
    bool IsRestartableInit = false);

/// <summary>The lifecycle phase of a pod, as Kubernetes reports it.</summary>
public enum PodPhase
{
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

/// <summary>
/// A pod as the scheduling core sees it: plain values, no Kubernetes client types.
/// Every source (extender requests, informer events, cluster files, the admission webhook) builds it with the one
/// JSON mapper of the host, so that the rules of reading a pod cannot drift apart.
/// </summary>
public sealed record PodFacts
{
    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();

    public required string Namespace { get; init; }
    public required string Name { get; init; }
    public required string Uid { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = Empty;
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = Empty;
    public IReadOnlyList<ContainerFacts> Containers { get; init; } = [];
    public IReadOnlyList<ContainerFacts> InitContainers { get; init; } = [];
    public string? NodeName { get; init; }
    public PodPhase Phase { get; init; } = PodPhase.Pending;
    public int Priority { get; init; }
    public string? SchedulerName { get; init; }

    /// <summary><c>metadata.creationTimestamp</c>, when the source gives one: how long a pending pod has waited.</summary>
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary><c>metadata.deletionTimestamp</c> is set: the pod is being deleted and must not be bound.</summary>
    public bool IsDeleting { get; init; }

    /// <summary>Namespace/name, the key operators read in logs and in /inspect.</summary>
    public string Key => $"{Namespace}/{Name}";

    /// <summary>Succeeded and Failed pods hold nothing.</summary>
    public bool IsTerminated => Phase is PodPhase.Succeeded or PodPhase.Failed;
}

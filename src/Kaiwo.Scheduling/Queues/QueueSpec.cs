namespace Kaiwo.Scheduling.Queues;

/// <summary>The three resources queues share, in the exact integer units the core counts in.</summary>
public enum QueueResource
{
    /// <summary>GPUs in thousandths: a 0.25 fraction is 250, a whole GPU 1000.</summary>
    Gpu,

    /// <summary>CPU in millicores.</summary>
    Cpu,

    /// <summary>Memory in MiB.</summary>
    Memory,
}

/// <summary>An amount of each queue resource: GPU thousandths, CPU millicores, memory MiB.</summary>
public readonly record struct ResourceVector(long Gpu, long Cpu, long Memory)
{
    public static ResourceVector Zero => default;

    public long this[QueueResource resource] => resource switch
    {
        QueueResource.Gpu => Gpu,
        QueueResource.Cpu => Cpu,
        _ => Memory,
    };

    public static ResourceVector operator +(ResourceVector a, ResourceVector b) => new(a.Gpu + b.Gpu, a.Cpu + b.Cpu, a.Memory + b.Memory);

    public static ResourceVector operator -(ResourceVector a, ResourceVector b) => new(a.Gpu - b.Gpu, a.Cpu - b.Cpu, a.Memory - b.Memory);

    public ResourceVector With(QueueResource resource, long value) => resource switch
    {
        QueueResource.Gpu => this with { Gpu = value },
        QueueResource.Cpu => this with { Cpu = value },
        _ => this with { Memory = value },
    };

    public bool IsZero => Gpu == 0 && Cpu == 0 && Memory == 0;

    public static IReadOnlyList<QueueResource> All { get; } = [QueueResource.Gpu, QueueResource.Cpu, QueueResource.Memory];

    /// <summary>"2.5 GPU", "150 cores", "128 GiB": an amount as the CRD spells it.</summary>
    public static string Format(QueueResource resource, long amount) => resource switch
    {
        QueueResource.Gpu => $"{Requests.Share.Format(amount)} GPU",
        QueueResource.Cpu => $"{Requests.Share.Format(amount)} cores",
        _ => $"{FormatGiB(amount)} GiB",
    };

    private static string FormatGiB(long mib) => (mib / 1024.0).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One resource of a queue: guaranteed quota, weight for the surplus, and hard limit (-1: none).</summary>
public sealed record QueueResourceSpec(long Quota = 0, int OverQuotaWeight = 1, long Limit = -1)
{
    public bool HasLimit => Limit >= 0;
}

/// <summary>How reclaim treats a queue's pods when another queue needs its share back.</summary>
public enum ReclaimStrategy
{
    /// <summary>Reclaim down to the victim queue's quota.</summary>
    Aggressive,

    /// <summary>Reclaim only down to the victim queue's fair share.</summary>
    Conservative,
}

/// <summary>A KaiwoQueue's spec, in core units (see <see cref="ResourceVector"/>).</summary>
public sealed record QueueSpec
{
    public required string Name { get; init; }
    public string? DisplayName { get; init; }

    /// <summary>The parent queue's name; null for a root queue.</summary>
    public string? Parent { get; init; }

    /// <summary>Higher gets surplus first and is reclaimed last.</summary>
    public int Priority { get; init; }

    public QueueResourceSpec Gpu { get; init; } = new();
    public QueueResourceSpec Cpu { get; init; } = new();
    public QueueResourceSpec Memory { get; init; } = new();
    public ReclaimStrategy Reclaim { get; init; } = ReclaimStrategy.Aggressive;

    public QueueResourceSpec this[QueueResource resource] => resource switch
    {
        QueueResource.Gpu => Gpu,
        QueueResource.Cpu => Cpu,
        _ => Memory,
    };
}

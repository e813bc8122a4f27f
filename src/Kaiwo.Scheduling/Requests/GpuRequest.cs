namespace Kaiwo.Scheduling.Requests;

/// <summary>How a shared GPU is isolated between the pods on it.</summary>
public enum GpuIsolation
{
    /// <summary>Memory is reserved; compute is time-sliced and may be oversubscribed up to a configured factor.</summary>
    TimeSlicing,

    /// <summary>Compute share and memory are both reserved.</summary>
    Mps,

    /// <summary>Hardware isolation: whole XCD partitions only, on partitioned (CPX/QPX/DPX) GPUs.</summary>
    Xcd,
}

/// <summary>The per-pod scoring preference.</summary>
public enum PlacementPreference
{
    Binpack,
    Spread,
}

/// <summary>What kind of GPU capacity a pod asks for.</summary>
public enum GpuAskKind
{
    /// <summary>No GPU at all.</summary>
    None,

    /// <summary><c>amd.com/gpu: N</c>: N whole logical GPUs (partitions on a partitioned node).</summary>
    Whole,

    /// <summary>A share of one GPU, by compute share and/or memory.</summary>
    Shared,
}

/// <summary>One reason a pod's request is refused everywhere.</summary>
public sealed record RequestError(string Field, string Value, string Accepted)
{
    public override string ToString() => $"{Field}: \"{Value}\" is not accepted; {Accepted}";
}

/// <summary>The part of a <see cref="GpuRequest"/> that its placement reads: asks of the same shape are placed alike everywhere.</summary>
public readonly record struct AskShape(GpuAskKind Kind, int WholeCount, int? ComputeMilli, long? MemoryMiB, bool Exclusive, GpuIsolation Isolation, PlacementPreference Placement);

/// <summary>
/// A pod's GPU ask, parsed once from its annotations and container resources.
/// Compute is in thousandths of one GPU, memory in MiB, so arithmetic is exact.
/// </summary>
public sealed record GpuRequest
{
    public static readonly GpuRequest NoGpu = new() { Kind = GpuAskKind.None };

    public GpuAskKind Kind { get; init; }

    /// <summary>For <see cref="GpuAskKind.Whole"/>: how many logical GPUs.</summary>
    public int WholeCount { get; init; }

    /// <summary>For <see cref="GpuAskKind.Shared"/>: the compute share in thousandths, or null when only memory was asked.</summary>
    public int? ComputeMilli { get; init; }

    /// <summary>For <see cref="GpuAskKind.Shared"/>: the memory in MiB, or null when it follows from the fraction and the GPU.</summary>
    public long? MemoryMiB { get; init; }

    /// <summary><c>kaiwo.ai/gpu-sharing: "false"</c>: the shared ask takes the whole logical GPU(s) it lands on.</summary>
    public bool Exclusive { get; init; }

    public GpuIsolation Isolation { get; init; } = GpuIsolation.TimeSlicing;

    public PlacementPreference Placement { get; init; } = PlacementPreference.Binpack;

    /// <summary>Bad values: the pod can never be placed and every node says why.</summary>
    public IReadOnlyList<RequestError> Errors { get; init; } = [];

    public bool IsValid => Errors.Count == 0;

    public bool WantsGpu => Kind != GpuAskKind.None;

    /// <summary>
    /// Whether the two asks are placed alike everywhere: the same kind, amounts, sharing, isolation and preference
    /// (what <see cref="Fits.GpuPlacer"/> reads; errors are not compared, an invalid ask is never placed).
    /// </summary>
    public bool SameShape(GpuRequest other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return ReferenceEquals(this, other) || Shape == other.Shape;
    }

    /// <summary>What <see cref="SameShape"/> compares, as one value that a cache keeps beside what it computed for the ask.</summary>
    public AskShape Shape => new(Kind, WholeCount, ComputeMilli, MemoryMiB, Exclusive, Isolation, Placement);

    /// <summary>The compute share this ask takes on a GPU with <paramref name="gpuMemoryMiB"/> of memory.</summary>
    public int ComputeMilliOn(long gpuMemoryMiB)
    {
        if (ComputeMilli is { } c)
        {
            return c;
        }

        if (MemoryMiB is { } m && gpuMemoryMiB > 0)
        {
            // Memory alone implies the compute share memory/total, rounded up so that it is never understated.
            var milli = (int)Math.Min(1000, ((m * 1000) + gpuMemoryMiB - 1) / gpuMemoryMiB);
            return Math.Max(1, milli);
        }

        return 0;
    }

    /// <summary>The memory this ask takes on a GPU with <paramref name="gpuMemoryMiB"/> of memory.</summary>
    public long MemoryMiBOn(long gpuMemoryMiB)
    {
        if (MemoryMiB is { } m)
        {
            return m;
        }

        // Rounded down so that ten pods of 0.1 fill a GPU exactly instead of overflowing it by a few MiB.
        return ComputeMilli is { } c ? c * gpuMemoryMiB / 1000 : 0;
    }

    /// <summary>A short human description for messages: "0.5 GPU", "24000 MiB", "4 GPUs".</summary>
    public string Describe() => Kind switch
    {
        GpuAskKind.None => "no GPU",
        GpuAskKind.Whole => WholeCount == 1 ? "1 whole GPU" : $"{WholeCount} whole GPUs",
        _ => (ComputeMilli, MemoryMiB) switch
        {
            ({ } c, { } m) => $"{Share.Format(c)} GPU with {m} MiB",
            ({ } c, null) => $"{Share.Format(c)} GPU",
            (null, { } m) => $"{m} MiB of GPU memory",
            _ => "a GPU share",
        } + (Exclusive ? " (not shared)" : string.Empty),
    };
}

/// <summary>Formatting of thousandths of a GPU.</summary>
public static class Share
{
    public const int Whole = 1000;

    /// <summary>250 → "0.25", 1000 → "1", 125 → "0.125".</summary>
    public static string Format(long milli)
    {
        var sign = milli < 0 ? "-" : string.Empty;
        milli = Math.Abs(milli);
        var whole = milli / 1000;
        var frac = milli % 1000;
        return frac == 0
            ? $"{sign}{whole}"
            : $"{sign}{whole}.{frac.ToString("000", System.Globalization.CultureInfo.InvariantCulture).TrimEnd('0')}";
    }
}

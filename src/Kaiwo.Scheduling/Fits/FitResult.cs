using Kaiwo.Scheduling.Allocation;

namespace Kaiwo.Scheduling.Fits;

/// <summary>Whether a pod fits a node.</summary>
public enum FitOutcome
{
    /// <summary>It fits now; the placement says where.</summary>
    Fits,

    /// <summary>It could fit when other pods leave: kube-scheduler may preempt here.</summary>
    FullNow,

    /// <summary>It can never fit here (wrong model or mode, too small, bad annotation): preemption would not help.</summary>
    NeverFits,
}

/// <summary>
/// Facts about a placement that scores read: how it sits in the topology and how full it leaves things.
/// </summary>
public sealed record PlacementQuality
{
    public int GpusTouched { get; init; }
    public int MinimumGpus { get; init; }
    public int NumaNodes { get; init; }
    public int QuadrantsSpanned { get; init; }
    public int MinimumQuadrants { get; init; }

    /// <summary>Node GPU capacity in use before and after the placement, 0..1.</summary>
    public double NodeUsedBefore { get; init; }
    public double NodeUsedAfter { get; init; }

    /// <summary>The touched GPUs' capacity in use after the placement, 0..1.</summary>
    public double GpusUsedAfter { get; init; }
}

/// <summary>The answer of a fit: an outcome, a reason an operator can act on, and where the pod would go.</summary>
public sealed record FitResult(FitOutcome Outcome, string Reason, PodAllocation? Allocation, PlacementQuality? Quality)
{
    public static FitResult NoGpuNeeded { get; } = new(FitOutcome.Fits, "pod asks for no GPU", null, null) { Code = "no-gpu-needed" };

    /// <summary>
    /// A short, stable name of the reason ("full", "xcd-needs-partitions", ...): few values, for metrics labels,
    /// where the free-text <see cref="Reason"/> would make a series per message.
    /// </summary>
    public string Code { get; init; } = "fits";

    public static FitResult Never(string code, string reason) => new(FitOutcome.NeverFits, reason, null, null) { Code = code };

    public static FitResult Full(string code, string reason) => new(FitOutcome.FullNow, reason, null, null) { Code = code };

    public bool Fits => Outcome == FitOutcome.Fits;
}

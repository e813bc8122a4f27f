using Kaiwo.Scheduling.Fits;

namespace Kaiwo.Scheduling.Pipeline;

/// <summary>Inventory and fit: whether the node's GPUs can take the ask, and where it would go.</summary>
public sealed class GpuFitCheck(PlacementOptions options) : INodeCheck
{
    public string Name => "fit";

    /// <summary>The fit reads the ask's shape, the usage snapshot and this check's placement options only (it is cached by shape on the snapshot).</summary>
    public bool FollowsFromShape => true;

    public FitResult Check(PodContext pod, NodeCandidate node)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(node);
        return GpuPlacer.CachedFit(node.Usage, pod.Request, options);
    }

    /// <summary>The fit <see cref="GpuPlacer.CachedFit"/> keeps on the snapshot for this ask's shape, if any.</summary>
    public FitResult? Known(PodContext pod, NodeCandidate node)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(node);
        return node.Usage.FitCache.Find(pod.Request, options);
    }

    public FitVerdict Verdict(PodContext pod, NodeCandidate node)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(node);
        return node.Summary.Verdict(pod.Request, options);
    }
}

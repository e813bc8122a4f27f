using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Scoring;

/// <summary>
/// Packing: binpack pods prefer the node and GPUs that the placement leaves fullest (the least stranded capacity);
/// spread pods prefer the emptiest. A pod that asks for no GPU prefers nodes without GPUs, keeping GPU nodes for GPU work.
/// </summary>
public sealed class PackingScore : INodeScore
{
    public string Name => "packing";

    /// <summary>Reads the ask's shape (GPU or none, binpack or spread), whether the snapshot's inventory has GPUs, and the fit's quality.</summary>
    public bool FollowsFromFit => true;

    public int DefaultWeight => 3;

    public double? Score(PodContext pod, NodeCandidate node, FitResult fit)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(fit);

        if (!pod.Request.WantsGpu)
        {
            return node.Usage.HasGpus ? 0 : 1;
        }

        if (fit.Quality is not { } q)
        {
            return null;
        }

        var fullness = (q.GpusUsedAfter + q.NodeUsedAfter) / 2;
        return pod.Request.Placement == PlacementPreference.Binpack ? fullness : 1 - fullness;
    }
}

using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;

namespace Kaiwo.Scheduling.Scoring;

/// <summary>
/// Topology quality: as few physical GPUs, NUMA nodes and NPS4 quadrants as the ask allows. 1 is ideal.
/// </summary>
public sealed class TopologyScore : INodeScore
{
    public string Name => "topology";

    /// <summary>Reads the fit's quality only.</summary>
    public bool FollowsFromFit => true;

    public int DefaultWeight => 2;

    public double? Score(PodContext pod, NodeCandidate node, FitResult fit)
    {
        ArgumentNullException.ThrowIfNull(fit);
        if (fit.Quality is not { } q)
        {
            return null;
        }

        var gpus = (double)q.MinimumGpus / Math.Max(q.MinimumGpus, q.GpusTouched);
        var numa = 1.0 / Math.Max(1, q.NumaNodes);
        var quadrants = (double)q.MinimumQuadrants / Math.Max(q.MinimumQuadrants, q.QuadrantsSpanned);
        return (gpus + numa + quadrants) / 3;
    }
}

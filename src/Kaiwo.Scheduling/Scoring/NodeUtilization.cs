using Kaiwo.Scheduling.Inventory;

namespace Kaiwo.Scheduling.Scoring;

/// <summary>
/// A node's live GPU utilization as its <c>kaiwo.ai/gpu-utilization</c> annotation reports it, read once when the
/// node's facts arrive (<see cref="Pipeline.NodeCandidate"/>) rather than on every score: <see cref="LoadScore"/> only
/// compares its timestamp with the call's time.
/// </summary>
/// <param name="Utilization">The reported utilization, 0..1.</param>
/// <param name="Timestamp">When the probe measured it.</param>
public readonly record struct NodeUtilization(double Utilization, DateTimeOffset Timestamp)
{
    /// <summary>The node's reading; null when it has no annotation or a malformed one (which is ignored, as <see cref="LoadScore.TryReadUtilization"/> says).</summary>
    public static NodeUtilization? Of(NodeFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        return facts.Annotations.TryGetValue(WellKnown.UtilizationAnnotation, out var text)
            && LoadScore.TryReadUtilization(text, out var utilization, out var timestamp)
            ? new NodeUtilization(utilization, timestamp)
            : null;
    }
}

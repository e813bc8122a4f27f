using System.Globalization;
using System.Text.Json;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;

namespace Kaiwo.Scheduling.Scoring;

/// <summary>
/// Node load: prefer nodes whose GPUs are less busy. Busy is the larger of the allocated share and the live GPU
/// utilization that a node annotation <c>kaiwo.ai/gpu-utilization</c> reports, when its timestamp is fresh:
/// <code>{"utilization":0.42,"timestamp":"2026-11-23T14:00:00Z"}</code>
/// The annotation is read once per change of the node's facts (<see cref="NodeUtilization"/>), not per score.
/// </summary>
public sealed class LoadScore(TimeSpan maxUtilizationAge) : INodeScore
{
    public string Name => "load";

    public int DefaultWeight => 1;

    public double? Score(PodContext pod, NodeCandidate node, FitResult fit)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(node);
        // Kept on the candidate from its usage, so that the usage snapshot is not read for them.
        if (!node.HasGpus)
        {
            return null;
        }

        var load = node.UsedFraction;
        // Read when the node's facts arrived (NodeCandidate.Utilization): here only its age is judged, either way.
        if (node.Utilization is { } reading
            && pod.Now - reading.Timestamp <= maxUtilizationAge
            && reading.Timestamp - pod.Now <= maxUtilizationAge)
        {
            load = Math.Max(load, reading.Utilization);
        }

        return 1 - load;
    }

    /// <summary>Reads the utilization annotation; anything malformed is ignored (a stale or broken probe must not block scheduling).</summary>
    public static bool TryReadUtilization(string text, out double utilization, out DateTimeOffset timestamp)
    {
        utilization = 0;
        timestamp = default;
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("utilization", out var u) || u.ValueKind != JsonValueKind.Number || !u.TryGetDouble(out utilization)
                || double.IsNaN(utilization) || utilization < 0 || utilization > 1
                || !root.TryGetProperty("timestamp", out var t) || t.ValueKind != JsonValueKind.String
                || !DateTimeOffset.TryParse(t.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out timestamp))
            {
                return false;
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Simulation;

/// <summary>The placement policies the simulator compares.</summary>
public enum SimulationPolicy
{
    /// <summary>The service with every pod asking <c>kaiwo.ai/placement: binpack</c>.</summary>
    Binpack,

    /// <summary>The service with every pod asking <c>kaiwo.ai/placement: spread</c>.</summary>
    Spread,

    /// <summary>A naive baseline: no scores (so the first node by name wins), and the first GPU with room on it.</summary>
    FirstFit,

    /// <summary>No fractional sharing: every fractional pod asks <c>kaiwo.ai/gpu-sharing: "false"</c> and takes whole GPUs, as users run today.</summary>
    WholeGpus,
}

/// <summary>
/// Each policy expressed through the service's own knobs: pod annotations and pipeline options. There is no
/// second placement engine: every policy runs the same filter, prioritize and bind.
/// </summary>
public static class PolicyRules
{
    private static readonly string[] ScoreStages = ["packing", "topology", "load"];

    public static IReadOnlyList<SimulationPolicy> All { get; } = [SimulationPolicy.Binpack, SimulationPolicy.Spread, SimulationPolicy.FirstFit, SimulationPolicy.WholeGpus];

    public static string Name(SimulationPolicy policy) => policy switch
    {
        SimulationPolicy.Binpack => "binpack",
        SimulationPolicy.Spread => "spread",
        SimulationPolicy.FirstFit => "first-fit",
        _ => "whole-gpus",
    };

    public static bool TryParse(string text, out SimulationPolicy policy)
    {
        foreach (var p in All)
        {
            if (Name(p) == text)
            {
                policy = p;
                return true;
            }
        }

        policy = default;
        return false;
    }

    /// <summary>The pipeline options of a policy: first-fit switches the scores off and chooses devices first-fit.</summary>
    public static PipelineOptions Pipeline(SimulationPolicy policy, PipelineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (policy != SimulationPolicy.FirstFit)
        {
            return options;
        }

        var stages = new Dictionary<string, StageOptions>(options.Stages, StringComparer.Ordinal);
        foreach (var stage in ScoreStages)
        {
            stages[stage] = (stages.GetValueOrDefault(stage) ?? new StageOptions()) with { Enabled = false };
        }

        return options with { Stages = stages, Placement = options.Placement with { DeviceChoice = DeviceChoice.FirstFit } };
    }

    /// <summary>The pod as the policy submits it: binpack and spread set the placement preference; whole-gpus turns sharing off for fractional asks.</summary>
    public static PodFacts Apply(SimulationPolicy policy, PodFacts pod, GpuRequest request)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(request);
        var (key, value) = policy switch
        {
            SimulationPolicy.Binpack => (WellKnown.PlacementAnnotation, "binpack"),
            SimulationPolicy.Spread => (WellKnown.PlacementAnnotation, "spread"),
            SimulationPolicy.WholeGpus when request.Kind == GpuAskKind.Shared => (WellKnown.GpuSharingAnnotation, "false"),
            _ => (null, null),
        };
        if (key is null)
        {
            return pod;
        }

        var annotations = new Dictionary<string, string>(pod.Annotations, StringComparer.Ordinal) { [key] = value! };
        return pod with { Annotations = annotations };
    }
}

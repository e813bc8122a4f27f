using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Verbs;

/// <summary>The outcome of a bind: null error on success.</summary>
internal sealed record BindOutcome(string? Error, string? VisibleDevices)
{
    public bool Succeeded => Error is null;
}

/// <summary>
/// Completes a bind once the pipeline has the pod: reserves the devices and records the decision.
/// Standalone keeps the record in memory; the live adapter patches the pod and creates the Binding.
/// </summary>
internal interface IPodBinder
{
    Task<BindOutcome> BindAsync(PodFacts pod, string nodeName, PodEvaluation evaluation, CancellationToken cancellationToken);
}

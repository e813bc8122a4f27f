using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Verbs;

/// <summary>The outcome of a bind: null error on success.</summary>
internal sealed record BindOutcome(string? Error, string? VisibleDevices)
{
    public bool Succeeded => Error is null;
}

/// <summary>
/// Completes a bind the verbs have found to be ours (<see cref="Scheduling.Pipeline.BindRules"/>): evaluates the pod
/// once and reserves the devices (<see cref="Reservations"/>), then records the decision. Standalone keeps the
/// record in memory; the live adapter patches the pod and creates the Binding.
/// </summary>
internal interface IPodBinder
{
    Task<BindOutcome> BindAsync(PodFacts pod, string nodeName, CancellationToken cancellationToken);
}

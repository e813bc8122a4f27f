using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Verbs;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Standalone;

/// <summary>
/// Standalone bind: reserves the devices under the node's lock and writes the allocation record onto the pod in
/// memory, exactly as the live binder writes it to the API server, so that state rebuilt from the pods is the same.
/// </summary>
internal sealed class InMemoryBinder(ClusterState state, SchedulingPipeline pipeline, TimeProvider time, QueueState? queues = null, GangReconciler? gangs = null) : IPodBinder
{
    public Task<BindOutcome> BindAsync(PodFacts pod, string nodeName, CancellationToken cancellationToken)
    {
        var result = Reservations.Reserve(state, pipeline, queues, pod, nodeName, time.GetUtcNow(), assumedUntil: null, gangs);
        if (!result.Succeeded)
        {
            return Task.FromResult(new BindOutcome(result.Reason, null));
        }

        if (result.Status == ReserveStatus.Reserved)
        {
            var annotations = new Dictionary<string, string>(pod.Annotations, StringComparer.Ordinal);
            if (result.Allocation is { } allocation)
            {
                annotations[WellKnown.AllocationAnnotation] = AllocationRecord.Write(allocation);
                annotations[WellKnown.VisibleDevicesAnnotation] = allocation.VisibleDevices;
            }

            state.UpsertPod(pod with { NodeName = nodeName, Annotations = annotations });
        }

        return Task.FromResult(new BindOutcome(null, result.Allocation?.VisibleDevices));
    }
}

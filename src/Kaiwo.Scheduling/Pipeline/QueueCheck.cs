using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Queues;

namespace Kaiwo.Scheduling.Pipeline;

/// <summary>
/// Queue admission: the pod's queue must be a usable leaf, no level may go over a limit, and above quota the pod
/// must stay within fair share or take only idle capacity. Passes everything when the cluster has no queues, and a pod
/// that holds a reservation.
/// </summary>
public sealed class QueueCheck : IPodCheck
{
    public string Name => "queue";

    public FitResult? Check(PodContext pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        // A pod holding a reservation was admitted by its queue when the reservation was made, and what it holds
        // already counts in the queue's usage: judging its ask again would count it twice.
        if (pod.Queues is not { } queues || pod.Reservation is not null)
        {
            return null;
        }

        var (leaf, refusal) = queues.Tree.LeafFor(pod.Pod.Labels.GetValueOrDefault(WellKnown.QueueLabel));
        if (refusal is not null)
        {
            return FitResult.Never("queue-invalid", refusal);
        }

        return QueueAdmission.Check(queues, leaf!, PodResources.Request(pod.Pod, pod.Request));
    }
}

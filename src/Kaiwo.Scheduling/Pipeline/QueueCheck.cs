using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Queues;

namespace Kaiwo.Scheduling.Pipeline;

/// <summary>
/// Queue admission: the pod's queue must be a usable leaf, no level may go over a limit, and above quota the pod
/// must stay within fair share or take only idle capacity. Passes everything when the cluster has no queues.
/// </summary>
public sealed class QueueCheck : IPodCheck
{
    public string Name => "queue";

    public FitResult? Check(PodContext pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (pod.Queues is not { } queues)
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

using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Reservations;

/// <summary>
/// The starvation step as the host's reservation loop runs it: <see cref="StarvationReconciler"/> on the service's
/// state and pipeline, each hold admitted on the queues as the holds before it left them, and the pods whose
/// reservation now holds their whole ask named for kube-scheduler to try again at once. The queues' demand is that of
/// the pending pods of <c>queueSchedulerName</c> (<c>Scheduling:SchedulerName</c>), as the service's snapshot counts it.
/// </summary>
public sealed class StarvationReservationStep(ClusterState state, SchedulingPipeline pipeline, StarvationReconciler reconciler, string queueSchedulerName) : IReservationStep
{
    public string Name => "starving";

    public StarvationReconciler Reconciler => reconciler;

    public ReservationReport Reconcile(DateTimeOffset now, QueueSnapshot? queues)
    {
        // The snapshot given is of the pass's start; each hold moves the queues' usage, so later holds read them anew.
        var step = reconciler.Reconcile(state, pipeline, () => queues is null ? null : state.QueueSnapshot(queues.Tree, queueSchedulerName), now);
        var retry = new List<PodFacts>();
        foreach (var complete in step.Complete)
        {
            if (state.TryGetPod(complete.PodUid, out var pod, out _))
            {
                retry.Add(pod!);
            }
        }

        return retry.Count == 0 ? ReservationReport.Nothing : new ReservationReport(retry);
    }
}

using Kaiwo.Extender.Hosting;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Verbs;

/// <summary>
/// The in-memory half of every bind: one evaluation of the pod and one reservation. With queues, binds pass one at a
/// time through the admission gate and evaluate against the snapshot of now read inside it (the same
/// <see cref="QueueState.Current"/> filter reads), so that two binds racing for the last of a queue's limit cannot
/// both get it. The snapshot is read before the pod and node locks are taken (a first read after a change builds it
/// under the state's accounts lock, the innermost), so the lock order stays gate, pod, node.
/// </summary>
internal static class Reservations
{
    public static ReserveResult Reserve(
        ClusterState state,
        SchedulingPipeline pipeline,
        QueueState? queues,
        PodFacts pod,
        string nodeName,
        DateTimeOffset now,
        DateTimeOffset? assumedUntil,
        GangReconciler? gangs = null)
    {
        // With the devices the state holds for the pod, if any: its bind takes them. A gang member binds only
        // through its gang's plan (its slot), judged with the gang as the state holds it now.
        var reservation = state.TryGetReservation(pod.Uid, out var held) ? held : null;
        var gang = gangs?.ViewFor(pod);
        if (queues is null)
        {
            return EvaluateAndReserve(state, pipeline, pipeline.EvaluatePod(pod, now, reservation: reservation, gang: gang), nodeName, assumedUntil);
        }

        lock (queues.AdmissionGate)
        {
            return EvaluateAndReserve(state, pipeline, pipeline.EvaluatePod(pod, now, queues.Current(), reservation, gang), nodeName, assumedUntil);
        }
    }

    private static ReserveResult EvaluateAndReserve(ClusterState state, SchedulingPipeline pipeline, PodEvaluation evaluation, string nodeName, DateTimeOffset? assumedUntil)
    {
        var pod = evaluation.Context.Pod;
        if (evaluation.Unresolvable is { } reason)
        {
            return new ReserveResult(ReserveStatus.Unplaceable, $"pod {pod.Key} cannot be placed: {reason}", null);
        }

        return state.Reserve(pod, nodeName, node => pipeline.EvaluateNode(evaluation, node), assumedUntil);
    }
}

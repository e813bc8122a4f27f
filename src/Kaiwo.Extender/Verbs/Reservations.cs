using Kaiwo.Extender.Hosting;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Verbs;

/// <summary>
/// The in-memory half of every bind: re-fit and reserve. With queues, binds pass one at a time through the
/// admission gate and re-check admission against a snapshot taken inside it, so that two binds racing for the
/// last of a queue's limit cannot both get it. The snapshot is built before the pod and node locks are taken
/// (it reads every pod), so the lock order stays gate, pod, node.
/// </summary>
internal static class Reservations
{
    public static ReserveResult Reserve(
        ClusterState state,
        SchedulingPipeline pipeline,
        QueueState? queues,
        PodFacts pod,
        string nodeName,
        PodEvaluation evaluation,
        DateTimeOffset? assumedUntil)
    {
        if (queues is null)
        {
            return state.Reserve(pod, nodeName, node => pipeline.EvaluateNode(evaluation, node), assumedUntil);
        }

        lock (queues.AdmissionGate)
        {
            var fresh = pipeline.EvaluatePod(pod, evaluation.Context.Now, queues.Current());
            return state.Reserve(pod, nodeName, node => pipeline.EvaluateNode(fresh, node), assumedUntil);
        }
    }
}

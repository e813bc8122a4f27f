using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Queues;

/// <summary>
/// Which of the victims kube-scheduler proposes on one node may go: first the queue rules (<see cref="QueueReclaim"/>),
/// when there are queues, then the gang rules (<see cref="Gangs.GangPreemption"/>), then the re-fit: the node is kept only if the preemptor fits once the kept victims are gone.
/// Victims are judged by what the state already holds for them (queue label, priority, usage), never re-read.
/// </summary>
public static class Preemption
{
    /// <summary>
    /// The victims to offer on <paramref name="nodeName"/>, in the order given; null when the node is dropped (the pod
    /// cannot be placed, every victim is refused, or the pod does not fit even without them).
    /// </summary>
    public static IReadOnlyList<string>? VictimsOn(
        ClusterState state,
        SchedulingPipeline pipeline,
        PodEvaluation preemptor,
        string nodeName,
        IReadOnlyList<string> victimUids)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(preemptor);
        ArgumentNullException.ThrowIfNull(victimUids);
        if (preemptor.Unresolvable is not null || preemptor.Refusal?.Code == Gangs.GangRefusals.WaitingCode)
        {
            // A gang member still missing siblings cannot bind whatever is evicted for it.
            return null;
        }

        if (!state.TryGetNode(nodeName, out var node))
        {
            // A node we do not track holds no GPUs of ours: only a pod without a GPU ask can use it.
            return preemptor.Context.Request.WantsGpu ? null : victimUids;
        }

        var kept = Allowed(state, preemptor, victimUids);
        if (Gangs.GangPreemption.Allowed(state, preemptor.Context.Pod.Priority, kept) is not { } whole)
        {
            return null; // a gang would go in part
        }

        kept = whole;
        if (kept.Count == 0)
        {
            return null;
        }

        var usage = node!.Usage;
        foreach (var uid in kept)
        {
            usage = usage.Without(uid);
        }

        // Judged without the queue check: admission counts the victims' usage, which preemption is about to free.
        var fit = pipeline.EvaluateNode(preemptor with { Refusal = null }, node with { Usage = usage });
        return fit.Fits ? kept : null;
    }

    private static IReadOnlyList<string> Allowed(ClusterState state, PodEvaluation preemptor, IReadOnlyList<string> victimUids)
    {
        var context = preemptor.Context;
        var snapshot = context.Queues;
        var leaf = snapshot?.Tree.LeafFor(context.Pod.Labels.GetValueOrDefault(WellKnown.QueueLabel)).Queue;
        if (snapshot is null || leaf is null)
        {
            return victimUids;
        }

        var candidates = new List<VictimCandidate>();
        var unknown = new HashSet<string>(StringComparer.Ordinal);
        foreach (var uid in victimUids)
        {
            if (state.TryGetVictim(uid, out var victim))
            {
                candidates.Add(victim!);
            }
            else
            {
                unknown.Add(uid); // not ours to judge: kube-scheduler chose it and we know nothing against it
            }
        }

        var allowed = QueueReclaim.Allowed(snapshot, leaf, context.Pod.Priority, PodResources.Request(context.Pod, context.Request), candidates)
            .Select(v => v.Uid)
            .ToHashSet(StringComparer.Ordinal);
        return [.. victimUids.Where(uid => allowed.Contains(uid) || unknown.Contains(uid))];
    }
}

namespace Kaiwo.Scheduling.Queues;

/// <summary>A pod kube-scheduler proposes to evict, as queue reclaim sees it.</summary>
public sealed record VictimCandidate(string Uid, string? QueueLabel, int Priority, ResourceVector Holds);

/// <summary>
/// Queue-aware victim filtering for preemption: victims in the preemptor's own queue follow pod priority; victims in
/// other queues only while their queue is above its fair share and the preemptor's queue is below its own. The
/// preemptor queue's reclaim strategy says how far: <c>aggressive</c> down to the victim queue's quota,
/// <c>conservative</c> only down to its fair share. A victim whose removal would take its queue below quota is never
/// offered. Among other queues, the one with the largest dominant resource share gives first (DRF).
/// </summary>
public static class QueueReclaim
{
    public static IReadOnlyList<VictimCandidate> Allowed(QueueSnapshot snapshot, string preemptorLeaf, int preemptorPriority, ResourceVector request, IEnumerable<VictimCandidate> victims)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(victims);
        var tree = snapshot.Tree;
        var strategy = tree.Queues[preemptorLeaf].Spec.Reclaim;
        var asked = ResourceVector.All.Where(r => request[r] > 0).ToArray();
        var preemptorUsage = snapshot.UsageOf(preemptorLeaf);
        var preemptorFair = snapshot.FairShareOf(preemptorLeaf);
        var preemptorBelowShare = asked.Length == 0 || asked.Any(r => preemptorUsage[r] + request[r] <= preemptorFair[r]);

        var removed = new Dictionary<string, ResourceVector>(StringComparer.Ordinal);
        var allowed = new List<VictimCandidate>();
        // Reclaim first from the queue that holds the largest dominant share of the cluster (DRF), lowest pod priority first.
        var ordered = victims
            .OrderByDescending(v => snapshot.DominantShare(tree.AccountFor(v.QueueLabel)))
            .ThenBy(v => v.Priority)
            .ThenBy(v => v.Uid, StringComparer.Ordinal);
        foreach (var victim in ordered)
        {
            var queue = tree.AccountFor(victim.QueueLabel);
            if (queue == preemptorLeaf)
            {
                if (victim.Priority < preemptorPriority)
                {
                    allowed.Add(victim);
                }

                continue;
            }

            if (!preemptorBelowShare)
            {
                continue;
            }

            var node = tree.Queues[queue];
            var usage = snapshot.UsageOf(queue) - removed.GetValueOrDefault(queue);
            var fair = snapshot.FairShareOf(queue);
            var aboveShare = asked.Length == 0 ? ResourceVector.All.Any(r => usage[r] > fair[r]) : asked.Any(r => usage[r] > fair[r]);
            var after = usage - victim.Holds;
            var keepsFloor = ResourceVector.All.All(r =>
            {
                if (victim.Holds[r] == 0)
                {
                    return true;
                }

                var floor = strategy == ReclaimStrategy.Aggressive ? node.Spec[r].Quota : Math.Max(node.Spec[r].Quota, fair[r]);
                return after[r] >= floor;
            });
            if (aboveShare && keepsFloor)
            {
                allowed.Add(victim);
                removed[queue] = removed.GetValueOrDefault(queue) + victim.Holds;
            }
        }

        return allowed;
    }
}

using Kaiwo.Scheduling.Fits;

namespace Kaiwo.Scheduling.Queues;

/// <summary>
/// The state admission decides on: the tree, each usable queue's usage (bound pods), demand (usage plus pending
/// requests) and fair share, and the cluster's capacity. Immutable: a new one is built when pods, nodes or queues change.
/// </summary>
public sealed record QueueSnapshot(
    QueueTree Tree,
    ResourceVector Capacity,
    IReadOnlyDictionary<string, ResourceVector> Usage,
    IReadOnlyDictionary<string, ResourceVector> Demand,
    IReadOnlyDictionary<string, ResourceVector> FairShare)
{
    /// <summary>
    /// Running pods whose queue label names no usable leaf queue (deleted, disabled, a parent), by label: their usage
    /// counts in the default queue.
    /// </summary>
    public IReadOnlyDictionary<string, int> CountedInDefault { get; init; } = new Dictionary<string, int>();

    /// <summary>
    /// Per leaf queue, the smallest request among its pending pods, per resource (0 where none asks for it): a queue
    /// is only "waiting" for capacity it could actually use within its fair share.
    /// </summary>
    public IReadOnlyDictionary<string, ResourceVector> SmallestPending { get; init; } = new Dictionary<string, ResourceVector>();

    /// <summary>The version of the <see cref="QueueTotals"/> it was built from (0 when built from bare figures).</summary>
    public long Version { get; init; }

    /// <summary>
    /// Builds a snapshot from the cluster's running totals: each label's usage counts in the queue the tree gives it
    /// (the default queue for a label naming no usable leaf), each label's pending requests in its leaf. Costs as many
    /// steps as there are labels and queues, however many pods there are.
    /// </summary>
    public static QueueSnapshot FromTotals(QueueTree tree, QueueTotals totals)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(totals);
        var usage = new Dictionary<string, ResourceVector>(StringComparer.Ordinal);
        var pending = new Dictionary<string, ResourceVector>(StringComparer.Ordinal);
        var countedInDefault = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var smallest = new Dictionary<string, ResourceVector>(StringComparer.Ordinal);
        foreach (var (label, (sum, pods)) in totals.BoundByLabel)
        {
            var queue = tree.AccountFor(label.Length == 0 ? null : label);
            usage[queue] = usage.GetValueOrDefault(queue) + sum;
            if (label.Length > 0 && label != queue)
            {
                countedInDefault[label] = countedInDefault.GetValueOrDefault(label) + pods;
            }
        }

        foreach (var (label, (sum, min)) in totals.PendingByLabel)
        {
            if (tree.LeafFor(label.Length == 0 ? null : label).Queue is { } leaf)
            {
                pending[leaf] = pending.GetValueOrDefault(leaf) + sum;
                var current = smallest.GetValueOrDefault(leaf);
                foreach (var r in ResourceVector.All)
                {
                    if (min[r] > 0 && (current[r] == 0 || min[r] < current[r]))
                    {
                        current = current.With(r, min[r]);
                    }
                }

                smallest[leaf] = current;
            }
        }

        return Build(tree, totals.Capacity, usage, pending) with { CountedInDefault = countedInDefault, SmallestPending = smallest, Version = totals.Version };
    }

    /// <summary>Builds a snapshot from each leaf queue's usage and pending requests; parents sum their children.</summary>
    public static QueueSnapshot Build(QueueTree tree, ResourceVector capacity, IReadOnlyDictionary<string, ResourceVector> leafUsage, IReadOnlyDictionary<string, ResourceVector> leafPending)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var usage = new Dictionary<string, ResourceVector>(StringComparer.Ordinal);
        var demand = new Dictionary<string, ResourceVector>(StringComparer.Ordinal);
        foreach (var (queue, used) in leafUsage)
        {
            foreach (var node in tree.Ancestry(queue))
            {
                usage[node.Name] = usage.GetValueOrDefault(node.Name) + used;
            }
        }

        var leafDemand = new Dictionary<string, ResourceVector>(StringComparer.Ordinal);
        foreach (var queue in leafUsage.Keys.Union(leafPending.Keys))
        {
            leafDemand[queue] = leafUsage.GetValueOrDefault(queue) + leafPending.GetValueOrDefault(queue);
            foreach (var node in tree.Ancestry(queue))
            {
                demand[node.Name] = demand.GetValueOrDefault(node.Name) + leafDemand[queue];
            }
        }

        return new QueueSnapshot(tree, capacity, usage, demand, Queues.FairShare.Compute(tree, capacity, leafDemand));
    }

    public ResourceVector UsageOf(string queue) => Usage.GetValueOrDefault(queue);

    public ResourceVector FairShareOf(string queue) => FairShare.GetValueOrDefault(queue);

    /// <summary>The largest share of the cluster a queue's usage takes of any resource: its dominant share (DRF).</summary>
    public double DominantShare(string queue)
    {
        var used = UsageOf(queue);
        return ResourceVector.All.Max(r => Capacity[r] > 0 ? (double)used[r] / Capacity[r] : 0);
    }
}

/// <summary>
/// Queue admission for a pod asking <c>request</c> in its leaf queue: hard limits at every level; within quota
/// always; above quota only within fair share, or on idle capacity that no other queue with unmet fair share wants.
/// </summary>
public static class QueueAdmission
{
    /// <returns>Null when admitted; otherwise the refusal (unresolvable for a limit, full for fair share).</returns>
    public static FitResult? Check(QueueSnapshot snapshot, string leaf, ResourceVector request)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var tree = snapshot.Tree;

        foreach (var queue in tree.Ancestry(leaf))
        {
            var used = snapshot.UsageOf(queue.Name);
            foreach (var resource in ResourceVector.All)
            {
                var spec = queue.Spec[resource];
                if (request[resource] > 0 && spec.HasLimit && used[resource] + request[resource] > spec.Limit)
                {
                    return FitResult.Never(
                        "queue-limit",
                        $"queue \"{queue.Name}\" would exceed its {Name(resource)} limit of {ResourceVector.Format(resource, spec.Limit)}: " +
                        $"usage {ResourceVector.Format(resource, used[resource])} + request {ResourceVector.Format(resource, request[resource])}");
                }
            }
        }

        // The pod itself is demand of its queue: a snapshot taken before it arrived (or a pod of another scheduler
        // name) would leave it out and judge it against a fair share that never counted it.
        snapshot = WithOwnDemand(snapshot, leaf, request);
        var node = tree.Queues[leaf];
        var usage = snapshot.UsageOf(leaf);
        var fair = snapshot.FairShareOf(leaf);
        foreach (var resource in ResourceVector.All)
        {
            var asked = request[resource];
            if (asked == 0 || usage[resource] + asked <= node.Spec[resource].Quota || usage[resource] + asked <= fair[resource])
            {
                continue; // within quota, or above it but within fair share
            }

            // Above fair share: only on idle capacity, beyond what the queues short of their own fair share are
            // waiting to claim.
            var free = snapshot.Capacity[resource] - TotalUsage(snapshot, resource);
            var others = tree.Queues.Values.Where(q => q.IsLeaf && q.DisabledReason is null && q.Name != leaf).ToList();
            var waiting = others.FirstOrDefault(q => IsWaiting(snapshot, q.Name, resource));
            var claimed = others.Where(q => IsWaiting(snapshot, q.Name, resource)).Sum(q => Claim(snapshot, q.Name, resource));

            // Leftovers go round one pod at a time: while other queues still want more, a queue may step over its
            // share only from below it, so that the idle units rounding leaves are shared instead of grabbed.
            var othersWantMore = others.Any(q => snapshot.Demand.GetValueOrDefault(q.Name)[resource] > snapshot.UsageOf(q.Name)[resource]);
            if (free - claimed >= asked && (usage[resource] < fair[resource] || !othersWantMore))
            {
                continue;
            }

            var why = waiting is not null && free - claimed < asked
                ? $"queue \"{waiting.Name}\" is below its fair share and waiting for the rest"
                : free < asked
                    ? $"only {ResourceVector.Format(resource, Math.Max(0, free))} is free"
                    : "it is already above its share while other queues still want more";
            return FitResult.Full(
                "queue-fair-share",
                $"queue \"{leaf}\" is above its {Name(resource)} quota of {ResourceVector.Format(resource, node.Spec[resource].Quota)} " +
                $"and would go above its fair share of {ResourceVector.Format(resource, fair[resource])} " +
                $"(usage {ResourceVector.Format(resource, usage[resource])} + request {ResourceVector.Format(resource, asked)}), and {why}");
        }

        return null;
    }

    /// <summary>
    /// A queue below its fair share with pending pods, whose unmet share is enough for at least its smallest pending
    /// pod: otherwise queues each short of less than one pod would keep capacity idle for each other forever.
    /// </summary>
    private static bool IsWaiting(QueueSnapshot snapshot, string queue, QueueResource resource)
    {
        var usage = snapshot.UsageOf(queue)[resource];
        var unmet = snapshot.FairShareOf(queue)[resource] - usage;
        if (unmet <= 0 || snapshot.Demand.GetValueOrDefault(queue)[resource] <= usage)
        {
            return false;
        }

        var smallest = snapshot.SmallestPending.GetValueOrDefault(queue)[resource];
        return smallest == 0 || unmet >= smallest;
    }

    /// <summary>The snapshot with the leaf's demand at least its usage plus this request, fair shares recomputed if that changed it.</summary>
    private static QueueSnapshot WithOwnDemand(QueueSnapshot snapshot, string leaf, ResourceVector request)
    {
        var demand = snapshot.Demand.GetValueOrDefault(leaf);
        var wanted = snapshot.UsageOf(leaf) + request;
        var raised = new ResourceVector(Math.Max(demand.Gpu, wanted.Gpu), Math.Max(demand.Cpu, wanted.Cpu), Math.Max(demand.Memory, wanted.Memory));
        if (raised == demand)
        {
            return snapshot;
        }

        var delta = raised - demand;
        var leafDemand = snapshot.Tree.Queues.Values
            .Where(q => q.IsLeaf && q.DisabledReason is null)
            .ToDictionary(q => q.Name, q => snapshot.Demand.GetValueOrDefault(q.Name), StringComparer.Ordinal);
        leafDemand[leaf] = raised;
        var demandAll = new Dictionary<string, ResourceVector>(snapshot.Demand, StringComparer.Ordinal);
        foreach (var node in snapshot.Tree.Ancestry(leaf))
        {
            demandAll[node.Name] = demandAll.GetValueOrDefault(node.Name) + delta;
        }

        return snapshot with { Demand = demandAll, FairShare = Queues.FairShare.Compute(snapshot.Tree, snapshot.Capacity, leafDemand) };
    }

    /// <summary>What a waiting queue can still claim: the rest of its fair share, as far as its pending pods want it.</summary>
    private static long Claim(QueueSnapshot snapshot, string queue, QueueResource resource)
    {
        var usage = snapshot.UsageOf(queue)[resource];
        return Math.Max(0, Math.Min(snapshot.FairShareOf(queue)[resource] - usage, snapshot.Demand.GetValueOrDefault(queue)[resource] - usage));
    }

    private static long TotalUsage(QueueSnapshot snapshot, QueueResource resource) =>
        snapshot.Tree.Roots.Sum(r => snapshot.UsageOf(r)[resource]);

    private static string Name(QueueResource resource) => resource switch
    {
        QueueResource.Gpu => "gpu",
        QueueResource.Cpu => "cpu",
        _ => "memory",
    };
}

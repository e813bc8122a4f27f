using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Reservations;

/// <summary>
/// A pending pod that asks for enough whole GPUs and has waited long enough to reserve; pending since its creation,
/// or since the state first saw it pending.
/// </summary>
public sealed record StarvingPod(PodFacts Pod, GpuRequest Request, DateTimeOffset PendingSince)
{
    /// <summary>
    /// The nodes kube-scheduler offered the pod in its last filter call (its own checks: node selectors, affinity,
    /// taints, which the extender does not judge), null when unknown: it reserves only on one of them.
    /// </summary>
    public IReadOnlySet<string>? OfferedNodes { get; init; }

    public bool MayGoTo(string node) => OfferedNodes is null || OfferedNodes.Contains(node);
}

/// <summary>A node a pod may not reserve on again before <paramref name="Until"/>: its last reservation there ran out.</summary>
public sealed record ClosedNode(string PodUid, string Node, DateTimeOffset Until);

/// <summary>
/// A reservation to hold, new or grown (<c>ClusterState.Hold</c> replaces a pod's reservation), and whether it then
/// holds the pod's whole ask: GPUs free for the pod alone, enough for it to fit on the node.
/// </summary>
public sealed record StarvationHold(Reservation Slot, bool Complete);

/// <summary>
/// What one starvation step is to do: the reservations to hold, and those to release, run out
/// (<see cref="Expired"/>) or no longer wanted (<see cref="Dropped"/>: the pod no longer starves, its node is gone, or
/// kube-scheduler no longer offers the pod that node).
/// </summary>
public sealed record StarvationPlan(IReadOnlyList<StarvationHold> Holds, IReadOnlyList<Reservation> Expired, IReadOnlyList<Reservation> Dropped)
{
    public static StarvationPlan Nothing { get; } = new([], [], []);

    /// <summary>The reservations of <see cref="Holds"/>.</summary>
    public IReadOnlyList<Reservation> Slots => [.. Holds.Select(h => h.Slot)];
}

/// <summary>
/// Reservations against starvation, planned on the state as it is: a pure function of the starving pods, the nodes'
/// usage snapshots and the reservations already held.
/// </summary>
/// <remarks>
/// <para>
/// A starving pod (see <see cref="StarvingPod"/>) reserves on the node closest to fitting it: among the nodes whose
/// GPUs could take its ask once freed, the one with the most of the ask free now (in thousandths of a GPU), ties by
/// name. At most one starving reservation per node. Pods reserve in the order kube-scheduler's queue takes them:
/// higher priority first, then the longest waiting, then by key.
/// </para>
/// <para>
/// What it holds there depends on how the node's GPUs are shared. On partitioned GPUs a fraction takes whole
/// partitions, so a partition that frees is a logical GPU the ask can use: the reservation holds the free partitions
/// (as the pod's own fit would choose them) and takes each one that frees at the next step. On unpartitioned GPUs a
/// GPU is free for a whole-GPU ask only once every fraction on it has left, and under a stream of small pods the
/// share one leaves is taken by the next before the GPU is ever idle: holding only idle GPUs would hold nothing. So
/// the reservation drains as many GPUs as the pod asks for, the idle and least used ones first (never one held
/// whole by a pod, which it takes once that pod is gone): it holds the free share of each (its compute and memory)
/// as one shared grant, so that no other pod lands there, and the grant grows to the whole GPU as the fractions on
/// it end. When those GPUs hold nothing but the reservation, the pod fits (the pipeline judges it without its own
/// hold) and binds.
/// </para>
/// <para>
/// A reservation lasts <see cref="StarvationOptions.Ttl"/> from when it was made or last grew: one that takes no more
/// of its node for that long (a drained GPU holds a long job) is released, and the pod may reserve again at once (it
/// still starves), but not on that node for <see cref="StarvationOptions.After"/>, so that a node that never frees
/// enough is not held for it for ever.
/// </para>
/// </remarks>
public static class StarvationPlanner
{
    /// <summary>
    /// Whether a pending pod is one this step may reserve for, whatever it has waited: a valid ask of at least
    /// <see cref="StarvationOptions.MinimumGpus"/> whole GPUs, a pod of one of our schedulers, not a gang member, not
    /// being deleted.
    /// </summary>
    public static bool MayReserve(PodFacts pod, GpuRequest request, StarvationOptions options)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        return options.Enabled
            && request is { Kind: GpuAskKind.Whole, IsValid: true }
            && request.WholeCount >= options.MinimumGpus
            && !pod.IsDeleting
            && pod.NodeName is null
            && options.SchedulerNames.Contains(string.IsNullOrEmpty(pod.SchedulerName) ? BindRules.DefaultSchedulerName : pod.SchedulerName)
            && PodGroup.Read(pod) is null; // gang members hold their gang's reservations, never these
    }

    /// <summary>
    /// The step: <paramref name="pods"/> are the pods that may reserve now (they pass <see cref="MayReserve"/>, have
    /// waited longer than <see cref="StarvationOptions.After"/>, and those without a reservation were admitted by their
    /// queue); <paramref name="reservations"/> every reservation held (of both kinds); <paramref name="closed"/> the
    /// nodes closed to a pod. Never plans a reservation that would not fit the node's usage as given.
    /// </summary>
    public static StarvationPlan Plan(
        IReadOnlyList<StarvingPod> pods,
        IReadOnlyList<NodeCandidate> nodes,
        IReadOnlyList<Reservation> reservations,
        IReadOnlyCollection<ClosedNode> closed,
        StarvationOptions options,
        DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(pods);
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(reservations);
        ArgumentNullException.ThrowIfNull(closed);
        ArgumentNullException.ThrowIfNull(options);
        var byUid = pods.ToDictionary(p => p.Pod.Uid, StringComparer.Ordinal);
        var byName = nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var holds = new List<StarvationHold>();
        var expired = new List<Reservation>();
        var dropped = new List<Reservation>();
        var taken = new HashSet<string>(StringComparer.Ordinal);
        var reserved = new HashSet<string>(StringComparer.Ordinal);
        var closedTo = new HashSet<(string, string)>();
        foreach (var c in closed.Where(c => c.Until > now))
        {
            closedTo.Add((c.PodUid, c.Node));
        }

        foreach (var reservation in reservations.Where(r => r.Kind == ReservationKind.Starving))
        {
            if (reservation.Expires <= now)
            {
                expired.Add(reservation);
                closedTo.Add((reservation.PodUid, reservation.Node));
                continue;
            }

            if (!byUid.TryGetValue(reservation.PodUid, out var pod) || !byName.TryGetValue(reservation.Node, out var node) || !pod.MayGoTo(reservation.Node))
            {
                dropped.Add(reservation);
                continue;
            }

            taken.Add(reservation.Node);
            reserved.Add(reservation.PodUid);
            var usage = node.Usage.Without(reservation.HoldKey);
            if (Gather(usage, pod.Request, reservation.Allocation) is { } grown && !grown.SameAs(reservation.Allocation))
            {
                holds.Add(new StarvationHold(reservation with { Allocation = grown, Expires = now + options.Ttl }, IsComplete(usage, pod.Request, grown)));
            }
        }

        var waiting = pods
            .Where(p => !reserved.Contains(p.Pod.Uid))
            .OrderByDescending(p => p.Pod.Priority)
            .ThenBy(p => p.PendingSince)
            .ThenBy(p => p.Pod.Key, StringComparer.Ordinal);
        foreach (var pod in waiting)
        {
            NodeCandidate? best = null;
            long bestFree = -1;
            foreach (var node in nodes)
            {
                if (taken.Contains(node.Name) || closedTo.Contains((pod.Pod.Uid, node.Name)) || !pod.MayGoTo(node.Name) || !CouldEverFit(node.Usage, pod.Request))
                {
                    continue;
                }

                var free = FreeOfAsk(node.Usage, pod.Request);
                if (free > bestFree || (free == bestFree && string.CompareOrdinal(node.Name, best!.Name) < 0))
                {
                    (best, bestFree) = (node, free);
                }
            }

            if (best is null || Gather(best.Usage, pod.Request, null) is not { } allocation)
            {
                continue;
            }

            taken.Add(best.Name);
            var slot = new Reservation(pod.Pod.Uid, pod.Pod.Key, best.Name, allocation, ReservationKind.Starving, pod.Pod.Key, now + options.Ttl);
            holds.Add(new StarvationHold(slot, IsComplete(best.Usage, pod.Request, allocation)));
        }

        return new StarvationPlan(holds, expired, dropped);
    }

    /// <summary>Logical GPUs a reservation holds or drains: partitions on a partitioned GPU, else one per GPU.</summary>
    public static int LogicalGpus(PodAllocation allocation)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        return allocation.Gpus.Sum(g => Math.Max(1, g.Partitions.Count));
    }

    private static bool IsPartitioned(NodeUsage usage) => usage.Inventory.Gpus.Any(g => g.IsPartitioned);

    /// <summary>
    /// How much of the ask the node has free now, in thousandths of a GPU: its free partitions (up to the ask), or the
    /// free share of the GPUs a reservation would drain.
    /// </summary>
    private static long FreeOfAsk(NodeUsage usage, GpuRequest request)
    {
        if (IsPartitioned(usage))
        {
            return Math.Min(usage.Summary.FreeLogicalGpus, request.WholeCount) * 1000L;
        }

        return Drainable(usage, []).Take(request.WholeCount).Sum(i => 1000L - usage.UsedMilli(i));
    }

    /// <summary>
    /// The GPUs (positions in the inventory) a reservation may drain, best first: not in conflict, not held whole by a
    /// pod; the least used first, those on a NUMA node the reservation drains already before others, then by index.
    /// </summary>
    private static IEnumerable<int> Drainable(NodeUsage usage, IReadOnlyCollection<int> numaNodes) =>
        Enumerable.Range(0, usage.Inventory.Gpus.Count)
            .Where(i => !usage.IsConflicted(i) && !usage.Gpus[i].HeldWhole)
            .OrderBy(i => usage.UsedMilli(i))
            .ThenBy(i => numaNodes.Contains(usage.Inventory.Gpus[i].NumaNode) ? 0 : 1)
            .ThenBy(i => i);

    /// <summary>
    /// What the reservation holds on <paramref name="usage"/> (the node without the reservation itself): see the class
    /// remarks. <paramref name="current"/> is what it holds now (null for a new one): the GPUs it drains stay drained.
    /// </summary>
    private static PodAllocation? Gather(NodeUsage usage, GpuRequest request, PodAllocation? current)
    {
        if (IsPartitioned(usage))
        {
            var count = Math.Min(usage.Summary.FreeLogicalGpus, request.WholeCount);
            if (current is not null && count <= LogicalGpus(current))
            {
                return current;
            }

            return count == 0
                ? new PodAllocation(usage.NodeName, AllocationKind.Whole, request.Isolation, [])
                : GpuPlacer.FitWhole(usage, count, request.Placement, AllocationKind.Whole, request.Isolation).Allocation;
        }

        var gpus = usage.Inventory.Gpus;
        var drained = new List<int>();
        foreach (var grant in current?.Gpus ?? [])
        {
            var i = NodeUsage.IndexOf(usage.Inventory, grant.Index);
            if (i >= 0 && !usage.IsConflicted(i) && !usage.Gpus[i].HeldWhole)
            {
                drained.Add(i);
            }
        }

        var numa = drained.Select(i => gpus[i].NumaNode).ToHashSet();
        drained.AddRange(Drainable(usage, numa).Where(i => !drained.Contains(i)).Take(Math.Max(0, request.WholeCount - drained.Count)));
        drained.Sort();
        var grants = drained.Select(i => new GpuGrant(
            gpus[i].Index,
            [],
            [.. gpus[i].XcdsOf(0)],
            [gpus[i].FirstDeviceId],
            Math.Max(0, usage.TimeSlicingCapacityMilli - usage.Gpus[i].ComputeMilli),
            Math.Max(0, gpus[i].MemoryMiB - usage.Gpus[i].MemoryMiB)));
        return new PodAllocation(usage.NodeName, AllocationKind.Shared, GpuIsolation.TimeSlicing, [.. grants]);
    }

    /// <summary>Whether the reservation holds the whole ask: that many of its GPUs hold nothing but it.</summary>
    private static bool IsComplete(NodeUsage usage, GpuRequest request, PodAllocation allocation)
    {
        if (IsPartitioned(usage))
        {
            return LogicalGpus(allocation) >= request.WholeCount;
        }

        return allocation.Gpus.Count(g => NodeUsage.IndexOf(usage.Inventory, g.Index) is var i and >= 0 && usage.Gpus[i].IsIdle) >= request.WholeCount;
    }

    /// <summary>
    /// A node whose GPUs could take the ask once its pods have gone: a readable inventory with enough logical GPUs,
    /// whose records name only GPUs it has.
    /// </summary>
    private static bool CouldEverFit(NodeUsage usage, GpuRequest request) =>
        usage.Inventory is { Error: null, HasGpus: true } inventory
        && inventory.LogicalGpuCount >= request.WholeCount
        && !usage.HasConflictOffInventory;
}

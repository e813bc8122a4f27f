using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Reservations;

/// <summary>
/// A pending pod that asks for enough whole GPUs and has waited long enough to reserve; pending since its creation,
/// or since the state first saw it pending.
/// </summary>
public sealed record StarvingPod(PodFacts Pod, GpuRequest Request, DateTimeOffset PendingSince);

/// <summary>A node a pod may not reserve on again before <paramref name="Until"/>: its last reservation there ran out.</summary>
public sealed record ClosedNode(string PodUid, string Node, DateTimeOffset Until);

/// <summary>
/// What one starvation step is to do: the reservations to hold (new ones and grown ones; <c>ClusterState.Hold</c>
/// replaces a pod's reservation), and those to release, run out (<see cref="Expired"/>) or no longer wanted
/// (<see cref="Dropped"/>: the pod no longer starves, or its node is gone).
/// </summary>
public sealed record StarvationPlan(IReadOnlyList<Reservation> Holds, IReadOnlyList<Reservation> Expired, IReadOnlyList<Reservation> Dropped)
{
    public static StarvationPlan Nothing { get; } = new([], [], []);
}

/// <summary>
/// Reservations against starvation, planned on the state as it is: a pure function of the starving pods, the nodes'
/// usage snapshots and the reservations already held.
/// </summary>
/// <remarks>
/// A starving pod (see <see cref="StarvingPod"/>) reserves on the node closest to fitting it: among the nodes whose
/// GPUs could take its ask once freed, the one with the most of the ask free now, ties by name. It holds the whole
/// GPUs free there now (none at first, maybe), and each step grows the hold as more of them free up, until it holds
/// the whole ask and the pod fits there. At most one starving reservation per node. Pods reserve in the order
/// kube-scheduler's queue takes them: higher priority first, then the longest waiting, then by key. A reservation
/// lasts <see cref="StarvationOptions.Ttl"/> from when it was made; then it is released, and the pod may reserve
/// again at once (it still starves), but not on that node for <see cref="StarvationOptions.After"/>.
/// </remarks>
public static class StarvationPlanner
{
    /// <summary>The pod group annotation and label (gang members hold their gang's reservations, never these).</summary>
    private static readonly string[] GroupAnnotations = ["kaiwo.ai/pod-group"];

    private static readonly string[] GroupLabels = ["kueue.x-k8s.io/pod-group-name"];

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
            && !GroupAnnotations.Any(pod.Annotations.ContainsKey)
            && !GroupLabels.Any(pod.Labels.ContainsKey);
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
        var holds = new List<Reservation>();
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

            if (!byUid.TryGetValue(reservation.PodUid, out var pod) || !byName.TryGetValue(reservation.Node, out var node))
            {
                dropped.Add(reservation);
                continue;
            }

            taken.Add(reservation.Node);
            reserved.Add(reservation.PodUid);
            var usage = node.Usage.Without(reservation.HoldKey);
            var count = Math.Min(usage.Summary.FreeLogicalGpus, pod.Request.WholeCount);
            if (count > LogicalGpus(reservation.Allocation) && Hold(usage, pod.Request, count) is { } grown)
            {
                holds.Add(reservation with { Allocation = grown });
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
            var bestFree = -1;
            foreach (var node in nodes)
            {
                if (taken.Contains(node.Name) || closedTo.Contains((pod.Pod.Uid, node.Name)) || !CouldEverFit(node.Usage, pod.Request))
                {
                    continue;
                }

                var free = Math.Min(node.Usage.Summary.FreeLogicalGpus, pod.Request.WholeCount);
                if (free > bestFree || (free == bestFree && string.CompareOrdinal(node.Name, best!.Name) < 0))
                {
                    (best, bestFree) = (node, free);
                }
            }

            if (best is null || Hold(best.Usage, pod.Request, bestFree) is not { } allocation)
            {
                continue;
            }

            taken.Add(best.Name);
            holds.Add(new Reservation(pod.Pod.Uid, pod.Pod.Key, best.Name, allocation, ReservationKind.Starving, pod.Pod.Key, now + options.Ttl));
        }

        return new StarvationPlan(holds, expired, dropped);
    }

    /// <summary>Logical GPUs an allocation holds: partitions on a partitioned GPU, else one per GPU.</summary>
    public static int LogicalGpus(PodAllocation allocation)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        return allocation.Gpus.Sum(g => Math.Max(1, g.Partitions.Count));
    }

    /// <summary>
    /// A node whose GPUs could take the ask once its pods have gone: a readable inventory with enough logical GPUs,
    /// whose records name only GPUs it has.
    /// </summary>
    private static bool CouldEverFit(NodeUsage usage, GpuRequest request) =>
        usage.Inventory is { Error: null, HasGpus: true } inventory
        && inventory.LogicalGpuCount >= request.WholeCount
        && !usage.HasConflictOffInventory;

    /// <summary>
    /// <paramref name="count"/> free whole GPUs of the node, chosen as the pod's own fit would choose them (one NUMA
    /// node if it can, as few GPUs as it can); none yet when nothing is free.
    /// </summary>
    private static PodAllocation? Hold(NodeUsage usage, GpuRequest request, int count) =>
        count == 0
            ? new PodAllocation(usage.NodeName, AllocationKind.Whole, request.Isolation, [])
            : GpuPlacer.FitWhole(usage, count, request.Placement, AllocationKind.Whole, request.Isolation).Allocation;
}

using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.State;

/// <summary>
/// A pending pod that asks for whole GPUs, and the nodes kube-scheduler offered it in its last filter call (its own
/// checks: selectors, affinity, taints), null while it has not asked.
/// </summary>
public sealed record PendingWholeGpuPod(PodFacts Pod, IReadOnlySet<string>? OfferedNodes);

/// <summary>The state's part of reservations against starvation: the pending pods they are for, and draining GPUs.</summary>
public sealed partial class ClusterState
{
    /// <summary>
    /// A node's usage after a hold left it (under the node's lock), with a starving pod's draining reservation there
    /// (a shared grant that holds the free share of each GPU it drains) grown by what the hold freed on those GPUs in
    /// the same step: between a small pod's end and the next reservation step, another small pod must not land in the
    /// share it left. Only the node's usage grows: the reservation's record (and what it counts in its queue) catches
    /// up at the next step, which holds the same grants again.
    /// </summary>
    private NodeUsage DrainFreed(NodeUsage usage, PodAllocation freed)
    {
        foreach (var key in usage.Holds.Keys)
        {
            if (!key.StartsWith(Reservation.HoldKeyPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            var hold = usage.Holds[key];
            if (hold.Allocation.Kind != AllocationKind.Shared
                || !_reservations.TryGetValue(key[Reservation.HoldKeyPrefix.Length..], out var reservation)
                || reservation.Kind != ReservationKind.Starving
                || !hold.Allocation.Gpus.Any(g => freed.Gpus.Any(f => f.Index == g.Index)))
            {
                continue;
            }

            var others = usage.Without(key);
            var grants = hold.Allocation.Gpus.Select(g =>
            {
                var i = NodeUsage.IndexOf(others.Inventory, g.Index);
                if (i < 0 || !freed.Gpus.Any(f => f.Index == g.Index) || others.Gpus[i].HeldWhole)
                {
                    return g;
                }

                var gpu = others.Inventory.Gpus[i];
                return g with
                {
                    ComputeMilli = Math.Max(0, others.TimeSlicingCapacityMilli - others.Gpus[i].ComputeMilli),
                    MemoryMiB = Math.Max(0, gpu.MemoryMiB - others.Gpus[i].MemoryMiB),
                };
            }).ToList();
            return others.With(hold with { Allocation = hold.Allocation with { Gpus = grants } });
        }

        return usage;
    }
}

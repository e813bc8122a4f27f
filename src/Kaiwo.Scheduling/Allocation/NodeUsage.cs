using System.Collections.Immutable;
using System.Numerics;
using Kaiwo.Scheduling.Inventory;

namespace Kaiwo.Scheduling.Allocation;

/// <summary>How much of one physical GPU is held.</summary>
/// <param name="ComputeMilli">Compute held by shared pods, in thousandths (may exceed 1000 with time-slicing oversubscription).</param>
/// <param name="MemoryMiB">Memory held by shared pods.</param>
/// <param name="PartitionMask">Partitions held, one bit each, on a partitioned GPU.</param>
/// <param name="SharedPods">Shared pods on an unpartitioned GPU.</param>
/// <param name="HeldWhole">An unpartitioned GPU held by one pod, unshared.</param>
public readonly record struct GpuUsage(int ComputeMilli, long MemoryMiB, ulong PartitionMask, int SharedPods, bool HeldWhole)
{
    public int PartitionsHeld => BitOperations.PopCount(PartitionMask);

    public bool IsIdle => PartitionMask == 0 && SharedPods == 0 && !HeldWhole;
}

/// <summary>A pod's hold on a node, as /inspect lists it.</summary>
public sealed record PodHold(string Uid, string PodKey, PodAllocation Allocation);

/// <summary>
/// An immutable snapshot of one node: its inventory, the pods that hold its GPUs, and the usage that follows.
/// Readers (filter, prioritize, /inspect) take the current snapshot without locks; writers build a new one.
/// </summary>
public sealed class NodeUsage
{
    private NodeUsage(NodeInventory inventory, ImmutableSortedDictionary<string, PodHold> holds, GpuUsage[] gpus, ImmutableList<string> conflicts)
    {
        Inventory = inventory;
        Holds = holds;
        Gpus = gpus;
        Conflicts = conflicts;
        long used = 0;
        for (var i = 0; i < gpus.Length; i++)
        {
            used += UsedMilli(inventory.Gpus[i], gpus[i]);
        }

        UsedMilliTotal = used;
    }

    public NodeInventory Inventory { get; }

    /// <summary>Pods holding GPUs here, by uid.</summary>
    public ImmutableSortedDictionary<string, PodHold> Holds { get; }

    /// <summary>Usage per physical GPU, in the order of <see cref="NodeInventory.Gpus"/>. Never mutated.</summary>
    public IReadOnlyList<GpuUsage> Gpus { get; }

    /// <summary>Records that do not fit the inventory any more (relabelled node, fewer GPUs, double-booked devices).</summary>
    public ImmutableList<string> Conflicts { get; }

    public string NodeName => Inventory.NodeName;

    /// <summary>The sum of <see cref="UsedMilli(int)"/> over the node's GPUs, computed once per snapshot.</summary>
    public long UsedMilliTotal { get; }

    public static NodeUsage Create(NodeInventory inventory) =>
        new(inventory, ImmutableSortedDictionary<string, PodHold>.Empty.WithComparers(StringComparer.Ordinal), new GpuUsage[inventory.Gpus.Count], []);

    /// <summary>A snapshot with the same holds on a new inventory (the node was relabelled or resized).</summary>
    public NodeUsage WithInventory(NodeInventory inventory) => Rebuild(inventory, Holds);

    public NodeUsage With(PodHold hold)
    {
        ArgumentNullException.ThrowIfNull(hold);
        if (Holds.ContainsKey(hold.Uid))
        {
            return Rebuild(Inventory, Holds.SetItem(hold.Uid, hold));
        }

        var gpus = (GpuUsage[])((GpuUsage[])Gpus).Clone();
        var conflicts = Conflicts.ToBuilder();
        Apply(Inventory, gpus, hold, conflicts);
        return new NodeUsage(Inventory, Holds.Add(hold.Uid, hold), gpus, conflicts.ToImmutable());
    }

    public NodeUsage Without(string uid) => Holds.ContainsKey(uid) ? Rebuild(Inventory, Holds.Remove(uid)) : this;

    /// <summary>The share of a physical GPU in use, in thousandths: partitions held, or the larger of compute and memory held.</summary>
    public int UsedMilli(int gpu) => UsedMilli(Inventory.Gpus[gpu], Gpus[gpu]);

    internal static int UsedMilli(PhysicalGpu gpu, GpuUsage usage)
    {
        if (usage.HeldWhole)
        {
            return 1000;
        }

        if (gpu.IsPartitioned)
        {
            return usage.PartitionsHeld * 1000 / gpu.Partitions;
        }

        var memory = gpu.MemoryMiB > 0 ? (int)Math.Min(1000, usage.MemoryMiB * 1000 / gpu.MemoryMiB) : 0;
        return Math.Max(Math.Min(1000, usage.ComputeMilli), memory);
    }

    /// <summary>The share of the node's GPU capacity in use, 0..1.</summary>
    public double UsedFraction() => Gpus.Count == 0 ? 0 : UsedMilliTotal / (1000.0 * Gpus.Count);

    private static NodeUsage Rebuild(NodeInventory inventory, ImmutableSortedDictionary<string, PodHold> holds)
    {
        var gpus = new GpuUsage[inventory.Gpus.Count];
        var conflicts = ImmutableList.CreateBuilder<string>();
        foreach (var hold in holds.Values)
        {
            Apply(inventory, gpus, hold, conflicts);
        }

        return new NodeUsage(inventory, holds, gpus, conflicts.ToImmutable());
    }

    /// <summary>
    /// Adds a hold to the usage. A record that no longer fits the inventory is still counted, as conservatively as
    /// possible (the pod runs and holds its devices), and the mismatch is reported so that the node takes no new GPU pods.
    /// </summary>
    private static void Apply(NodeInventory inventory, GpuUsage[] gpus, PodHold hold, ImmutableList<string>.Builder conflicts)
    {
        foreach (var grant in hold.Allocation.Gpus)
        {
            var i = IndexOf(inventory, grant.Index);
            if (i < 0)
            {
                conflicts.Add($"pod {hold.PodKey} holds GPU {grant.Index}, which this node does not have ({inventory.Gpus.Count} GPUs)");
                continue;
            }

            gpus[i] = Add(gpus[i], inventory.Gpus[i], grant, hold.Allocation.Kind, conflicts, hold.PodKey);
        }
    }

    /// <summary>One GPU's usage with one more grant on it; mismatches go to <paramref name="conflicts"/> when given.</summary>
    internal static GpuUsage Add(GpuUsage u, PhysicalGpu gpu, GpuGrant grant, AllocationKind kind, IList<string>? conflicts, string podKey)
    {
        if (gpu.IsPartitioned)
        {
            ulong mask = 0;
            if (grant.Partitions.Count == 0)
            {
                // A record from before the GPU was partitioned: it holds the whole GPU.
                conflicts?.Add($"pod {podKey} holds GPU {grant.Index} unpartitioned, but it is now in {gpu.ModeName}");
                mask = gpu.Partitions >= 64 ? ulong.MaxValue : (1UL << gpu.Partitions) - 1;
            }

            foreach (var p in grant.Partitions)
            {
                if (p >= gpu.Partitions)
                {
                    conflicts?.Add($"pod {podKey} holds partition {p} of GPU {grant.Index}, which has {gpu.Partitions} partitions in {gpu.ModeName}");
                    continue;
                }

                mask |= 1UL << p;
            }

            if ((u.PartitionMask & mask) != 0)
            {
                conflicts?.Add($"pod {podKey} holds partitions of GPU {grant.Index} that another pod holds too");
            }

            return u with { PartitionMask = u.PartitionMask | mask };
        }

        if (grant.Partitions.Count > 1 || grant.Partitions.Any(p => p > 0))
        {
            conflicts?.Add($"pod {podKey} holds partitions of GPU {grant.Index}, which is now unpartitioned");
        }

        var whole = kind == AllocationKind.Whole || grant.Partitions.Count > 0;
        if (u.HeldWhole || (whole && u.SharedPods > 0))
        {
            conflicts?.Add($"pod {podKey} holds GPU {grant.Index}, which another pod holds whole");
        }

        return whole
            ? u with { HeldWhole = true }
            : u with { ComputeMilli = u.ComputeMilli + grant.ComputeMilli, MemoryMiB = u.MemoryMiB + grant.MemoryMiB, SharedPods = u.SharedPods + 1 };
    }

    internal static int IndexOf(NodeInventory inventory, int gpuIndex)
    {
        var gpus = inventory.Gpus;
        if (gpuIndex < gpus.Count && gpus[gpuIndex].Index == gpuIndex)
        {
            return gpuIndex;
        }

        for (var i = 0; i < gpus.Count; i++)
        {
            if (gpus[i].Index == gpuIndex)
            {
                return i;
            }
        }

        return -1;
    }
}

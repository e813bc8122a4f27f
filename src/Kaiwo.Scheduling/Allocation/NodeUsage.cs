using System.Collections.Immutable;
using System.Numerics;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Allocation;

/// <summary>How much of one physical GPU is held.</summary>
/// <param name="ComputeMilli">Compute held by shared pods, in thousandths (may exceed 1000 with time-slicing oversubscription).</param>
/// <param name="MemoryMiB">Memory held by shared pods.</param>
/// <param name="PartitionMask">Partitions held, one bit each, on a partitioned GPU.</param>
/// <param name="SharedPods">Shared pods on an unpartitioned GPU.</param>
/// <param name="HeldWhole">An unpartitioned GPU held by one pod, unshared.</param>
/// <param name="MpsComputeMilli">The part of <paramref name="ComputeMilli"/> held by mps pods, which never oversubscribe.</param>
/// <param name="Clash">Records that cannot hold together whatever the amounts: a partition held twice, a partition the GPU
/// does not have, a GPU held whole and by another pod, a record of the other partitioning.</param>
public readonly record struct GpuUsage(int ComputeMilli, long MemoryMiB, ulong PartitionMask, int SharedPods, bool HeldWhole, int MpsComputeMilli = 0, bool Clash = false)
{
    public int PartitionsHeld => BitOperations.PopCount(PartitionMask);

    public bool IsIdle => PartitionMask == 0 && SharedPods == 0 && !HeldWhole;
}

/// <summary>A pod's hold on a node, as /inspect lists it.</summary>
public sealed record PodHold(string Uid, string PodKey, PodAllocation Allocation);

/// <summary>
/// A GPU whose pods' records do not fit it: more compute or memory claimed than it has, a partition claimed twice, a
/// GPU the node does not have. The GPU takes no new pods until the records fit again (a pod leaves, the node is
/// relabelled back); nothing is summed past its capacity unnoticed.
/// </summary>
/// <param name="Gpu">The GPU index the records name (it may be one the node does not have).</param>
/// <param name="Pods">The pods involved, sorted.</param>
/// <param name="Reason">What is over-claimed, for operators.</param>
public sealed record GpuConflict(int Gpu, IReadOnlyList<string> Pods, string Reason)
{
    public override string ToString() => $"GPU {Gpu}: {Reason} (pods {string.Join(", ", Pods)})";
}

/// <summary>
/// An immutable snapshot of one node: its inventory, the pods that hold its GPUs, and the usage that follows.
/// Readers (filter, prioritize, /inspect) take the current snapshot without locks; writers build a new one.
/// </summary>
public sealed class NodeUsage
{
    private readonly bool[] _conflicted;
    private readonly double _usedFraction;
    private NodeFitSummary? _summary;

    private NodeUsage(NodeInventory inventory, int timeSlicingCapacityMilli, ImmutableSortedDictionary<string, PodHold> holds, GpuUsage[] gpus, ImmutableSortedDictionary<int, GpuConflict> conflicts)
    {
        Inventory = inventory;
        TimeSlicingCapacityMilli = timeSlicingCapacityMilli;
        Holds = holds;
        Gpus = gpus;
        ConflictsByGpu = conflicts;
        Conflicts = [.. conflicts.Values];
        _conflicted = new bool[gpus.Length];
        long used = 0;
        for (var i = 0; i < gpus.Length; i++)
        {
            used += UsedMilli(inventory.Gpus[i], gpus[i]);
            _conflicted[i] = conflicts.ContainsKey(inventory.Gpus[i].Index);
        }

        UsedMilliTotal = used;
        _usedFraction = gpus.Length == 0 ? 0 : used / (1000.0 * gpus.Length);
        HasGpus = inventory.HasGpus;
        HasConflictOffInventory = conflicts.Keys.Any(g => IndexOf(inventory, g) < 0);
    }

    public NodeInventory Inventory { get; }

    /// <summary>The inventory's <see cref="NodeInventory.HasGpus"/>, kept with the snapshot: a score reads it of every node without reading the inventory.</summary>
    public bool HasGpus { get; }

    /// <summary>The compute time-sliced pods may hold of one GPU together (the oversubscription), in thousandths.</summary>
    public int TimeSlicingCapacityMilli { get; }

    /// <summary>Pods holding GPUs here, by uid.</summary>
    public ImmutableSortedDictionary<string, PodHold> Holds { get; }

    /// <summary>Usage per physical GPU, in the order of <see cref="NodeInventory.Gpus"/>. Never mutated.</summary>
    public IReadOnlyList<GpuUsage> Gpus { get; }

    /// <summary>The GPUs whose records do not fit, by GPU index; the same records give the same list in any order.</summary>
    public ImmutableList<GpuConflict> Conflicts { get; }

    /// <summary>Whether a record names a GPU the inventory does not have: the inventory is not what the pods run on.</summary>
    public bool HasConflictOffInventory { get; }

    private ImmutableSortedDictionary<int, GpuConflict> ConflictsByGpu { get; }

    public string NodeName => Inventory.NodeName;

    /// <summary>The sum of <see cref="UsedMilli(int)"/> over the node's GPUs, computed once per snapshot.</summary>
    public long UsedMilliTotal { get; }

    /// <summary>
    /// The free capacity for the fit check, made on first use and kept with this snapshot (a snapshot never changes,
    /// so neither does its summary; two threads racing to make it make the same one).
    /// </summary>
    public NodeFitSummary Summary => _summary ??= new NodeFitSummary(this);

    /// <summary>Fits already computed on this snapshot, by ask shape (see <see cref="GpuPlacer.CachedFit"/>).</summary>
    internal FitCache FitCache { get; } = new();

    /// <summary>Whether the GPU at this position of <see cref="NodeInventory.Gpus"/> is in conflict and takes no new pods.</summary>
    public bool IsConflicted(int gpu) => _conflicted[gpu];

    public static NodeUsage Create(NodeInventory inventory, int timeSlicingCapacityMilli = 1000)
    {
        ArgumentNullException.ThrowIfNull(inventory);
        return new(
            inventory,
            Math.Max(1000, timeSlicingCapacityMilli),
            ImmutableSortedDictionary<string, PodHold>.Empty.WithComparers(StringComparer.Ordinal),
            new GpuUsage[inventory.Gpus.Count],
            ImmutableSortedDictionary<int, GpuConflict>.Empty);
    }

    /// <summary>A snapshot with the same holds on a new inventory (the node was relabelled or resized).</summary>
    public NodeUsage WithInventory(NodeInventory inventory) => Rebuild(inventory, TimeSlicingCapacityMilli, Holds);

    public NodeUsage With(PodHold hold)
    {
        ArgumentNullException.ThrowIfNull(hold);
        if (Holds.ContainsKey(hold.Uid))
        {
            return Rebuild(Inventory, TimeSlicingCapacityMilli, Holds.SetItem(hold.Uid, hold));
        }

        // Incremental: only the GPUs the new hold touches can change, and only a conflicted one is looked at again.
        var gpus = (GpuUsage[])((GpuUsage[])Gpus).Clone();
        var holds = Holds.Add(hold.Uid, hold);
        var conflicts = ConflictsByGpu;
        foreach (var grant in hold.Allocation.Gpus)
        {
            var i = IndexOf(Inventory, grant.Index);
            if (i >= 0)
            {
                gpus[i] = Add(gpus[i], Inventory.Gpus[i], grant, hold.Allocation.Kind, hold.Allocation.Isolation);
            }

            if (i < 0 || IsOverClaimed(Inventory.Gpus[i], gpus[i], TimeSlicingCapacityMilli))
            {
                conflicts = conflicts.SetItem(grant.Index, ConflictOf(Inventory, grant.Index, holds.Values, TimeSlicingCapacityMilli));
            }
        }

        return new NodeUsage(Inventory, TimeSlicingCapacityMilli, holds, gpus, conflicts);
    }

    public NodeUsage Without(string uid) => Holds.ContainsKey(uid) ? Rebuild(Inventory, TimeSlicingCapacityMilli, Holds.Remove(uid)) : this;

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

        // Compared before multiplying: an over-claimed (saturated) memory sum must not overflow.
        var memory = gpu.MemoryMiB <= 0 ? 0 : usage.MemoryMiB >= gpu.MemoryMiB ? 1000 : (int)(usage.MemoryMiB * 1000 / gpu.MemoryMiB);
        return Math.Max(Math.Min(1000, usage.ComputeMilli), memory);
    }

    /// <summary>The share of the node's GPU capacity in use, 0..1, computed once per snapshot.</summary>
    public double UsedFraction() => _usedFraction;

    private static NodeUsage Rebuild(NodeInventory inventory, int timeSlicingCapacityMilli, ImmutableSortedDictionary<string, PodHold> holds)
    {
        var gpus = new GpuUsage[inventory.Gpus.Count];
        var conflicted = new SortedSet<int>();
        foreach (var hold in holds.Values)
        {
            foreach (var grant in hold.Allocation.Gpus)
            {
                var i = IndexOf(inventory, grant.Index);
                if (i < 0)
                {
                    conflicted.Add(grant.Index);
                    continue;
                }

                gpus[i] = Add(gpus[i], inventory.Gpus[i], grant, hold.Allocation.Kind, hold.Allocation.Isolation);
            }
        }

        for (var i = 0; i < gpus.Length; i++)
        {
            if (IsOverClaimed(inventory.Gpus[i], gpus[i], timeSlicingCapacityMilli))
            {
                conflicted.Add(inventory.Gpus[i].Index);
            }
        }

        var conflicts = ImmutableSortedDictionary.CreateRange(
            conflicted.Select(g => KeyValuePair.Create(g, ConflictOf(inventory, g, holds.Values, timeSlicingCapacityMilli))));
        return new NodeUsage(inventory, timeSlicingCapacityMilli, holds, gpus, conflicts);
    }

    /// <summary>
    /// Whether the records on one GPU cannot all be true: a clash, or more compute or memory than the GPU has. Every
    /// state that binds can build passes (a time-sliced pod fits within the oversubscription, an mps pod within the
    /// GPU's own compute, memory never oversubscribes), in whichever order the pods came.
    /// </summary>
    internal static bool IsOverClaimed(PhysicalGpu gpu, GpuUsage u, int timeSlicingCapacityMilli) =>
        u.Clash
        || u.ComputeMilli > timeSlicingCapacityMilli
        || u.MpsComputeMilli > 1000
        || (gpu.MemoryMiB > 0 && u.MemoryMiB > gpu.MemoryMiB);

    /// <summary>
    /// The conflict on one GPU, from all the records on it (so the same records give the same conflict in any order):
    /// which pods and what they over-claim.
    /// </summary>
    private static GpuConflict ConflictOf(NodeInventory inventory, int gpuIndex, IEnumerable<PodHold> holds, int timeSlicingCapacityMilli)
    {
        var grants = holds
            .SelectMany(h => h.Allocation.Gpus.Where(g => g.Index == gpuIndex).Select(g => (h.PodKey, h.Allocation, Grant: g)))
            .OrderBy(g => g.PodKey, StringComparer.Ordinal)
            .ToList();
        var involved = new SortedSet<string>(StringComparer.Ordinal);
        var reasons = new List<string>();
        var i = IndexOf(inventory, gpuIndex);
        if (i < 0)
        {
            involved.UnionWith(grants.Select(g => g.PodKey));
            reasons.Add($"GPU {gpuIndex} is not on this node ({inventory.Gpus.Count} GPUs)");
            return new GpuConflict(gpuIndex, [.. involved], string.Join("; ", reasons));
        }

        var gpu = inventory.Gpus[i];
        if (gpu.IsPartitioned)
        {
            var claims = new int[gpu.Partitions];
            foreach (var (pod, _, grant) in grants)
            {
                if (grant.Partitions.Count == 0)
                {
                    involved.Add(pod);
                    reasons.Add($"{pod} holds it unpartitioned, but it is in {gpu.ModeName}");
                }

                foreach (var p in grant.Partitions.Distinct().Where(p => p < gpu.Partitions))
                {
                    claims[p]++;
                }

                var outside = grant.Partitions.Where(p => p >= gpu.Partitions).ToList();
                if (outside.Count > 0)
                {
                    involved.Add(pod);
                    reasons.Add($"{pod} claims partition {string.Join(",", outside)}; it has {gpu.Partitions} in {gpu.ModeName}");
                }
            }

            var unpartitioned = grants.Any(g => g.Grant.Partitions.Count == 0) ? 1 : 0;
            var twice = Enumerable.Range(0, gpu.Partitions).Where(p => claims[p] + unpartitioned > 1).ToList();
            if (twice.Count > 0)
            {
                involved.UnionWith(grants.Where(g => g.Grant.Partitions.Count == 0 || g.Grant.Partitions.Intersect(twice).Any()).Select(g => g.PodKey));
                reasons.Add($"partition(s) {string.Join(",", twice)} claimed by more than one pod");
            }

            return new GpuConflict(gpuIndex, [.. involved], string.Join("; ", reasons));
        }

        foreach (var (pod, _, grant) in grants.Where(g => g.Grant.Partitions.Count > 1 || g.Grant.Partitions.Any(p => p > 0)))
        {
            involved.Add(pod);
            reasons.Add($"{pod} claims partitions, but it is unpartitioned ({gpu.ModeName})");
        }

        var whole = grants.Where(g => g.Allocation.Kind == AllocationKind.Whole || g.Grant.Partitions.Count > 0).ToList();
        if (whole.Count > 0 && grants.Count > 1)
        {
            involved.UnionWith(grants.Select(g => g.PodKey));
            reasons.Add($"held whole by {string.Join(", ", whole.Select(g => g.PodKey))} and by {grants.Count - 1} other pod(s)");
        }

        var shared = grants.Where(g => g.Allocation.Kind == AllocationKind.Shared && g.Grant.Partitions.Count == 0).ToList();
        long compute = shared.Sum(g => (long)g.Grant.ComputeMilli);
        long mps = shared.Where(g => g.Allocation.Isolation == GpuIsolation.Mps).Sum(g => (long)g.Grant.ComputeMilli);
        var memory = shared.Aggregate(0L, (sum, g) => SaturatingAdd(sum, g.Grant.MemoryMiB));
        var over = new List<string>();
        if (compute > timeSlicingCapacityMilli)
        {
            over.Add($"compute {Share.Format((int)Math.Min(int.MaxValue, compute))} claimed, it has {Share.Format(timeSlicingCapacityMilli)}{(timeSlicingCapacityMilli > 1000 ? " with time-slicing oversubscription" : string.Empty)}");
        }

        if (mps > 1000)
        {
            over.Add($"mps compute {Share.Format((int)Math.Min(int.MaxValue, mps))} claimed, it has 1");
        }

        if (gpu.MemoryMiB > 0 && memory > gpu.MemoryMiB)
        {
            over.Add($"memory {memory} MiB claimed, it has {gpu.MemoryMiB} MiB");
        }

        if (over.Count > 0)
        {
            involved.UnionWith(shared.Select(g => g.PodKey));
            reasons.AddRange(over);
        }

        return new GpuConflict(gpuIndex, [.. involved], string.Join("; ", reasons));
    }

    /// <summary>One GPU's usage with one more grant on it. Amounts are summed as claimed (saturating, never wrapped).</summary>
    internal static GpuUsage Add(GpuUsage u, PhysicalGpu gpu, GpuGrant grant, AllocationKind kind, GpuIsolation isolation)
    {
        if (gpu.IsPartitioned)
        {
            ulong mask = 0;
            var clash = false;
            if (grant.Partitions.Count == 0)
            {
                // A record from before the GPU was partitioned: it holds the whole GPU.
                clash = true;
                mask = gpu.Partitions >= 64 ? ulong.MaxValue : (1UL << gpu.Partitions) - 1;
            }

            foreach (var p in grant.Partitions)
            {
                if (p >= gpu.Partitions)
                {
                    clash = true;
                    continue;
                }

                mask |= 1UL << p;
            }

            clash |= (u.PartitionMask & mask) != 0;
            return u with { PartitionMask = u.PartitionMask | mask, Clash = u.Clash || clash };
        }

        var whole = kind == AllocationKind.Whole || grant.Partitions.Count > 0;
        var misfit = grant.Partitions.Count > 1 || grant.Partitions.Any(p => p > 0) || u.HeldWhole || (whole && u.SharedPods > 0);
        return whole
            ? u with { HeldWhole = true, Clash = u.Clash || misfit }
            : u with
            {
                ComputeMilli = (int)Math.Min(int.MaxValue, (long)u.ComputeMilli + grant.ComputeMilli),
                MpsComputeMilli = isolation == GpuIsolation.Mps ? (int)Math.Min(int.MaxValue, (long)u.MpsComputeMilli + grant.ComputeMilli) : u.MpsComputeMilli,
                MemoryMiB = SaturatingAdd(u.MemoryMiB, grant.MemoryMiB),
                SharedPods = u.SharedPods + 1,
                Clash = u.Clash || misfit,
            };
    }

    private static long SaturatingAdd(long a, long b) => b > long.MaxValue - a ? long.MaxValue : a + b;

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

using System.Numerics;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Fits;

/// <summary>
/// Decides whether and where a GPU ask fits on a node: which physical GPUs, which partitions and XCDs.
/// Pure: it reads a <see cref="NodeUsage"/> snapshot and returns a <see cref="FitResult"/>.
/// </summary>
/// <remarks>
/// Device choice is best-fit: among the places an ask fits, take the one that leaves the least free space behind
/// on that GPU (or NUMA node, or quadrant), so that whole GPUs and whole quadrants stay free for the big asks
/// that need them. Spread pods take the emptiest place instead.
/// </remarks>
public static class GpuPlacer
{
    /// <summary>
    /// <see cref="Fit"/>, remembered on the node's snapshot for this ask's shape: the same snapshot and the same ask give
    /// the same answer, so a filter or prioritize that sees the node unchanged since the last call with this shape gets
    /// the placement and the reason without computing or formatting them again.
    /// </summary>
    public static FitResult CachedFit(NodeUsage node, GpuRequest request, PlacementOptions options)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        if (node.FitCache.Find(request, options) is { } cached)
        {
            return cached;
        }

        var result = Fit(node, request, options);
        node.FitCache.Store(request, options, result);
        return result;
    }

    public static FitResult Fit(NodeUsage node, GpuRequest request, PlacementOptions options)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);

        if (!request.WantsGpu)
        {
            return FitResult.NoGpuNeeded;
        }

        var inventory = node.Inventory;
        if (inventory.Error is not null)
        {
            return FitResult.Never("inventory-error", $"node's GPU inventory is unusable: {inventory.Error}");
        }

        if (!inventory.HasGpus)
        {
            return FitResult.Never("no-gpus", $"node has no AMD GPUs (no allocatable {WellKnown.GpuResource}); pod asks for {request.Describe()}");
        }

        if (node.HasConflictOffInventory)
        {
            // A record names a GPU the inventory does not have: what the node publishes is not what its pods run on.
            return FitResult.Never("record-conflict", $"node takes no new GPU pods until its pods' allocation records fit its GPUs again: {node.Conflicts.First(c => NodeUsage.IndexOf(inventory, c.Gpu) < 0)}");
        }

        var fit = request.Kind == GpuAskKind.Whole
            ? FitWhole(node, request.WholeCount, request.Placement, AllocationKind.Whole, request.Isolation, options.DeviceChoice)
            : FitShared(node, request, options);
        return fit.Outcome == FitOutcome.FullNow && !node.Conflicts.IsEmpty ? WithConflicts(fit, node) : fit;
    }

    /// <summary>
    /// A GPU in conflict takes no new pods (placement treats it as full) until its records fit again; when the pod
    /// does not fit for that, the reason says so, with the conflict.
    /// </summary>
    private static FitResult WithConflicts(FitResult full, NodeUsage node) =>
        FitResult.Full("record-conflict", $"{full.Reason}; GPUs in conflict take no new pods until their records fit: {string.Join("; ", node.Conflicts)}");

    private static FitResult FitShared(NodeUsage node, GpuRequest request, PlacementOptions options)
    {
        var gpus = node.Inventory.Gpus;
        if (request.Isolation == GpuIsolation.Xcd && !gpus.Any(g => g.IsPartitioned))
        {
            return FitResult.Never(
                "xcd-needs-partitions",
                $"{WellKnown.GpuIsolationAnnotation}=xcd needs GPUs partitioned into XCD partitions (CPX, QPX or DPX); this node's GPUs are in {gpus[0].ModeName}");
        }

        Option? best = null;
        string? neverReason = null;
        var anyPossible = false;
        for (var i = 0; i < gpus.Count; i++)
        {
            var gpu = gpus[i];
            if (request.Isolation == GpuIsolation.Xcd && !gpu.IsPartitioned)
            {
                continue;
            }

            var memory = request.MemoryMiBOn(gpu.MemoryMiB);
            var compute = request.ComputeMilliOn(gpu.MemoryMiB);
            if (gpu.MemoryMiB == 0 && request.MemoryMiB is not null)
            {
                neverReason ??= $"node does not publish its GPU memory (label {WellKnown.VramLabel}); pod asks {request.MemoryMiB} MiB";
                continue;
            }

            if (gpu.MemoryMiB > 0 && memory > gpu.MemoryMiB)
            {
                neverReason ??= $"pod asks {memory} MiB of GPU memory; {gpu.Model.Name} GPU {gpu.Index} has {gpu.MemoryMiB} MiB";
                continue;
            }

            anyPossible = true;
            if (node.IsConflicted(i))
            {
                continue;
            }

            var option = gpu.IsPartitioned
                ? PartitionOption(node, i, compute, memory, request.Placement, options.DeviceChoice)
                : request.Exclusive
                    ? ExclusiveOption(node, i)
                    : SharedOption(node, i, compute, memory, request.Isolation, options);
            if (option is { } o && (best is null || Better(o, best.Value, request.Placement)))
            {
                best = o;
                if (options.DeviceChoice == DeviceChoice.FirstFit)
                {
                    break; // the first GPU with room
                }
            }
        }

        if (!anyPossible)
        {
            return FitResult.Never("too-large", neverReason ?? $"no GPU on this node can hold {request.Describe()}");
        }

        if (best is not { } chosen)
        {
            return FitResult.Full("full", DescribeSharedShortage(node, request, options));
        }

        var gpuInfo = gpus[chosen.Gpu];
        var kind = request.Exclusive ? AllocationKind.Whole : AllocationKind.Shared;
        var grant = MakeGrant(gpuInfo, chosen.Partitions, chosen.Compute, chosen.Memory);
        var allocation = new PodAllocation(node.NodeName, kind, request.Isolation, [grant]);
        return Result(node, allocation, minimumGpus: 1, minimumQuadrants: chosen.MinimumQuadrants);
    }

    /// <summary>A place on one GPU, with how tight it is (free space left behind, in thousandths of the GPU).</summary>
    private readonly record struct Option(int Gpu, int[] Partitions, int Compute, long Memory, int Leftover, bool InOneQuadrant, int MinimumQuadrants);

    private static bool Better(Option candidate, Option current, PlacementPreference placement)
    {
        if (candidate.InOneQuadrant != current.InOneQuadrant)
        {
            return candidate.InOneQuadrant;
        }

        if (candidate.Leftover != current.Leftover)
        {
            return placement == PlacementPreference.Binpack ? candidate.Leftover < current.Leftover : candidate.Leftover > current.Leftover;
        }

        return false; // equal: keep the lower index, found first
    }

    private static Option? SharedOption(NodeUsage node, int i, int compute, long memory, GpuIsolation isolation, PlacementOptions options)
    {
        var gpu = node.Inventory.Gpus[i];
        var used = node.Gpus[i];
        if (used.HeldWhole)
        {
            return null;
        }

        // Time-slicing shares compute up to the oversubscription factor; mps reserves it, so it needs real headroom.
        var capacity = isolation == GpuIsolation.TimeSlicing ? options.TimeSlicingCapacityMilli : 1000;
        var freeCompute = capacity - used.ComputeMilli;
        var freeMemory = gpu.MemoryMiB - used.MemoryMiB;
        if (compute > freeCompute || (gpu.MemoryMiB > 0 && memory > freeMemory))
        {
            return null;
        }

        var leftoverCompute = Math.Min(1000, freeCompute - compute);
        var leftoverMemory = gpu.MemoryMiB > 0 ? (int)((freeMemory - memory) * 1000 / gpu.MemoryMiB) : 1000;
        return new Option(i, [], compute, memory, Math.Min(leftoverCompute, leftoverMemory), true, 1);
    }

    private static Option? ExclusiveOption(NodeUsage node, int i)
    {
        var gpu = node.Inventory.Gpus[i];
        return node.Gpus[i].IsIdle ? new Option(i, [], 1000, gpu.MemoryMiB, 0, true, 1) : null;
    }

    private static Option? PartitionOption(NodeUsage node, int i, int compute, long memory, PlacementPreference placement, DeviceChoice choice)
    {
        var gpu = node.Inventory.Gpus[i];
        var needed = PartitionsNeeded(gpu, compute, memory);
        if (needed > gpu.Partitions)
        {
            return null;
        }

        var free = FreeMask(gpu, node.Gpus[i]);
        var freeCount = BitOperations.PopCount(free);
        if (freeCount < needed)
        {
            return null;
        }

        var (partitions, inOneQuadrant) = choice == DeviceChoice.FirstFit ? LowestFree(gpu, free, needed) : PickPartitions(gpu, free, needed, placement);
        var minimumQuadrants = (needed + gpu.PartitionsPerQuadrant - 1) / gpu.PartitionsPerQuadrant;
        var leftover = (freeCount - needed) * 1000 / gpu.Partitions;
        return new Option(i, partitions, needed * gpu.PartitionComputeMilli, needed * gpu.PartitionMemoryMiB, leftover, inOneQuadrant, minimumQuadrants);
    }

    /// <summary>Whole partitions enough for both the compute share and the memory: 0.25 of an MI300X in CPX is 2.</summary>
    internal static int PartitionsNeeded(PhysicalGpu gpu, int compute, long memory) =>
        PartitionsNeeded(gpu.Partitions, gpu.PartitionMemoryMiB, compute, memory);

    internal static int PartitionsNeeded(int partitions, long partitionMemory, int compute, long memory)
    {
        var byCompute = ((compute * partitions) + 999) / 1000;
        var byMemory = partitionMemory > 0 ? (int)Math.Min(int.MaxValue, (memory + partitionMemory - 1) / partitionMemory) : 0;
        return Math.Max(1, Math.Max(byCompute, byMemory));
    }

    /// <summary>
    /// Chooses <paramref name="count"/> free partitions of one GPU. An ask that fits in one NPS4 quadrant goes into the
    /// fullest quadrant that can take it (best-fit keeps whole quadrants free); a larger one takes the emptiest quadrants
    /// first, so it spans as few as possible.
    /// </summary>
    internal static (int[] Partitions, bool InOneQuadrant) PickPartitions(PhysicalGpu gpu, ulong free, int count, PlacementPreference placement)
    {
        var perQuadrant = gpu.PartitionsPerQuadrant;
        var quadrantFree = new int[gpu.Quadrants];
        for (var q = 0; q < gpu.Quadrants; q++)
        {
            quadrantFree[q] = BitOperations.PopCount(free & QuadrantMask(gpu, q));
        }

        if (count <= perQuadrant)
        {
            var chosen = -1;
            for (var q = 0; q < gpu.Quadrants; q++)
            {
                if (quadrantFree[q] < count)
                {
                    continue;
                }

                if (chosen < 0
                    || (placement == PlacementPreference.Binpack ? quadrantFree[q] < quadrantFree[chosen] : quadrantFree[q] > quadrantFree[chosen]))
                {
                    chosen = q;
                }
            }

            if (chosen >= 0)
            {
                return (Take(free & QuadrantMask(gpu, chosen), count), true);
            }
        }

        var order = Enumerable.Range(0, gpu.Quadrants).OrderByDescending(q => quadrantFree[q]).ThenBy(q => q);
        var result = new List<int>(count);
        foreach (var q in order)
        {
            foreach (var p in Take(free & QuadrantMask(gpu, q), Math.Min(count - result.Count, quadrantFree[q])))
            {
                result.Add(p);
            }

            if (result.Count == count)
            {
                break;
            }
        }

        result.Sort();
        var spanned = result.Select(gpu.QuadrantOf).Distinct().Count();
        return ([.. result], spanned == 1);
    }

    /// <summary>First fit: the lowest-numbered free partitions, wherever their quadrants are.</summary>
    private static (int[] Partitions, bool InOneQuadrant) LowestFree(PhysicalGpu gpu, ulong free, int count)
    {
        var partitions = Take(free, count);
        return (partitions, partitions.Select(gpu.QuadrantOf).Distinct().Count() == 1);
    }

    private static ulong QuadrantMask(PhysicalGpu gpu, int quadrant)
    {
        var per = gpu.PartitionsPerQuadrant;
        var bits = per >= 64 ? ulong.MaxValue : (1UL << per) - 1;
        return bits << (quadrant * per);
    }

    private static int[] Take(ulong mask, int count)
    {
        var result = new int[count];
        for (var n = 0; n < count; n++)
        {
            var p = BitOperations.TrailingZeroCount(mask);
            result[n] = p;
            mask &= mask - 1;
        }

        return result;
    }

    /// <summary>Free logical GPUs of a physical GPU: free partitions, or the GPU itself when nobody holds any of it.</summary>
    internal static ulong FreeMask(PhysicalGpu gpu, GpuUsage usage)
    {
        if (!gpu.IsPartitioned)
        {
            return usage.IsIdle ? 1UL : 0UL;
        }

        var all = gpu.Partitions >= 64 ? ulong.MaxValue : (1UL << gpu.Partitions) - 1;
        return all & ~usage.PartitionMask;
    }

    /// <summary>
    /// N whole logical GPUs: one NUMA node if any can take them all (the fullest that can), else the fewest NUMA
    /// nodes; inside, as few physical GPUs as possible; inside a GPU, whole quadrants first.
    /// </summary>
    internal static FitResult FitWhole(NodeUsage node, int count, PlacementPreference placement, AllocationKind kind, GpuIsolation isolation, DeviceChoice choice = DeviceChoice.BestFit)
    {
        var gpus = node.Inventory.Gpus;
        var logical = node.Inventory.LogicalGpuCount;
        if (count > logical)
        {
            return FitResult.Never("too-large", $"pod asks {count} whole GPUs; node has {logical} ({gpus.Count} x {gpus[0].Model.Name} in {gpus[0].ModeName})");
        }

        var free = new ulong[gpus.Count];
        var freeCount = new int[gpus.Count];
        var totalFree = 0;
        for (var i = 0; i < gpus.Count; i++)
        {
            free[i] = node.IsConflicted(i) ? 0 : FreeMask(gpus[i], node.Gpus[i]);
            freeCount[i] = BitOperations.PopCount(free[i]);
            totalFree += freeCount[i];
        }

        if (totalFree < count)
        {
            return FitResult.Full("full", DescribeWholeShortage(node, count, freeCount, totalFree));
        }

        if (choice == DeviceChoice.FirstFit)
        {
            return FirstFitWhole(node, count, kind, isolation, free, freeCount);
        }

        var candidates = ChooseNumaNodes(gpus, freeCount, count, placement);

        // Fewest physical GPUs: if one GPU can take all that is left, the fullest such GPU; else the emptiest GPU whole.
        var take = new int[gpus.Count];
        var remaining = count;
        while (remaining > 0)
        {
            var single = -1;
            var largest = -1;
            foreach (var i in candidates)
            {
                var available = freeCount[i] - take[i];
                if (available <= 0 || take[i] > 0)
                {
                    continue;
                }

                if (available >= remaining && (single < 0 || available < freeCount[single]))
                {
                    single = i;
                }

                if (largest < 0 || available > freeCount[largest])
                {
                    largest = i;
                }
            }

            var pick = single >= 0 ? single : largest;
            var n = Math.Min(remaining, freeCount[pick]);
            take[pick] = n;
            remaining -= n;
        }

        var grants = new List<GpuGrant>();
        var minimumQuadrants = 0;
        for (var i = 0; i < gpus.Count; i++)
        {
            if (take[i] == 0)
            {
                continue;
            }

            var gpu = gpus[i];
            var (partitions, _) = gpu.IsPartitioned ? PickPartitions(gpu, free[i], take[i], placement) : ([0], true);
            var held = gpu.IsPartitioned ? partitions : [];
            grants.Add(MakeGrant(gpu, held, take[i] * gpu.PartitionComputeMilli, take[i] * gpu.PartitionMemoryMiB));
            minimumQuadrants += (take[i] + gpu.PartitionsPerQuadrant - 1) / gpu.PartitionsPerQuadrant;
        }

        var perGpu = gpus.Max(g => g.Partitions);
        var allocation = new PodAllocation(node.NodeName, kind, isolation, grants);
        return Result(node, allocation, minimumGpus: (count + perGpu - 1) / perGpu, minimumQuadrants);
    }

    /// <summary>First fit for whole GPUs: free logical GPUs in index order, whatever NUMA node or quadrant they are on.</summary>
    private static FitResult FirstFitWhole(NodeUsage node, int count, AllocationKind kind, GpuIsolation isolation, ulong[] free, int[] freeCount)
    {
        var gpus = node.Inventory.Gpus;
        var grants = new List<GpuGrant>();
        var remaining = count;
        for (var i = 0; i < gpus.Count && remaining > 0; i++)
        {
            var n = Math.Min(remaining, freeCount[i]);
            if (n == 0)
            {
                continue;
            }

            var gpu = gpus[i];
            var held = gpu.IsPartitioned ? Take(free[i], n) : [];
            grants.Add(MakeGrant(gpu, held, n * gpu.PartitionComputeMilli, n * gpu.PartitionMemoryMiB));
            remaining -= n;
        }

        var perGpu = gpus.Max(g => g.Partitions);
        var perQuadrant = gpus.Max(g => g.PartitionsPerQuadrant);
        return Result(node, new PodAllocation(node.NodeName, kind, isolation, grants), minimumGpus: (count + perGpu - 1) / perGpu, minimumQuadrants: (count + perQuadrant - 1) / perQuadrant);
    }

    private static List<int> ChooseNumaNodes(IReadOnlyList<PhysicalGpu> gpus, int[] freeCount, int count, PlacementPreference placement)
    {
        var byNuma = new SortedDictionary<int, int>();
        for (var i = 0; i < gpus.Count; i++)
        {
            byNuma[gpus[i].NumaNode] = byNuma.GetValueOrDefault(gpus[i].NumaNode) + freeCount[i];
        }

        int? single = null;
        foreach (var (numa, free) in byNuma)
        {
            if (free < count)
            {
                continue;
            }

            if (single is null
                || (placement == PlacementPreference.Binpack ? free < byNuma[single.Value] : free > byNuma[single.Value]))
            {
                single = numa;
            }
        }

        var chosen = new HashSet<int>();
        if (single is not null)
        {
            chosen.Add(single.Value);
        }
        else
        {
            var sum = 0;
            foreach (var (numa, free) in byNuma.OrderByDescending(p => p.Value).ThenBy(p => p.Key))
            {
                chosen.Add(numa);
                sum += free;
                if (sum >= count)
                {
                    break;
                }
            }
        }

        var result = new List<int>();
        for (var i = 0; i < gpus.Count; i++)
        {
            if (chosen.Contains(gpus[i].NumaNode))
            {
                result.Add(i);
            }
        }

        return result;
    }

    private static GpuGrant MakeGrant(PhysicalGpu gpu, int[] partitions, int compute, long memory)
    {
        if (!gpu.IsPartitioned)
        {
            return new GpuGrant(gpu.Index, [], [.. gpu.XcdsOf(0)], [gpu.FirstDeviceId], compute, memory);
        }

        var xcds = partitions.SelectMany(gpu.XcdsOf).ToArray();
        var devices = partitions.Select(p => gpu.FirstDeviceId + p).ToArray();
        return new GpuGrant(gpu.Index, partitions, xcds, devices, compute, memory);
    }

    private static FitResult Result(NodeUsage node, PodAllocation allocation, int minimumGpus, int minimumQuadrants)
    {
        // Computed on the touched GPUs only, without building the next snapshot: prioritize does this for every node.
        var gpus = node.Inventory.Gpus;
        var usedAfter = node.UsedMilliTotal;
        long touchedAfter = 0;
        ulong numaNodes = 0;
        var quadrants = 0;
        foreach (var grant in allocation.Gpus)
        {
            var i = NodeUsage.IndexOf(node.Inventory, grant.Index);
            var gpu = gpus[i];
            var before = NodeUsage.UsedMilli(gpu, node.Gpus[i]);
            var after = NodeUsage.UsedMilli(gpu, NodeUsage.Add(node.Gpus[i], gpu, grant, allocation.Kind, allocation.Isolation));
            usedAfter += after - before;
            touchedAfter += after;
            numaNodes |= 1UL << Math.Min(63, gpu.NumaNode);
            ulong quadrantMask = 0;
            foreach (var p in grant.Partitions)
            {
                quadrantMask |= 1UL << gpu.QuadrantOf(p);
            }

            quadrants += Math.Max(1, BitOperations.PopCount(quadrantMask));
        }

        var capacity = 1000.0 * Math.Max(1, gpus.Count);
        var quality = new PlacementQuality
        {
            GpusTouched = allocation.Gpus.Count,
            MinimumGpus = Math.Max(1, minimumGpus),
            NumaNodes = BitOperations.PopCount(numaNodes),
            QuadrantsSpanned = quadrants,
            MinimumQuadrants = Math.Max(1, minimumQuadrants),
            NodeUsedBefore = node.UsedMilliTotal / capacity,
            NodeUsedAfter = usedAfter / capacity,
            GpusUsedAfter = touchedAfter / (1000.0 * allocation.Gpus.Count),
        };
        return new FitResult(FitOutcome.Fits, "fits", allocation, quality);
    }

    private static string DescribeWholeShortage(NodeUsage node, int count, int[] freeCount, int totalFree)
    {
        var gpus = node.Inventory.Gpus;
        var unit = gpus[0].IsPartitioned ? "partitions" : "GPUs";
        var freeList = Enumerable.Range(0, gpus.Count).Where(i => freeCount[i] > 0).Select(i => gpus[i].IsPartitioned ? $"{gpus[i].Index} ({freeCount[i]})" : $"{gpus[i].Index}").ToList();
        var held = Enumerable.Range(0, gpus.Count).Count(i => !gpus[i].IsPartitioned && node.Gpus[i].SharedPods > 0);
        var where = freeList.Count == 0 ? string.Empty : $" (GPU {string.Join(", ", freeList)})";
        var note = held > 0 ? $"; {held} GPU(s) hold fractions and are not free" : string.Empty;
        return $"pod asks {count} whole {unit}; {totalFree} free{where}{note}";
    }

    private static string DescribeSharedShortage(NodeUsage node, GpuRequest request, PlacementOptions options)
    {
        var gpus = node.Inventory.Gpus;

        // Name the GPU that came closest, so that the operator sees the real gap.
        var bestIndex = -1;
        var bestScore = int.MinValue;
        for (var i = 0; i < gpus.Count; i++)
        {
            if ((request.Isolation == GpuIsolation.Xcd && !gpus[i].IsPartitioned) || node.IsConflicted(i))
            {
                continue;
            }

            var score = 1000 - node.UsedMilli(i);
            if (score > bestScore)
            {
                bestScore = score;
                bestIndex = i;
            }
        }

        if (bestIndex < 0)
        {
            return $"pod asks {request.Describe()}; every GPU that could take it is in conflict";
        }

        var gpu = gpus[bestIndex];
        var u = node.Gpus[bestIndex];
        var compute = request.ComputeMilliOn(gpu.MemoryMiB);
        var memory = request.MemoryMiBOn(gpu.MemoryMiB);
        if (gpu.IsPartitioned)
        {
            var needed = PartitionsNeeded(gpu, compute, memory);
            return $"pod asks {request.Describe()}, {needed} whole partitions on one GPU; the freest GPU, {gpu.Index}, has {gpu.Partitions - u.PartitionsHeld} of {gpu.Partitions} free";
        }

        if (u.HeldWhole || (request.Exclusive && !u.IsIdle))
        {
            return $"pod asks {request.Describe()}; every GPU is held whole or shared (GPU {gpu.Index} is the freest)";
        }

        var capacity = request.Isolation == GpuIsolation.TimeSlicing ? options.TimeSlicingCapacityMilli : 1000;
        return $"GPU {gpu.Index} has {Share.Format(Math.Max(0, capacity - u.ComputeMilli))} compute and {Math.Max(0, gpu.MemoryMiB - u.MemoryMiB)} MiB free, pod asks {Share.Format(compute)} and {memory} MiB";
    }
}

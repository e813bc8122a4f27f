using System.Numerics;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Simulation;

/// <summary>
/// What the free capacity of a node is good for, measured on the node's usage snapshot in thousandths of a GPU:
/// the capacity in use (as allocation counts it), the free capacity that cannot host one more copy of a reference
/// ask (stranded), and the whole physical GPUs left idle.
/// </summary>
public static class CapacityMeasures
{
    /// <summary>
    /// Free capacity on the node that no copy of <paramref name="reference"/> can use, per GPU (a whole-GPU ask per
    /// node): free minus as many copies of the ask as fit there. A 0.25 ask on a GPU with 0.35 free strands 0.1;
    /// on a GPU held whole, or for an XCD ask on an unpartitioned GPU, every free bit is stranded.
    /// </summary>
    public static long StrandedMilli(NodeUsage node, GpuRequest reference, PlacementOptions options)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(options);
        var gpus = node.Inventory.Gpus;
        if (gpus.Count == 0 || reference.Kind == GpuAskKind.None)
        {
            return 0;
        }

        if (reference.Kind == GpuAskKind.Whole)
        {
            // Logical GPUs free on the node, N at a time (partitions on a partitioned node).
            long free = 0;
            var freeLogical = 0;
            for (var i = 0; i < gpus.Count; i++)
            {
                free += 1000 - node.UsedMilli(i);
                freeLogical += BitOperations.PopCount(GpuPlacer.FreeMask(gpus[i], node.Gpus[i]));
            }

            var copies = freeLogical / Math.Max(1, reference.WholeCount);
            return Math.Max(0, free - (copies * reference.WholeCount * gpus[0].PartitionComputeMilli));
        }

        long stranded = 0;
        for (var i = 0; i < gpus.Count; i++)
        {
            var free = 1000 - node.UsedMilli(i);
            stranded += Math.Max(0, free - UsableMilli(gpus[i], node.Gpus[i], reference, options));
        }

        return stranded;
    }

    /// <summary>The capacity of one GPU that copies of a shared ask could still take.</summary>
    private static long UsableMilli(Inventory.PhysicalGpu gpu, GpuUsage usage, GpuRequest ask, PlacementOptions options)
    {
        var compute = ask.ComputeMilliOn(gpu.MemoryMiB);
        var memory = ask.MemoryMiBOn(gpu.MemoryMiB);
        if (gpu.IsPartitioned)
        {
            var needed = GpuPlacer.PartitionsNeeded(gpu, compute, memory);
            var freePartitions = gpu.Partitions - usage.PartitionsHeld;
            return freePartitions / needed * needed * gpu.PartitionComputeMilli;
        }

        if (ask.Isolation == GpuIsolation.Xcd || usage.HeldWhole)
        {
            return 0;
        }

        if (ask.Exclusive)
        {
            return usage.IsIdle ? 1000 : 0;
        }

        var capacity = ask.Isolation == GpuIsolation.TimeSlicing ? options.TimeSlicingCapacityMilli : 1000;
        var byCompute = compute > 0 ? Math.Max(0, capacity - usage.ComputeMilli) / compute : long.MaxValue;
        var byMemory = memory > 0 && gpu.MemoryMiB > 0 ? Math.Max(0, gpu.MemoryMiB - usage.MemoryMiB) / memory : long.MaxValue;
        var copies = Math.Min(byCompute, byMemory);
        if (copies == long.MaxValue)
        {
            return 0;
        }

        // One copy takes the larger of its compute and memory share of the GPU, as allocation counts it.
        var size = Math.Max(compute, gpu.MemoryMiB > 0 ? (int)(memory * 1000 / gpu.MemoryMiB) : 0);
        return copies * size;
    }

    /// <summary>
    /// Physical GPUs of the node that nobody holds any part of: what an N-whole-GPU job can still get. With
    /// <paramref name="unpartitionedOnly"/>, only unpartitioned (SPX) GPUs count: on a CPX node <c>amd.com/gpu: N</c>
    /// gets N XCD partitions, not N GPUs.
    /// </summary>
    public static int IdleGpus(NodeUsage node, bool unpartitionedOnly = false)
    {
        ArgumentNullException.ThrowIfNull(node);
        var idle = 0;
        for (var i = 0; i < node.Gpus.Count; i++)
        {
            if (node.Gpus[i].IsIdle && !(unpartitionedOnly && node.Inventory.Gpus[i].IsPartitioned))
            {
                idle++;
            }
        }

        return idle;
    }
}

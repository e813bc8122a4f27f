using System.Numerics;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Fits;

/// <summary>The outcome of a fit and its reason code, without the placement or the reason text.</summary>
public readonly record struct FitVerdict(FitOutcome Outcome, string Code)
{
    public static FitVerdict NoGpuNeeded { get; } = new(FitOutcome.Fits, "no-gpu-needed");

    public bool Fits => Outcome == FitOutcome.Fits;

    public static FitVerdict Of(FitResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new(result.Outcome, result.Code);
    }
}

/// <summary>What one physical GPU has free, flattened from its inventory and usage for the fit check.</summary>
internal readonly record struct GpuSlot(
    long MemoryMiB,
    long FreeMemoryMiB,
    int UsedComputeMilli,
    int Partitions,
    long PartitionMemoryMiB,
    int FreePartitions,
    bool HeldWhole,
    bool Idle,
    bool Conflicted)
{
    public bool IsPartitioned => Partitions > 1;
}

/// <summary>
/// A node's free capacity, computed once per <see cref="NodeUsage"/> snapshot (so once per change of the node's
/// usage), that answers "does this ask fit here" with a few integer comparisons per GPU and no allocation.
/// </summary>
/// <remarks>
/// <see cref="Verdict"/> must say exactly what <see cref="GpuPlacer.Fit"/> says (outcome and code): it walks the same
/// rules in the same order and stops at the first place the ask fits instead of choosing the best one and building
/// the allocation. A property test holds the two together.
/// </remarks>
public sealed class NodeFitSummary
{
    private readonly GpuSlot[] _slots;
    private readonly bool _anyPartitioned;
    private readonly int _logicalGpus;
    private readonly int _freeLogicalGpus;
    private readonly bool _anyConflict;
    private readonly bool _conflictOffInventory;
    private readonly bool _inventoryBroken;

    internal NodeFitSummary(NodeUsage usage)
    {
        var gpus = usage.Inventory.Gpus;
        _slots = new GpuSlot[gpus.Count];
        for (var i = 0; i < gpus.Count; i++)
        {
            var gpu = gpus[i];
            var used = usage.Gpus[i];
            var conflicted = usage.IsConflicted(i);
            var free = GpuPlacer.FreeMask(gpu, used);
            _slots[i] = new GpuSlot(
                gpu.MemoryMiB,
                gpu.MemoryMiB - used.MemoryMiB,
                used.ComputeMilli,
                gpu.Partitions,
                gpu.PartitionMemoryMiB,
                BitOperations.PopCount(free),
                used.HeldWhole,
                used.IsIdle,
                conflicted);
            _anyPartitioned |= gpu.IsPartitioned;
            _logicalGpus += gpu.Partitions;
            _freeLogicalGpus += conflicted ? 0 : BitOperations.PopCount(free);
        }

        _anyConflict = !usage.Conflicts.IsEmpty;
        _conflictOffInventory = usage.HasConflictOffInventory;
        _inventoryBroken = usage.Inventory.Error is not null;
    }

    /// <summary>Free logical GPUs (partitions, or whole unpartitioned GPUs nobody holds), GPUs in conflict not counted.</summary>
    public int FreeLogicalGpus => _freeLogicalGpus;

    /// <summary>Whether and how the ask fits: the outcome and code <see cref="GpuPlacer.Fit"/> gives, at a fraction of its cost.</summary>
    public FitVerdict Verdict(GpuRequest request, PlacementOptions options)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        if (!request.WantsGpu)
        {
            return FitVerdict.NoGpuNeeded;
        }

        if (_inventoryBroken)
        {
            return new(FitOutcome.NeverFits, "inventory-error");
        }

        if (_slots.Length == 0)
        {
            return new(FitOutcome.NeverFits, "no-gpus");
        }

        if (_conflictOffInventory)
        {
            return new(FitOutcome.NeverFits, "record-conflict");
        }

        var outcome = request.Kind == GpuAskKind.Whole ? WholeOutcome(request.WholeCount) : SharedOutcome(request, options);
        return outcome switch
        {
            FitOutcome.Fits => new(FitOutcome.Fits, "fits"),
            FitOutcome.FullNow => new(FitOutcome.FullNow, _anyConflict ? "record-conflict" : "full"),
            _ => new(FitOutcome.NeverFits, request.Kind == GpuAskKind.Whole || !NeedsPartitionsMissing(request) ? "too-large" : "xcd-needs-partitions"),
        };
    }

    private bool NeedsPartitionsMissing(GpuRequest request) => request.Isolation == GpuIsolation.Xcd && !_anyPartitioned;

    private FitOutcome WholeOutcome(int count) =>
        count > _logicalGpus ? FitOutcome.NeverFits
        : _freeLogicalGpus < count ? FitOutcome.FullNow
        : FitOutcome.Fits;

    private FitOutcome SharedOutcome(GpuRequest request, PlacementOptions options)
    {
        var xcd = request.Isolation == GpuIsolation.Xcd;
        if (xcd && !_anyPartitioned)
        {
            return FitOutcome.NeverFits;
        }

        var capacity = request.Isolation == GpuIsolation.TimeSlicing ? options.TimeSlicingCapacityMilli : 1000;
        var anyPossible = false;
        foreach (ref readonly var slot in _slots.AsSpan())
        {
            if (xcd && !slot.IsPartitioned)
            {
                continue;
            }

            var memory = request.MemoryMiBOn(slot.MemoryMiB);
            if (slot.MemoryMiB == 0 && request.MemoryMiB is not null)
            {
                continue;
            }

            if (slot.MemoryMiB > 0 && memory > slot.MemoryMiB)
            {
                continue;
            }

            anyPossible = true;
            if (slot.Conflicted)
            {
                continue;
            }

            var compute = request.ComputeMilliOn(slot.MemoryMiB);
            bool fits;
            if (slot.IsPartitioned)
            {
                var needed = GpuPlacer.PartitionsNeeded(slot.Partitions, slot.PartitionMemoryMiB, compute, memory);
                fits = needed <= slot.Partitions && slot.FreePartitions >= needed;
            }
            else if (request.Exclusive)
            {
                fits = slot.Idle;
            }
            else
            {
                fits = !slot.HeldWhole && compute <= capacity - slot.UsedComputeMilli && (slot.MemoryMiB <= 0 || memory <= slot.FreeMemoryMiB);
            }

            if (fits)
            {
                return FitOutcome.Fits;
            }
        }

        return anyPossible ? FitOutcome.FullNow : FitOutcome.NeverFits;
    }
}

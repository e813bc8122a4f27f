using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Pipeline;

namespace Kaiwo.Scheduling.State;

/// <summary>One pod's hold on one GPU, as /inspect shows it.</summary>
public sealed record InspectPod(string Pod, string Uid, string Kind, string Isolation, IReadOnlyList<int> Partitions, IReadOnlyList<int> Xcds, IReadOnlyList<int> Devices, string Compute, long MemoryMiB);

/// <summary>One physical GPU, as /inspect shows it.</summary>
public sealed record InspectGpu(
    int Index,
    string Model,
    string Mode,
    int NumaNode,
    int Xcds,
    int Partitions,
    IReadOnlyList<int> FreePartitions,
    long MemoryMiB,
    string ComputeUsed,
    long MemoryUsedMiB,
    bool HeldWhole,
    IReadOnlyList<InspectPod> Pods);

/// <summary>One node, as /inspect shows it.</summary>
public sealed record InspectNode(
    string Name,
    string InventorySource,
    string? InventoryError,
    IReadOnlyList<GpuConflict> Conflicts,
    int LogicalGpus,
    string Allocated,
    IReadOnlyList<InspectGpu> Gpus);

/// <summary>Builds the allocation table of /inspect: sorted throughout, so the same state gives the same bytes.</summary>
public static class InspectTable
{
    public static IReadOnlyList<InspectNode> Build(IEnumerable<NodeCandidate> nodes) =>
        [.. nodes.OrderBy(n => n.Name, StringComparer.Ordinal).Select(n => Build(n.Usage))];

    public static InspectNode Build(NodeUsage usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        var inventory = usage.Inventory;
        var gpus = new List<InspectGpu>(inventory.Gpus.Count);
        for (var i = 0; i < inventory.Gpus.Count; i++)
        {
            var gpu = inventory.Gpus[i];
            var u = usage.Gpus[i];
            var pods = usage.Holds.Values
                .SelectMany(h => h.Allocation.Gpus.Where(g => g.Index == gpu.Index).Select(g => (h, g)))
                .OrderBy(p => p.h.PodKey, StringComparer.Ordinal)
                .Select(p => new InspectPod(
                    p.h.PodKey,
                    p.h.Uid,
                    p.h.Allocation.Kind == AllocationKind.Whole ? "whole" : "shared",
                    AllocationRecord.IsolationName(p.h.Allocation.Isolation),
                    p.g.Partitions,
                    p.g.Xcds,
                    p.g.Devices,
                    Requests.Share.Format(p.g.ComputeMilli),
                    p.g.MemoryMiB))
                .ToList();
            var free = Enumerable.Range(0, gpu.Partitions).Where(p => gpu.IsPartitioned ? (u.PartitionMask & (1UL << p)) == 0 : u.IsIdle).ToList();
            gpus.Add(new InspectGpu(
                gpu.Index,
                gpu.Model.Name,
                gpu.ModeName,
                gpu.NumaNode,
                gpu.XcdCount,
                gpu.Partitions,
                free,
                gpu.MemoryMiB,
                Requests.Share.Format(gpu.IsPartitioned ? u.PartitionsHeld * gpu.PartitionComputeMilli : (u.HeldWhole ? 1000 : u.ComputeMilli)),
                gpu.IsPartitioned ? u.PartitionsHeld * gpu.PartitionMemoryMiB : (u.HeldWhole ? gpu.MemoryMiB : u.MemoryMiB),
                u.HeldWhole,
                pods));
        }

        return new InspectNode(
            inventory.NodeName,
            inventory.Source.ToString(),
            inventory.Error,
            usage.Conflicts,
            inventory.LogicalGpuCount,
            usage.UsedFraction().ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
            gpus);
    }
}

using System.Numerics;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;

namespace Kaiwo.Scheduling.State;

/// <summary>
/// How one node's GPU capacity stands, for the metrics: what is allocated, and how much of the rest is fragmented.
/// Shares are in thousandths of a physical GPU, as <see cref="NodeUsage"/> counts them.
/// </summary>
/// <param name="Gpus">Physical GPUs.</param>
/// <param name="AllocatedMilli">Share held, the sum of <see cref="NodeUsage.UsedMilli(int)"/>.</param>
/// <param name="StrandedMilli">
/// Free share on unpartitioned GPUs that pods already hold part of: room that only fractional asks can use, never a
/// whole-GPU ask. Free partitions of a partitioned GPU are not stranded: each is a whole logical GPU. A GPU in
/// conflict takes no pod at all, so its room counts in neither figure.
/// </param>
/// <param name="FreeWholeGpus">
/// The largest <c>amd.com/gpu: N</c> ask the node takes now: its free logical GPUs outside conflicts (what
/// <see cref="GpuPlacer"/> fits whole asks on); 0 while a record names a GPU the node lacks, which refuses every GPU pod.
/// </param>
public readonly record struct GpuCapacity(int Gpus, long AllocatedMilli, long StrandedMilli, int FreeWholeGpus)
{
    public static GpuCapacity Of(NodeUsage usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        var gpus = usage.Inventory.Gpus;
        long stranded = 0;
        var freeWhole = 0;
        if (usage.HasConflictOffInventory)
        {
            return new GpuCapacity(gpus.Count, usage.UsedMilliTotal, 0, 0);
        }

        for (var i = 0; i < gpus.Count; i++)
        {
            if (usage.IsConflicted(i))
            {
                continue;
            }

            var held = usage.Gpus[i];
            freeWhole += BitOperations.PopCount(GpuPlacer.FreeMask(gpus[i], held));
            if (!gpus[i].IsPartitioned && !held.IsIdle)
            {
                stranded += 1000 - usage.UsedMilli(i);
            }
        }

        return new GpuCapacity(gpus.Count, usage.UsedMilliTotal, stranded, freeWhole);
    }
}

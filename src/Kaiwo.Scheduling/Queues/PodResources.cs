using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Units;

namespace Kaiwo.Scheduling.Queues;

/// <summary>What a pod counts against its queue: GPUs by share, CPU and memory by Kubernetes' effective requests.</summary>
public static class PodResources
{
    /// <summary>The GPU share a pending ask stands for when the node (and so the GPU's memory) is not known yet: an MI300X's.</summary>
    private const long ReferenceGpuMemoryMiB = 192 * 1024;

    /// <summary>A pending pod's request: GPUs from its ask, CPU and memory from its containers.</summary>
    public static ResourceVector Request(PodFacts pod, GpuRequest gpu)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(gpu);
        var gpuMilli = gpu.Kind switch
        {
            GpuAskKind.Whole => gpu.WholeCount * 1000L,
            GpuAskKind.Shared when gpu.Exclusive => 1000L,
            GpuAskKind.Shared => gpu.ComputeMilliOn(ReferenceGpuMemoryMiB),
            _ => 0L,
        };
        return new ResourceVector(gpuMilli, Effective(pod, "cpu"), Effective(pod, "memory"));
    }

    /// <summary>A bound pod's usage: the GPU share it holds (its record), CPU and memory from its containers.</summary>
    public static ResourceVector Usage(PodFacts pod, Allocation.PodAllocation? allocation, GpuRequest gpu) =>
        allocation is null ? Request(pod, gpu) with { Gpu = 0 } : Request(pod, gpu) with { Gpu = allocation.TotalComputeMilli };

    /// <summary>
    /// Kubernetes' effective request of one resource (<see cref="EffectiveRequest"/>), CPU in millicores and memory in
    /// MiB by <see cref="ResourceAmounts"/>. A quantity it refuses counts as zero here: the request stage refuses such
    /// a pod, and a running one (the API server accepted it) must still be counted somehow.
    /// </summary>
    private static long Effective(PodFacts pod, string resource)
    {
        long Of(ContainerFacts c)
        {
            var text = c.Requests.GetValueOrDefault(resource) ?? c.Limits.GetValueOrDefault(resource);
            if (text is null)
            {
                return 0;
            }

            var read = resource == "cpu" ? ResourceAmounts.TryCpuMilli(text, out var amount) : ResourceAmounts.TryMemoryMiB(text, out amount);
            return read ? amount : 0;
        }

        return EffectiveRequest.Of(pod, Of);
    }
}

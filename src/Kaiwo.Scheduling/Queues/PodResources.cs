using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Units;

namespace Kaiwo.Scheduling.Queues;

/// <summary>What a pod counts against its queue: GPUs by share, CPU and memory by Kubernetes' effective requests.</summary>
public static class PodResources
{
    private const long MiB = 1024 * 1024;

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
        return new ResourceVector(gpuMilli, Effective(pod, "cpu", 1000, multiply: true), Effective(pod, "memory", MiB, multiply: false));
    }

    /// <summary>A bound pod's usage: the GPU share it holds (its record), CPU and memory from its containers.</summary>
    public static ResourceVector Usage(PodFacts pod, Allocation.PodAllocation? allocation, GpuRequest gpu) =>
        allocation is null ? Request(pod, gpu) with { Gpu = 0 } : Request(pod, gpu) with { Gpu = allocation.TotalComputeMilli };

    /// <summary>
    /// Kubernetes' effective request of one resource (<see cref="EffectiveRequest"/>). CPU in millicores, memory in MiB,
    /// rounded up; a malformed or negative quantity counts as zero (the API server would not have accepted it).
    /// </summary>
    private static long Effective(PodFacts pod, string resource, long unit, bool multiply)
    {
        long Of(ContainerFacts c)
        {
            var text = c.Requests.GetValueOrDefault(resource) ?? c.Limits.GetValueOrDefault(resource);
            if (text is null)
            {
                return 0;
            }

            if (multiply)
            {
                // cpu "1.5" is 1500 millicores: scale before rounding.
                return Quantity.TryParse(text, out var num, out var den) && num > 0 ? (long)Math.Ceiling((double)(num * unit) / (double)den) : 0;
            }

            return Quantity.TryParseCeiling(text, unit, out var value) ? Math.Max(0, value) : 0;
        }

        return EffectiveRequest.Of(pod, Of);
    }
}

namespace Kaiwo.Scheduling.Inventory;

/// <summary>
/// The largest node the extender believes in. Every count a node advertises is checked against these before anything
/// is sized from it: a node beyond them is unresolvable for GPU pods, with the reason, and adds nothing to the queues'
/// capacity. They sit well above any machine built today (8 MI300X of 8 XCDs, 64 logical GPUs, 2 TB of memory).
/// </summary>
public static class InventoryLimits
{
    /// <summary>Physical GPUs on one node.</summary>
    public const int MaxPhysicalGpus = 64;

    /// <summary>XCDs of one physical GPU (MI300X has 8); CPX makes one partition per XCD, so also partitions per GPU.</summary>
    public const int MaxXcdsPerGpu = 16;

    /// <summary>Logical GPUs (allocatable <c>amd.com/gpu</c>) on one node: every physical GPU in CPX.</summary>
    public const int MaxLogicalGpus = MaxPhysicalGpus * MaxXcdsPerGpu;

    /// <summary>Memory of one physical GPU, in MiB: 16 TiB.</summary>
    public const long MaxGpuMemoryMiB = 16L * 1024 * 1024;

    /// <summary>Allocatable CPU of one node, in millicores: 100,000 cores.</summary>
    public const long MaxNodeCpuMilli = 100_000L * 1000;

    /// <summary>Allocatable memory of one node, in MiB: 1 PiB.</summary>
    public const long MaxNodeMemoryMiB = 1024L * 1024 * 1024;
}

namespace Kaiwo.Scheduling.Fits;

/// <summary>How a node's devices are chosen for a pod once the node is chosen.</summary>
public enum DeviceChoice
{
    /// <summary>Best fit (the default): the GPU, quadrant and partitions that leave the least free space behind.</summary>
    BestFit,

    /// <summary>
    /// The first GPU with room, in index order, and its lowest free partitions: the naive baseline the simulator
    /// compares against (kube-scheduler with a plain device plugin does no better).
    /// </summary>
    FirstFit,
}

/// <summary>How devices are shared.</summary>
public sealed record PlacementOptions
{
    /// <summary>
    /// Compute capacity of one GPU for time-sliced pods, in thousandths: 1000 (the default, factor 1.0) means no
    /// oversubscription; 2000 lets time-sliced pods ask for twice the GPU's compute in total. Memory is never oversubscribed.
    /// </summary>
    public int TimeSlicingCapacityMilli { get; init; } = 1000;

    /// <summary>How devices are chosen on the node; fits are the same either way, only which devices differs.</summary>
    public DeviceChoice DeviceChoice { get; init; } = DeviceChoice.BestFit;
}

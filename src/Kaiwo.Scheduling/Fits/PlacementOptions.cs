namespace Kaiwo.Scheduling.Fits;

/// <summary>How devices are shared.</summary>
public sealed record PlacementOptions
{
    /// <summary>
    /// Compute capacity of one GPU for time-sliced pods, in thousandths: 1000 (the default, factor 1.0) means no
    /// oversubscription; 2000 lets time-sliced pods ask for twice the GPU's compute in total. Memory is never oversubscribed.
    /// </summary>
    public int TimeSlicingCapacityMilli { get; init; } = 1000;
}

namespace Kaiwo.Scheduling.Reservations;

/// <summary>
/// Which pending pods get devices held for them against starvation, and for how long (settings
/// <c>Scheduling:ReserveMinGpus</c>, <c>Scheduling:ReserveAfter</c>, <c>Scheduling:StarvationReservationTtl</c>).
/// </summary>
public sealed record StarvationOptions
{
    /// <summary>
    /// The fewest whole GPUs (<c>amd.com/gpu</c>) a pod must ask for to be reserved for; 0 switches starvation
    /// reservations off.
    /// </summary>
    public int MinimumGpus { get; init; } = 2;

    /// <summary>
    /// How long such a pod must have been pending before it reserves; also how long a node whose reservation ran out
    /// stays closed to the same pod, so that a node that never frees enough is not held for it for ever.
    /// </summary>
    public TimeSpan After { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long a reservation lasts without taking more of its node: made or grown, it is released this long after,
    /// unless it grows again (or its pod binds) first. A node whose drained GPUs hold a long job is let go.
    /// </summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The schedulers (<c>spec.schedulerName</c>) whose pods may reserve: the extender's own.</summary>
    public IReadOnlyCollection<string> SchedulerNames { get; init; } = ["kaiwo-scheduler"];

    public bool Enabled => MinimumGpus > 0;
}

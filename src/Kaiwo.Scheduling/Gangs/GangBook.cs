using System.Collections.Concurrent;
using Kaiwo.Scheduling.Fits;

namespace Kaiwo.Scheduling.Gangs;

/// <summary>Where a gang stands.</summary>
public enum GangPhase
{
    /// <summary>Too few members yet, or its plan does not fit now: every member is refused with the reason.</summary>
    Waiting,

    /// <summary>Its plan holds: each unbound member's slot is reserved until it binds or the reservation expires.</summary>
    Reserved,

    /// <summary>Its minimum members are bound: it has started.</summary>
    Placed,

    /// <summary>Its members disagree (size, scheduler, queue) or one declares a size that cannot be read.</summary>
    Invalid,
}

/// <summary>
/// One gang's state as the last reconcile left it, for the filter (the plan's refusal), /inspect and the metrics.
/// </summary>
/// <param name="Key">"namespace/group".</param>
/// <param name="Phase">Where it stands.</param>
/// <param name="MinMembers">The declared minimum.</param>
/// <param name="Present">Members that exist (not being deleted).</param>
/// <param name="Bound">Members bound.</param>
/// <param name="Reserved">Members holding their reserved slot.</param>
/// <param name="Reason">Why it waits or is invalid; null once reserved or placed.</param>
/// <param name="Since">When the reconcile first saw it (the order waiting gangs are planned in, after priority).</param>
public sealed record GangStatus(string Key, GangPhase Phase, int MinMembers, int Present, int Bound, int Reserved, string? Reason, DateTimeOffset Since)
{
    /// <summary>The plan's refusal the members' filters answer with, while the gang waits for room.</summary>
    public FitResult? Refusal { get; init; }

    /// <summary>The members whose slots the gang's plan holds (uids), while <see cref="GangPhase.Reserved"/>.</summary>
    public IReadOnlySet<string> Slots { get; init; } = new HashSet<string>();

    /// <summary>The state version and queue snapshot the refusal was planned on: unchanged, planning again is for nothing.</summary>
    internal (long Version, object? Queues)? PlannedOn { get; init; }
}

/// <summary>
/// The gangs' states as the reconciler last wrote them, read without locks by filters, /inspect and the metrics.
/// Written only by <see cref="GangReconciler"/>; each status is an immutable record replaced whole.
/// </summary>
public sealed class GangBook
{
    private readonly ConcurrentDictionary<string, GangStatus> _gangs = new(StringComparer.Ordinal);
    private long _placed;
    private long _released;

    /// <summary>Gangs whose plan was held, since the start.</summary>
    public long PlacedTotal => Interlocked.Read(ref _placed);

    /// <summary>Gang reservations released whole before every member bound, since the start.</summary>
    public long ReleasedTotal => Interlocked.Read(ref _released);

    public GangStatus? Find(string key) => _gangs.TryGetValue(key, out var status) ? status : null;

    /// <summary>The refusal a waiting member's filter answers with: its gang's last plan's, when that did not fit.</summary>
    public FitResult? PlanRefusal(string key) => _gangs.TryGetValue(key, out var status) && status.Phase == GangPhase.Waiting ? status.Refusal : null;

    /// <summary>Every gang's state, sorted by key.</summary>
    public IReadOnlyList<GangStatus> Statuses() => [.. _gangs.Values.OrderBy(s => s.Key, StringComparer.Ordinal)];

    /// <summary>How many gangs are in each phase now.</summary>
    public int Count(GangPhase phase) => _gangs.Values.Count(s => s.Phase == phase);

    internal void Set(GangStatus status) => _gangs[status.Key] = status;

    internal void Remove(string key) => _gangs.TryRemove(key, out _);

    internal IReadOnlyCollection<string> Keys => [.. _gangs.Keys];

    internal void CountPlaced() => Interlocked.Increment(ref _placed);

    internal void CountReleased() => Interlocked.Increment(ref _released);
}

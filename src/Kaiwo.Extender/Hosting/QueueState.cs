using Kaiwo.Extender.Live;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// The queue snapshot the pipeline admits pods against, null when there are no queues. It is rebuilt only when a pod,
/// node or queue changed since the last one. Building reads every pod, so filter and prioritize accept a snapshot up
/// to <see cref="MaxFilterAge"/> old under churn; binds always take a fresh one (see <see cref="Verbs.Reservations"/>),
/// so limits hold exactly.
/// </summary>
internal sealed class QueueState(ClusterState state, QueueCatalog catalog, IOptions<SchedulingOptions> options, TimeProvider time)
{
    /// <summary>How stale a snapshot filter and prioritize may use while pods keep changing.</summary>
    public static readonly TimeSpan MaxFilterAge = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private (long State, long Catalog, QueueSnapshot? Snapshot, long BuiltAt) _cache = (-1, -1, null, 0);

    /// <summary>Binds take this while they re-check admission and reserve (see <see cref="Verbs.Reservations"/>).</summary>
    public Lock AdmissionGate { get; } = new();

    /// <summary>The snapshot of now: rebuilt if anything changed.</summary>
    public QueueSnapshot? Current() => Get(TimeSpan.Zero);

    /// <summary>For filter and prioritize: the last snapshot while it is younger than <see cref="MaxFilterAge"/> and the queues did not change.</summary>
    public QueueSnapshot? ForFilter() => Get(MaxFilterAge);

    private QueueSnapshot? Get(TimeSpan maxAge)
    {
        var versions = (state.Version, catalog.Version);
        var cache = _cache;
        if (Usable(cache, versions, maxAge))
        {
            return cache.Snapshot;
        }

        lock (_gate)
        {
            if (Usable(_cache, versions, maxAge))
            {
                return _cache.Snapshot;
            }

            var snapshot = Build();
            _cache = (versions.Item1, versions.Item2, snapshot, time.GetTimestamp());
            return snapshot;
        }
    }

    private bool Usable((long State, long Catalog, QueueSnapshot? Snapshot, long BuiltAt) cache, (long State, long Catalog) versions, TimeSpan maxAge) =>
        cache.Catalog == versions.Catalog
        && (cache.State == versions.State || (maxAge > TimeSpan.Zero && cache.State >= 0 && time.GetElapsedTime(cache.BuiltAt) < maxAge));

    private QueueSnapshot? Build()
    {
        if (catalog.UnavailableReason is not null)
        {
            return null;
        }

        var (specs, invalid) = catalog.Read();
        if (specs.Count == 0 && invalid.Count == 0)
        {
            return null;
        }

        var tree = QueueTree.Build(specs, options.Value.DefaultQueue, invalid);
        return state.QueueSnapshot(tree, options.Value.SchedulerName);
    }
}

using Kaiwo.Extender.Live;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// The queue snapshot the pipeline admits pods against: rebuilt only when a pod, node or queue changed since the last
/// one, so that quiet periods cost nothing and limits always see the latest usage. Null when there are no queues.
/// </summary>
internal sealed class QueueState(ClusterState state, QueueCatalog catalog, IOptions<SchedulingOptions> options)
{
    private readonly Lock _gate = new();
    private (long State, long Catalog, QueueSnapshot? Snapshot) _cache = (-1, -1, null);

    /// <summary>Binds take this while they re-check admission and reserve (see <see cref="Verbs.Reservations"/>).</summary>
    public Lock AdmissionGate { get; } = new();

    public QueueSnapshot? Current()
    {
        var versions = (state.Version, catalog.Version);
        var cache = _cache;
        if (cache.State == versions.Item1 && cache.Catalog == versions.Item2)
        {
            return cache.Snapshot;
        }

        lock (_gate)
        {
            if (_cache.State == versions.Item1 && _cache.Catalog == versions.Item2)
            {
                return _cache.Snapshot;
            }

            var snapshot = Build();
            _cache = (versions.Item1, versions.Item2, snapshot);
            return snapshot;
        }
    }

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

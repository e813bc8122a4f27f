using Kaiwo.Extender.Live;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// The queue snapshot every verb admits pods against (null when there are no queues), exact as of the call: filter,
/// prioritize, preempt and bind all read <see cref="Current"/>, so the filter's queue verdict is the one the bind
/// gives in the same state.
/// </summary>
/// <remarks>
/// Nothing here reads pods. Writers (pod, node and queue events, binds, releases, expiries) keep the cluster's queue
/// totals up to date as they change them and move <see cref="ClusterState.QueueVersion"/>; the catalogue reads each
/// queue once, when it arrives. The first read after a change builds the snapshot from the totals and the tree cached
/// for the catalogue's contents (as many steps as there are queues and labels, fair share included) and publishes it
/// as one immutable object through one reference; every read until the next change returns that same object. Building
/// on the first read rather than inside each writer keeps a burst of pod events (a first list of 200,000 pods) from
/// computing fair shares nobody reads, and no reader can get a snapshot older than the last change it could see.
/// </remarks>
internal sealed class QueueState(ClusterState state, QueueCatalog catalog, IOptions<SchedulingOptions> options)
{
    private readonly Lock _publishGate = new();
    private readonly string _defaultQueue = options.Value.DefaultQueue;
    private readonly string _schedulerName = options.Value.SchedulerName;

    // Read without a lock, replaced whole under _publishGate.
    private Published? _published;

    // Under _publishGate: the tree of the catalogue contents it was built for.
    private (QueueCatalogContents Contents, QueueTree? Tree)? _tree;

    /// <summary>Binds take this while they re-check admission and reserve (see <see cref="Verbs.Reservations"/>).</summary>
    public Lock AdmissionGate { get; } = new();

    /// <summary>The snapshot of now: the published one while nothing it depends on moved, else one built from the totals.</summary>
    public QueueSnapshot? Current()
    {
        var published = Volatile.Read(ref _published);
        return published is not null && published.IsFor(catalog.Contents, state.QueueVersion) ? published.Snapshot : Publish();
    }

    private QueueSnapshot? Publish()
    {
        lock (_publishGate)
        {
            var contents = catalog.Contents;
            var published = _published;
            if (published is not null && published.IsFor(contents, state.QueueVersion))
            {
                return published.Snapshot; // another reader built it meanwhile
            }

            var tree = TreeOf(contents);
            QueueSnapshot? snapshot = null;
            var version = 0L;
            if (tree is not null)
            {
                var totals = state.QueueTotals(_schedulerName);
                version = totals.Version;
                snapshot = QueueSnapshot.FromTotals(tree, totals);
            }

            Volatile.Write(ref _published, new Published(contents, version, snapshot));
            return snapshot;
        }
    }

    /// <summary>Under _publishGate: the tree for these contents, built once per catalogue change; null when there are no queues.</summary>
    private QueueTree? TreeOf(QueueCatalogContents contents)
    {
        if (_tree is { } cached && ReferenceEquals(cached.Contents, contents))
        {
            return cached.Tree;
        }

        var tree = contents.UnavailableReason is not null || (contents.Specs.Count == 0 && contents.Invalid.Count == 0)
            ? null
            : QueueTree.Build(contents.Specs, _defaultQueue, contents.Invalid);
        _tree = (contents, tree);
        return tree;
    }

    /// <summary>
    /// A published snapshot and what it was built from. Without queues the snapshot is null whatever the pods do, so
    /// only a catalogue change makes it stale.
    /// </summary>
    private sealed record Published(QueueCatalogContents Catalog, long QueueVersion, QueueSnapshot? Snapshot)
    {
        public bool IsFor(QueueCatalogContents catalog, long queueVersion) =>
            ReferenceEquals(Catalog, catalog) && (Snapshot is null || QueueVersion == queueVersion);
    }
}

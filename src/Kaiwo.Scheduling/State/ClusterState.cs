using System.Collections.Concurrent;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.State;

/// <summary>The answer of <see cref="ClusterState.Reserve"/>.</summary>
public enum ReserveStatus
{
    /// <summary>The devices are reserved for the pod now.</summary>
    Reserved,

    /// <summary>The pod already holds this node: a repeated bind, nothing new is allocated.</summary>
    AlreadyBoundHere,

    /// <summary>The pod is bound to another node.</summary>
    BoundElsewhere,

    /// <summary>The node is not known.</summary>
    UnknownNode,

    /// <summary>The pod no longer fits the node (the devices were taken meanwhile).</summary>
    DoesNotFit,

    /// <summary>The pod can be placed nowhere (its request is invalid or its queue refuses it).</summary>
    Unplaceable,
}

/// <summary>The answer of a reservation, with the allocation the pod holds when it succeeded.</summary>
public sealed record ReserveResult(ReserveStatus Status, string Reason, PodAllocation? Allocation)
{
    public bool Succeeded => Status is ReserveStatus.Reserved or ReserveStatus.AlreadyBoundHere;
}

/// <summary>
/// The in-memory cluster: nodes with their GPU usage snapshots, and the pods that hold devices.
/// Readers take immutable <see cref="NodeUsage"/> snapshots without locks. Writers lock the pod, then the node
/// (always in that order), so concurrent binds never over-allocate and a pod is never bound twice.
/// </summary>
public sealed partial class ClusterState(RequestOptions requests, PlacementOptions placement)
{
    // The nodes by name, also findable by a name's characters (NodeNameComparer); by its bytes through _nameIndex.
    private ConcurrentDictionary<string, NodeEntry> NodesTable { get; } = new(NodeNameComparer.Instance);

    // The same nodes in a flat table for the lookup by bytes, built on the first lookup after a node was added or
    // removed (_nodeSetVersion moved) and published whole; see NodeNameIndex.
    private NodeNameIndex<NodeEntry>? _nameIndex;
    private long _nodeSetVersion;

    // One build of the name index at a time: callers that find it stale while another builds wait for that build
    // (one O(nodes) pass) instead of each making their own.
    private readonly Lock _nameIndexBuild = new();
    private readonly ConcurrentDictionary<string, PodEntry> _pods = new(StringComparer.Ordinal);

    // Pending pods that ask for whole GPUs, by uid: what the starvation step looks at, without reading every pod.
    private readonly ConcurrentDictionary<string, PodEntry> _pendingWhole = new(StringComparer.Ordinal);

    // Reservations by pod uid: a copy of each pod entry's own, written under the pod's lock, read by every filter
    // without one. Holds are made one at a time (the gate), so that two plans never interleave their slots.
    private readonly ConcurrentDictionary<string, Reservation> _reservations = new(StringComparer.Ordinal);
    private readonly Lock _reservationGate = new();
    private long _version;
    private long _queueVersion;
    private readonly Lock _accountsGate = new();
    private readonly QueueAccounts _accounts = new();

    /// <summary>
    /// Moves when something the scheduling decisions read changed: a node's inventory inputs or utilization, a pod's
    /// hold or what it counts in its queue. A heartbeat of a node or a status update of a pod that changes none of
    /// these leaves it where it is, so that what is keyed on it is not rebuilt for nothing.
    /// </summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>
    /// Moves when, and only when, a queue total (<see cref="QueueTotals"/>) moved: a pod's usage or pending request,
    /// its queue label or scheduler, or a node's capacity. What the queue snapshot is keyed on.
    /// </summary>
    public long QueueVersion => Volatile.Read(ref _queueVersion);

    public ClusterState()
        : this(new RequestOptions(), new PlacementOptions())
    {
    }

    public ClusterState(RequestOptions requests)
        : this(requests, new PlacementOptions())
    {
    }

    /// <summary>GPUs whose pods' records do not fit them, over all nodes: what the conflicts gauge reports.</summary>
    public int ConflictedGpuCount => NodesTable.Values.Sum(n => n.Current.Usage.Conflicts.Count);

    public int NodeCount => NodesTable.Count;

    public int PodCount => _pods.Count;

    /// <summary>Adds or updates a node. Its pods keep their holds on the new inventory; mismatches become conflicts.</summary>
    public void UpsertNode(NodeFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        if (NodesTable.TryGetValue(facts.Name, out var existing))
        {
            lock (existing.Gate)
            {
                if (!existing.Removed)
                {
                    UpdateNode(existing, facts);
                    return;
                }
            }

            // Removed meanwhile: added again below.
        }

        var inventory = InventoryReader.Read(facts);

        var entry = new NodeEntry(facts, NodeUsage.Create(inventory, placement.TimeSlicingCapacityMilli));
        bool added;
        lock (entry.Gate)
        {
            // Under the new entry's lock, so that no update or removal of it can come between its add and its capacity's.
            added = NodesTable.TryAdd(facts.Name, entry);
            if (added)
            {
                AddCapacity(entry.Capacity);
            }
        }

        if (!added)
        {
            UpsertNode(facts);
            return;
        }

        Interlocked.Increment(ref _nodeSetVersion);
        Interlocked.Increment(ref _version);

        // Pods seen before their node (informer order is not guaranteed) take their devices now.
        foreach (var pod in _pods.Values.Where(p => p.BoundNode == facts.Name))
        {
            lock (pod.Gate)
            {
                if (pod.Hold is { } hold && pod.BoundNode == facts.Name)
                {
                    lock (entry.Gate)
                    {
                        entry.Usage = entry.Usage.With(hold);
                    }
                }
            }
        }
    }

    public void RemoveNode(string name)
    {
        if (!NodesTable.TryRemove(name, out var entry))
        {
            return;
        }

        Interlocked.Increment(ref _nodeSetVersion);

        lock (entry.Gate)
        {
            entry.Removed = true;
            AddCapacity(ResourceVector.Zero - entry.Capacity);
        }

        Interlocked.Increment(ref _version);
        foreach (var reservation in _reservations.Values)
        {
            if (reservation.Node == name)
            {
                ReleaseReservation(reservation.PodUid);
            }
        }
    }

    /// <summary>
    /// A known node's new facts, under its lock. Most node events are heartbeats (a new resourceVersion, status,
    /// conditions): when nothing read of the node changed, nothing is replaced and no version moves.
    /// </summary>
    private void UpdateNode(NodeEntry existing, NodeFacts facts)
    {
        var current = existing.Current;
        var sameInventory = SameInventoryInputs(current.Facts, facts);
        if (sameInventory && SameUtilization(current.Facts, facts))
        {
            return;
        }

        var before = existing.Capacity;
        existing.Replace(facts, sameInventory ? current.Usage : current.Usage.WithInventory(InventoryReader.Read(facts)));
        AddCapacity(existing.Capacity - before);
        Interlocked.Increment(ref _version);
    }

    private static bool SameUtilization(NodeFacts a, NodeFacts b) =>
        a.Annotations.GetValueOrDefault(WellKnown.UtilizationAnnotation) == b.Annotations.GetValueOrDefault(WellKnown.UtilizationAnnotation);

    private static bool SameInventoryInputs(NodeFacts a, NodeFacts b) =>
        SameMap(a.Labels, b.Labels)
        && SameMap(a.Allocatable, b.Allocatable)
        && a.Annotations.GetValueOrDefault(WellKnown.TopologyAnnotation) == b.Annotations.GetValueOrDefault(WellKnown.TopologyAnnotation);

    private static bool SameMap(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (key, value) in a)
        {
            if (!b.TryGetValue(key, out var other) || other != value)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Adds or updates a pod from the cluster (file, informer). A bound pod holds the devices of its allocation record;
    /// a bound pod without one that asks for <c>amd.com/gpu</c> (another scheduler's) holds whole GPUs;
    /// terminated pods hold nothing.
    /// </summary>
    /// <returns>A warning when the pod's record could not be read, else null.</returns>
    public string? UpsertPod(PodFacts pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var entry = _pods.GetOrAdd(pod.Uid, static (_, p) => new PodEntry(p), pod);
        lock (entry.Gate)
        {
            // Every path ends in one account refresh (SetHold's or its own), so that the pod moves in its queue's
            // totals once per event, from what it counted to what it counts, with no half-way state in between.
            entry.Pod = pod;
            IndexGang(entry);
            SetRequest(entry, pod);
            if (pod.IsTerminated || pod.IsDeleting || pod.NodeName is not null)
            {
                // A reservation is for a pod still to be placed: one that ended, goes, or is bound (by our bind, which
                // turned it into the pod's hold already, or by anyone else) holds it no longer.
                DropReservation(entry);
            }

            if (pod.IsTerminated)
            {
                entry.AssumedUntil = null;
                SetHold(entry, null, null);
                return null;
            }

            if (pod.NodeName is null)
            {
                // Not bound (yet): a reservation our bind made stays until the watch shows the binding or it expires.
                if (entry.AssumedUntil is null)
                {
                    SetHold(entry, null, null);
                }
                else
                {
                    RefreshAccount(entry);
                }

                return null;
            }

            entry.AssumedUntil = null;
            var record = pod.Annotations.GetValueOrDefault(WellKnown.AllocationAnnotation);
            if (entry.HoldSeen && entry.Hold is not null && entry.BoundNode == pod.NodeName && entry.HoldRecord == record)
            {
                // Most pod events (status, conditions) carry the record (or the lack of one) its hold was read from
                // already: nothing to read or place again. A warning about that record was returned the first time.
                RefreshAccount(entry);
                return null;
            }

            var (hold, warning) = HoldFromRecord(pod);
            if (entry.BoundNode == pod.NodeName && entry.Hold is { } current && hold is not null && current.Allocation.SameAs(hold.Allocation))
            {
                // The same allocation written anew: keep the node snapshot as it is.
                entry.HoldSeen = true;
                entry.HoldRecord = record;
                RefreshAccount(entry);
                return warning;
            }

            SetHold(entry, hold, pod.NodeName);
            entry.HoldSeen = true;
            entry.HoldRecord = record;
            return warning ?? ConflictWarning(pod);
        }
    }

    /// <summary>
    /// Standalone mode has no informer: a pod kube-scheduler shows in filter becomes a pending pod of the cluster, so
    /// that it counts in its queue's demand. It never holds anything for it: whatever <c>spec.nodeName</c> or
    /// allocation record the body claims, the pod is kept unbound. A pod that is bound or reserved is left as it is.
    /// </summary>
    /// <returns>True when the pod is now pending in the state with these facts.</returns>
    public bool RegisterPending(PodFacts pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var unbound = pod with { NodeName = null };
        var entry = _pods.GetOrAdd(pod.Uid, static (_, p) => new PodEntry(p), unbound);
        lock (entry.Gate)
        {
            if (entry.Removed || entry.BoundNode is not null || entry.AssumedUntil is not null || entry.Pod.NodeName is not null)
            {
                return false;
            }

            entry.Pod = unbound;
            IndexGang(entry);
            SetRequest(entry, unbound);
            RefreshAccount(entry);
            return true;
        }
    }

    /// <summary>Forgets a pod <see cref="RegisterPending"/> added, unless it has been bound or reserved since.</summary>
    public void ForgetPending(string uid)
    {
        if (_pods.TryGetValue(uid, out var entry))
        {
            lock (entry.Gate)
            {
                if (entry.BoundNode is not null || entry.AssumedUntil is not null || entry.Pod.NodeName is not null)
                {
                    return;
                }
            }

            RemovePod(uid);
        }
    }

    /// <summary>
    /// A pod as preemption judges it: its queue label, priority and what it holds now (the GPU share of its record,
    /// CPU and memory as counted for its queue), from what the state already keeps.
    /// </summary>
    public bool TryGetVictim(string uid, out VictimCandidate? victim)
    {
        if (_pods.TryGetValue(uid, out var entry))
        {
            lock (entry.Gate)
            {
                victim = new VictimCandidate(
                    uid,
                    entry.Pod.Labels.GetValueOrDefault(WellKnown.QueueLabel),
                    entry.Pod.Priority,
                    entry.Requested with { Gpu = entry.Hold?.Allocation.TotalComputeMilli ?? 0 });
                return true;
            }
        }

        victim = null;
        return false;
    }

    /// <summary>A warning when the pod's record puts a GPU of its node in conflict, so that the log says so once.</summary>
    private string? ConflictWarning(PodFacts pod)
    {
        if (pod.NodeName is null || !NodesTable.TryGetValue(pod.NodeName, out var node))
        {
            return null;
        }

        var conflicts = node.Current.Usage.Conflicts.Where(c => c.Pods.Contains(pod.Key)).ToList();
        return conflicts.Count == 0
            ? null
            : $"pod {pod.Key}: its allocation record does not fit node {pod.NodeName}; the GPU takes no new pods until it does: {string.Join("; ", conflicts)}";
    }

    /// <summary>Forgets a pod and frees its devices at once.</summary>
    public void RemovePod(string uid)
    {
        if (_pods.TryRemove(uid, out var entry))
        {
            lock (entry.Gate)
            {
                entry.Removed = true;
                UnindexGang(entry);
                DropReservation(entry);
                SetHold(entry, null, null);
            }
        }
    }

    /// <summary>Whether the state holds a pod of this uid, removed or not: a look at the table, no pod's lock taken.</summary>
    public bool ContainsPod(string uid) => _pods.ContainsKey(uid);

    public bool TryGetPod(string uid, out PodFacts? pod, out PodAllocation? allocation)
    {
        if (_pods.TryGetValue(uid, out var entry))
        {
            lock (entry.Gate)
            {
                pod = entry.Pod;
                allocation = entry.Hold?.Allocation;
                return true;
            }
        }

        pod = null;
        allocation = null;
        return false;
    }

    /// <summary>The node by a name the caller holds as characters (read from a request body): no string is made.</summary>
    public bool TryGetNode(ReadOnlySpan<char> name, out NodeCandidate? node)
    {
        if (NodesTable.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out var entry))
        {
            node = entry.Current;
            return true;
        }

        node = null;
        return false;
    }

    /// <summary>The node by the ASCII bytes of its name, as a request body holds them: neither a string nor characters are made. Other bytes find nothing.</summary>
    public bool TryGetNode(ReadOnlySpan<byte> asciiName, out NodeCandidate? node)
    {
        if (NameIndex().TryGetValue(asciiName, out var entry))
        {
            node = entry.Current;
            return true;
        }

        node = null;
        return false;
    }

    /// <summary>
    /// The nodes of many names at once, each name a range of the ASCII bytes <paramref name="text"/> holds (a request
    /// body's): <paramref name="nodes"/>[i] is the node of <paramref name="names"/>[i]. False, with
    /// <paramref name="nodes"/> partly written, when a name finds no node. The names are looked up in one pass and
    /// their nodes' snapshots read in another: each loop is short and its reads independent, so the processor has many
    /// of them in flight at once instead of waiting for each node entry in turn (at 5,000 names a call, each one is a
    /// likely cache miss). One set of nodes answers for every name, as by a lookup of each just before or after.
    /// </summary>
    public bool TryGetNodes(ReadOnlySpan<byte> text, ReadOnlySpan<Range> names, Span<NodeCandidate> nodes)
    {
        if (nodes.Length < names.Length)
        {
            throw new ArgumentException("there must be a place for the node of every name", nameof(nodes));
        }

        var index = NameIndex();
        var positions = t_foundPositions is { } buffer && buffer.Length >= names.Length ? buffer : t_foundPositions = new int[Math.Max(names.Length, 64)];
        for (var i = 0; i < names.Length; i++)
        {
            if (!index.TryFind(text[names[i]], out positions[i]))
            {
                return false;
            }
        }

        for (var i = 0; i < names.Length; i++)
        {
            nodes[i] = index.EntryAt(positions[i]).Current;
        }

        return true;
    }

    /// <summary>The calling thread's positions of names found by <see cref="TryGetNodes"/>: made once per thread, not once per call.</summary>
    [ThreadStatic]
    private static int[]? t_foundPositions;

    /// <summary>
    /// The name index of the current set of nodes. The version is read before the table, so an index built while a
    /// node comes or goes is labelled with the older version and replaced on the next lookup; a node added or removed
    /// during a lookup is found or not, as by a lookup just before or after.
    /// </summary>
    private NodeNameIndex<NodeEntry> NameIndex()
    {
        // A volatile read, not Interlocked.Read: that is a locked instruction, a full fence on every lookup.
        var version = Volatile.Read(ref _nodeSetVersion);
        if (Volatile.Read(ref _nameIndex) is { } index && index.Version == version)
        {
            return index;
        }

        lock (_nameIndexBuild)
        {
            // Built by the caller this one waited for, unless the set moved again since.
            version = Volatile.Read(ref _nodeSetVersion);
            if (Volatile.Read(ref _nameIndex) is { } built && built.Version == version)
            {
                return built;
            }

            index = NodeNameIndex<NodeEntry>.Build(NodesTable, NodesTable.Count, version);
            Volatile.Write(ref _nameIndex, index);
            return index;
        }
    }

    public bool TryGetNode(string name, out NodeCandidate? node)
    {
        if (NodesTable.TryGetValue(name, out var entry))
        {
            node = entry.Current;
            return true;
        }

        node = null;
        return false;
    }

    /// <summary>All nodes, sorted by name: a point-in-time copy of each node's snapshot.</summary>
    public IReadOnlyList<NodeCandidate> Nodes() =>
        [.. NodesTable.Values.Select(e => e.Current).OrderBy(n => n.Name, StringComparer.Ordinal)];

    /// <summary>
    /// Binds a pod to a node in memory: under the pod's lock and then the node's, re-fits against the latest snapshot
    /// and, if it fits, records the allocation. Idempotent for the node the pod already holds.
    /// </summary>
    public ReserveResult Reserve(PodFacts pod, string nodeName, Func<NodeCandidate, FitResult> fit, DateTimeOffset? assumedUntil = null)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(fit);
        var entry = _pods.GetOrAdd(pod.Uid, static (_, p) => new PodEntry(p), pod);
        lock (entry.Gate)
        {
            if (entry.BoundNode is { } bound)
            {
                return bound == nodeName
                    ? new ReserveResult(ReserveStatus.AlreadyBoundHere, $"pod {pod.Key} is already bound to {nodeName}", entry.Hold?.Allocation)
                    : new ReserveResult(ReserveStatus.BoundElsewhere, $"pod {pod.Key} is already bound to {bound}, not {nodeName}", null);
            }

            if (!NodesTable.TryGetValue(nodeName, out var node))
            {
                return new ReserveResult(ReserveStatus.UnknownNode, $"node {nodeName} is not known to the extender", null);
            }

            ReserveResult reserved;
            lock (node.Gate)
            {
                // A pod that holds a reservation here is judged with its reserved devices free: they are its own.
                var reservedHere = entry.Reservation is { } own && own.Node == nodeName ? own : null;
                var usage = reservedHere is null ? node.Usage : node.Usage.Without(reservedHere.HoldKey);
                var result = fit(reservedHere is null ? node.Current : node.Current with { Usage = usage });
                if (!result.Fits)
                {
                    return new ReserveResult(ReserveStatus.DoesNotFit, $"pod {pod.Key} no longer fits {nodeName}: {result.Reason}", null);
                }

                entry.Pod = pod;
                IndexGang(entry);
                SetRequest(entry, pod);
                entry.BoundNode = nodeName;
                entry.AssumedUntil = assumedUntil;
                entry.HoldSeen = false;
                if (reservedHere is not null)
                {
                    // The reservation becomes the pod's hold in the same step: no one can take the devices in between.
                    entry.Reservation = null;
                    _reservations.TryRemove(new KeyValuePair<string, Reservation>(pod.Uid, reservedHere));
                }

                if (result.Allocation is { } allocation)
                {
                    var hold = new PodHold(pod.Uid, pod.Key, allocation);
                    entry.Hold = hold;
                    usage = usage.With(hold);
                }

                node.Usage = usage;
                reserved = new ReserveResult(ReserveStatus.Reserved, result.Reason, result.Allocation);
            }

            // Bound elsewhere than its reservation (a starving pod that fit somewhere first): the reservation goes.
            DropReservation(entry);
            RefreshAccount(entry);
            Interlocked.Increment(ref _version);
            return reserved;
        }
    }

    /// <summary>
    /// Holds devices for pods not bound yet, all of <paramref name="slots"/> or none. Each slot's pod must be known
    /// and pending (not bound, assumed, terminated or being deleted), its node known, and its devices free on the
    /// node's current usage (adding them puts no GPU in conflict). A pod that holds a reservation already has it
    /// replaced by its slot here. Holds are made one at a time, so two plans never interleave.
    /// </summary>
    public ReservationOutcome Hold(IReadOnlyList<Reservation> slots)
    {
        ArgumentNullException.ThrowIfNull(slots);
        lock (_reservationGate)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var slot in slots)
            {
                if (!seen.Add(slot.PodUid))
                {
                    return ReservationOutcome.Refused($"pod {slot.PodKey} has two slots; a pod holds one reservation");
                }
            }

            // Applied one slot at a time under its pod's and node's locks; a slot that no longer fits (the state moved
            // since the plan was made) undoes the ones before it.
            var applied = new List<(PodEntry Entry, Reservation? Previous)>(slots.Count);
            foreach (var slot in slots)
            {
                var (refusal, entry, previous) = Apply(slot);
                if (refusal is not null)
                {
                    for (var i = applied.Count - 1; i >= 0; i--)
                    {
                        Restore(applied[i].Entry, applied[i].Previous);
                    }

                    return ReservationOutcome.Refused(refusal);
                }

                applied.Add((entry!, previous));
            }

            return ReservationOutcome.Success;
        }
    }

    /// <summary>
    /// Gives one slot's pod its reservation: no refusal, the pod's entry and the reservation the slot replaced; or why
    /// not, and nothing changed.
    /// </summary>
    private (string? Refusal, PodEntry? Entry, Reservation? Previous) Apply(Reservation slot)
    {
        if (!_pods.TryGetValue(slot.PodUid, out var entry))
        {
            return ($"pod {slot.PodKey} is not known to the extender", null, null);
        }

        lock (entry.Gate)
        {
            var pod = entry.Pod;
            if (entry.Removed || entry.BoundNode is not null || entry.AssumedUntil is not null || pod.NodeName is not null || pod.IsTerminated || pod.IsDeleting)
            {
                return ($"pod {slot.PodKey} is not pending: a reservation is only for a pod still to be placed", null, null);
            }

            if (!NodesTable.TryGetValue(slot.Node, out var node))
            {
                return ($"node {slot.Node} is not known to the extender", null, null);
            }

            var previous = entry.Reservation;
            lock (node.Gate)
            {
                var usage = previous is not null && previous.Node == slot.Node ? node.Usage.Without(previous.HoldKey) : node.Usage;
                if (WithFree(usage, slot.Hold) is not { } after)
                {
                    return ($"the devices of pod {slot.PodKey}'s slot on node {slot.Node} are no longer free", null, null);
                }

                node.Usage = after;
            }

            if (previous is not null && previous.Node != slot.Node && NodesTable.TryGetValue(previous.Node, out var old))
            {
                lock (old.Gate)
                {
                    old.Usage = old.Usage.Without(previous.HoldKey);
                }
            }

            entry.Reservation = slot;
            _reservations[slot.PodUid] = slot;
            Interlocked.Increment(ref _version);
            RefreshAccount(entry);
            return (null, entry, previous);
        }
    }

    /// <summary>Undoes an applied slot: the pod gets back the reservation it had before (if its devices are still free) or none.</summary>
    private void Restore(PodEntry entry, Reservation? previous)
    {
        lock (entry.Gate)
        {
            DropReservation(entry);
            if (previous is null || !NodesTable.TryGetValue(previous.Node, out var node))
            {
                return;
            }

            lock (node.Gate)
            {
                if (WithFree(node.Usage, previous.Hold) is not { } after)
                {
                    return;
                }

                node.Usage = after;
            }

            entry.Reservation = previous;
            _reservations[previous.PodUid] = previous;
            RefreshAccount(entry);
        }
    }

    /// <summary>The usage with the hold added, or null when the hold's devices are not free (a GPU would be in conflict).</summary>
    private static NodeUsage? WithFree(NodeUsage usage, PodHold hold)
    {
        var after = usage.With(hold);
        foreach (var grant in hold.Allocation.Gpus)
        {
            var position = -1;
            for (var i = 0; i < usage.Inventory.Gpus.Count; i++)
            {
                if (usage.Inventory.Gpus[i].Index == grant.Index)
                {
                    position = i;
                    break;
                }
            }

            if (position < 0 || after.IsConflicted(position))
            {
                return null;
            }
        }

        return after;
    }

    /// <summary>The pod's reservation, if it holds one: a dictionary read, for every filter.</summary>
    public bool TryGetReservation(string podUid, out Reservation? reservation) => _reservations.TryGetValue(podUid, out reservation);

    /// <summary>Every reservation, sorted by node and pod key.</summary>
    public IReadOnlyList<Reservation> Reservations() =>
        [.. _reservations.Values.OrderBy(r => r.Node, StringComparer.Ordinal).ThenBy(r => r.PodKey, StringComparer.Ordinal)];

    /// <summary>Releases the pod's reservation; false when it held none.</summary>
    public bool ReleaseReservation(string podUid)
    {
        if (!_pods.TryGetValue(podUid, out var entry))
        {
            return _reservations.TryRemove(podUid, out _);
        }

        lock (entry.Gate)
        {
            return DropReservation(entry);
        }
    }

    /// <summary>Releases every reservation of an owner (a gang's key, or a starving pod's) and returns them.</summary>
    public IReadOnlyList<Reservation> ReleaseReservationsOf(string owner)
    {
        var released = new List<Reservation>();
        foreach (var reservation in _reservations.Values)
        {
            if (reservation.Owner == owner && ReleaseReservation(reservation.PodUid))
            {
                released.Add(reservation);
            }
        }

        return released;
    }

    /// <summary>Releases the reservations whose expiry is at or before <paramref name="now"/> and returns them.</summary>
    public IReadOnlyList<Reservation> ExpireReservations(DateTimeOffset now)
    {
        var expired = new List<Reservation>();
        foreach (var reservation in _reservations.Values)
        {
            if (reservation.Expires <= now && _pods.TryGetValue(reservation.PodUid, out var entry))
            {
                lock (entry.Gate)
                {
                    if (entry.Reservation is { } current && current.Expires <= now && DropReservation(entry))
                    {
                        expired.Add(current);
                    }
                }
            }
        }

        return expired;
    }

    /// <summary>Takes the pod's reservation off its node; under the pod's lock. False when it held none.</summary>
    private bool DropReservation(PodEntry entry)
    {
        if (entry.Reservation is not { } reservation)
        {
            return false;
        }

        entry.Reservation = null;
        _reservations.TryRemove(new KeyValuePair<string, Reservation>(reservation.PodUid, reservation));
        if (NodesTable.TryGetValue(reservation.Node, out var node))
        {
            lock (node.Gate)
            {
                node.Usage = DrainFreed(node.Usage.Without(reservation.HoldKey), reservation.Allocation);
            }
        }

        Interlocked.Increment(ref _version);
        RefreshAccount(entry);
        return true;
    }

    /// <summary>
    /// Releases reservations whose pods were never seen bound before their expiry (the binding was lost or the pod
    /// deleted while we were not watching), and returns their keys.
    /// </summary>
    public IReadOnlyList<string> ExpireAssumed(DateTimeOffset now)
    {
        var expired = new List<string>();
        foreach (var entry in _pods.Values)
        {
            if (entry.AssumedUntil is not { } until || until > now)
            {
                continue;
            }

            lock (entry.Gate)
            {
                if (entry.AssumedUntil is { } again && again <= now)
                {
                    entry.AssumedUntil = null;
                    SetHold(entry, null, null);
                    expired.Add(entry.Pod.Key);
                }
            }
        }

        return expired;
    }

    /// <summary>
    /// The queue totals now, as one consistent copy: per label the usage of pods bound or reserved (GPUs by the share
    /// they hold), the pending requests of <paramref name="schedulerName"/>'s unbound pods, and the cluster's capacity.
    /// Costs as many steps as there are labels: the totals are kept up to date on every pod and node change.
    /// </summary>
    public QueueTotals QueueTotals(string schedulerName)
    {
        lock (_accountsGate)
        {
            return _accounts.Totals(schedulerName);
        }
    }

    /// <summary>
    /// The queues' state now: each leaf's usage and pending requests, the cluster's capacity, and the fair shares that
    /// follow (see <see cref="Queues.QueueSnapshot.FromTotals"/>).
    /// </summary>
    public QueueSnapshot QueueSnapshot(QueueTree tree, string schedulerName)
    {
        ArgumentNullException.ThrowIfNull(tree);
        return Queues.QueueSnapshot.FromTotals(tree, QueueTotals(schedulerName));
    }

    /// <summary>
    /// GPU share held, in thousandths of a GPU, by pods bound to nodes the state does not have, by node name: pods of a
    /// deleted node that are not gone yet (or seen before their node). Reads every pod: for scrapes, not hot paths.
    /// </summary>
    public IReadOnlyDictionary<string, long> HeldOnMissingNodes()
    {
        var held = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var entry in _pods.Values)
        {
            string? node;
            PodHold? hold;
            lock (entry.Gate)
            {
                node = entry.BoundNode;
                hold = entry.Hold;
            }

            if (node is not null && hold is not null && !NodesTable.ContainsKey(node))
            {
                held[node] = held.GetValueOrDefault(node) + hold.Allocation.TotalComputeMilli;
            }
        }

        return held;
    }

    /// <summary>Pods held as assumed: bound by us, not yet seen bound on the API server.</summary>
    public int AssumedCount => _pods.Values.Count(p => p.AssumedUntil is not null);

    /// <summary>The uids of every known pod, for reconciling with a full list.</summary>
    public IReadOnlyCollection<string> PodUids() => [.. _pods.Keys];

    /// <summary>The names of every known node, for reconciling with a full list.</summary>
    public IReadOnlyCollection<string> NodeNames() => [.. NodesTable.Keys];

    /// <summary>
    /// Forgets a pod that a full list no longer has, unless it is an assumed reservation that the list may predate.
    /// </summary>
    public void RemovePodUnlessAssumed(string uid)
    {
        if (_pods.TryGetValue(uid, out var entry))
        {
            lock (entry.Gate)
            {
                if (entry.AssumedUntil is not null)
                {
                    return;
                }
            }

            RemovePod(uid);
        }
    }

    /// <summary>Undoes a reservation that could not be completed (the Binding failed).</summary>
    public void Release(string uid)
    {
        if (_pods.TryGetValue(uid, out var entry))
        {
            lock (entry.Gate)
            {
                entry.AssumedUntil = null;
                SetHold(entry, null, null);
            }
        }
    }

    /// <summary>
    /// The pending pods (not bound, not assumed, not terminated) that ask for at least <paramref name="minimumGpus"/>
    /// whole GPUs with a valid request, sorted by key: read from an index kept on every pod change, not from every pod.
    /// </summary>
    public IReadOnlyList<PendingWholeGpuPod> PendingWholeGpuPods(int minimumGpus)
    {
        var pods = new List<PendingWholeGpuPod>();
        foreach (var entry in _pendingWhole.Values)
        {
            lock (entry.Gate)
            {
                if (IsUnbound(entry) && entry.Request.WholeCount >= minimumGpus)
                {
                    pods.Add(new PendingWholeGpuPod(entry.Pod, entry.OfferedNodes));
                }
            }
        }

        pods.Sort((a, b) => string.CompareOrdinal(a.Pod.Key, b.Pod.Key));
        return pods;
    }

    /// <summary>Known, not bound (nor assumed), not terminated: a pod still to be placed.</summary>
    private static bool IsUnbound(PodEntry entry) =>
        !entry.Removed && !entry.Pod.IsTerminated && entry.BoundNode is null && entry.Pod.NodeName is null;

    /// <summary>The pod's parsed ask and what it asks of its queue, whenever its facts change (under its lock).</summary>
    private void SetRequest(PodEntry entry, PodFacts pod)
    {
        entry.Request = GpuRequestParser.Parse(pod, requests);
        entry.Requested = PodResources.Request(pod, entry.Request);
    }

    /// <summary>
    /// What a pod counts in its queue now; written under the pod's lock whenever the pod, its binding or its hold
    /// change. Moves the totals and both versions only when the account changed.
    /// </summary>
    private void RefreshAccount(PodEntry entry)
    {
        var pod = entry.Pod;
        // A reservation counts as the devices it holds, as a bound pod's hold does: its queue admitted it when it was made.
        var bound = !entry.Removed && !pod.IsTerminated && (entry.BoundNode is not null || pod.NodeName is not null || entry.Reservation is not null);
        var pending = !entry.Removed && !bound && !pod.IsTerminated;
        if (IsUnbound(entry) && entry.Request is { Kind: GpuAskKind.Whole, IsValid: true })
        {
            _pendingWhole[pod.Uid] = entry;
        }
        else
        {
            _pendingWhole.TryRemove(pod.Uid, out _);
        }

        var held = entry.Hold?.Allocation ?? entry.Reservation?.Allocation;
        var account = new PodAccount(
            pod.Labels.GetValueOrDefault(WellKnown.QueueLabel) ?? string.Empty,
            bound,
            pending,
            pod.SchedulerName,
            bound ? entry.Requested with { Gpu = held?.TotalComputeMilli ?? 0 } : entry.Requested);
        var old = entry.Account;
        if (old == account)
        {
            return;
        }

        lock (_accountsGate)
        {
            _accounts.Move(old, account);
            Volatile.Write(ref _queueVersion, _accounts.Version);
        }

        entry.Account = account;
        Interlocked.Increment(ref _version);
    }

    /// <summary>A node's capacity change (new minus old) into the totals; the innermost lock, after the pod's and the node's.</summary>
    private void AddCapacity(ResourceVector delta)
    {
        if (delta.IsZero)
        {
            return;
        }

        lock (_accountsGate)
        {
            _accounts.AddCapacity(delta);
            Volatile.Write(ref _queueVersion, _accounts.Version);
        }
    }

    /// <summary>Gives the pod a hold on a node (or none), moving the node snapshots only when the hold or the node changed.</summary>
    private void SetHold(PodEntry entry, PodHold? hold, string? boundNode)
    {
        entry.HoldSeen = false;
        if (ReferenceEquals(entry.Hold, hold) && entry.BoundNode == boundNode)
        {
            RefreshAccount(entry);
            return;
        }

        Interlocked.Increment(ref _version);
        if (entry.Hold is { } old && entry.BoundNode is { } oldNode && NodesTable.TryGetValue(oldNode, out var previous))
        {
            lock (previous.Gate)
            {
                previous.Usage = DrainFreed(previous.Usage.Without(old.Uid), old.Allocation);
            }
        }

        entry.Hold = hold;
        entry.BoundNode = boundNode;
        if (hold is not null && boundNode is not null && NodesTable.TryGetValue(boundNode, out var node))
        {
            lock (node.Gate)
            {
                node.Usage = node.Usage.With(hold);
            }
        }

        RefreshAccount(entry);
    }

    private (PodHold? Hold, string? Warning) HoldFromRecord(PodFacts pod)
    {
        if (pod.Annotations.TryGetValue(WellKnown.AllocationAnnotation, out var json))
        {
            if (AllocationRecord.TryRead(json, out var allocation, out var error) && allocation!.Node == pod.NodeName)
            {
                return (new PodHold(pod.Uid, pod.Key, allocation), null);
            }

            var why = error ?? $"it names node {allocation?.Node}, but the pod is bound to {pod.NodeName}";
            var fallback = WholeGpuFallback(pod);
            return (fallback, $"pod {pod.Key}: annotation {WellKnown.AllocationAnnotation} is unusable ({why}); counting it as holding {(fallback is null ? "nothing" : "whole GPUs")}");
        }

        return (WholeGpuFallback(pod), null);
    }

    /// <summary>
    /// A bound pod without a usable record that asks for <c>amd.com/gpu</c> holds that many whole GPUs: we never hand
    /// out more GPUs than exist. Which ones is unknown, so the fullest free ones are assumed.
    /// </summary>
    private PodHold? WholeGpuFallback(PodFacts pod)
    {
        var request = GpuRequestParser.Parse(pod, requests);
        var count = request.Kind switch
        {
            GpuAskKind.Whole => request.WholeCount,
            GpuAskKind.Shared => 1,
            _ => 0,
        };
        if (count == 0 || pod.NodeName is null || !NodesTable.TryGetValue(pod.NodeName, out var node))
        {
            return null;
        }

        var usage = node.Usage;
        if (!usage.Inventory.HasGpus)
        {
            return null;
        }

        var fit = GpuPlacer.FitWhole(usage, Math.Min(count, usage.Inventory.LogicalGpuCount), PlacementPreference.Binpack, AllocationKind.Whole, GpuIsolation.TimeSlicing);
        return fit.Allocation is { } allocation ? new PodHold(pod.Uid, pod.Key, allocation) : null;
    }

    private sealed class NodeEntry(NodeFacts facts, NodeUsage usage)
    {
        // Written under Gate, read without it: each value is an immutable snapshot of the node's facts and usage.
        private volatile NodeCandidate _current = new(facts, usage);

        public object Gate { get; } = new();

        /// <summary>Taken out of the state by <see cref="RemoveNode"/> (under Gate): its capacity no longer counts.</summary>
        public bool Removed { get; set; }

        public NodeCandidate Current => _current;

        public NodeUsage Usage
        {
            get => _current.Usage;
            set => _current = _current with { Usage = value };
        }

        /// <summary>What the node adds to the cluster's capacity for queues, computed when its facts change.</summary>
        public ResourceVector Capacity { get; private set; } = CapacityOf(facts, usage);

        public void Replace(NodeFacts facts, NodeUsage usage)
        {
            Capacity = CapacityOf(facts, usage);
            _current = new NodeCandidate(facts, usage);
        }

        /// <summary>A node whose inventory is refused (beyond the limits, unreadable) adds nothing.</summary>
        private static ResourceVector CapacityOf(NodeFacts facts, NodeUsage usage) => usage.Inventory.Error is not null
            ? ResourceVector.Zero
            : new(
                usage.Inventory.Gpus.Count * 1000L,
                Units.ResourceAmounts.TryCpuMilli(facts.Allocatable.GetValueOrDefault("cpu"), out var milli) ? milli : 0,
                Units.ResourceAmounts.TryMemoryMiB(facts.Allocatable.GetValueOrDefault("memory"), out var mib) ? mib : 0);
    }

    private sealed class PodEntry(PodFacts pod)
    {
        public object Gate { get; } = new();

        public PodFacts Pod { get; set; } = pod;

        public string? BoundNode { get; set; }

        public PodHold? Hold { get; set; }

        /// <summary>
        /// The hold was read by <see cref="UpsertPod"/> from the pod as bound on the API server, from the allocation
        /// annotation <see cref="HoldRecord"/> (null: none): an event with the same one holds the same.
        /// </summary>
        public bool HoldSeen { get; set; }

        public string? HoldRecord { get; set; }

        /// <summary>Forgotten by <see cref="RemovePod"/>: counts in no queue any more.</summary>
        public bool Removed { get; set; }

        /// <summary>The pod's parsed GPU ask, computed when the pod changes.</summary>
        public GpuRequest Request { get; set; } = GpuRequest.NoGpu;

        /// <summary>What the pod asks of its queue (GPU share, CPU, memory), computed when the pod changes.</summary>
        public ResourceVector Requested { get; set; }

        /// <summary>What the pod counts in its queue (see <see cref="RefreshAccount"/>); read without the lock.</summary>
        public PodAccount Account
        {
            get => Volatile.Read(ref _account);
            set => Volatile.Write(ref _account, value);
        }

        private PodAccount _account = PodAccount.None;

        /// <summary>Set while our bind's reservation waits to be seen on the API server.</summary>
        public DateTimeOffset? AssumedUntil { get; set; }

        /// <summary>The gang the pod is indexed under (see <see cref="IndexGang"/>), null when none.</summary>
        public string? GangKey { get; set; }

        /// <summary>Devices held for the pod before it binds (see <see cref="ClusterState.Hold"/>); mirrored in the state's table.</summary>
        public Reservation? Reservation { get; set; }

        /// <summary>
        /// For a gang member or a pending whole-GPU pod: the nodes kube-scheduler offered it in its last filter call
        /// (see <see cref="RecordOfferedNodes"/>).
        /// </summary>
        public IReadOnlySet<string>? OfferedNodes { get; set; }
    }
}

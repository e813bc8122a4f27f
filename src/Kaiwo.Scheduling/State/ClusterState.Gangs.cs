using System.Collections.Frozen;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Gangs;

namespace Kaiwo.Scheduling.State;

/// <summary>
/// The group index: the uids of each gang's members by gang key, kept up to date as pods change, so that reading a
/// gang costs as many steps as it has members and never a scan of every pod.
/// </summary>
public sealed partial class ClusterState
{
    // The innermost lock: taken under a pod's lock, and nothing is locked under it.
    private readonly Lock _gangGate = new();
    private readonly Dictionary<string, HashSet<string>> _gangMembers = new(StringComparer.Ordinal);

    /// <summary>The keys ("namespace/group") of every gang with a known member, sorted.</summary>
    public IReadOnlyList<string> GangKeys()
    {
        lock (_gangGate)
        {
            return [.. _gangMembers.Keys.Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>
    /// The gang's members as the state holds them now, sorted by pod key: every known pod with this gang key that has
    /// not terminated, with its group reading, binding and hold or reservation. Empty when the gang has no member.
    /// </summary>
    public IReadOnlyList<GangMember> GangMembers(string gangKey)
    {
        ArgumentNullException.ThrowIfNull(gangKey);
        string[] uids;
        lock (_gangGate)
        {
            if (!_gangMembers.TryGetValue(gangKey, out var members))
            {
                return [];
            }

            uids = [.. members];
        }

        var result = new List<GangMember>(uids.Length);
        foreach (var uid in uids)
        {
            if (!_pods.TryGetValue(uid, out var entry))
            {
                continue;
            }

            lock (entry.Gate)
            {
                if (entry.Removed || entry.Pod.IsTerminated || entry.GangKey != gangKey)
                {
                    continue;
                }

                var bound = entry.BoundNode ?? entry.Pod.NodeName;
                result.Add(new GangMember(entry.Pod, PodGroup.Read(entry.Pod)!, bound, bound is null ? null : entry.Hold?.Allocation, entry.AssumedUntil is not null, entry.Reservation) { Offered = entry.OfferedNodes });
            }
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Pod.Key, b.Pod.Key));
        return result;
    }

    /// <summary>
    /// Remembers the nodes kube-scheduler offered a gang member, or a pending pod that asks for whole GPUs, in its last
    /// filter call: the nodes that passed the scheduler's own checks (node selectors, affinity, taints, resources),
    /// which the extender does not judge. The gang planner places the member only there, and a starving pod reserves
    /// only there. For a gang member, moves <see cref="Version"/> only when the set changed, so that a member retried
    /// with the same nodes does not make the reservation loop plan again; for another pod never (its reservation, if
    /// it has one, follows at the loop's next sweep), so that the first filter of every whole-GPU pod moves nothing.
    /// </summary>
    public void RecordOfferedNodes(string podUid, IReadOnlyCollection<string> nodeNames)
    {
        ArgumentNullException.ThrowIfNull(nodeNames);
        if (!_pods.TryGetValue(podUid, out var entry))
        {
            return;
        }

        lock (entry.Gate)
        {
            // Gang members' plans and starving pods' reservations keep to these nodes; nobody else reads them.
            if (!KeepsOffered(entry) || SameNodes(entry.OfferedNodes, nodeNames))
            {
                return;
            }

            entry.OfferedNodes = nodeNames.ToFrozenSet(StringComparer.Ordinal);
            if (entry.GangKey is not null)
            {
                Interlocked.Increment(ref _version);
            }
        }
    }

    /// <summary>
    /// Whether <see cref="RecordOfferedNodes"/> keeps the pod's offered nodes (a gang member, or a pending whole-GPU
    /// pod): callers ask first, so that no list of names is made for a pod whose nodes nobody reads.
    /// </summary>
    public bool KeepsOfferedNodes(string podUid) => _pods.TryGetValue(podUid, out var entry) && KeepsOffered(entry);

    private bool KeepsOffered(PodEntry entry) => entry.GangKey is not null || _pendingWhole.ContainsKey(entry.Pod.Uid);

    private static bool SameNodes(IReadOnlySet<string>? known, IReadOnlyCollection<string> names)
    {
        if (known is null || known.Count != names.Count)
        {
            return false;
        }

        foreach (var name in names)
        {
            if (!known.Contains(name))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Under the pod's lock, after its facts changed: moves it to the gang its facts name now.</summary>
    private void IndexGang(PodEntry entry)
    {
        var key = entry.Removed ? null : PodGroup.Read(entry.Pod)?.Key;
        if (key == entry.GangKey)
        {
            return;
        }

        lock (_gangGate)
        {
            RemoveFromGang(entry);
            if (key is not null)
            {
                if (!_gangMembers.TryGetValue(key, out var members))
                {
                    _gangMembers[key] = members = new HashSet<string>(StringComparer.Ordinal);
                }

                members.Add(entry.Pod.Uid);
            }

            entry.GangKey = key;
        }
    }

    /// <summary>Under the pod's lock, when it is forgotten.</summary>
    private void UnindexGang(PodEntry entry)
    {
        if (entry.GangKey is null)
        {
            return;
        }

        lock (_gangGate)
        {
            RemoveFromGang(entry);
            entry.GangKey = null;
        }
    }

    /// <summary>Under <see cref="_gangGate"/>: a gang left with no member is dropped from the index.</summary>
    private void RemoveFromGang(PodEntry entry)
    {
        if (entry.GangKey is { } old && _gangMembers.TryGetValue(old, out var members) && members.Remove(entry.Pod.Uid) && members.Count == 0)
        {
            _gangMembers.Remove(old);
        }
    }
}

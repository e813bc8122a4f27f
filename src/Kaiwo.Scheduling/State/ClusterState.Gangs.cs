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
    /// Remembers the nodes kube-scheduler offered a gang member in its last filter call: the nodes that passed the
    /// scheduler's own checks (node selectors, affinity, taints, resources), which the extender does not judge. The gang
    /// planner places the member only there. Moves <see cref="Version"/> only when the set changed, so that a member
    /// retried with the same nodes does not make the reservation loop plan again.
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
            if (entry.GangKey is null || (entry.OfferedNodes is { } known && known.Count == nodeNames.Count && nodeNames.All(known.Contains)))
            {
                return;
            }

            entry.OfferedNodes = nodeNames.ToFrozenSet(StringComparer.Ordinal);
            Interlocked.Increment(ref _version);
        }
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

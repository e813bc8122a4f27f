using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Gangs;

/// <summary>
/// Preemption respects gangs: a member of a gang that has bound members or holds its plan is never a victim of a pod
/// of lower priority than the gang (its highest member's), and a gang goes whole or not at all: its members are
/// victims on a node only when every bound member of the gang is a victim there; otherwise the node is dropped.
/// </summary>
public static class GangPreemption
{
    /// <summary>
    /// The victims that may go, in the order given, once gang members that may not are taken out; null when the node
    /// must be dropped (a gang would be preempted in part).
    /// </summary>
    public static IReadOnlyList<string>? Allowed(ClusterState state, int preemptorPriority, IReadOnlyList<string> victimUids)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(victimUids);
        var gangs = new Dictionary<string, GangView>(StringComparer.Ordinal);
        var refused = new HashSet<string>(StringComparer.Ordinal);
        var victims = victimUids.ToHashSet(StringComparer.Ordinal);
        foreach (var uid in victimUids)
        {
            if (!state.TryGetPod(uid, out var pod, out _) || PodGroup.Read(pod!) is not { Error: null } group)
            {
                continue;
            }

            if (!gangs.TryGetValue(group.Key, out var gang))
            {
                gangs[group.Key] = gang = GangView.Of(group.Key, state.GangMembers(group.Key));
            }

            if (gang.Placed == 0)
            {
                continue; // a gang that holds nothing yet is no gang to keep whole
            }

            if (preemptorPriority < gang.Priority)
            {
                refused.Add(uid);
                continue;
            }

            if (gang.Members.Any(m => m.IsBound && !victims.Contains(m.Pod.Uid)))
            {
                return null;
            }
        }

        return refused.Count == 0 ? victimUids : [.. victimUids.Where(uid => !refused.Contains(uid))];
    }
}

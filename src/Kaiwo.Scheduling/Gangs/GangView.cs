using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Gangs;

/// <summary>
/// One member of a gang as the cluster state holds it: the pod, its group reading, the node it is bound (or assumed
/// bound) to with the devices it holds there (null while it waits), and the reservation it holds while it waits.
/// </summary>
public sealed record GangMember(PodFacts Pod, PodGroup Group, string? BoundNode, PodAllocation? Allocation, bool Assumed, Reservation? Reservation = null)
{
    /// <summary>Holds a slot of its gang's plan.</summary>
    public bool HoldsSlot => Reservation is { Kind: ReservationKind.Gang };

    /// <summary>Bound by the API server or by our bind: it holds its node.</summary>
    public bool IsBound => BoundNode is not null;

    /// <summary>A member that is not being deleted counts towards the gang's minimum.</summary>
    public bool Counts => !Pod.IsDeleting;

    /// <summary>
    /// The nodes kube-scheduler offered the member in its last filter call (its own checks passed there), or null
    /// before its first one: a plan puts the member only on one of these.
    /// </summary>
    public IReadOnlySet<string>? Offered { get; init; }

    /// <summary>Whether kube-scheduler's own checks let the member go to the node, as far as the extender has seen.</summary>
    public bool MayGoTo(string node) => Offered is null || Offered.Contains(node);
}

/// <summary>
/// A gang as a filter, bind or plan reads it: its members now, whether they agree, and how many are placed. Made
/// from the group index (as many steps as members, each with the reservation it holds); immutable.
/// </summary>
/// <param name="Key">"namespace/group".</param>
/// <param name="MinMembers">The size the members declare (the first member's, when they disagree).</param>
/// <param name="Members">The members, sorted by pod key.</param>
/// <param name="Disagreement">Why the gang cannot be placed as declared (a bad size, members that disagree), else null.</param>
/// <param name="PlanRefusal">The last plan's refusal (full now, or never for a queue limit), when it was planned and did not fit.</param>
public sealed record GangView(
    string Key,
    int MinMembers,
    IReadOnlyList<GangMember> Members,
    string? Disagreement,
    FitResult? PlanRefusal = null)
{
    /// <summary>Members that count towards the minimum (not being deleted).</summary>
    public int Present => Members.Count(m => m.Counts);

    public int Bound => Members.Count(m => m.IsBound && m.Counts);

    /// <summary>Members holding their reserved slot.</summary>
    public int Reserved => Members.Count(m => m.Counts && m.HoldsSlot);

    /// <summary>Bound members and members holding their reserved slot.</summary>
    public int Placed => Members.Count(m => m.Counts && (m.IsBound || m.HoldsSlot));

    /// <summary>Enough members exist to start.</summary>
    public bool Complete => Present >= MinMembers;

    /// <summary>The gang has started: its minimum are bound or hold their slots. A later member is placed alone.</summary>
    public bool Started => Disagreement is null && MinMembers > 0 && Placed >= MinMembers;

    /// <summary>The gang's priority: its highest member's.</summary>
    public int Priority => Members.Count == 0 ? 0 : Members.Max(m => m.Pod.Priority);

    /// <summary>
    /// The gang of these members (all of one gang key). They must agree on the declared size and on
    /// <c>spec.schedulerName</c>, and every size must be readable; otherwise <see cref="Disagreement"/> says which
    /// member differs from which, and the whole gang is refused.
    /// </summary>
    public static GangView Of(string key, IReadOnlyList<GangMember> members, FitResult? planRefusal = null)
    {
        ArgumentNullException.ThrowIfNull(members);
        return new GangView(key, members.Count == 0 ? 0 : members[0].Group.MinMembers, members, DisagreementOf(key, members), planRefusal);
    }

    private static string? DisagreementOf(string key, IReadOnlyList<GangMember> members)
    {
        if (members.FirstOrDefault(m => m.Group.Error is not null) is { } bad)
        {
            return $"gang {key} cannot be placed: pod {bad.Pod.Key}: {bad.Group.Error}";
        }

        if (members.Count == 0)
        {
            return null;
        }

        var first = members[0];
        if (members.FirstOrDefault(m => m.Group.MinMembers != first.Group.MinMembers) is { } size)
        {
            return $"gang {key} cannot be placed: its members disagree on the size: pod {first.Pod.Key} declares {first.Group.MinMembers} ({first.Group.SizeField}), pod {size.Pod.Key} declares {size.Group.MinMembers} ({size.Group.SizeField})";
        }

        var scheduler = SchedulerOf(first.Pod);
        if (members.FirstOrDefault(m => SchedulerOf(m.Pod) != scheduler) is { } other)
        {
            return $"gang {key} cannot be placed: its members disagree on spec.schedulerName: pod {first.Pod.Key} has \"{scheduler}\", pod {other.Pod.Key} has \"{SchedulerOf(other.Pod)}\"";
        }

        return null;
    }

    private static string SchedulerOf(PodFacts pod) => string.IsNullOrEmpty(pod.SchedulerName) ? BindRules.DefaultSchedulerName : pod.SchedulerName;
}

using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Gangs;

/// <summary>
/// All or nothing: a gang member is placed only through its gang's plan. Until the gang's minimum members exist,
/// and while its plan does not fit, every member is full now with the reason; members that disagree (size,
/// scheduler) or declare a size that cannot be read fit nowhere. A member that holds its reserved slot passes (the
/// slot's node is the only one it fits, which the fit judges), so does a member of a gang that has started, and so does
/// a member that asks for no GPU once every member exists.
/// Reads the gang view the caller supplies (<see cref="PodContext.Gang"/>); never looks at other pods itself.
/// </summary>
public sealed class GangCheck : IPodCheck
{
    public string Name => "gang";

    public FitResult? Check(PodContext pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (PodGroup.Read(pod.Pod) is not { } group)
        {
            return null;
        }

        if (group.Error is { } error)
        {
            return GangRefusals.Invalid($"gang {group.Key} cannot be placed: {error}");
        }

        if (pod.Gang is not { } gang)
        {
            // Judged alone (a preemption's re-fit, a plan of the gang): the gang's rules are the caller's.
            return null;
        }

        if (gang.Disagreement is { } disagreement)
        {
            return GangRefusals.Invalid(disagreement);
        }

        if (pod.Reservation is { Kind: ReservationKind.Gang } || gang.Started)
        {
            return null;
        }

        if (!gang.Complete)
        {
            return GangRefusals.Waiting(gang);
        }

        if (!pod.Request.WantsGpu)
        {
            // A member that needs no device (a launcher) holds nothing the others wait for: it goes once all exist.
            return null;
        }

        return gang.PlanRefusal ?? FitResult.Full("gang-unplanned", $"gang {gang.Key} has {gang.Present} of {gang.MinMembers} members and waits for its plan");
    }
}

/// <summary>The gang refusals that more than one place gives, with their reason codes.</summary>
public static class GangRefusals
{
    /// <summary>The code of a member whose gang is still missing members: no eviction can place it.</summary>
    public const string WaitingCode = "gang-waiting";

    public const string InvalidCode = "gang-invalid";

    /// <summary>"waiting for gang G: 3 of 8 members", full now.</summary>
    public static FitResult Waiting(GangView gang)
    {
        ArgumentNullException.ThrowIfNull(gang);
        return FitResult.Full(WaitingCode, $"waiting for gang {gang.Key}: {gang.Present} of {gang.MinMembers} members");
    }

    /// <summary>A gang that cannot be placed as declared: unresolvable, preemption does not help.</summary>
    public static FitResult Invalid(string reason) => FitResult.Never(InvalidCode, reason);
}

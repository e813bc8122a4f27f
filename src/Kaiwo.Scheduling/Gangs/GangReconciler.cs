using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Gangs;

/// <summary>A gang whose plan is held now: its unbound members, waiting in kube-scheduler, are to be tried again at once.</summary>
public sealed record GangPlaced(string Gang, IReadOnlyList<PodFacts> Members);

/// <summary>A gang whose reservations were released whole, and why.</summary>
public sealed record GangReleased(string Gang, string Reason, IReadOnlyList<Reservation> Reservations);

/// <summary>What one reconcile changed.</summary>
public sealed record GangReconcileResult(IReadOnlyList<GangPlaced> Placed, IReadOnlyList<GangReleased> Released, IReadOnlyList<GangStatus> Waiting)
{
    public static GangReconcileResult Nothing { get; } = new([], [], []);

    public bool Changed => Placed.Count > 0 || Released.Count > 0;
}

/// <summary>What the reconciler is configured with.</summary>
/// <param name="ReservationTtl">How long a held plan waits for its members to bind (<c>Scheduling:GangReservationTtl</c>).</param>
/// <param name="SchedulerNames">The schedulers whose gangs are planned; a gang of another scheduler is not ours.</param>
/// <param name="QueueSchedulerName">Whose pending pods make up the queues' demand (<c>Scheduling:SchedulerName</c>).</param>
public sealed record GangOptions(TimeSpan ReservationTtl, IReadOnlyCollection<string> SchedulerNames, string QueueSchedulerName = "kaiwo-scheduler")
{
    public static TimeSpan DefaultReservationTtl { get; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// The gangs' reconcile step, pure (time is passed in): the host calls it after state changes and on a timer.
/// <list type="number">
/// <item>A gang's reservations are released whole when any of them expires before its member bound, when a member
/// with a slot left before binding (deleted, bound elsewhere, its node gone), when the gang fell below its minimum or
/// its members came to disagree. Members that bound stay bound; the gang waits again, and the rest is planned anew
/// from the next reconcile on (the freed capacity goes to the other waiting gangs first).</item>
/// <item>A gang whose minimum members are bound is placed; its remaining slots are its other members' to take, each
/// released alone when it expires.</item>
/// <item>Waiting gangs with all their minimum members are planned in order (highest priority, then the one seen
/// first, then by key), each on the state as the holds before it left it, and held through
/// <see cref="ClusterState.Hold"/>, all slots or none: of two gangs that compete for the same capacity the first holds
/// it whole and the other waits, never both half-held.</item>
/// </list>
/// A gang whose plan did not fit is planned again only when the state or the queues moved since. Calls are
/// serialized; the <see cref="Book"/> it writes is read by filters at any time.
/// </summary>
public sealed class GangReconciler(ClusterState state, SchedulingPipeline pipeline, GangOptions options) : IReservationStep
{
    private readonly Lock _gate = new();

    public string Name => "gangs";

    public GangBook Book { get; } = new();

    public GangOptions Options => options;

    /// <summary>The gang view a member's filter or bind is judged with (null for a pod of no gang).</summary>
    public GangView? ViewFor(PodFacts pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return PodGroup.Read(pod) is { Error: null } group ? GangView.Of(group.Key, state.GangMembers(group.Key), Book.PlanRefusal(group.Key)) : null;
    }

    /// <summary>The host's pass: the gangs' reconcile, and the members of gangs placed now to retry at once.</summary>
    public ReservationReport Reconcile(DateTimeOffset now, QueueSnapshot? queues)
    {
        var result = ReconcileGangs(now, queues);
        return result.Placed.Count == 0 ? ReservationReport.Nothing : new ReservationReport([.. result.Placed.SelectMany(p => p.Members)]);
    }

    /// <summary>
    /// One reconcile against <paramref name="queues"/> (null: no queues), as of <paramref name="now"/>; after each plan
    /// it holds, the queues are read again from the state, so the next gang is admitted with it counted.
    /// </summary>
    public GangReconcileResult ReconcileGangs(DateTimeOffset now, QueueSnapshot? queues)
    {
        lock (_gate)
        {
            var released = ReleaseBroken(now);
            var placed = new List<GangPlaced>();
            var waiting = new List<GangStatus>();
            var toPlan = new List<(GangView View, GangStatus Status)>();
            var keys = state.GangKeys();
            foreach (var key in keys)
            {
                var view = GangView.Of(key, state.GangMembers(key));
                if (view.Members.Count == 0 || !IsOurs(view))
                {
                    Book.Remove(key);
                    continue;
                }

                var status = Next(view, now);
                if (released.Any(r => r.Gang == key))
                {
                    // Released just now: the capacity goes to the others first; it is planned again next time.
                    waiting.Add(Book.Find(key)!);
                }
                else if (status.Phase == GangPhase.Waiting && view.Complete)
                {
                    toPlan.Add((view, status));
                }
                else
                {
                    Book.Set(status);
                    if (status.Phase is GangPhase.Waiting or GangPhase.Invalid)
                    {
                        waiting.Add(status);
                    }
                }
            }

            foreach (var (view, status) in toPlan.OrderByDescending(p => p.View.Priority).ThenBy(p => p.Status.Since).ThenBy(p => p.View.Key, StringComparer.Ordinal))
            {
                var outcome = PlanAndHold(queues, view, status, now);
                Book.Set(outcome);
                if (outcome.Phase == GangPhase.Reserved)
                {
                    Book.CountPlaced();
                    queues = queues is null ? null : state.QueueSnapshot(queues.Tree, options.QueueSchedulerName);
                    // Every waiting member was refused until now: those with slots, and those that need none.
                    placed.Add(new GangPlaced(view.Key, [.. view.Members.Where(m => m.Counts && !m.IsBound).Select(m => m.Pod)]));
                }
                else
                {
                    waiting.Add(outcome);
                }
            }

            foreach (var stale in Book.Keys.Except(keys, StringComparer.Ordinal))
            {
                Book.Remove(stale);
            }

            return placed.Count == 0 && released.Count == 0 && waiting.Count == 0 ? GangReconcileResult.Nothing : new GangReconcileResult(placed, released, waiting);
        }
    }

    /// <summary>Releases, whole, every gang reservation that cannot complete any more (see the class summary).</summary>
    private List<GangReleased> ReleaseBroken(DateTimeOffset now)
    {
        var released = new List<GangReleased>();
        var reservedGangs = state.Reservations()
            .Where(r => r.Kind == ReservationKind.Gang)
            .GroupBy(r => r.Owner, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var held = Book.Statuses().Where(s => s.Phase == GangPhase.Reserved).Select(s => s.Key);
        foreach (var key in reservedGangs.Keys.Union(held, StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var view = GangView.Of(key, state.GangMembers(key));
            var reservations = reservedGangs.GetValueOrDefault(key) ?? [];
            if (IsStarted(view))
            {
                // Started: a member beyond the minimum that did not bind in time lets its slot go alone.
                foreach (var expired in reservations.Where(r => r.Expires <= now))
                {
                    state.ReleaseReservation(expired.PodUid);
                }

                continue;
            }

            var slots = Book.Find(key)?.Slots ?? new HashSet<string>();
            var reason = BrokenBecause(view, reservations, slots, now);
            if (reason is null)
            {
                continue;
            }

            var freed = state.ReleaseReservationsOf(key);
            Book.CountReleased();
            var waiting = Next(view with { Members = [.. view.Members.Select(m => m with { Reservation = null })] }, now);
            Book.Set(waiting with { Phase = waiting.Phase == GangPhase.Reserved ? GangPhase.Waiting : waiting.Phase, Reason = reason, Refusal = FitResult.Full("gang-released", reason), Slots = new HashSet<string>() });
            released.Add(new GangReleased(key, reason, freed));
        }

        return released;
    }

    /// <summary>Its minimum members are bound: what is left of its plan is for the members beyond it.</summary>
    private static bool IsStarted(GangView view) => view.Bound >= view.MinMembers && view.Disagreement is null && view.MinMembers > 0;

    private static string? BrokenBecause(GangView view, IReadOnlyList<Reservation> reservations, IReadOnlySet<string> slots, DateTimeOffset now)
    {
        if (reservations.FirstOrDefault(r => r.Expires <= now) is { } expired)
        {
            return $"the reservation of gang {view.Key} expired at {expired.Expires:O} with {view.Bound} of {view.MinMembers} members bound; the gang waits again";
        }

        if (view.Disagreement is { } disagreement)
        {
            return disagreement;
        }

        if (!view.Complete)
        {
            return $"gang {view.Key} fell below its minimum ({view.Present} of {view.MinMembers} members) before it started; its reservation is released";
        }

        var members = view.Members.ToDictionary(m => m.Pod.Uid, StringComparer.Ordinal);
        foreach (var uid in slots)
        {
            if (!members.TryGetValue(uid, out var member) || !member.Counts)
            {
                return $"a member of gang {view.Key} with a reserved slot is gone before it bound; the gang's reservation is released";
            }

            if (!member.IsBound && !member.HoldsSlot)
            {
                return $"pod {member.Pod.Key} of gang {view.Key} lost its reserved slot before it bound; the gang's reservation is released";
            }

            if (!member.IsBound && member.Reservation is { } slot && !member.MayGoTo(slot.Node))
            {
                return $"kube-scheduler does not offer node {slot.Node} to pod {member.Pod.Key} of gang {view.Key} (its own checks, such as a node selector, refuse it there); the gang's reservation is released and it is planned on the nodes offered";
            }
        }

        return null;
    }

    /// <summary>The gang's status from its members alone (no plan): placed, reserved, invalid or waiting.</summary>
    private GangStatus Next(GangView view, DateTimeOffset now)
    {
        var previous = Book.Find(view.Key);
        var since = previous?.Since ?? now;
        var status = new GangStatus(view.Key, GangPhase.Waiting, view.MinMembers, view.Present, view.Bound, view.Reserved, null, since);
        if (view.Disagreement is { } disagreement)
        {
            return status with { Phase = GangPhase.Invalid, Reason = disagreement };
        }

        if (view.Bound >= view.MinMembers)
        {
            return status with { Phase = GangPhase.Placed };
        }

        if (view.Reserved > 0)
        {
            return status with { Phase = GangPhase.Reserved, Slots = previous?.Slots ?? new HashSet<string>() };
        }

        if (!view.Complete)
        {
            return status with { Reason = GangRefusals.Waiting(view).Reason };
        }

        // Complete and waiting: keeps the last plan's refusal until it is planned again.
        return previous is { Phase: GangPhase.Waiting, Refusal: not null }
            ? status with { Reason = previous.Reason, Refusal = previous.Refusal, PlannedOn = previous.PlannedOn }
            : status;
    }

    private GangStatus PlanAndHold(QueueSnapshot? queues, GangView view, GangStatus status, DateTimeOffset now)
    {
        var on = (state.Version, (object?)queues);
        if (status.PlannedOn == on && status.Refusal is not null)
        {
            return status; // nothing moved since the plan that did not fit
        }

        var plan = GangPlanner.Plan(view, state.Nodes(), pipeline, queues, now);
        if (plan.Refusal is { } refusal)
        {
            return status with { Reason = refusal.Reason, Refusal = refusal, PlannedOn = (state.Version, queues) };
        }

        var expires = now + options.ReservationTtl;
        var slots = plan.Slots.Select(s => new Reservation(s.Pod.Uid, s.Pod.Key, s.Node, s.Allocation, ReservationKind.Gang, view.Key, expires)).ToList();
        if (slots.Count == 0)
        {
            // No member needs a device: nothing to hold; they go once all exist.
            return status with { Phase = GangPhase.Placed };
        }

        var held = state.Hold(slots);
        if (!held.Held)
        {
            // The state moved between the plan and the hold: planned again on the next reconcile.
            var reason = $"gang {view.Key}'s plan could not be held: {held.Refusal}";
            return status with { Reason = reason, Refusal = FitResult.Full("gang-no-room", reason) };
        }

        return status with { Phase = GangPhase.Reserved, Reserved = slots.Count, Reason = null, Refusal = null, Slots = slots.Select(s => s.PodUid).ToHashSet(StringComparer.Ordinal) };
    }

    private bool IsOurs(GangView view)
    {
        var scheduler = view.Members[0].Pod.SchedulerName;
        return options.SchedulerNames.Contains(string.IsNullOrEmpty(scheduler) ? BindRules.DefaultSchedulerName : scheduler);
    }
}

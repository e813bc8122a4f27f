using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Reservations;

/// <summary>What one starvation step changed in the state.</summary>
/// <param name="Reserved">New reservations held.</param>
/// <param name="Grown">Reservations that took more of their node's freed GPUs.</param>
/// <param name="Complete">
/// Reservations that hold their pod's whole ask since this step (new or grown): the pod fits on its node now, and
/// kube-scheduler is to be nudged to try it again.
/// </param>
/// <param name="Released">Reservations released: run out, or their pod no longer starves.</param>
/// <param name="Refused">Holds the state refused (it moved since the plan), with why: tried again next step.</param>
public sealed record StarvationStep(
    IReadOnlyList<Reservation> Reserved,
    IReadOnlyList<Reservation> Grown,
    IReadOnlyList<Reservation> Complete,
    IReadOnlyList<Reservation> Released,
    IReadOnlyList<string> Refused)
{
    public static StarvationStep Nothing { get; } = new([], [], [], [], []);

    public bool Changed => Reserved.Count + Grown.Count + Released.Count > 0;
}

/// <summary>
/// The starvation step of the reservation loop: finds the pending pods that ask for at least
/// <see cref="StarvationOptions.MinimumGpus"/> whole GPUs and have waited longer than
/// <see cref="StarvationOptions.After"/>, lets their queue decide whether they may reserve, and holds, grows and
/// releases their reservations as <see cref="StarvationPlanner"/> plans. Pure: time is passed in; it keeps only what
/// one run of the service must remember between steps (when a pod without a creation time was first seen pending,
/// and the nodes closed to a pod whose reservation there ran out). Steps are serialized.
/// </summary>
/// <remarks>
/// The share a fraction leaves on a GPU being drained goes to the reservation at once, inside the state (see
/// <c>ClusterState.DrainFreed</c>); a partition freed on a partitioned node goes to it at the next step, so the caller
/// runs a step right after every pod deletion or end (as well as on a timer): until then a bind could take it.
/// </remarks>
public sealed class StarvationReconciler(StarvationOptions options)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, DateTimeOffset> _firstSeen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Reservation> _made = new(StringComparer.Ordinal);
    private readonly List<ClosedNode> _closed = [];

    public StarvationOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>The nodes closed to a pod now, for /inspect.</summary>
    public IReadOnlyList<ClosedNode> ClosedNodes(DateTimeOffset now)
    {
        lock (_gate)
        {
            return [.. _closed.Where(c => c.Until > now)];
        }
    }

    /// <summary>
    /// One step on the state as it is now. <paramref name="queues"/> gives the queues' state as it is at each call (null
    /// when the cluster has no queues): every hold is admitted on the queues as the holds before it left them.
    /// </summary>
    public StarvationStep Reconcile(ClusterState state, SchedulingPipeline pipeline, Func<QueueSnapshot?> queues, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(queues);
        if (!Options.Enabled)
        {
            return StarvationStep.Nothing;
        }

        lock (_gate)
        {
            Forget(state, now);
            var pods = Starving(state, pipeline, queues(), now);
            var reservations = state.Reservations();
            if (pods.Count == 0 && !reservations.Any(r => r.Kind == ReservationKind.Starving))
            {
                // The usual pass: nobody starves. The nodes are not even copied.
                return StarvationStep.Nothing;
            }

            var plan = StarvationPlanner.Plan(pods, state.Nodes(), reservations, _closed, Options, now);

            var released = new List<Reservation>();
            foreach (var reservation in plan.Expired.Concat(plan.Dropped))
            {
                if (state.ReleaseReservation(reservation.PodUid))
                {
                    released.Add(reservation);
                }

                if (reservation.Expires <= now)
                {
                    Close(reservation, now);
                }

                _made.Remove(reservation.PodUid);
            }

            var byUid = pods.ToDictionary(p => p.Pod.Uid, StringComparer.Ordinal);

            // Grown: a hold that replaces a reservation the step kept; new otherwise (also after one that ran out).
            var kept = reservations.Where(r => r.Kind == ReservationKind.Starving).Except(plan.Expired).Except(plan.Dropped).ToDictionary(r => r.PodUid, StringComparer.Ordinal);
            var reserved = new List<Reservation>();
            var grown = new List<Reservation>();
            var complete = new List<Reservation>();
            var refused = new List<string>();
            foreach (var (slot, isComplete) in plan.Holds)
            {
                var pod = byUid[slot.PodUid];
                if (Refusal(pipeline, queues(), pod, kept.GetValueOrDefault(slot.PodUid), slot, now) is not null)
                {
                    continue; // the holds before this one left its queue no room: it waits for a later step
                }

                var outcome = state.Hold([slot]);
                if (!outcome.Held)
                {
                    refused.Add(outcome.Refusal ?? $"pod {slot.PodKey}: not held");
                    continue;
                }

                _made[slot.PodUid] = slot;
                (kept.ContainsKey(slot.PodUid) ? grown : reserved).Add(slot);
                if (isComplete)
                {
                    complete.Add(slot);
                }
            }

            return new StarvationStep(reserved, grown, complete, released, refused);
        }
    }

    /// <summary>
    /// Why the queue refuses a hold now, or null: a new reservation must be admitted for the pod's whole ask; a grown
    /// one for the GPUs it adds (what it holds already counts in the queue's usage, and a queue's limit must hold when
    /// the pod binds: its bind is not judged by the queue again).
    /// </summary>
    private static Fits.FitResult? Refusal(SchedulingPipeline pipeline, QueueSnapshot? queues, StarvingPod pod, Reservation? previous, Reservation slot, DateTimeOffset now)
    {
        if (queues is null)
        {
            return null;
        }

        if (previous is null)
        {
            return pipeline.EvaluatePod(pod.Pod, now, queues).Refusal;
        }

        var (leaf, invalid) = queues.Tree.LeafFor(pod.Pod.Labels.GetValueOrDefault(WellKnown.QueueLabel));
        var added = slot.Allocation.TotalComputeMilli - previous.Allocation.TotalComputeMilli;
        return invalid is not null ? Fits.FitResult.Never("queue-invalid", invalid) : QueueAdmission.Check(queues, leaf!, new ResourceVector(added, 0, 0));
    }

    /// <summary>
    /// Forgets what no longer matters: first sightings of pods no longer pending, nodes closed long enough, and the
    /// reservations made here that the state released meanwhile (a bind, a deletion, an expiry another step saw first;
    /// one that ran out closes its node to the pod as the step's own expiry does).
    /// </summary>
    private void Forget(ClusterState state, DateTimeOffset now)
    {
        _closed.RemoveAll(c => c.Until <= now);
        foreach (var (uid, made) in _made.ToList())
        {
            if (state.TryGetReservation(uid, out var current) && current!.Kind == ReservationKind.Starving)
            {
                continue;
            }

            _made.Remove(uid);
            if (made.Expires <= now && state.TryGetPod(uid, out var pod, out _) && pod!.NodeName is null)
            {
                Close(made, now);
            }
        }
    }

    private void Close(Reservation reservation, DateTimeOffset now)
    {
        _closed.RemoveAll(c => c.PodUid == reservation.PodUid && c.Node == reservation.Node);
        _closed.Add(new ClosedNode(reservation.PodUid, reservation.Node, now + Options.After));
    }

    /// <summary>
    /// The pods that may reserve now: pending, a large enough whole ask of our schedulers outside gangs, waited longer
    /// than <see cref="StarvationOptions.After"/>; one without a reservation only if its queue admits its whole ask.
    /// </summary>
    private List<StarvingPod> Starving(ClusterState state, SchedulingPipeline pipeline, QueueSnapshot? queues, DateTimeOffset now)
    {
        var pods = new List<StarvingPod>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (pod, offered) in state.PendingWholeGpuPods(Options.MinimumGpus))
        {
            seen.Add(pod.Uid);
            if (!_firstSeen.TryGetValue(pod.Uid, out var first))
            {
                first = now;
                _firstSeen[pod.Uid] = now;
            }

            var since = pod.CreatedAt is { } created && created < first ? created : first;
            if (now - since <= Options.After)
            {
                continue;
            }

            var reservation = state.TryGetReservation(pod.Uid, out var held) ? held : null;
            var evaluation = pipeline.EvaluatePod(pod, now, queues, reservation);
            if (!StarvationPlanner.MayReserve(pod, evaluation.Context.Request, Options) || evaluation.Refusal is not null)
            {
                // A queue that refuses the ask (over a limit, above fair share) or a check that refuses it: no reservation.
                continue;
            }

            pods.Add(new StarvingPod(pod, evaluation.Context.Request, since) { OfferedNodes = offered });
        }

        foreach (var uid in _firstSeen.Keys.Where(u => !seen.Contains(u)).ToList())
        {
            _firstSeen.Remove(uid);
        }

        return pods;
    }
}

using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.State;

/// <summary>
/// One maker of reservations (gangs, starving pods): a pass over the state that holds, grows and releases its
/// reservations. The host calls every step, one at a time, after the state moved and on a timer; filter never does.
/// </summary>
public interface IReservationStep
{
    /// <summary>The step's name, for logs and /inspect.</summary>
    string Name { get; }

    /// <summary>
    /// Reconciles the step's reservations with the state at <paramref name="now"/>, judging queue rules against
    /// <paramref name="queues"/> (null when the cluster has no queues). Called under the queues' admission gate, so
    /// that a bind and a reservation never both take the last of a queue's limit.
    /// </summary>
    ReservationReport Reconcile(DateTimeOffset now, QueueSnapshot? queues);
}

/// <summary>What a reservation pass changed that the host must act on.</summary>
/// <param name="Retry">
/// Pods kube-scheduler refused earlier that can be placed now (a gang became placeable): the host makes the scheduler
/// try them again at once instead of after its long back-off.
/// </param>
public sealed record ReservationReport(IReadOnlyList<PodFacts> Retry)
{
    public static ReservationReport Nothing { get; } = new([]);
}

using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Gangs;

/// <summary>One reservation, as /inspect shows it: whose (the gang, or the starving pod), where, which devices, until when.</summary>
public sealed record InspectReservation(string Pod, string Kind, string Owner, string Node, IReadOnlyList<int> Gpus, string Devices, string Compute, DateTimeOffset Expires);

/// <summary>One gang, as /inspect shows it: members present of the minimum, bound, holding slots, and why it waits.</summary>
public sealed record InspectGang(string Gang, string State, int MinMembers, int Present, int Bound, int Reserved, string? Reason, DateTimeOffset Since);

/// <summary>Builds the reservations and gangs of /inspect, sorted, so that the same state gives the same bytes.</summary>
public static class GangInspect
{
    public static IReadOnlyList<InspectReservation> Reservations(IEnumerable<Reservation> reservations) =>
        [.. reservations
            .OrderBy(r => r.Node, StringComparer.Ordinal)
            .ThenBy(r => r.PodKey, StringComparer.Ordinal)
            .Select(r => new InspectReservation(
                r.PodKey,
                r.Kind.ToString().ToLowerInvariant(),
                r.Owner,
                r.Node,
                [.. r.Allocation.Gpus.Select(g => g.Index)],
                r.Allocation.VisibleDevices,
                Share.Format(r.Allocation.TotalComputeMilli),
                r.Expires))];

    public static IReadOnlyList<InspectGang> Gangs(GangBook book)
    {
        ArgumentNullException.ThrowIfNull(book);
        return [.. book.Statuses().Select(s => new InspectGang(s.Key, s.Phase.ToString().ToLowerInvariant(), s.MinMembers, s.Present, s.Bound, s.Reserved, s.Reason, s.Since))];
    }
}

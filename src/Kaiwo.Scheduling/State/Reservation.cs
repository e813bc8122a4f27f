using Kaiwo.Scheduling.Allocation;

namespace Kaiwo.Scheduling.State;

/// <summary>Who a reservation holds devices for.</summary>
public enum ReservationKind
{
    /// <summary>A member's planned slot of a gang: the member may bind only there.</summary>
    Gang,

    /// <summary>Devices gathered for a pod that would otherwise starve: it may still bind wherever it fits first.</summary>
    Starving,
}

/// <summary>
/// Devices held on a node for a pod that is not bound yet. Every other pod sees them taken (they are a
/// <see cref="PodHold"/> keyed <see cref="HoldKey"/> in the node's usage); the pod itself is judged on the node as if
/// they were free, and its bind there turns them into its own hold.
/// </summary>
/// <param name="PodUid">The pod the devices are held for.</param>
/// <param name="PodKey">Its namespace/name.</param>
/// <param name="Node">The node the devices are on.</param>
/// <param name="Allocation">The devices, as the pod would hold them.</param>
/// <param name="Kind">What the reservation is for.</param>
/// <param name="Owner">The gang's key (<c>namespace/group</c>) for <see cref="ReservationKind.Gang"/>; the pod's key for <see cref="ReservationKind.Starving"/>.</param>
/// <param name="Expires">When the reservation is released if the pod has not bound by then.</param>
public sealed record Reservation(
    string PodUid,
    string PodKey,
    string Node,
    PodAllocation Allocation,
    ReservationKind Kind,
    string Owner,
    DateTimeOffset Expires)
{
    /// <summary>The prefix of every reservation's hold key: no pod uid starts with it.</summary>
    public const string HoldKeyPrefix = "reservation:";

    /// <summary>The uid its hold has in <see cref="NodeUsage.Holds"/>: never a pod's own uid.</summary>
    public string HoldKey => HoldKeyPrefix + PodUid;

    /// <summary>The hold that stands for the reservation in the node's usage.</summary>
    public PodHold Hold => new(HoldKey, $"{PodKey} (reserved for {Owner})", Allocation);
}

/// <summary>The answer of <see cref="ClusterState.Hold"/>: every slot held, or none and why.</summary>
public sealed record ReservationOutcome(bool Held, string? Refusal)
{
    public static ReservationOutcome Success { get; } = new(true, null);

    public static ReservationOutcome Refused(string reason) => new(false, reason);
}

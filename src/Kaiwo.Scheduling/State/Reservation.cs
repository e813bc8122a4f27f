using Kaiwo.Scheduling.Allocation;

namespace Kaiwo.Scheduling.State;

/// <summary>Why devices are held for a pod that is not bound yet.</summary>
public enum ReservationKind
{
    /// <summary>A member's slot in its gang's all-or-nothing plan.</summary>
    Gang,

    /// <summary>Devices held for a large pod that would otherwise starve behind a stream of small ones.</summary>
    Starving,
}

/// <summary>
/// Devices held on a node for a pod that is not bound yet. Owner: the gang's key "namespace/group" for
/// <see cref="ReservationKind.Gang"/>, the pod's key for <see cref="ReservationKind.Starving"/>.
/// </summary>
public sealed record Reservation(string PodUid, string PodKey, string Node, PodAllocation Allocation, ReservationKind Kind, string Owner, DateTimeOffset Expires)
{
    /// <summary>The uid of its <see cref="PodHold"/> in the node's <see cref="NodeUsage.Holds"/>.</summary>
    public string HoldKey => "reservation:" + PodUid;
}

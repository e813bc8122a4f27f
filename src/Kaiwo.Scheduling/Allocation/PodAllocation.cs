using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Allocation;

/// <summary>What a pod holds of one physical GPU.</summary>
/// <param name="Index">The physical GPU's index on the node.</param>
/// <param name="Partitions">The compute partitions held whole; empty on an unpartitioned GPU.</param>
/// <param name="Xcds">The XCDs the pod runs on.</param>
/// <param name="Devices">The device plugin's logical ids, for ROCR_VISIBLE_DEVICES.</param>
/// <param name="ComputeMilli">Compute share held, in thousandths of the physical GPU.</param>
/// <param name="MemoryMiB">Memory held, in MiB.</param>
public sealed record GpuGrant(
    int Index,
    IReadOnlyList<int> Partitions,
    IReadOnlyList<int> Xcds,
    IReadOnlyList<int> Devices,
    int ComputeMilli,
    long MemoryMiB);

/// <summary>The kind of hold a pod has on its GPUs.</summary>
public enum AllocationKind
{
    /// <summary>Whole logical GPUs (<c>amd.com/gpu: N</c>), or a fraction with <c>gpu-sharing: "false"</c>: never shared.</summary>
    Whole,

    /// <summary>A share of a GPU that other shared pods may use too.</summary>
    Shared,
}

/// <summary>
/// The decision recorded on a pod at bind (annotation <c>kaiwo.ai/gpu-allocation</c>): the node and,
/// per physical GPU, what the pod holds. State is rebuilt from these records alone.
/// </summary>
public sealed record PodAllocation(
    string Node,
    AllocationKind Kind,
    GpuIsolation Isolation,
    IReadOnlyList<GpuGrant> Gpus)
{
    /// <summary>The logical device ids, ascending: the value of <c>kaiwo.ai/visible-devices</c>.</summary>
    public string VisibleDevices => string.Join(',', Gpus.SelectMany(g => g.Devices).Order());

    /// <summary>Compute held across all GPUs, in thousandths of a GPU.</summary>
    public int TotalComputeMilli => Gpus.Sum(g => g.ComputeMilli);

    public long TotalMemoryMiB => Gpus.Sum(g => g.MemoryMiB);

    /// <summary>Structural equality, since records compare lists by reference.</summary>
    public bool SameAs(PodAllocation other) =>
        Node == other.Node && Kind == other.Kind && Isolation == other.Isolation && Gpus.Count == other.Gpus.Count
        && Gpus.Zip(other.Gpus).All(p => p.First.Index == p.Second.Index
            && p.First.ComputeMilli == p.Second.ComputeMilli
            && p.First.MemoryMiB == p.Second.MemoryMiB
            && p.First.Partitions.SequenceEqual(p.Second.Partitions)
            && p.First.Xcds.SequenceEqual(p.Second.Xcds)
            && p.First.Devices.SequenceEqual(p.Second.Devices));
}

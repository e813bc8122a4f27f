namespace Kaiwo.Scheduling.Inventory;

/// <summary>Where a node's GPU inventory came from.</summary>
public enum InventorySource
{
    /// <summary>The node advertises no GPUs.</summary>
    None,

    /// <summary>Allocatable <c>amd.com/gpu</c> and the AMD node labeller's labels.</summary>
    Labels,

    /// <summary>The <c>kaiwo.ai/gpu-topology</c> annotation.</summary>
    TopologyAnnotation,
}

/// <summary>
/// The GPUs of one node. Either a usable inventory, or an <see cref="Error"/> that makes the node
/// unresolvable for GPU pods (it still takes pods that ask for no GPU).
/// </summary>
public sealed record NodeInventory
{
    public required string NodeName { get; init; }
    public IReadOnlyList<PhysicalGpu> Gpus { get; init; } = [];
    public InventorySource Source { get; init; }
    public string? Error { get; init; }

    public bool HasGpus => Gpus.Count > 0;

    /// <summary>Logical GPUs (partitions) across the node: what the device plugin calls amd.com/gpu.</summary>
    public int LogicalGpuCount => Gpus.Sum(g => g.Partitions);

    public static NodeInventory Empty(string nodeName) => new() { NodeName = nodeName, Source = InventorySource.None };

    public static NodeInventory Broken(string nodeName, string error) => new() { NodeName = nodeName, Error = error };
}

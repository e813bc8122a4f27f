namespace Kaiwo.Scheduling.Inventory;

/// <summary>
/// One physical GPU of a node, and how it is cut into logical GPUs (compute partitions) and memory quadrants.
/// An unpartitioned (SPX) GPU has one partition: the GPU itself.
/// </summary>
public sealed record PhysicalGpu
{
    public required int Index { get; init; }
    public required GpuModel Model { get; init; }

    /// <summary>Memory of the whole physical GPU, in MiB. 0 when the node does not say.</summary>
    public required long MemoryMiB { get; init; }

    /// <summary>XCDs of the physical GPU (1 for models without XCDs, and for unknown models).</summary>
    public required int XcdCount { get; init; }

    /// <summary>Logical GPUs this GPU is exposed as: 1 (SPX), 2 (DPX), 3 (TPX), 4 (QPX), 6 or 8 (CPX).</summary>
    public required int Partitions { get; init; }

    /// <summary>NPS4 memory quadrants (4), or 1 for NPS1.</summary>
    public required int Quadrants { get; init; }

    public required int NumaNode { get; init; }

    /// <summary>The device plugin's logical id of this GPU's first partition; partition p is <c>FirstDeviceId + p</c>.</summary>
    public required int FirstDeviceId { get; init; }

    public bool IsPartitioned => Partitions > 1;

    public int PartitionsPerQuadrant => Partitions / Quadrants;

    public long PartitionMemoryMiB => MemoryMiB / Partitions;

    /// <summary>Compute share of one partition, in thousandths of the physical GPU.</summary>
    public int PartitionComputeMilli => 1000 / Partitions;

    public int XcdsPerPartition => XcdCount >= Partitions ? XcdCount / Partitions : 1;

    public int QuadrantOf(int partition) => partition / PartitionsPerQuadrant;

    /// <summary>The XCD ids a partition runs on; an SPX GPU's single partition covers them all.</summary>
    public IEnumerable<int> XcdsOf(int partition)
    {
        var per = XcdsPerPartition;
        for (var x = partition * per; x < (partition + 1) * per && x < XcdCount; x++)
        {
            yield return x;
        }
    }

    /// <summary>"SPX", "CPX/NPS4": how operators name the mode.</summary>
    public string ModeName => (Partitions switch
    {
        1 => "SPX",
        2 => "DPX",
        3 => "TPX",
        4 => "QPX",
        _ => "CPX",
    }) + (Quadrants == 4 ? "/NPS4" : "/NPS1");
}

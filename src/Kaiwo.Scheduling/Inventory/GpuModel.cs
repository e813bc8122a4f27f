namespace Kaiwo.Scheduling.Inventory;

/// <summary>What we know of one AMD Instinct model: its XCD count and memory per physical GPU.</summary>
public sealed record GpuModel(
    string Name,
    int XcdCount,
    int CusPerXcd,
    long MemoryMiB,
    IReadOnlyList<string> DeviceIds,
    IReadOnlyList<int> SupportedPartitions,
    bool SupportsNps4)
{
    /// <summary>A model we have no built-in knowledge of: plain GPUs with the labelled memory.</summary>
    public bool IsKnown => XcdCount > 0;

    public static GpuModel Unknown(string name, long memoryMiB) => new(name, 0, 0, memoryMiB, [], [1], false);
}

/// <summary>Built-in knowledge of the AMD Instinct models kaiwo places work on.</summary>
public static class GpuModelCatalog
{
    private const long GiB = 1024;

    // MI300X: 8 XCDs of 38 CUs and 192 GB HBM3. SPX/DPX/QPX/CPX compute partitioning, NPS1/NPS4 memory.
    public static readonly GpuModel Mi300X = new("MI300X", 8, 38, 192 * GiB, ["74a1", "74b5"], [1, 2, 4, 8], true);

    // MI325X: the same die as MI300X with 256 GB HBM3E.
    public static readonly GpuModel Mi325X = new("MI325X", 8, 38, 256 * GiB, ["74a5", "74b9"], [1, 2, 4, 8], true);

    // MI300A: the APU, 6 XCDs of 38 CUs, 128 GB unified HBM3; SPX, TPX (3) and CPX (6).
    public static readonly GpuModel Mi300A = new("MI300A", 6, 38, 128 * GiB, ["74a0", "74bd"], [1, 3, 6], false);

    // MI250X: each OAM is two GCDs that the driver exposes as two GPUs of 110 CUs and 64 GB; no XCD partitioning.
    public static readonly GpuModel Mi250X = new("MI250X", 1, 110, 64 * GiB, ["740c"], [1], false);

    // MI210: one GCD, 104 CUs, 64 GB, PCIe.
    public static readonly GpuModel Mi210 = new("MI210", 1, 104, 64 * GiB, ["740f"], [1], false);

    public static IReadOnlyList<GpuModel> All { get; } = [Mi300X, Mi325X, Mi300A, Mi250X, Mi210];

    /// <summary>Finds a model by product name ("AMD_Instinct_MI300X_OAM", "MI300X") or by PCI device id ("74a1").</summary>
    public static GpuModel? Find(string? productName, string? deviceId)
    {
        if (!string.IsNullOrEmpty(productName))
        {
            var upper = productName.ToUpperInvariant();

            // MI300X before MI300A, and MI250X also covers the "MI250" product name of the same board.
            foreach (var model in All)
            {
                if (upper.Contains(model.Name, StringComparison.Ordinal))
                {
                    return model;
                }
            }

            if (upper.Contains("MI250", StringComparison.Ordinal))
            {
                return Mi250X;
            }
        }

        if (!string.IsNullOrEmpty(deviceId))
        {
            var id = deviceId.ToLowerInvariant();
            if (id.StartsWith("0x", StringComparison.Ordinal))
            {
                id = id[2..];
            }

            foreach (var model in All)
            {
                if (model.DeviceIds.Contains(id))
                {
                    return model;
                }
            }
        }

        return null;
    }
}

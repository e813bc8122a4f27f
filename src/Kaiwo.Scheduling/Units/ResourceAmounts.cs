using System.Numerics;
using Kaiwo.Scheduling.Inventory;

namespace Kaiwo.Scheduling.Units;

/// <summary>
/// CPU and memory quantities as the core counts them: CPU in millicores, memory in MiB, both rounded up, exact (no
/// floating point), non-negative and within <see cref="InventoryLimits"/>. One reading for nodes, pods and queues.
/// </summary>
public static class ResourceAmounts
{
    private const long MiB = 1024 * 1024;

    /// <summary>What a CPU or memory quantity must be, for messages.</summary>
    public const string CpuAccepted = "a non-negative Kubernetes quantity (\"500m\", \"2\") of at most 100000 cores";

    public const string MemoryAccepted = "a non-negative Kubernetes quantity (\"512Mi\", \"8Gi\") of at most 1Pi";

    /// <summary>A CPU quantity in millicores, rounded up; false when it does not parse, is negative or is beyond the bound.</summary>
    public static bool TryCpuMilli(string? text, out long milli) => TryScaled(text, 1000, 1, InventoryLimits.MaxNodeCpuMilli, out milli);

    /// <summary>A memory quantity in MiB, rounded up; false when it does not parse, is negative or is beyond the bound.</summary>
    public static bool TryMemoryMiB(string? text, out long mib) => TryScaled(text, 1, MiB, InventoryLimits.MaxNodeMemoryMiB, out mib);

    /// <summary>Adds without wrapping: sums of bounded amounts stop at <see cref="long.MaxValue"/>.</summary>
    public static long SaturatingAdd(long a, long b)
    {
        var sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? (a < 0 ? long.MinValue : long.MaxValue) : sum;
    }

    private static bool TryScaled(string? text, long multiply, long divide, long max, out long value)
    {
        value = 0;
        if (!Quantity.TryParse(text, out var num, out var den) || num < 0)
        {
            return false;
        }

        var q = BigInteger.DivRem(num * multiply, den * divide, out var rem);
        if (rem > 0)
        {
            q += 1;
        }

        if (q > max)
        {
            return false;
        }

        value = (long)q;
        return true;
    }
}

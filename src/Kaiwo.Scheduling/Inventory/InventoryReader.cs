using System.Globalization;
using System.Text.Json;
using Kaiwo.Scheduling.Units;

namespace Kaiwo.Scheduling.Inventory;

/// <summary>
/// Builds a node's GPU inventory from what the AMD GPU operator publishes (allocatable <c>amd.com/gpu</c> and the
/// node labeller's labels, plain or <c>beta.amd.com/...</c>), or from the <c>kaiwo.ai/gpu-topology</c> annotation,
/// which wins when present.
/// </summary>
public static class InventoryReader
{
    private const long MiB = 1024 * 1024;

    public static NodeInventory Read(NodeFacts node)
    {
        ArgumentNullException.ThrowIfNull(node);

        long allocatable = 0;
        if (node.Allocatable.TryGetValue(WellKnown.GpuResource, out var allocText)
            && (!Quantity.TryParseInteger(allocText, out allocatable) || allocatable < 0))
        {
            return NodeInventory.Broken(node.Name, $"allocatable {WellKnown.GpuResource} is \"{allocText}\"; expected a whole number of GPUs");
        }

        // Nothing is sized from an advertised count before it is checked: a node beyond the limits is refused, not allocated for.
        if (allocatable > InventoryLimits.MaxLogicalGpus)
        {
            return NodeInventory.Broken(node.Name, $"allocatable {WellKnown.GpuResource} is {allocatable}; at most {InventoryLimits.MaxLogicalGpus} logical GPUs per node are accepted");
        }

        if (node.Allocatable.TryGetValue("cpu", out var cpuText) && !ResourceAmounts.TryCpuMilli(cpuText, out _))
        {
            return NodeInventory.Broken(node.Name, $"allocatable cpu is \"{cpuText}\"; expected {ResourceAmounts.CpuAccepted}");
        }

        if (node.Allocatable.TryGetValue("memory", out var memoryText) && !ResourceAmounts.TryMemoryMiB(memoryText, out _))
        {
            return NodeInventory.Broken(node.Name, $"allocatable memory is \"{memoryText}\"; expected {ResourceAmounts.MemoryAccepted}");
        }

        if (node.Annotations.TryGetValue(WellKnown.TopologyAnnotation, out var topology))
        {
            return TopologyAnnotation.Read(node, topology, allocatable);
        }

        if (allocatable == 0)
        {
            return NodeInventory.Empty(node.Name);
        }

        var labels = LabelView.Of(node.Labels);
        var productName = labels.Get("product-name");
        var deviceId = labels.Get("device-id");
        var model = GpuModelCatalog.Find(productName, deviceId);
        var (computeMode, memoryMode) = ParsePartitionLabel(labels.Get("compute-memory-partition"));

        if (model is null)
        {
            // An unknown model is plain GPUs with the labelled memory: one logical GPU, one physical GPU.
            var memory = ParseVram(labels.Get("vram"));
            if (memory > InventoryLimits.MaxGpuMemoryMiB)
            {
                return NodeInventory.Broken(node.Name, $"label {WellKnown.VramLabel} is {memory} MiB; at most {InventoryLimits.MaxGpuMemoryMiB} MiB per GPU is accepted");
            }

            if (allocatable > InventoryLimits.MaxPhysicalGpus)
            {
                return NodeInventory.Broken(node.Name, $"allocatable {WellKnown.GpuResource} is {allocatable} GPUs of an unpartitioned model; at most {InventoryLimits.MaxPhysicalGpus} physical GPUs per node are accepted");
            }

            var unknown = GpuModel.Unknown(productName ?? deviceId ?? "unknown", memory);
            return Build(node.Name, unknown, (int)allocatable, partitions: 1, quadrants: 1, InventorySource.Labels);
        }

        var partitions = (computeMode is null ? null : ComputePartitions(computeMode, model))
            ?? InferPartitionsFromCuCount(model, labels.Get("cu-count"))
            ?? 1;
        if (!model.SupportedPartitions.Contains(partitions))
        {
            return NodeInventory.Broken(node.Name, $"label {WellKnown.PartitionLabel} asks for {partitions} partitions per GPU, which {model.Name} does not support (supported: {string.Join(", ", model.SupportedPartitions)})");
        }

        if (allocatable % partitions != 0)
        {
            return NodeInventory.Broken(node.Name, $"allocatable {WellKnown.GpuResource} is {allocatable}, not a multiple of the {partitions} partitions per {model.Name} GPU that label {WellKnown.PartitionLabel} describes");
        }

        if (allocatable / partitions > InventoryLimits.MaxPhysicalGpus)
        {
            return NodeInventory.Broken(node.Name, $"allocatable {WellKnown.GpuResource} is {allocatable}, {allocatable / partitions} physical {model.Name} GPUs; at most {InventoryLimits.MaxPhysicalGpus} per node are accepted");
        }

        var quadrants = memoryMode == 4 && model.SupportsNps4 && partitions % 4 == 0 ? 4 : 1;
        return Build(node.Name, model, (int)(allocatable / partitions), partitions, quadrants, InventorySource.Labels);
    }

    internal static NodeInventory Build(string nodeName, GpuModel model, int physicalCount, int partitions, int quadrants, InventorySource source)
    {
        var gpus = new PhysicalGpu[physicalCount];
        for (var i = 0; i < physicalCount; i++)
        {
            gpus[i] = new PhysicalGpu
            {
                Index = i,
                Model = model,
                MemoryMiB = model.MemoryMiB,
                XcdCount = Math.Max(1, model.XcdCount),
                Partitions = partitions,
                Quadrants = quadrants,
                NumaNode = DefaultNumaNode(i, physicalCount),
                FirstDeviceId = i * partitions,
            };
        }

        return new NodeInventory { NodeName = nodeName, Gpus = gpus, Source = source };
    }

    /// <summary>By default the first half of a node's GPUs sit on NUMA node 0 and the rest on NUMA node 1.</summary>
    internal static int DefaultNumaNode(int index, int count) => count <= 1 ? 0 : (index < (count + 1) / 2 ? 0 : 1);

    /// <summary>"cpx_nps4" → ("cpx", 4); "spx_nps1" → ("spx", 1). Unknown words give nulls.</summary>
    internal static (string? ComputeMode, int? Nps) ParsePartitionLabel(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return (null, null);
        }

        string? mode = null;
        int? nps = null;
        foreach (var part in value.ToLowerInvariant().Split('_', '-'))
        {
            if (part is "spx" or "dpx" or "tpx" or "qpx" or "cpx")
            {
                mode ??= part;
            }

            if (part.StartsWith("nps", StringComparison.Ordinal) && int.TryParse(part.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                nps = n;
            }
        }

        return (mode, nps);
    }

    /// <summary>Logical GPUs per physical GPU in a compute mode: CPX is one per XCD of the model.</summary>
    internal static int? ComputePartitions(string mode, GpuModel model) => mode.ToLowerInvariant() switch
    {
        "spx" => 1,
        "dpx" => 2,
        "tpx" => 3,
        "qpx" => 4,
        "cpx" => Math.Max(1, model.XcdCount),
        _ => null,
    };

    /// <summary>"192G" → 196608 MiB. The labeller's G means GiB of HBM. 0 when absent or unreadable.</summary>
    internal static long ParseVram(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return 0;
        }

        var text = value.Trim();
        if (text.EndsWith('G') || text.EndsWith('M'))
        {
            // The labeller writes "192G" for 192 GiB and "512M" for MiB; read them as binary units.
            text += "i";
        }

        return Quantity.TryParseCeiling(text, MiB, out var mib) && mib > 0 ? mib : 0;
    }

    /// <summary>In partitioned modes the labeller's cu-count is that of one partition: 38 on an MI300X means CPX.</summary>
    private static int? InferPartitionsFromCuCount(GpuModel model, string? cuCount)
    {
        if (!int.TryParse(cuCount, NumberStyles.None, CultureInfo.InvariantCulture, out var cus) || cus <= 0)
        {
            return null;
        }

        var total = model.XcdCount * model.CusPerXcd;
        if (total % cus != 0)
        {
            return null;
        }

        var p = total / cus;
        return model.SupportedPartitions.Contains(p) ? p : null;
    }

    /// <summary>Reads the node labeller's labels in either form: <c>amd.com/gpu.X=value</c> or <c>beta.amd.com/gpu.X.value=count</c>.</summary>
    private readonly struct LabelView(IReadOnlyDictionary<string, string> labels)
    {
        public static LabelView Of(IReadOnlyDictionary<string, string> labels) => new(labels);

        public string? Get(string kind)
        {
            if (labels.TryGetValue("amd.com/gpu." + kind, out var plain) && plain.Length > 0)
            {
                return plain;
            }

            var prefix = WellKnown.BetaLabelPrefix + kind + ".";
            string? best = null;
            foreach (var (key, _) in labels)
            {
                if (key.StartsWith(prefix, StringComparison.Ordinal) && key.Length > prefix.Length)
                {
                    // Several values (a mixed node) are possible; take the smallest for a deterministic answer.
                    var value = key[prefix.Length..];
                    if (best is null || string.CompareOrdinal(value, best) < 0)
                    {
                        best = value;
                    }
                }
            }

            return best;
        }
    }
}

using System.Globalization;
using System.Text.Json;
using Kaiwo.Scheduling.Units;

namespace Kaiwo.Scheduling.Inventory;

/// <summary>
/// The explicit inventory of <c>kaiwo.ai/gpu-topology</c>, which wins over labels:
/// <code>{"gpus":[{"index":0,"model":"MI300X","memory":"192Gi","xcds":8,"computePartition":"cpx","memoryPartition":"nps4","numaNode":0}]}</code>
/// Every field but <c>index</c> is optional and falls back to the node's labels and the built-in model knowledge.
/// </summary>
public static class TopologyAnnotation
{
    private const long MiB = 1024 * 1024;
    private const int MaxGpus = InventoryLimits.MaxPhysicalGpus;

    internal static NodeInventory Read(NodeFacts node, string json, long allocatable)
    {
        var name = node.Name;
        string Fail(string what) => $"annotation {WellKnown.TopologyAnnotation}: {what}";

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            return NodeInventory.Broken(name, Fail($"is not valid JSON ({ex.Message})"));
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("gpus", out var gpusElement)
                || gpusElement.ValueKind != JsonValueKind.Array)
            {
                return NodeInventory.Broken(name, Fail("expected an object with a \"gpus\" array"));
            }

            if (gpusElement.GetArrayLength() > MaxGpus)
            {
                return NodeInventory.Broken(name, Fail($"lists {gpusElement.GetArrayLength()} GPUs; at most {MaxGpus} are accepted"));
            }

            // Labels fill what the annotation leaves out.
            var labelled = InventoryReader.Read(node with { Annotations = new Dictionary<string, string>() });
            var fallbackModel = labelled.Gpus.Count > 0 ? labelled.Gpus[0].Model : null;

            var specs = new List<(int Index, GpuModel Model, long Memory, int Xcds, int Partitions, int Quadrants, int? Numa)>();
            var seen = new HashSet<int>();
            var position = 0;
            foreach (var g in gpusElement.EnumerateArray())
            {
                var where = $"gpus[{position++}]";
                if (g.ValueKind != JsonValueKind.Object)
                {
                    return NodeInventory.Broken(name, Fail($"{where} is not an object"));
                }

                if (!TryInt(g, "index", out var index) || index is null || index < 0 || index >= MaxGpus)
                {
                    return NodeInventory.Broken(name, Fail($"{where}.index must be a whole number from 0 to {MaxGpus - 1}"));
                }

                if (!seen.Add(index.Value))
                {
                    return NodeInventory.Broken(name, Fail($"{where}.index {index} appears twice"));
                }

                var modelName = TryString(g, "model");
                var model = modelName is null ? fallbackModel : GpuModelCatalog.Find(modelName, null);

                long memory;
                if (g.TryGetProperty("memory", out var memElement))
                {
                    if (!TryMemory(memElement, out memory))
                    {
                        return NodeInventory.Broken(name, Fail($"{where}.memory must be MiB as a number or a quantity such as \"192Gi\""));
                    }
                }
                else
                {
                    memory = model?.MemoryMiB ?? 0;
                }

                if (memory > InventoryLimits.MaxGpuMemoryMiB)
                {
                    return NodeInventory.Broken(name, Fail($"{where}.memory is {memory} MiB; at most {InventoryLimits.MaxGpuMemoryMiB} MiB per GPU is accepted"));
                }

                model ??= GpuModel.Unknown(modelName ?? "unknown", memory);

                if (!TryInt(g, "xcds", out var xcdsValue) || xcdsValue is < 1 or > InventoryLimits.MaxXcdsPerGpu)
                {
                    return NodeInventory.Broken(name, Fail($"{where}.xcds must be a whole number from 1 to {InventoryLimits.MaxXcdsPerGpu}"));
                }

                var xcds = xcdsValue ?? Math.Max(1, model.XcdCount);

                var computeText = TryString(g, "computePartition");
                var partitions = 1;
                if (computeText is not null)
                {
                    var p = InventoryReader.ComputePartitions(computeText, model with { XcdCount = xcds });
                    if (p is null || xcds % p != 0)
                    {
                        return NodeInventory.Broken(name, Fail($"{where}.computePartition \"{computeText}\" is not one of spx, dpx, tpx, qpx, cpx that divides {xcds} XCDs"));
                    }

                    partitions = p.Value;
                }
                else if (labelled.Gpus.Count > 0)
                {
                    partitions = labelled.Gpus[0].Partitions;
                }

                var memoryText = TryString(g, "memoryPartition");
                var quadrants = labelled.Gpus.Count > 0 ? labelled.Gpus[0].Quadrants : 1;
                if (memoryText is not null)
                {
                    quadrants = memoryText.ToLowerInvariant() switch
                    {
                        "nps1" => 1,
                        "nps4" when partitions % 4 == 0 => 4,
                        _ => -1,
                    };
                    if (quadrants < 0)
                    {
                        return NodeInventory.Broken(name, Fail($"{where}.memoryPartition \"{memoryText}\" must be nps1, or nps4 with a partition count divisible by 4"));
                    }
                }

                if (!TryInt(g, "numaNode", out var numa) || numa is < 0 or > 64)
                {
                    return NodeInventory.Broken(name, Fail($"{where}.numaNode must be a whole number from 0 to 64"));
                }

                specs.Add((index.Value, model, memory, xcds, partitions, quadrants, numa));
            }

            specs.Sort((a, b) => a.Index.CompareTo(b.Index));
            var gpus = new PhysicalGpu[specs.Count];
            var nextDevice = 0;
            for (var i = 0; i < specs.Count; i++)
            {
                var s = specs[i];
                gpus[i] = new PhysicalGpu
                {
                    Index = s.Index,
                    Model = s.Model,
                    MemoryMiB = s.Memory,
                    XcdCount = s.Xcds,
                    Partitions = s.Partitions,
                    Quadrants = s.Quadrants,
                    NumaNode = s.Numa ?? InventoryReader.DefaultNumaNode(i, specs.Count),
                    FirstDeviceId = nextDevice,
                };
                nextDevice += s.Partitions;
            }

            if (allocatable > 0 && nextDevice != allocatable)
            {
                return NodeInventory.Broken(name, Fail($"describes {nextDevice} logical GPUs but allocatable {WellKnown.GpuResource} is {allocatable}"));
            }

            return new NodeInventory { NodeName = name, Gpus = gpus, Source = InventorySource.TopologyAnnotation };
        }
    }

    private static string? TryString(JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>False when the property is present but not a whole number; true with null when absent.</summary>
    private static bool TryInt(JsonElement e, string property, out int? value)
    {
        value = null;
        if (!e.TryGetProperty(property, out var v))
        {
            return true;
        }

        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n))
        {
            value = n;
            return true;
        }

        return false;
    }

    private static bool TryMemory(JsonElement e, out long mib)
    {
        mib = 0;
        if (e.ValueKind == JsonValueKind.Number)
        {
            return e.TryGetInt64(out mib) && mib > 0;
        }

        if (e.ValueKind == JsonValueKind.String)
        {
            var text = e.GetString() ?? string.Empty;
            if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out mib))
            {
                return mib > 0;
            }

            return Quantity.TryParseCeiling(text, MiB, out mib) && mib > 0;
        }

        return false;
    }
}

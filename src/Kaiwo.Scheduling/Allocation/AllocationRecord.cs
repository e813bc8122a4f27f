using System.Text;
using System.Text.Json;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Allocation;

/// <summary>
/// Writes and reads the versioned JSON of <c>kaiwo.ai/gpu-allocation</c>:
/// <code>{"version":1,"node":"gpu-node-02","kind":"shared","isolation":"time-slicing","gpus":[{"index":0,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[0],"computeMilli":500,"memoryMiB":98304}]}</code>
/// </summary>
public static class AllocationRecord
{
    public const int CurrentVersion = 1;

    public static string Write(PodAllocation allocation)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("version", CurrentVersion);
            w.WriteString("node", allocation.Node);
            w.WriteString("kind", allocation.Kind == AllocationKind.Whole ? "whole" : "shared");
            w.WriteString("isolation", IsolationName(allocation.Isolation));
            w.WriteStartArray("gpus");
            foreach (var g in allocation.Gpus)
            {
                w.WriteStartObject();
                w.WriteNumber("index", g.Index);
                WriteInts(w, "partitions", g.Partitions);
                WriteInts(w, "xcds", g.Xcds);
                WriteInts(w, "devices", g.Devices);
                w.WriteNumber("computeMilli", g.ComputeMilli);
                w.WriteNumber("memoryMiB", g.MemoryMiB);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Reads a record; on failure <paramref name="error"/> says what is wrong with it.</summary>
    public static bool TryRead(string json, out PodAllocation? allocation, out string? error)
    {
        allocation = null;
        error = null;
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "expected a JSON object";
                return false;
            }

            if (!root.TryGetProperty("version", out var v) || !TryInt(v, out var version) || version != CurrentVersion)
            {
                error = $"\"version\" must be {CurrentVersion}";
                return false;
            }

            var node = root.TryGetProperty("node", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            if (string.IsNullOrEmpty(node))
            {
                error = "\"node\" is missing";
                return false;
            }

            var kindText = root.TryGetProperty("kind", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
            AllocationKind kind;
            switch (kindText)
            {
                case "whole":
                    kind = AllocationKind.Whole;
                    break;
                case "shared":
                    kind = AllocationKind.Shared;
                    break;
                default:
                    error = $"\"kind\" is \"{kindText}\"; expected \"whole\" or \"shared\"";
                    return false;
            }

            var isolationText = root.TryGetProperty("isolation", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString() : "time-slicing";
            if (!TryParseIsolation(isolationText, out var isolation))
            {
                error = $"\"isolation\" is \"{isolationText}\"; expected time-slicing, mps or xcd";
                return false;
            }

            if (!root.TryGetProperty("gpus", out var gpus) || gpus.ValueKind != JsonValueKind.Array || gpus.GetArrayLength() == 0)
            {
                error = "\"gpus\" must be a non-empty array";
                return false;
            }

            var grants = new List<GpuGrant>();
            foreach (var g in gpus.EnumerateArray())
            {
                if (g.ValueKind != JsonValueKind.Object
                    || !g.TryGetProperty("index", out var idx) || !TryInt(idx, out var index) || index < 0
                    || !TryInts(g, "partitions", out var partitions)
                    || !TryInts(g, "xcds", out var xcds)
                    || !TryInts(g, "devices", out var devices)
                    || !g.TryGetProperty("computeMilli", out var c) || !TryInt(c, out var compute) || compute < 0 || compute > 1000
                    || !g.TryGetProperty("memoryMiB", out var m) || m.ValueKind != JsonValueKind.Number || !m.TryGetInt64(out var memory) || memory < 0)
                {
                    error = "each entry of \"gpus\" needs index, partitions, xcds, devices, computeMilli (0..1000) and memoryMiB";
                    return false;
                }

                grants.Add(new GpuGrant(index, partitions, xcds, devices, compute, memory));
            }

            allocation = new PodAllocation(node, kind, isolation, grants);
            return true;
        }
        catch (JsonException ex)
        {
            error = $"not valid JSON ({ex.Message})";
            return false;
        }
    }

    public static string IsolationName(GpuIsolation isolation) => isolation switch
    {
        GpuIsolation.Mps => "mps",
        GpuIsolation.Xcd => "xcd",
        _ => "time-slicing",
    };

    private static bool TryParseIsolation(string? text, out GpuIsolation isolation)
    {
        isolation = text switch
        {
            "mps" => GpuIsolation.Mps,
            "xcd" => GpuIsolation.Xcd,
            _ => GpuIsolation.TimeSlicing,
        };
        return text is "mps" or "xcd" or "time-slicing";
    }

    /// <summary>An integer, and false (not an exception) for any other JSON kind.</summary>
    private static bool TryInt(JsonElement e, out int value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out value);
    }

    private static void WriteInts(Utf8JsonWriter w, string name, IReadOnlyList<int> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            w.WriteNumberValue(v);
        }

        w.WriteEndArray();
    }

    private static bool TryInts(JsonElement e, string property, out IReadOnlyList<int> values)
    {
        values = [];
        if (!e.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array || array.GetArrayLength() > 64)
        {
            return false;
        }

        var list = new List<int>(array.GetArrayLength());
        foreach (var item in array.EnumerateArray())
        {
            if (!TryInt(item, out var n) || n < 0)
            {
                return false;
            }

            list.Add(n);
        }

        values = list;
        return true;
    }
}

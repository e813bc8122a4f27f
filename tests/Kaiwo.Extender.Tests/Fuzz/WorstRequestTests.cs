using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Kaiwo.Extender.Tests.Fuzz;

/// <summary>Runs alone: the memory it measures is the whole process's.</summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;

/// <summary>
/// Bounded cost: the most expensive bodies we could build cost memory in proportion to their size, never to the
/// numbers they carry. Each is posted once to warm up and once measured; the figures are written to the test output.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class WorstRequestTests(ITestOutputHelper output)
{
    /// <summary>Memory a request may allocate: this many times its body, plus a fixed allowance for the host.</summary>
    private const long BytesPerBodyByte = 64;

    private const long FixedAllowance = 16L * 1024 * 1024;

    public static TheoryData<string> Bodies() => ["tiny-huge-counts", "megabyte-name", "nodes-at-the-limits", "many-containers", "many-node-names", "many-labels"];

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task Filter_WorstBodies_AllocateInProportionToTheirSize(string name)
    {
        using var factory = ExtenderFactory.ForMode("names");
        using var client = factory.CreateClient();
        var body = Build(name);
        await Fixtures.PostAsync(client, "/filter", body);

        GC.Collect();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var watch = Stopwatch.StartNew();
        var answer = await Fixtures.PostAsync(client, "/filter", body);
        watch.Stop();
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;

        output.WriteLine($"{name}: body {body.Length:N0} bytes, answer {(int)answer.Status}, {watch.Elapsed.TotalMilliseconds:N0} ms, allocated {allocated:N0} bytes ({(double)allocated / body.Length:N1} per body byte)");
        Assert.True(answer.Status is HttpStatusCode.OK or HttpStatusCode.BadRequest, answer.ToString());
        Assert.True(allocated <= (BytesPerBodyByte * body.Length) + FixedAllowance, $"{name}: {allocated:N0} bytes for a {body.Length:N0} byte body");
    }

    private static byte[] Build(string name)
    {
        var pod = JsonDocument.Parse(File.ReadAllText(Fixtures.PayloadPath("names", "filter-frac-half.json"))).RootElement.GetProperty("Pod").GetRawText();
        const string Names = "\"NodeNames\":[\"gpu-node-01\",\"gpu-node-09\",\"cpu-node-01\"]";
        var json = name switch
        {
            // A few hundred bytes claiming 2^62 GPUs, CPUs and bytes: the class that used to size arrays from the count.
            "tiny-huge-counts" => Args(pod, "\"Nodes\":{\"items\":[{\"metadata\":{\"name\":\"n\",\"labels\":{\"amd.com/gpu.product-name\":\"MI300X\",\"amd.com/gpu.compute-memory-partition\":\"cpx_nps4\"}},\"status\":{\"allocatable\":{\"amd.com/gpu\":\"4611686018427387904\",\"cpu\":\"4E\",\"memory\":\"8Ei\"}}}]}"),
            "megabyte-name" => Args(pod.Replace("\"name\":\"frac-half\"", $"\"name\":\"{new string('x', 1 << 20)}\"", StringComparison.Ordinal), Names),
            // 500 nodes, each 64 GPUs of 16 XCDs in CPX (1,024 logical GPUs, the most accepted), described by topology annotations.
            "nodes-at-the-limits" => Args(pod, "\"Nodes\":{\"items\":[" + string.Join(",", Enumerable.Range(0, 500).Select(LimitNode)) + "]}"),
            "many-containers" => Args(pod.Replace("\"containers\":[", "\"containers\":[" + string.Concat(Enumerable.Repeat("{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"1\",\"memory\":\"1Gi\",\"amd.com/gpu\":\"0\"}}},", 50_000)), StringComparison.Ordinal), Names),
            "many-node-names" => Args(pod, "\"NodeNames\":[" + string.Join(",", Enumerable.Range(0, 200_000).Select(i => $"\"unknown-node-{i}\"")) + "]"),
            "many-labels" => Args(pod, "\"Nodes\":{\"items\":[{\"metadata\":{\"name\":\"n\",\"labels\":{" + string.Join(",", Enumerable.Range(0, 100_000).Select(i => $"\"beta.amd.com/gpu.product-name.x{i}\":\"1\"")) + "}},\"status\":{\"allocatable\":{\"amd.com/gpu\":\"8\"}}}]}"),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        return Encoding.UTF8.GetBytes(json);
    }

    private static string Args(string pod, string rest) => "{\"Pod\":" + pod + "," + rest + "}";

    private static string LimitNode(int i)
    {
        var gpus = string.Join(",", Enumerable.Range(0, 64).Select(g => "{\\\"index\\\":" + g + ",\\\"model\\\":\\\"MI300X\\\",\\\"xcds\\\":16,\\\"computePartition\\\":\\\"cpx\\\",\\\"memoryPartition\\\":\\\"nps4\\\",\\\"numaNode\\\":" + (g / 32) + "}"));
        return "{\"metadata\":{\"name\":\"limit-node-" + i + "\",\"annotations\":{\"kaiwo.ai/gpu-topology\":\"{\\\"gpus\\\":[" + gpus + "]}\"}},\"status\":{\"allocatable\":{\"amd.com/gpu\":\"1024\",\"cpu\":\"192\",\"memory\":\"2Ti\"}}}";
    }
}

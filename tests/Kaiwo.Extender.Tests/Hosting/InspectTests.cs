using System.Net;
using System.Text.Json;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>/inspect, /readyz and /healthz on the example cluster that the service serves with no settings.</summary>
public sealed class InspectTests(ExampleCluster cluster) : IClassFixture<ExampleCluster>
{
    private static readonly string[] ExampleNodes = ["cpu-node-01", "gpu-node-01", "gpu-node-02", "gpu-node-03", "gpu-node-04", "gpu-node-05", "gpu-node-06"];
    private static readonly string[] GpuNode02Pods = ["team-a/notebook-alice", "team-b/infer-small"];
    private static readonly int[] GpuNode05FreePartitions = [2, 3, 4, 5, 6, 7];

    [Fact]
    public async Task Inspect_ExampleCluster_ListsAllSevenNodesSortedByName()
    {
        var answer = await Fixtures.GetAsync(cluster.Client, "/inspect");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("application/json", answer.MediaType);
        var nodes = answer.Json.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("name").GetString()).ToList();
        Assert.Equal(ExampleNodes, nodes);
    }

    [Fact]
    public async Task Inspect_ExampleCluster_GpuNode02Gpu0HoldsBothSharedPods()
    {
        var gpu = Gpu(await NodeAsync("gpu-node-02"), 0);

        var pods = gpu.GetProperty("pods").EnumerateArray().ToList();
        Assert.Equal(GpuNode02Pods, pods.Select(p => p.GetProperty("pod").GetString()));
        Assert.Equal("0.75", gpu.GetProperty("computeUsed").GetString());
        Assert.Equal(147456, gpu.GetProperty("memoryUsedMiB").GetInt64());
        Assert.Equal(["0.5", "0.25"], pods.Select(p => p.GetProperty("compute").GetString()));
        Assert.False(gpu.GetProperty("heldWhole").GetBoolean());
    }

    [Fact]
    public async Task Inspect_ExampleCluster_GpuNode05Gpu0HasPartitionsTwoToSevenFree()
    {
        var gpu = Gpu(await NodeAsync("gpu-node-05"), 0);

        Assert.Equal(GpuNode05FreePartitions, gpu.GetProperty("freePartitions").EnumerateArray().Select(p => p.GetInt32()));
        var pod = Assert.Single(gpu.GetProperty("pods").EnumerateArray());
        Assert.Equal("team-b/xcd-job", pod.GetProperty("pod").GetString());
    }

    [Fact]
    public async Task Inspect_ExampleCluster_GpuNode01HoldsFourWholeGpusOfTrainLlama()
    {
        var node = await NodeAsync("gpu-node-01");

        var held = node.GetProperty("gpus").EnumerateArray().Where(g => g.GetProperty("heldWhole").GetBoolean()).Select(g => g.GetProperty("index").GetInt32());
        Assert.Equal([0, 1, 2, 3], held);
        Assert.Empty(node.GetProperty("conflicts").EnumerateArray());
    }

    [Fact]
    public async Task Inspect_CpxNodesLabelledWithWholeOrPartitionVram_ShowTheSameGpus()
    {
        // gpu-node-05 labels vram 192G (the whole GPU), gpu-node-06 24G (one CPX partition, as AMD's labeller does).
        var whole = (await NodeAsync("gpu-node-05")).GetProperty("gpus").EnumerateArray().ToList();
        var partition = (await NodeAsync("gpu-node-06")).GetProperty("gpus").EnumerateArray().ToList();

        Assert.Equal(8, whole.Count);
        Assert.Equal(8, partition.Count);
        Assert.All(whole.Concat(partition), gpu =>
        {
            Assert.Equal(196608, gpu.GetProperty("memoryMiB").GetInt64());
            Assert.Equal(8, gpu.GetProperty("partitions").GetInt32());
        });
    }

    [Fact]
    public async Task Inspect_TwoGets_AnswerIdenticalBytes()
    {
        var first = await Fixtures.GetAsync(cluster.Client, "/inspect");
        var second = await Fixtures.GetAsync(cluster.Client, "/inspect");

        Assert.Equal(first.Body, second.Body);
    }

    [Fact]
    public async Task InspectNode_KnownNode_AnswersTheSameEntryAsTheTable()
    {
        var table = (await Fixtures.GetAsync(cluster.Client, "/inspect")).Json.GetProperty("nodes").EnumerateArray()
            .Single(n => n.GetProperty("name").GetString() == "gpu-node-02");

        var node = await NodeAsync("gpu-node-02");

        Assert.Equal(JsonSerializer.Serialize(table), JsonSerializer.Serialize(node));
    }

    [Fact]
    public async Task InspectNode_UnknownNode_Returns404WithJsonError()
    {
        var answer = await Fixtures.GetAsync(cluster.Client, "/inspect/nope");

        Assert.Equal(HttpStatusCode.NotFound, answer.Status);
        Assert.Equal("application/json", answer.MediaType);
        var error = Assert.Single(answer.Json.EnumerateObject());
        Assert.Contains("nope", error.Value.GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Readyz_AfterTheClusterFileLoaded_Returns200Ready()
    {
        var answer = await Fixtures.GetAsync(cluster.Client, "/readyz");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("ready", answer.Body);
    }

    [Fact]
    public async Task Healthz_Running_Returns200()
    {
        var answer = await Fixtures.GetAsync(cluster.Client, "/healthz");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("ok", answer.Body);
    }

    private static JsonElement Gpu(JsonElement node, int index) =>
        node.GetProperty("gpus").EnumerateArray().Single(g => g.GetProperty("index").GetInt32() == index);

    private async Task<JsonElement> NodeAsync(string name)
    {
        var answer = await Fixtures.GetAsync(cluster.Client, "/inspect/" + name);
        Assert.True(answer.Status == HttpStatusCode.OK, $"/inspect/{name}: {answer}");
        return answer.Json;
    }
}

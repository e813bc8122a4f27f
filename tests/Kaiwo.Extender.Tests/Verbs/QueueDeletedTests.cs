using System.Text.Json;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>
/// The captured cluster's nodes, two KaiwoQueues (a capped default queue and research-queue), and a pod still running
/// in a queue that was deleted under it ("vanished-queue", in no KaiwoQueue of the file), as one standalone cluster file.
/// </summary>
public sealed class DeletedQueueCluster() : ExtenderFixture(new ExtenderFactory(new Dictionary<string, string?> { ["Extender:ClusterFile"] = WriteFile() }))
{
    private const string Objects = """
        ---
        apiVersion: kaiwo.ai/v1alpha2
        kind: KaiwoQueue
        metadata:
          name: default
        spec:
          resources:
            gpu: {limit: 1}
        ---
        apiVersion: kaiwo.ai/v1alpha2
        kind: KaiwoQueue
        metadata:
          name: research-queue
        spec:
          resources:
            gpu: {quota: 1}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: orphan-training
          namespace: team-a
          uid: 6a0e1c1e-0000-4000-8000-0000000000d1
          labels: {kaiwo.ai/queue: vanished-queue}
          annotations:
            kaiwo.ai/gpu-fraction: "0.75"
            kaiwo.ai/gpu-allocation: '{"version":1,"node":"gpu-node-01","kind":"shared","isolation":"time-slicing","gpus":[{"index":0,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[0],"computeMilli":750,"memoryMiB":147456}]}'
        spec:
          nodeName: gpu-node-01
          schedulerName: kaiwo-scheduler
          containers: [{name: main, image: rocm/pytorch}]
        status: {phase: Running}
        """;

    private static string WriteFile()
    {
        var file = Path.Combine(Path.GetTempPath(), $"kaiwo-deleted-queue-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, File.ReadAllText(Fixtures.ClusterFile("names")) + "\n" + Objects + "\n");
        return file;
    }
}

/// <summary>
/// A queue deleted while its pods run: the running pods count against the default queue (and /inspect says so), and
/// new pods naming the deleted queue are refused everywhere.
/// </summary>
public sealed class QueueDeletedTests(DeletedQueueCluster cluster) : IClassFixture<DeletedQueueCluster>
{
    private const string Orphan = "team-a/orphan-training";

    private readonly HttpClient _client = cluster.Client;

    private static async Task<string> FracHalfInQueueAsync(string queue) =>
        (await File.ReadAllTextAsync(Fixtures.PayloadPath("names", "filter-frac-half.json")))
            .Replace("\"kaiwo.ai/queue\":\"research-queue\"", $"\"kaiwo.ai/queue\":\"{queue}\"", StringComparison.Ordinal);

    [Fact]
    public async Task Inspect_PodOfADeletedQueue_StillHoldsItsGpuAndTheQueueIsNotListed()
    {
        var inspect = (await Fixtures.GetAsync(_client, "/inspect")).Json;

        var queues = inspect.GetProperty("queues");
        Assert.True(queues.GetProperty("available").GetBoolean());
        Assert.Equal(["default", "research-queue"], JsonShape.Strings(queues.GetProperty("names")));
        var gpu0 = inspect.GetProperty("nodes").EnumerateArray()
            .Single(n => n.GetProperty("name").GetString() == "gpu-node-01")
            .GetProperty("gpus")[0];
        Assert.Equal("0.75", gpu0.GetProperty("computeUsed").GetString());
        Assert.Equal([Orphan], gpu0.GetProperty("pods").EnumerateArray().Select(p => p.GetProperty("pod").GetString()));
    }

    [Fact]
    public async Task Inspect_PodOfADeletedQueue_CountsItsUsageUnderTheDefaultQueueAndSaysWhy()
    {
        var queues = (await Fixtures.GetAsync(_client, "/inspect")).Json.GetProperty("queues");

        var tree = queues.GetProperty("tree").EnumerateArray().ToDictionary(q => q.GetProperty("name").GetString()!, StringComparer.Ordinal);
        Assert.Equal(["default", "research-queue"], tree.Keys.Order(StringComparer.Ordinal));
        var defaultQueue = tree["default"];
        Assert.Equal("0.75 GPU", defaultQueue.GetProperty("allocated").GetProperty("gpu").GetString());
        // The fair share follows the demand: the orphan's usage plus whatever default-queue pod another test of this
        // class filtered (pods are counted as last seen), capped by the limit of 1.
        var requested = decimal.Parse(defaultQueue.GetProperty("requested").GetProperty("gpu").GetString()!.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        var fairShare = decimal.Parse(defaultQueue.GetProperty("fairShare").GetProperty("gpu").GetString()!.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(Math.Min(1m, requested), fairShare);
        Assert.True(requested >= 0.75m, $"default requests {requested} GPU");
        var alsoCounts = Assert.Single(defaultQueue.GetProperty("alsoCounts").EnumerateObject());
        Assert.Equal("vanished-queue", alsoCounts.Name);
        Assert.Equal(1, alsoCounts.Value.GetInt32());
        Assert.Equal("0 GPU", tree["research-queue"].GetProperty("allocated").GetProperty("gpu").GetString());
        Assert.Equal(JsonValueKind.Null, tree["research-queue"].GetProperty("alsoCounts").ValueKind);
    }

    [Fact]
    public async Task Filter_PodNamingTheDeletedQueue_IsUnresolvableOnEveryNodeSayingTheQueueDoesNotExist()
    {
        var answer = await Fixtures.PostAsync(_client, "/filter", await FracHalfInQueueAsync("vanished-queue"));

        var unresolvable = JsonShape.StringMap(answer.Json.GetProperty("FailedAndUnresolvableNodes"));
        Assert.Equal(14, unresolvable.Count);
        Assert.All(unresolvable.Values, reason => Assert.Contains("queue \"vanished-queue\" (label kaiwo.ai/queue) does not exist", reason, StringComparison.Ordinal));
        Assert.Empty(answer.Json.GetProperty("NodeNames").EnumerateArray());
    }

    [Fact]
    public async Task Filter_DefaultQueuePodWhileTheDeletedQueuesPodRuns_CountsThatPodAgainstTheDefaultLimit()
    {
        // The orphan's 0.75 GPU counts in "default" (limit 1): 0.5 more would take it to 1.25.
        var answer = await Fixtures.PostAsync(_client, "/filter", await FracHalfInQueueAsync("default"));

        var unresolvable = JsonShape.StringMap(answer.Json.GetProperty("FailedAndUnresolvableNodes"));
        Assert.Equal(14, unresolvable.Count);
        Assert.Contains("queue \"default\" would exceed its gpu limit of 1 GPU: usage 0.75 GPU + request 0.5 GPU", unresolvable["gpu-node-08"], StringComparison.Ordinal);
        Assert.Empty(answer.Json.GetProperty("NodeNames").EnumerateArray());
    }

    [Fact]
    public async Task Filter_PodInAnotherLiveQueue_IsNotChargedForTheDeletedQueuesPod()
    {
        // research-queue holds nothing: the orphan's 0.75 GPU is not its. Only the GPU-less nodes refuse the pod.
        var answer = await Fixtures.PostAsync(_client, "/filter", await FracHalfInQueueAsync("research-queue"));

        var unresolvable = JsonShape.StringMap(answer.Json.GetProperty("FailedAndUnresolvableNodes"));
        Assert.Equal(["cpu-node-01", "cpu-node-02"], unresolvable.Keys.Order(StringComparer.Ordinal));
        Assert.All(unresolvable.Values, reason => Assert.Contains("no AMD GPUs", reason, StringComparison.Ordinal));
        Assert.Contains("gpu-node-01", JsonShape.Strings(answer.Json.GetProperty("NodeNames")));
    }
}

using System.Text.Json;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>The captured cluster's nodes plus three KaiwoQueues and a running pod, as one standalone cluster file.</summary>
public sealed class QueueCluster() : ExtenderFixture(new ExtenderFactory(new Dictionary<string, string?> { ["Extender:ClusterFile"] = WriteFile() }))
{
    private const string Queues = """
        ---
        apiVersion: kaiwo.ai/v1alpha2
        kind: KaiwoQueue
        metadata:
          name: ai-department
        spec:
          resources:
            gpu: {quota: 1, limit: 2}
        ---
        apiVersion: kaiwo.ai/v1alpha2
        kind: KaiwoQueue
        metadata:
          name: research-queue
        spec:
          parentQueue: ai-department
          priority: 100
          resources:
            gpu: {quota: 0.5, overQuotaWeight: 50, limit: 1}
        ---
        apiVersion: kaiwo.ai/v1alpha2
        kind: KaiwoQueue
        metadata:
          name: prod-queue
        spec:
          parentQueue: ai-department
          resources:
            gpu: {quota: 1}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: running-research
          namespace: team-a
          uid: 6a0e1c1e-0000-4000-8000-000000000001
          labels: {kaiwo.ai/queue: research-queue}
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
        var file = Path.Combine(Path.GetTempPath(), $"kaiwo-queues-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, File.ReadAllText(Fixtures.ClusterFile("names")) + "\n" + Queues + "\n");
        return file;
    }
}

/// <summary>Queue admission through /filter, on a standalone cluster file holding KaiwoQueues.</summary>
public sealed class QueueFilterTests(QueueCluster cluster) : IClassFixture<QueueCluster>
{
    private readonly HttpClient _client = cluster.Client;

    private static string WithQueue(string payload, string queue) =>
        payload.Replace("\"kaiwo.ai/queue\":\"research-queue\"", $"\"kaiwo.ai/queue\":\"{queue}\"", StringComparison.Ordinal);

    [Fact]
    public async Task Filter_PodThatWouldTakeItsQueueOverTheLimit_IsUnresolvableEverywhereNamingTheLimit()
    {
        // research-queue holds 0.75 GPU of its limit 1; frac-half asks 0.5 more.
        var answer = await Fixtures.PostPayloadAsync(_client, "names", "filter-frac-half.json");

        using var doc = JsonDocument.Parse(answer.Body);
        var unresolvable = doc.RootElement.GetProperty("FailedAndUnresolvableNodes");
        Assert.Equal(14, unresolvable.EnumerateObject().Count());
        Assert.Contains(
            "queue \"research-queue\" would exceed its gpu limit of 1 GPU: usage 0.75 GPU + request 0.5 GPU",
            unresolvable.GetProperty("gpu-node-08").GetString(),
            StringComparison.Ordinal);
        Assert.Empty(doc.RootElement.GetProperty("NodeNames").EnumerateArray());
    }

    [Fact]
    public async Task Filter_PodInASiblingQueueUnderTheParentLimit_Passes()
    {
        var body = WithQueue(await File.ReadAllTextAsync(Fixtures.PayloadPath("names", "filter-frac-half.json")), "prod-queue");

        var answer = await Fixtures.PostAsync(_client, "/filter", body);

        using var doc = JsonDocument.Parse(answer.Body);
        Assert.Contains("gpu-node-08", doc.RootElement.GetProperty("NodeNames").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Filter_PodNamingAParentQueue_IsRefusedSayingPodsGoToLeaves()
    {
        var body = WithQueue(await File.ReadAllTextAsync(Fixtures.PayloadPath("names", "filter-frac-half.json")), "ai-department");

        var answer = await Fixtures.PostAsync(_client, "/filter", body);

        using var doc = JsonDocument.Parse(answer.Body);
        Assert.Contains("pods go to leaf queues only", doc.RootElement.GetProperty("FailedAndUnresolvableNodes").GetProperty("gpu-node-01").GetString(), StringComparison.Ordinal);
    }
}

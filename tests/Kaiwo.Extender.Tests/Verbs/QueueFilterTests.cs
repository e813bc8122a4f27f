using System.Text.Json;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>
/// The captured cluster's nodes plus three KaiwoQueues, two running research pods and a waiting prod pod.
/// ai-department (quota 1, limit 2) holds research-queue (quota 0.5, limit 1, holding 0.25 + 0.5) and prod-queue
/// (quota 1, priority 200, waiting for 2). Fair share: the department's demand 2.75 is capped at its limit 2; the
/// children get their quotas 0.5 and 1, and the surplus 0.5 goes to the higher tier, prod → research 0.5, prod 1.5.
/// </summary>
public sealed class QueueCluster() : NamesClusterWith(Queues)
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
          resources:
            gpu: {quota: 0.5, overQuotaWeight: 50, limit: 1}
        ---
        apiVersion: kaiwo.ai/v1alpha2
        kind: KaiwoQueue
        metadata:
          name: prod-queue
        spec:
          parentQueue: ai-department
          priority: 200
          resources:
            gpu: {quota: 1}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: research-a
          namespace: team-a
          uid: 6a0e1c1e-0000-4000-8000-000000000001
          labels: {kaiwo.ai/queue: research-queue}
          annotations:
            kaiwo.ai/gpu-fraction: "0.25"
            kaiwo.ai/gpu-allocation: '{"version":1,"node":"gpu-node-01","kind":"shared","isolation":"time-slicing","gpus":[{"index":0,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[0],"computeMilli":250,"memoryMiB":49152}]}'
        spec:
          nodeName: gpu-node-01
          schedulerName: kaiwo-scheduler
          containers: [{name: main, image: rocm/pytorch}]
        status: {phase: Running}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: research-b
          namespace: team-a
          uid: 6a0e1c1e-0000-4000-8000-000000000002
          labels: {kaiwo.ai/queue: research-queue}
          annotations:
            kaiwo.ai/gpu-fraction: "0.5"
            kaiwo.ai/gpu-allocation: '{"version":1,"node":"gpu-node-02","kind":"shared","isolation":"time-slicing","gpus":[{"index":0,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[0],"computeMilli":500,"memoryMiB":98304}]}'
        spec:
          nodeName: gpu-node-02
          schedulerName: kaiwo-scheduler
          containers: [{name: main, image: rocm/pytorch}]
        status: {phase: Running}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: prod-waiting
          namespace: team-b
          uid: 6a0e1c1e-0000-4000-8000-000000000003
          labels: {kaiwo.ai/queue: prod-queue}
        spec:
          schedulerName: kaiwo-scheduler
          containers:
          - name: main
            image: rocm/pytorch
            resources:
              limits: {amd.com/gpu: "2"}
        status: {phase: Pending}
        """;
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
    public async Task Preempt_VictimsInAnotherQueue_OnlyThoseAboveItsShareAndNotBelowItsQuota()
    {
        // The prod preemptor (1 GPU, below prod's share 1.5) may reclaim from research (0.75 held, share 0.5):
        // research-a (0.25) leaves 0.5, its quota: offered. research-b (0.5) would leave 0.25, below quota: never.
        var body = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(Fixtures.PayloadPath("names", "preempt-hp-preemptor.json")))!;
        body["NodeNameToMetaVictims"] = new System.Text.Json.Nodes.JsonObject
        {
            ["gpu-node-01"] = new System.Text.Json.Nodes.JsonObject { ["Pods"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["UID"] = "6a0e1c1e-0000-4000-8000-000000000001" }), ["NumPDBViolations"] = 0 },
            ["gpu-node-02"] = new System.Text.Json.Nodes.JsonObject { ["Pods"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["UID"] = "6a0e1c1e-0000-4000-8000-000000000002" }), ["NumPDBViolations"] = 0 },
        };

        var answer = await Fixtures.PostAsync(_client, "/preempt", body.ToJsonString());

        using var doc = JsonDocument.Parse(answer.Body);
        var victims = doc.RootElement.GetProperty("NodeNameToMetaVictims");
        Assert.Equal(["gpu-node-01"], victims.EnumerateObject().Select(p => p.Name));
        Assert.Equal("6a0e1c1e-0000-4000-8000-000000000001", victims.GetProperty("gpu-node-01").GetProperty("Pods")[0].GetProperty("UID").GetString());
    }

    [Fact]
    public async Task Inspect_QueueTree_ShowsUsageAndFairShare()
    {
        using var doc = JsonDocument.Parse(await _client.GetStringAsync("/inspect"));

        var tree = doc.RootElement.GetProperty("queues").GetProperty("tree").EnumerateArray().ToDictionary(q => q.GetProperty("name").GetString()!);
        Assert.Equal("0.75 GPU", tree["research-queue"].GetProperty("allocated").GetProperty("gpu").GetString());
        Assert.Equal("0.5 GPU", tree["research-queue"].GetProperty("fairShare").GetProperty("gpu").GetString());
        Assert.Equal("1.5 GPU", tree["prod-queue"].GetProperty("fairShare").GetProperty("gpu").GetString());
        Assert.Equal("2 GPU", tree["ai-department"].GetProperty("fairShare").GetProperty("gpu").GetString());
        Assert.True(tree["default"].GetProperty("implicit").GetBoolean());
    }

    [Fact]
    public async Task Filter_PodOfTheDefaultQueueWhileOthersWaitButTheClusterHasRoom_Passes()
    {
        // The default queue has no quota and nothing pending but this pod; prod waits for 2 GPUs of 96 free.
        // The pod is its own queue's demand, so its fair share covers it.
        var body = (await File.ReadAllTextAsync(Fixtures.PayloadPath("names", "filter-frac-half.json")))
            .Replace("\"labels\":{\"kaiwo.ai/queue\":\"research-queue\"},", string.Empty, StringComparison.Ordinal);
        Assert.DoesNotContain("\"labels\":{\"kaiwo.ai/queue\"", body, StringComparison.Ordinal);

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

/// <summary>
/// Metrics whose values are asserted run alone: OpenTelemetry listens to meters by name across the process, so a
/// host of another test class alive at the same time could report into the same series.
/// </summary>
[CollectionDefinition(nameof(MetricValues), DisableParallelization = true)]
public sealed class MetricValues;

/// <summary>The per-queue metrics of the queue cluster.</summary>
[Collection(nameof(MetricValues))]
public sealed class QueueMetricsTests(QueueCluster cluster) : IClassFixture<QueueCluster>
{
    private readonly HttpClient _client = cluster.Client;

    [Fact]
    public async Task Metrics_PerQueueAndResource_ShowAllocatedFairShareAndDemand()
    {
        var text = await _client.GetStringAsync("/metrics");

        Assert.Contains("kaiwo_queue_allocated{otel_scope_name=\"Kaiwo.Extender\",queue=\"research-queue\",resource=\"gpu\"} 0.75", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_queue_fair_share{otel_scope_name=\"Kaiwo.Extender\",queue=\"prod-queue\",resource=\"gpu\"} 1.5", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_queue_demand{otel_scope_name=\"Kaiwo.Extender\",queue=\"prod-queue\",resource=\"gpu\"} 2", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_QueueWithNoRunningPod_HasAnAllocatedSeriesOfZero()
    {
        // prod-queue only waits: without this series "allocated below fair share" could never match it.
        var text = await _client.GetStringAsync("/metrics");

        Assert.Contains("kaiwo_queue_allocated{otel_scope_name=\"Kaiwo.Extender\",queue=\"prod-queue\",resource=\"gpu\"} 0\n", text, StringComparison.Ordinal);
    }
}

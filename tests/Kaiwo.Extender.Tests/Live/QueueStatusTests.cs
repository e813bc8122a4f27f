using System.Text.Json.Nodes;
using k8s.Models;
using Kaiwo.Extender.Tests.FakeApiServer;
using static Kaiwo.Extender.Tests.Live.LiveObjects;

namespace Kaiwo.Extender.Tests.Live;

/// <summary>The queue status writer against the fake API server: what it publishes, and when it writes.</summary>
public sealed class QueueStatusTests : IAsyncLifetime
{
    private static readonly Dictionary<string, string?> FastTicks = new() { ["Kubernetes:QueueStatusInterval"] = "00:00:00.100" };
    private FakeKubeApiServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeKubeApiServer.StartAsync();
        _server.CreateNode(Mi300X("gpu-node-1"));
        _server.CreateNode(Mi300X("gpu-node-2"));
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task StatusWriter_BoundPodInOneOfTwoQueues_PublishesAllocatedRequestedFairShareAndReady()
    {
        _server.CreateQueue(Queue("team-a", gpuQuota: 4));
        _server.CreateQueue(Queue("team-b", gpuQuota: 4));
        _server.CreatePod(Running("train", "team-a", computeMilli: 500, cpu: "1500m", memory: "1000Mi"));

        await using var extender = await LiveExtender.StartAsync(_server, settings: FastTicks);
        await LiveExtender.Eventually(() => Gpu(_server.GetQueue("team-a"), "allocated") == 0.5m, "team-a's allocation published");
        await LiveExtender.Eventually(() => Ready(_server.GetQueue("team-b")) is not null, "team-b's status published");

        var a = _server.GetQueue("team-a")!["status"]!;
        Assert.Equal(1.5m, Number(a["allocated"]!["cpu"]));
        Assert.Equal(0.977m, Number(a["allocated"]!["memory"])); // 1000 MiB in GiB, to 3 decimals
        Assert.Equal(0.5m, Number(a["requested"]!["gpu"]));
        Assert.Equal(0.5m, Number(a["fairShare"]!["gpu"])); // its quota, capped by its demand
        Assert.Equal(("True", "Active"), Ready(_server.GetQueue("team-a")));
        Assert.Equal(0m, Gpu(_server.GetQueue("team-b"), "allocated"));
        Assert.Equal(0m, Gpu(_server.GetQueue("team-b"), "fairShare"));
        Assert.Equal(("True", "Active"), Ready(_server.GetQueue("team-b")));
        Assert.All(StatusWrites(), r => Assert.Equal("application/merge-patch+json", r.ContentType));
        Assert.DoesNotContain(_server.Requests, r => r.Route == FakeRoute.PutQueueStatus);
    }

    [Fact]
    public async Task StatusWriter_QueueUnchangedWhileAnotherChanges_IsNotWrittenAgain()
    {
        _server.CreateQueue(Queue("team-a", gpuQuota: 4));
        _server.CreateQueue(Queue("team-b", gpuQuota: 4));
        _server.CreatePod(Running("steady", "team-a", computeMilli: 1000));
        await using var extender = await LiveExtender.StartAsync(_server, settings: FastTicks);
        await LiveExtender.Eventually(() => Gpu(_server.GetQueue("team-a"), "allocated") == 1m, "team-a's allocation published");
        var writesOfA = StatusWrites("team-a").Count;

        // team-b changes three times, each change published on its own tick (at least an interval apart): several
        // ticks go by, each also re-reading team-a after the watch event its own status write caused.
        for (var i = 1; i <= 3; i++)
        {
            _server.CreatePod(Running($"burst-{i}", "team-b", computeMilli: 250, gpu: i));
            var expected = 0.25m * i;
            await LiveExtender.Eventually(() => Gpu(_server.GetQueue("team-b"), "allocated") == expected, $"team-b's change {i} published");
        }

        Assert.Equal(writesOfA, StatusWrites("team-a").Count);
        Assert.True(StatusWrites("team-b").Count >= 3);
    }

    [Fact]
    public async Task StatusWriter_PodDeleted_WritesOnceMoreWithAllocatedZeroAndTheSameTransitionTime()
    {
        _server.CreateQueue(Queue("team-a", gpuQuota: 4));
        _server.CreatePod(Running("short-lived", "team-a", computeMilli: 500));
        await using var extender = await LiveExtender.StartAsync(_server, settings: FastTicks);
        await LiveExtender.Eventually(() => Gpu(_server.GetQueue("team-a"), "allocated") == 0.5m, "the allocation published");
        var writes = StatusWrites("team-a").Count;
        var since = Condition(_server.GetQueue("team-a"))!["lastTransitionTime"]!.GetValue<string>();

        _server.DeletePod("team-a", "short-lived");
        await LiveExtender.Eventually(() => Gpu(_server.GetQueue("team-a"), "allocated") == 0m, "the release published");

        Assert.Equal(writes + 1, StatusWrites("team-a").Count);
        Assert.Equal(0m, Gpu(_server.GetQueue("team-a"), "requested"));
        Assert.Equal(0m, Gpu(_server.GetQueue("team-a"), "fairShare"));
        Assert.Equal(since, Condition(_server.GetQueue("team-a"))!["lastTransitionTime"]!.GetValue<string>());
    }

    [Fact]
    public async Task StatusWriter_QueueWithAMissingParent_IsNotReadyWithInvalidDefinitionNamingTheParent()
    {
        _server.CreateQueue(Queue("team-a", gpuQuota: 4));
        _server.CreateQueue(Queue("orphan", gpuQuota: 2, parent: "no-such-parent"));

        await using var extender = await LiveExtender.StartAsync(_server, settings: FastTicks);
        await LiveExtender.Eventually(() => Ready(_server.GetQueue("orphan")) is not null && Ready(_server.GetQueue("team-a")) is not null, "both statuses published");

        var orphan = Condition(_server.GetQueue("orphan"))!;
        Assert.Equal(("False", "InvalidDefinition"), Ready(_server.GetQueue("orphan")));
        Assert.Contains("\"no-such-parent\" does not exist", orphan["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(("True", "Active"), Ready(_server.GetQueue("team-a"))); // only the broken queue is disabled
        Assert.Equal(0m, Gpu(_server.GetQueue("orphan"), "fairShare"));
    }

    private List<RecordedRequest> StatusWrites(string? queue = null) =>
        [.. _server.Requests.Where(r => r.Method == "PATCH" && r.Path.StartsWith("/apis/kaiwo.ai/v1alpha2/kaiwoqueues/", StringComparison.Ordinal)
            && r.Path.EndsWith(queue is null ? "/status" : $"/{queue}/status", StringComparison.Ordinal))];

    private static JsonObject Queue(string name, int gpuQuota, string? parent = null)
    {
        var spec = new JsonObject
        {
            ["priority"] = 100,
            ["resources"] = new JsonObject { ["gpu"] = new JsonObject { ["quota"] = gpuQuota } },
        };
        if (parent is not null)
        {
            spec["parentQueue"] = parent;
        }

        return new JsonObject
        {
            ["apiVersion"] = "kaiwo.ai/v1alpha2",
            ["kind"] = "KaiwoQueue",
            ["metadata"] = new JsonObject { ["name"] = name },
            ["spec"] = spec,
        };
    }

    /// <summary>A pod of <paramref name="queue"/> running on gpu-node-1 with its allocation record (a share of one GPU).</summary>
    private static V1Pod Running(string name, string queue, int computeMilli, int gpu = 0, string? cpu = null, string? memory = null)
    {
        var record = $$"""{"version":1,"node":"gpu-node-1","kind":"shared","isolation":"time-slicing","gpus":[{"index":{{gpu}},"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[{{gpu}}],"computeMilli":{{computeMilli}},"memoryMiB":49152}]}""";
        var pod = Pod(name, new() { ["kaiwo.ai/gpu-allocation"] = record }, node: "gpu-node-1");
        pod.Metadata.Labels = new Dictionary<string, string> { ["kaiwo.ai/queue"] = queue };
        var requests = new Dictionary<string, ResourceQuantity>();
        if (cpu is not null)
        {
            requests["cpu"] = new ResourceQuantity(cpu);
        }

        if (memory is not null)
        {
            requests["memory"] = new ResourceQuantity(memory);
        }

        if (requests.Count > 0)
        {
            pod.Spec.Containers[0].Resources = new V1ResourceRequirements { Requests = requests };
        }

        return pod;
    }

    private static decimal? Number(JsonNode? node) => node?.GetValue<decimal>();

    private static decimal? Gpu(JsonObject? queue, string field) => Number(queue?["status"]?[field]?["gpu"]);

    private static JsonNode? Condition(JsonObject? queue) =>
        (queue?["status"]?["conditions"] as JsonArray)?.FirstOrDefault(c => c?["type"]?.GetValue<string>() == "Ready");

    private static (string Status, string Reason)? Ready(JsonObject? queue) =>
        Condition(queue) is { } c ? (c["status"]!.GetValue<string>(), c["reason"]!.GetValue<string>()) : null;
}

using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using Kaiwo.Extender.Tests.FakeApiServer;
using static Kaiwo.Extender.Tests.Live.LiveObjects;

namespace Kaiwo.Extender.Tests.Live;

/// <summary>
/// Live mode: a bind the extender must not make (another scheduler's pod, a pod bound elsewhere, a pod being
/// deleted, a uid of another pod) is refused with the reason, and nothing is written to the API server.
/// </summary>
public sealed class LiveBindRefusalTests : IAsyncLifetime
{
    private FakeKubeApiServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeKubeApiServer.StartAsync();
        _server.CreateNode(Mi300X("gpu-node-1"));
        _server.CreateNode(Mi300X("gpu-node-2"));
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Bind_PodOfAnotherScheduler_IsRefusedWithoutAnApiCall()
    {
        var pod = Fraction("other-scheduler", "0.5");
        pod.Spec.SchedulerName = "default-scheduler";
        var created = _server.CreatePod(pod);
        await using var extender = await LiveExtender.StartAsync(_server);

        var error = await extender.BindAsync(created, "gpu-node-1");

        Assert.Contains("spec.schedulerName \"default-scheduler\"", error, StringComparison.Ordinal);
        AssertNoWrites();
        Assert.Equal(0, extender.HoldsOn("gpu-node-1"));
    }

    [Fact]
    public async Task Bind_PodBoundToAnotherNode_IsRefusedWithoutAnApiCall()
    {
        var created = _server.CreatePod(Pod("elsewhere", node: "gpu-node-2"));
        await using var extender = await LiveExtender.StartAsync(_server);

        var error = await extender.BindAsync(created, "gpu-node-1");

        Assert.Contains("already bound to gpu-node-2, not gpu-node-1", error, StringComparison.Ordinal);
        AssertNoWrites();
    }

    [Fact]
    public async Task Bind_PodBeingDeleted_IsRefusedWithoutAnApiCall()
    {
        var created = _server.CreatePod(Fraction("deleting", "0.5"));
        await using var extender = await LiveExtender.StartAsync(_server);

        // kube-scheduler's copy, shown in filter, carries the deletionTimestamp the informer has not delivered yet.
        var pod = JsonNode.Parse(KubernetesJson.Serialize(created))!.AsObject();
        pod["metadata"]!["deletionTimestamp"] = "2026-11-23T13:59:00Z";
        using (var filter = await extender.Client.PostAsync("/filter", JsonContent.Create(new JsonObject { ["Pod"] = pod, ["NodeNames"] = new JsonArray("gpu-node-1") })))
        {
            filter.EnsureSuccessStatusCode();
        }

        var error = await extender.BindAsync(created, "gpu-node-1");

        Assert.Contains("is being deleted", error, StringComparison.Ordinal);
        AssertNoWrites();
    }

    [Fact]
    public async Task Bind_UidOfAnotherPod_IsRefusedWithoutAnApiCall()
    {
        var created = _server.CreatePod(Fraction("real-owner", "0.5"));
        await using var extender = await LiveExtender.StartAsync(_server);
        created.Metadata.Name = "impostor";

        var error = await extender.BindAsync(created, "gpu-node-1");

        Assert.Contains($"pod uid {created.Metadata.Uid} belongs to team-a/real-owner, not team-a/impostor", error, StringComparison.Ordinal);
        AssertNoWrites();
    }

    private void AssertNoWrites() =>
        Assert.Empty(_server.Requests.Where(r => r.Method != "GET").Select(r => $"{r.Method} {r.Path}"));
}

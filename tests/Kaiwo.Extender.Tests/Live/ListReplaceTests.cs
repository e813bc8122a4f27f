using System.Text.Json;
using Kaiwo.Extender.Live;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Kaiwo.Extender.Tests.Live;

/// <summary>
/// A full list is applied page by page (so that 200,000 pods are never held as JSON at once): each page's objects are
/// applied as it arrives, and what the whole list did not show is removed only when it is complete.
/// </summary>
public sealed class ListReplaceTests
{
    private readonly ClusterState _state = new();

    [Fact]
    public void PodList_PagesApplied_PodsTheListDidNotShowStayUntilComplete()
    {
        var target = new PodTarget(_state, NullLogger<PodTarget>.Instance);
        var first = target.BeginReplace();
        first.Add([Pod("a"), Pod("b"), Pod("c")]);
        first.Complete();

        var relist = target.BeginReplace();
        relist.Add([Pod("a", node: "node-2")]);

        Assert.True(_state.TryGetPod("uid-a", out var moved, out _));
        Assert.Equal("node-2", moved!.NodeName);
        Assert.True(_state.TryGetPod("uid-b", out _, out _));

        relist.Add([Pod("c")]);
        relist.Complete();

        Assert.Equal(["uid-a", "uid-c"], _state.PodUids().Order(StringComparer.Ordinal));
        Assert.Equal(2, relist.Count);
    }

    [Fact]
    public void PodList_RestartedAfterAnExpiredContinue_OnlyTheNewListCounts()
    {
        var target = new PodTarget(_state, NullLogger<PodTarget>.Instance);
        var abandoned = target.BeginReplace();
        abandoned.Add([Pod("a"), Pod("b")]);

        // The informer starts again from the first page; the abandoned list is never completed.
        var restarted = target.BeginReplace();
        restarted.Add([Pod("b")]);
        restarted.Complete();

        Assert.Equal(["uid-b"], _state.PodUids());
    }

    [Fact]
    public void NodeList_Complete_RemovesNodesNotListed()
    {
        var target = new NodeTarget(_state);
        var first = target.BeginReplace();
        first.Add([Node("node-1"), Node("node-2")]);
        first.Complete();

        var relist = target.BeginReplace();
        relist.Add([Node("node-2")]);
        Assert.Equal(2, _state.NodeNames().Count);
        relist.Complete();

        Assert.Equal(["node-2"], _state.NodeNames());
    }

    [Fact]
    public void QueueList_PagesGathered_CatalogueChangesOnlyWhenComplete()
    {
        var catalog = new QueueCatalog();
        var list = catalog.BeginReplace();
        list.Add([Queue("prod")]);
        list.Add([Queue("research")]);

        Assert.Empty(catalog.Names);
        list.Complete();

        Assert.Equal(["prod", "research"], catalog.Names);
        Assert.Equal(2, list.Count);
    }

    private static JsonElement Pod(string name, string node = "node-1") => JsonSerializer.SerializeToElement(new
    {
        metadata = new { name, @namespace = "team-a", uid = $"uid-{name}" },
        spec = new { nodeName = node, schedulerName = "default-scheduler", containers = new[] { new { name = "main" } } },
        status = new { phase = "Running" },
    });

    private static JsonElement Node(string name) => JsonSerializer.SerializeToElement(new
    {
        metadata = new { name },
        status = new { allocatable = new Dictionary<string, string> { ["cpu"] = "8" } },
    });

    private static JsonElement Queue(string name) => JsonSerializer.SerializeToElement(new
    {
        apiVersion = "kaiwo.ai/v1alpha2",
        kind = "KaiwoQueue",
        metadata = new { name },
        spec = new { priority = 1 },
    });
}

using System.Net;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Kaiwo.Extender.Tests.FakeApiServer;
using static Kaiwo.Extender.Tests.Live.LiveObjects;

namespace Kaiwo.Extender.Tests.Live;

/// <summary>The informers and the binder against the fake API server.</summary>
public sealed class LiveClusterTests : IAsyncLifetime
{
    private static readonly string[] Fractions = ["0.25", "0.5", "0.125"];
    private FakeKubeApiServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeKubeApiServer.StartAsync();
        _server.CreateNode(Mi300X("gpu-node-1"));
        _server.CreateNode(Mi300X("gpu-node-2"));
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Record(string node, int gpu, int milli, long mib, string kind = "shared") =>
        $$"""{"version":1,"node":"{{node}}","kind":"{{kind}}","isolation":"time-slicing","gpus":[{"index":{{gpu}},"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[{{gpu}}],"computeMilli":{{milli}},"memoryMiB":{{mib}}}]}""";

    [Fact]
    public async Task Start_PodsWithRecords_FirstListRebuildsTheirHoldsAndThenReady()
    {
        for (var i = 0; i < 5; i++)
        {
            _server.CreatePod(Pod($"running-{i}", new() { ["kaiwo.ai/gpu-allocation"] = Record("gpu-node-1", i, 500, 98304) }, node: "gpu-node-1"));
        }

        await using var extender = await LiveExtender.StartAsync(_server);

        Assert.Equal(5, extender.HoldsOn("gpu-node-1"));
        Assert.Equal("ready", await extender.Client.GetStringAsync("/readyz"));
        Assert.True(extender.Cluster.Pods.Lists >= 1);
    }

    [Fact]
    public async Task Readyz_BeforeTheFirstList_IsNotReady()
    {
        // The node list is held on the server's own clock until the early probe has been answered: however slow
        // the machine, the probe comes before the first list.
        var serverClock = new FakeTimeProvider();
        _server.TimeProvider = serverClock;
        _server.InjectFault(FakeRoute.ListNodes, Fault.Delay(TimeSpan.FromSeconds(2)));

        await using var extender = await LiveExtender.StartAsync(_server, waitForSync: false);
        using var early = await extender.Client.GetAsync("/readyz");
        await LiveExtender.Eventually(
            () =>
            {
                // Releases the held list whenever it has reached the server (the clock only moves here).
                serverClock.Advance(TimeSpan.FromSeconds(2));
                return extender.Cluster.Nodes.IsSynced && extender.Cluster.Pods.IsSynced;
            },
            "first lists");
        using var late = await extender.Client.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, early.StatusCode);
        Assert.Equal(HttpStatusCode.OK, late.StatusCode);
    }

    [Fact]
    public async Task Watch_AddModifyDeleteOfEachKind_UpdatesStateIncrementally()
    {
        await using var extender = await LiveExtender.StartAsync(_server);
        var lists = extender.Cluster.Pods.Lists;

        _server.CreateNode(Mi300X("gpu-node-3"));
        await LiveExtender.Eventually(() => extender.HoldsOn("gpu-node-3") == 0, "node added");

        var pod = _server.CreatePod(Pod("p", new() { ["kaiwo.ai/gpu-allocation"] = Record("gpu-node-3", 2, 250, 49152) }, node: "gpu-node-3"));
        await LiveExtender.Eventually(() => extender.HoldsOn("gpu-node-3") == 1, "pod with a record added");

        _server.UpdatePod("team-a", "p", p => p.Status.Phase = "Succeeded");
        await LiveExtender.Eventually(() => extender.HoldsOn("gpu-node-3") == 0, "terminated pod freed");

        _server.DeletePod("team-a", "p");
        await LiveExtender.Eventually(() => !extender.State.TryGetPod(pod.Metadata.Uid, out _, out _), "deleted pod forgotten");

        _server.DeleteNode("gpu-node-3");
        await LiveExtender.Eventually(() => extender.HoldsOn("gpu-node-3") == -1, "node deleted");
        Assert.Equal(lists, extender.Cluster.Pods.Lists); // all of it through the watch, no re-list
    }

    [Fact]
    public async Task Watch_Dropped_ListsAgainAndLosesNothing()
    {
        await using var extender = await LiveExtender.StartAsync(_server);
        var lists = extender.Cluster.Pods.Lists;
        _server.CreatePod(Pod("before", new() { ["kaiwo.ai/gpu-allocation"] = Record("gpu-node-1", 0, 500, 98304) }, node: "gpu-node-1"));
        await LiveExtender.Eventually(() => extender.HoldsOn("gpu-node-1") == 1, "first pod");

        _server.DropWatches();
        _server.CreatePod(Pod("during", new() { ["kaiwo.ai/gpu-allocation"] = Record("gpu-node-1", 1, 500, 98304) }, node: "gpu-node-1"));
        _server.DeletePod("team-a", "before");

        await LiveExtender.Eventually(() => extender.HoldsOn("gpu-node-1") == 1 && extender.State.TryGetNode("gpu-node-1", out var n) && n!.Usage.Gpus[1].SharedPods == 1, "the changes made while the watch was down");
        Assert.True(extender.Cluster.Pods.Lists > lists);
    }

    [Fact]
    public async Task Watch_ResourceVersionExpired410_ListsAgain()
    {
        await using var extender = await LiveExtender.StartAsync(_server);
        var lists = extender.Cluster.Pods.Lists;

        // The watch ends; while the informer reconnects, a pod changes and the history is compacted past its
        // resourceVersion: the new watch gets the 410 Expired error event and the informer lists again.
        _server.InjectFault(FakeRoute.WatchPods, Fault.Delay(TimeSpan.FromMilliseconds(500)));
        _server.EndWatches();
        _server.CreatePod(Pod("during", new() { ["kaiwo.ai/gpu-allocation"] = Record("gpu-node-2", 1, 1000, 196608, "whole") }, node: "gpu-node-2"));
        _server.Compact();
        await LiveExtender.Eventually(() => extender.Cluster.Pods.Lists > lists, "a new list after 410 Expired");
        await LiveExtender.Eventually(() => extender.HoldsOn("gpu-node-2") == 1, "the pod of the gap, from the new list");
        _server.CreatePod(Pod("after", new() { ["kaiwo.ai/gpu-allocation"] = Record("gpu-node-2", 0, 1000, 196608, "whole") }, node: "gpu-node-2"));

        await LiveExtender.Eventually(() => extender.HoldsOn("gpu-node-2") == 2, "events after the new list");
    }

    [Fact]
    public async Task Bind_ThroughTheApiServer_WritesTheRecordWithTheBindingInOneCall()
    {
        var pod = _server.CreatePod(Fraction("frac", "0.5"));
        await using var extender = await LiveExtender.StartAsync(_server);

        var error = await extender.BindAsync(pod, "gpu-node-1");

        Assert.Equal(string.Empty, error);
        var stored = _server.GetPod("team-a", "frac")!;
        Assert.Equal("gpu-node-1", stored.Spec.NodeName);
        Assert.Contains("\"computeMilli\":500", stored.Metadata.Annotations["kaiwo.ai/gpu-allocation"], StringComparison.Ordinal);
        Assert.Equal("0", stored.Metadata.Annotations["kaiwo.ai/visible-devices"]);
        // The GpuAllocated event goes in the background, after the bind: not one of the bind's writes.
        var writes = _server.Requests.Where(r => r.Method != "GET" && r.Route != FakeRoute.CreateEvent).Select(r => (r.Method, r.Path)).ToList();
        Assert.Equal([("POST", "/api/v1/namespaces/team-a/pods/frac/binding")], writes);
        await LiveExtender.Eventually(() => extender.State.AssumedCount == 0, "the watch confirming the binding");
        Assert.Equal(1, extender.HoldsOn("gpu-node-1"));
    }

    [Fact]
    public async Task Bind_RepeatedToTheSameNode_SucceedsWithoutASecondAllocation()
    {
        var pod = _server.CreatePod(Pod("whole", gpus: 8));
        await using var extender = await LiveExtender.StartAsync(_server);

        var first = await extender.BindAsync(pod, "gpu-node-1");
        var again = await extender.BindAsync(pod, "gpu-node-1");
        await LiveExtender.Eventually(() => extender.State.AssumedCount == 0, "confirmation");
        var third = await extender.BindAsync(pod, "gpu-node-1");
        var elsewhere = await extender.BindAsync(pod, "gpu-node-2");

        Assert.Equal(string.Empty, first);
        Assert.Equal(string.Empty, again);
        Assert.Equal(string.Empty, third);
        Assert.Contains("already bound to gpu-node-1", elsewhere, StringComparison.Ordinal);
        Assert.Equal(1, extender.HoldsOn("gpu-node-1"));
        Assert.Equal(0, extender.HoldsOn("gpu-node-2"));
    }

    [Fact]
    public async Task Bind_BindingThrottled429_RetriesAfterRetryAfterAndSucceeds()
    {
        var pod = _server.CreatePod(Fraction("throttled", "0.25"));
        await using var extender = await LiveExtender.StartAsync(_server);
        _server.InjectFault(FakeRoute.BindPod, Fault.TooManyRequests(1));

        var started = DateTime.UtcNow;
        var error = await extender.BindAsync(pod, "gpu-node-1");

        Assert.Equal(string.Empty, error);
        Assert.Equal(2, _server.Requests.Count(r => r.Method == "POST" && r.Path.EndsWith("/binding", StringComparison.Ordinal)));
        Assert.Equal(0, _server.Requests.Count(r => r.Method == "PATCH"));
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(0.9), "Retry-After: 1 was not honoured");
        Assert.Equal("gpu-node-1", _server.GetPod("team-a", "throttled")!.Spec.NodeName);
    }

    [Fact]
    public async Task Bind_BindingServerError_RetriesAndSucceeds()
    {
        var pod = _server.CreatePod(Fraction("flaky", "0.25"));
        await using var extender = await LiveExtender.StartAsync(_server);
        _server.InjectFault(FakeRoute.BindPod, Fault.ServerError());

        var error = await extender.BindAsync(pod, "gpu-node-2");

        Assert.Equal(string.Empty, error);
        Assert.Equal(2, _server.Requests.Count(r => r.Method == "POST" && r.Path.EndsWith("/binding", StringComparison.Ordinal)));
        Assert.Equal(1, extender.Factory.Services.GetRequiredService<Kaiwo.Extender.Live.LiveBinder>().Retries);
    }

    [Fact]
    public async Task Bind_BindingFailed_ReleasesTheDevicesAndWritesNoRecord()
    {
        var pod = _server.CreatePod(Pod("doomed", gpus: 8));
        await using var extender = await LiveExtender.StartAsync(_server);
        for (var i = 0; i <= 3; i++)
        {
            // The first try and its three retries (Kubernetes:MaxRetries) all fail.
            _server.InjectFault(FakeRoute.BindPod, Fault.ServerError());
        }

        var error = await extender.BindAsync(pod, "gpu-node-1");

        Assert.Contains("released", error, StringComparison.Ordinal);
        var stored = _server.GetPod("team-a", "doomed")!;
        Assert.False(stored.Metadata.Annotations?.ContainsKey("kaiwo.ai/gpu-allocation") ?? false);
        Assert.Null(stored.Spec.NodeName);
        Assert.Equal(0, _server.Requests.Count(r => r.Method == "PATCH"));
        Assert.Equal(0, extender.HoldsOn("gpu-node-1"));

        // The eight GPUs are free for the next pod.
        var next = _server.CreatePod(Pod("next", gpus: 8));
        await LiveExtender.Eventually(() => extender.State.TryGetPod(next.Metadata.Uid, out _, out _), "next pod seen");
        Assert.Equal(string.Empty, await extender.BindAsync(next, "gpu-node-1"));
    }

    [Fact]
    public async Task Bind_PodBoundHereByAnotherWithoutTheRecord_ConfirmsAndPatchesTheRecordOn()
    {
        var pod = _server.CreatePod(Fraction("bound-bare", "0.5"));
        await using var extender = await LiveExtender.StartAsync(_server, settings: new Dictionary<string, string?> { ["Kubernetes:AssumedPodTtl"] = "00:01:00" });
        using (var api = _server.CreateKubernetesClient())
        {
            // Bound to the very node we choose, with no record, before our informer saw it: our Binding gets a 409.
            _server.InjectFault(FakeRoute.WatchPods, Fault.Delay(TimeSpan.FromSeconds(3)));
            _server.DropWatches();
            await api.CoreV1.CreateNamespacedPodBindingAsync(
                new V1Binding { Metadata = new V1ObjectMeta { Name = "bound-bare" }, Target = new V1ObjectReference { Kind = "Node", Name = "gpu-node-1" } },
                "bound-bare",
                "team-a");
        }

        var error = await extender.BindAsync(pod, "gpu-node-1");

        Assert.Equal(string.Empty, error);
        var stored = _server.GetPod("team-a", "bound-bare")!;
        Assert.Contains("\"computeMilli\":500", stored.Metadata.Annotations["kaiwo.ai/gpu-allocation"], StringComparison.Ordinal);
        Assert.Equal(1, _server.Requests.Count(r => r.Method == "PATCH"));
    }

    [Fact]
    public async Task Bind_PodAlreadyAssignedElsewhereOnTheServer_IsAnErrorAndReleases()
    {
        var pod = _server.CreatePod(Fraction("raced", "0.5"));
        await using var extender = await LiveExtender.StartAsync(_server, settings: new Dictionary<string, string?> { ["Kubernetes:AssumedPodTtl"] = "00:01:00" });
        using (var api = _server.CreateKubernetesClient())
        {
            // Another scheduler binds it between our filter and our bind; our informer has not seen it yet.
            _server.InjectFault(FakeRoute.WatchPods, Fault.Delay(TimeSpan.FromSeconds(3)));
            _server.DropWatches();
            await api.CoreV1.CreateNamespacedPodBindingAsync(
                new V1Binding { Metadata = new V1ObjectMeta { Name = "raced" }, Target = new V1ObjectReference { Kind = "Node", Name = "gpu-node-2" } },
                "raced",
                "team-a");
        }

        var error = await extender.BindAsync(pod, "gpu-node-1");

        Assert.Contains("already assigned", error, StringComparison.Ordinal);
        Assert.Equal(0, extender.HoldsOn("gpu-node-1"));
    }

    [Fact]
    public async Task Bind_NotSeenBoundBeforeTheAssumedExpiry_IsReleasedThenRestoredByTheNextList()
    {
        var pod = _server.CreatePod(Fraction("slow-watch", "0.5"));
        await using var extender = await LiveExtender.StartAsync(_server, settings: new Dictionary<string, string?>
        {
            ["Kubernetes:AssumedPodTtl"] = "00:00:00.200",
            ["Kubernetes:AssumedSweepInterval"] = "00:00:00.050",
        });

        // The informer loses its watch, and its next watch or list is slow: our binding cannot be confirmed in time.
        _server.InjectFault(FakeRoute.ListPods, Fault.Delay(TimeSpan.FromSeconds(2)));
        _server.InjectFault(FakeRoute.WatchPods, Fault.Delay(TimeSpan.FromSeconds(2)));
        _server.DropWatches();
        var error = await extender.BindAsync(pod, "gpu-node-1");
        await LiveExtender.Eventually(() => extender.State.AssumedCount == 0 && extender.HoldsOn("gpu-node-1") == 0, "the assumed pod expiring");

        // The watch or list then shows the pod bound with its record: it holds its devices again.
        await LiveExtender.Eventually(() => extender.HoldsOn("gpu-node-1") == 1, "the informer restoring the hold");
        Assert.Equal(string.Empty, error);
    }

    [Fact]
    public async Task Start_PodOfAnotherSchedulerWithoutRecord_HoldsWholeGpus()
    {
        _server.CreatePod(Pod("foreign", gpus: 6, node: "gpu-node-1"));
        await using var extender = await LiveExtender.StartAsync(_server);
        var pod = _server.CreatePod(Pod("needs-four", gpus: 4));
        await LiveExtender.Eventually(() => extender.State.TryGetPod(pod.Metadata.Uid, out _, out _), "pod seen");

        var error = await extender.BindAsync(pod, "gpu-node-1");

        Assert.Contains("no longer fits", error, StringComparison.Ordinal);
        Assert.Contains("2 free", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_InLiveMode_ShowInformerSyncEventsAndBindRetries()
    {
        var pod = _server.CreatePod(Fraction("metered", "0.25"));
        await using var extender = await LiveExtender.StartAsync(_server);
        _server.InjectFault(FakeRoute.BindPod, Fault.ServerError());
        Assert.Equal(string.Empty, await extender.BindAsync(pod, "gpu-node-1"));
        await LiveExtender.Eventually(() => extender.Cluster.Pods.EventsApplied > 0, "events applied");

        var text = await extender.Client.GetStringAsync("/metrics");

        Assert.Contains("kaiwo_informer_synced{otel_scope_name=\"Kaiwo.Extender\",resource=\"pods\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_informer_synced{otel_scope_name=\"Kaiwo.Extender\",resource=\"nodes\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_informer_events_total{otel_scope_name=\"Kaiwo.Extender\",resource=\"pods\"}", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_informer_lists_total{otel_scope_name=\"Kaiwo.Extender\",resource=\"nodes\"} 1", text, StringComparison.Ordinal);
        // The series is there; its value is asserted on the binder itself (Bind_BindingServerError_RetriesAndSucceeds):
        // OpenTelemetry listens to meters by name across the process, so hosts of other tests running at the same
        // time can report into the same series here.
        Assert.Matches("kaiwo_bind_retries_total\\{otel_scope_name=\"Kaiwo.Extender\"\\} \\d+", text);
        Assert.Equal(1, extender.Factory.Services.GetRequiredService<Kaiwo.Extender.Live.LiveBinder>().Retries);
        Assert.Contains("reason=\"bound\",result=\"bound\",verb=\"bind\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_QueueAddModifyDelete_KeepsTheCatalogCurrent()
    {
        _server.CreateQueue(Queue("research-queue", 10));
        await using var extender = await LiveExtender.StartAsync(_server);
        var catalog = extender.Factory.Services.GetRequiredService<Kaiwo.Extender.Live.QueueCatalog>();
        await LiveExtender.Eventually(() => catalog.Names.SequenceEqual(["research-queue"]), "the listed queue");

        _server.CreateQueue(Queue("prod-queue", 20));
        await LiveExtender.Eventually(() => catalog.Names.SequenceEqual(["prod-queue", "research-queue"]), "the added queue");
        var events = extender.Cluster.Queues.EventsApplied;
        _server.UpdateQueue("prod-queue", q => q["spec"]!["priority"] = 300);
        await LiveExtender.Eventually(() => extender.Cluster.Queues.EventsApplied == events + 1, "the modified queue's event");
        _server.DeleteQueue("research-queue");

        await LiveExtender.Eventually(() => catalog.Names.SequenceEqual(["prod-queue"]), "the deleted queue gone");
        Assert.Null(catalog.UnavailableReason);
    }

    private static System.Text.Json.Nodes.JsonObject Queue(string name, int gpuQuota) => new()
    {
        ["apiVersion"] = "kaiwo.ai/v1alpha2",
        ["kind"] = "KaiwoQueue",
        ["metadata"] = new System.Text.Json.Nodes.JsonObject { ["name"] = name },
        ["spec"] = new System.Text.Json.Nodes.JsonObject
        {
            ["priority"] = 100,
            ["resources"] = new System.Text.Json.Nodes.JsonObject { ["gpu"] = new System.Text.Json.Nodes.JsonObject { ["quota"] = gpuQuota } },
        },
    };

    [Fact]
    public async Task Start_WithoutTheQueueCrd_RunsWithoutQueuesAndInspectSaysWhy()
    {
        _server.CrdInstalled = false;

        await using var extender = await LiveExtender.StartAsync(_server);
        await extender.Cluster.Queues.Synced.WaitAsync(LiveExtender.Timeout);
        var inspect = await extender.Client.GetStringAsync("/inspect");

        Assert.Contains("\"available\": false", inspect, StringComparison.Ordinal);
        Assert.Contains("CRD", inspect, StringComparison.Ordinal);
        Assert.Equal("ready", await extender.Client.GetStringAsync("/readyz"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Restart_AfterARandomHistory_AFreshInstanceHasTheIdenticalTable(int seed)
    {
        var random = new Random(seed);
        _server.CreateNode(Mi300X("gpu-node-3"));
        string table;
        await using (var first = await LiveExtender.StartAsync(_server))
        {
            var live = new List<V1Pod>();
            for (var step = 0; step < 40; step++)
            {
                var roll = random.Next(10);
                if (roll < 6 || live.Count == 0)
                {
                    var pod = _server.CreatePod(random.Next(3) switch
                    {
                        0 => Pod($"w{step}", gpus: 1 + random.Next(3)),
                        1 => Fraction($"f{step}", Fractions[random.Next(Fractions.Length)]),
                        _ => Pod($"m{step}", new() { ["kaiwo.ai/gpu-memory"] = $"{8 + random.Next(64)}Gi" }),
                    });
                    await LiveExtender.Eventually(() => first.State.TryGetPod(pod.Metadata.Uid, out _, out _), "pod seen");
                    if (string.IsNullOrEmpty(await first.BindAsync(pod, $"gpu-node-{1 + random.Next(3)}")))
                    {
                        live.Add(pod);
                    }
                }
                else
                {
                    var victim = live[random.Next(live.Count)];
                    live.Remove(victim);
                    if (roll < 8)
                    {
                        _server.DeletePod("team-a", victim.Metadata.Name);
                    }
                    else
                    {
                        _server.UpdatePod("team-a", victim.Metadata.Name, p => p.Status.Phase = "Failed");
                    }
                }
            }

            var version = _server.ResourceVersion;
            await LiveExtender.Eventually(() => long.Parse(first.Cluster.Pods.ResourceVersion ?? "0", System.Globalization.CultureInfo.InvariantCulture) >= version && first.State.AssumedCount == 0, "the first instance caught up");
            table = await first.TableAsync();
        }

        await using var second = await LiveExtender.StartAsync(_server);

        Assert.Equal(table, await second.TableAsync());
        Assert.Contains("\"pods\": [", table, StringComparison.Ordinal);
    }
}

using System.Text.Json.Nodes;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Tests.FakeApiServer;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Requests;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;
using NSubstitute.ExceptionExtensions;
using static Kaiwo.Extender.Tests.Live.LiveObjects;

namespace Kaiwo.Extender.Tests.Live;

/// <summary>
/// The Events a bind leaves on its pod: what they say, that a burst is cut by the token bucket (dropped events
/// counted, none waited for), that a refused event never fails anything, and, end to end through the fake API
/// server, GpuAllocated after a bind and a Warning after a failed one.
/// </summary>
public sealed class PodEventsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static readonly PodFacts Demo = new() { Namespace = "team-b", Name = "xcd-job", Uid = "7f1d8e36-4c2a-4b9f-a3e5-5d8c2f6a1e24" };

    private static readonly PodAllocation XcdAllocation = new("gpu-node-05", AllocationKind.Shared, GpuIsolation.Xcd, [new GpuGrant(0, [2, 3], [2, 3], [2, 3], 250, 49152)]);

    [Fact]
    public void TokenBucket_Burst_IsTakenThenRefusedUntilTheClockRefillsIt()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(time, perSecond: 2, burst: 3);

        var burst = Enumerable.Range(0, 5).Select(_ => bucket.TryTake()).ToList();
        time.Advance(TimeSpan.FromMilliseconds(499));
        var early = bucket.TryTake();
        time.Advance(TimeSpan.FromMilliseconds(1));
        var refilled = bucket.TryTake();
        time.Advance(TimeSpan.FromHours(1));
        var afterQuiet = Enumerable.Range(0, 4).Count(_ => bucket.TryTake());

        Assert.Equal([true, true, true, false, false], burst);
        Assert.False(early);
        Assert.True(refilled);
        Assert.Equal(3, afterQuiet);
    }

    [Fact]
    public void Describe_XcdAllocation_NamesTheGpuPartitionsXcdsShareMemoryAndDevices()
    {
        Assert.Equal("GPU 0 (partitions 2,3, XCDs 2,3, 0.25 GPU, 49152 MiB); shared, xcd; devices 2,3", PodEvents.Describe(XcdAllocation));
        Assert.Equal(
            "GPU 0 (1 GPU, 196608 MiB); GPU 1 (1 GPU, 196608 MiB); whole; devices 0,1",
            PodEvents.Describe(new PodAllocation("n", AllocationKind.Whole, GpuIsolation.TimeSlicing, [new GpuGrant(0, [], [], [0], 1000, 196608), new GpuGrant(1, [], [], [1], 1000, 196608)])));
        Assert.Equal("no GPUs", PodEvents.Describe(null));
    }

    [Fact]
    public async Task Allocated_Event_IsAnEventsV1EventAsTheApiServerTakesIt()
    {
        var api = Substitute.For<IKubernetesApi>();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 13, 46, 0, 123, 456, TimeSpan.Zero));
        using var events = Events(api, time);
        await events.StartAsync(CancellationToken.None);

        events.Allocated(Demo, "gpu-node-05", XcdAllocation);
        await Eventually(() => events.Sent == 1);
        await events.StopAsync(CancellationToken.None);

        var sent = (JsonObject)api.ReceivedCalls().Single().GetArguments()[1]!;
        await api.Received(1).CreateEventAsync("team-b", Arg.Any<JsonObject>(), Arg.Any<CancellationToken>());
        Assert.Equal("events.k8s.io/v1", (string?)sent["apiVersion"]);
        Assert.Equal("Event", (string?)sent["kind"]);
        Assert.Equal("xcd-job-", (string?)sent["metadata"]!["generateName"]);
        Assert.Equal("2026-11-23T13:46:00.123456Z", (string?)sent["eventTime"]);
        Assert.Equal(("Normal", "GpuAllocated", "Binding", PodEvents.Controller), ((string?)sent["type"], (string?)sent["reason"], (string?)sent["action"], (string?)sent["reportingController"]));
        Assert.False(string.IsNullOrEmpty((string?)sent["reportingInstance"]));
        Assert.Equal("bound to gpu-node-05: GPU 0 (partitions 2,3, XCDs 2,3, 0.25 GPU, 49152 MiB); shared, xcd; devices 2,3", (string?)sent["note"]);
        Assert.True(JsonNode.DeepEquals(
            new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Pod", ["namespace"] = "team-b", ["name"] = "xcd-job", ["uid"] = Demo.Uid },
            sent["regarding"]));
    }

    [Fact]
    public async Task Record_BurstOfBinds_SendsTheBurstDropsAndCountsTheRestThenRefills()
    {
        var api = Substitute.For<IKubernetesApi>();
        var time = new FakeTimeProvider();
        using var events = Events(api, time, perSecond: 5, burst: 25);

        // Before the sender runs: what the bucket lets through waits in the queue, the rest is dropped at once.
        for (var i = 0; i < 100; i++)
        {
            events.Allocated(Demo with { Name = $"burst-{i}" }, "gpu-node-05", XcdAllocation);
        }

        Assert.Equal(75, events.Dropped);
        await events.StartAsync(CancellationToken.None);
        await Eventually(() => events.Sent == 25);
        time.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 10; i++)
        {
            events.Allocated(Demo with { Name = $"later-{i}" }, "gpu-node-05", XcdAllocation);
        }

        await Eventually(() => events.Sent == 30);
        await events.StopAsync(CancellationToken.None);

        Assert.Equal(80, events.Dropped);
        await api.Received(30).CreateEventAsync("team-b", Arg.Any<JsonObject>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Record_ApiServerRefusesTheEvent_CountsItAndSendsTheNext()
    {
        var api = Substitute.For<IKubernetesApi>();
        api.CreateEventAsync(Arg.Any<string>(), Arg.Any<JsonObject>(), Arg.Any<CancellationToken>())
            .Returns(Task.FromException(new KubernetesApiException(403, "Forbidden", "events.events.k8s.io is forbidden", null)), Task.CompletedTask);
        using var events = Events(api, new FakeTimeProvider());
        await events.StartAsync(CancellationToken.None);

        events.BindFailed(Demo, "gpu-node-05", new InvalidOperationException("timeout"), "binding team-b/xcd-job to gpu-node-05 failed");
        events.Allocated(Demo, "gpu-node-05", XcdAllocation);
        await Eventually(() => events.Sent == 1 && events.Failed == 1);
        await events.StopAsync(CancellationToken.None);

        Assert.Equal(0, events.Dropped);
    }

    [Fact]
    public async Task BindFailed_AssignedElsewhere_IsAnAllocationConflictWarning()
    {
        var api = Substitute.For<IKubernetesApi>();
        using var events = Events(api, new FakeTimeProvider());
        await events.StartAsync(CancellationToken.None);

        var conflict = new InvalidOperationException("the API server refused the Binding", new KubernetesApiException(409, "Conflict", "pod xcd-job is already assigned to node \"gpu-node-02\"", null));
        events.BindFailed(Demo, "gpu-node-05", conflict, "binding team-b/xcd-job to gpu-node-05 failed, its devices are released: already assigned");
        events.BindFailed(Demo, "gpu-node-05", new TimeoutException(), "binding team-b/xcd-job to gpu-node-05 failed, its devices are released: the API server did not answer in time");
        await Eventually(() => events.Sent == 2);
        await events.StopAsync(CancellationToken.None);

        var sent = api.ReceivedCalls().Select(c => (JsonObject)c.GetArguments()[1]!).ToList();
        Assert.Equal([("Warning", "GpuAllocationConflict"), ("Warning", "GpuBindFailed")], sent.Select(e => ((string?)e["type"], (string?)e["reason"])));
        Assert.Equal("binding team-b/xcd-job to gpu-node-05 failed, its devices are released: already assigned", (string?)sent[0]["note"]);
    }

    [Theory]
    [InlineData("0", "25", "Events:PerSecond is 0; accepted: a positive number of events per second, e.g. 5")]
    [InlineData("-1", "25", "Events:PerSecond is -1; accepted: a positive number of events per second, e.g. 5")]
    [InlineData("5", "0", "Events:Burst is 0; accepted: a whole number of events of at least 1, e.g. 25")]
    public void Validate_BadSetting_NamesItAndWhatIsAccepted(string perSecond, string burst, string expected)
    {
        var options = new EventOptions
        {
            PerSecond = double.Parse(perSecond, System.Globalization.CultureInfo.InvariantCulture),
            Burst = int.Parse(burst, System.Globalization.CultureInfo.InvariantCulture),
        };

        var result = new EventOptionsValidator().Validate(null, options);

        Assert.Equal([expected], result.Failures);
        Assert.True(new EventOptionsValidator().Validate(null, new EventOptions()).Succeeded);
    }

    [Fact]
    public async Task Bind_ThroughTheFakeApiServer_LeavesGpuAllocatedOnThePod()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        server.CreateNode(Mi300X("gpu-node-1"));
        var pod = server.CreatePod(Fraction("evented", "0.5"));
        await using var extender = await LiveExtender.StartAsync(server);

        Assert.Equal(string.Empty, await extender.BindAsync(pod, "gpu-node-1"));

        // The server stores the event before the create call returns and counts it: wait for both.
        var events = extender.Factory.Services.GetRequiredService<PodEvents>();
        await LiveExtender.Eventually(() => server.Events.Count == 1 && events.Sent == 1, "the GpuAllocated event");

        var stored = Assert.Single(server.Events);
        Assert.Equal("GpuAllocated", (string?)stored["reason"]);
        Assert.StartsWith("evented-", (string?)stored["metadata"]!["name"], StringComparison.Ordinal);
        Assert.Equal(pod.Metadata.Uid, (string?)stored["regarding"]!["uid"]);
        Assert.StartsWith("bound to gpu-node-1: GPU 0 (", (string?)stored["note"], StringComparison.Ordinal);
        Assert.Contains("0.5 GPU", (string?)stored["note"], StringComparison.Ordinal);
        Assert.Equal(1, events.Sent);
    }

    [Fact]
    public async Task Bind_BindingFailsOnTheFakeApiServer_LeavesAWarningWithTheReason()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        server.CreateNode(Mi300X("gpu-node-1"));
        var pod = server.CreatePod(Pod("doomed", gpus: 8));
        await using var extender = await LiveExtender.StartAsync(server);
        for (var i = 0; i <= 3; i++)
        {
            server.InjectFault(FakeRoute.BindPod, Fault.ServerError());
        }

        var error = await extender.BindAsync(pod, "gpu-node-1");
        await LiveExtender.Eventually(() => server.Events.Count == 1, "the GpuBindFailed event");

        var stored = Assert.Single(server.Events);
        Assert.Equal(("Warning", "GpuBindFailed"), ((string?)stored["type"], (string?)stored["reason"]));
        Assert.Equal(error, (string?)stored["note"]);
    }

    [Fact]
    public async Task RecordConflict_RecordNamingAnotherNode_IsOneWarningEvenAfterARelist()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        server.CreateNode(Mi300X("gpu-node-1"));
        const string record = """{"version":1,"node":"gpu-node-2","kind":"shared","isolation":"time-slicing","gpus":[{"index":0,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[0],"computeMilli":500,"memoryMiB":98304}]}""";
        server.CreatePod(Pod("moved", new() { ["kaiwo.ai/gpu-allocation"] = record, ["kaiwo.ai/gpu-fraction"] = "0.5" }, node: "gpu-node-1"));
        await using var extender = await LiveExtender.StartAsync(server);
        await LiveExtender.Eventually(() => server.Events.Count == 1, "the GpuRecordConflict event");

        // A 410 Expired makes the pod informer list again (as in LiveClusterTests): the same pod, the same warning, no second event.
        var lists = extender.Cluster.Pods.Lists;
        server.InjectFault(FakeRoute.WatchPods, Fault.Delay(TimeSpan.FromMilliseconds(500)));
        server.EndWatches();
        var during = server.CreatePod(Fraction("during", "0.25"));
        server.Compact();
        await LiveExtender.Eventually(() => extender.Cluster.Pods.Lists > lists && extender.State.TryGetPod(during.Metadata.Uid, out _, out _), "the relist");

        // Events go out in the order they are recorded: a second conflict warning from the relist would come before this bind's.
        Assert.Equal(string.Empty, await extender.BindAsync(during, "gpu-node-1"));
        await LiveExtender.Eventually(() => server.Events.Any(e => (string?)e["reason"] == "GpuAllocated"), "the bind's event");

        Assert.Equal(["GpuRecordConflict", "GpuAllocated"], server.Events.Select(e => (string?)e["reason"]));
        var stored = server.Events[0];
        Assert.Equal(("Warning", "GpuRecordConflict"), ((string?)stored["type"], (string?)stored["reason"]));
        Assert.Equal("pod team-a/moved: annotation kaiwo.ai/gpu-allocation is unusable (it names node gpu-node-2, but the pod is bound to gpu-node-1); counting it as holding whole GPUs", (string?)stored["note"]);
    }

    private static PodEvents Events(IKubernetesApi api, TimeProvider time, double perSecond = 5, int burst = 25) =>
        new(api, time, Options.Create(new EventOptions { PerSecond = perSecond, Burst = burst }), Options.Create(new KubernetesOptions()), NullLogger<PodEvents>.Instance);

    private static Task Eventually(Func<bool> condition) => LiveExtender.Eventually(condition, "the events sent");
}

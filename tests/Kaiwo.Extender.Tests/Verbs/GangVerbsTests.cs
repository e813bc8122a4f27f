using System.Text.Json;
using System.Text.Json.Nodes;
using Kaiwo.Extender.Hosting;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>
/// Gang members through the real verbs (standalone, the captured cluster): filter refuses them until their gang is
/// planned, then passes each only on its slot's node; bind takes the slot; other pods see the devices taken. The
/// reservation loop's pass is run by hand, as its timer would.
/// </summary>
public sealed class GangVerbsTests : IAsyncLifetime
{
    private readonly ExtenderFactory _factory = ExtenderFactory.ForMode("names");
    private HttpClient _client = null!;

    public Task InitializeAsync()
    {
        _client = _factory.CreateClient();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _factory.DisposeAsync();
    }

    /// <summary>The captured 4-GPU pod's filter body as member <paramref name="index"/> of gang team-b/train.</summary>
    internal static string Member(int index, int size, string group = "train", int priority = 0)
    {
        var body = JsonNode.Parse(File.ReadAllText(Fixtures.PayloadPath("names", "filter-gpu-x4.json")))!;
        body["Pod"]!["spec"]!["priority"] = priority;
        var metadata = body["Pod"]!["metadata"]!;
        metadata["name"] = $"{group}-{index}";
        metadata["uid"] = Uid(index, group);
        metadata["annotations"] = new JsonObject { ["kaiwo.ai/pod-group"] = group, ["kaiwo.ai/pod-group-size"] = $"{size}" };
        return body.ToJsonString();
    }

    /// <summary>The captured 4-GPU pod's filter body as it is: a pod of no gang.</summary>
    private static string Single() => File.ReadAllText(Fixtures.PayloadPath("names", "filter-gpu-x4.json"));

    internal static string Uid(int index, string group = "train") => $"uid-{group}-{index}";

    private async Task<JsonElement> FilterAsync(string body) => (await Fixtures.PostAsync(_client, "/filter", body)).Json;

    private async Task<JsonElement> BindAsync(int index, string node, string group = "train") =>
        (await Fixtures.PostAsync(_client, "/bind", JsonSerializer.Serialize(new { PodName = $"{group}-{index}", PodNamespace = "team-b", PodUID = Uid(index, group), Node = node }))).Json;

    private IReadOnlyList<Kaiwo.Scheduling.Requests.PodFacts> Reconcile() =>
        _factory.Services.GetRequiredService<ReservationLoop>().ReconcileIfDue(_factory.Time.GetUtcNow());

    private static string[] Passed(JsonElement filter) => [.. filter.GetProperty("NodeNames").EnumerateArray().Select(n => n.GetString()!)];

    private ClusterState State => _factory.Services.GetRequiredService<ClusterState>();

    [Fact]
    public async Task Filter_GangShortOfMembers_EveryNodeIsFullNowWaitingForTheGang()
    {
        var filter = await FilterAsync(Member(0, size: 2));

        Assert.Empty(Passed(filter));
        var failed = filter.GetProperty("FailedNodes");
        Assert.Equal(12, failed.EnumerateObject().Count());
        Assert.Equal("waiting for gang team-b/train: 1 of 2 members", failed.GetProperty("gpu-node-01").GetString());
        Assert.Empty(filter.GetProperty("FailedAndUnresolvableNodes").EnumerateObject());
    }

    [Fact]
    public async Task Filter_MembersDisagreeOnTheSize_EveryNodeIsUnresolvableForBoth()
    {
        await FilterAsync(Member(0, size: 2));
        var second = await FilterAsync(Member(1, size: 3));
        var first = await FilterAsync(Member(0, size: 2));

        foreach (var filter in new[] { first, second })
        {
            Assert.Empty(Passed(filter));
            Assert.Contains("its members disagree on the size", filter.GetProperty("FailedAndUnresolvableNodes").GetProperty("gpu-node-01").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Filter_GangPlanned_EachMemberPassesOnlyOnItsSlotsNode()
    {
        await FilterAsync(Member(0, size: 2));
        await FilterAsync(Member(1, size: 2));

        var retry = Reconcile();

        Assert.Equal(["team-b/train-0", "team-b/train-1"], retry.Select(p => p.Key));
        var slot = State.Reservations().Select(r => r.Node).Distinct().Single();
        var filter = await FilterAsync(Member(0, size: 2));
        Assert.Equal([slot], Passed(filter));
        var elsewhere = filter.GetProperty("FailedNodes").EnumerateObject().First(p => p.Name != slot).Value.GetString();
        Assert.Equal($"pod team-b/train-0 holds the slot of gang team-b/train on node {slot}", elsewhere);
    }

    [Fact]
    public async Task Bind_MemberToItsSlot_TakesTheSlotsDevices()
    {
        await FilterAsync(Member(0, size: 2));
        await FilterAsync(Member(1, size: 2));
        Reconcile();
        State.TryGetReservation(Uid(0), out var slot);

        var bind = await BindAsync(0, slot!.Node);

        Assert.Equal(string.Empty, bind.GetProperty("Error").GetString() ?? string.Empty);
        State.TryGetPod(Uid(0), out _, out var allocation);
        Assert.True(allocation!.SameAs(slot.Allocation));
        Assert.False(State.TryGetReservation(Uid(0), out _));
        Assert.True(State.TryGetReservation(Uid(1), out _));
    }

    [Fact]
    public async Task Bind_MemberToAnotherNodeThanItsSlot_IsRefused()
    {
        await FilterAsync(Member(0, size: 2));
        await FilterAsync(Member(1, size: 2));
        Reconcile();
        State.TryGetReservation(Uid(0), out var slot);
        var other = slot!.Node == "gpu-node-02" ? "gpu-node-03" : "gpu-node-02";

        var bind = await BindAsync(0, other);

        Assert.Contains($"holds the slot of gang team-b/train on node {slot.Node}", bind.GetProperty("Error").GetString(), StringComparison.Ordinal);
        Assert.True(State.TryGetReservation(Uid(0), out _));
    }

    [Fact]
    public async Task Bind_MemberOfAGangNotPlanned_IsRefusedWithTheGangsReason()
    {
        await FilterAsync(Member(0, size: 2));

        var bind = await BindAsync(0, "gpu-node-01");

        Assert.Contains("waiting for gang team-b/train: 1 of 2 members", bind.GetProperty("Error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Filter_PodOfNoGang_SeesTheReservedDevicesTaken()
    {
        await FilterAsync(Member(0, size: 2));
        await FilterAsync(Member(1, size: 2));
        Reconcile();
        var slot = State.Reservations().Select(r => r.Node).Distinct().Single();

        var filter = await FilterAsync(Single());

        Assert.DoesNotContain(slot, Passed(filter));
        Assert.True(filter.GetProperty("FailedNodes").TryGetProperty(slot, out _));
    }

    [Fact]
    public async Task Inspect_PlannedGang_ListsItsReservationsAndItsState()
    {
        await FilterAsync(Member(0, size: 2));
        await FilterAsync(Member(1, size: 2));
        await FilterAsync(Member(0, size: 3, group: "eval"));
        Reconcile();

        using var doc = JsonDocument.Parse((await Fixtures.GetAsync(_client, "/inspect")).Body);

        var reservations = doc.RootElement.GetProperty("reservations").EnumerateArray().ToList();
        Assert.Equal(["team-b/train-0", "team-b/train-1"], reservations.Select(r => r.GetProperty("pod").GetString()));
        Assert.All(reservations, r => Assert.Equal("gang", r.GetProperty("kind").GetString()));
        Assert.All(reservations, r => Assert.Equal("team-b/train", r.GetProperty("owner").GetString()));
        Assert.All(reservations, r => Assert.Equal(4, r.GetProperty("gpus").GetArrayLength()));
        Assert.All(reservations, r => Assert.Equal(_factory.Time.GetUtcNow().AddSeconds(60), r.GetProperty("expires").GetDateTimeOffset()));
        var gangs = doc.RootElement.GetProperty("gangs").EnumerateArray().ToDictionary(g => g.GetProperty("gang").GetString()!);
        Assert.Equal("reserved", gangs["team-b/train"].GetProperty("state").GetString());
        Assert.Equal(2, gangs["team-b/train"].GetProperty("reserved").GetInt32());
        Assert.Equal("waiting", gangs["team-b/eval"].GetProperty("state").GetString());
        Assert.Equal("waiting for gang team-b/eval: 1 of 3 members", gangs["team-b/eval"].GetProperty("reason").GetString());
    }

    /// <summary>Both members of a 2 × 4-GPU gang bound (to one node, the plan fills it), and a preempt of the captured 1-GPU preemptor (priority 1000) there.</summary>
    private async Task<JsonElement> PreemptPlacedGangAsync(int gangPriority, params int[] victims)
    {
        await FilterAsync(Member(0, size: 2, priority: gangPriority));
        await FilterAsync(Member(1, size: 2, priority: gangPriority));
        Reconcile();
        var node = State.Reservations().Select(r => r.Node).Distinct().Single();
        await BindAsync(0, node);
        await BindAsync(1, node);
        var body = JsonNode.Parse(File.ReadAllText(Fixtures.PayloadPath("names", "preempt-hp-preemptor.json")))!;
        var pods = new JsonArray([.. victims.Select(i => (JsonNode)new JsonObject { ["UID"] = Uid(i) })]);
        body["NodeNameToVictims"] = null;
        body["NodeNameToMetaVictims"] = new JsonObject { [node] = new JsonObject { ["Pods"] = pods, ["NumPDBViolations"] = 0 } };
        var answer = (await Fixtures.PostAsync(_client, "/preempt", body.ToJsonString())).Json;
        return answer.GetProperty("NodeNameToMetaVictims");
    }

    /// <summary>The captured preempt call (victims on three nodes) with member 0 of a gang of <paramref name="size"/> as the preemptor.</summary>
    private async Task<JsonElement> PreemptForMemberAsync(int size)
    {
        await FilterAsync(Member(0, size));
        var body = JsonNode.Parse(File.ReadAllText(Fixtures.PayloadPath("names", "preempt-hp-preemptor.json")))!;
        body["Pod"] = JsonNode.Parse(Member(0, size, priority: 1000))!["Pod"]!.DeepClone();
        return (await Fixtures.PostAsync(_client, "/preempt", body.ToJsonString())).Json.GetProperty("NodeNameToMetaVictims");
    }

    [Fact]
    public async Task Preempt_ForAMemberWhoseGangLacksMembers_OffersNoVictims()
    {
        Assert.Empty((await PreemptForMemberAsync(size: 2)).EnumerateObject());
    }

    [Fact]
    public async Task Preempt_ForAMemberOfACompleteGang_IsJudgedAsAnyPod()
    {
        Assert.NotEmpty((await PreemptForMemberAsync(size: 1)).EnumerateObject());
    }

    [Fact]
    public async Task Preempt_WholeGangOnTheNode_OffersEveryMember()
    {
        var victims = await PreemptPlacedGangAsync(gangPriority: 0, 0, 1);

        var node = Assert.Single(victims.EnumerateObject());
        Assert.Equal([Uid(0), Uid(1)], node.Value.GetProperty("Pods").EnumerateArray().Select(p => p.GetProperty("UID").GetString()));
    }

    [Fact]
    public async Task Preempt_PartOfAGang_DropsTheNode()
    {
        var victims = await PreemptPlacedGangAsync(gangPriority: 0, 0);

        Assert.Empty(victims.EnumerateObject());
    }

    [Fact]
    public async Task Preempt_GangOfHigherPriorityThanThePreemptor_DropsTheNode()
    {
        var victims = await PreemptPlacedGangAsync(gangPriority: 2000, 0, 1);

        Assert.Empty(victims.EnumerateObject());
    }

    [Fact]
    public async Task Reconcile_ReservationPastItsTtl_IsReleasedWholeAndPlannedAfresh()
    {
        await FilterAsync(Member(0, size: 2));
        await FilterAsync(Member(1, size: 2));
        Reconcile();
        var firstExpiry = State.Reservations()[0].Expires;

        // The loop's own timer may run the pass too when the clock moves: either way the expired slots go whole.
        _factory.Time.Advance(TimeSpan.FromSeconds(60));
        Reconcile();

        Assert.Equal(1, _factory.Services.GetRequiredService<Kaiwo.Scheduling.Gangs.GangReconciler>().Book.ReleasedTotal);
        Assert.All(State.Reservations(), r => Assert.True(r.Expires > firstExpiry));
    }
}

/// <summary>The gang metrics of a cluster with one gang placed and one waiting (alone: see <see cref="MetricValues"/>).</summary>
[Collection(nameof(MetricValues))]
public sealed class GangMetricsTests : IAsyncLifetime
{
    private readonly ExtenderFactory _factory = ExtenderFactory.ForMode("names");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _factory.DisposeAsync();

    [Fact]
    public async Task Metrics_GangPlacedAndOneWaiting_CountGangsByStateAndTheReservedGpus()
    {
        using var client = _factory.CreateClient();
        foreach (var body in new[] { GangVerbsTests.Member(0, 2), GangVerbsTests.Member(1, 2), GangVerbsTests.Member(0, 3, "eval") })
        {
            await Fixtures.PostAsync(client, "/filter", body);
        }

        _factory.Services.GetRequiredService<ReservationLoop>().ReconcileIfDue(_factory.Time.GetUtcNow());
        var text = await client.GetStringAsync("/metrics");

        Assert.Contains("kaiwo_gangs{otel_scope_name=\"Kaiwo.Extender\",state=\"reserved\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_gangs{otel_scope_name=\"Kaiwo.Extender\",state=\"waiting\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_gangs_placed_total{otel_scope_name=\"Kaiwo.Extender\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_gangs_released_total{otel_scope_name=\"Kaiwo.Extender\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_gpu_reserved{otel_scope_name=\"Kaiwo.Extender\",kind=\"gang\"} 8\n", text, StringComparison.Ordinal);
    }
}

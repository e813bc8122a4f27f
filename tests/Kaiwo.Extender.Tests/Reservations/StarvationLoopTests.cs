using Kaiwo.Extender.Hosting;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Reservations;

/// <summary>
/// The starvation step wired into the service: the reservation loop runs it, it reserves for a large pod that has
/// waited (gpu-x4 was created 27 minutes before the test clock), /inspect lists it, it names the pod for kube-scheduler
/// to retry once the reservation holds its whole ask, and the pod's bind takes the reserved devices.
/// </summary>
public sealed class StarvationLoopTests
{
    private const string PodUid = "b438e557-b8f8-45c7-af45-c9ee1a9655d7";

    [Fact]
    public async Task ReservationLoop_LargePodWaitedPastReserveAfter_ReservesListsNamesItForRetryAndItsBindTakesTheDevices()
    {
        await using var factory = ExtenderFactory.ForMode("names");
        using var client = factory.CreateClient();
        var state = factory.Services.GetRequiredService<ClusterState>();
        var loop = factory.Services.GetRequiredService<ReservationLoop>();
        Assert.Contains("starving", loop.StepNames);
        await Fixtures.PostPayloadAsync(client, "names", "filter-gpu-x4.json");

        var retry = loop.ReconcileIfDue(factory.Time.GetUtcNow());

        Assert.Equal([PodUid], retry.Select(p => p.Uid));
        Assert.True(state.TryGetReservation(PodUid, out var reservation));
        Assert.Equal((ReservationKind.Starving, "team-b/gpu-x4"), (reservation!.Kind, reservation.Owner));
        var inspect = (await Fixtures.GetAsync(client, "/inspect")).Json.GetProperty("reservations");
        var row = Assert.Single(inspect.EnumerateArray());
        Assert.Equal(("starving", "team-b/gpu-x4", reservation.Node), (row.GetProperty("kind").GetString(), row.GetProperty("owner").GetString(), row.GetProperty("node").GetString()));
        var bind = await Fixtures.PostAsync(client, "/bind", $$"""{"PodName":"gpu-x4","PodNamespace":"team-b","PodUID":"{{PodUid}}","Node":"{{reservation.Node}}"}""");
        Assert.Equal(string.Empty, bind.Json.GetProperty("Error").GetString());
        Assert.True(state.TryGetPod(PodUid, out _, out var allocation));
        Assert.Equal(reservation.Allocation.Gpus.Select(g => g.Index), allocation!.Gpus.Select(g => g.Index));
        Assert.Empty(state.Reservations());
    }
}

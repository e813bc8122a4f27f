using System.Text;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>The names cluster after some traffic, scraped once: the text every metrics test reads.</summary>
public sealed class ScrapedAfterTraffic : ExtenderFixture
{
    public ScrapedAfterTraffic()
        : base(ExtenderFactory.ForMode("names"))
    {
    }

    public string Text { get; private set; } = string.Empty;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Fixtures.PostPayloadAsync(Client, "names", "filter-frac-quarter-xcd.json");
        await Fixtures.PostPayloadAsync(Client, "names", "prioritize-gpu-x4.json");
        using var bind = new StringContent("""{"PodName":"ghost","PodNamespace":"team-a","PodUID":"no-such-uid","Node":"gpu-node-01"}""", Encoding.UTF8, "application/json");
        (await Client.PostAsync("/bind", bind)).Dispose();
        Text = await Client.GetStringAsync("/metrics");
    }
}

/// <summary>/metrics after real traffic: every metric of SPEC §8 that standalone mode has, with its labels.</summary>
public sealed class MetricsTests(ScrapedAfterTraffic scraped) : IClassFixture<ScrapedAfterTraffic>
{
    private Task<string> TrafficThenScrapeAsync() => Task.FromResult(scraped.Text);

    [Fact]
    public async Task Metrics_AfterTraffic_HasRequestDurationPerVerb()
    {
        var text = await TrafficThenScrapeAsync();

        Assert.Contains("# TYPE kaiwo_extender_request_duration_seconds histogram", text, StringComparison.Ordinal);
        foreach (var verb in new[] { "filter", "prioritize", "bind" })
        {
            Assert.Contains($"kaiwo_extender_request_duration_seconds_count{{otel_scope_name=\"Kaiwo.Extender\",verb=\"{verb}\"}}", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Metrics_AfterTraffic_CountsDecisionsByVerbResultAndReasonCode()
    {
        var text = await TrafficThenScrapeAsync();

        Assert.Contains("kaiwo_extender_decisions_total{otel_scope_name=\"Kaiwo.Extender\",reason=\"xcd-needs-partitions\",result=\"unresolvable\",verb=\"filter\"}", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_extender_decisions_total{otel_scope_name=\"Kaiwo.Extender\",reason=\"fits\",result=\"passed\",verb=\"filter\"}", text, StringComparison.Ordinal);
        Assert.Contains("reason=\"fits\",result=\"passed\",verb=\"prioritize\"", text, StringComparison.Ordinal);
        Assert.Contains("reason=\"unknown-pod\",result=\"error\",verb=\"bind\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_AfterTraffic_HasGpuAllocationPerNodeAndBindCounters()
    {
        var text = await TrafficThenScrapeAsync();

        Assert.Contains("kaiwo_gpu_allocated_ratio{otel_scope_name=\"Kaiwo.Extender\",node=\"gpu-node-01\"}", text, StringComparison.Ordinal);
        Assert.DoesNotContain("node=\"cpu-node-01\"", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_pods_assumed{", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_bind_retries_total{", text, StringComparison.Ordinal);
        Assert.Contains("kaiwo_bind_conflicts_total{", text, StringComparison.Ordinal);
        Assert.Contains("service_name=\"kaiwo-scheduler-extender\"", text, StringComparison.Ordinal);
    }
}

/// <summary>The starving reservations gauge counts what the state holds against starvation.</summary>
public sealed class StarvingReservationMetricTests
{
    [Fact]
    public async Task Metrics_StarvingReservationHeld_GaugeCountsIt()
    {
        await using var factory = ExtenderFactory.ForMode("names");
        using var client = factory.CreateClient();
        var state = factory.Services.GetRequiredService<ClusterState>();

        // A pod that starves indeed (4 GPUs, pending for an hour), so that the service's own starvation step keeps it.
        var pod = new PodFacts
        {
            Namespace = "team-a",
            Name = "large",
            Uid = "uid-large",
            SchedulerName = "kaiwo-scheduler",
            CreatedAt = factory.Time.GetUtcNow().AddHours(-1),
            Containers = [new ContainerFacts("main", new Dictionary<string, string> { ["amd.com/gpu"] = "4" }, new Dictionary<string, string>())],
        };
        state.RegisterPending(pod);
        var nothing = new PodAllocation("gpu-node-01", AllocationKind.Shared, GpuIsolation.TimeSlicing, []);
        var held = state.Hold([new Reservation(pod.Uid, pod.Key, "gpu-node-01", nothing, ReservationKind.Starving, pod.Key, factory.Time.GetUtcNow().AddMinutes(5))]);
        Assert.True(held.Held, held.Refusal);

        Assert.Equal("1", await GaugeAsync(client, "1"));
    }

    /// <summary>
    /// The gauge's value as Prometheus scrapes it; scraped again until it shows <paramref name="expected"/> (a scrape
    /// served from the exporter's cache may predate the gauge's first collection), as the conflict gauge's test does.
    /// </summary>
    private static async Task<string?> GaugeAsync(HttpClient client, string expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var match = System.Text.RegularExpressions.Regex.Match(await client.GetStringAsync("/metrics"), "(?m)^kaiwo_reservations_starving\\{[^}]*\\} (?<value>\\d+)$");
            if ((match.Success && match.Groups["value"].Value == expected) || DateTime.UtcNow > deadline)
            {
                return match.Success ? match.Groups["value"].Value : null;
            }

            await Task.Delay(50);
        }
    }
}

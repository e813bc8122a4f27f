using System.Text;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>/metrics after real traffic: every metric of SPEC §8 that standalone mode has, with its labels.</summary>
public sealed class MetricsTests : IClassFixture<NamesCluster>
{
    private readonly NamesCluster _cluster;

    public MetricsTests(NamesCluster cluster) => _cluster = cluster;

    private async Task<string> TrafficThenScrapeAsync()
    {
        await Fixtures.PostPayloadAsync(_cluster.Client, "names", "filter-frac-quarter-xcd.json");
        await Fixtures.PostPayloadAsync(_cluster.Client, "names", "prioritize-gpu-x4.json");
        using var bind = new StringContent("""{"PodName":"ghost","PodNamespace":"team-a","PodUID":"no-such-uid","Node":"gpu-node-01"}""", Encoding.UTF8, "application/json");
        (await _cluster.Client.PostAsync("/bind", bind)).Dispose();
        return await _cluster.Client.GetStringAsync("/metrics");
    }

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

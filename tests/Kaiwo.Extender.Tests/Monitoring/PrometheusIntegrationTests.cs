using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Kaiwo.Extender.Tests.FakeApiServer;
using Kaiwo.Extender.Tests.Live;
using Kaiwo.Extender.Tests.Verbs;
using static Kaiwo.Extender.Tests.Live.LiveObjects;

namespace Kaiwo.Extender.Tests.Monitoring;

/// <summary>
/// The real extender in live mode (against the fake API server, so that the informers exist) on a real Kestrel port,
/// scraped every second by a real Prometheus that also evaluates the alert rules. Traffic: two queues with running and
/// waiting pods, a filter, a prioritize, a bind retried after a 500, a bind of an unknown pod, and a node deleted under
/// a running pod. Started by the first test that needs it (a missing prometheus then skips that test). An
/// <see cref="IAsyncLifetime"/>, which xunit 2 disposes; it does not dispose a fixture that is only an
/// <see cref="IAsyncDisposable"/>, and the Prometheus server outlived the test run.
/// </summary>
public sealed class ScrapedLiveExtender : IAsyncLifetime
{
    /// <summary>The starvation alert of the queue whose pod waits, pending (its for: has not elapsed).</summary>
    internal const string StarvedTeamB = "ALERTS{alertname=\"KaiwoQueueStarved\", alertstate=\"pending\", queue=\"team-b\"}";

    private static readonly string[] FilteredNodes = ["gpu-node-1", "gpu-node-2"];
    private readonly Lock _gate = new();
    private Task<RealPrometheus>? _started;
    private FakeKubeApiServer? _server;
    private LiveExtender? _extender;
    private RealPrometheus? _prometheus;

    /// <summary>Starts everything once; a failed start fails every test that asks, without starting again.</summary>
    internal Task<RealPrometheus> StartAsync()
    {
        lock (_gate)
        {
            return _started ??= StartOnceAsync();
        }
    }

    private async Task<RealPrometheus> StartOnceAsync()
    {
        PrometheusTools.Require("prometheus");
        _server = await FakeKubeApiServer.StartAsync();
        foreach (var node in new[] { "gpu-node-1", "gpu-node-2", "gpu-node-3" })
        {
            _server.CreateNode(Mi300X(node));
        }

        _server.CreateQueue(Queue("team-a"));
        _server.CreateQueue(Queue("team-b"));
        _server.CreatePod(InQueue(Running("a-running", "gpu-node-1", gpu: 0, milli: 250), "team-a"));
        _server.CreatePod(InQueue(Running("a-on-gone-node", "gpu-node-3", gpu: 2, milli: 500), "team-a"));
        var waiting = _server.CreatePod(InQueue(Fraction("b-waiting", "0.5"), "team-b"));

        _extender = await LiveExtender.StartAsync(_server, kestrel: true);
        // Prometheus scrapes the metrics listener, as the Service does; the verbs go to the verbs listener.
        var address = _extender.Factory.Address(Kaiwo.Extender.Hosting.Listener.Metrics);
        var prometheus = _prometheus = await RealPrometheus.StartAsync(MonitoringFiles.Job, address, [MonitoringFiles.RulesFile]);
        await prometheus.EventuallyAsync(
            async () => (await prometheus.QueryAsync($"up{{job=\"{MonitoringFiles.Job}\"}} == 1")).GetArrayLength() == 1,
            async () => (await prometheus.GetDataAsync("api/v1/targets")).ToString());

        // Before its pod is placed, the waiting queue holds nothing of its fair share: the real rule must see it starved
        // (it can only match through the queue's allocated series of 0).
        await prometheus.EventuallyAsync(
            async () => (await prometheus.QueryAsync(StarvedTeamB)).GetArrayLength() == 1,
            async () => (await prometheus.QueryAsync("{__name__=~\"kaiwo_queue_.*\", queue=\"team-b\"}")).ToString());

        // The traffic comes after the first scrape, so that rates see it happen.
        _server.DeleteNode("gpu-node-3");
        var filter = JsonSerializer.Serialize(new { Pod = JsonNode.Parse(KubernetesJson.Serialize(waiting)), NodeNames = FilteredNodes });
        Assert.Equal(200, (int)(await Fixtures.PostAsync(_extender.Client, "/filter", filter)).Status);
        Assert.Equal(200, (int)(await Fixtures.PostAsync(_extender.Client, "/prioritize", filter)).Status);
        _server.InjectFault(FakeRoute.BindPod, Fault.ServerError());
        Assert.Equal(string.Empty, await _extender.BindAsync(waiting, "gpu-node-2"));
        var ghost = Fraction("ghost", "0.25");
        ghost.Metadata.Uid = "no-such-uid";
        Assert.NotEqual(string.Empty, await _extender.BindAsync(ghost, "gpu-node-1"));
        return prometheus;
    }

    private static JsonObject Queue(string name) => new()
    {
        ["apiVersion"] = "kaiwo.ai/v1alpha2",
        ["kind"] = "KaiwoQueue",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["spec"] = new JsonObject { ["resources"] = new JsonObject { ["gpu"] = new JsonObject { ["quota"] = 4 } } },
    };

    private static V1Pod Running(string name, string node, int gpu, int milli) =>
        Pod(name, new() { ["kaiwo.ai/gpu-allocation"] = $$"""{"version":1,"node":"{{node}}","kind":"shared","isolation":"time-slicing","gpus":[{"index":{{gpu}},"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[{{gpu}}],"computeMilli":{{milli}},"memoryMiB":{{milli * 192}}}]}""" }, node: node);

    private static V1Pod InQueue(V1Pod pod, string queue)
    {
        pod.Metadata.Labels = new Dictionary<string, string> { ["kaiwo.ai/queue"] = queue };
        return pod;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Stops what started, also when the start failed part way.</summary>
    public async Task DisposeAsync()
    {
        if (_prometheus is not null)
        {
            await _prometheus.DisposeAsync();
        }

        if (_extender is not null)
        {
            await _extender.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
/// <summary>The dashboard's queries and the alert rules, run by a real Prometheus on the real extender's metrics.</summary>
[Collection(nameof(MetricValues))]
public sealed class PrometheusIntegrationTests(ScrapedLiveExtender scraped) : IClassFixture<ScrapedLiveExtender>
{
    /// <summary>What Grafana would put for the variables: the job scraped here; $__rate_interval as for a 1 s scrape with margin.</summary>
    private static readonly Dictionary<string, string> Variables = new(StringComparer.Ordinal) { ["job"] = MonitoringFiles.Job };

    [SkippableFact]
    public async Task Dashboard_EveryQuery_ReturnsSeriesFromARealPrometheusScrapingTheExtender()
    {
        var prometheus = await scraped.StartAsync();
        var dashboard = MonitoringFiles.Dashboard;
        var queries = MonitoringFiles.Queries(dashboard)
            .Select(q => (Query: q, PromQl: MonitoringFiles.Substitute(dashboard, q.Expr, "30s", Variables)))
            .ToList();
        var answers = new Dictionary<DashboardQuery, string>();

        await prometheus.EventuallyAsync(
            async () =>
            {
                var empty = 0;
                foreach (var (query, promql) in queries)
                {
                    // A refused query throws here at once: waiting does not mend a parse error.
                    var result = await prometheus.QueryAsync(promql);
                    answers[query] = result.ToString();
                    empty += result.GetArrayLength() == 0 ? 1 : 0;
                }

                return empty == 0;
            },
            () => Task.FromResult("queries without series:\n" + string.Join("\n", answers.Where(a => a.Value == "[]").Select(a => a.Key))));

        Assert.Equal(26, queries.Count);
    }

    [SkippableFact]
    public async Task Rules_OnTheRealExtendersMetrics_EvaluateCleanlyAndFireOnlyOnWhatIsWrong()
    {
        var prometheus = await scraped.StartAsync();
        var names = MonitoringFiles.Alerts.Select(a => (string)a["alert"]!).Order(StringComparer.Ordinal).ToList();

        // The waiting pod's queue is below its fair share until the bind places it: poll until the rules settle.
        await prometheus.EventuallyAsync(
            async () =>
            {
                var rules = await RulesAsync(prometheus);
                return rules.Count == names.Count && rules.All(r => r.Health == "ok")
                    && rules.All(r => r.State == (r.Name == "KaiwoGpusOnMissingNodes" ? "pending" : "inactive"));
            },
            async () => "expected every rule healthy, KaiwoGpusOnMissingNodes pending and every other alert inactive:\n"
                + string.Join("\n", await RulesAsync(prometheus)));

        Assert.Equal(names, (await RulesAsync(prometheus)).Select(r => r.Name).Order(StringComparer.Ordinal));
        // ... and before the bind the waiting queue's starvation alert was pending (the fixture waited for it).
        Assert.Equal(1, (await prometheus.QueryAsync($"max_over_time({ScrapedLiveExtender.StarvedTeamB}[10m])")).GetArrayLength());
    }

    [SkippableFact]
    public async Task Query_ABrokenExpressionAndAMetricTheExtenderLacks_AreRefusedAndEmpty()
    {
        // What makes the dashboard test mean something: a query Prometheus cannot parse throws, one naming a metric
        // that is not exported returns no series.
        var prometheus = await scraped.StartAsync();

        var refused = await Assert.ThrowsAsync<PrometheusQueryException>(() => prometheus.QueryAsync("sum(rate(kaiwo_extender_decisions_total[30s])"));
        var unknown = await prometheus.QueryAsync($"max by (node) (kaiwo_gpu_allocated_ratios{{job=\"{MonitoringFiles.Job}\"}})");

        Assert.Contains("bad_data", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, unknown.GetArrayLength());
    }

    private static async Task<List<(string Name, string Health, string State, string Error)>> RulesAsync(RealPrometheus prometheus)
    {
        var data = await prometheus.GetDataAsync("api/v1/rules");
        return [.. data.GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Where(r => r.GetProperty("type").GetString() == "alerting")
            .Select(r => (
                r.GetProperty("name").GetString()!,
                r.GetProperty("health").GetString()!,
                r.GetProperty("state").GetString()!,
                r.TryGetProperty("lastError", out var e) ? e.GetString() ?? string.Empty : string.Empty))];
    }
}

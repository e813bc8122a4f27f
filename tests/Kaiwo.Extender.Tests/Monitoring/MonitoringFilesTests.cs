using System.Text.Json.Nodes;
using Kaiwo.Extender.Tests.Deployment;
using static Kaiwo.Extender.Tests.Monitoring.MonitoringFiles;

namespace Kaiwo.Extender.Tests.Monitoring;

/// <summary>
/// manifests/monitoring/ read as text: each copy equal to its source (manifests/monitoring/sync.sh writes them), the
/// dashboard's panels and variables well formed, every alert tested and explained, and names that point at each other.
/// What only Prometheus can judge is in <see cref="PromtoolTests"/> and <see cref="PrometheusIntegrationTests"/>.
/// </summary>
public sealed class MonitoringFilesTests
{
    private static readonly string[] Severities = ["critical", "warning"];

    [Fact]
    public void PrometheusRule_Spec_HoldsTheSameGroupsAsTheRulesFile()
    {
        var rule = Single("prometheusrule.yaml");

        Assert.Equal("monitoring.coreos.com/v1", (string?)rule["apiVersion"]);
        Assert.Equal("PrometheusRule", (string?)rule["kind"]);
        Assert.True(
            JsonNode.DeepEquals(Rules["groups"], rule["spec"]!["groups"]),
            "prometheusrule.yaml differs from kaiwo-extender.rules.yaml: run manifests/monitoring/sync.sh");
    }

    [Fact]
    public void DashboardConfigMap_Data_IsTheDashboardFileAsIs()
    {
        var configMap = Single("grafana-dashboard.configmap.yaml");
        var embedded = (string)configMap["data"]!["kaiwo-scheduler-extender.json"]!;

        Assert.Equal("ConfigMap", (string?)configMap["kind"]);
        Assert.True(
            embedded == File.ReadAllText(DashboardFile),
            "grafana-dashboard.configmap.yaml does not embed kaiwo-scheduler-extender.dashboard.json as it is: run manifests/monitoring/sync.sh");
        Assert.True(JsonNode.DeepEquals(Dashboard, JsonNode.Parse(embedded)));
    }

    [Fact]
    public void DashboardConfigMap_Labels_AreTheGrafanaSidecarConvention()
    {
        var labels = Single("grafana-dashboard.configmap.yaml")["metadata"]!["labels"]!;

        // Quoted: a label value is a string, and the sidecar matches the string "1".
        Assert.Equal("1", (string?)labels["grafana_dashboard"]);
    }

    [Fact]
    public void Dashboard_Panels_HaveUniqueIdsAndEveryQueryPanelAPrometheusQuery()
    {
        var dashboard = Dashboard;
        var panels = Panels(dashboard).ToList();

        Assert.Equal(panels.Count, panels.Select(p => (int)p["id"]!).Distinct().Count());
        Assert.All(panels.Where(p => (string?)p["type"] != "row"), p =>
        {
            var targets = p["targets"]!.AsArray();
            Assert.NotEmpty(targets);
            Assert.All(targets, t => Assert.False(string.IsNullOrWhiteSpace((string?)t!["expr"]), $"{p["title"]}: a target without expr"));
            Assert.Equal("${datasource}", (string?)p["datasource"]!["uid"]);
        });
        Assert.Equal(targetsCount(panels), Queries(dashboard).Count);

        static int targetsCount(List<JsonObject> panels) => panels.Sum(p => p["targets"]?.AsArray().Count ?? 0);
    }

    [Fact]
    public void Dashboard_EveryVariableAQueryUses_IsDefined()
    {
        var dashboard = Dashboard;
        var values = new Dictionary<string, string> { ["job"] = Job };

        Assert.All(Queries(dashboard), q => Assert.Empty(Variables(Substitute(dashboard, q.Expr, "1m", values))));
    }

    [Fact]
    public void Dashboard_Panels_CoverWhatTheIssueAsksFor()
    {
        var exprs = string.Join("\n", Queries(Dashboard).Select(q => q.Expr));

        foreach (var metric in new[]
        {
            "kaiwo_gpu_allocated_ratio", "kaiwo_gpu_allocated", "kaiwo_gpu_capacity", "kaiwo_gpu_stranded", "kaiwo_gpu_free_whole",
            "kaiwo_gpu_orphaned", "kaiwo_extender_decisions_total", "kaiwo_extender_request_duration_seconds_bucket",
            "kaiwo_bind_retries_total", "kaiwo_bind_conflicts_total", "kaiwo_informer_synced", "kaiwo_informer_events_total",
            "kaiwo_informer_lists_total", "kaiwo_pods_assumed", "kaiwo_queue_allocated", "kaiwo_queue_fair_share", "kaiwo_queue_demand",
            "kaiwo_extender_ready", "kaiwo_gpu_conflicts",
        })
        {
            Assert.Contains(metric + "{", exprs, StringComparison.Ordinal);
        }

        Assert.Contains("histogram_quantile(0.5,", exprs, StringComparison.Ordinal);
        Assert.Contains("histogram_quantile(0.99,", exprs, StringComparison.Ordinal);
    }

    [Fact]
    public void Alerts_Each_HasSeveritySummaryAndDescription()
    {
        Assert.Equal(10, Alerts.Count);
        Assert.All(Alerts, a =>
        {
            Assert.Contains((string?)a["labels"]?["severity"], Severities);
            Assert.False(string.IsNullOrWhiteSpace((string?)a["annotations"]?["summary"]), $"{a["alert"]}: summary");
            Assert.False(string.IsNullOrWhiteSpace((string?)a["annotations"]?["description"]), $"{a["alert"]}: description");
        });
    }

    [Fact]
    public void Alerts_Each_HasARunbookLineInTheReadme()
    {
        var readme = File.ReadAllLines(Path.Combine(DeploymentFiles.Root, "README.md"));

        Assert.All(Alerts, a =>
        {
            var name = (string)a["alert"]!;
            Assert.True(
                readme.Any(line => line.StartsWith($"| `{name}` |", StringComparison.Ordinal) && line.Length > name.Length + 40),
                $"README.md has no runbook row for {name} (a table row starting | `{name}` |)");
        });
    }

    [Fact]
    public void AlertUnitTests_EveryAlert_IsTestedFiringAndNotFiring()
    {
        var tests = DeploymentFiles.Load(AlertTestsFile).Single().Root;
        var cases = tests["tests"]!.AsArray().SelectMany(t => t!["alert_rule_test"]!.AsArray()).ToList();

        Assert.Equal("../../../manifests/monitoring/kaiwo-extender.rules.yaml", (string?)tests["rule_files"]![0]);
        Assert.All(Alerts, a =>
        {
            var name = (string)a["alert"]!;
            var mine = cases.Where(c => (string?)c!["alertname"] == name).ToList();
            Assert.True(mine.Any(c => c!["exp_alerts"]!.AsArray().Count > 0), $"{name}: no test where it fires");
            Assert.True(mine.Any(c => c!["exp_alerts"]!.AsArray().Count == 0), $"{name}: no test where it does not fire");
        });
    }

    [Fact]
    public void Alerts_UpSelectors_NameTheJobTheServiceMonitorGives()
    {
        // The Prometheus Operator names the job after the Service; the Service is the one the ServiceMonitor selects.
        var service = DeploymentFiles.Single("Service", Job).Root;
        var monitor = Single("servicemonitor.yaml");
        var selector = monitor["spec"]!["selector"]!["matchLabels"]!.AsObject();

        Assert.All(selector, kv => Assert.Equal((string?)kv.Value, (string?)service["metadata"]!["labels"]![kv.Key]));
        Assert.All(Alerts.Where(a => ((string)a["expr"]!).Contains("up{", StringComparison.Ordinal)), a =>
            Assert.Contains($"up{{job=\"{Job}\"}}", (string)a["expr"]!, StringComparison.Ordinal));
    }

    [Fact]
    public void ServiceMonitor_Port_IsANamedPortOfTheMetricsService()
    {
        var ports = DeploymentFiles.Single("Service", Job).Root["spec"]!["ports"]!.AsArray().Select(p => (string?)p!["name"]);
        var endpoint = Single("servicemonitor.yaml")["spec"]!["endpoints"]![0]!;

        Assert.Contains((string?)endpoint["port"], ports);
        Assert.Equal("/metrics", (string?)endpoint["path"]);
    }

    [Fact]
    public void Kustomization_Component_ListsEveryManifestOfTheFolder()
    {
        var kustomization = Single("kustomization.yaml");
        var listed = kustomization["resources"]!.AsArray().Select(r => (string)r!).Order(StringComparer.Ordinal);
        var manifests = System.IO.Directory.GetFiles(MonitoringFiles.Directory, "*.yaml")
            .Select(Path.GetFileName)
            .Where(f => f is not "kustomization.yaml" and not "kaiwo-extender.rules.yaml")
            .Order(StringComparer.Ordinal);

        Assert.Equal("Component", (string?)kustomization["kind"]);
        Assert.Equal(manifests, listed);
    }
}

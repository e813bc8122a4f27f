using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Kaiwo.Extender.Tests.Deployment;

namespace Kaiwo.Extender.Tests.Monitoring;

/// <summary>One query of a dashboard panel, with where it is for messages.</summary>
internal sealed record DashboardQuery(string Panel, string RefId, string Expr)
{
    public override string ToString() => $"panel \"{Panel}\" {RefId}: {Expr}";
}

/// <summary>The files of <c>manifests/monitoring/</c> and the promtool unit tests, read from the repository.</summary>
internal static partial class MonitoringFiles
{
    public static string Directory => Path.Combine(DeploymentFiles.Root, "manifests", "monitoring");

    public static string RulesFile => Path.Combine(Directory, "kaiwo-extender.rules.yaml");

    public static string DashboardFile => Path.Combine(Directory, "kaiwo-scheduler-extender.dashboard.json");

    /// <summary>The promtool unit tests of the alerts, in the source tree (their rule_files path is relative to it).</summary>
    public static string AlertTestsFile => Path.Combine(DeploymentFiles.Root, "tests", "Kaiwo.Extender.Tests", "Monitoring", "alerts.test.yaml");

    /// <summary>The scrape job the alerts select and the ServiceMonitor gives: the metrics Service's name.</summary>
    public const string Job = "kaiwo-scheduler-metrics";

    public static JsonObject Single(string file) => DeploymentFiles.Load(Path.Combine(Directory, file)).Single().Root;

    public static JsonObject Rules => DeploymentFiles.Load(RulesFile).Single().Root;

    public static JsonObject Dashboard => JsonNode.Parse(File.ReadAllText(DashboardFile))!.AsObject();

    /// <summary>Every alerting rule of the rules file.</summary>
    public static IReadOnlyList<JsonObject> Alerts =>
        [.. Rules["groups"]!.AsArray().SelectMany(g => g!["rules"]!.AsArray()).Select(r => r!.AsObject()).Where(r => r["alert"] is not null)];

    /// <summary>Every query of every panel, rows' nested panels included.</summary>
    public static IReadOnlyList<DashboardQuery> Queries(JsonObject dashboard) =>
        [.. Panels(dashboard).SelectMany(p => (p["targets"]?.AsArray() ?? []).Select(t => new DashboardQuery((string)p["title"]!, (string)t!["refId"]!, (string)t["expr"]!)))];

    public static IEnumerable<JsonObject> Panels(JsonObject dashboard) =>
        dashboard["panels"]!.AsArray().Select(p => p!.AsObject()).SelectMany(p => new[] { p }.Concat((p["panels"]?.AsArray() ?? []).Select(n => n!.AsObject())));

    /// <summary>
    /// A panel's query as Grafana sends it to Prometheus: <c>$__rate_interval</c> becomes <paramref name="rateInterval"/>;
    /// each templating variable its value (<paramref name="values"/>), else its "All" value, else its current value.
    /// </summary>
    public static string Substitute(JsonObject dashboard, string expr, string rateInterval, IReadOnlyDictionary<string, string> values)
    {
        var text = expr.Replace("$__rate_interval", rateInterval, StringComparison.Ordinal);
        foreach (var variable in dashboard["templating"]!["list"]!.AsArray())
        {
            var name = (string)variable!["name"]!;
            var value = values.TryGetValue(name, out var given) ? given
                : (bool?)variable["includeAll"] == true ? (string?)variable["allValue"]
                : variable["current"]?["value"] is JsonValue current ? (string?)current : null;
            if (value is not null)
            {
                text = text.Replace("${" + name + "}", value, StringComparison.Ordinal).Replace("$" + name, value, StringComparison.Ordinal);
            }
        }

        return text;
    }

    /// <summary>Names the queries use that look like Grafana variables: what is left after substitution.</summary>
    public static IReadOnlyList<string> Variables(string expr) => [.. VariablePattern().Matches(expr).Select(m => m.Value)];

    [GeneratedRegex(@"\$\{?\w+\}?")]
    private static partial Regex VariablePattern();
}

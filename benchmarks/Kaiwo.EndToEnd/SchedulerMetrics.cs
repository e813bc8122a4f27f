using System.Globalization;
using System.Net.Http.Headers;

namespace Kaiwo.EndToEnd;

/// <summary>
/// Where kube-scheduler's own time went, from its histograms on /metrics (secure port, the admin token): each
/// scheduling attempt, the algorithm inside it (filter and score, the extender's filter and prioritize calls
/// included), and each extension point of the framework. Read before and after a placement, the difference over the
/// pods placed says what a pod cost the scheduling cycle, with the extender and without.
/// </summary>
internal static class SchedulerMetrics
{
    private static readonly (string Metric, string Label)[] Histograms =
    [
        ("scheduler_scheduling_attempt_duration_seconds", "attempt"),
        ("scheduler_scheduling_algorithm_duration_seconds", "algorithm"),
        ("scheduler_framework_extension_point_duration_seconds", "extension_point"),
    ];

    /// <summary>Seconds summed, by series: <c>attempt</c>, <c>algorithm</c>, or the extension point's name.</summary>
    public static async Task<Dictionary<string, double>> ReadAsync(int port, string tokenFile)
    {
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"https://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/metrics"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(tokenFile)).Trim());
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return Parse(await response.Content.ReadAsStringAsync());
    }

    public static Dictionary<string, double> Parse(string metrics)
    {
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in metrics.Split('\n'))
        {
            foreach (var (metric, label) in Histograms)
            {
                if (!line.StartsWith(metric + "_sum", StringComparison.Ordinal))
                {
                    continue;
                }

                var key = label == "extension_point" ? MetricsText.Label(line, label) : label;
                if (key.Length > 0)
                {
                    sums[key] = sums.GetValueOrDefault(key) + MetricsText.Value(line);
                }
            }
        }

        return sums;
    }

    public static Dictionary<string, double> Between(IReadOnlyDictionary<string, double> before, IReadOnlyDictionary<string, double> after) =>
        after.ToDictionary(a => a.Key, a => a.Value - before.GetValueOrDefault(a.Key), StringComparer.Ordinal);
}

namespace Kaiwo.EndToEnd;

/// <summary>
/// The requests kube-apiserver served, by verb and resource, from its own <c>apiserver_request_total</c> counter:
/// what every client of the run (kube-scheduler, the extender, the harness) asked of it, so that two runs show which
/// requests the extender adds per pod.
/// </summary>
internal static class ApiRequests
{
    private const string Counter = "apiserver_request_total{";

    public static async Task<Dictionary<string, long>> ReadAsync(k8s.Kubernetes client, string tokenFile)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, "metrics"));
        request.Headers.Authorization = new("Bearer", (await File.ReadAllTextAsync(tokenFile)).Trim());
        using var response = await client.HttpClient.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>Sums the counter's series by <c>verb resource[/subresource]</c>, over codes and the rest.</summary>
    public static Dictionary<string, long> Parse(string metrics)
    {
        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in metrics.Split('\n'))
        {
            if (!line.StartsWith(Counter, StringComparison.Ordinal))
            {
                continue;
            }

            var verb = MetricsText.Label(line, "verb");
            var resource = MetricsText.Label(line, "resource");
            var subresource = MetricsText.Label(line, "subresource");
            var key = subresource.Length > 0 ? $"{verb} {resource}/{subresource}" : $"{verb} {resource}";
            var value = (long)MetricsText.Value(line);
            totals[key] = totals.GetValueOrDefault(key) + value;
        }

        return totals;
    }

    /// <summary>The requests of each kind made between two readings.</summary>
    public static Dictionary<string, long> Between(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after) =>
        after.Select(a => (a.Key, Count: a.Value - before.GetValueOrDefault(a.Key)))
            .Where(a => a.Count > 0)
            .ToDictionary(a => a.Key, a => a.Count, StringComparer.Ordinal);
}

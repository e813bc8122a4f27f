using System.Globalization;

namespace Kaiwo.EndToEnd;

/// <summary>
/// One sample line of the Prometheus text format (<c>name{label="value",...} value [timestamp]</c>), as the extender,
/// kube-apiserver and kube-scheduler serve it on /metrics: its labels and its value.
/// </summary>
internal static class MetricsText
{
    /// <summary>The value of label <paramref name="name"/> of the sample; empty when it has none.</summary>
    public static string Label(string line, string name)
    {
        var open = line.IndexOf('{', StringComparison.Ordinal);
        var close = line.LastIndexOf('}');
        if (open < 0 || close < open)
        {
            return "";
        }

        var labels = line[(open + 1)..close];
        var start = labels.IndexOf($"{name}=\"", StringComparison.Ordinal);
        // A label's own name, not the end of a longer one (resource in subresource).
        while (start > 0 && labels[start - 1] != ',')
        {
            start = labels.IndexOf($"{name}=\"", start + 1, StringComparison.Ordinal);
        }

        if (start < 0)
        {
            return "";
        }

        start += name.Length + 2;
        return labels[start..labels.IndexOf('"', start)];
    }

    /// <summary>The sample's value: the first field after its name and labels (a timestamp after it is not read).</summary>
    public static double Value(string line)
    {
        var close = line.LastIndexOf('}');
        var rest = line[(close < 0 ? line.IndexOf(' ', StringComparison.Ordinal) : close + 1)..].Trim();
        return double.Parse(rest.Split(' ')[0], CultureInfo.InvariantCulture);
    }
}

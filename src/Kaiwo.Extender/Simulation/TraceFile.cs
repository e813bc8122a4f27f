using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Simulation;
using Kaiwo.Scheduling.Units;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Kaiwo.Extender.Simulation;

/// <summary>A trace file that cannot be replayed: the message names the file, the line, the field and the value.</summary>
internal sealed class TraceFileException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The workload trace format, YAML or JSON (JSON is read as YAML, so both give line numbers):
/// <code>
/// horizon: 24h                # optional; default: the last arrival
/// pods:
/// - name: research-00001      # unique within its namespace
///   namespace: research       # optional, default "default"
///   arrival: 125              # seconds from the start, or a duration: 2m5s
///   duration: 1h30m           # how long it runs once placed
///   queue: research           # the kaiwo.ai/queue label (optional)
///   priority: 0               # pod priority (optional)
///   annotations: {kaiwo.ai/gpu-fraction: "0.25"}
///   resources: {amd.com/gpu: "1", cpu: "4", memory: 16Gi}   # one container's requests
///   nodeSelector: {amd.com/gpu.compute-memory-partition: spx_nps1}   # kube-scheduler's, before the extender (optional)
/// </code>
/// </summary>
internal static partial class TraceFile
{
    private static readonly string[] PodFields = ["name", "namespace", "uid", "arrival", "duration", "queue", "priority", "labels", "annotations", "resources", "nodeSelector", "schedulerName"];
    private static readonly string[] RootFields = ["horizon", "pods", "generator"];
    private const string DurationAccepted = "a duration of at least 0: seconds (90, 1.5) or with units ms, s, m, h, d (90s, 1h30m)";

    public static Trace Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TraceFileException($"trace {path}: cannot be read ({ex.Message})", ex);
        }

        return Parse(text, path);
    }

    public static Trace Parse(string text, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw new TraceFileException($"trace {source} line {ex.Start.Line}: not valid YAML or JSON: {ex.Message}", ex);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new TraceFileException($"trace {source}: expected one mapping with a \"pods\" list (and optionally \"horizon\"); see the README's Simulator section");
        }

        Fail fail = (node, field, message) => new TraceFileException($"trace {source} line {node.Start.Line}: {field}: {message}");
        CheckFields(root, RootFields, "trace", fail);
        TimeSpan? horizon = null;
        if (Child(root, "horizon") is { } h)
        {
            horizon = Duration(h, "horizon", fail);
        }

        if (Child(root, "pods") is not YamlSequenceNode pods)
        {
            throw new TraceFileException($"trace {source}: \"pods\" is missing or not a list");
        }

        var result = new List<TracePod>(pods.Children.Count);
        var keys = new Dictionary<string, int>(StringComparer.Ordinal);
        var index = 0;
        foreach (var item in pods)
        {
            var where = $"pods[{index}]";
            if (item is not YamlMappingNode pod)
            {
                throw fail(item, where, "is not a mapping with name, arrival and duration");
            }

            var tracePod = ReadPod(pod, where, fail);
            if (keys.TryGetValue(tracePod.Pod.Key, out var first))
            {
                throw fail(pod, $"{where}.name", $"\"{tracePod.Pod.Key}\" is not accepted; pods[{first}] has the same namespace/name, and names must be unique");
            }

            keys[tracePod.Pod.Key] = index;
            result.Add(tracePod);
            index++;
        }

        return new Trace(result, horizon);
    }

    private delegate TraceFileException Fail(YamlNode node, string field, string message);

    private static TracePod ReadPod(YamlMappingNode pod, string where, Fail fail)
    {
        CheckFields(pod, PodFields, where, fail);
        var name = RequiredString(pod, "name", where, fail);
        if (!DnsName().IsMatch(name))
        {
            throw fail(pod, $"{where}.name", $"\"{name}\" is not accepted; a Kubernetes name: lower-case letters, digits, '-' and '.', at most 253 characters");
        }

        var ns = OptionalString(pod, "namespace", where, fail) ?? "default";
        var arrival = Duration(Child(pod, "arrival") ?? throw fail(pod, $"{where}.arrival", $"is missing; {DurationAccepted}"), $"{where}.arrival", fail);
        var duration = Duration(Child(pod, "duration") ?? throw fail(pod, $"{where}.duration", $"is missing; {DurationAccepted}"), $"{where}.duration", fail);
        var labels = StringMap(pod, "labels", where, fail);
        if (OptionalString(pod, "queue", where, fail) is { } queue)
        {
            labels[WellKnown.QueueLabel] = queue;
        }

        var priority = 0;
        if (Child(pod, "priority") is { } p)
        {
            if (p is not YamlScalarNode { Value: { } text } || !int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out priority))
            {
                throw fail(p, $"{where}.priority", $"\"{ScalarText(p)}\" is not accepted; a whole number (pod priority, e.g. 0 or 1000)");
            }
        }

        var resources = StringMap(pod, "resources", where, fail);
        foreach (var (resource, quantity) in resources)
        {
            if (!Quantity.TryParse(quantity, out var num, out _) || num < 0)
            {
                throw fail(Child(pod, "resources")!, $"{where}.resources.{resource}", $"\"{quantity}\" is not accepted; a Kubernetes quantity of at least 0 (1, 500m, 16Gi)");
            }
        }

        var facts = new PodFacts
        {
            Namespace = ns,
            Name = name,
            Uid = OptionalString(pod, "uid", where, fail) ?? $"{ns}/{name}",
            Labels = labels,
            Annotations = StringMap(pod, "annotations", where, fail),
            Containers = [new ContainerFacts("main", resources, new Dictionary<string, string>())],
            Priority = priority,
            SchedulerName = OptionalString(pod, "schedulerName", where, fail),
        };
        var selector = StringMap(pod, "nodeSelector", where, fail);
        return new TracePod(facts, arrival, duration, selector.Count == 0 ? null : selector);
    }

    private static void CheckFields(YamlMappingNode node, string[] accepted, string where, Fail fail)
    {
        foreach (var key in node.Children.Keys)
        {
            var name = key is YamlScalarNode scalar ? scalar.Value ?? string.Empty : "(not a plain key)";
            if (!accepted.Contains(name, StringComparer.Ordinal))
            {
                throw fail(key, where, $"unknown field \"{name}\"; accepted fields are {string.Join(", ", accepted)}");
            }
        }
    }

    private static YamlNode? Child(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static string RequiredString(YamlMappingNode node, string key, string where, Fail fail) =>
        OptionalString(node, key, where, fail) is { Length: > 0 } value ? value : throw fail(node, $"{where}.{key}", "is missing or empty");

    private static string? OptionalString(YamlMappingNode node, string key, string where, Fail fail) => Child(node, key) switch
    {
        null => null,
        YamlScalarNode scalar => scalar.Value,
        var other => throw fail(other, $"{where}.{key}", "is not accepted; a plain value, not a list or mapping"),
    };

    private static Dictionary<string, string> StringMap(YamlMappingNode node, string key, string where, Fail fail)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (Child(node, key))
        {
            case null:
                return result;
            case YamlMappingNode map:
                foreach (var (k, v) in map.Children)
                {
                    if (k is not YamlScalarNode { Value: { Length: > 0 } name } || v is not YamlScalarNode value)
                    {
                        throw fail(k, $"{where}.{key}", "is not accepted; a mapping of names to plain values");
                    }

                    result[name] = value.Value ?? string.Empty;
                }

                return result;
            case var other:
                throw fail(other, $"{where}.{key}", "is not accepted; a mapping of names to plain values");
        }
    }

    private static string ScalarText(YamlNode node) => node is YamlScalarNode scalar ? scalar.Value ?? string.Empty : node.NodeType.ToString().ToLowerInvariant();

    /// <summary>Seconds (90, 1.5) or a duration with units (90s, 1h30m, 1.5h, 500ms, 2d).</summary>
    private static TimeSpan Duration(YamlNode node, string field, Fail fail)
    {
        var text = ScalarText(node);
        if (TryParseDuration(text, out var value))
        {
            return value;
        }

        throw fail(node, field, $"\"{text}\" is not accepted; {DurationAccepted}");
    }

    public static bool TryParseDuration(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds))
        {
            if (!double.IsFinite(seconds) || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
            {
                return false;
            }

            value = TimeSpan.FromSeconds(seconds);
            return true;
        }

        var match = DurationPattern().Match(text);
        if (!match.Success)
        {
            return false;
        }

        double total = 0;
        foreach (Capture part in match.Groups["part"].Captures)
        {
            var unit = part.Value.TrimStart("0123456789.".ToCharArray());
            var number = double.Parse(part.Value[..^unit.Length], CultureInfo.InvariantCulture);
            total += number * unit switch
            {
                "ms" => 0.001,
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => 86400,
            };
        }

        if (!double.IsFinite(total) || total > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return false;
        }

        value = TimeSpan.FromSeconds(total);
        return true;
    }

    /// <summary>Writes a trace: YAML (one pod a line, flow style) unless the path ends in .json.</summary>
    public static void Save(Trace trace, string path, IReadOnlyList<string> header)
    {
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false));
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            writer.Write("{");
            if (trace.Horizon is { } jh)
            {
                writer.Write($"\"horizon\": {Seconds(jh)}, ");
            }

            writer.Write("\"pods\": [");
            for (var i = 0; i < trace.Pods.Count; i++)
            {
                writer.Write(i == 0 ? "\n" : ",\n");
                writer.Write(PodLine(trace.Pods[i]));
            }

            writer.Write("\n]}\n");
            return;
        }

        foreach (var line in header)
        {
            writer.Write($"# {line}\n");
        }

        if (trace.Horizon is { } horizon)
        {
            writer.Write($"horizon: {Seconds(horizon)}\n");
        }

        writer.Write("pods:\n");
        foreach (var pod in trace.Pods)
        {
            writer.Write($"- {PodLine(pod)}\n");
        }
    }

    /// <summary>One pod as a JSON object on one line, which is also YAML flow style.</summary>
    private static string PodLine(TracePod tracePod)
    {
        var pod = tracePod.Pod;
        var parts = new List<string> { $"\"name\": {Quote(pod.Name)}" };
        if (pod.Namespace != "default")
        {
            parts.Add($"\"namespace\": {Quote(pod.Namespace)}");
        }

        parts.Add($"\"arrival\": {Seconds(tracePod.Arrival)}");
        parts.Add($"\"duration\": {Seconds(tracePod.Duration)}");
        if (pod.Labels.TryGetValue(WellKnown.QueueLabel, out var queue))
        {
            parts.Add($"\"queue\": {Quote(queue)}");
        }

        if (pod.Priority != 0)
        {
            parts.Add($"\"priority\": {pod.Priority.ToString(CultureInfo.InvariantCulture)}");
        }

        if (pod.Annotations.Count > 0)
        {
            parts.Add($"\"annotations\": {Map(pod.Annotations)}");
        }

        var resources = pod.Containers.Count > 0 ? pod.Containers[0].Requests : new Dictionary<string, string>();
        if (resources.Count > 0)
        {
            parts.Add($"\"resources\": {Map(resources)}");
        }

        if (tracePod.NodeSelector is { Count: > 0 } selector)
        {
            parts.Add($"\"nodeSelector\": {Map(selector)}");
        }

        return "{" + string.Join(", ", parts) + "}";
    }

    private static string Map(IReadOnlyDictionary<string, string> map) =>
        "{" + string.Join(", ", map.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{Quote(p.Key)}: {Quote(p.Value)}")) + "}";

    private static string Quote(string value) => JsonSerializer.Serialize(value);

    private static string Seconds(TimeSpan value) => Math.Round(value.TotalSeconds, 3).ToString("0.###", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(?<part>\d+(\.\d+)?(ms|s|m|h|d))+$")]
    private static partial Regex DurationPattern();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")]
    private static partial Regex DnsName();
}

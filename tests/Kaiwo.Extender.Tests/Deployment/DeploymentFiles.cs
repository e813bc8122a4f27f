using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>One YAML document of a deployment file, as JSON: plain scalars typed as YAML's core schema types them.</summary>
internal sealed record YamlDoc(string File, int Index, JsonObject Root)
{
    public string? Kind => (string?)Root["kind"];

    public string? Name => (string?)Root["metadata"]?["name"];

    public string? Namespace => (string?)Root["metadata"]?["namespace"];

    public override string ToString() => $"{File}#{Index} {Kind}/{Name}";
}

/// <summary>The files of <c>manifests/</c>, <c>scheduler-config/</c> and the Dockerfile, read from the repository.</summary>
internal static class DeploymentFiles
{
    public static string Root { get; } = FindRoot();

    public static string ManifestsDirectory => Path.Combine(Root, "manifests");

    public static string SchedulerConfigDirectory => Path.Combine(Root, "scheduler-config");

    public static string SchedulerConfigFile => Path.Combine(SchedulerConfigDirectory, "scheduler-config.yaml");

    public static string SchedulerConfigHttpsFile => Path.Combine(SchedulerConfigDirectory, "scheduler-config-https.yaml");

    public static string Dockerfile => Path.Combine(Root, "Dockerfile");

    /// <summary>Every YAML file of manifests/ and scheduler-config/, sorted.</summary>
    public static IReadOnlyList<string> YamlFiles { get; } =
        [.. new[] { ManifestsDirectory, SchedulerConfigDirectory }
            .SelectMany(d => Directory.GetFiles(d, "*.yaml").Concat(Directory.GetFiles(d, "*.yml")))
            .Order(StringComparer.Ordinal)];

    /// <summary>Every document of every YAML file.</summary>
    public static IReadOnlyList<YamlDoc> All { get; } = [.. YamlFiles.SelectMany(Load)];

    /// <summary>The documents of manifests/ and configmap.yaml: what <c>kubectl apply</c> is given.</summary>
    public static IReadOnlyList<YamlDoc> Applied { get; } =
        [.. All.Where(d => d.Kind != "KubeSchedulerConfiguration")];

    public static YamlDoc Single(string kind, string name) =>
        All.SingleOrDefault(d => d.Kind == kind && d.Name == name)
        ?? throw new Xunit.Sdk.XunitException($"no {kind}/{name} in {string.Join(", ", All)}");

    public static JsonObject Deployment => Single("Deployment", "kaiwo-scheduler").Root;

    public static JsonObject PodSpec => Deployment["spec"]!["template"]!["spec"]!.AsObject();

    public static JsonObject Container(string name) =>
        PodSpec["containers"]!.AsArray().Single(c => (string?)c!["name"] == name)!.AsObject();

    /// <summary>The single document of a file (for the scheduler configurations).</summary>
    public static JsonObject SingleDocument(string file) => Load(file).Single().Root;

    public static IEnumerable<YamlDoc> Load(string file) => Parse(Path.GetRelativePath(Root, file).Replace('\\', '/'), File.ReadAllText(file));

    /// <summary>The documents of YAML text (a block of the README), named <paramref name="name"/> in failures.</summary>
    public static IEnumerable<YamlDoc> Parse(string name, string text)
    {
        var yaml = new YamlStream();
        using (var reader = new StringReader(text))
        {
            yaml.Load(reader);
        }

        for (var i = 0; i < yaml.Documents.Count; i++)
        {
            if (ToJson(yaml.Documents[i].RootNode) is not JsonObject root)
            {
                throw new Xunit.Sdk.XunitException($"{name} document {i} is not a mapping");
            }

            yield return new YamlDoc(name, i, root);
        }
    }

    /// <summary>A YAML node as JSON. Duplicate keys throw (JsonObject refuses them), as the API server's strict decoding does.</summary>
    public static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(ToJson)]),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new NotSupportedException($"YAML node {node.NodeType} at {node.Start}"),
    };

    /// <summary>A Go duration as kube-scheduler reads httpTimeout: <c>5s</c>, <c>1m30s</c>, <c>500ms</c>.</summary>
    public static TimeSpan ParseGoDuration(string text)
    {
        var total = TimeSpan.Zero;
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            var digits = 0;
            while (digits < rest.Length && (char.IsAsciiDigit(rest[digits]) || rest[digits] == '.'))
            {
                digits++;
            }

            var units = digits;
            while (units < rest.Length && char.IsAsciiLetter(rest[units]))
            {
                units++;
            }

            var value = double.Parse(rest[..digits], NumberStyles.Float, CultureInfo.InvariantCulture);
            total += rest[digits..units] switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                "s" => TimeSpan.FromSeconds(value),
                "ms" => TimeSpan.FromMilliseconds(value),
                var unit => throw new FormatException($"\"{text}\": unit \"{unit.ToString()}\" is not one of h, m, s, ms"),
            };
            rest = rest[units..];
        }

        return total;
    }

    private static JsonValue? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value;
        if (scalar.Style != ScalarStyle.Plain)
        {
            return JsonValue.Create(value);
        }

        return value switch
        {
            null or "" or "~" or "null" => null,
            "true" => JsonValue.Create(true),
            "false" => JsonValue.Create(false),
            _ when long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) => JsonValue.Create(number),
            _ => JsonValue.Create(value),
        };
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SchedulerExtender.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no SchedulerExtender.sln above {AppContext.BaseDirectory}");
    }
}

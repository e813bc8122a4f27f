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

/// <summary>The files of <c>manifests/</c>, <c>scheduler-config/</c>, <c>overlays/</c> and the Dockerfile, read from the repository.</summary>
internal static class DeploymentFiles
{
    public static string Root { get; } = FindRoot();

    public static string ManifestsDirectory => Path.Combine(Root, "manifests");

    public static string SchedulerConfigDirectory => Path.Combine(Root, "scheduler-config");

    public static string SchedulerConfigFile => Path.Combine(SchedulerConfigDirectory, "scheduler-config.yaml");

    public static string SchedulerConfigHttpsFile => Path.Combine(SchedulerConfigDirectory, "scheduler-config-https.yaml");

    public static string Dockerfile => Path.Combine(Root, "Dockerfile");

    public static string OverlaysDirectory => Path.Combine(Root, "overlays");

    /// <summary>The kustomization folders: manifests/, scheduler-config/ and every overlay.</summary>
    public static IReadOnlyList<string> KustomizationDirectories { get; } =
        [ManifestsDirectory, SchedulerConfigDirectory, .. Directory.GetDirectories(OverlaysDirectory).Order(StringComparer.Ordinal)];

    /// <summary>The kustomization.yaml of a folder, as JSON.</summary>
    public static JsonObject Kustomization(string directory) => SingleDocument(Path.Combine(directory, "kustomization.yaml"));

    /// <summary>The files of a kustomization's list field (<c>resources</c>, <c>patchesStrategicMerge</c>), as full paths.</summary>
    public static IReadOnlyList<string> Listed(string directory, string field) =>
        [.. Kustomization(directory)[field]?.AsArray().Select(f => Path.GetFullPath(Path.Combine(directory, (string)f!))) ?? []];

    /// <summary>The strategic-merge patches of the overlays: partial objects, not objects of their own.</summary>
    public static IReadOnlyList<string> PatchFiles { get; } =
        [.. KustomizationDirectories.SelectMany(d => Listed(d, "patchesStrategicMerge")).Order(StringComparer.Ordinal)];

    /// <summary>
    /// Every YAML file of the kustomization folders that is an object or a scheduler configuration, sorted: not the
    /// kustomization.yaml files, not the patches.
    /// </summary>
    public static IReadOnlyList<string> YamlFiles { get; } =
        [.. KustomizationDirectories
            .SelectMany(d => Directory.GetFiles(d, "*.yaml").Concat(Directory.GetFiles(d, "*.yml")))
            .Where(f => Path.GetFileName(f) != "kustomization.yaml" && !PatchFiles.Contains(f))
            .Order(StringComparer.Ordinal)];

    /// <summary>Every document of every YAML file.</summary>
    public static IReadOnlyList<YamlDoc> All { get; } = [.. YamlFiles.SelectMany(Load)];

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

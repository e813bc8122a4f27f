using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Kaiwo.Scheduling.Queues;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using static Kaiwo.Extender.Tests.Deployment.DeploymentFiles;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>
/// manifests/crd-kaiwoqueue.yaml against SPEC §6 and the reader: identity, status subresource and printer columns,
/// a schema that refuses negative quotas and weights, limits below the quota and unknown policies, and the
/// KaiwoQueues of examples/cluster.yaml reading cleanly through <see cref="QueueSpecReader"/>.
/// </summary>
public sealed partial class QueueCrdTests
{
    private const string CrdFile = "manifests/crd-kaiwoqueue.yaml";

    private const string LimitRule = "!has(self.limit) || self.limit == -1.0 || self.limit >= (has(self.quota) ? self.quota : 0.0)";

    private static readonly string[] Resources = ["gpu", "cpu", "memory"];

    private static readonly string[] StatusAmounts = ["allocated", "requested", "fairShare"];

    private static readonly string[] ConditionFields = ["type", "status", "reason", "message", "lastTransitionTime"];

    private static JsonObject Crd => Single("CustomResourceDefinition", "kaiwoqueues.kaiwo.ai").Root;

    private static JsonObject Version => Assert.Single(Crd["spec"]!["versions"]!.AsArray())!.AsObject();

    private static JsonObject Schema => Version["schema"]!["openAPIV3Schema"]!.AsObject();

    private static JsonObject SpecSchema => Schema["properties"]!["spec"]!.AsObject();

    private static JsonObject StatusSchema => Schema["properties"]!["status"]!.AsObject();

    [Fact]
    public void Crd_Identity_IsClusterScopedKaiwoQueueOfKaiwoAiV1alpha2()
    {
        var spec = Crd["spec"]!;

        Assert.Equal("apiextensions.k8s.io/v1", (string?)Crd["apiVersion"]);
        Assert.Equal("kaiwo.ai", (string?)spec["group"]);
        Assert.Equal("Cluster", (string?)spec["scope"]);
        Assert.Equal(QueueSpecReader.Kind, (string?)spec["names"]!["kind"]);
        Assert.Equal("kaiwoqueues", (string?)spec["names"]!["plural"]);
        Assert.Equal(QueueSpecReader.ApiVersion, $"{spec["group"]}/{Version["name"]}");
        Assert.Equal(true, (bool?)Version["served"]);
        Assert.Equal(true, (bool?)Version["storage"]);
    }

    [Fact]
    public void Crd_ReadStrictlyByKubernetesClient_IsACustomResourceDefinitionWithNoUnknownField()
    {
        var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(File.ReadAllText(Path.Combine(Root, CrdFile)), strict: true);

        var schema = Assert.Single(crd.Spec.Versions).Schema.OpenAPIV3Schema;
        Assert.All(Resources, r => Assert.Equal(LimitRule, Assert.Single(schema.Properties["spec"].Properties["resources"].Properties[r].XKubernetesValidations).Rule));
    }

    [Fact]
    public void Crd_Schema_IsStructural()
    {
        // Every node says its type, and nothing keeps unknown fields: the API server prunes what the schema does not name.
        var nodes = SchemaNodes(Schema, "openAPIV3Schema").ToList();

        Assert.All(nodes, n => Assert.False(string.IsNullOrEmpty((string?)n.Node["type"]), $"{n.Path}: no type"));
        Assert.All(nodes, n => Assert.Null(n.Node["x-kubernetes-preserve-unknown-fields"]));
        Assert.All(nodes, n => Assert.True(n.Node["anyOf"] is null && n.Node["oneOf"] is null && n.Node["allOf"] is null, $"{n.Path}: a combinator"));
        Assert.Equal("object", (string?)Schema["properties"]!["metadata"]!["type"]);
        Assert.Null(Schema["properties"]!["metadata"]!["properties"]);
    }

    [Fact]
    public void Crd_Status_IsASubresource()
    {
        Assert.NotNull(Version["subresources"]?["status"]);
        Assert.Empty(Version["subresources"]!["status"]!.AsObject());
    }

    [Fact]
    public void Crd_PrinterColumns_ShowAllocatedAndFairShareOfGpu()
    {
        var columns = Version["additionalPrinterColumns"]!.AsArray().Select(c => c!.AsObject()).ToList();

        var allocated = Assert.Single(columns, c => (string?)c["jsonPath"] == ".status.allocated.gpu");
        var fairShare = Assert.Single(columns, c => (string?)c["jsonPath"] == ".status.fairShare.gpu");
        Assert.Contains("Allocated", (string?)allocated["name"], StringComparison.Ordinal);
        Assert.Contains("Fair Share", (string?)fairShare["name"], StringComparison.Ordinal);
        Assert.All(new[] { allocated, fairShare }, c => Assert.Equal("number", (string?)c["type"]));
    }

    [Fact]
    public void Crd_EveryPrinterColumn_PointsAtAFieldOfTheSchema()
    {
        foreach (var column in Version["additionalPrinterColumns"]!.AsArray())
        {
            var path = (string)column!["jsonPath"]!;
            if (path == ".metadata.creationTimestamp")
            {
                continue;
            }

            JsonNode? node = Schema;
            foreach (var part in path.TrimStart('.').Split('.'))
            {
                node = node?["properties"]?[part];
            }

            Assert.True(node is not null, $"column {column["name"]}: {path} is not in the schema");
            Assert.Equal((string?)column["type"], (string?)node["type"]);
        }
    }

    [Fact]
    public void Crd_StatusAmounts_AreNumbersOfGpuCpuAndMemory()
    {
        Assert.All(StatusAmounts, amount =>
        {
            var schema = StatusSchema["properties"]![amount];
            Assert.True(schema is not null, $"status.{amount}");
            Assert.Equal("object", (string?)schema["type"]);
            Assert.Equal(Resources, schema["properties"]!.AsObject().Select(p => p.Key));
            Assert.All(Resources, r => Assert.Equal("number", (string?)schema["properties"]![r]!["type"]));
        });
    }

    [Fact]
    public void Crd_StatusConditions_AreAListOfTypeStatusReasonMessageAndTransitionTime()
    {
        var conditions = StatusSchema["properties"]!["conditions"]!;
        var item = conditions["items"]!;

        Assert.Equal("array", (string?)conditions["type"]);
        Assert.Equal("object", (string?)item["type"]);
        Assert.Equal(ConditionFields.Order(StringComparer.Ordinal), item["properties"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal("date-time", (string?)item["properties"]!["lastTransitionTime"]!["format"]);
        Assert.Equal(["True", "False", "Unknown"], Enum(item["properties"]!["status"]!));

        // A map keyed by type: a server-side apply of one condition does not replace the others.
        Assert.Equal("map", (string?)conditions["x-kubernetes-list-type"]);
        Assert.Equal(["type"], conditions["x-kubernetes-list-map-keys"]!.AsArray().Select(k => (string?)k));
        Assert.Contains("type", item["required"]!.AsArray().Select(k => (string?)k));
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cpu")]
    [InlineData("memory")]
    public void Crd_EveryResource_HasTheLimitRuleAndNonNegativeQuotaAndWeight(string resource)
    {
        var schema = SpecSchema["properties"]!["resources"]!["properties"]![resource]!;
        var fields = schema["properties"]!;

        var rule = Assert.Single(schema["x-kubernetes-validations"]!.AsArray())!;
        Assert.Equal(LimitRule, (string?)rule["rule"]);
        Assert.Contains("-1", (string?)rule["message"], StringComparison.Ordinal);
        Assert.Contains("quota", (string?)rule["message"], StringComparison.Ordinal);
        Assert.Contains($"{resource}: limit", (string?)rule["message"], StringComparison.Ordinal);

        // fieldPath came with Kubernetes 1.28: the 1.26 API server refuses the CRD with it (the real-cluster tests apply it).
        Assert.Null(rule["fieldPath"]);

        Assert.Equal("number", (string?)fields["quota"]!["type"]);
        Assert.Equal(0L, (long?)fields["quota"]!["minimum"]);
        Assert.Equal("integer", (string?)fields["overQuotaWeight"]!["type"]);
        Assert.Equal(0L, (long?)fields["overQuotaWeight"]!["minimum"]);
        Assert.Equal("number", (string?)fields["limit"]!["type"]);
        Assert.Equal(-1L, (long?)fields["limit"]!["minimum"]);
    }

    [Fact]
    public void Crd_Defaults_AreTheReadersDefaults()
    {
        var resources = SpecSchema["properties"]!["resources"]!["properties"]!;
        var reader = ReadQueue("""{"metadata":{"name":"q"},"spec":{}}""");

        Assert.All(ResourceVector.All, r =>
        {
            var fields = resources[Resources[(int)r]]!["properties"]!;
            Assert.Equal(new QueueResourceSpec(), reader[r]);
            Assert.Equal(0L, (long?)fields["quota"]!["default"]);
            Assert.Equal(1L, (long?)fields["overQuotaWeight"]!["default"]);
            Assert.Equal(-1L, (long?)fields["limit"]!["default"]);
        });
        Assert.Equal(0L, (long?)SpecSchema["properties"]!["priority"]!["default"]);
        Assert.Equal(reader.Priority, (int)(long)SpecSchema["properties"]!["priority"]!["default"]!);
        Assert.Equal("aggressive", (string?)Fairness("reclaimStrategy")["default"]);
        Assert.Equal(ReclaimStrategy.Aggressive, reader.Reclaim);
        Assert.Equal("integer", (string?)SpecSchema["properties"]!["priority"]!["type"]);
    }

    [Fact]
    public void Crd_FairnessEnums_AreExactlyWhatTheReaderAccepts()
    {
        Assert.Equal(["DRF"], Enum(Fairness("policy")));
        Assert.Equal(["aggressive", "conservative"], Enum(Fairness("reclaimStrategy")));

        Assert.All(Enum(Fairness("policy")), p => ReadQueue(WithFairness("policy", p!)));
        Assert.Equal(
            [ReclaimStrategy.Aggressive, ReclaimStrategy.Conservative],
            Enum(Fairness("reclaimStrategy")).Select(s => ReadQueue(WithFairness("reclaimStrategy", s!)).Reclaim));
    }

    [Fact]
    public void Crd_ParentQueue_MayNotNameTheQueueItself()
    {
        var rule = Assert.Single(Schema["x-kubernetes-validations"]!.AsArray())!;

        Assert.Equal("!has(self.spec) || !has(self.spec.parentQueue) || self.spec.parentQueue != self.metadata.name", (string?)rule["rule"]);
        Assert.Equal(1L, (long?)SpecSchema["properties"]!["parentQueue"]!["minLength"]);

        // A queue's name is an object name (at most 253 characters); the bound also keeps the rule's estimated cost small.
        Assert.Equal(253L, (long?)SpecSchema["properties"]!["parentQueue"]!["maxLength"]);
    }

    [Fact]
    public void ExampleCluster_EveryKaiwoQueue_ReadsWithoutErrors()
    {
        var queues = ExampleQueues().ToList();

        Assert.Equal(["prod-queue", "research-queue"], queues.Select(q => q.Name));
        Assert.All(queues, q => Assert.True(q.Errors.Count == 0, $"{q.Name}: {string.Join("; ", q.Errors)}"));
    }

    [Fact]
    public void ExampleCluster_ResearchQueue_ReadsToItsNumbers()
    {
        var research = ExampleQueues().Single(q => q.Name == "research-queue").Spec!;

        Assert.Equal(100, research.Priority);
        Assert.Null(research.Parent);
        Assert.Equal(new QueueResourceSpec(16_000, 50, 32_000), research.Gpu);
        Assert.Equal(new QueueResourceSpec(384_000, 30, 768_000), research.Cpu);
        Assert.Equal(new QueueResourceSpec(3072 * 1024, 1, -1), research.Memory);
        Assert.Equal(ReclaimStrategy.Conservative, research.Reclaim);
    }

    [Fact]
    public void YamlToJson_PlainAndQuotedScalars_AreTypedAsYamlTypesThem()
    {
        const string yaml = """
            apiVersion: kaiwo.ai/v1alpha2
            kind: KaiwoQueue
            metadata: {name: half}
            spec:
              displayName: "100"
              priority: 100
              resources:
                gpu: {quota: 0.5, limit: "2"}
                cpu: {quota: "500m", limit: 1.5e0}
            """;

        using var doc = JsonDocument.Parse(YamlToJson(LoadYaml(yaml).Single()));
        QueueSpecReader.TryRead(doc.RootElement, out _, out var errors);

        Assert.Equal(JsonValueKind.String, doc.RootElement.GetProperty("spec").GetProperty("displayName").ValueKind);
        Assert.Equal(JsonValueKind.Number, doc.RootElement.GetProperty("spec").GetProperty("priority").ValueKind);
        Assert.Equal(["spec.resources.gpu.limit: \"2\" is a string; accepted: -1 (no limit) or a number of GPUs with at most 3 decimals, at least the quota"], errors);
        var fixedQueue = ReadQueue(YamlToJson(LoadYaml(yaml.Replace("limit: \"2\"", "limit: 2", StringComparison.Ordinal)).Single()));
        Assert.Equal(new QueueResourceSpec(500, 1, 2000), fixedQueue.Gpu);
        Assert.Equal(new QueueResourceSpec(500, 1, 1500), fixedQueue.Cpu);
    }

    private sealed record ReadResult(string? Name, QueueSpec? Spec, IReadOnlyList<string> Errors);

    private static IEnumerable<ReadResult> ExampleQueues()
    {
        foreach (var root in LoadYaml(File.ReadAllText(Path.Combine(Root, "examples", "cluster.yaml"))))
        {
            if (root is not YamlMappingNode mapping
                || !mapping.Children.TryGetValue(new YamlScalarNode("kind"), out var kind)
                || kind is not YamlScalarNode { Value: "KaiwoQueue" })
            {
                continue;
            }

            using var doc = JsonDocument.Parse(YamlToJson(mapping));
            QueueSpecReader.TryRead(doc.RootElement, out var spec, out var errors);
            var name = doc.RootElement.GetProperty("metadata").GetProperty("name").GetString();
            yield return new ReadResult(name, spec, errors);
        }
    }

    private static QueueSpec ReadQueue(string json)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.True(QueueSpecReader.TryRead(doc.RootElement, out var spec, out var errors), string.Join("; ", errors));
        return spec!;
    }

    private static string WithFairness(string field, string value) =>
        new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "q" },
            ["spec"] = new JsonObject { ["fairness"] = new JsonObject { [field] = value } },
        }.ToJsonString();

    private static JsonNode Fairness(string field) => SpecSchema["properties"]!["fairness"]!["properties"]![field]!;

    private static List<string?> Enum(JsonNode schema) => [.. schema["enum"]!.AsArray().Select(v => (string?)v)];

    /// <summary>Every schema node under <paramref name="node"/>: properties, items and additionalProperties.</summary>
    private static IEnumerable<(string Path, JsonObject Node)> SchemaNodes(JsonObject node, string path)
    {
        yield return (path, node);
        foreach (var (name, child) in node["properties"]?.AsObject() ?? [])
        {
            foreach (var nested in SchemaNodes(child!.AsObject(), $"{path}.{name}"))
            {
                yield return nested;
            }
        }

        foreach (var key in new[] { "items", "additionalProperties" })
        {
            if (node[key] is JsonObject child)
            {
                foreach (var nested in SchemaNodes(child, $"{path}[{key}]"))
                {
                    yield return nested;
                }
            }
        }
    }

    private static List<YamlNode> LoadYaml(string text)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(text))
        {
            stream.Load(reader);
        }

        return [.. stream.Documents.Select(d => d.RootNode)];
    }

    /// <summary>
    /// A YAML node as JSON text, with plain scalars typed by YAML 1.2's core schema (<c>100</c> and <c>0.5</c> are
    /// numbers, <c>true</c> a boolean, <c>~</c> null) and quoted scalars kept as strings, as the API server reads YAML.
    /// </summary>
    private static string YamlToJson(YamlNode node)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, node);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Write(Utf8JsonWriter writer, YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                writer.WriteStartObject();
                foreach (var (key, value) in mapping.Children)
                {
                    writer.WritePropertyName(((YamlScalarNode)key).Value!);
                    Write(writer, value);
                }

                writer.WriteEndObject();
                break;
            case YamlSequenceNode sequence:
                writer.WriteStartArray();
                foreach (var item in sequence.Children)
                {
                    Write(writer, item);
                }

                writer.WriteEndArray();
                break;
            case YamlScalarNode scalar:
                WriteScalar(writer, scalar);
                break;
            default:
                throw new NotSupportedException($"YAML node {node.NodeType} at {node.Start}");
        }
    }

    private static void WriteScalar(Utf8JsonWriter writer, YamlScalarNode scalar)
    {
        var value = scalar.Value ?? string.Empty;
        if (scalar.Style != ScalarStyle.Plain)
        {
            writer.WriteStringValue(value);
        }
        else if (value is "" or "~" or "null" or "Null" or "NULL")
        {
            writer.WriteNullValue();
        }
        else if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            writer.WriteBooleanValue(value.StartsWith('t') || value.StartsWith('T'));
        }
        else if (YamlInteger().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            writer.WriteNumberValue(integer);
        }
        else if (YamlFloat().IsMatch(value) && decimal.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            writer.WriteNumberValue(number);
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }

    [GeneratedRegex("^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex YamlInteger();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex YamlFloat();
}

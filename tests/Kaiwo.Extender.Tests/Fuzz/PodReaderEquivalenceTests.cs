using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Extender.Tests.FakeApiServer;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Tests.Fuzz;

/// <summary>
/// The one mapper, now reading with <see cref="Utf8JsonReader"/>, against the mapper it replaced (<see cref="ElementMapper"/>):
/// for every object of every captured payload, for generated pods and for mutated ones, both give the same facts, or
/// the same error with the same path and problem. Each object is read three ways: by the old mapper, by
/// <see cref="ObjectJson.ReadPod(JsonElement, string)"/>, and by a reader over the object's bytes as the filter's
/// quick path reads it.
/// </summary>
public sealed class PodReaderEquivalenceTests
{
    private static readonly string[] Phases = ["Pending", "Running", "Succeeded", "Failed", "Unknown", "running", "Evicted", ""];

    [Fact]
    public void ReadPod_EveryObjectOfEveryCapturedPayload_GivesTheElementMappersFacts()
    {
        var fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures");
        var texts = Directory.GetFiles(fixtures, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(File.ReadAllText)
            .Append(CapturedBodies.CreatedPod).Append(CapturedBodies.Node).ToList();
        var podsRead = 0;
        foreach (var text in texts)
        {
            using var document = JsonDocument.Parse(text);
            foreach (var (element, path) in Objects(document.RootElement, "$"))
            {
                var read = AssertSamePod(element, path);
                podsRead += read is { Name.Length: > 0, Containers.Count: > 0 } ? 1 : 0;
                AssertSameNode(element, path);
            }
        }

        Assert.True(podsRead >= texts.Count / 2, $"only {podsRead} pods with a name and containers in {texts.Count} payloads");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ReadPod_GeneratedPods_GivesTheElementMappersFacts(int seed)
    {
        var random = new Random(seed);
        var errors = 0;
        for (var i = 0; i < 1500; i++)
        {
            var text = GeneratePod(random, hostile: i % 3 == 0, repeatKeys: true);
            using var document = JsonDocument.Parse(text);
            errors += AssertSamePod(document.RootElement, "$.Pod") is null ? 1 : 0;
        }

        // The hostile third has a wrong type somewhere about half the time: both sides of the error path are exercised.
        Assert.InRange(errors, 50, 1000);
    }

    [Theory]
    [InlineData(41)]
    [InlineData(42)]
    public void ReadPod_MutatedPods_GivesTheElementMappersFactsOrItsError(int seed)
    {
        var mutator = new JsonMutator(seed);
        var random = new Random(seed);
        var sources = Fixtures.Modes.SelectMany(m => Fixtures.PayloadFiles(m).Select(f => Fixtures.ReadPayloadJson(m, f)))
            .Where(p => p.TryGetProperty("Pod", out _)).Select(p => p.GetProperty("Pod").GetRawText())
            .Append(CapturedBodies.CreatedPod).ToList();
        for (var i = 0; i < 1500; i++)
        {
            // The mutator works on a JsonNode, which refuses repeated keys: the generated pods it takes have none.
            var source = i % 2 == 0 ? sources[random.Next(sources.Count)] : GeneratePod(random, hostile: false, repeatKeys: false);
            var text = mutator.Mutate(source);
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(text);
            }
            catch (JsonException)
            {
                continue; // truncated: never reaches a mapper
            }

            using (document)
            {
                AssertSamePod(document.RootElement, "$.Pod");
                AssertSameNode(document.RootElement, "$");
            }
        }
    }

    [Fact]
    public void ReadPod_ReaderOnThePodInsideABody_LeavesTheReaderOnThePodsLastToken()
    {
        var body = Encoding.UTF8.GetBytes("""{"Pod":{"metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c"}]}},"After":1}""");
        var reader = new Utf8JsonReader(body);
        reader.Read();
        reader.Read();
        reader.Read();

        var pod = ObjectJson.ReadPod(ref reader, "$.Pod");

        Assert.Equal("p", pod.Name);
        Assert.Equal(JsonTokenType.EndObject, reader.TokenType);
        Assert.True(reader.Read());
        Assert.True(reader.ValueTextEquals("After"u8));
    }

    /// <summary>Reads the element all three ways and asserts one outcome; the facts, or null for an error.</summary>
    private static PodFacts? AssertSamePod(JsonElement element, string path)
    {
        var expected = Outcome(() => ElementMapper.ReadPod(element, path), out var facts);
        Assert.Equal(expected, Outcome(() => ObjectJson.ReadPod(element, path), out _));
        Assert.Equal(expected, Outcome(
            () =>
            {
                var reader = new Utf8JsonReader(JsonMarshal.GetRawUtf8Value(element));
                reader.Read();
                return ObjectJson.ReadPod(ref reader, path);
            },
            out _));
        return facts;
    }

    private static void AssertSameNode(JsonElement element, string path) =>
        Assert.Equal(Outcome(() => ElementMapper.ReadNode(element, path), out _), Outcome(() => ObjectJson.ReadNode(element, path), out _));

    /// <summary>The facts as canonical JSON (maps sorted), or the error with its path and problem, or the exception's type.</summary>
    private static string Outcome<T>(Func<T> read, out T? facts)
        where T : class
    {
        facts = null;
        try
        {
            facts = read();
            return facts switch
            {
                PodFacts p => JsonSerializer.Serialize(new
                {
                    p.Namespace,
                    p.Name,
                    p.Uid,
                    Labels = Sorted(p.Labels),
                    Annotations = Sorted(p.Annotations),
                    Containers = p.Containers.Select(Container),
                    InitContainers = p.InitContainers.Select(Container),
                    p.NodeName,
                    p.Phase,
                    p.Priority,
                    p.SchedulerName,
                    p.IsDeleting,
                }),
                NodeFacts n => JsonSerializer.Serialize(new { n.Name, Labels = Sorted(n.Labels), Annotations = Sorted(n.Annotations), Allocatable = Sorted(n.Allocatable) }),
                _ => throw new InvalidOperationException("not a pod or a node"),
            };
        }
        catch (ObjectReadException ex)
        {
            return $"error at {ex.Path}: {ex.Problem}";
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            return $"throws {ex.GetType().Name}";
        }
    }

    private static object Container(ContainerFacts c) => new { c.Name, Requests = Sorted(c.Requests), Limits = Sorted(c.Limits), c.IsRestartableInit };

    private static SortedDictionary<string, string> Sorted(IReadOnlyDictionary<string, string> map) => new(map.ToDictionary(), StringComparer.Ordinal);

    /// <summary>Every object in the document, the root first, with its path.</summary>
    private static IEnumerable<(JsonElement Element, string Path)> Objects(JsonElement element, string path)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            yield return (element, path);
            foreach (var p in element.EnumerateObject())
            {
                foreach (var inner in Objects(p.Value, $"{path}.{p.Name}"))
                {
                    yield return inner;
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            var index = 0;
            foreach (var e in element.EnumerateArray())
            {
                foreach (var inner in Objects(e, $"{path}[{index++}]"))
                {
                    yield return inner;
                }
            }
        }
    }

    /// <summary>
    /// A pod with some of everything the mapper reads: labels, annotations, containers and init containers (some with
    /// restartPolicy Always) with requests and limits, priority, schedulerName, nodeName, deletionTimestamp and phase;
    /// keys sometimes escaped or repeated, values sometimes null, numbers or booleans, fields the mapper never reads.
    /// A hostile pod also puts a wrong type or an overlong name at one of the fields now and then. Without
    /// <paramref name="repeatKeys"/>, no object repeats a key.
    /// </summary>
    private static string GeneratePod(Random random, bool hostile, bool repeatKeys)
    {
        var json = new StringBuilder();
        var wrong = hostile ? random.Next(14) : -1;

        string Value(int field, string sound) => field == wrong ? Pick(random, "[]", "{}", "1", "true", "\"x\"", "[1]", Json(new string('n', 254))) : sound;

        json.Append('{');
        Member(json, random, "apiVersion", "\"v1\"");
        json.Append(',');
        Member(json, random, "metadata", Value(0, Metadata(random, repeatKeys, Value)));
        json.Append(',');
        Member(json, random, "spec", Value(1, Spec(random, repeatKeys, Value)));
        if (random.Next(4) > 0)
        {
            json.Append(',');
            Member(json, random, "status", Value(2, random.Next(8) == 0 ? "null" : $"{{\"conditions\":[{{\"type\":\"Ready\"}}],{Key(random, "phase")}:{Value(3, Pick(random, [.. Phases.Select(Json), "null"]))}}}"));
        }

        if (repeatKeys && random.Next(6) == 0)
        {
            // The last of duplicate keys wins, everywhere.
            json.Append(',');
            Member(json, random, "metadata", Metadata(random, repeatKeys, (_, sound) => sound));
        }

        return json.Append('}').ToString();
    }

    private static string Metadata(Random random, bool repeatKeys, Func<int, string, string> value)
    {
        var members = new List<string>
        {
            Pair(random, "name", value(4, Pick(random, "\"pod-a\"", "\"p\\u00e9d\"", "\"\"", "null", Json($"pod-{random.Next(1000)}")))),
            Pair(random, "namespace", Pick(random, "\"team-a\"", "\"\"", "null", "\"kube-system\"")),
            Pair(random, "uid", value(5, Pick(random, "\"uid-1\"", "\"\"", "null", Json($"uid-{random.Next()}")))),
            Pair(random, "labels", value(6, Map(random, repeatKeys, ["kaiwo.ai/queue", "app", "team\u00e9", "k"], quantities: false))),
            Pair(random, "annotations", value(7, Map(random, repeatKeys, ["kaiwo.ai/gpu-fraction", "kaiwo.ai/gpu-memory", "note", "a\"b"], quantities: false))),
            Pair(random, "resourceVersion", "\"42\""),
            Pair(random, "ownerReferences", "[{\"kind\":\"Job\",\"name\":\"j\"}]"),
        };
        if (random.Next(3) == 0)
        {
            members.Add(Pair(random, "deletionTimestamp", Pick(random, "\"2026-01-01T00:00:00Z\"", "null", "{}", "0")));
        }

        return Shuffled(random, members);
    }

    private static string Spec(Random random, bool repeatKeys, Func<int, string, string> value)
    {
        var members = new List<string>
        {
            Pair(random, "containers", value(8, Containers(random, repeatKeys, init: false, value))),
            Pair(random, "schedulerName", Pick(random, "\"kaiwo-scheduler\"", "\"default-scheduler\"", "\"\"", "null")),
            Pair(random, "nodeName", Pick(random, "\"gpu-node-01\"", "\"\"", "null")),
            Pair(random, "priority", value(9, Pick(random, "0", "100", "-5", "null", "2147483647", "2147483648", "1.5", "1e3", "-2147483648"))),
            Pair(random, "tolerations", "[{\"key\":\"amd.com/gpu\",\"operator\":\"Exists\"}]"),
        };
        if (random.Next(2) == 0)
        {
            members.Add(Pair(random, "initContainers", value(10, Containers(random, repeatKeys, init: true, value))));
        }

        return Shuffled(random, members);
    }

    private static string Containers(Random random, bool repeatKeys, bool init, Func<int, string, string> value)
    {
        if (random.Next(10) == 0)
        {
            return "null";
        }

        var containers = new List<string>();
        for (var i = random.Next(4); i > 0; i--)
        {
            if (random.Next(10) == 0)
            {
                containers.Add("null");
                continue;
            }

            var members = new List<string>
            {
                Pair(random, "name", Json($"c{random.Next(10)}")),
                Pair(random, "image", "\"busybox\""),
                Pair(random, "resources", value(11, random.Next(8) == 0 ? "null" : Shuffled(random, [Pair(random, "requests", value(12, Map(random, repeatKeys, ["amd.com/gpu", "cpu", "memory"], quantities: true))), Pair(random, "limits", value(13, Map(random, repeatKeys, ["amd.com/gpu", "memory"], quantities: true))), Pair(random, "claims", "[]")]))),
            };
            if (init || random.Next(4) == 0)
            {
                members.Add(Pair(random, "restartPolicy", Pick(random, "\"Always\"", "\"Never\"", "null", "\"always\"")));
            }

            containers.Add(Shuffled(random, members));
        }

        return "[" + string.Join(",", containers) + "]";
    }

    private static string Map(Random random, bool repeatKeys, string[] keys, bool quantities)
    {
        keys = [.. keys];
        random.Shuffle(keys);
        if (random.Next(10) == 0)
        {
            return "null";
        }

        var members = new List<string>();
        for (var i = random.Next(repeatKeys ? 5 : keys.Length + 1); i > 0; i--)
        {
            var text = quantities
                ? Pick(random, "\"1\"", "\"500m\"", "\"64Gi\"", "2", "0.5", "null", "\"0.25\"")
                : Pick(random, "\"0.25\"", "\"team-a\"", "\"\"", "null", "7", "1.50", "true", "false", "\"caf\\u00e9\"");
            members.Add(Pair(random, repeatKeys ? keys[random.Next(keys.Length)] : keys[i - 1], text));
        }

        return "{" + string.Join(",", members) + "}";
    }

    private static void Member(StringBuilder json, Random random, string key, string value) => json.Append(Pair(random, key, value));

    private static string Pair(Random random, string key, string value) => $"{Key(random, key)}:{value}";

    /// <summary>A key as JSON, one time in eight with a character escaped (a key the mapper must still match).</summary>
    private static string Key(Random random, string key)
    {
        if (random.Next(8) != 0 || key.Length == 0)
        {
            return Json(key);
        }

        var at = random.Next(key.Length);
        return "\"" + Json(key[..at])[1..^1] + "\\u" + ((int)key[at]).ToString("x4", CultureInfo.InvariantCulture) + Json(key[(at + 1)..])[1..^1] + "\"";
    }

    private static string Shuffled(Random random, List<string> members)
    {
        random.Shuffle(CollectionsMarshal.AsSpan(members));
        return "{" + string.Join(",", members) + "}";
    }

    private static string Pick(Random random, params string[] choices) => choices[random.Next(choices.Length)];

    private static string Json(string text) => JsonSerializer.Serialize(text);
}

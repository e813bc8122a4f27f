using System.Text.Json;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using k8s;
using k8s.Models;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Extender.Standalone;
using Kaiwo.Extender.Verbs;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kaiwo.Benchmarks;

/// <summary>
/// Reading a 500-node ExtenderArgs the complete way, in both nodeCacheCapable modes, and answering filter and
/// prioritize for it as the HTTP handler does (body bytes in, answer bytes out).
/// The bodies are built from a captured kube-scheduler request (the frac-half pod, a 0.5 GPU fraction) whose 14
/// nodes (8 MI300X SPX, 4 MI300X CPX/NPS4, 2 CPU) are cloned round-robin to 500, all known to the state.
/// </summary>
[MemoryDiagnoser]
public class ExtenderArgsBenchmarks
{
    private const int NodeCount = 500;

    private byte[] _fullBody = [];
    private byte[] _namesBody = [];
    private ExtenderVerbs _verbs = null!;
    private readonly System.Buffers.ArrayBufferWriter<byte> _output = new(8 << 20);

    [GlobalSetup]
    public void Setup()
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "Payloads");
        var bytes = File.ReadAllBytes(Path.Combine(directory, "full-filter-frac-half.json"));
        var full = ExtenderRequests.ReadArgs(bytes);
        var templates = full.Nodes!.Items;
        var nodes = new List<JsonNode>(NodeCount);
        for (var i = 0; i < NodeCount; i++)
        {
            var node = JsonNode.Parse(templates[i % templates.Count].Json.GetRawText())!;
            node["metadata"]!["name"] = $"{templates[i % templates.Count].Name}-{i:D3}";
            nodes.Add(node);
        }

        var podJson = JsonNode.Parse(bytes)!["Pod"]!.DeepClone();
        _fullBody = JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["Pod"] = podJson, ["Nodes"] = new JsonObject { ["items"] = new JsonArray([.. nodes]) }, ["NodeNames"] = null });
        _namesBody = JsonSerializer.SerializeToUtf8Bytes(new JsonObject
        {
            ["Pod"] = podJson!.DeepClone(),
            ["Nodes"] = null,
            ["NodeNames"] = new JsonArray([.. nodes.Select(n => JsonValue.Create(n["metadata"]!["name"]!.GetValue<string>()))]),
        });

        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var state = new ClusterState();
        var facts = nodes.Select(n => ObjectJson.ReadNode(JsonSerializer.SerializeToElement(n), "$")).ToList();
        StandaloneCluster.Apply(state, new ClusterFileContents(facts, [], []), _ => { });
        _verbs = new ExtenderVerbs(state, pipeline, new PendingPods(10_000), new InMemoryBinder(state, pipeline, TimeProvider.System), TimeProvider.System, NullLogger<ExtenderVerbs>.Instance, Microsoft.Extensions.Options.Options.Create(new Kaiwo.Extender.Hosting.ExtenderOptions()));
    }

    [Benchmark(Baseline = true, Description = "read names (500)")]
    public object? ReadNames() => Read(_namesBody);

    [Benchmark(Description = "read full NodeList (500)")]
    public object? ReadFull() => Read(_fullBody);

    [Benchmark(Description = "filter names (500): bytes in, bytes out")]
    public int FilterNames() => Answer(_namesBody, filter: true);

    [Benchmark(Description = "filter full (500 Nodes): bytes in, bytes out")]
    public int FilterFull() => Answer(_fullBody, filter: true);

    [Benchmark(Description = "prioritize names (500): bytes in, bytes out")]
    public int PrioritizeNames() => Answer(_namesBody, filter: false);

    [Benchmark(Description = "prioritize full (500 Nodes): bytes in, bytes out")]
    public int PrioritizeFull() => Answer(_fullBody, filter: false);

    private int Answer(byte[] body, bool filter) => WireCall.Answer(_verbs, body, _output, filter);

    private static ExtenderArgs Read(byte[] body) => ExtenderRequests.ReadArgs(body);
}

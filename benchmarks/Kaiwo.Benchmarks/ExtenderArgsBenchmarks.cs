using System.Text.Json;
using BenchmarkDotNet.Attributes;
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
/// Reading a 500-node ExtenderArgs, in both nodeCacheCapable modes, and answering filter and prioritize for it.
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

    [GlobalSetup]
    public void Setup()
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "Payloads");
        var full = JsonSerializer.Deserialize<ExtenderArgs>(File.ReadAllBytes(Path.Combine(directory, "full-filter-frac-half.json")), ExtenderJson.Options)!;
        var templates = full.Nodes!.Items;
        var nodes = new List<V1Node>(NodeCount);
        for (var i = 0; i < NodeCount; i++)
        {
            var node = JsonSerializer.Deserialize<V1Node>(JsonSerializer.Serialize(templates[i % templates.Count], ExtenderJson.Options), ExtenderJson.Options)!;
            node.Metadata.Name = $"{node.Metadata.Name}-{i:D3}";
            nodes.Add(node);
        }

        _fullBody = JsonSerializer.SerializeToUtf8Bytes(new ExtenderArgs { Pod = full.Pod, Nodes = new V1NodeList { Items = nodes } }, ExtenderJson.Options);
        _namesBody = JsonSerializer.SerializeToUtf8Bytes(new ExtenderArgs { Pod = full.Pod, NodeNames = [.. nodes.Select(n => n.Metadata.Name)] }, ExtenderJson.Options);

        var pipeline = new SchedulingPipeline(new PipelineOptions());
        var state = new ClusterState();
        StandaloneCluster.Apply(state, new ClusterFileContents(nodes, [], []), _ => { });
        _verbs = new ExtenderVerbs(state, pipeline, new PendingPods(10_000), new InMemoryBinder(state, pipeline), TimeProvider.System, NullLogger<ExtenderVerbs>.Instance);
    }

    [Benchmark(Baseline = true, Description = "read names (500)")]
    public object? ReadNames() => Read(_namesBody);

    [Benchmark(Description = "read full NodeList (500)")]
    public object? ReadFull() => Read(_fullBody);

    [Benchmark(Description = "filter names (500): read, decide, write")]
    public byte[] FilterNames() => JsonSerializer.SerializeToUtf8Bytes(_verbs.Filter(Read(_namesBody)), ExtenderJson.Options);

    [Benchmark(Description = "filter full (500): read, decide, write")]
    public byte[] FilterFull() => JsonSerializer.SerializeToUtf8Bytes(_verbs.Filter(Read(_fullBody)), ExtenderJson.Options);

    [Benchmark(Description = "prioritize names (500): read, score, write")]
    public byte[] PrioritizeNames() => JsonSerializer.SerializeToUtf8Bytes(_verbs.Prioritize(Read(_namesBody)), ExtenderJson.Options);

    private static ExtenderArgs Read(byte[] body) => JsonSerializer.Deserialize<ExtenderArgs>(body, ExtenderJson.Options)!;
}

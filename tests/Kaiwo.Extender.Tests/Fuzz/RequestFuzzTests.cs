using System.Globalization;
using System.Net;
using System.Text.Json;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Extender.Tests.FakeApiServer;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Fuzz;

/// <summary>The names cluster for the fuzz suite alone: its binds change the table.</summary>
public sealed class NamesFuzzCluster() : ExtenderFixture(ExtenderFactory.ForMode("names"));

/// <summary>The full-NodeList cluster for the fuzz suite alone.</summary>
public sealed class FullFuzzCluster() : ExtenderFixture(ExtenderFactory.ForMode("full"));

/// <summary>
/// Property tests over hostile bodies: the captured kube-scheduler bodies of both modes and the captured API-server
/// Pod and Node, mutated by <see cref="JsonMutator"/> with fixed seeds. Whatever the body: the answer is 200 or 400,
/// a 400 is a JSON Error naming a path, filter, prioritize and preempt leave the allocation table as it was, and no
/// sequence of binds takes a GPU past its compute, memory or partitions.
/// </summary>
public sealed class RequestFuzzTests(NamesFuzzCluster names, FullFuzzCluster full) : IClassFixture<NamesFuzzCluster>, IClassFixture<FullFuzzCluster>
{
    private const int CasesPerSeed = 400;

    /// <summary>Sources that are not kube-scheduler captures: the API server's own Pod and Node inside extender bodies.</summary>
    private static readonly string Pod = CapturedBodies.CreatedPod.Trim();
    private static readonly string Node = CapturedBodies.Node.Trim();

    private static readonly (string Verb, string Body)[] ApiServerBodies =
    [
        ("filter", "{\"Pod\":" + Pod + ",\"Nodes\":null,\"NodeNames\":[\"gpu-node-01\",\"gpu-node-09\",\"cpu-node-01\"]}"),
        ("filter", "{\"Pod\":" + Pod + ",\"Nodes\":{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[" + Node + "]},\"NodeNames\":null}"),
        ("prioritize", "{\"Pod\":" + Pod + ",\"Nodes\":{\"items\":[" + Node + "]}}"),
        ("preempt", "{\"Pod\":" + Pod + ",\"NodeNameToVictims\":{\"gpu-node-01\":{\"Pods\":[" + Pod + "],\"NumPDBViolations\":0}}}"),
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Verbs_MutatedNodeCacheCapableBodies_AnswerOnly200Or400AndKeepTheTableSound(int seed) =>
        await RunAsync(names, Sources("names"), seed);

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public async Task Verbs_MutatedFullNodeListBodies_AnswerOnly200Or400AndKeepTheTableSound(int seed) =>
        await RunAsync(full, Sources("full"), seed);

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    public async Task Verbs_MutatedApiServerObjects_AnswerOnly200Or400AndKeepTheTableSound(int seed) =>
        await RunAsync(names, ApiServerBodies, seed);

    [Fact]
    public void ReadPod_MutatedApiServerPods_EitherReadsOrNamesAPathAndTheCoreNeverThrows()
    {
        // The informers and cluster files read pods and nodes with the same mapper, without HTTP around it.
        var mutator = new JsonMutator(31);
        var pipeline = new SchedulingPipeline(new PipelineOptions());
        for (var i = 0; i < 2000; i++)
        {
            var source = i % 2 == 0 ? CapturedBodies.CreatedPod : CapturedBodies.Node;
            var text = mutator.Mutate(source);
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(text);
            }
            catch (JsonException)
            {
                continue; // truncated: never reaches the mapper
            }

            using (document)
            {
                try
                {
                    if (i % 2 == 0)
                    {
                        var pod = ObjectJson.ReadPod(document.RootElement, "$");
                        _ = pipeline.EvaluatePod(pod, ExtenderFactory.Now);
                    }
                    else
                    {
                        _ = InventoryReader.Read(ObjectJson.ReadNode(document.RootElement, "$"));
                    }
                }
                catch (ObjectReadException ex)
                {
                    Assert.StartsWith("$", ex.Path, StringComparison.Ordinal);
                }
            }
        }
    }

    private static IReadOnlyList<(string Verb, string Body)> Sources(string mode) =>
        [.. Fixtures.PayloadFiles(mode).Select(f => (Fixtures.VerbOf(f), File.ReadAllText(Fixtures.PayloadPath(mode, f))))];

    private static async Task RunAsync(ExtenderFixture cluster, IReadOnlyList<(string Verb, string Body)> sources, int seed)
    {
        var client = cluster.Client;
        var state = cluster.Factory.Services.GetRequiredService<ClusterState>();
        var mutator = new JsonMutator(seed);
        var random = new Random(seed);
        var table = await AllocationsAsync(client);
        for (var i = 0; i < CasesPerSeed; i++)
        {
            var (verb, body) = sources[random.Next(sources.Count)];
            var mutated = random.Next(8) == 0 ? body : mutator.Mutate(body);
            var readOnly = verb is "filter" or "prioritize" or "preempt";
            var before = Snapshots(state);

            var answer = await Fixtures.PostAsync(client, "/" + verb, mutated);

            var replay = $"seed {seed} case {i}, /{verb}: {Shorten(mutated)}\n=> {Shorten(answer.ToString())}";
            Assert.True(answer.Status is HttpStatusCode.OK or HttpStatusCode.BadRequest, replay);
            if (answer.Status == HttpStatusCode.BadRequest)
            {
                var error = answer.Json.GetProperty("Error").GetString() ?? string.Empty;
                Assert.True(error.Contains('$', StringComparison.Ordinal), $"the error names no path: {replay}");
            }

            if (!readOnly)
            {
                table = await AllocationsAsync(client);
                continue;
            }

            // Every node's usage is an immutable snapshot: a verb that changed nothing left each one the same object.
            Assert.True(before.SequenceEqual(Snapshots(state)), $"/{verb} changed a node's usage: {replay}");
            if (i % 16 == 0)
            {
                Assert.True(table == await AllocationsAsync(client), $"/{verb} changed /inspect: {replay}");
            }
        }

        AssertNoOverAllocation((await Fixtures.GetAsync(client, "/inspect")).Json);
    }

    private static List<object> Snapshots(ClusterState state) => [.. state.Nodes().Select(n => (object)n.Usage), state.AssumedCount];

    /// <summary>The allocation part of /inspect: every node's GPUs and holds, and the assumed pods.</summary>
    private static async Task<string> AllocationsAsync(HttpClient client)
    {
        var inspect = (await Fixtures.GetAsync(client, "/inspect")).Json;
        return inspect.GetProperty("nodes").GetRawText() + inspect.GetProperty("assumedPods").GetRawText();
    }

    /// <summary>No GPU holds more compute or memory than it has, no partition is held twice, and no record conflicts.</summary>
    internal static void AssertNoOverAllocation(JsonElement inspect)
    {
        foreach (var node in inspect.GetProperty("nodes").EnumerateArray())
        {
            var name = node.GetProperty("name").GetString();
            Assert.Empty(node.GetProperty("conflicts").EnumerateArray());
            foreach (var gpu in node.GetProperty("gpus").EnumerateArray())
            {
                var where = $"{name} GPU {gpu.GetProperty("index").GetInt32()}";
                var pods = gpu.GetProperty("pods").EnumerateArray().ToList();
                var compute = pods.Sum(p => decimal.Parse(p.GetProperty("compute").GetString()!, CultureInfo.InvariantCulture));
                Assert.True(compute <= 1m, $"{where}: pods hold {compute} of its compute");
                var memory = gpu.GetProperty("memoryMiB").GetInt64();
                var held = pods.Sum(p => p.GetProperty("memoryMiB").GetInt64());
                Assert.True(memory == 0 || held <= memory, $"{where}: pods hold {held} MiB of {memory}");
                var partitions = pods.SelectMany(p => p.GetProperty("partitions").EnumerateArray().Select(x => x.GetInt32())).ToList();
                Assert.True(partitions.Count == partitions.Distinct().Count(), $"{where}: a partition is held twice");
            }
        }
    }

    private static string Shorten(string text) => text.Length <= 2000 ? text : text[..2000] + $"... ({text.Length} characters)";
}

using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kaiwo.Extender.Tests.FakeApiServer;
using static Kaiwo.Extender.Tests.Live.LiveObjects;

namespace Kaiwo.Extender.Tests.Live;

/// <summary>
/// Records written by someone else that over-claim a GPU, seen through the informer: /inspect lists the GPU under
/// conflicts, the GPU takes no new pods, the gauge kaiwo_gpu_conflicts counts it, and deleting the pod clears it.
/// </summary>
public sealed partial class RecordConflictLiveTests : IAsyncLifetime
{
    private FakeKubeApiServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeKubeApiServer.StartAsync();
        _server.CreateNode(Mi300X("gpu-node-1"));
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Record(int milli, long mib) =>
        $$"""{"version":1,"node":"gpu-node-1","kind":"shared","isolation":"time-slicing","gpus":[{"index":0,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[0],"computeMilli":{{milli}},"memoryMiB":{{mib}}}]}""";

    private static string FilterEightGpus() => """
        {"Pod": {"metadata": {"name": "eight", "namespace": "team-a", "uid": "8e8e8e8e-0000-4000-8000-000000000008"},
                 "spec": {"containers": [{"name": "main", "image": "rocm/pytorch", "resources": {"limits": {"amd.com/gpu": "8"}}}]}},
         "NodeNames": ["gpu-node-1"]}
        """;

    [Fact]
    public async Task Informer_RecordsOverClaimingAGpu_ListConflictRefuseNewPodsCountItAndClearWhenThePodGoes()
    {
        _server.CreatePod(Pod("a", new() { ["kaiwo.ai/gpu-allocation"] = Record(600, 120_000) }, node: "gpu-node-1"));
        _server.CreatePod(Pod("b", new() { ["kaiwo.ai/gpu-allocation"] = Record(600, 120_000) }, node: "gpu-node-1"));
        await using var extender = await LiveExtender.StartAsync(_server);

        var conflict = Assert.Single((await InspectAsync(extender)).GetProperty("conflicts").EnumerateArray());
        Assert.Equal(0, conflict.GetProperty("gpu").GetInt32());
        Assert.Equal(["team-a/a", "team-a/b"], JsonShape.Strings(conflict.GetProperty("pods")));
        Assert.Equal("compute 1.2 claimed, it has 1; memory 240000 MiB claimed, it has 196608 MiB", conflict.GetProperty("reason").GetString());

        var refused = await Fixtures.PostAsync(extender.Client, "/filter", FilterEightGpus());
        var reason = JsonShape.StringMap(refused.Json.GetProperty("FailedNodes"))["gpu-node-1"];
        Assert.Contains("GPUs in conflict take no new pods", reason, StringComparison.Ordinal);
        Assert.Equal(1, await ConflictGaugeAsync(extender, expected: 1));

        _server.DeletePod("team-a", "b");

        await LiveExtender.Eventually(() => extender.State.ConflictedGpuCount == 0, "the conflict to clear");
        Assert.Empty((await InspectAsync(extender)).GetProperty("conflicts").EnumerateArray());
        Assert.Equal(0, await ConflictGaugeAsync(extender, expected: 0));

        // GPU 0 takes pods again: binpack puts a new fraction on it, the fullest GPU.
        var late = _server.CreatePod(Fraction("late", "0.3"));
        await LiveExtender.Eventually(() => extender.State.TryGetPod(late.Metadata.Uid, out _, out _), "the new pod seen");
        Assert.Equal(string.Empty, await extender.BindAsync(late, "gpu-node-1"));
        Assert.Equal("0", _server.GetPod("team-a", "late")!.Metadata.Annotations["kaiwo.ai/visible-devices"]);
    }

    private static async Task<JsonElement> InspectAsync(LiveExtender extender)
    {
        var answer = await Fixtures.GetAsync(extender.Client, "/inspect/gpu-node-1");
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        return answer.Json;
    }

    /// <summary>
    /// The gauge as Prometheus scrapes it, by its exposed name; scraped until it shows <paramref name="expected"/>
    /// (the exporter serves a cached scrape for a moment), and the last value read is returned.
    /// </summary>
    private static async Task<int> ConflictGaugeAsync(LiveExtender extender, int expected)
    {
        var deadline = DateTime.UtcNow + LiveExtender.Timeout;
        while (true)
        {
            // A scrape served from the exporter's cache may predate the gauge's first collection: scrape again.
            var text = await extender.Client.GetStringAsync("/metrics");
            var exposed = text.Contains("# TYPE kaiwo_gpu_conflicts gauge", StringComparison.Ordinal);
            if (!exposed && DateTime.UtcNow <= deadline)
            {
                await Task.Delay(50);
                continue;
            }

            Assert.Contains("# TYPE kaiwo_gpu_conflicts gauge", text, StringComparison.Ordinal);
            var value = int.Parse(ConflictSample().Match(text).Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (value == expected || DateTime.UtcNow > deadline)
            {
                return value;
            }

            await Task.Delay(50);
        }
    }

    [GeneratedRegex("^kaiwo_gpu_conflicts\\{[^}]*\\} (?<value>\\d+)", RegexOptions.Multiline)]
    private static partial Regex ConflictSample();
}

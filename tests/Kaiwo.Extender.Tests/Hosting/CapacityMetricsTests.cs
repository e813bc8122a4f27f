using System.Globalization;
using System.Text.RegularExpressions;
using Kaiwo.Extender.Tests.Verbs;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>
/// The captured cluster's nodes with two shared pods on gpu-node-01 (0.25 and 0.5 on GPU 0, 0.1 on GPU 1), one
/// whole-GPU pod on gpu-node-02, and a pod still bound to gpu-node-gone, a node the cluster no longer has.
/// </summary>
public sealed class CapacityCluster() : NamesClusterWith(Pods())
{
    private static string RunningPod(string name, int n, string node, string fraction, string record) => $$"""
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: {{name}}
          namespace: team-a
          uid: 7b0e1c1e-0000-4000-8000-00000000000{{n}}
          annotations:
            kaiwo.ai/gpu-fraction: "{{fraction}}"
            kaiwo.ai/gpu-allocation: '{{record}}'
        spec:
          nodeName: {{node}}
          schedulerName: kaiwo-scheduler
          containers: [{name: main, image: rocm/pytorch}]
        status: {phase: Running}
        """;

    private static string Shared(string node, int gpu, int milli) =>
        $$"""{"version":1,"node":"{{node}}","kind":"shared","isolation":"time-slicing","gpus":[{"index":{{gpu}},"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[{{gpu}}],"computeMilli":{{milli}},"memoryMiB":{{milli * 192}}}]}""";

    private static string Pods()
    {
        var whole = """{"version":1,"node":"gpu-node-02","kind":"whole","isolation":"time-slicing","gpus":[{"index":3,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[3],"computeMilli":1000,"memoryMiB":196608}]}""";
        return string.Join(
            "\n",
            RunningPod("quarter", 1, "gpu-node-01", "0.25", Shared("gpu-node-01", 0, 250)),
            RunningPod("half", 2, "gpu-node-01", "0.5", Shared("gpu-node-01", 0, 500)),
            RunningPod("tenth", 3, "gpu-node-01", "0.1", Shared("gpu-node-01", 1, 100)),
            RunningPod("whole", 4, "gpu-node-02", "1", whole),
            RunningPod("left-behind", 5, "gpu-node-gone", "0.5", Shared("gpu-node-gone", 2, 500)));
    }
}

/// <summary>The capacity, fragmentation, orphan and readiness gauges, read from /metrics.</summary>
[Collection(nameof(MetricValues))]
public sealed class CapacityMetricsTests(CapacityCluster cluster) : IClassFixture<CapacityCluster>
{
    private async Task<double> ValueAsync(string metric, string node)
    {
        var text = await cluster.Client.GetStringAsync("/metrics");
        var line = Regex.Match(text, $@"^{metric}\{{otel_scope_name=""Kaiwo.Extender"",node=""{node}""\}} (\S+)", RegexOptions.Multiline);
        Assert.True(line.Success, $"no {metric} for node {node} in:\n{text}");
        return double.Parse(line.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Metrics_SharedPodsOnTwoGpus_AllocatedAndStrandedInGpus()
    {
        Assert.Equal(8, await ValueAsync("kaiwo_gpu_capacity", "gpu-node-01"));
        Assert.Equal(0.85, await ValueAsync("kaiwo_gpu_allocated", "gpu-node-01"), 6);
        Assert.Equal(0.25 + 0.9, await ValueAsync("kaiwo_gpu_stranded", "gpu-node-01"), 6);
        Assert.Equal(6, await ValueAsync("kaiwo_gpu_free_whole", "gpu-node-01"));
    }

    [Fact]
    public async Task Metrics_WholeGpuPod_AllocatedButNothingStranded()
    {
        Assert.Equal(1, await ValueAsync("kaiwo_gpu_allocated", "gpu-node-02"));
        Assert.Equal(0, await ValueAsync("kaiwo_gpu_stranded", "gpu-node-02"));
        Assert.Equal(7, await ValueAsync("kaiwo_gpu_free_whole", "gpu-node-02"));
        Assert.Equal(1.0 / 8, await ValueAsync("kaiwo_gpu_allocated_ratio", "gpu-node-02"), 6);
    }

    [Fact]
    public async Task Metrics_PodBoundToANodeTheClusterNoLongerHas_CountsAsOrphanedUnderThatNode()
    {
        Assert.Equal(0.5, await ValueAsync("kaiwo_gpu_orphaned", "gpu-node-gone"));

        var text = await cluster.Client.GetStringAsync("/metrics");
        Assert.DoesNotContain("kaiwo_gpu_orphaned{otel_scope_name=\"Kaiwo.Extender\",node=\"gpu-node-01\"}", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_LoadedStandaloneCluster_IsReady()
    {
        var text = await cluster.Client.GetStringAsync("/metrics");

        Assert.Contains("kaiwo_extender_ready{otel_scope_name=\"Kaiwo.Extender\"} 1", text, StringComparison.Ordinal);
    }
}

using System.Text.Json;
using k8s;
using k8s.Models;

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>
/// A real kube-apiserver and kube-scheduler (v1.26.1), the scheduler running the project's own
/// <c>scheduler-config/scheduler-config.yaml</c>, and the extender in live mode between them. Started once for the
/// class; every test creates pods of its own.
/// </summary>
public sealed class RealSchedulerCluster : IAsyncLifetime
{
    private ControlPlane? _controlPlane;
    private RealExtender? _extender;

    internal ControlPlane ControlPlane => _controlPlane ?? throw new InvalidOperationException("the control plane did not start");

    internal RealExtender Extender => _extender ?? throw new InvalidOperationException("the extender did not start");

    public async Task InitializeAsync()
    {
        if (ControlPlaneBinaries.Missing is not null)
        {
            return; // Each test says why it is skipped (or, under KAIWO_REQUIRE_K8S=1, fails).
        }

        _controlPlane = await ControlPlane.StartAsync();
        await _controlPlane.CreateReadyNodeAsync(RealObjects.Mi300X("gpu-a"));
        await _controlPlane.CreateReadyNodeAsync(RealObjects.Mi300X("gpu-b"));
        _extender = await RealExtender.StartAsync(_controlPlane);
        await _controlPlane.StartSchedulerAsync(_extender.SchedulerConfiguration());
    }

    public async Task DisposeAsync()
    {
        if (_extender is not null)
        {
            await _extender.DisposeAsync();
        }

        if (_controlPlane is not null)
        {
            await _controlPlane.DisposeAsync();
        }
    }
}

public sealed class RealSchedulerTests(RealSchedulerCluster cluster) : IClassFixture<RealSchedulerCluster>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task Bind_RealSchedulerPlacesFractionalAndWholePods_EachPodCarriesTheRecordOfItsNode()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        var client = cluster.ControlPlane.Client;
        string[] names = ["place-half-1", "place-half-2", "place-quarter", "place-whole-2"];
        await client.CoreV1.CreateNamespacedPodAsync(RealObjects.Fraction(names[0], "0.5"), "default");
        await client.CoreV1.CreateNamespacedPodAsync(RealObjects.Fraction(names[1], "0.5"), "default");
        await client.CoreV1.CreateNamespacedPodAsync(RealObjects.Fraction(names[2], "0.25"), "default");
        await client.CoreV1.CreateNamespacedPodAsync(RealObjects.Pod(names[3], gpus: 2), "default");

        var pods = await ControlPlane.EventuallyAsync(
            async () => await Task.WhenAll(names.Select(n => client.CoreV1.ReadNamespacedPodAsync(n, "default"))),
            all => all.All(p => p.Spec.NodeName is not null),
            Patience,
            all => $"pods not bound: {string.Join(", ", all.Where(p => p.Spec.NodeName is null).Select(p => p.Metadata.Name))}\n{cluster.ControlPlane.SchedulerLog[^Math.Min(3000, cluster.ControlPlane.SchedulerLog.Length)..]}");

        foreach (var pod in pods)
        {
            Assert.True(pod.Metadata.Annotations.TryGetValue("kaiwo.ai/gpu-allocation", out var record), $"{pod.Metadata.Name} has no allocation record");
            using var doc = JsonDocument.Parse(record);
            Assert.Equal(pod.Spec.NodeName, doc.RootElement.GetProperty("node").GetString());
        }

        var whole = pods.Single(p => p.Metadata.Name == names[3]);
        using (var record = JsonDocument.Parse(whole.Metadata.Annotations["kaiwo.ai/gpu-allocation"]))
        {
            Assert.Equal(2, record.RootElement.GetProperty("gpus").GetArrayLength());
        }

        // kube-scheduler binds asynchronously: the next pod may be filtered before the last one's bind reached the
        // extender, so where the fractions land is the scheduler's business; that no GPU is over-allocated is ours.
        var computePerGpu = new Dictionary<string, int>();
        foreach (var pod in pods)
        {
            using var record = JsonDocument.Parse(pod.Metadata.Annotations["kaiwo.ai/gpu-allocation"]);
            foreach (var gpu in record.RootElement.GetProperty("gpus").EnumerateArray())
            {
                var key = $"{pod.Spec.NodeName}/{gpu.GetProperty("index").GetInt32()}";
                computePerGpu[key] = computePerGpu.GetValueOrDefault(key) + gpu.GetProperty("computeMilli").GetInt32();
            }
        }

        Assert.All(computePerGpu, gpu => Assert.InRange(gpu.Value, 1, 1000));
    }

    [SkippableFact]
    public async Task Filter_RealSchedulerAsksForAPodNoNodeCanTake_PodStaysPendingWithTheExtendersReason()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        var client = cluster.ControlPlane.Client;
        var pod = RealObjects.Pod("never-xcd", new() { ["kaiwo.ai/gpu-fraction"] = "0.25", ["kaiwo.ai/gpu-isolation"] = "xcd" });
        await client.CoreV1.CreateNamespacedPodAsync(pod, "default");

        var refused = await ControlPlane.EventuallyAsync(
            () => client.CoreV1.ReadNamespacedPodAsync("never-xcd", "default"),
            p => p.Status?.Conditions?.Any(c => c.Type == "PodScheduled" && c.Status == "False") == true,
            Patience,
            p => $"no PodScheduled=False condition yet on {p.Metadata.Name}");

        Assert.Null(refused.Spec.NodeName);
        var condition = refused.Status.Conditions.Single(c => c.Type == "PodScheduled");
        Assert.Contains("XCD partitions", condition.Message, StringComparison.Ordinal);
        Assert.False(refused.Metadata.Annotations?.ContainsKey("kaiwo.ai/gpu-allocation") ?? false);
    }
}

/// <summary>A control plane of its own: the test stops and starts the extender.</summary>
public sealed class RealExtenderRestartTests
{
    [SkippableFact]
    public async Task Start_AfterRealSchedulerBoundPods_RestartedExtenderRebuildsTheSameTable()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        await using var controlPlane = await ControlPlane.StartAsync();
        await controlPlane.CreateReadyNodeAsync(RealObjects.Mi300X("gpu-a"));
        await controlPlane.CreateReadyNodeAsync(RealObjects.Mi300X("gpu-b"));
        var port = ControlPlane.FreePort();
        string before;
        await using (var extender = await RealExtender.StartAsync(controlPlane, port: port))
        {
            await controlPlane.StartSchedulerAsync(extender.SchedulerConfiguration());
            for (var i = 0; i < 6; i++)
            {
                await controlPlane.Client.CoreV1.CreateNamespacedPodAsync(RealObjects.Fraction($"restart-{i}", i % 2 == 0 ? "0.5" : "0.125"), "default");
            }

            await controlPlane.Client.CoreV1.CreateNamespacedPodAsync(RealObjects.Pod("restart-whole", gpus: 3), "default");
            await ControlPlane.EventuallyAsync(
                () => controlPlane.Client.CoreV1.ListNamespacedPodAsync("default"),
                list => list.Items.Count == 7 && list.Items.All(p => p.Spec.NodeName is not null),
                TimeSpan.FromSeconds(30),
                list => $"{list.Items.Count(p => p.Spec.NodeName is null)} pods not bound");

            // The watch has shown every bind once the table holds seven pods.
            before = await ControlPlane.EventuallyAsync(extender.TableAsync, table => CountPods(table) == 7, TimeSpan.FromSeconds(10), table => $"table holds {CountPods(table)} pods");
        }

        await using var restarted = await RealExtender.StartAsync(controlPlane, port: port);
        Assert.Equal(before, await restarted.TableAsync());
    }

    private static int CountPods(string table)
    {
        using var doc = JsonDocument.Parse(table);
        return doc.RootElement.EnumerateArray()
            .SelectMany(node => node.GetProperty("gpus").EnumerateArray())
            .SelectMany(gpu => gpu.GetProperty("pods").EnumerateArray())
            .Select(pod => pod.GetProperty("uid").GetString())
            .Distinct()
            .Count();
    }
}

using System.Diagnostics;
using k8s;
using k8s.Models;
using Xunit.Abstractions;

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>
/// Gangs on the real kube-scheduler and kube-apiserver: all of a group's members or none, whatever order the
/// scheduler tries them in, and a complete gang started in seconds once it fits (the extender asks the scheduler to
/// retry its members instead of leaving them to the scheduler's back-off). Each test has a control plane of its own.
/// </summary>
public sealed class RealGangTests(ITestOutputHelper output)
{
    private const string Namespace = "default";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static V1Pod Member(string group, int size, int index, int gpus = 1)
    {
        var pod = RealObjects.Pod($"{group}-{index}", new() { ["kaiwo.ai/pod-group"] = group, ["kaiwo.ai/pod-group-size"] = $"{size}" }, gpus);
        pod.Spec.NodeSelector = new Dictionary<string, string> { ["kubernetes.io/hostname"] = "gang-node" };
        return pod;
    }

    private static async Task<IList<V1Pod>> PodsAsync(k8s.Kubernetes client, string prefix) =>
        [.. (await client.CoreV1.ListNamespacedPodAsync(Namespace)).Items.Where(p => p.Metadata.Name.StartsWith(prefix, StringComparison.Ordinal))];

    private static int Bound(IEnumerable<V1Pod> pods) => pods.Count(p => p.Spec.NodeName is not null);

    private static string Conditions(IEnumerable<V1Pod> pods) => string.Join("\n", pods.Select(p =>
        $"{p.Metadata.Name}: node {p.Spec.NodeName ?? "none"}, {p.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled")?.Message ?? "no condition"}"));

    [SkippableFact]
    public async Task Bind_GangOfEightOnSixFreeGpus_BindsNoneThenAllEightWithinTenSecondsOfTwoFreeing()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        await using var controlPlane = await ControlPlane.StartAsync();
        await controlPlane.CreateReadyNodeAsync(RealObjects.Mi300X("gang-node"));
        await controlPlane.CreateReadyNodeAsync(RealObjects.Mi300X("small-node"));
        await using var extender = await RealExtender.StartAsync(controlPlane);
        await controlPlane.StartSchedulerAsync(extender.SchedulerConfiguration());
        var client = controlPlane.Client;

        // Two of the gang node's eight GPUs are taken.
        var blocker = RealObjects.Pod("blocker", gpus: 2);
        blocker.Spec.NodeSelector = new Dictionary<string, string> { ["kubernetes.io/hostname"] = "gang-node" };
        await client.CoreV1.CreateNamespacedPodAsync(blocker, Namespace);
        await ControlPlane.EventuallyAsync(() => client.CoreV1.ReadNamespacedPodAsync("blocker", Namespace), p => p.Spec.NodeName is not null, Patience, _ => "the blocker is not bound");

        // A stream of small pods on the other node runs through the extender the whole time.
        using var stopStream = new CancellationTokenSource();
        var stream = StreamSmallPodsAsync(client, stopStream.Token);

        for (var i = 0; i < 8; i++)
        {
            await client.CoreV1.CreateNamespacedPodAsync(Member("train", 8, i), Namespace);
        }

        // Every member is refused with the gang's reason, and none is bound.
        var waiting = await ControlPlane.EventuallyAsync(
            () => PodsAsync(client, "train-"),
            pods => pods.Count == 8 && pods.All(p => p.Status?.Conditions?.Any(c => c.Type == "PodScheduled" && c.Status == "False") == true),
            Patience,
            Conditions);
        Assert.Equal(0, Bound(waiting));
        Assert.Contains(waiting, p => p.Status.Conditions.Single(c => c.Type == "PodScheduled").Message.Contains("gang default/train", StringComparison.Ordinal));

        // Two GPUs free up: the whole gang binds within ten seconds.
        var freed = Stopwatch.StartNew();
        await client.CoreV1.DeleteNamespacedPodAsync("blocker", Namespace, new V1DeleteOptions { GracePeriodSeconds = 0 });
        var placed = await ControlPlane.EventuallyAsync(() => PodsAsync(client, "train-"), pods => Bound(pods) == 8, TimeSpan.FromSeconds(20), Conditions);
        var elapsed = freed.Elapsed;

        await stopStream.CancelAsync();
        var smallBound = await stream;
        output.WriteLine($"all 8 members bound {elapsed.TotalSeconds:0.00} s after the two GPUs freed; {smallBound} small pods bound beside them");
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"the gang took {elapsed.TotalSeconds:0.0} s to bind after the GPUs freed");
        Assert.All(placed, p => Assert.Equal("gang-node", p.Spec.NodeName));
        Assert.Equal(8, placed.SelectMany(p => Devices(p)).Distinct().Count());
        Assert.True(smallBound > 0, "no small pod was placed beside the gang");
    }

    [SkippableFact]
    public async Task Bind_TwoGangsExceedingTheCluster_OneIsPlacedWholeAndTheOtherWaitsWithNoneBound()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        await using var controlPlane = await ControlPlane.StartAsync();
        await controlPlane.CreateReadyNodeAsync(RealObjects.Mi300X("gang-node"));
        await using var extender = await RealExtender.StartAsync(controlPlane);
        await controlPlane.StartSchedulerAsync(extender.SchedulerConfiguration());
        var client = controlPlane.Client;

        // Six GPUs each, eight in the cluster, the members created interleaved.
        for (var i = 0; i < 3; i++)
        {
            await client.CoreV1.CreateNamespacedPodAsync(Member("alpha", 3, i, gpus: 2), Namespace);
            await client.CoreV1.CreateNamespacedPodAsync(Member("beta", 3, i, gpus: 2), Namespace);
        }

        var settled = await ControlPlane.EventuallyAsync(
            async () => (Alpha: await PodsAsync(client, "alpha-"), Beta: await PodsAsync(client, "beta-")),
            p => (Bound(p.Alpha) == 3 && Refused(p.Beta)) || (Bound(p.Beta) == 3 && Refused(p.Alpha)),
            Patience,
            p => Conditions([.. p.Alpha, .. p.Beta]));

        var (placed, waiting) = Bound(settled.Alpha) == 3 ? (settled.Alpha, settled.Beta) : (settled.Beta, settled.Alpha);
        Assert.Equal(0, Bound(waiting));
        Assert.Equal(6, placed.SelectMany(p => Devices(p)).Distinct().Count());
        Assert.All(waiting, p => Assert.Contains("gang default/", p.Status.Conditions.Single(c => c.Type == "PodScheduled").Message, StringComparison.Ordinal));

        // The extender's table holds the placed gang and nothing of the waiting one: no half-held devices.
        var waitingGroup = waiting[0].Metadata.Annotations["kaiwo.ai/pod-group"];
        var table = await extender.TableAsync();
        Assert.Contains($"default/{placed[0].Metadata.Annotations["kaiwo.ai/pod-group"]}-", table, StringComparison.Ordinal);
        Assert.DoesNotContain($"default/{waitingGroup}-", table, StringComparison.Ordinal);
        Assert.Equal(0, Bound(await PodsAsync(client, waitingGroup + "-")));
    }

    /// <summary>Waiting members refused after the other gang was placed: every one has a PodScheduled=False condition.</summary>
    private static bool Refused(IList<V1Pod> pods) =>
        pods.Count == 3 && Bound(pods) == 0 && pods.All(p => p.Status?.Conditions?.Any(c => c.Type == "PodScheduled" && c.Status == "False") == true);

    private static IEnumerable<string> Devices(V1Pod pod) =>
        pod.Metadata.Annotations["kaiwo.ai/visible-devices"].Split(',').Select(d => $"{pod.Spec.NodeName}/{d}");

    /// <summary>
    /// Creates quarter-GPU pods on the small node one after another until stopped, deleting the oldest eight whenever
    /// eight more exist (so the node never fills); returns how many of them were seen bound.
    /// </summary>
    private static async Task<int> StreamSmallPodsAsync(k8s.Kubernetes client, CancellationToken stop)
    {
        var created = 0;
        var bound = 0;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var pod = RealObjects.Fraction($"small-{created}", "0.25");
                pod.Spec.NodeSelector = new Dictionary<string, string> { ["kubernetes.io/hostname"] = "small-node" };
                await client.CoreV1.CreateNamespacedPodAsync(pod, Namespace, cancellationToken: stop);
                created++;
                if (created % 8 == 0)
                {
                    bound += await BoundAndDeletedAsync(client, created - 8, created, stop);
                }

                await Task.Delay(100, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped.
        }

        return bound + await BoundAndDeletedAsync(client, created / 8 * 8, created, CancellationToken.None);
    }

    private static async Task<int> BoundAndDeletedAsync(k8s.Kubernetes client, int from, int to, CancellationToken stop)
    {
        var bound = 0;
        for (var i = from; i < to; i++)
        {
            var pod = await client.CoreV1.ReadNamespacedPodAsync($"small-{i}", Namespace, cancellationToken: stop);
            bound += pod.Spec.NodeName is null ? 0 : 1;
            await client.CoreV1.DeleteNamespacedPodAsync($"small-{i}", Namespace, new V1DeleteOptions { GracePeriodSeconds = 0 }, cancellationToken: stop);
        }

        return bound;
    }
}

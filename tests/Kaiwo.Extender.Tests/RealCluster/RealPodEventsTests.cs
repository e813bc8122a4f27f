using k8s;

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>
/// The GpuAllocated event on the real API server, where an operator sees it: a pod placed by the real kube-scheduler
/// through the extender shows the event in <c>kubectl describe pod</c>.
/// </summary>
public sealed class RealPodEventsTests(RealSchedulerCluster cluster) : IClassFixture<RealSchedulerCluster>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task Bind_RealScheduler_PodDescribesGpuAllocatedWithItsNodeAndShare()
    {
        Kubectl.SkipUnlessAvailable();
        var client = cluster.ControlPlane.Client;
        await client.CoreV1.CreateNamespacedPodAsync(RealObjects.Fraction("described", "0.25"), "default");
        var pod = await ControlPlane.EventuallyAsync(
            () => client.CoreV1.ReadNamespacedPodAsync("described", "default"),
            p => p.Spec.NodeName is not null,
            Patience,
            _ => "the pod was not bound");

        var described = await ControlPlane.EventuallyAsync(
            () => Kubectl.RunAsync(cluster.ControlPlane, null, "describe", "pod", "described", "--namespace", "default"),
            d => d.Output.Contains("GpuAllocated", StringComparison.Ordinal),
            Patience,
            d => $"no GpuAllocated event:\n{d}");

        Assert.Matches($@"Normal\s+GpuAllocated\s+.*kaiwo\.ai/scheduler-extender\s+bound to {pod.Spec.NodeName}: GPU \d+ \(.*0\.25 GPU", described.Output);
    }
}

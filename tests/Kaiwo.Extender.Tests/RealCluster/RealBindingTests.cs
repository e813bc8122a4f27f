using k8s;
using Kaiwo.Extender.Live;

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>
/// The premise of the one-call bind, proven on the real API server: a Binding's metadata.annotations land on the pod
/// in the same write that sets spec.nodeName, and a refused Binding writes none of them. The fake API server of the
/// other tests models the same (FakeKubeApiServerTests.BindPod_WithAnnotations_*).
/// </summary>
/// <remarks>
/// On the real scheduler's control plane (its nodes gpu-a and gpu-b), with pods of a scheduler that does not run, so
/// that only the test binds them.
/// </remarks>
public sealed class RealBindingTests(RealSchedulerCluster cluster) : IClassFixture<RealSchedulerCluster>
{
    private static readonly Dictionary<string, string> Record = new(StringComparer.Ordinal)
    {
        ["kaiwo.ai/gpu-allocation"] = """{"node":"gpu-a","gpus":[{"index":3,"computeMilli":250}]}""",
        ["kaiwo.ai/visible-devices"] = "3",
    };

    [SkippableFact]
    public async Task BindPodAsync_WithRecordAnnotations_ThePodIsBoundAndCarriesThemInOneWrite()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        var client = cluster.ControlPlane.Client;
        var created = await client.CoreV1.CreateNamespacedPodAsync(Unscheduled("one-call"), "default");
        using var api = Api();

        await api.BindPodAsync("default", "one-call", created.Metadata.Uid, "gpu-a", Record, CancellationToken.None);

        var pod = await client.CoreV1.ReadNamespacedPodAsync("one-call", "default");
        Assert.Equal("gpu-a", pod.Spec.NodeName);
        Assert.Equal(Record["kaiwo.ai/gpu-allocation"], pod.Metadata.Annotations["kaiwo.ai/gpu-allocation"]);
        Assert.Equal("3", pod.Metadata.Annotations["kaiwo.ai/visible-devices"]);
        Assert.Equal("0.25", pod.Metadata.Annotations["kaiwo.ai/gpu-fraction"]); // the pod's own annotations stay

    }

    [SkippableFact]
    public async Task BindPodAsync_PodAssignedElsewhere_RefusedWith409AndWritesNoAnnotation()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        var client = cluster.ControlPlane.Client;
        var created = await client.CoreV1.CreateNamespacedPodAsync(Unscheduled("taken"), "default");
        using var api = Api();
        await api.BindPodAsync("default", "taken", created.Metadata.Uid, "gpu-b", null, CancellationToken.None);

        var refused = await Assert.ThrowsAsync<KubernetesApiException>(() => api.BindPodAsync("default", "taken", created.Metadata.Uid, "gpu-a", Record, CancellationToken.None));

        Assert.Equal(409, refused.StatusCode);
        Assert.Contains("already assigned to node \"gpu-b\"", refused.ApiMessage, StringComparison.Ordinal);
        var pod = await client.CoreV1.ReadNamespacedPodAsync("taken", "default");
        Assert.Equal("gpu-b", pod.Spec.NodeName);
        Assert.False(pod.Metadata.Annotations.ContainsKey("kaiwo.ai/gpu-allocation"));
        Assert.False(pod.Metadata.Annotations.ContainsKey("kaiwo.ai/visible-devices"));
    }

    [SkippableFact]
    public async Task BindPodAsync_UidOfAnotherPod_TheServerDoesNotCheckItAndBinds()
    {
        // v1.26.1 gives a created Binding a uid of its own: metadata.uid is no precondition (the fake server models
        // this too), so the uid the extender sends guards nothing against a pod recreated under the same name.
        ControlPlaneBinaries.SkipUnlessAvailable();
        var client = cluster.ControlPlane.Client;
        await client.CoreV1.CreateNamespacedPodAsync(Unscheduled("recreated"), "default");
        using var api = Api();

        await api.BindPodAsync("default", "recreated", "00000000-0000-0000-0000-000000000000", "gpu-a", Record, CancellationToken.None);

        var pod = await client.CoreV1.ReadNamespacedPodAsync("recreated", "default");
        Assert.Equal("gpu-a", pod.Spec.NodeName);
        Assert.Equal("3", pod.Metadata.Annotations["kaiwo.ai/visible-devices"]);
    }

    private static k8s.Models.V1Pod Unscheduled(string name)
    {
        var pod = RealObjects.Fraction(name, "0.25");
        pod.Spec.SchedulerName = "no-scheduler-runs-this";
        return pod;
    }

    private KubernetesApi Api() =>
        new(new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(cluster.ControlPlane.Kubeconfig)));
}

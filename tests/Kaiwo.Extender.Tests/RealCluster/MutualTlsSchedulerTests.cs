using k8s;
using Kaiwo.Extender.Tests.Deployment;
using Kaiwo.Extender.Tests.Hosting;

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>
/// The HTTPS service mode against the real kube-scheduler (v1.26.1): the extender's verbs over HTTPS for clients with
/// a certificate of <c>Tls:ClientCaFile</c> only, and the scheduler running the project's own
/// <c>scheduler-config/scheduler-config-mtls.yaml</c> with only the address and the file paths changed. With its
/// client certificate it places a fractional pod; the same configuration without <c>certFile</c>/<c>keyFile</c> gets
/// no answer from any verb (the TLS handshake is refused), and its pod stays pending with that error as the reason.
/// </summary>
public sealed class MutualTlsSchedulerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task Bind_RealSchedulerWithAClientCertificate_PlacesAFractionalPodOverHttps()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        await using var cluster = await MutualTlsCluster.StartAsync(withClientCertificate: true);
        var controlPlane = cluster.ControlPlane;

        await controlPlane.Client.CoreV1.CreateNamespacedPodAsync(RealObjects.Fraction("mtls-quarter", "0.25"), "default");
        var pod = await ControlPlane.EventuallyAsync(
            () => controlPlane.Client.CoreV1.ReadNamespacedPodAsync("mtls-quarter", "default"),
            p => !string.IsNullOrEmpty(p.Spec.NodeName),
            Patience,
            p => $"mtls-quarter still pending; scheduler log:\n{controlPlane.SchedulerLog}");

        Assert.Equal("gpu-a", pod.Spec.NodeName);
        Assert.Contains("\"computeMilli\":250", pod.Metadata.Annotations["kaiwo.ai/gpu-allocation"], StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Filter_RealSchedulerWithoutAClientCertificate_GetsNoAnswerAndThePodStaysPendingWithTheConnectionError()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        await using var cluster = await MutualTlsCluster.StartAsync(withClientCertificate: false);
        var (controlPlane, extender) = (cluster.ControlPlane, cluster.Extender);

        await controlPlane.Client.CoreV1.CreateNamespacedPodAsync(RealObjects.Fraction("nocert-quarter", "0.25"), "default");
        var refusal = await ControlPlane.EventuallyAsync(
            () => controlPlane.Client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=nocert-quarter"),
            events => events.Items.Any(e => e.Reason == "FailedScheduling"),
            Patience,
            events => $"no FailedScheduling event yet ({string.Join("; ", events.Items.Select(e => e.Reason))}); scheduler log:\n{controlPlane.SchedulerLog}");
        var pod = await controlPlane.Client.CoreV1.ReadNamespacedPodAsync("nocert-quarter", "default");

        // The handshake is refused without a TLS alert: Go's client sees the connection end, before any HTTP answer
        // (as EOF, or, when it had the connection in its idle pool already, as "server closed idle connection").
        var message = refusal.Items.First(e => e.Reason == "FailedScheduling").Message;
        Assert.True(message.StartsWith($"Post \"https://{extender.Address.Authority}/filter\": ", StringComparison.Ordinal), message);
        Assert.True(
            message.EndsWith("EOF", StringComparison.Ordinal) || message.Contains("tls:", StringComparison.Ordinal) || message.EndsWith("http: server closed idle connection", StringComparison.Ordinal),
            message);
        Assert.True(string.IsNullOrEmpty(pod.Spec.NodeName), $"bound to {pod.Spec.NodeName}");
        Assert.False(pod.Metadata.Annotations?.ContainsKey("kaiwo.ai/gpu-allocation") ?? false);
    }

    /// <summary>scheduler-config-mtls.yaml pointed at this extender and the test's files; without the client pair when asked.</summary>
    internal static string SchedulerConfiguration(RealExtender extender, TestPki pki, bool withClientCertificate)
    {
        var text = File.ReadAllText(Path.Combine(DeploymentFiles.SchedulerConfigDirectory, "scheduler-config-mtls.yaml"));
        var replacements = new Dictionary<string, string>
        {
            ["https://kaiwo-scheduler-extender.kaiwo-system.svc:8888"] = $"https://127.0.0.1:{extender.Address.Port}",
            ["caFile: /etc/kaiwo/extender-client/ca.crt"] = $"caFile: {pki.CaFile}",
            ["certFile: /etc/kaiwo/extender-client/tls.crt"] = withClientCertificate ? $"certFile: {pki.ClientCertificateFile}" : string.Empty,
            ["keyFile: /etc/kaiwo/extender-client/tls.key"] = withClientCertificate ? $"keyFile: {pki.ClientKeyFile}" : string.Empty,
        };
        foreach (var (shipped, test) in replacements)
        {
            if (!text.Contains(shipped, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"scheduler-config-mtls.yaml no longer has \"{shipped}\": update the test");
            }

            text = text.Replace(shipped, test, StringComparison.Ordinal);
        }

        return text;
    }
}

/// <summary>
/// A control plane with one MI300X node, the extender in live mode with its verbs over HTTPS on loopback for clients
/// of a test CA only, and kube-scheduler on scheduler-config-mtls.yaml, with or without the client certificate.
/// </summary>
internal sealed class MutualTlsCluster : IAsyncDisposable
{
    private readonly TestPki _pki;

    private MutualTlsCluster(TestPki pki, ControlPlane controlPlane, RealExtender extender)
    {
        _pki = pki;
        ControlPlane = controlPlane;
        Extender = extender;
    }

    public ControlPlane ControlPlane { get; }

    public RealExtender Extender { get; }

    public static async Task<MutualTlsCluster> StartAsync(bool withClientCertificate)
    {
        var pki = TestPki.Create(DateTimeOffset.UtcNow);
        var controlPlane = await ControlPlane.StartAsync();
        RealExtender? extender = null;
        try
        {
            await controlPlane.CreateReadyNodeAsync(RealObjects.Mi300X("gpu-a"));
            var port = ControlPlane.FreePort();
            var settings = pki.Settings(clientCa: true);
            settings["Listeners:Verbs:Url"] = $"https://127.0.0.1:{port}";
            extender = await RealExtender.StartAsync(controlPlane, settings, port);
            await controlPlane.StartSchedulerAsync(MutualTlsSchedulerTests.SchedulerConfiguration(extender, pki, withClientCertificate));
            return new MutualTlsCluster(pki, controlPlane, extender);
        }
        catch
        {
            // A failed start leaves no etcd, API server or scheduler behind.
            if (extender is not null)
            {
                await extender.DisposeAsync();
            }

            await controlPlane.DisposeAsync();
            pki.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Extender.DisposeAsync();
        await ControlPlane.DisposeAsync();
        _pki.Dispose();
    }
}

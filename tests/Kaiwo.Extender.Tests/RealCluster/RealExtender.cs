using System.Text.Json;
using k8s.Models;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Tests.Deployment;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>
/// The real extender in live mode against a <see cref="ControlPlane"/>, on a real Kestrel port that kube-scheduler
/// can call, with real time. Started after the API server; the scheduler is pointed at it through the project's own
/// <c>scheduler-config/</c> file with only the extender's address changed.
/// </summary>
internal sealed class RealExtender : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private RealExtender(ExtenderFactory factory, int port)
    {
        Factory = factory;
        Client = factory.CreateClient(Kaiwo.Extender.Hosting.Listener.Verbs);
        Address = new Uri($"http://127.0.0.1:{port}");
    }

    public ExtenderFactory Factory { get; }

    public HttpClient Client { get; }

    /// <summary>Where kube-scheduler reaches the extender's verbs.</summary>
    public Uri Address { get; }

    public LiveCluster Cluster => Factory.Services.GetRequiredService<LiveCluster>();

    /// <summary>Starts an extender on <paramref name="controlPlane"/> and waits until nodes and pods are listed.</summary>
    public static async Task<RealExtender> StartAsync(ControlPlane controlPlane, IReadOnlyDictionary<string, string?>? settings = null, int port = 0)
    {
        var all = new Dictionary<string, string?>
        {
            ["Extender:Mode"] = "live",
            ["Kubernetes:Kubeconfig"] = controlPlane.Kubeconfig,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        port = port == 0 ? ControlPlane.FreePort() : port;
        var extender = new RealExtender(new ExtenderFactory(all, kestrel: true, fakeTime: false, port: port), port);
        await extender.Cluster.Nodes.Synced.WaitAsync(Timeout);
        await extender.Cluster.Pods.Synced.WaitAsync(Timeout);
        return extender;
    }

    /// <summary>The project's scheduler configuration, pointed at this extender and nothing else changed.</summary>
    public string SchedulerConfiguration(string? file = null)
    {
        var text = File.ReadAllText(file ?? DeploymentFiles.SchedulerConfigFile);
        const string shipped = "http://127.0.0.1:8888";
        if (!text.Contains(shipped, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"the scheduler configuration no longer calls the extender at {shipped}: update the test");
        }

        return text.Replace(shipped, Address.ToString().TrimEnd('/'), StringComparison.Ordinal);
    }

    /// <summary>The allocation table of /inspect, as text: what a restarted instance must reproduce byte for byte.</summary>
    public async Task<string> TableAsync()
    {
        using var doc = JsonDocument.Parse(await Client.GetStringAsync(new Uri("/inspect", UriKind.Relative)));
        return doc.RootElement.GetProperty("nodes").GetRawText();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Factory.DisposeAsync();
    }
}

/// <summary>Objects for the real API server: nodes as the AMD GPU operator labels them, pods as users write them.</summary>
internal static class RealObjects
{
    public static V1Node Mi300X(string name, int gpus = 8) => ControlPlane.Mi300XNode(name, gpus);

    /// <summary>A pod of our scheduler in namespace default (the fake API server's pods, in the namespace that exists here).</summary>
    public static V1Pod Pod(string name, Dictionary<string, string>? annotations = null, int gpus = 0) =>
        Live.LiveObjects.Pod(name, annotations, gpus, ns: "default");

    public static V1Pod Fraction(string name, string fraction) => Pod(name, new() { ["kaiwo.ai/gpu-fraction"] = fraction });
}

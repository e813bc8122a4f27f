using System.Net.Http.Json;
using System.Text.Json;
using k8s.Models;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Tests.FakeApiServer;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Live;

/// <summary>
/// The real extender in live mode against an in-process fake API server, reached through a kubeconfig file as a
/// deployment would. Real time with short reconnect and retry delays, so that backoffs elapse by themselves.
/// </summary>
internal sealed class LiveExtender : IAsyncDisposable
{
    private readonly string _kubeconfig;

    private LiveExtender(FakeKubeApiServer server, string kubeconfig, ExtenderFactory factory)
    {
        Server = server;
        _kubeconfig = kubeconfig;
        Factory = factory;
        Client = factory.IsKestrel ? factory.CreateClient(Kaiwo.Extender.Hosting.Listener.Verbs) : factory.CreateClient();
    }

    public FakeKubeApiServer Server { get; }

    public ExtenderFactory Factory { get; }

    public HttpClient Client { get; }

    public ClusterState State => Factory.Services.GetRequiredService<ClusterState>();

    public LiveCluster Cluster => Factory.Services.GetRequiredService<LiveCluster>();

    /// <summary>
    /// Starts an extender against <paramref name="server"/> and waits until nodes and pods are listed; with
    /// <paramref name="kestrel"/> on a real loopback port, for clients outside the process.
    /// </summary>
    public static async Task<LiveExtender> StartAsync(FakeKubeApiServer server, bool waitForSync = true, IReadOnlyDictionary<string, string?>? settings = null, bool kestrel = false)
    {
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"kaiwo-test-{Guid.NewGuid():N}.kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster:
                server: {server.BaseAddress.ToString().TrimEnd('/')}
            contexts:
            - name: fake
              context:
                cluster: fake
                user: fake
            current-context: fake
            users:
            - name: fake
              user:
                token: {FakeKubeApiServer.Token}
            """);
        var all = new Dictionary<string, string?>
        {
            ["Extender:Mode"] = "live",
            ["Kubernetes:Kubeconfig"] = kubeconfig,
            ["Kubernetes:ReconnectDelay"] = "00:00:00.020",
            ["Kubernetes:MaxReconnectDelay"] = "00:00:00.200",
            ["Kubernetes:RetryDelay"] = "00:00:00.010",
            ["Kubernetes:ListPageSize"] = "3",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var extender = new LiveExtender(server, kubeconfig, new ExtenderFactory(all, kestrel, fakeTime: false));
        if (waitForSync)
        {
            await extender.Cluster.Nodes.Synced.WaitAsync(Timeout);
            await extender.Cluster.Pods.Synced.WaitAsync(Timeout);
        }

        return extender;
    }

    public static TimeSpan Timeout { get; } = TimeSpan.FromSeconds(20);

    /// <summary>Waits for an effect of the informers (which apply events on their own threads), up to <see cref="Timeout"/>.</summary>
    public static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(10);
        }
    }

    public int HoldsOn(string node) => State.TryGetNode(node, out var n) ? n!.Usage.Holds.Count : -1;

    public async Task<string> BindAsync(V1Pod pod, string node)
    {
        using var response = await Client.PostAsJsonAsync("/bind", new { PodName = pod.Metadata.Name, PodNamespace = pod.Metadata.NamespaceProperty, PodUID = pod.Metadata.Uid, Node = node });
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("Error").GetString() ?? string.Empty;
    }

    /// <summary>The allocation table of /inspect, as text: what a restarted instance must reproduce byte for byte.</summary>
    public async Task<string> TableAsync()
    {
        using var doc = JsonDocument.Parse(await Client.GetStringAsync("/inspect"));
        return doc.RootElement.GetProperty("nodes").GetRawText();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Factory.DisposeAsync();
        File.Delete(_kubeconfig);
    }
}

/// <summary>Nodes and pods as the AMD GPU operator and users create them.</summary>
internal static class LiveObjects
{
    public static V1Node Mi300X(string name, int gpus = 8) => new()
    {
        ApiVersion = "v1",
        Kind = "Node",
        Metadata = new V1ObjectMeta
        {
            Name = name,
            Labels = new Dictionary<string, string>
            {
                ["amd.com/gpu.product-name"] = "AMD_Instinct_MI300X_OAM",
                ["amd.com/gpu.compute-memory-partition"] = "spx_nps1",
                ["amd.com/gpu.vram"] = "192G",
            },
        },
        Status = new V1NodeStatus
        {
            Allocatable = new Dictionary<string, ResourceQuantity> { ["amd.com/gpu"] = new($"{gpus}"), ["cpu"] = new("192") },
            Capacity = new Dictionary<string, ResourceQuantity> { ["amd.com/gpu"] = new($"{gpus}"), ["cpu"] = new("192") },
        },
    };

    public static V1Pod Pod(string name, Dictionary<string, string>? annotations = null, int gpus = 0, string? node = null, string ns = "team-a") => new()
    {
        ApiVersion = "v1",
        Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Annotations = annotations ?? [] },
        Spec = new V1PodSpec
        {
            SchedulerName = "kaiwo-scheduler",
            NodeName = node,
            Containers =
            [
                new V1Container
                {
                    Name = "main",
                    Image = "rocm/pytorch",
                    Resources = gpus > 0
                        ? new V1ResourceRequirements
                        {
                            Requests = new Dictionary<string, ResourceQuantity> { ["amd.com/gpu"] = new($"{gpus}") },
                            Limits = new Dictionary<string, ResourceQuantity> { ["amd.com/gpu"] = new($"{gpus}") },
                        }
                        : null,
                },
            ],
        },
        Status = new V1PodStatus { Phase = node is null ? "Pending" : "Running" },
    };

    public static V1Pod Fraction(string name, string fraction) => Pod(name, new() { ["kaiwo.ai/gpu-fraction"] = fraction });
}

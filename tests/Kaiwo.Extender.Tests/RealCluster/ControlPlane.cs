using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using k8s;
using k8s.Models;

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>
/// Where the real control plane's binaries are (kube-apiserver and kube-scheduler v1.26.1), and whether its tests
/// may run here. <c>KAIWO_K8S_BIN</c> names the folder; otherwise <c>../shared/k8s/bin</c> beside the repository.
/// Without them (a bare clone) the tests report themselves skipped; with <c>KAIWO_REQUIRE_K8S=1</c> (CI) a missing
/// piece fails the test instead, so that a green run cannot hide a skipped integration test. The end-to-end
/// benchmark (benchmarks/Kaiwo.EndToEnd) compiles this file too: it holds nothing of xunit.
/// </summary>
internal static partial class ControlPlaneBinaries
{
    public static string? Folder { get; } = Find();

    /// <summary>What is missing for a real control plane, or null when everything is there.</summary>
    public static string? Missing { get; } = FindMissing();

    private static string? Find()
    {
        var configured = Environment.GetEnvironmentVariable("KAIWO_K8S_BIN");
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SchedulerExtender.sln")))
            {
                var shared = Path.Combine(dir.FullName, "..", "shared", "k8s", "bin");
                return Directory.Exists(shared) ? Path.GetFullPath(shared) : null;
            }
        }

        return null;
    }

    private static string? FindMissing()
    {
        if (Folder is null)
        {
            return "no kube-apiserver binaries: set KAIWO_K8S_BIN or put ../shared/k8s/bin beside the repository";
        }

        foreach (var binary in new[] { "kube-apiserver", "kube-scheduler" })
        {
            if (!File.Exists(Path.Combine(Folder, binary)))
            {
                return $"{binary} is not in {Folder}";
            }
        }

        foreach (var tool in new[] { "etcd", "openssl", "curl", "bash" })
        {
            if (!OnPath(tool))
            {
                return $"{tool} is not on PATH" + (tool == "etcd" ? " (apt-get install -y etcd-server)" : string.Empty);
            }
        }

        return null;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, tool)));
}

/// <summary>
/// A private, real control plane on loopback: etcd and kube-apiserver started by <c>control-plane.sh</c> on free
/// ports in a folder of its own, and, when asked, kube-scheduler with a given configuration (started separately, so
/// that a test can point it at an extender it started after the API server). Nodes are API objects the test creates
/// and marks Ready; pods are bound but never run. Disposing stops exactly what it started.
/// </summary>
internal sealed class ControlPlane : IAsyncDisposable
{
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "RealCluster", "control-plane.sh");
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private ControlPlane(string directory, int apiPort)
    {
        Directory = directory;
        ApiPort = apiPort;
        Client = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(Kubeconfig));
    }

    /// <summary>The folder with kubeconfig, token, ca.crt, logs/ and run/.</summary>
    public string Directory { get; }

    public int ApiPort { get; }

    /// <summary>kube-scheduler's secure port (its /healthz and /metrics), once <see cref="StartSchedulerAsync"/> ran.</summary>
    public int SchedulerPort { get; private set; }

    public string Kubeconfig => Path.Combine(Directory, "kubeconfig");

    /// <summary>A client with the control plane's admin token.</summary>
    public k8s.Kubernetes Client { get; }

    /// <summary>kube-scheduler's log so far (empty before it started): for failure messages.</summary>
    public string SchedulerLog => ReadLog("kube-scheduler.log");

    public string ApiServerLog => ReadLog("kube-apiserver.log");

    /// <summary>The processes it runs (etcd, kube-apiserver, kube-scheduler once started), by name.</summary>
    public IReadOnlyDictionary<string, int> ProcessIds =>
        System.IO.Directory.GetFiles(Path.Combine(Directory, "run"), "*.pid")
            .ToDictionary(f => Path.GetFileNameWithoutExtension(f), f => int.Parse(File.ReadAllText(f).Trim(), System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal);

    /// <summary>Starts etcd and kube-apiserver; the caller has checked <see cref="ControlPlaneBinaries.Missing"/>.</summary>
    public static async Task<ControlPlane> StartAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"kaiwo-k8s-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        var apiPort = FreePort();
        var etcdPort = FreeEtcdPorts();
        var (exitCode, output) = await RunScriptAsync("up", directory, new Dictionary<string, string>
        {
            ["API_PORT"] = apiPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ETCD_PORT"] = etcdPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        if (exitCode != 0)
        {
            var apiLog = Path.Combine(directory, "logs", "kube-apiserver.log");
            var tail = File.Exists(apiLog) ? string.Join('\n', File.ReadLines(apiLog).TakeLast(20)) : string.Empty;
            await RunScriptAsync("down", directory, new Dictionary<string, string>());
            throw new InvalidOperationException($"control-plane.sh up failed ({exitCode}): {output}\n{tail}");
        }

        return new ControlPlane(directory, apiPort);
    }

    /// <summary>
    /// Starts kube-scheduler with <paramref name="configurationYaml"/> (a KubeSchedulerConfiguration; its
    /// clientConnection is pointed at this control plane, the rest is used as it is) and waits until it is healthy.
    /// </summary>
    public async Task StartSchedulerAsync(string configurationYaml)
    {
        var bin = ControlPlaneBinaries.Folder!;
        var port = FreePort();
        SchedulerPort = port;
        var config = Path.Combine(Directory, "scheduler-config.yaml");
        var lines = configurationYaml.Split('\n').Where(line => !line.StartsWith("clientConnection:", StringComparison.Ordinal));
        await File.WriteAllTextAsync(config, string.Join('\n', lines) + $"\nclientConnection: {{kubeconfig: \"{Kubeconfig}\", qps: 1000, burst: 2000}}\n");
        var log = Path.Combine(Directory, "logs", "kube-scheduler.log");
        var start = new ProcessStartInfo("bash")
        {
            ArgumentList =
            {
                "-c",
                $"exec \"{bin}/kube-scheduler\" --config=\"{config}\" --bind-address=127.0.0.1 --secure-port={port} " +
                $"--authentication-kubeconfig=\"{Kubeconfig}\" --authorization-kubeconfig=\"{Kubeconfig}\" --v=2 >>\"{log}\" 2>&1",
            },
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("kube-scheduler did not start");
        await File.WriteAllTextAsync(Path.Combine(Directory, "run", "kube-scheduler.pid"), process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"kube-scheduler exited with {process.ExitCode}:\n{Tail(SchedulerLog)}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"https://127.0.0.1:{port}/healthz"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Listening but slow to answer.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"kube-scheduler did not become healthy:\n{Tail(SchedulerLog)}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Creates <paramref name="node"/> without its status, then writes the status (allocatable, capacity) with Ready=True, as a kubelet would.</summary>
    public async Task<V1Node> CreateReadyNodeAsync(V1Node node)
    {
        var status = node.Status;
        node.Status = null;
        await Client.CoreV1.CreateNodeAsync(node);
        status.Conditions = [new V1NodeCondition { Type = "Ready", Status = "True", Reason = "KubeletReady", Message = "marked ready by the test" }];
        var patch = KubernetesJson.Serialize(new V1Node { Status = status });
        return await Client.CoreV1.PatchNodeStatusAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), node.Metadata.Name);
    }

    /// <summary>A node as the AMD GPU operator labels one with <paramref name="gpus"/> MI300X in SPX/NPS1; status Ready is written by <see cref="CreateReadyNodeAsync"/>.</summary>
    public static V1Node Mi300XNode(string name, int gpus = 8) => new()
    {
        ApiVersion = "v1",
        Kind = "Node",
        Metadata = new V1ObjectMeta
        {
            Name = name,
            Labels = new Dictionary<string, string>
            {
                ["kubernetes.io/hostname"] = name,
                ["amd.com/gpu.product-name"] = "AMD_Instinct_MI300X_OAM",
                ["amd.com/gpu.compute-memory-partition"] = "spx_nps1",
                ["amd.com/gpu.vram"] = "192G",
            },
        },
        Status = new V1NodeStatus
        {
            Allocatable = Resources(gpus),
            Capacity = Resources(gpus),
        },
    };

    private static Dictionary<string, ResourceQuantity> Resources(int gpus) => new()
    {
        ["amd.com/gpu"] = new($"{gpus}"),
        ["cpu"] = new("192"),
        ["memory"] = new("1536Gi"),
        ["pods"] = new("250"),
    };

    /// <summary>Polls <paramref name="read"/> until <paramref name="done"/> holds, up to <paramref name="timeout"/>.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan timeout, Func<T, string> describe)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s: {describe(value)}");
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await RunScriptAsync("down", Directory, new Dictionary<string, string>());
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // etcd may still be closing a file: leave the folder in /tmp.
        }
    }

    private string ReadLog(string name)
    {
        var path = Path.Combine(Directory, "logs", name);
        return File.Exists(path) ? File.ReadAllText(path) : string.Empty;
    }

    private static string Tail(string log) => string.Join('\n', log.Split('\n').TakeLast(30));

    private static async Task<(int ExitCode, string Output)> RunScriptAsync(string command, string directory, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("bash") { ArgumentList = { Script, command, directory }, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment["K8S_BIN"] = ControlPlaneBinaries.Folder ?? string.Empty;
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(StartTimeout);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, (await stdout) + (await stderr));
    }

    /// <summary>A loopback port nobody listens on now (the OS's choice; free again when the probe closes).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Two consecutive free loopback ports: etcd's client port and its peer port (client + 1).</summary>
    private static int FreeEtcdPorts()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var port = FreePort();
            if (port < 65535 && IsFree(port + 1))
            {
                return port;
            }
        }

        throw new InvalidOperationException("no two consecutive free loopback ports for etcd");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using k8s;
using k8s.Models;
using Kaiwo.Extender.Tests.RealCluster;

namespace Kaiwo.EndToEnd;

/// <summary>One verb's calls and the time its handler spent on them, as the extender's metrics count.</summary>
internal readonly record struct VerbTime(long Calls, TimeSpan Handled)
{
    public static VerbTime operator -(VerbTime after, VerbTime before) => new(after.Calls - before.Calls, after.Handled - before.Handled);
}

/// <summary>Which extender a run's kube-scheduler calls.</summary>
internal enum ExtenderKind
{
    /// <summary>None: the configuration less its <c>extenders:</c> section.</summary>
    None,

    /// <summary>The protocol's floor: <see cref="NullExtender"/>, which decides nothing.</summary>
    Null,

    /// <summary>The kaiwo extender in live mode, its default settings.</summary>
    Kaiwo,

    /// <summary>The kaiwo extender in live mode with <c>Scheduling:PassOnlyBestNode</c> true.</summary>
    KaiwoBestNode,
}

/// <summary>What one run measured.</summary>
internal sealed record RunResult(
    int Round,
    ExtenderKind Extender,
    int Pods,
    int Bound,
    int WithRecord,
    TimeSpan Elapsed,
    IReadOnlyDictionary<string, TimeSpan> Cpu,
    IReadOnlyDictionary<string, VerbTime>? Verbs = null,
    IReadOnlyDictionary<string, long>? ApiRequests = null)
{
    /// <summary>From the first pod created to the last: the harness creates them 16 at a time, as fast as the API server takes them.</summary>
    public TimeSpan Created { get; init; }

    /// <summary>With <c>--perf</c>, the extender's on-CPU samples by what they were doing (<see cref="PerfBreakdown"/>).</summary>
    public IReadOnlyList<PerfPart>? Profile { get; init; }

    /// <summary>kube-scheduler's own seconds over the placement, by attempt, algorithm and extension point.</summary>
    public IReadOnlyDictionary<string, double>? Scheduler { get; init; }

    /// <summary>Pods placed per second, from the first pod created to the last one bound.</summary>
    public double PodsPerSecond => Bound / Elapsed.TotalSeconds;

    /// <summary>Every pod bound, and with the extender every pod carrying its allocation record.</summary>
    public bool Complete => Bound == Pods && (!IsKaiwo || WithRecord == Pods);

    /// <summary>Kaiwo's extender, in either setting: it writes allocation records and reports its verbs' times.</summary>
    public bool IsKaiwo => Extender is ExtenderKind.Kaiwo or ExtenderKind.KaiwoBestNode;
}

/// <summary>
/// One run on a fresh control plane: nodes created and marked Ready, the extender (when asked) started in live mode as
/// its own process, kube-scheduler started with the configuration, then every pod created at once and timed until
/// a list shows all of them bound. CPU is read from /proc for each process over the placement alone.
/// </summary>
internal static class SchedulerRun
{
    private static readonly TimeSpan PlacementTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    public static async Task<RunResult> RunAsync(EndToEndOptions options, ExtenderKind kind, int round)
    {
        await using var controlPlane = await ControlPlane.StartAsync();
        await Parallel.ForEachAsync(Enumerable.Range(0, options.Nodes), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (i, _) => await controlPlane.CreateReadyNodeAsync(ControlPlane.Mi300XNode($"gpu-node-{i:D4}")));

        using var extender = kind switch
        {
            ExtenderKind.Kaiwo or ExtenderKind.KaiwoBestNode => await ExtenderProcess.StartAsync(
                options.ExtenderAssembly, controlPlane, options.ReadyToRun, perfMap: options.Perf is not null, passOnlyBestNode: kind == ExtenderKind.KaiwoBestNode),
            ExtenderKind.Null => await ExtenderProcess.StartNullAsync(controlPlane, options.ExtenderAssembly, options.ReadyToRun, perfMap: options.Perf is not null),
            _ => null,
        };
        var configuration = File.ReadAllText(options.SchedulerConfig);
        configuration = extender is null ? WithoutExtenders(configuration) : extender.Configure(configuration);
        await controlPlane.StartSchedulerAsync(configuration);

        var processes = new Dictionary<string, int>(controlPlane.ProcessIds, StringComparer.Ordinal);
        if (extender is not null)
        {
            processes["extender"] = extender.ProcessId;
        }

        if (options.Warmup > 0)
        {
            // Untimed: the same processes place other pods first, so that what is timed is a warm extender.
            await CreatePodsAsync(controlPlane, "warmup", options.Warmup, options.Fraction);
            await WaitForBindsAsync(controlPlane.Client, options.Warmup, "warmup-");
        }

        var kaiwo = kind is ExtenderKind.Kaiwo or ExtenderKind.KaiwoBestNode;
        var verbsBefore = kaiwo ? await extender!.VerbTimesAsync() : null;

        // The profilers run over the timed placement alone, as the CPU figures do: no /metrics scrape inside.
        using var trace = kaiwo && extender is not null && options.Trace is { } file
            ? await Profiler.StartAsync(extender.ProcessId, Path.ChangeExtension(file, $".round{round}.nettrace"))
            : null;
        using var perf = options.Perf is { } perfFile
            ? await Profiler.StartPerfAsync(Path.ChangeExtension(perfFile, $".round{round}.{kind.ToString().ToLowerInvariant()}.perf.data"))
            : null;
        var token = Path.Combine(controlPlane.Directory, "token");
        var schedulerBefore = await SchedulerMetrics.ReadAsync(controlPlane.SchedulerPort, token);
        var requestsBefore = await ApiRequests.ReadAsync(controlPlane.Client, Path.Combine(controlPlane.Directory, "token"));
        var cpuBefore = ProcessCpu.Read(processes);
        var clock = Stopwatch.StartNew();
        await CreatePodsAsync(controlPlane, "bench", options.Pods, options.Fraction);
        var created = clock.Elapsed;
        var bound = await WaitForBindsAsync(controlPlane.Client, options.Pods, "bench-");
        var elapsed = clock.Elapsed;
        var cpuAfter = ProcessCpu.Read(processes);
        if (trace is not null)
        {
            await trace.StopAsync();
        }

        if (perf is not null)
        {
            await perf.StopAsync();
        }

        var scheduler = SchedulerMetrics.Between(schedulerBefore, await SchedulerMetrics.ReadAsync(controlPlane.SchedulerPort, token));
        var requests = ApiRequests.Between(requestsBefore, await ApiRequests.ReadAsync(controlPlane.Client, Path.Combine(controlPlane.Directory, "token")));
        var verbsAfter = kaiwo ? await extender!.VerbTimesAsync() : null;
        var profile = perf is not null && extender is not null ? await PerfBreakdown.ReadAsync(perf.OutputFile, extender.ProcessId) : null;

        var pods = await controlPlane.Client.CoreV1.ListNamespacedPodAsync("default");
        var withRecord = pods.Items.Count(p => p.Metadata.Name.StartsWith("bench-", StringComparison.Ordinal) && p.Metadata.Annotations?.ContainsKey("kaiwo.ai/gpu-allocation") == true);

        var cpu = processes.Keys.ToDictionary(name => name, name => cpuAfter[name] - cpuBefore[name], StringComparer.Ordinal);
        var verbs = verbsAfter?.ToDictionary(
            v => v.Key,
            v => verbsBefore!.TryGetValue(v.Key, out var before) ? v.Value - before : v.Value,
            StringComparer.Ordinal);
        return new RunResult(round, kind, options.Pods, bound, withRecord, elapsed, cpu, verbs, requests) { Created = created, Scheduler = scheduler, Profile = profile };
    }

    /// <summary>The same configuration with its <c>extenders:</c> section (the last one of the file) left out.</summary>
    private static string WithoutExtenders(string configuration)
    {
        var lines = configuration.Split('\n');
        var at = Array.FindIndex(lines, line => line.StartsWith("extenders:", StringComparison.Ordinal));
        if (at < 0)
        {
            throw new InvalidOperationException("the scheduler configuration has no top-level 'extenders:' section to leave out");
        }

        var rest = lines.Skip(at + 1).Where(line => line.Length > 0 && line[0] != ' ' && line[0] != '-' && line[0] != '#');
        if (rest.Any())
        {
            throw new InvalidOperationException($"'extenders:' is not the last section of the scheduler configuration (then: {rest.First()})");
        }

        return string.Join('\n', lines.Take(at)) + "\n";
    }

    /// <summary>Creates <paramref name="count"/> fractional pods named <paramref name="prefix"/>-NNNNN, 16 at a time.</summary>
    private static Task CreatePodsAsync(ControlPlane controlPlane, string prefix, int count, string fraction) =>
        Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (i, cancel) => await controlPlane.Client.CoreV1.CreateNamespacedPodAsync(Pod($"{prefix}-{i:D5}", fraction), "default", cancellationToken: cancel));

    /// <summary>
    /// Lists the pods not yet bound (from the API server's watch cache: resourceVersion 0, field selector
    /// <c>spec.nodeName=</c>) every <see cref="PollInterval"/> until none of those named <paramref name="prefix"/>...
    /// is left or the timeout passes; the time of the first list that shows them all bound ends the run. Only the
    /// pods still pending are read, so the poll costs the API server less as the run goes on, and about as much in a
    /// slow run as in a fast one. Returns how many of the <paramref name="expected"/> pods are bound.
    /// </summary>
    private static async Task<int> WaitForBindsAsync(k8s.Kubernetes client, int expected, string prefix)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var pending = await client.CoreV1.ListNamespacedPodAsync("default", fieldSelector: "spec.nodeName=", resourceVersion: "0");
            var unbound = pending.Items.Count(p => p.Metadata.Name.StartsWith(prefix, StringComparison.Ordinal));
            if (unbound == 0 || deadline.Elapsed > PlacementTimeout)
            {
                return expected - unbound;
            }

            await Task.Delay(PollInterval);
        }
    }

    private static V1Pod Pod(string name, string fraction) => new()
    {
        ApiVersion = "v1",
        Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-fraction"] = fraction } },
        Spec = new V1PodSpec
        {
            SchedulerName = "kaiwo-scheduler",
            Containers = [new V1Container { Name = "main", Image = "rocm/pytorch" }],
        },
    };
}

/// <summary>The extender as its own process in live mode against the control plane, as the Deployment runs it.</summary>
internal sealed class ExtenderProcess : IDisposable
{
    private readonly Process _process;
    private readonly int _port;
    private readonly int _metricsPort;

    private ExtenderProcess(Process process, int port, int metricsPort)
    {
        _process = process;
        _port = port;
        _metricsPort = metricsPort;
    }

    public int ProcessId => _process.Id;

    /// <summary>
    /// The service's runtime environment as its image sets it (the Dockerfile): the framework's precompiled code
    /// left unused, so that every method runs JIT-compiled at full optimisation, unless the run asks for the
    /// runtime's default (<paramref name="readyToRun"/>, <c>--ready-to-run true</c>).
    /// </summary>
    private static void SetImageEnvironment(ProcessStartInfo start, bool readyToRun) =>
        start.Environment["DOTNET_ReadyToRun"] = readyToRun ? "1" : "0";

    private static void SetPerfMap(ProcessStartInfo start, bool perfMap)
    {
        if (perfMap)
        {
            // /tmp/perf-PID.map: the names of JIT-compiled code, for perf; and code mapped at one address only (with
            // W^X the code runs from a second, anonymous mapping that the map's addresses do not name).
            start.Environment["DOTNET_PerfMapEnabled"] = "1";
            start.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        }
    }

    public static async Task<ExtenderProcess> StartAsync(string assembly, ControlPlane controlPlane, bool readyToRun, bool perfMap = false, bool passOnlyBestNode = false)
    {
        var port = ControlPlane.FreePort();
        var metricsPort = ControlPlane.FreePort();
        var log = Path.Combine(controlPlane.Directory, "logs", "extender.log");
        var start = new ProcessStartInfo("bash")
        {
            ArgumentList =
            {
                "-c",
                $"exec dotnet \"{Path.GetFullPath(assembly)}\" --Extender:Mode live --Kubernetes:Kubeconfig \"{controlPlane.Kubeconfig}\" " +
                $"--Listeners:Verbs:Url http://127.0.0.1:{port} --Listeners:Metrics:Url http://127.0.0.1:{metricsPort} " +
                $"--Scheduling:PassOnlyBestNode {(passOnlyBestNode ? "true" : "false")} >>\"{log}\" 2>&1",
            },
            UseShellExecute = false,

            // From its own folder, as in the image: its appsettings.json (log levels, limits) applies.
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(assembly))!,
        };
        SetImageEnvironment(start, readyToRun);
        SetPerfMap(start, perfMap);

        // /readyz is on the metrics listener; the verbs listener answers it 404.
        return await StartAsync(start, port, metricsPort, new Uri($"http://127.0.0.1:{metricsPort}/readyz"), log);
    }

    /// <summary>
    /// <see cref="NullExtender"/>, this program run as <c>null-extender</c>: the verbs and /readyz on one port, the
    /// Binding created with the control plane's admin token. It runs with the service's own runtime settings (its
    /// runtimeconfig.json beside <paramref name="extenderAssembly"/>: server GC, no tiered compilation, workers that
    /// block rather than spin), so that the floor differs from kaiwo only in what the handlers do. With the runtime's
    /// defaults, perf found the JIT at two thirds of its CPU over a warm placement, and its ratio read low.
    /// </summary>
    public static Task<ExtenderProcess> StartNullAsync(ControlPlane controlPlane, string extenderAssembly, bool readyToRun, bool perfMap = false)
    {
        var runtimeConfig = Path.ChangeExtension(Path.GetFullPath(extenderAssembly), ".runtimeconfig.json");
        var port = ControlPlane.FreePort();
        var log = Path.Combine(controlPlane.Directory, "logs", "null-extender.log");
        var self = typeof(NullExtender).Assembly.Location;
        var start = new ProcessStartInfo("bash")
        {
            ArgumentList =
            {
                "-c",
                $"exec dotnet exec --runtimeconfig \"{runtimeConfig}\" \"{self}\" null-extender {port} https://127.0.0.1:{controlPlane.ApiPort}/ \"{Path.Combine(controlPlane.Directory, "token")}\" >>\"{log}\" 2>&1",
            },
            UseShellExecute = false,
        };
        SetImageEnvironment(start, readyToRun);
        SetPerfMap(start, perfMap);
        return StartAsync(start, port, metricsPort: 0, new Uri($"http://127.0.0.1:{port}/readyz"), log);
    }

    private static async Task<ExtenderProcess> StartAsync(ProcessStartInfo start, int port, int metricsPort, Uri ready, string log)
    {
        var process = Process.Start(start) ?? throw new InvalidOperationException("the extender did not start");
        var extender = new ExtenderProcess(process, port, metricsPort);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the extender exited with {process.ExitCode}; see {log}");
            }

            try
            {
                using var answer = await http.GetAsync(ready);
                if (answer.IsSuccessStatusCode)
                {
                    return extender;
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

            await Task.Delay(100);
        }

        extender.Dispose();
        throw new TimeoutException($"the extender did not become ready; see {log}");
    }

    /// <summary>
    /// Each verb's calls so far and the time its handler took, from the extender's own
    /// <c>kaiwo_extender_request_duration_seconds</c> histogram: what of kube-scheduler's wait the extender spent
    /// answering, against the round trip.
    /// </summary>
    public async Task<Dictionary<string, VerbTime>> VerbTimesAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{_metricsPort.ToString(CultureInfo.InvariantCulture)}/metrics"));
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var verb = line.StartsWith("kaiwo_extender_request_duration_seconds_", StringComparison.Ordinal) ? MetricsText.Label(line, "verb") : "";
            if (verb.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("kaiwo_extender_request_duration_seconds_count", StringComparison.Ordinal))
            {
                counts[verb] = (long)MetricsText.Value(line);
            }
            else if (line.StartsWith("kaiwo_extender_request_duration_seconds_sum", StringComparison.Ordinal))
            {
                sums[verb] = MetricsText.Value(line);
            }
        }

        return counts.ToDictionary(c => c.Key, c => new VerbTime(c.Value, TimeSpan.FromSeconds(sums.GetValueOrDefault(c.Key))), StringComparer.Ordinal);
    }

    /// <summary>The scheduler configuration pointed at this extender, nothing else changed.</summary>
    public string Configure(string configuration)
    {
        const string shipped = "http://127.0.0.1:8888";
        return configuration.Contains(shipped, StringComparison.Ordinal)
            ? configuration.Replace(shipped, $"http://127.0.0.1:{_port.ToString(CultureInfo.InvariantCulture)}", StringComparison.Ordinal)
            : throw new InvalidOperationException($"the scheduler configuration does not call the extender at {shipped}");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
    }
}

/// <summary>
/// A profiler over one placement, stopped with SIGINT: dotnet-trace attached to the extender
/// (<see cref="StartAsync(int, string)"/>), or Linux perf on the whole machine (<see cref="StartPerfAsync"/>).
/// dotnet-trace records sampled stacks (about 100 Hz a thread) and the runtime's GC, JIT and exception events, and
/// writes the method names (rundown) on SIGINT while the extender still runs; the file converts with
/// <c>dotnet-trace convert --format Speedscope</c>.
/// </summary>
internal sealed class Profiler : IDisposable
{
    private readonly Process _process;
    private readonly string _file;

    private Profiler(Process process, string file)
    {
        _process = process;
        _file = file;
    }

    public static Task<Profiler> StartAsync(int pid, string file)
    {
        var tool = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "dotnet-trace");
        return StartAsync(
            new ProcessStartInfo(File.Exists(tool) ? tool : "dotnet-trace")
            {
                ArgumentList = { "collect", "-p", pid.ToString(CultureInfo.InvariantCulture), "--profile", "dotnet-sampled-thread-time,dotnet-common", "-o", file },
            },
            file,
            "dotnet-trace did not start (dotnet tool install --global dotnet-trace)");
    }

    /// <summary>
    /// Linux perf on the whole machine over the placement: on-CPU samples at 999 Hz with call stacks (frame pointers,
    /// which the JIT and Go keep) of every process, so that the extender, kube-scheduler, kube-apiserver and etcd are
    /// seen side by side (<c>perf report --sort comm,sym</c> or <c>perf script</c>); the extender's JIT frames are named
    /// from its perf map.
    /// </summary>
    public static Task<Profiler> StartPerfAsync(string file) =>
        StartAsync(
            new ProcessStartInfo("perf")
            {
                ArgumentList = { "record", "-F", "999", "-g", "-a", "-o", file },
            },
            file,
            "perf did not start (apt-get install linux-perf)");

    private static async Task<Profiler> StartAsync(ProcessStartInfo start, string file, string failure)
    {
        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        var process = Process.Start(start) ?? throw new InvalidOperationException(failure);

        // The session runs once the file exists; its output is of no use here but must not fill the pipe.
        _ = process.StandardOutput.ReadToEndAsync();
        var deadline = Stopwatch.StartNew();
        while (!File.Exists(file) && !process.HasExited && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50);
        }

        return new Profiler(process, file);
    }

    /// <summary>The file the profile is written to.</summary>
    public string OutputFile => _file;

    public async Task StopAsync()
    {
        using (var interrupt = Process.Start("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await interrupt.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Console.Error.WriteLine($"  extender profile written to {_file}");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        _process.Dispose();
    }
}

/// <summary>CPU time (user + system) of processes, from /proc/PID/stat.</summary>
internal static class ProcessCpu
{
    // USER_HZ: the unit of utime and stime in /proc/PID/stat; 100 on every Linux ABI .NET runs on.
    private const double TicksPerSecond = 100;

    public static Dictionary<string, TimeSpan> Read(IReadOnlyDictionary<string, int> processes) =>
        processes.ToDictionary(p => p.Key, p => Read(p.Value), StringComparer.Ordinal);

    private static TimeSpan Read(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / TicksPerSecond);
    }
}

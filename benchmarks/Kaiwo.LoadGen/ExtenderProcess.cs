using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Kaiwo.LoadGen;

/// <summary>
/// The extender's Release build as its own process (as the Deployment runs it), its output in a log file, its verbs
/// and metrics listeners on free loopback ports (the flags the end-to-end benchmark uses). Measures from the outside:
/// time to /readyz, resident memory and CPU from /proc.
/// </summary>
internal sealed class ExtenderProcess : IDisposable
{
    private readonly Process _process;
    private readonly Stopwatch _sinceStart;

    private ExtenderProcess(Process process, int verbsPort, int metricsPort, string log, Stopwatch sinceStart)
    {
        _process = process;
        VerbsPort = verbsPort;
        MetricsPort = metricsPort;
        Log = log;
        _sinceStart = sinceStart;
    }

    public int VerbsPort { get; }

    public int MetricsPort { get; }

    public string Log { get; }

    /// <summary>
    /// The environment the image runs the service with (the Dockerfile): none of the framework's precompiled code.
    /// Every run sets it, and the reports say so from here.
    /// </summary>
    public static (string Name, string Value) ImageEnvironment { get; } = ("DOTNET_ReadyToRun", "0");

    public int ProcessId => _process.Id;

    /// <summary>From the process start to the first 200 of /readyz.</summary>
    public TimeSpan TimeToReady { get; private set; }

    /// <summary>CPU the process spent (user + system, all threads) until /readyz answered: steadier than the wall time on a busy machine.</summary>
    public TimeSpan CpuToReady { get; private set; }

    /// <summary>The highest VmRSS seen while waiting for /readyz (polled), for a reader who wants to compare with VmHWM.</summary>
    public long PeakRssWhileStartingKiB { get; private set; }

    public static ExtenderProcess Start(string assembly, IEnumerable<string> arguments, string log)
    {
        var verbs = FreePort();
        var metrics = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,

            // Its own folder, as the container runs it: the content root, so its appsettings.json (logging levels
            // among them) applies. From elsewhere every request would be logged at Information.
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
        };

        start.Environment[ImageEnvironment.Name] = ImageEnvironment.Value;
        start.ArgumentList.Add(assembly);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add("--Listeners:Verbs:Url");
        start.ArgumentList.Add($"http://127.0.0.1:{verbs}");
        start.ArgumentList.Add("--Listeners:Metrics:Url");
        start.ArgumentList.Add($"http://127.0.0.1:{metrics}");

        var clock = Stopwatch.StartNew();
        var process = Process.Start(start) ?? throw new InvalidOperationException("the extender did not start");
        var writer = new StreamWriter(log) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => WriteLine(writer, e.Data);
        process.ErrorDataReceived += (_, e) => WriteLine(writer, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ExtenderProcess(process, verbs, metrics, log, clock);
    }

    /// <summary>Polls /readyz every 50 ms until it answers 200; fails at once when the process exits.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var ready = new Uri($"http://127.0.0.1:{MetricsPort}/readyz");
        while (_sinceStart.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the extender exited with {_process.ExitCode} before it was ready; see {Log}");
            }

            PeakRssWhileStartingKiB = Math.Max(PeakRssWhileStartingKiB, Memory().RssKiB);
            try
            {
                using var answer = await http.GetAsync(ready);
                if (answer.StatusCode == HttpStatusCode.OK)
                {
                    TimeToReady = _sinceStart.Elapsed;
                    CpuToReady = Cpu() ?? TimeSpan.Zero;
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Listening, too busy to answer yet.
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"the extender was not ready after {timeout}; see {Log}");
    }

    /// <summary>VmRSS and VmHWM (the peak resident set since start) from /proc/PID/status, in KiB.</summary>
    public (long RssKiB, long PeakKiB) Memory()
    {
        long rss = 0, peak = 0;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id.ToString(CultureInfo.InvariantCulture)}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = Kib(line);
                }
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    peak = Kib(line);
                }
            }
        }
        catch (IOException)
        {
            // The process is gone.
        }

        return (rss, peak);

        static long Kib(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    /// <summary>CPU time (user + system) from /proc/PID/stat; null once the process is gone.</summary>
    public TimeSpan? Cpu()
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{_process.Id.ToString(CultureInfo.InvariantCulture)}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on every Linux ABI .NET runs on
        }
        catch (IOException)
        {
            return null;
        }
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

    private static void WriteLine(StreamWriter writer, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (writer)
        {
            writer.WriteLine(line);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

using System.Diagnostics;

namespace Kaiwo.EndToEnd;

/// <summary>A part of the extender's CPU: what it was doing, and how many of its on-CPU samples (999 a second) did it.</summary>
internal sealed record PerfPart(string Part, int Samples);

/// <summary>
/// The extender's on-CPU samples of a <c>--perf</c> run, split by what each was doing: its call stack, read from
/// <c>perf script</c>, is given to the first part below that one of its frames names (so kernel and runtime frames
/// under a handler count as that handler's). A sample's stack ends where an async method last resumed, so work
/// that a continuation does (Kestrel writing a response, the HTTP client reading one) shows under that code, not
/// under the request that awaited it.
/// </summary>
internal static class PerfBreakdown
{
    private const string Collector = "garbage collector";
    private const string Threads = "sockets engine and thread pool: epoll, dispatch, waking and waiting";
    private const string Other = "other (runtime and kernel frames with no managed caller named)";

    /// <summary>The parts, in the order they are tried, each with the frame texts that put a sample in it.</summary>
    private static readonly (string Part, string[] Frames)[] Parts =
    [
        ("metrics export (a /metrics scrape)", ["OpenTelemetry.Exporter.Prometheus", "MetricReader::OnCollect"]),
        ("informers: list and watch of pods, nodes, queues, read and applied to the state", ["Kaiwo.Extender.Live.ResourceInformer", "Kaiwo.Extender.Live.WatchEvent", "Kaiwo.Extender.Live.WatchLines", "KubernetesApi+<WatchAsync>", "KubernetesApi+<ListAsync>"]),
        ("bind: reading it, the record, the Binding's API call up to its send (HTTP client and TLS included), the answer", ["Kaiwo.Extender.Live.LiveBinder", "KubernetesApi+<BindPodAsync>", "ExtenderVerbs+<BindPodAsync>", "Kaiwo.Extender.Verbs.BindOutcome", "Kaiwo.Extender.Wire.ExtenderBindingResult", "Kaiwo.Extender.Verbs.Reservations"]),
        ("events on bound pods (GpuAllocated)", ["Kaiwo.Extender.Live.PodEvents", "KubernetesApi+<CreateEventAsync>"]),
        ("API calls resumed when their answer came (retries and timeouts; nearly all binds')", ["KubernetesApi+<SendAsync>", "Kaiwo.Extender.Live.ApiResilience", "[Polly.Core]"]),
        ("the null extender's handlers and its Binding call", ["Kaiwo.EndToEnd.NullExtender"]),
        ("filter and prioritize: reading, deciding, writing (kaiwo's code)", ["Kaiwo.Extender.Verbs.", "Kaiwo.Extender.Wire.", "Kaiwo.Extender.Hosting.ExtenderEndpoints", "Kaiwo.Extender.Hosting.RequestBody", "[Kaiwo.Scheduling]"]),
        ("Kestrel and ASP.NET Core: connections, HTTP parsing, routing, sending", ["Microsoft.AspNetCore."]),
        ("HTTP client and TLS, no caller of ours on the stack (reading answers as they arrive)", ["System.Net.Http", "System.Net.Security", "libssl", "libcrypto"]),
        ("JIT compiler", ["libclrjit.so"]),
        (Collector, ["gc_heap", "GCHeap", "WKS::", "SVR::"]),
        (Threads, ["System.Net.Sockets", "System.Threading.ThreadPool", "PortableThreadPool", "LowLevelLifoSemaphore", "WorkerThread"]),
    ];

    /// <summary>Runs <c>perf script</c> on <paramref name="file"/> for <paramref name="pid"/> and splits its samples; biggest part first.</summary>
    public static async Task<IReadOnlyList<PerfPart>> ReadAsync(string file, int pid)
    {
        var start = new ProcessStartInfo("perf")
        {
            ArgumentList = { "script", "-i", file, "--pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("perf script did not start");
        _ = process.StandardError.ReadToEndAsync();
        var parts = Split(process.StandardOutput);
        await process.WaitForExitAsync();
        return parts;
    }

    /// <summary>Splits <c>perf script</c> output: one sample a block (a header line, then its frames), blocks apart by a blank line.</summary>
    public static IReadOnlyList<PerfPart> Split(TextReader script)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new List<string>();
        for (var line = script.ReadLine(); ; line = script.ReadLine())
        {
            if (line is null || line.Length == 0)
            {
                if (stack.Count > 0)
                {
                    var part = PartOf(stack);
                    counts[part] = counts.GetValueOrDefault(part) + 1;
                    stack.Clear();
                }

                if (line is null)
                {
                    break;
                }

                continue;
            }

            stack.Add(line);
        }

        return [.. counts.Select(c => new PerfPart(c.Key, c.Value)).OrderByDescending(p => p.Samples).ThenBy(p => p.Part, StringComparer.Ordinal)];
    }

    private static string PartOf(List<string> stack)
    {
        foreach (var (part, frames) in Parts)
        {
            foreach (var line in stack)
            {
                foreach (var frame in frames)
                {
                    if (line.Contains(frame, StringComparison.Ordinal))
                    {
                        return part;
                    }
                }
            }
        }

        // The header line names the thread: a GC or sockets thread with no frame above says what it is.
        return stack[0] switch
        {
            var header when header.Contains(".NET Server GC", StringComparison.Ordinal) || header.Contains(".NET BGC", StringComparison.Ordinal) => Collector,
            var header when header.Contains(".NET Sockets", StringComparison.Ordinal) => Threads,
            _ => Other,
        };
    }
}

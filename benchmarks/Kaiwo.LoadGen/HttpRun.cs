using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Kaiwo.LoadGen;

/// <summary>
/// The HTTP row of issue 9: the extender standalone on a generated busy cluster (its cluster file written here), a
/// closed loop of keep-alive connections on the verb, then the same on <c>/healthz</c> for scale.
/// </summary>
internal static class HttpRun
{
    public const double TargetCallsPerSecond = 5_000;
    public static readonly TimeSpan TargetP99 = TimeSpan.FromMilliseconds(2);

    public static async Task<(string Report, bool Passed)> RunAsync(LoadOptions options, string work)
    {
        var cluster = new SyntheticCluster(options.Nodes, options.Pods);
        var file = Path.Combine(work, "cluster.json");
        var written = Stopwatch.StartNew();
        cluster.WriteClusterFile(file);
        Console.Error.WriteLine($"cluster file: {options.Nodes} nodes, {options.Pods} pods, {new FileInfo(file).Length / 1024 / 1024} MiB in {written.Elapsed.TotalSeconds:0.0} s");

        using var extender = ExtenderProcess.Start(options.ExtenderAssembly, ["--Extender:Mode", "standalone", "--cluster-file", file], Path.Combine(work, "extender.log"));
        await extender.WaitReadyAsync(options.ReadyTimeout);
        var (rss, _) = extender.Memory();
        Console.Error.WriteLine($"extender ready in {extender.TimeToReady.TotalSeconds:0.0} s, {rss / 1024} MiB resident");

        var verbRequests = Enumerable.Range(0, 16).Select(v => LoadRequest.Verb(options.Verb, extender.VerbsPort, options.Nodes, options.Candidates, v)).ToList();
        var maxCalls = options.Calls == 0 ? long.MaxValue : (options.Calls + options.Connections - 1) / options.Connections;
        Console.Error.WriteLine($"{verbRequests[0].Name}: {options.Connections} connections, {options.Warmup.TotalSeconds:0.#} s warm-up, {options.Duration.TotalSeconds:0.#} s");
        var verb = await HttpLoad.RunAsync(extender.VerbsPort, verbRequests, options.Connections, options.Warmup, options.Duration, maxCalls, extender.Cpu);
        Console.Error.WriteLine(Line(verb));

        Console.Error.WriteLine($"/healthz: {options.Connections} connections");
        var health = await HttpLoad.RunAsync(extender.MetricsPort, [LoadRequest.Get("/healthz", extender.MetricsPort)], options.Connections, options.Warmup, options.Duration, maxCalls, extender.Cpu);
        Console.Error.WriteLine(Line(health));
        var (settledRss, peakRss) = extender.Memory();

        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(c, $"# HTTP load: {options.Verb} with {options.Candidates} candidates of {options.Nodes:N0} busy MI300X nodes / {options.Pods:N0} pods, {options.Connections} keep-alive connections");
        text.AppendLine();
        text.AppendLine(c, $"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        text.AppendLine(c, $"The extender's Release build as its own process ({ExtenderProcess.ImageEnvironment.Name}={ExtenderProcess.ImageEnvironment.Value}, as the image runs it), standalone on a generated cluster file (ready in {extender.TimeToReady.TotalSeconds:0.0} s; resident {settledRss / 1024} MiB after the run, peak {peakRss / 1024} MiB).");
        text.AppendLine(c, $"A closed loop: each connection sends its next request when the answer has been read; {options.Warmup.TotalSeconds:0.#} s of warm-up, then {options.Duration.TotalSeconds:0.#} s measured. Client and server share the machine's cores: the CPU columns say how they split them (100% is one core).");
        text.AppendLine();
        AppendTable(text, [verb, health]);
        text.AppendLine();
        text.AppendLine("| target (issue 9) | measured | |");
        text.AppendLine("|---|---|---|");
        text.AppendLine(c, $"| ≥ {TargetCallsPerSecond:N0} calls/s | {verb.CallsPerSecond:N0} | {(verb.CallsPerSecond >= TargetCallsPerSecond ? "met" : "missed")} |");
        text.AppendLine(c, $"| p99 ≤ {TargetP99.TotalMilliseconds:0} ms | {Ms(verb.Latencies.Percentile(99))} ms | {(verb.Latencies.Percentile(99) <= TargetP99 ? "met" : "missed")} |");
        text.AppendLine();
        text.AppendLine("Baseline before issue 9: about 1,300 calls/s, p50 2.9 ms, p99 15.6 ms; `/healthz` about 37,000/s.");
        if (verb.SampleAnswer is { } sample)
        {
            text.AppendLine();
            text.AppendLine(c, $"First answer (up to 300 bytes): `{Shorten(sample, 300)}`");
        }

        return (text.ToString(), Errors(verb) && Errors(health));
    }

    public static void AppendTable(StringBuilder text, IEnumerable<LoadResult> results)
    {
        var c = CultureInfo.InvariantCulture;
        text.AppendLine("| request | connections | calls | calls/s | p50 ms | p90 ms | p99 ms | max ms | errors | client CPU | extender CPU |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            text.AppendLine(c, $"| {r.Request} | {r.Connections} | {r.Calls:N0} | {r.CallsPerSecond:N0} | {Ms(r.Latencies.Percentile(50))} | {Ms(r.Latencies.Percentile(90))} | {Ms(r.Latencies.Percentile(99))} | {Ms(r.Latencies.Max)} | {r.Errors} | {Percent(r.ClientCpu, r.Duration)} | {(r.ServerCpu is { } s ? Percent(s, r.Duration) : "-")} |");
        }
    }

    public static string Line(LoadResult r) => string.Create(CultureInfo.InvariantCulture,
        $"  {r.Calls} calls, {r.CallsPerSecond:0} calls/s, p50 {Ms(r.Latencies.Percentile(50))} ms, p90 {Ms(r.Latencies.Percentile(90))}, p99 {Ms(r.Latencies.Percentile(99))}, max {Ms(r.Latencies.Max)}, {r.Errors} errors{(r.FirstError is { } e ? ": " + Shorten(e, 300) : string.Empty)}");

    /// <summary>True when the run had no errors; prints the first one otherwise.</summary>
    public static bool Errors(LoadResult r)
    {
        if (r.Errors == 0 && r.Calls > 0)
        {
            return true;
        }

        Console.Error.WriteLine($"FAILED: {r.Request}: {r.Errors} errors in {r.Calls} calls; first: {r.FirstError}");
        return false;
    }

    public static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0.000", CultureInfo.InvariantCulture);

    private static string Percent(TimeSpan cpu, TimeSpan wall) => string.Create(CultureInfo.InvariantCulture, $"{cpu.TotalSeconds / wall.TotalSeconds * 100:0}%");

    private static string Shorten(string s, int max) => (s.Length <= max ? s : s[..max] + "...").Replace('|', '/').Replace('`', '\'').ReplaceLineEndings(" ");
}

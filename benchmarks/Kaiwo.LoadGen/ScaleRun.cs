using System.Globalization;
using System.Text;

namespace Kaiwo.LoadGen;

/// <summary>
/// The scale row of issue 9: one extender in live mode against a <see cref="MinimalApiServer"/> holding the big
/// cluster; the time from its start to /readyz (nodes and pods listed and applied), its resident memory at the peak
/// (VmHWM) and settled (VmRSS after a pause), then a few hundred filter calls; and the same filter against a second
/// extender on the smaller cluster, to show whether filter cost depends on cluster size.
/// </summary>
internal static class ScaleRun
{
    private const long TargetRssKiB = 2L * 1024 * 1024;
    private static readonly TimeSpan TargetFirstList = TimeSpan.FromSeconds(30);

    private sealed record Measured(int Nodes, int Pods, TimeSpan TimeToReady, TimeSpan CpuToReady, long PeakKiB, long SettledKiB, long AfterLoadKiB, long ApiPages, LoadResult Filter);

    public static async Task<(string Report, bool Passed)> RunAsync(LoadOptions options, string work)
    {
        var big = await MeasureAsync(options, options.Nodes, options.Pods, work);
        Measured? small = null;
        if (options.CompareNodes > 0)
        {
            small = await MeasureAsync(options, options.CompareNodes, options.ComparePods, work);
        }

        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(c, $"# Scale: one extender in live mode at {options.Nodes:N0} MI300X nodes and {options.Pods:N0} pods");
        text.AppendLine();
        text.AppendLine(c, $"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        text.AppendLine(c, $"The extender's Release build as its own process ({ExtenderProcess.ImageEnvironment.Name}={ExtenderProcess.ImageEnvironment.Value}, as the image runs it), live mode, against a minimal kube-apiserver in the benchmark's process (lists in pages of the extender's `Kubernetes:ListPageSize`, then watches that stay open with bookmarks). Objects are shaped as a real server lists them (managedFields, a kubelet's status). Pods: 8 in 10 bound by kaiwo-scheduler with allocation records, 1 in 10 of default-scheduler without GPUs, and 1 in 10 of default-scheduler holding a whole GPU without a record or, on every tenth node, pending for kaiwo-scheduler.");
        text.AppendLine(c, $"Ready: from the process start to the first 200 of `/readyz` (nodes and pods listed and applied). Resident memory from `/proc/PID/status`: VmHWM is the peak since start; settled is VmRSS {options.Settle.TotalSeconds:0} s after ready.");
        text.AppendLine();
        text.AppendLine("| nodes | pods | list pages served | ready s | extender CPU s until ready | peak RSS MiB (VmHWM) | settled RSS MiB | RSS after the filter calls MiB |");
        text.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var m in new[] { big, small }.OfType<Measured>())
        {
            text.AppendLine(c, $"| {m.Nodes:N0} | {m.Pods:N0} | {m.ApiPages} | {m.TimeToReady.TotalSeconds:0.0} | {m.CpuToReady.TotalSeconds:0.0} | {m.PeakKiB / 1024:N0} | {m.SettledKiB / 1024:N0} | {m.AfterLoadKiB / 1024:N0} |");
        }

        text.AppendLine();
        text.AppendLine(c, $"Filter with {options.Candidates} candidates (the captured pending half-GPU pod), {options.Connections} connection(s), closed loop:");
        text.AppendLine();
        HttpRun.AppendTable(text, new[] { big, small }.OfType<Measured>().Select(m => m.Filter with { Request = $"{m.Filter.Request} of {m.Nodes:N0} nodes" }));
        text.AppendLine();
        text.AppendLine("| target (issue 9) | measured | |");
        text.AppendLine("|---|---|---|");
        text.AppendLine(c, $"| ≤ 2 GiB resident | peak {big.PeakKiB / 1024:N0} MiB, settled {big.SettledKiB / 1024:N0} MiB | {(big.PeakKiB <= TargetRssKiB ? "met" : "missed")} |");
        text.AppendLine(c, $"| first list applied in ≤ 30 s | {big.TimeToReady.TotalSeconds:0.0} s | {(big.TimeToReady <= TargetFirstList ? "met" : "missed")} |");
        if (small is not null)
        {
            var ratio = big.Filter.Latencies.Percentile(50).TotalMilliseconds / Math.Max(1e-6, small.Filter.Latencies.Percentile(50).TotalMilliseconds);
            text.AppendLine(c, $"| filter cost independent of cluster size | p50 {HttpRun.Ms(big.Filter.Latencies.Percentile(50))} ms at {big.Nodes:N0} nodes vs {HttpRun.Ms(small.Filter.Latencies.Percentile(50))} ms at {small.Nodes:N0} (×{ratio:0.00}) | {(ratio <= 1.25 ? "met (within 25%)" : "missed")} |");
        }

        return (text.ToString(), HttpRun.Errors(big.Filter) && (small is null || HttpRun.Errors(small.Filter)));
    }

    private static async Task<Measured> MeasureAsync(LoadOptions options, int nodes, int pods, string work)
    {
        var cluster = new SyntheticCluster(nodes, pods);
        await using var server = await MinimalApiServer.StartAsync(cluster, TimeSpan.FromSeconds(10));
        var kubeconfig = server.WriteKubeconfig(Path.Combine(work, $"kubeconfig-{nodes}"));
        Console.Error.WriteLine($"{nodes} nodes, {pods} pods: minimal kube-apiserver at {server.BaseAddress}");

        using var extender = ExtenderProcess.Start(options.ExtenderAssembly,
            ["--Extender:Mode", "live", "--Kubernetes:Kubeconfig", kubeconfig], Path.Combine(work, $"extender-live-{nodes}.log"));
        await extender.WaitReadyAsync(options.ReadyTimeout);
        Console.Error.WriteLine($"  ready in {extender.TimeToReady.TotalSeconds:0.0} s ({extender.CpuToReady.TotalSeconds:0.0} s of CPU) after {server.Pages} list pages; peak {extender.Memory().PeakKiB / 1024} MiB so far");

        await Task.Delay(options.Settle);
        var (settled, peak) = extender.Memory();
        Console.Error.WriteLine($"  settled: {settled / 1024} MiB resident, peak {peak / 1024} MiB");

        var requests = Enumerable.Range(0, 16).Select(v => LoadRequest.Verb(options.Verb, extender.VerbsPort, nodes, options.Candidates, v)).ToList();
        var maxCalls = options.Calls == 0 ? long.MaxValue : (options.Calls + options.Connections - 1) / options.Connections;
        var filter = await HttpLoad.RunAsync(extender.VerbsPort, requests, options.Connections, options.Warmup, options.Duration, maxCalls, extender.Cpu);
        Console.Error.WriteLine(HttpRun.Line(filter));
        var (afterLoad, peakAfter) = extender.Memory();
        return new Measured(nodes, pods, extender.TimeToReady, extender.CpuToReady, peakAfter, settled, afterLoad, server.Pages, filter);
    }
}

using System.Globalization;
using System.Text;

namespace Kaiwo.EndToEnd;

/// <summary>The runs as a Markdown report: one row a run, then the ratio of each round.</summary>
internal static class Report
{
    private static readonly string[] Processes = ["extender", "kube-scheduler", "kube-apiserver", "etcd"];

    public static string Markdown(EndToEndOptions options, IReadOnlyList<RunResult> results)
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(c, $"# End to end: a real kube-scheduler v1.26.1 placing {options.Pods} pods (kaiwo.ai/gpu-fraction {options.Fraction}) on {options.Nodes} MI300X nodes");
        text.AppendLine();
        text.AppendLine(c, $"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        text.AppendLine("Each run on a fresh control plane; time from the first pod created to the first list of pending pods (polled every 100 ms) that holds none of them; CPU from /proc over that time.");
        text.AppendLine(options.Warmup > 0
            ? string.Create(c, $"Warm: each run first placed {options.Warmup} other pods through the same processes, untimed; the figures are of the pods after them (a fresh extender's first pods cost more: its code is compiled as it runs).")
            : "Cold: the extender is a fresh process; its first pods include the JIT compiling its code as it runs.");
        text.AppendLine(options.BestNode switch
        {
            BestNode.True => "kaiwo ran with Scheduling:PassOnlyBestNode true (not the default): filter passes only the node kaiwo scores best, so kube-scheduler places each pod without calling prioritize and without its own score plugins.",
            BestNode.Both => "kaiwo ran twice a round: \"kaiwo\" with its default settings (filter passes every node that fits, kube-scheduler scores them and calls prioritize), \"kaiwo, best node\" with Scheduling:PassOnlyBestNode true (not the default: filter passes only the node kaiwo scores best, so kube-scheduler places each pod without calling prioritize and without its own score plugins).",
            _ => "kaiwo ran with its default settings: filter passes every node that fits, kube-scheduler scores them and calls prioritize.",
        });
        text.AppendLine(options.ReadyToRun
            ? "The extenders ran on the framework's precompiled (ReadyToRun) code, the runtime's default (--ready-to-run true), not as the image runs the service."
            : "The extenders ran as the image runs the service: DOTNET_ReadyToRun=0, every method JIT-compiled at full optimisation, none of the framework's precompiled code.");
        text.AppendLine();
        text.AppendLine("| round | extender | bound | records | seconds | of which creating | pods/s | CPU s: extender | kube-scheduler | kube-apiserver | etcd | extender CPU ms per pod |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var run in results)
        {
            text.Append(c, $"| {run.Round} | {Name(run.Extender)} | {run.Bound}/{run.Pods} | {(run.IsKaiwo ? run.WithRecord.ToString(c) : "-")} | {run.Elapsed.TotalSeconds:0.00} | {run.Created.TotalSeconds:0.00} | {run.PodsPerSecond:0.0} |");
            foreach (var process in Processes)
            {
                text.Append(run.Cpu.TryGetValue(process, out var cpu) ? string.Create(c, $" {cpu.TotalSeconds:0.00} |") : " - |");
            }

            text.AppendLine(run.Cpu.TryGetValue("extender", out var own) ? string.Create(c, $" {own.TotalMilliseconds / run.Bound:0.00} |") : " - |");
        }

        text.AppendLine();
        // One column for each extender that ran, in the order of the runs: its pods/s over those of the run without one.
        var arms = results.Select(r => r.Extender).Where(k => k != ExtenderKind.None).Distinct().ToList();
        text.AppendLine("| round | " + string.Join(" | ", arms.Select(k => $"{Name(k)}: pods/s with ÷ without")) + " |");
        text.AppendLine("|---|" + string.Concat(arms.Select(_ => "---|")));
        foreach (var round in results.GroupBy(r => r.Round))
        {
            var without = round.Single(r => r.Extender == ExtenderKind.None);
            text.Append(c, $"| {round.Key} |");
            foreach (var arm in arms)
            {
                text.Append(round.SingleOrDefault(r => r.Extender == arm) is { } with
                    ? string.Create(c, $" {with.PodsPerSecond / without.PodsPerSecond:0.00} |")
                    : " - |");
            }

            text.AppendLine();
        }

        text.AppendLine();
        text.AppendLine("The extender's own time answering, from its request-duration histogram over the timed placement (the rest of kube-scheduler's wait is transport and queueing):");
        text.AppendLine();
        text.AppendLine("| round | extender | verb | calls | calls per pod | handler ms per call | handler ms per pod |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var run in results.Where(r => r.Verbs is not null))
        {
            foreach (var (verb, time) in run.Verbs!.OrderBy(v => v.Key, StringComparer.Ordinal))
            {
                if (time.Calls > 0)
                {
                    text.AppendLine(c, $"| {run.Round} | {Name(run.Extender)} | {verb} | {time.Calls} | {(double)time.Calls / run.Bound:0.00} | {time.Handled.TotalMilliseconds / time.Calls:0.000} | {time.Handled.TotalMilliseconds / run.Bound:0.000} |");
                }
            }
        }

        text.AppendLine();
        text.AppendLine("kube-scheduler's own time per pod placed, ms, from its histograms over the timed placement: each scheduling attempt, the algorithm within it (filter and score, the extender's filter and prioritize calls included), and the framework's extension points (Bind in its own goroutine, not in the cycle):");
        text.AppendLine();
        var points = results.Where(r => r.Scheduler is not null).SelectMany(r => r.Scheduler!.Keys)
            .Where(k => k is not "attempt" and not "algorithm").Distinct().Order(StringComparer.Ordinal).ToList();
        text.AppendLine("| round | extender | attempt | algorithm | " + string.Join(" | ", points) + " |");
        text.AppendLine("|---|---|---|---|" + string.Concat(points.Select(_ => "---|")));
        foreach (var run in results.Where(r => r.Scheduler is not null))
        {
            string PerPod(string key) => run.Scheduler!.TryGetValue(key, out var seconds) ? string.Create(c, $"{seconds * 1000 / run.Bound:0.000}") : "-";
            text.AppendLine(c, $"| {run.Round} | {Name(run.Extender)} | {PerPod("attempt")} | {PerPod("algorithm")} | {string.Join(" | ", points.Select(PerPod))} |");
        }

        if (results.Any(r => r.Profile is not null))
        {
            text.AppendLine();
            text.AppendLine("Where the extender's CPU went (--perf: its on-CPU samples at 999 Hz over the timed placement, each given by its call stack to the first part one of its frames names; the profiler's own cost is in the figures above, so a profiled run's pods/s are not results):");
            text.AppendLine();
            text.AppendLine("| round | extender | part | samples | share | ms per pod |");
            text.AppendLine("|---|---|---|---|---|---|");
            foreach (var run in results.Where(r => r.Profile is not null))
            {
                var total = run.Profile!.Sum(p => p.Samples);
                foreach (var part in run.Profile!)
                {
                    text.AppendLine(c, $"| {run.Round} | {Name(run.Extender)} | {part.Part} | {part.Samples} | {100.0 * part.Samples / total:0.0}% | {part.Samples * (1000.0 / 999) / run.Bound:0.000} |");
                }
            }
        }

        text.AppendLine();
        text.AppendLine("Requests kube-apiserver served over the timed placement, per pod placed, from its apiserver_request_total (every client: kube-scheduler, the extender, and the harness creating the pods and polling a list every 100 ms):");
        text.AppendLine();
        text.AppendLine("| round | extender | requests per pod |");
        text.AppendLine("|---|---|---|");
        foreach (var run in results.Where(r => r.ApiRequests is not null))
        {
            var kinds = run.ApiRequests!.OrderByDescending(r => r.Value).ThenBy(r => r.Key, StringComparer.Ordinal)
                .Select(r => string.Create(c, $"{r.Key} {(double)r.Value / run.Bound:0.00}"));
            text.AppendLine(c, $"| {run.Round} | {Name(run.Extender)} | {string.Join("; ", kinds)} |");
        }

        return text.ToString();
    }

    /// <summary>How the progress lines name a run.</summary>
    public static string Describe(ExtenderKind kind) => kind switch
    {
        ExtenderKind.Kaiwo => "with the extender",
        ExtenderKind.KaiwoBestNode => "with the extender, Scheduling:PassOnlyBestNode true",
        ExtenderKind.Null => "with the null extender (no state, no decisions)",
        _ => "no extender",
    };

    /// <summary>The report's extender column.</summary>
    private static string Name(ExtenderKind kind) => kind switch
    {
        ExtenderKind.Kaiwo => "kaiwo",
        ExtenderKind.KaiwoBestNode => "kaiwo, best node",
        ExtenderKind.Null => "null",
        _ => "no",
    };
}

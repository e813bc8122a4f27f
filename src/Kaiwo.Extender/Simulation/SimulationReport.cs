using System.Globalization;
using System.Net;
using System.Text;
using Kaiwo.Scheduling.Simulation;

namespace Kaiwo.Extender.Simulation;

/// <summary>
/// The simulation report: one self-contained HTML page (inline SVG, no script, no network; print styles) and the JSON
/// document that holds every figure on it.
/// </summary>
internal sealed class SimulationReport(string clusterFile, string traceFile, ClusterSummary cluster, SimulationResult result, IReadOnlyList<PolicySpeed> speeds)
{
    private static readonly Dictionary<string, (string Color, string Dash)> Styles = new(StringComparer.Ordinal)
    {
        ["binpack"] = ("#0072B2", "0"),
        ["spread"] = ("#E69F00", "7 4"),
        ["first-fit"] = ("#009E73", "2 3"),
        ["whole-gpus"] = ("#D55E00", "9 3 2 3"),
    };

    private double Hours => result.HorizonSeconds / 3600;

    /// <summary>The operator's question answered in one line.</summary>
    public string Headline()
    {
        var runs = result.Policies;
        var whole = runs.FirstOrDefault(r => r.Policy == "whole-gpus");
        var fractional = runs.FirstOrDefault(r => r.Policy == "binpack") ?? runs.Where(r => r.Policy != "whole-gpus").OrderByDescending(r => r.Completed).FirstOrDefault();
        if (whole is not null && fractional is not null)
        {
            var more = whole.Completed == 0 ? double.PositiveInfinity : ((double)fractional.Completed / whole.Completed) - 1;
            var comparison = more >= 0 ? $"{Percent(more)} more" : $"{Percent(-more)} fewer";
            return $"Fractional sharing with {fractional.Policy} completes {comparison} jobs than whole GPUs ({N(fractional.Completed)} vs {N(whole.Completed)} in {Wait(result.HorizonSeconds)}), " +
                $"with a median wait of {Wait(fractional.Wait.MedianSeconds)} vs {Wait(whole.Wait.MedianSeconds)} (p95 {Wait(fractional.Wait.P95Seconds)} vs {Wait(whole.Wait.P95Seconds)}).";
        }

        var ordered = runs.OrderByDescending(r => r.Completed).ToList();
        if (ordered.Count >= 2)
        {
            return $"{ordered[0].Policy} completes the most jobs: {N(ordered[0].Completed)} in {Wait(result.HorizonSeconds)}, vs {N(ordered[1].Completed)} with {ordered[1].Policy}; " +
                $"median wait {Wait(ordered[0].Wait.MedianSeconds)} vs {Wait(ordered[1].Wait.MedianSeconds)}.";
        }

        var only = ordered[0];
        return $"{only.Policy} completes {N(only.Completed)} of {N(only.Pods)} jobs in {Wait(result.HorizonSeconds)}, with a median wait of {Wait(only.Wait.MedianSeconds)} (p95 {Wait(only.Wait.P95Seconds)}).";
    }

    /// <summary>The summary table as text, for the console.</summary>
    public IEnumerable<string> SummaryLines()
    {
        yield return $"{"policy",-11} {"completed",9} {"alloc@1st refusal",17} {"mean frag",9} {"median wait",11} {"p95 wait",9} {"pods/s",7}";
        foreach (var run in result.Policies)
        {
            var speed = speeds.FirstOrDefault(s => s.Policy == run.Policy);
            yield return $"{run.Policy,-11} {run.Completed,9} {(run.FirstRefusal is { } f ? $"{f.AllocationPercent:0.0}%" : "none"),17} {run.MeanFragmentationPercent,8:0.0}% {Wait(run.Wait.MedianSeconds),11} {Wait(run.Wait.P95Seconds),9} {speed?.PodsPerSecond ?? 0,7:0}";
        }
    }

    /// <summary>Everything on the page, as data: series rounded to 3 decimals.</summary>
    public object Document() => new
    {
        generatedBy = "kaiwo simulate",
        headline = Headline(),
        cluster = new { file = clusterFile, cluster.Nodes, cluster.GpuNodes, cluster.Gpus, cluster.NodesByMode, cluster.Queues, cluster.RunningPods },
        trace = new { file = traceFile, pods = result.Policies.Count > 0 ? result.Policies[0].Pods : 0, horizonSeconds = result.HorizonSeconds, medianRequest = result.MedianRequest },
        bucketSeconds = result.BucketSeconds,
        sizeClasses = result.SizeClasses,
        speed = new { note = "wall clock on the machine that ran it (shared with other work when measured; see the README)", policies = speeds },
        policies = result.Policies.Select(Rounded),
    };

    private static PolicyRun Rounded(PolicyRun run) => run with
    {
        MeanAllocationPercent = R(run.MeanAllocationPercent),
        MeanFragmentationPercent = R(run.MeanFragmentationPercent),
        MeanReservedPercent = R(run.MeanReservedPercent),
        AllocationPercent = R(run.AllocationPercent),
        FragmentationPercent = R(run.FragmentationPercent),
        LargestWholeGpuAsk = R(run.LargestWholeGpuAsk),
        CompletedSoFar = R(run.CompletedSoFar),
        Pending = R(run.Pending),
        FirstRefusal = run.FirstRefusal is { } f ? f with { AllocationPercent = R(f.AllocationPercent) } : null,
        Queues = [.. run.Queues.Select(q => q with
        {
            AllocatedGpus = R(q.AllocatedGpus),
            FairShareGpus = R(q.FairShareGpus),
            MeanAllocatedGpus = R(q.MeanAllocatedGpus),
            MeanFairShareGpus = R(q.MeanFairShareGpus),
            LargestGapGpus = R(q.LargestGapGpus),
        })],
    };

    private static double R(double v) => Math.Round(v, 3);

    private static double[] R(IReadOnlyList<double> values) => [.. values.Select(R)];

    public string Html()
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        html.Append($"<title>Simulation: {E(traceFile)} on {E(clusterFile)}</title><style>{Css}</style></head><body><main>");
        html.Append($"<h1>Simulation: {E(traceFile)} on {E(clusterFile)}</h1>");
        html.Append($"<p class=\"sub\">{E(ClusterLine())}</p>");
        html.Append($"<p class=\"headline\">{E(Headline())}</p>");
        SummaryTable(html);
        Figures(html);
        html.Append("<footer>Replayed with the extender's own filter, prioritize, bind and preemption rules in virtual time (<code>kaiwo simulate</code>). ");
        html.Append($"Series are time-weighted means over {(result.Policies.Count > 0 ? result.Policies[0].AllocationPercent.Count : 0)} buckets of {Wait(result.BucketSeconds)}. Every figure is also in the JSON written beside this page.</footer>");
        html.Append("</main></body></html>\n");
        return html.ToString();
    }

    private string ClusterLine()
    {
        var modes = string.Join(", ", cluster.NodesByMode.Select(p => $"{p.Value} × {p.Key}"));
        var queues = cluster.Queues.Count == 0 ? "no queues" : $"queues {string.Join(", ", cluster.Queues)}";
        var pods = result.Policies.Count > 0 ? result.Policies[0].Pods : 0;
        return $"{cluster.Nodes} nodes ({modes}), {cluster.Gpus} GPUs, {queues}. {N(pods)} pods over {Wait(result.HorizonSeconds)}; median ask {result.MedianRequest}.";
    }

    private void SummaryTable(StringBuilder html)
    {
        var runs = result.Policies;
        html.Append("<section><h2>Summary</h2><table class=\"summary\"><thead><tr><th></th>");
        foreach (var run in runs)
        {
            html.Append($"<th>{Swatch(run.Policy)}{E(run.Policy)}</th>");
        }

        html.Append("</tr></thead><tbody>");
        void Row(string label, string help, Func<PolicyRun, string> cell)
        {
            html.Append($"<tr><th scope=\"row\">{E(label)}<small>{E(help)}</small></th>");
            foreach (var run in runs)
            {
                html.Append($"<td>{E(cell(run))}</td>");
            }

            html.Append("</tr>");
        }

        Row("Jobs completed", "ran to their end within the horizon", r => $"{N(r.Completed)} of {N(r.Pods)}");
        Row("Allocation at the first refusal", "GPU capacity held when a pod first had to wait", r => r.FirstRefusal is { } f ? $"{f.AllocationPercent:0.0}% at {Wait(f.AtSeconds)}" : "never refused");
        Row("Mean allocation", "GPU capacity held, time-weighted", r => $"{r.MeanAllocationPercent:0.0}%");
        Row("Mean fragmentation", "free capacity that cannot host the median ask, % of the cluster", r => $"{r.MeanFragmentationPercent:0.0}%");
        if (runs.Any(r => r.Policy.EndsWith("+reserve", StringComparison.Ordinal)))
        {
            Row("Mean held for starving pods", "capacity reservations hold and their pods do not use yet, % of the cluster (in the allocation above)", r => $"{r.MeanReservedPercent:0.0}%");
        }

        Row("Median wait", "pending time per pod", r => Wait(r.Wait.MedianSeconds));
        Row("p95 wait", "pods still pending at the horizon count with their wait so far", r => Wait(r.Wait.P95Seconds));
        Row("Max wait", string.Empty, r => Wait(r.Wait.MaxSeconds));
        Row("Pending at the horizon", "never placed in time", r => N(r.PendingAtHorizon));
        Row("Preemptions", "pods evicted for higher-priority pods (each starts over)", r => N(r.Preemptions));
        Row("Refused for good", "no node or queue could ever take them", r => r.Refused.Count == 0 ? "0" : string.Join(", ", r.Refused.Select(p => $"{N(p.Value)} {p.Key}")));
        Row("Simulation speed", "wall clock, this run", r => speeds.FirstOrDefault(s => s.Policy == r.Policy) is { } s ? $"{s.PodsPerSecond:0} pods/s ({s.Seconds:0.0} s wall, {s.CpuSeconds:0.0} s CPU)" : "-");
        html.Append("</tbody></table></section>");
    }

    private void Figures(StringBuilder html)
    {
        var runs = result.Policies;
        ChartLine Line(PolicyRun run, IReadOnlyList<double> values, bool step = false) => new(run.Policy, Styles.GetValueOrDefault(run.Policy).Color ?? "#333", Styles.GetValueOrDefault(run.Policy).Dash ?? "0", values, step);

        html.Append("<section><h2>Over time</h2>");
        Figure(html, "GPU allocation", SvgChart.Lines([.. runs.Select(r => Line(r, r.AllocationPercent))], Hours, 100, "% of GPU capacity", v => $"{v:0}%"),
            "Share of the cluster's GPU capacity held by pods (a partition, a fraction, or a whole GPU as allocated), time-weighted per bucket. Whole-GPU pods hold a whole GPU even when they ask for a fraction of it.");
        var maxCompleted = runs.Select(r => r.CompletedSoFar.DefaultIfEmpty(0).Max()).DefaultIfEmpty(1).Max();
        Figure(html, "Jobs completed", SvgChart.Lines([.. runs.Select(r => Line(r, r.CompletedSoFar))], Hours, maxCompleted * 1.05, "pods completed", v => N(v)),
            "Pods that ran to their end, counted at the end of each bucket. The gap between the lines at the right edge is the difference in throughput.");
        var maxPending = runs.Select(r => r.Pending.DefaultIfEmpty(0).Max()).DefaultIfEmpty(1).Max();
        Figure(html, "Pods waiting", SvgChart.Lines([.. runs.Select(r => Line(r, r.Pending))], Hours, Math.Max(1, maxPending * 1.05), "pods pending", v => N(v)),
            "Pods that have arrived and are not placed (time-weighted per bucket).");
        var maxFrag = runs.Select(r => r.FragmentationPercent.DefaultIfEmpty(0).Max()).DefaultIfEmpty(1).Max();
        Figure(html, "Fragmentation", SvgChart.Lines([.. runs.Select(r => Line(r, r.FragmentationPercent))], Hours, Math.Max(1, maxFrag * 1.1), "% of GPU capacity", v => $"{v:0.#}%"),
            $"Free GPU capacity that cannot host one more copy of the trace's median ask ({result.MedianRequest}, as each policy submits it), as a share of the whole cluster's capacity: leftovers too small, or on GPUs the ask may not share.");
        var maxIdle = runs.Select(r => r.LargestWholeGpuAsk.DefaultIfEmpty(0).Max()).DefaultIfEmpty(8).Max();
        Figure(html, "Largest whole-GPU ask that still fits", SvgChart.Lines([.. runs.Select(r => Line(r, r.LargestWholeGpuAsk, step: true))], Hours, Math.Max(1, maxIdle), "idle GPUs on the best node", v => $"{v:0}"),
            "The most whole physical GPUs any single node still has idle (nothing allocated on them): the largest amd.com/gpu job that would start at once. Only unpartitioned (SPX) GPUs count when the cluster has any: on a CPX node amd.com/gpu: N gets N XCD partitions, not N GPUs. The lowest value within each bucket.");
        html.Append("</section>");

        WaitSection(html);
        QueueSection(html);
    }

    private void WaitSection(StringBuilder html)
    {
        var runs = result.Policies;
        var classes = result.SizeClasses.Where(c => runs.Any(r => r.WaitBySize.Any(w => w.SizeClass == c))).ToList();
        html.Append("<section><h2>Pending time by size class</h2>");
        var groups = classes.Select(c => new BarGroup(c, [.. runs.Select(r => (r.WaitBySize.FirstOrDefault(w => w.SizeClass == c)?.Wait.P95Seconds ?? 0) / 60)])).ToList();
        Figure(html, "p95 pending time by size class", SvgChart.Bars([.. runs.Select(r => (r.Policy, Styles.GetValueOrDefault(r.Policy).Color ?? "#333"))], groups, "minutes (p95)", v => v < 10 ? $"{v:0.#}" : $"{v:0}"),
            "95th percentile of the time pods of each size class spent pending, in minutes. Size classes by the GPUs the pod asks (fractions, whole GPUs). Pods still pending at the horizon count with the time they had waited by then.");
        html.Append("<table class=\"waits\"><thead><tr><th>size class</th>");
        foreach (var run in runs)
        {
            html.Append($"<th>{Swatch(run.Policy)}{E(run.Policy)}<small>pods · median · p95 · max · pending at end</small></th>");
        }

        html.Append("</tr></thead><tbody>");
        foreach (var c in classes)
        {
            html.Append($"<tr><th scope=\"row\">{E(c)}</th>");
            foreach (var run in runs)
            {
                var w = run.WaitBySize.FirstOrDefault(x => x.SizeClass == c)?.Wait;
                html.Append(w is null ? "<td>-</td>" : $"<td>{N(w.Pods)} · {E(Wait(w.MedianSeconds))} · {E(Wait(w.P95Seconds))} · {E(Wait(w.MaxSeconds))} · {N(w.StillPending)}</td>");
            }

            html.Append("</tr>");
        }

        html.Append("</tbody></table></section>");
    }

    private void QueueSection(StringBuilder html)
    {
        var runs = result.Policies;
        var queues = runs.SelectMany(r => r.Queues.Select(q => q.Queue)).Distinct().ToList();
        if (queues.Count == 0)
        {
            return;
        }

        html.Append("<section><h2>Queues: allocation against fair share</h2>");
        html.Append("<p class=\"note\">Per queue (rows) and policy (columns): GPUs held by the queue's pods (solid) and its fair share (dashed), computed by the service's own fair-share rules from quotas, weights and demand at each moment. Below the dashed line the queue gets less than it is owed.</p>");
        html.Append(SvgChart.Legend([("allocated GPUs", "#333", "0"), ("fair share", "#888", "5 3")]));
        html.Append("<div class=\"grid\" style=\"grid-template-columns: 7em repeat(" + runs.Count + ", 1fr)\"><div></div>");
        foreach (var run in runs)
        {
            html.Append($"<div class=\"colhead\">{Swatch(run.Policy)}{E(run.Policy)}</div>");
        }

        foreach (var queue in queues)
        {
            var max = runs.SelectMany(r => r.Queues.Where(q => q.Queue == queue)).SelectMany(q => q.AllocatedGpus.Concat(q.FairShareGpus)).DefaultIfEmpty(1).Max();
            html.Append($"<div class=\"rowhead\">{E(queue)}</div>");
            foreach (var run in runs)
            {
                var q = run.Queues.FirstOrDefault(x => x.Queue == queue);
                if (q is null)
                {
                    html.Append("<div></div>");
                    continue;
                }

                var color = Styles.GetValueOrDefault(run.Policy).Color ?? "#333";
                html.Append("<figure class=\"small\">");
                html.Append(SvgChart.Lines([new ChartLine("allocated", color, "0", q.AllocatedGpus), new ChartLine("fair share", "#888", "5 3", q.FairShareGpus)], Hours, Math.Max(1, max * 1.05), "GPUs", v => $"{v:0}", 420, 200, legend: false));
                html.Append($"<figcaption>mean {q.MeanAllocatedGpus:0.#} held / {q.MeanFairShareGpus:0.#} fair; largest gap {q.LargestGapGpus:0.#} GPUs at {E(Wait(q.LargestGapAtSeconds))}</figcaption></figure>");
            }
        }

        html.Append("</div>");
        html.Append("<table class=\"gaps\"><thead><tr><th>queue</th>");
        foreach (var run in runs)
        {
            html.Append($"<th>{Swatch(run.Policy)}{E(run.Policy)}<small>mean held · mean fair · largest gap</small></th>");
        }

        html.Append("</tr></thead><tbody>");
        foreach (var queue in queues)
        {
            html.Append($"<tr><th scope=\"row\">{E(queue)}</th>");
            foreach (var run in runs)
            {
                var q = run.Queues.FirstOrDefault(x => x.Queue == queue);
                html.Append(q is null ? "<td>-</td>" : $"<td>{q.MeanAllocatedGpus:0.#} · {q.MeanFairShareGpus:0.#} · {q.LargestGapGpus:0.#} GPUs at {E(Wait(q.LargestGapAtSeconds))}</td>");
            }

            html.Append("</tr>");
        }

        html.Append("</tbody></table></section>");
    }

    private static void Figure(StringBuilder html, string title, string chart, string caption) =>
        html.Append($"<figure><h3>{E(title)}</h3>{chart}<figcaption>{E(caption)}</figcaption></figure>");

    private static string Swatch(string policy) =>
        $"<i class=\"sw\" style=\"background:{Styles.GetValueOrDefault(policy).Color ?? "#333"}\"></i>";

    /// <summary>A duration as people say it: 0 s, 45 s, 14 min, 2.5 h.</summary>
    internal static string Wait(double seconds) => seconds switch
    {
        < 59.5 => $"{seconds.ToString("0", CultureInfo.InvariantCulture)} s",
        < 5970 => $"{(seconds / 60).ToString("0", CultureInfo.InvariantCulture)} min",
        _ => $"{(seconds / 3600).ToString("0.#", CultureInfo.InvariantCulture)} h",
    };

    private static string Percent(double ratio) => double.IsInfinity(ratio) ? "infinitely" : $"{(ratio * 100).ToString("0", CultureInfo.InvariantCulture)}%";

    private static string N(double value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private const string Css = """
        :root { --fg: #1b1f24; --muted: #5b6470; --line: #d8dde3; --accent: #f3f6fa; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #fff; }
        main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 40px; }
        h1 { font-size: 1.5em; margin: 0 0 4px; }
        h2 { font-size: 1.2em; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
        h3 { font-size: 1em; margin: 0 0 6px; }
        .sub, .note, figcaption, footer, small { color: var(--muted); }
        .headline { font-size: 1.15em; font-weight: 600; background: var(--accent); border-left: 4px solid #0072B2; padding: 10px 14px; margin: 14px 0; }
        table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-variant-numeric: tabular-nums; }
        th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        thead th { border-bottom: 2px solid var(--fg); }
        th small { display: block; font-weight: 400; font-size: 0.8em; }
        .sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
        figure { margin: 18px 0; break-inside: avoid; page-break-inside: avoid; }
        figcaption { font-size: 0.88em; margin-top: 4px; max-width: 75em; }
        .chart { width: 100%; height: auto; display: block; }
        .chart text { font-size: 11px; fill: var(--muted); }
        .chart text.v { font-size: 10px; fill: var(--fg); }
        .chart .grid { stroke: #eef1f4; } .chart .axis { stroke: #9aa3ad; }
        .legend { display: flex; flex-wrap: wrap; gap: 16px; font-size: 0.9em; margin: 2px 0 4px; }
        .legend svg { vertical-align: middle; margin-right: 6px; }
        .grid { display: grid; gap: 6px 14px; align-items: start; }
        .grid .rowhead { font-weight: 600; padding-top: 40px; } .grid .colhead { font-weight: 600; }
        figure.small { margin: 0; } figure.small figcaption { font-size: 0.78em; }
        footer { margin-top: 32px; font-size: 0.85em; border-top: 1px solid var(--line); padding-top: 8px; }
        @media (max-width: 800px) { main { padding: 12px; } .grid { grid-template-columns: 1fr !important; } .grid .rowhead { padding-top: 8px; } }
        @media print {
          @page { size: A4 landscape; margin: 12mm; }
          body { font-size: 10pt; } main { max-width: none; padding: 0; }
          .headline { background: none; border-left-width: 3px; }
          h2 { break-after: avoid; page-break-after: avoid; }
          section { break-inside: auto; }
          table, tr { break-inside: avoid; page-break-inside: avoid; }
        }
        """;
}

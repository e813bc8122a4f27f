using System.Globalization;
using System.Text;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Inspect;

/// <summary>The whole of <c>GET /inspect</c>, as the endpoint writes it.</summary>
internal sealed record InspectAnswer(
    string Mode,
    string? Source,
    InspectQueues Queues,
    IReadOnlyList<InspectInformer>? Informers,
    int AssumedPods,
    IReadOnlyList<InspectNode> Nodes,
    IReadOnlyList<InspectReservation>? Reservations = null,
    IReadOnlyList<InspectGang>? Gangs = null);

/// <summary>The <c>queues</c> part of /inspect.</summary>
internal sealed record InspectQueues(bool Available, string? Reason, IReadOnlyList<string>? Names, IReadOnlyList<QueueRow>? Tree);

/// <summary>One informer of /inspect (live mode).</summary>
internal sealed record InspectInformer(string Resource, bool Synced, string? ResourceVersion, long Lists, long EventsApplied);

/// <summary>
/// The allocation table as kubectl prints its tables: one row per GPU (and one more per further pod on it), columns
/// padded to their widest cell, then the nodes' conflicts and inventory errors, then the queues with allocated, fair
/// share and limit per resource. Pure text from the /inspect answer: the same answer gives the same bytes.
/// </summary>
internal static class InspectPrinter
{
    private const string None = "-";

    private static readonly string[] NodeHeader = ["NODE", "GPU", "MODEL", "MODE", "NUMA", "FREE PARTITIONS", "COMPUTE", "MEMORY (GiB)", "PODS"];

    private static readonly string[] ReservationHeader = ["NODE", "GPUS", "DEVICES", "RESERVED FOR", "KIND", "OWNER", "EXPIRES"];

    private static readonly string[] GangHeader = ["GANG", "STATE", "MEMBERS", "BOUND", "RESERVED", "REASON"];

    private static readonly string[] QueueHeader =
        ["QUEUE", "PARENT", "PRIORITY", "GPU (ALLOC/FAIR/LIMIT)", "CPU CORES (ALLOC/FAIR/LIMIT)", "MEMORY GiB (ALLOC/FAIR/LIMIT)", "STATUS"];

    public static string Print(InspectAnswer answer, string url)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"kaiwo extender {url}: mode {answer.Mode}");
        if (!string.IsNullOrEmpty(answer.Source))
        {
            text.Append(CultureInfo.InvariantCulture, $" ({answer.Source})");
        }

        text.Append(CultureInfo.InvariantCulture, $", {answer.Nodes.Count} nodes, {answer.AssumedPods} assumed pods\n");
        if (answer.Informers is { Count: > 0 } informers)
        {
            text.Append("informers: ").AppendJoin(", ", informers.Select(i => $"{i.Resource} {(i.Synced ? "synced" : "NOT SYNCED")}")).Append('\n');
        }

        text.Append('\n');
        AppendNodes(text, answer.Nodes);
        text.Append('\n');
        AppendQueues(text, answer.Queues);
        AppendReservations(text, answer.Reservations ?? []);
        AppendGangs(text, answer.Gangs ?? []);
        return text.ToString();
    }

    /// <summary>One node, as <c>GET /inspect/{node}</c> answers it.</summary>
    public static string Print(InspectNode node)
    {
        var text = new StringBuilder();
        AppendNodes(text, [node]);
        return text.ToString();
    }

    private static void AppendNodes(StringBuilder text, IReadOnlyList<InspectNode> nodes)
    {
        var rows = new List<string[]> { NodeHeader };
        foreach (var node in nodes)
        {
            if (node.Gpus.Count == 0)
            {
                rows.Add([node.Name, None, None, None, None, None, None, None, None]);
                continue;
            }

            foreach (var gpu in node.Gpus)
            {
                var pods = gpu.Pods.Count == 0 ? [None] : gpu.Pods.Select(Pod).ToList();
                rows.Add([
                    node.Name,
                    gpu.Index.ToString(CultureInfo.InvariantCulture),
                    gpu.Model,
                    gpu.Mode,
                    gpu.NumaNode.ToString(CultureInfo.InvariantCulture),
                    FreePartitions(gpu),
                    $"{gpu.ComputeUsed}/1",
                    $"{GiB(gpu.MemoryUsedMiB)}/{GiB(gpu.MemoryMiB)}",
                    pods[0],
                ]);
                rows.AddRange(pods.Skip(1).Select(p => new[] { string.Empty, string.Empty, string.Empty, string.Empty, string.Empty, string.Empty, string.Empty, string.Empty, p }));
            }
        }

        AppendTable(text, rows);
        foreach (var node in nodes)
        {
            if (node.InventoryError is { } error)
            {
                text.Append(CultureInfo.InvariantCulture, $"{node.Name}: inventory error: {error}\n");
            }

            foreach (var conflict in node.Conflicts)
            {
                text.Append(CultureInfo.InvariantCulture, $"{node.Name}: conflict (takes no new GPU pods until resolved): {conflict}\n");
            }
        }
    }

    private static void AppendQueues(StringBuilder text, InspectQueues queues)
    {
        if (!queues.Available)
        {
            text.Append(CultureInfo.InvariantCulture, $"queues: not available: {queues.Reason}\n");
            return;
        }

        if (queues.Tree is not { } tree)
        {
            text.Append("queues: not computed yet\n");
            return;
        }

        var rows = new List<string[]> { QueueHeader };
        rows.AddRange(tree.Select(q => new[]
        {
            q.Name,
            q.Parent ?? None,
            q.Priority.ToString(CultureInfo.InvariantCulture),
            Amounts(q.Allocated.Gpu, q.FairShare.Gpu, q.Limit.Gpu),
            Amounts(q.Allocated.Cpu, q.FairShare.Cpu, q.Limit.Cpu),
            Amounts(q.Allocated.Memory, q.FairShare.Memory, q.Limit.Memory),
            Status(q),
        }));
        AppendTable(text, rows);
    }

    /// <summary>Devices held for pods not bound yet; nothing printed when there are none.</summary>
    private static void AppendReservations(StringBuilder text, IReadOnlyList<InspectReservation> reservations)
    {
        if (reservations.Count == 0)
        {
            return;
        }

        var rows = new List<string[]> { ReservationHeader };
        rows.AddRange(reservations.Select(r => new[]
        {
            r.Node,
            Ranges(r.Gpus),
            r.Devices,
            r.Pod,
            r.Kind,
            r.Owner,
            r.Expires.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        }));
        text.Append('\n');
        AppendTable(text, rows);
    }

    /// <summary>Every gang with its members and why it waits; nothing printed when there are none.</summary>
    private static void AppendGangs(StringBuilder text, IReadOnlyList<InspectGang> gangs)
    {
        if (gangs.Count == 0)
        {
            return;
        }

        var rows = new List<string[]> { GangHeader };
        rows.AddRange(gangs.Select(g => new[]
        {
            g.Gang,
            g.State,
            string.Create(CultureInfo.InvariantCulture, $"{g.Present}/{g.MinMembers}"),
            g.Bound.ToString(CultureInfo.InvariantCulture),
            g.Reserved.ToString(CultureInfo.InvariantCulture),
            g.Reason ?? None,
        }));
        text.Append('\n');
        AppendTable(text, rows);
    }

    private static string Pod(InspectPod pod)
    {
        if (pod.Kind == "whole")
        {
            return $"{pod.Pod} (whole)";
        }

        var placement = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{pod.Pod} ({pod.Compute}, {GiB(pod.MemoryMiB)} GiB, {pod.Isolation}");
        if (pod.Partitions.Count > 0)
        {
            placement.Append(CultureInfo.InvariantCulture, $", partitions {Ranges(pod.Partitions)}");
        }

        if (pod.Xcds.Count > 0)
        {
            placement.Append(CultureInfo.InvariantCulture, $", XCDs {Ranges(pod.Xcds)}");
        }

        return placement.Append(')').ToString();
    }

    /// <summary>"6/8 (2-7)" on a partitioned GPU; "1/1" or "0/1" on an unpartitioned one, whose one partition is the GPU.</summary>
    private static string FreePartitions(InspectGpu gpu)
    {
        var count = string.Create(CultureInfo.InvariantCulture, $"{gpu.FreePartitions.Count}/{gpu.Partitions}");
        return gpu.Partitions > 1 && gpu.FreePartitions.Count > 0 ? $"{count} ({Ranges(gpu.FreePartitions)})" : count;
    }

    private static string Status(QueueRow queue)
    {
        var status = new List<string>();
        if (queue.Disabled is { } reason)
        {
            status.Add($"disabled: {reason}");
        }

        if (queue.Implicit)
        {
            status.Add("implicit");
        }

        if (!queue.Leaf)
        {
            status.Add("parent");
        }

        if (queue.AlsoCounts is { Count: > 0 } also)
        {
            status.Add($"also counts pods of {string.Join(", ", also.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key} ({a.Value})"))}");
        }

        return status.Count == 0 ? "ok" : string.Join("; ", status);
    }

    /// <summary>"0.5 GPU", "2.625 GPU", "none" as "0.5/2.625/none": the header names the unit.</summary>
    private static string Amounts(params string[] amounts) => string.Join('/', amounts.Select(a => a.Split(' ')[0]));

    private static string GiB(long mib) => (mib / 1024.0).ToString("0.#", CultureInfo.InvariantCulture);

    /// <summary>Sorted indices as runs: 2,3,4,5 as "2-5"; 0,2,3 as "0,2-3".</summary>
    private static string Ranges(IReadOnlyList<int> indices)
    {
        var parts = new List<string>();
        for (var i = 0; i < indices.Count;)
        {
            var end = i;
            while (end + 1 < indices.Count && indices[end + 1] == indices[end] + 1)
            {
                end++;
            }

            parts.Add(end == i ? indices[i].ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{indices[i]}-{indices[end]}"));
            i = end + 1;
        }

        return string.Join(',', parts);
    }

    /// <summary>Columns left-aligned and padded to their widest cell, three spaces apart, as kubectl prints them.</summary>
    private static void AppendTable(StringBuilder text, List<string[]> rows)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
        {
            var line = new StringBuilder();
            for (var c = 0; c < row.Length; c++)
            {
                line.Append(c == row.Length - 1 ? row[c] : row[c].PadRight(widths[c] + 3));
            }

            text.Append(line.ToString().TrimEnd()).Append('\n');
        }
    }
}

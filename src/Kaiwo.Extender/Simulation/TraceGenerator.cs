using System.Globalization;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Simulation;

namespace Kaiwo.Extender.Simulation;

/// <summary>One queue of a generated workload: its share of the pods and the priority of its pods.</summary>
internal sealed record QueueMix(string Name, double Weight, int Priority);

/// <summary>A range of run times and its weight; durations are drawn log-uniformly inside the range.</summary>
internal sealed record DurationMix(TimeSpan Min, TimeSpan Max, double Weight);

/// <summary>What a synthetic trace is made of. Every field has a default that makes a busy day on about a hundred 8-GPU nodes.</summary>
internal sealed record TraceMix
{
    public int Seed { get; init; } = 1;

    public int Pods { get; init; } = 10_000;

    public TimeSpan Horizon { get; init; } = TimeSpan.FromHours(24);

    /// <summary>GPU asks and their weights: below 1 a fraction (kaiwo.ai/gpu-fraction), else whole GPUs (amd.com/gpu).</summary>
    public IReadOnlyList<(double Gpus, double Weight)> Sizes { get; init; } = [(0.125, 14), (0.25, 22), (0.5, 16), (1, 24), (2, 10), (4, 8), (8, 6)];

    /// <summary>Share of fractional pods that ask kaiwo.ai/gpu-isolation: xcd (they can only go to partitioned nodes).</summary>
    public double XcdShare { get; init; } = 0.15;

    public IReadOnlyList<DurationMix> Durations { get; init; } =
        [new(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), 40), new(TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), 40), new(TimeSpan.FromHours(2), TimeSpan.FromHours(8), 20)];

    public IReadOnlyList<QueueMix> Queues { get; init; } = [new("prod", 30, 1000), new("research", 50, 0), new("dev", 20, 0)];

    /// <summary>Day/night swing of the arrival rate: 0 is flat, 0.6 makes the afternoon peak 4x the night trough.</summary>
    public double Diurnal { get; init; } = 0.6;

    /// <summary>Bursts per day: 45-minute windows at 4x the rate, most of whose pods come from one queue.</summary>
    public int Bursts { get; init; } = 3;

    /// <summary>A nodeSelector for pods that ask whole GPUs (amd.com/gpu), e.g. to keep them on SPX nodes; null: none.</summary>
    public IReadOnlyDictionary<string, string>? WholeGpuSelector { get; init; }
}

/// <summary>
/// A synthetic workload from a seed and a mix: arrivals follow a day curve with bursts (drawn by thinning, so
/// exactly <see cref="TraceMix.Pods"/> pods), each pod with a queue, a size, an isolation and a run time.
/// The same seed and mix give the same trace, byte for byte.
/// </summary>
internal static class TraceGenerator
{
    private static readonly TimeSpan BurstLength = TimeSpan.FromMinutes(45);
    private const double BurstRate = 4;
    private const double BurstQueueShare = 0.75;

    public static Trace Generate(TraceMix mix)
    {
        ArgumentNullException.ThrowIfNull(mix);
        var random = new Random(mix.Seed);
        var horizon = mix.Horizon.TotalSeconds;
        var days = Math.Max(1, (int)Math.Ceiling(horizon / 86400));
        var bursts = Enumerable.Range(0, mix.Bursts * days)
            .Select(_ => (Start: random.NextDouble() * Math.Max(1, horizon - BurstLength.TotalSeconds), Queue: Pick(random, mix.Queues, q => q.Weight)))
            .ToList();

        double Rate(double t)
        {
            // Trough at 04:00, peak at 16:00.
            var day = 1 + (mix.Diurnal * Math.Sin(2 * Math.PI * ((t / 86400) - (10.0 / 24))));
            return bursts.Any(b => t >= b.Start && t < b.Start + BurstLength.TotalSeconds) ? day * BurstRate : day;
        }

        var peak = (1 + mix.Diurnal) * BurstRate;
        var arrivals = new List<double>(mix.Pods);
        while (arrivals.Count < mix.Pods)
        {
            var t = random.NextDouble() * horizon;
            if (random.NextDouble() * peak < Rate(t))
            {
                arrivals.Add(Math.Round(t, 1));
            }
        }

        arrivals.Sort();
        var pods = new List<TracePod>(mix.Pods);
        for (var i = 0; i < arrivals.Count; i++)
        {
            var t = arrivals[i];
            var burst = bursts.FirstOrDefault(b => t >= b.Start && t < b.Start + BurstLength.TotalSeconds);
            var queue = burst.Queue is not null && random.NextDouble() < BurstQueueShare ? burst.Queue : Pick(random, mix.Queues, q => q.Weight);
            var gpus = Pick(random, mix.Sizes, s => s.Weight).Gpus;
            var range = Pick(random, mix.Durations, d => d.Weight);
            var seconds = Math.Exp(Math.Log(range.Min.TotalSeconds) + (random.NextDouble() * (Math.Log(range.Max.TotalSeconds) - Math.Log(range.Min.TotalSeconds))));
            var xcd = gpus < 1 && random.NextDouble() < mix.XcdShare;
            pods.Add(new TracePod(Pod(queue, i, gpus, xcd), TimeSpan.FromSeconds(t), TimeSpan.FromSeconds(Math.Round(seconds)), gpus >= 1 ? mix.WholeGpuSelector : null));
        }

        return new Trace(pods, mix.Horizon);
    }

    private static PodFacts Pod(QueueMix queue, int index, double gpus, bool xcd)
    {
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
        var requests = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["cpu"] = Math.Max(1, (int)Math.Round(16 * gpus)).ToString(CultureInfo.InvariantCulture),
            ["memory"] = $"{Math.Max(8, (int)Math.Round(128 * gpus)).ToString(CultureInfo.InvariantCulture)}Gi",
        };
        if (gpus < 1)
        {
            annotations[WellKnown.GpuFractionAnnotation] = gpus.ToString("0.###", CultureInfo.InvariantCulture);
            if (xcd)
            {
                annotations[WellKnown.GpuIsolationAnnotation] = "xcd";
            }
        }
        else
        {
            requests[WellKnown.GpuResource] = ((int)gpus).ToString(CultureInfo.InvariantCulture);
        }

        var name = $"{queue.Name}-{index.ToString("00000", CultureInfo.InvariantCulture)}";
        return new PodFacts
        {
            Namespace = queue.Name,
            Name = name,
            Uid = $"{queue.Name}/{name}",
            Labels = new Dictionary<string, string>(StringComparer.Ordinal) { [WellKnown.QueueLabel] = queue.Name },
            Annotations = annotations,
            Containers = [new ContainerFacts("main", requests, new Dictionary<string, string>())],
            Priority = queue.Priority,
        };
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items, Func<T, double> weight)
    {
        var total = items.Sum(weight);
        var x = random.NextDouble() * total;
        foreach (var item in items)
        {
            x -= weight(item);
            if (x < 0)
            {
                return item;
            }
        }

        return items[^1];
    }
}

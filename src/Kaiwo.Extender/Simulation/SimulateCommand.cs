using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Standalone;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Simulation;

namespace Kaiwo.Extender.Simulation;

/// <summary>A command line the simulator cannot run: the message names the option, the value and what is accepted.</summary>
internal sealed class SimulateUsageException(string message) : Exception(message);

/// <summary>
/// <c>simulate</c>: replays a trace on a cluster file under one or more policies and writes the report and its
/// JSON; <c>simulate generate</c>: writes a synthetic trace. Exit codes: 0 done, 1 a file could not be read or
/// written, 2 a bad command line.
/// </summary>
internal static class SimulateCommand
{
    public const string Usage = """
        usage: kaiwo simulate --cluster-file F --trace T [--policy P]... [--report out.html] [--json out.json]
                              [--horizon D] [--buckets N] [--reservations off|on|both] [--quiet]
               kaiwo simulate generate --out T [--seed N] [--pods N] [--horizon D] [--sizes G:W,...] [--xcd S]
                              [--durations D-D:W,...] [--queues NAME:W:PRIORITY,...] [--diurnal A] [--bursts N]
                              [--whole-gpu-selector LABEL=VALUE]
          --policy       binpack, spread, first-fit, whole-gpus (repeatable; default: all four)
          --horizon      how long to simulate (default: the trace's horizon, else its last arrival)
          --buckets      time buckets of the charts (default 240)
          --reservations reservations against starvation (Scheduling:ReserveMinGpus etc. at their defaults): off
                         (default), on, or both (each policy twice; the runs with them are named POLICY+reserve)
        """;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            return args.Length > 0 && args[0] == "generate" ? Generate(args[1..], stdout) : Simulate(args, stdout, stderr);
        }
        catch (SimulateUsageException ex)
        {
            stderr.WriteLine($"simulate: {ex.Message}");
            stderr.WriteLine(Usage);
            return 2;
        }
        catch (Exception ex) when (ex is TraceFileException or ClusterFileException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"simulate: {ex.Message}");
            return 1;
        }
    }

    private static int Simulate(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var options = Options.Parse(args, ["--cluster-file", "--trace", "--policy", "--report", "--json", "--horizon", "--buckets", "--reservations"], ["--quiet"]);
        var clusterPath = options.Required("--cluster-file");
        var tracePath = options.Required("--trace");
        var policies = new List<SimulationPolicy>();
        foreach (var text in options.All("--policy"))
        {
            if (!PolicyRules.TryParse(text, out var policy))
            {
                throw new SimulateUsageException($"--policy: \"{text}\" is not accepted; one of {string.Join(", ", PolicyRules.All.Select(PolicyRules.Name))}");
            }

            if (!policies.Contains(policy))
            {
                policies.Add(policy);
            }
        }

        if (policies.Count == 0)
        {
            policies.AddRange(PolicyRules.All);
        }

        bool[] reserving = options.Value("--reservations") switch
        {
            null or "off" => [false],
            "on" => [true],
            "both" => [false, true],
            var other => throw new SimulateUsageException($"--reservations: \"{other}\" is not accepted; off, on or both"),
        };
        var buckets = options.Int("--buckets", 240, 10, 5000);
        var horizon = options.Duration("--horizon");
        var quiet = options.Flag("--quiet");

        var cluster = LoadCluster(clusterPath, stderr);
        var trace = TraceFile.Load(tracePath);
        if (horizon is not null)
        {
            trace = trace with { Horizon = horizon };
        }

        if (trace.EffectiveHorizon <= TimeSpan.Zero)
        {
            throw new TraceFileException($"trace {tracePath}: nothing to simulate: the horizon is 0 (set \"horizon\" in the trace or --horizon)");
        }

        var settings = new SchedulingOptions();
        var simulation = new SimulationOptions
        {
            Pipeline = settings.ToPipelineOptions(),
            DefaultQueue = settings.DefaultQueue,
            SchedulerName = settings.SchedulerName,
            Buckets = buckets,
        };

        var runs = new List<PolicyRun>();
        var speeds = new List<PolicySpeed>();
        foreach (var (policy, reserve) in policies.SelectMany(p => reserving.Select(r => (p, r))))
        {
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            var progress = quiet ? null : new Action<SimulationProgress>(p => stderr.WriteLine(
                $"[{p.Policy}] {p.Arrived}/{p.Total} pods arrived, {p.Placed} placed, virtual time {Clock(p.VirtualTime)}, {p.Arrived / Math.Max(1e-9, watch.Elapsed.TotalSeconds):0} pods/s"));
            var starvation = reserve ? settings.ToStarvationOptions([settings.SchedulerName]) : null;
            var run = Simulator.Run(cluster, trace, policy, simulation with { Progress = progress, Starvation = starvation });
            watch.Stop();
            runs.Add(run);
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
            speeds.Add(new PolicySpeed(run.Policy, watch.Elapsed.TotalSeconds, run.Pods / Math.Max(1e-9, watch.Elapsed.TotalSeconds), cpu));
            if (!quiet)
            {
                stderr.WriteLine($"[{run.Policy}] done: {run.Pods} pods in {watch.Elapsed.TotalSeconds:0.0} s wall, {cpu:0.0} s CPU ({speeds[^1].PodsPerSecond:0} pods/s), {run.Completed} completed");
            }
        }

        var result = Simulator.Summarize(cluster, trace, simulation, runs);
        var report = new SimulationReport(
            Path.GetFileName(clusterPath),
            Path.GetFileName(tracePath),
            ClusterSummary.Of(cluster),
            result,
            speeds);
        stdout.WriteLine(report.Headline());
        foreach (var line in report.SummaryLines())
        {
            stdout.WriteLine(line);
        }

        if (options.Value("--json") is { } jsonPath)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(report.Document(), Json) + "\n");
            stderr.WriteLine($"wrote {jsonPath}");
        }

        if (options.Value("--report") is { } htmlPath)
        {
            File.WriteAllText(htmlPath, report.Html());
            stderr.WriteLine($"wrote {htmlPath}");
        }

        return 0;
    }

    private static int Generate(string[] args, TextWriter stdout)
    {
        var options = Options.Parse(args, ["--out", "--seed", "--pods", "--horizon", "--sizes", "--xcd", "--durations", "--queues", "--diurnal", "--bursts", "--whole-gpu-selector"], []);
        var output = options.Required("--out");
        var mix = new TraceMix();
        mix = mix with
        {
            Seed = options.Int("--seed", mix.Seed, int.MinValue, int.MaxValue),
            Pods = options.Int("--pods", mix.Pods, 1, 10_000_000),
            Horizon = options.Duration("--horizon") ?? mix.Horizon,
            XcdShare = options.Double("--xcd", mix.XcdShare, 0, 1),
            Diurnal = options.Double("--diurnal", mix.Diurnal, 0, 0.95),
            Bursts = options.Int("--bursts", mix.Bursts, 0, 100),
        };
        if (mix.Horizon <= TimeSpan.Zero)
        {
            throw new SimulateUsageException($"--horizon: \"{options.Value("--horizon")}\" is not accepted; a duration above 0");
        }

        if (options.Value("--sizes") is { } sizes)
        {
            mix = mix with { Sizes = WeightedList(sizes, "--sizes", "GPUS:WEIGHT, e.g. 0.25:30,1:20,8:5 (a size below 1 is a fraction of at most 3 decimals, else whole GPUs)", ParseSize) };
        }

        if (options.Value("--durations") is { } durations)
        {
            mix = mix with { Durations = [.. WeightedList(durations, "--durations", "MIN-MAX:WEIGHT, e.g. 5m-30m:40,2h-8h:20", ParseRange).Select(d => new DurationMix(d.Item.Min, d.Item.Max, d.Weight))] };
        }

        if (options.Value("--whole-gpu-selector") is { } selector)
        {
            var eq = selector.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new SimulateUsageException($"--whole-gpu-selector: \"{selector}\" is not accepted; LABEL=VALUE, e.g. amd.com/gpu.compute-memory-partition=spx_nps1");
            }

            mix = mix with { WholeGpuSelector = new Dictionary<string, string>(StringComparer.Ordinal) { [selector[..eq]] = selector[(eq + 1)..] } };
        }

        if (options.Value("--queues") is { } queues)
        {
            mix = mix with { Queues = ParseQueues(queues) };
        }

        var trace = TraceGenerator.Generate(mix);
        var header = new List<string>
        {
            "kaiwo simulation trace, written by `simulate generate` " + string.Join(' ', args.Where(a => a != output && a != "--out")),
            $"seed {mix.Seed}, {mix.Pods} pods over {mix.Horizon}, sizes {string.Join(",", mix.Sizes.Select(s => $"{Num(s.Gpus)}:{Num(s.Weight)}"))}, xcd share {Num(mix.XcdShare)}",
            $"queues {string.Join(",", mix.Queues.Select(q => $"{q.Name}:{Num(q.Weight)}:{q.Priority}"))}, diurnal {Num(mix.Diurnal)}, {mix.Bursts} bursts a day",
            "fields: name, namespace, arrival and duration (seconds), queue (label kaiwo.ai/queue), priority, annotations, resources (one container's requests)",
        };
        TraceFile.Save(trace, output, header);
        stdout.WriteLine($"wrote {output}: {trace.Pods.Count} pods over {mix.Horizon}");
        return 0;
    }

    /// <summary>The cluster file read as the service reads it; its unbound pods are left out (the trace says what arrives).</summary>
    private static SimulatedCluster LoadCluster(string path, TextWriter stderr)
    {
        var contents = ClusterFile.Load(path);
        var nodes = contents.Nodes.ToList();
        var running = new List<PodFacts>();
        var skipped = 0;
        foreach (var pod in contents.Pods)
        {
            if (pod.NodeName is not null && !pod.IsTerminated)
            {
                running.Add(pod);
            }
            else
            {
                skipped++;
            }
        }

        if (skipped > 0)
        {
            stderr.WriteLine($"simulate: {path}: {skipped} pod(s) not bound to a node are left out; put the pods that arrive in the trace");
        }

        var catalog = new QueueCatalog();
        catalog.Replace(contents.Queues);
        catalog.SetAvailable(true, null);
        var (specs, invalid) = catalog.Read();
        foreach (var (name, why) in invalid)
        {
            stderr.WriteLine($"simulate: {path}: KaiwoQueue {name} is disabled: {why}");
        }

        if (nodes.Count == 0)
        {
            throw new ClusterFileException($"cluster file {path}: has no Node objects to simulate on");
        }

        return new SimulatedCluster(nodes, running, specs, invalid);
    }

    private static (double, string) ParseSize(string text)
    {
        if (double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var gpus) && gpus > 0
            && (gpus < 1 ? Math.Abs((gpus * 1000) - Math.Round(gpus * 1000)) < 1e-9 : gpus == Math.Floor(gpus) && gpus <= 64))
        {
            return (gpus, string.Empty);
        }

        return (0, $"size \"{text}\"");
    }

    private static ((TimeSpan Min, TimeSpan Max), string) ParseRange(string text)
    {
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0 && TraceFile.TryParseDuration(text[..dash], out var min) && TraceFile.TryParseDuration(text[(dash + 1)..], out var max) && min > TimeSpan.Zero && max >= min)
        {
            return ((min, max), string.Empty);
        }

        return ((TimeSpan.Zero, TimeSpan.Zero), $"range \"{text}\"");
    }

    private static List<(T Item, double Weight)> WeightedList<T>(string text, string option, string accepted, Func<string, (T, string)> parse)
    {
        var result = new List<(T, double)>();
        foreach (var entry in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var colon = entry.LastIndexOf(':');
            var (item, error) = colon > 0 ? parse(entry[..colon]) : (default!, "no weight");
            if (error.Length > 0 || !double.TryParse(entry[(colon + 1)..], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var weight) || weight <= 0)
            {
                throw new SimulateUsageException($"{option}: \"{entry}\" is not accepted ({(error.Length > 0 ? error : "weight")}); {accepted}, weights above 0");
            }

            result.Add((item, weight));
        }

        return result;
    }

    private static List<QueueMix> ParseQueues(string text)
    {
        var result = new List<QueueMix>();
        foreach (var entry in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var parts = entry.Split(':');
            if (parts.Length != 3 || parts[0].Length == 0 || parts[0].Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
                || !double.TryParse(parts[1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var weight) || weight <= 0
                || !int.TryParse(parts[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var priority))
            {
                throw new SimulateUsageException($"--queues: \"{entry}\" is not accepted; NAME:WEIGHT:PRIORITY, e.g. prod:30:1000 (a lower-case name, a weight above 0, a whole-number pod priority)");
            }

            result.Add(new QueueMix(parts[0], weight, priority));
        }

        return result;
    }

    private static string Num(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    internal static string Clock(TimeSpan t) => $"{(int)t.TotalHours:00}:{t.Minutes:00}:{t.Seconds:00}";

    /// <summary>The command line: each option once (but --policy), with a value; flags without.</summary>
    private sealed class Options
    {
        private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
        private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

        public static Options Parse(string[] args, string[] valued, string[] flags)
        {
            var options = new Options();
            for (var i = 0; i < args.Length; i++)
            {
                var arg = args[i];
                if (flags.Contains(arg))
                {
                    options._flags.Add(arg);
                    continue;
                }

                if (!valued.Contains(arg))
                {
                    throw new SimulateUsageException($"\"{arg}\" is not accepted; options are {string.Join(", ", valued.Concat(flags))}");
                }

                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new SimulateUsageException($"{arg} needs a value");
                }

                if (options._values.ContainsKey(arg) && arg != "--policy")
                {
                    throw new SimulateUsageException($"{arg} is given twice");
                }

                if (!options._values.TryGetValue(arg, out var list))
                {
                    options._values[arg] = list = [];
                }

                list.Add(args[++i]);
            }

            return options;
        }

        public string? Value(string name) => _values.TryGetValue(name, out var v) ? v[0] : null;

        public List<string> All(string name) => _values.TryGetValue(name, out var v) ? v : [];

        public bool Flag(string name) => _flags.Contains(name);

        public string Required(string name) => Value(name) ?? throw new SimulateUsageException($"{name} is required");

        public int Int(string name, int fallback, int min, int max)
        {
            if (Value(name) is not { } text)
            {
                return fallback;
            }

            return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
                ? value
                : throw new SimulateUsageException($"{name}: \"{text}\" is not accepted; a whole number from {min} to {max}");
        }

        public double Double(string name, double fallback, double min, double max)
        {
            if (Value(name) is not { } text)
            {
                return fallback;
            }

            return double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
                ? value
                : throw new SimulateUsageException($"{name}: \"{text}\" is not accepted; a number from {Num(min)} to {Num(max)}");
        }

        public TimeSpan? Duration(string name)
        {
            if (Value(name) is not { } text)
            {
                return null;
            }

            return TraceFile.TryParseDuration(text, out var value)
                ? value
                : throw new SimulateUsageException($"{name}: \"{text}\" is not accepted; a duration: seconds (90) or with units (90s, 1h30m, 2d)");
        }
    }
}

/// <summary>How fast one policy's run went on this machine (wall clock).</summary>
internal sealed record PolicySpeed(string Policy, double Seconds, double PodsPerSecond, double CpuSeconds);

/// <summary>What the report says about the cluster: nodes by GPU mode, GPUs, queues.</summary>
internal sealed record ClusterSummary(int Nodes, int GpuNodes, int Gpus, IReadOnlyDictionary<string, int> NodesByMode, IReadOnlyList<string> Queues, int RunningPods)
{
    public static ClusterSummary Of(SimulatedCluster cluster)
    {
        var modes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var gpus = 0;
        var gpuNodes = 0;
        foreach (var node in cluster.Nodes)
        {
            var inventory = InventoryReader.Read(node);
            if (!inventory.HasGpus)
            {
                continue;
            }

            gpuNodes++;
            gpus += inventory.Gpus.Count;
            var mode = $"{inventory.Gpus[0].Model.Name} {inventory.Gpus[0].ModeName}";
            modes[mode] = modes.GetValueOrDefault(mode) + 1;
        }

        return new ClusterSummary(cluster.Nodes.Count, gpuNodes, gpus, modes, [.. cluster.Queues.Select(q => q.Name).Order(StringComparer.Ordinal)], cluster.Running.Count);
    }
}

using System.Globalization;
using System.Text;
using Kaiwo.EndToEnd;

// The end-to-end benchmark: a real kube-scheduler placing the same pods on the same nodes twice, once with the
// project's scheduler-config/ and the extender in live mode, once with no extender, on a fresh control plane each
// time. Reports pods/s of both, their ratio, and the CPU each process spent. See benchmarks/README.md.
if (args is ["null-extender", ..])
{
    return await NullExtender.RunAsync(args);
}

if (args is ["perf-breakdown", var perfFile, var perfPid] && int.TryParse(perfPid, CultureInfo.InvariantCulture, out var pid))
{
    // A --perf file of an earlier run, split again: perf-breakdown FILE EXTENDER-PID.
    foreach (var part in await PerfBreakdown.ReadAsync(perfFile, pid))
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{part.Samples,7} {part.Part}"));
    }

    return 0;
}

var options = EndToEndOptions.Parse(args);
if (options is null)
{
    Console.Error.WriteLine(EndToEndOptions.Usage);
    return 2;
}

if (Kaiwo.Extender.Tests.RealCluster.ControlPlaneBinaries.Missing is { } missing)
{
    Console.Error.WriteLine($"the real control plane cannot run here: {missing}");
    return 1;
}

if (!File.Exists(options.ExtenderAssembly))
{
    Console.Error.WriteLine($"--extender {options.ExtenderAssembly}: no such file; build it first (dotnet build -c Release src/Kaiwo.Extender)");
    return 1;
}

var results = new List<RunResult>();
for (var round = 1; round <= options.Rounds; round++)
{
    foreach (var extender in options.Arms)
    {
        Console.Error.WriteLine($"round {round}: {Report.Describe(extender)}, {options.Pods} pods on {options.Nodes} nodes");
        var result = await SchedulerRun.RunAsync(options, extender, round);
        Console.Error.WriteLine($"  {result.PodsPerSecond:0.0} pods/s");
        results.Add(result);
    }
}

var report = Report.Markdown(options, results);
Console.WriteLine(report);
if (options.Output is { } output)
{
    await File.WriteAllTextAsync(output, report, Encoding.UTF8);
    Console.Error.WriteLine($"report written to {output}");
}

return results.All(r => r.Complete) ? 0 : 1;

namespace Kaiwo.EndToEnd
{
    /// <summary>Which settings of <c>Scheduling:PassOnlyBestNode</c> kaiwo runs with (<c>--pass-only-best-node</c>).</summary>
    internal enum BestNode
    {
        /// <summary>Its default, false.</summary>
        False,

        /// <summary>True, instead of the default.</summary>
        True,

        /// <summary>Both, one run each a round.</summary>
        Both,
    }

    /// <summary>The benchmark's settings, from the command line.</summary>
    internal sealed record EndToEndOptions(int Nodes, int Pods, string Fraction, int Rounds, string ExtenderAssembly, string? Output, string SchedulerConfig, string? Trace = null, int Warmup = 0, string? Perf = null, bool NullExtender = false, BestNode BestNode = BestNode.False, bool ReadyToRun = false)
    {
        public const string Usage = """
            usage: Kaiwo.EndToEnd [--nodes 200] [--pods 1000] [--fraction 0.25] [--rounds 1]
                                  [--extender src/Kaiwo.Extender/bin/Release/net10.0/Kaiwo.Extender.dll]
                                  [--scheduler-config scheduler-config/scheduler-config.yaml] [--out report.md]
                                  [--trace extender.nettrace] [--perf extender.perf.data] [--warmup 0]
                                  [--null-extender false] [--pass-only-best-node false] [--ready-to-run false]
            --warmup places that many pods first, untimed, through the same processes (a warm extender, as one that
            has run a while); the report says so. The default, 0, times a fresh extender's first pods.
            --trace profiles the extender over each placement (dotnet-trace, sampled stacks and runtime events, one
            file a round); the profiler costs the extender CPU, so a traced run's figures are not results.
            --null-extender true adds a third run to each round: the same pods through an extender that holds no
            state and decides nothing (filter passes all, prioritize scores 0, bind creates the Binding), the floor
            of the extender protocol on this machine, to read kaiwo's cost against.
            --pass-only-best-node true runs kaiwo with Scheduling:PassOnlyBestNode (filter passes only the node it
            scores best, so kube-scheduler skips prioritize and its own scores); the report says so. both runs kaiwo
            twice a round, with its defaults and with it, side by side.
            --ready-to-run true runs the extenders on the framework's precompiled (ReadyToRun) code, the runtime's
            default; by default they run as the image runs the service, with DOTNET_ReadyToRun=0 (see the
            Dockerfile), and the report says which.
            --perf records the machine's CPU over each placement, with and without the extender, with Linux perf
            (on-CPU samples with call stacks of every process, native frames and the kernel's included; the extenders
            write /tmp/perf-PID.map so that perf names JIT code): what the CPU per pod is spent on, in which
            process, where dotnet-trace samples the extender's threads whether they run or wait.
            """;

        public static EndToEndOptions? Parse(string[] args)
        {
            var root = RepositoryRoot();
            var values = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["--nodes"] = "200",
                ["--pods"] = "1000",
                ["--fraction"] = "0.25",
                ["--rounds"] = "1",
                ["--warmup"] = "0",
                ["--null-extender"] = "false",
                ["--pass-only-best-node"] = "false",
                ["--ready-to-run"] = "false",
                ["--extender"] = Path.Combine(root, "src", "Kaiwo.Extender", "bin", "Release", "net10.0", "Kaiwo.Extender.dll"),
                ["--scheduler-config"] = Path.Combine(root, "scheduler-config", "scheduler-config.yaml"),
            };
            for (var i = 0; i < args.Length; i += 2)
            {
                if (i + 1 >= args.Length || !(values.ContainsKey(args[i]) || args[i] is "--out" or "--trace" or "--perf"))
                {
                    Console.Error.WriteLine($"unknown or incomplete option '{args[i]}'");
                    return null;
                }

                values[args[i]] = args[i + 1];
            }

            if (!int.TryParse(values["--nodes"], CultureInfo.InvariantCulture, out var nodes) || nodes is < 1 or > 5000 ||
                !int.TryParse(values["--pods"], CultureInfo.InvariantCulture, out var pods) || pods is < 1 or > 100_000 ||
                !int.TryParse(values["--rounds"], CultureInfo.InvariantCulture, out var rounds) || rounds is < 1 or > 20 ||
                !int.TryParse(values["--warmup"], CultureInfo.InvariantCulture, out var warmup) || warmup is < 0 or > 100_000 ||
                !bool.TryParse(values["--null-extender"], out var nullExtender) ||
                !bool.TryParse(values["--ready-to-run"], out var readyToRun) ||
                values["--pass-only-best-node"] switch { "false" => BestNode.False, "true" => BestNode.True, "both" => BestNode.Both, _ => (BestNode?)null } is not { } bestNode)
            {
                Console.Error.WriteLine("--nodes must be 1-5000, --pods 1-100000, --rounds 1-20, --warmup 0-100000, --null-extender true or false, --pass-only-best-node false, true or both, --ready-to-run true or false");
                return null;
            }

            return new EndToEndOptions(nodes, pods, values["--fraction"], rounds, Path.GetFullPath(values["--extender"]),
                values.GetValueOrDefault("--out"), Path.GetFullPath(values["--scheduler-config"]),
                values.TryGetValue("--trace", out var trace) ? Path.GetFullPath(trace) : null, warmup,
                values.TryGetValue("--perf", out var perf) ? Path.GetFullPath(perf) : null, nullExtender, bestNode, readyToRun);
        }

        /// <summary>The runs of each round, in order: no extender first, then the null extender when asked, then kaiwo in each setting asked.</summary>
        public IReadOnlyList<ExtenderKind> Arms
        {
            get
            {
                List<ExtenderKind> arms = [ExtenderKind.None];
                if (NullExtender)
                {
                    arms.Add(ExtenderKind.Null);
                }

                if (BestNode is BestNode.False or BestNode.Both)
                {
                    arms.Add(ExtenderKind.Kaiwo);
                }

                if (BestNode is BestNode.True or BestNode.Both)
                {
                    arms.Add(ExtenderKind.KaiwoBestNode);
                }

                return arms;
            }
        }

        private static string RepositoryRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "SchedulerExtender.sln")))
                {
                    return dir.FullName;
                }
            }

            return Directory.GetCurrentDirectory();
        }
    }
}

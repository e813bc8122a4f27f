using System.Globalization;

namespace Kaiwo.LoadGen;

/// <summary>The command line of both runs: <c>http</c> (the HTTP row) and <c>scale</c> (the 20,000-node row).</summary>
internal sealed record LoadOptions(
    string Command,
    string ExtenderAssembly,
    int Nodes,
    int Pods,
    int Connections,
    TimeSpan Warmup,
    TimeSpan Duration,
    int Candidates,
    string Verb,
    int Calls,
    int CompareNodes,
    int ComparePods,
    TimeSpan Settle,
    TimeSpan ReadyTimeout,
    string? Output)
{
    public const string Usage = """
        usage: Kaiwo.LoadGen http  [--nodes 5000] [--pods 50000] [--connections 4] [--warmup 5s] [--duration 20s]
                                   [--candidates 500] [--verb filter|prioritize] [--out FILE.md]
               Kaiwo.LoadGen scale [--nodes 20000] [--pods 200000] [--compare-nodes 5000] [--compare-pods 50000]
                                   [--calls 300] [--connections 1] [--candidates 500] [--settle 10s] [--ready-timeout 300s] [--out FILE.md]
               Kaiwo.LoadGen apiserver [--nodes 20000] [--pods 200000]   (serves until Ctrl+C, prints its kubeconfig)
        all:   [--extender src/Kaiwo.Extender/bin/Release/net10.0/Kaiwo.Extender.dll]
        durations: 500ms, 20s, 2m (a plain number is seconds)
        """;

    public static LoadOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("http" or "scale" or "apiserver"))
        {
            throw new ArgumentException($"the first argument is the run, 'http', 'scale' or 'apiserver'; got '{(args.Length == 0 ? string.Empty : args[0])}'");
        }

        var command = args[0];
        var scale = command is "scale" or "apiserver";
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["--extender"] = Path.Combine(RepositoryRoot(), "src", "Kaiwo.Extender", "bin", "Release", "net10.0", "Kaiwo.Extender.dll"),
            ["--nodes"] = scale ? "20000" : "5000",
            ["--pods"] = scale ? "200000" : "50000",
            ["--connections"] = scale ? "1" : "4",
            ["--warmup"] = scale ? "2s" : "5s",
            ["--duration"] = scale ? "60s" : "20s",
            ["--verb"] = "filter",
            ["--calls"] = scale ? "300" : "0",
            ["--compare-nodes"] = "5000",
            ["--compare-pods"] = "50000",
            ["--settle"] = "10s",
            ["--ready-timeout"] = "300s",
        };
        string? output = null;
        for (var i = 1; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length)
            {
                throw new ArgumentException($"option '{args[i]}' needs a value");
            }

            if (args[i] == "--out")
            {
                output = args[i + 1];
            }
            else if (values.ContainsKey(args[i]) || args[i] == "--candidates")
            {
                values[args[i]] = args[i + 1];
            }
            else
            {
                throw new ArgumentException($"unknown option '{args[i]}'; accepted: {string.Join(", ", values.Keys.Append("--candidates").Append("--out"))}");
            }
        }

        var verb = values["--verb"];
        if (verb is not ("filter" or "prioritize"))
        {
            throw new ArgumentException($"--verb '{verb}': accepted values are filter and prioritize");
        }

        var nodes = Int(values, "--nodes", 1, 1_000_000);

        // 500 candidates, as the issue's rows; a cluster smaller than that offers every node.
        values.TryAdd("--candidates", Math.Min(500, nodes).ToString(CultureInfo.InvariantCulture));
        return new LoadOptions(
            command,
            Path.GetFullPath(values["--extender"]),
            nodes,
            Int(values, "--pods", 0, 10_000_000),
            Int(values, "--connections", 1, 256),
            ParseDuration(values, "--warmup", allowZero: true),
            ParseDuration(values, "--duration", allowZero: false),
            Int(values, "--candidates", 1, nodes),
            verb,
            Int(values, "--calls", 0, 100_000_000),
            Int(values, "--compare-nodes", 0, 1_000_000),
            Int(values, "--compare-pods", 0, 10_000_000),
            ParseDuration(values, "--settle", allowZero: true),
            ParseDuration(values, "--ready-timeout", allowZero: false),
            output);
    }

    private static int Int(Dictionary<string, string> values, string name, int min, int max) =>
        int.TryParse(values[name].Replace("_", string.Empty, StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name} '{values[name]}': expected a whole number from {min} to {max}");

    private static TimeSpan ParseDuration(Dictionary<string, string> values, string name, bool allowZero)
    {
        var text = values[name];
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : (text, 1.0);
        return double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && (allowZero ? value >= 0 : value > 0) && value * unit <= 86_400
            ? TimeSpan.FromSeconds(value * unit)
            : throw new ArgumentException($"{name} '{text}': expected a duration such as 500ms, 20s or 2m{(allowZero ? string.Empty : ", above zero")}");
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

using System.Diagnostics;

namespace Kaiwo.Extender.Tests.Monitoring;

/// <summary>
/// Debian's prometheus package: <c>prometheus</c> and <c>promtool</c> on PATH. A test that needs them is skipped
/// (reported as skipped, never passed) when they are missing, and fails instead when env KAIWO_REQUIRE_PROMETHEUS=1
/// (set by .ci/run, which installs the package).
/// </summary>
internal static class PrometheusTools
{
    public const string RequireVariable = "KAIWO_REQUIRE_PROMETHEUS";

    public static TimeSpan Timeout { get; } = TimeSpan.FromSeconds(60);

    /// <summary>The tool's path, or a skip (a failure under KAIWO_REQUIRE_PROMETHEUS=1) when it is not installed.</summary>
    public static string Require(string tool)
    {
        var path = Find(tool);
        if (path is not null)
        {
            return path;
        }

        var why = $"{tool} is not on PATH (Debian package prometheus: apt-get install prometheus)";
        if (Environment.GetEnvironmentVariable(RequireVariable) == "1")
        {
            throw new Xunit.Sdk.XunitException($"{why}, and {RequireVariable}=1 requires it");
        }

        throw new SkipException(why);
    }

    private static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, tool))
            .FirstOrDefault(File.Exists);

    /// <summary>Runs a tool to its end (at most <see cref="Timeout"/>) and returns its exit code and all it printed.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string tool, string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(Require(tool))
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', arguments)} did not finish within {Timeout}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}

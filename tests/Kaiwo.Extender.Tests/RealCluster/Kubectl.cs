using System.Diagnostics;

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>
/// The kubectl an operator runs, for the tests that install the manifests as the README says: <c>KAIWO_KUBECTL</c>,
/// or <c>kubectl</c> on PATH (.ci/run installs Debian's kubernetes-client, kubectl 1.20, where there is none). Without
/// one those tests are skipped, and under <c>KAIWO_REQUIRE_K8S=1</c> they fail.
/// </summary>
internal static class Kubectl
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    public static string? Path { get; } = Find();

    /// <summary>Skips the calling test when the control plane or kubectl is missing, unless CI requires them.</summary>
    public static void SkipUnlessAvailable()
    {
        ControlPlaneBinaries.SkipUnlessAvailable();
        if (Path is not null)
        {
            return;
        }

        const string missing = "kubectl is not on PATH and KAIWO_KUBECTL is not set (apt-get install -y kubernetes-client)";
        if (Environment.GetEnvironmentVariable("KAIWO_REQUIRE_K8S") == "1")
        {
            throw new InvalidOperationException($"KAIWO_REQUIRE_K8S=1 but {missing}");
        }

        Skip.If(true, missing);
    }

    /// <summary>Runs kubectl against <paramref name="controlPlane"/> from the repository root, with <paramref name="input"/> on stdin.</summary>
    public static async Task<KubectlResult> RunAsync(ControlPlane controlPlane, string? input, params string[] args)
    {
        var start = new ProcessStartInfo(Path!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Deployment.DeploymentFiles.Root,
        };
        start.ArgumentList.Add($"--kubeconfig={controlPlane.Kubeconfig}");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{Path} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        await process.WaitForExitAsync(timeout.Token);
        return new KubectlResult($"kubectl {string.Join(' ', args)}", process.ExitCode, await output, await error);
    }

    private static string? Find()
    {
        var configured = Environment.GetEnvironmentVariable("KAIWO_KUBECTL");
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => System.IO.Path.Combine(dir, "kubectl"))
            .FirstOrDefault(File.Exists);
    }
}

/// <summary>One kubectl run: what was asked, its exit code and both streams.</summary>
internal sealed record KubectlResult(string Command, int ExitCode, string Output, string Error)
{
    /// <summary>The streams without kustomize's deprecation warnings (newer kubectl on the 1.20-compatible files).</summary>
    public string ErrorWithoutWarnings =>
        string.Join('\n', Error.Split('\n').Where(l => !l.StartsWith("# Warning: ", StringComparison.Ordinal) && !l.StartsWith("Warning: ", StringComparison.Ordinal) && l.Length > 0));

    public override string ToString() => $"{Command} exited {ExitCode}\nstdout: {Output}\nstderr: {Error}";
}

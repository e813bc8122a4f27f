using Kaiwo.Extender.Tests.Deployment;

namespace Kaiwo.Extender.Tests.Monitoring;

/// <summary>The alert rules as Prometheus' own promtool reads and evaluates them.</summary>
public sealed class PromtoolTests
{
    [SkippableFact]
    public async Task PromtoolCheckRules_RulesFile_IsValid()
    {
        var (exit, output) = await PrometheusTools.RunAsync("promtool", DeploymentFiles.Root, "check", "rules", MonitoringFiles.RulesFile);

        Assert.True(exit == 0, output);
        Assert.Contains($"SUCCESS: {MonitoringFiles.Alerts.Count} rules found", output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task PromtoolTestRules_AlertUnitTests_AllPass()
    {
        var (exit, output) = await PrometheusTools.RunAsync("promtool", DeploymentFiles.Root, "test", "rules", MonitoringFiles.AlertTestsFile);

        Assert.True(exit == 0, output);
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task PromtoolTestRules_AnExpectationThatIsWrong_Fails()
    {
        // The check above only means something if promtool really compares: a test expecting a wrong label must fail.
        var wrong = Path.Combine(Path.GetTempPath(), $"kaiwo-alerts-wrong-{Guid.NewGuid():N}.test.yaml");
        var text = await File.ReadAllTextAsync(MonitoringFiles.AlertTestsFile);
        await File.WriteAllTextAsync(wrong, text
            .Replace("../../../manifests/monitoring/kaiwo-extender.rules.yaml", MonitoringFiles.RulesFile, StringComparison.Ordinal)
            .Replace("queue: research, resource: gpu}", "queue: prod, resource: gpu}", StringComparison.Ordinal));
        try
        {
            var (exit, output) = await PrometheusTools.RunAsync("promtool", DeploymentFiles.Root, "test", "rules", wrong);

            Assert.NotEqual(0, exit);
            Assert.Contains("KaiwoQueueStarved", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(wrong);
        }
    }
}

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>The tests' side of <see cref="ControlPlaneBinaries"/>: skipped here, required in CI.</summary>
internal static partial class ControlPlaneBinaries
{
    /// <summary>Skips the calling <c>[SkippableFact]</c> when the control plane cannot run here, unless CI requires it.</summary>
    public static void SkipUnlessAvailable()
    {
        if (Missing is null)
        {
            return;
        }

        if (Environment.GetEnvironmentVariable("KAIWO_REQUIRE_K8S") == "1")
        {
            throw new InvalidOperationException($"KAIWO_REQUIRE_K8S=1 but the real control plane cannot run: {Missing}");
        }

        Skip.If(true, $"real control plane not available: {Missing}");
    }
}

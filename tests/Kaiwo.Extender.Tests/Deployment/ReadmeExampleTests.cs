using System.Text.RegularExpressions;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>The README's first-pod example is what users copy: it must give the GPUs the way the webhook does.</summary>
public sealed partial class ReadmeExampleTests
{
    [Fact]
    public void FirstPodExample_Env_SetsRocrVisibleDevicesFromTheRecordAndNeverHipVisibleDevices()
    {
        var readme = File.ReadAllText(Path.Combine(DeploymentFiles.Root, "README.md"));
        var yaml = YamlBlocks().Matches(readme).Select(m => m.Groups["body"].Value).Single(b => b.Contains("name: quarter", StringComparison.Ordinal));

        var pod = DeploymentFiles.Parse("README.md", yaml).Single().Root;

        var variable = Assert.Single(pod["spec"]!["containers"]![0]!["env"]!.AsArray());
        Assert.Equal("ROCR_VISIBLE_DEVICES", (string?)variable!["name"]);
        Assert.Equal("metadata.annotations['kaiwo.ai/visible-devices']", (string?)variable["valueFrom"]!["fieldRef"]!["fieldPath"]);
        Assert.DoesNotContain("HIP_VISIBLE_DEVICES", pod.ToJsonString(), StringComparison.Ordinal);
    }

    [GeneratedRegex("```yaml\\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex YamlBlocks();
}

using System.Text.Json.Nodes;
using static Kaiwo.Extender.Tests.Deployment.DeploymentFiles;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>
/// The kustomizations read as files: every manifest is in the one-command install, the images it sets are the
/// Deployment's, the generated ConfigMap is the one the Deployment mounts, and each overlay's patches land on
/// containers the base has (a strategic-merge patch naming a missing container would add a broken one). What
/// kustomize renders from them, and what the API server makes of it, the real-cluster tests check.
/// </summary>
public sealed class KustomizationTests
{
    [Fact]
    public void EveryKustomization_ApiVersionAndKind_AreKustomizationV1beta1()
    {
        Assert.All(KustomizationDirectories, d =>
        {
            var kustomization = Kustomization(d);
            Assert.Equal("kustomize.config.k8s.io/v1beta1", (string?)kustomization["apiVersion"]);
            Assert.Equal("Kustomization", (string?)kustomization["kind"]);
        });
    }

    [Fact]
    public void Manifests_Resources_AreEveryObjectFileOfTheFolder()
    {
        var files = Directory.GetFiles(ManifestsDirectory, "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml").Order(StringComparer.Ordinal);

        Assert.Equal(files, Listed(ManifestsDirectory, "resources").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void EveryListedFile_OfEveryKustomization_Exists()
    {
        Assert.All(KustomizationDirectories, d => Assert.All(
            Listed(d, "resources").Concat(Listed(d, "patchesStrategicMerge")).Concat(Listed(d, "bases")),
            f => Assert.True(File.Exists(f) || File.Exists(Path.Combine(f, "kustomization.yaml")), $"{d}: {f} does not exist")));
    }

    [Fact]
    public void Manifests_Images_AreTheDeploymentsImagesWithATagEach()
    {
        // kustomize's images transformer matches by name: an entry for a name the Deployment does not use changes nothing.
        var images = Kustomization(ManifestsDirectory)["images"]!.AsArray().Select(i => i!.AsObject()).ToList();
        var used = PodSpec["containers"]!.AsArray().Select(c => ((string)c!["image"]!).Split(':')[0]).Order(StringComparer.Ordinal);

        Assert.Equal(used, images.Select(i => (string?)i["name"]).Order(StringComparer.Ordinal));
        Assert.All(images, i => Assert.False(string.IsNullOrEmpty((string?)i["newTag"]), $"{i["name"]}: newTag"));
    }

    [Fact]
    public void Manifests_Bases_GenerateTheConfigMapTheDeploymentMountsFromBothSchedulerConfigurations()
    {
        var mounted = (string)ManifestTests.Volume("scheduler-config")["configMap"]!["name"]!;

        Assert.Contains(SchedulerConfigDirectory, Listed(ManifestsDirectory, "bases"));
        Assert.Equal(["scheduler-config-https.yaml", "scheduler-config.yaml"], GeneratedConfigMapKeys(mounted).Order(StringComparer.Ordinal));
        Assert.Equal("kaiwo-system", (string?)Kustomization(SchedulerConfigDirectory)["namespace"]);
    }

    [Fact]
    public void EveryOverlay_StandsOnTheManifestsOrAnotherOverlay()
    {
        var overlays = KustomizationDirectories.Where(d => d.StartsWith(OverlaysDirectory, StringComparison.Ordinal)).ToList();

        Assert.Equal(["service-mode", "tls", "webhook"], overlays.Select(Path.GetFileName));
        Assert.All(overlays, o => Assert.Contains(Assert.Single(Listed(o, "bases")), overlays.Append(ManifestsDirectory)));
    }

    [Fact]
    public void EveryPatch_NamesTheDeploymentAndContainersTheBaseHas()
    {
        var containers = PodSpec["containers"]!.AsArray().Select(c => (string?)c!["name"]).ToHashSet(StringComparer.Ordinal);

        Assert.NotEmpty(PatchFiles);
        Assert.All(PatchFiles.SelectMany(Load), patch =>
        {
            Assert.Equal(("Deployment", "kaiwo-scheduler", "kaiwo-system"), (patch.Kind, patch.Name, patch.Namespace));
            Assert.All(PatchContainers(patch.Root), c => Assert.Contains((string?)c["name"], containers));
        });
    }

    [Fact]
    public void TlsOverlay_ServesTheVerbsOverHttpsOnLoopbackAndPointsKubeSchedulerAtTheHttpsConfiguration()
    {
        var patch = Patch("tls");
        var scheduler = PatchContainers(patch).Single(c => (string?)c["name"] == "kube-scheduler");
        var config = scheduler["command"]!.AsArray().Select(a => (string)a!).Single(a => a.StartsWith("--config=", StringComparison.Ordinal))["--config=".Length..];
        var baseCommand = DeploymentFiles.Container("kube-scheduler")["command"]!.AsArray().Select(a => (string)a!).ToList();

        Assert.Equal("https://127.0.0.1:8888", Env(patch, "extender", "Listeners__Verbs__Url"));
        Assert.Equal($"{ManifestTests.MountPath(DeploymentFiles.Container("kube-scheduler"), "scheduler-config")}/scheduler-config-https.yaml", config);

        // A list is replaced whole by a strategic-merge patch: beside --config, the command is the base's.
        Assert.Equal(
            baseCommand.Where(a => !a.StartsWith("--config=", StringComparison.Ordinal)),
            scheduler["command"]!.AsArray().Select(a => (string)a!).Where(a => !a.StartsWith("--config=", StringComparison.Ordinal)));
    }

    [Fact]
    public void ServiceModeOverlay_ServesTheVerbsOverHttpsToClientsOfTheCaWithOneReplicaAndItsService()
    {
        var overlay = Path.Combine(OverlaysDirectory, "service-mode");
        var patch = Patch("service-mode");

        Assert.Equal(ManifestsDirectory, Assert.Single(Listed(overlay, "bases")));
        Assert.Equal(Path.Combine(overlay, "extender-service.yaml"), Assert.Single(Listed(overlay, "resources")));
        Assert.Equal("https://0.0.0.0:8888", Env(patch, "extender", "Listeners__Verbs__Url"));
        Assert.Equal("/etc/kaiwo/tls/ca.crt", Env(patch, "extender", "Tls__ClientCaFile"));
        Assert.Equal(1L, (long?)patch["spec"]!["replicas"]);
    }

    [Fact]
    public void WebhookOverlay_IsTheTlsOverlayWithTheWebhookAndAdmissionOn()
    {
        var webhook = Path.Combine(OverlaysDirectory, "webhook");

        Assert.Equal(Path.Combine(OverlaysDirectory, "tls"), Assert.Single(Listed(webhook, "bases")));
        Assert.Equal("true", Env(Patch("webhook"), "extender", "Admission__Enabled"));
        Assert.Contains(Load(Assert.Single(Listed(webhook, "resources"))), d => d.Kind == "MutatingWebhookConfiguration");
    }

    /// <summary>The keys of the ConfigMap scheduler-config/kustomization.yaml generates under <paramref name="name"/>.</summary>
    internal static IReadOnlyList<string> GeneratedConfigMapKeys(string name)
    {
        var generator = Kustomization(SchedulerConfigDirectory)["configMapGenerator"]!.AsArray().Single(g => (string?)g!["name"] == name)!;
        return [.. generator["files"]!.AsArray().Select(f => (string)f!)];
    }

    private static JsonObject Patch(string overlay) =>
        Assert.Single(Listed(Path.Combine(OverlaysDirectory, overlay), "patchesStrategicMerge").SelectMany(Load)).Root;

    private static IEnumerable<JsonObject> PatchContainers(JsonObject patch) =>
        patch["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Select(c => c!.AsObject());

    private static string? Env(JsonObject patch, string container, string name) =>
        (string?)PatchContainers(patch).Single(c => (string?)c["name"] == container)["env"]!.AsArray().Single(e => (string?)e!["name"] == name)!["value"];
}

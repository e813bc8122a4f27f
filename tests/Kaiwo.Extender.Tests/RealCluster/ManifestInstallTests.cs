using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Kaiwo.Extender.Tests.Deployment;
using YamlDotNet.RepresentationModel;

namespace Kaiwo.Extender.Tests.RealCluster;

/// <summary>
/// A real kube-apiserver v1.26.1 (the oldest Kubernetes supported) with <c>kubectl apply -k manifests/</c> applied,
/// as the README installs it. Started once for the class.
/// </summary>
public sealed class InstalledManifests : IAsyncLifetime
{
    private ControlPlane? _controlPlane;

    internal ControlPlane ControlPlane => _controlPlane ?? throw new InvalidOperationException("the control plane did not start");

    internal KubectlResult Apply { get; private set; } = null!;

    /// <summary>What kustomize made of manifests/, as kubectl renders it.</summary>
    internal IReadOnlyList<JsonObject> Rendered { get; private set; } = [];

    internal string RenderedYaml { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        if (ControlPlaneBinaries.Missing is not null || Kubectl.Path is null)
        {
            return; // Each test says why it is skipped (or, under KAIWO_REQUIRE_K8S=1, fails).
        }

        _controlPlane = await ControlPlane.StartAsync();
        var rendered = await Kubectl.RunAsync(_controlPlane, null, "kustomize", "manifests");
        RenderedYaml = rendered.ExitCode == 0 ? rendered.Output : throw new InvalidOperationException(rendered.ToString());
        Rendered = ManifestInstallTests.Documents(RenderedYaml);
        Apply = await Kubectl.RunAsync(_controlPlane, null, "apply", "-k", "manifests/");
    }

    public async Task DisposeAsync()
    {
        if (_controlPlane is not null)
        {
            await _controlPlane.DisposeAsync();
        }
    }
}

/// <summary>
/// The manifests proven on the real API server, not on their text: every object accepted and there, the CRD
/// established with every field of its schema kept (a field of a newer Kubernetes is refused or silently dropped),
/// the README's KaiwoQueue accepted, invalid queues refused with messages that name the field, the overlays accepted,
/// and the shipped scheduler configurations loaded by the real kube-scheduler, which takes its Lease.
/// </summary>
public sealed partial class ManifestInstallTests(InstalledManifests installed) : IClassFixture<InstalledManifests>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static readonly string[] InstalledObjects =
    [
        "ClusterRole/kaiwo-scheduler-extender", "ClusterRoleBinding/kaiwo-scheduler-as-kube-scheduler", "ClusterRoleBinding/kaiwo-scheduler-as-volume-scheduler",
        "ClusterRoleBinding/kaiwo-scheduler-extender", "ConfigMap/kaiwo-system/kaiwo-scheduler-config-*", "CustomResourceDefinition/kaiwoqueues.kaiwo.ai",
        "Deployment/kaiwo-system/kaiwo-scheduler", "Namespace/kaiwo-system", "NetworkPolicy/kaiwo-system/kaiwo-scheduler",
        "Role/kube-system/kaiwo-scheduler-leader-election", "RoleBinding/kube-system/kaiwo-scheduler-extension-apiserver-authentication-reader",
        "RoleBinding/kube-system/kaiwo-scheduler-leader-election", "Service/kaiwo-system/kaiwo-scheduler-metrics", "ServiceAccount/kaiwo-system/kaiwo-scheduler",
    ];

    private ControlPlane ControlPlane => installed.ControlPlane;

    [SkippableFact]
    public async Task ApplyK_Manifests_EveryObjectIsAcceptedAndOnTheServer()
    {
        Kubectl.SkipUnlessAvailable();

        Assert.True(installed.Apply.ExitCode == 0, installed.Apply.ToString());
        Assert.Equal(string.Empty, installed.Apply.ErrorWithoutWarnings);
        Assert.Equal(InstalledObjects, installed.Rendered.Select(Identity).Select(i => i.StartsWith("ConfigMap/", StringComparison.Ordinal) ? ConfigMapPattern().Replace(i, "-*") : i).Order(StringComparer.Ordinal));

        // Every rendered object, read back from the server by its kind and name.
        var read = await Kubectl.RunAsync(ControlPlane, installed.RenderedYaml, "get", "-f", "-", "-o", "name");
        Assert.True(read.ExitCode == 0, read.ToString());
        Assert.Equal(installed.Rendered.Count, read.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [SkippableFact]
    public async Task ApplyK_Manifests_TheDeploymentRunsTheImagesOfTheKustomizationAndMountsTheGeneratedConfigMap()
    {
        Kubectl.SkipUnlessAvailable();

        var deployment = await ControlPlane.Client.AppsV1.ReadNamespacedDeploymentAsync("kaiwo-scheduler", "kaiwo-system");
        var images = DeploymentFiles.Kustomization(DeploymentFiles.ManifestsDirectory)["images"]!.AsArray()
            .ToDictionary(i => (string)i!["name"]!, i => $"{(string?)i!["newName"] ?? (string)i["name"]!}:{(string)i["newTag"]!}");
        var configMap = Assert.Single(installed.Rendered, o => (string?)o["kind"] == "ConfigMap");

        Assert.Equal(images["ghcr.io/silogen/kaiwo-scheduler-extender"], deployment.Spec.Template.Spec.Containers.Single(c => c.Name == "extender").Image);
        Assert.Equal(images["registry.k8s.io/kube-scheduler"], deployment.Spec.Template.Spec.Containers.Single(c => c.Name == "kube-scheduler").Image);
        Assert.Equal((string?)configMap["metadata"]!["name"], deployment.Spec.Template.Spec.Volumes.Single(v => v.Name == "scheduler-config").ConfigMap.Name);
    }

    [SkippableFact]
    public async Task Crd_AfterApply_IsEstablishedWithItsWholeSchemaKept()
    {
        Kubectl.SkipUnlessAvailable();

        var crd = await EstablishedAsync();

        // A client that does not ask for strict decoding gets fields the server does not know dropped without a word:
        // the schema stored must be the file's, field for field.
        var stored = JsonNode.Parse(KubernetesJson.Serialize(Assert.Single(crd.Spec.Versions).Schema))!;
        var file = DeploymentFiles.Single("CustomResourceDefinition", "kaiwoqueues.kaiwo.ai").Root["spec"]!["versions"]![0]!["schema"]!;
        Assert.Equal(Paths(file).Order(StringComparer.Ordinal), Paths(stored).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task KaiwoQueue_ReadmeExample_IsAcceptedWithTheSchemaDefaults()
    {
        Kubectl.SkipUnlessAvailable();
        await EstablishedAsync();
        var example = ReadmeQueueExample();

        var apply = await Kubectl.RunAsync(ControlPlane, example, "apply", "-f", "-");

        Assert.True(apply.ExitCode == 0, apply.ToString());
        var name = (string)DeploymentFiles.ToJson(LoadYaml(example))!["metadata"]!["name"]!;
        var queue = (JsonObject)JsonNode.Parse(KubernetesJson.Serialize(await ControlPlane.Client.CustomObjects.GetClusterCustomObjectAsync("kaiwo.ai", "v1alpha2", "kaiwoqueues", name)))!;
        Assert.Equal(1L, (long?)queue["spec"]!["resources"]!["memory"]!["overQuotaWeight"]);
        Assert.Equal(-1L, (long?)queue["spec"]!["resources"]!["memory"]!["limit"]);
        Assert.Equal("DRF", (string?)queue["spec"]!["fairness"]!["policy"]);
        using var doc = System.Text.Json.JsonDocument.Parse(queue.ToJsonString());
        Assert.True(Kaiwo.Scheduling.Queues.QueueSpecReader.TryRead(doc.RootElement, out _, out var errors), string.Join("; ", errors));
    }

    public static TheoryData<string, string, string> InvalidQueues() => new()
    {
        { "limit-below-quota", "{resources: {gpu: {quota: 4, limit: 2}}}", "spec.resources.gpu: Invalid value: \"object\": gpu: limit must be -1 (no limit) or at least the quota" },
        { "memory-limit-below-quota", "{resources: {memory: {quota: 64, limit: 32}}}", "memory: limit must be -1 (no limit) or at least the quota" },
        { "negative-quota", "{resources: {cpu: {quota: -1}}}", "spec.resources.cpu.quota in body should be greater than or equal to 0" },
        { "negative-weight", "{resources: {memory: {overQuotaWeight: -2}}}", "spec.resources.memory.overQuotaWeight in body should be greater than or equal to 0" },
        { "limit-below-minus-one", "{resources: {gpu: {limit: -2}}}", "spec.resources.gpu.limit in body should be greater than or equal to -1" },
        { "unknown-reclaim", "{fairness: {reclaimStrategy: nice}}", "spec.fairness.reclaimStrategy: Unsupported value: \"nice\": supported values: \"aggressive\", \"conservative\"" },
        { "unknown-policy", "{fairness: {policy: fifo}}", "spec.fairness.policy: Unsupported value: \"fifo\": supported values: \"DRF\"" },
        { "own-parent", "{parentQueue: own-parent}", "spec.parentQueue must name another KaiwoQueue, not the queue itself" },
        { "fractional-priority", "{priority: 1.5}", "spec.priority in body must be of type integer" },
    };

    [SkippableTheory]
    [MemberData(nameof(InvalidQueues))]
    public async Task KaiwoQueue_Invalid_IsRefusedNamingTheFieldAndNotCreated(string name, string spec, string message)
    {
        Kubectl.SkipUnlessAvailable();
        await EstablishedAsync();

        var apply = await Kubectl.RunAsync(ControlPlane, $"apiVersion: kaiwo.ai/v1alpha2\nkind: KaiwoQueue\nmetadata: {{name: {name}}}\nspec: {spec}\n", "apply", "-f", "-");

        Assert.True(apply.ExitCode != 0, apply.ToString());
        Assert.Contains($"The KaiwoQueue \"{name}\" is invalid", apply.Error, StringComparison.Ordinal);
        Assert.Contains(message, apply.Error, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => ControlPlane.Client.CustomObjects.GetClusterCustomObjectAsync("kaiwo.ai", "v1alpha2", "kaiwoqueues", name));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.Response.StatusCode);
    }

    [SkippableFact]
    public async Task KaiwoQueue_MisspeltField_IsRefusedNamingIt()
    {
        Kubectl.SkipUnlessAvailable();
        await EstablishedAsync();

        // kubectl 1.20 refuses it from the published schema before sending it, newer kubectl through the server's
        // strict decoding: both name the field.
        var apply = await Kubectl.RunAsync(ControlPlane, "apiVersion: kaiwo.ai/v1alpha2\nkind: KaiwoQueue\nmetadata: {name: typo}\nspec: {quotas: {gpu: 1}}\n", "apply", "-f", "-");

        Assert.True(apply.ExitCode != 0, apply.ToString());
        Assert.Matches("unknown field \"(spec\\.)?quotas\"", apply.Error);
    }

    [SkippableTheory]
    [InlineData("overlays/tls")]
    [InlineData("overlays/webhook")]
    [InlineData("overlays/service-mode")]
    public async Task ApplyK_Overlay_IsAcceptedByTheServer(string overlay)
    {
        Kubectl.SkipUnlessAvailable();

        // A server dry run: admission, defaulting and validation as for a real apply, without changing the fixture.
        var apply = await Kubectl.RunAsync(ControlPlane, null, "apply", "-k", overlay, "--dry-run=server");

        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal(string.Empty, apply.ErrorWithoutWarnings);
        Assert.Contains("deployment.apps/kaiwo-scheduler configured (server dry run)", apply.Output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task KubeScheduler_ShippedConfigurationFromTheInstalledConfigMap_TakesItsLease()
    {
        Kubectl.SkipUnlessAvailable();
        var configMap = await InstalledConfigMapAsync(ControlPlane);

        await ControlPlane.StartSchedulerAsync(configMap.Data["scheduler-config.yaml"]);

        await LeaseTakenAsync(ControlPlane);
    }

    [SkippableFact]
    public async Task KubeScheduler_HttpsConfigurationOfTheTlsOverlay_LoadsAndTakesItsLease()
    {
        Kubectl.SkipUnlessAvailable();

        // Its own control plane: one kube-scheduler per control plane, and this one is the TLS overlay's.
        await using var controlPlane = await ControlPlane.StartAsync();
        var apply = await Kubectl.RunAsync(controlPlane, null, "apply", "-k", "overlays/tls");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        var deployment = await controlPlane.Client.AppsV1.ReadNamespacedDeploymentAsync("kaiwo-scheduler", "kaiwo-system");
        var config = deployment.Spec.Template.Spec.Containers.Single(c => c.Name == "kube-scheduler").Command.Single(a => a.StartsWith("--config=", StringComparison.Ordinal));
        var https = (await InstalledConfigMapAsync(controlPlane)).Data[Path.GetFileName(config)];

        // kube-scheduler reads the CA file when it starts: the one the Deployment mounts is not here, a real CA is.
        await controlPlane.StartSchedulerAsync(https.Replace("/etc/kaiwo/tls/ca.crt", Path.Combine(controlPlane.Directory, "ca.crt"), StringComparison.Ordinal));

        Assert.Contains("enableHTTPS: true", https, StringComparison.Ordinal);
        await LeaseTakenAsync(controlPlane);
    }

    internal static IReadOnlyList<JsonObject> Documents(string yaml)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(yaml))
        {
            stream.Load(reader);
        }

        return [.. stream.Documents.Select(d => (JsonObject)DeploymentFiles.ToJson(d.RootNode)!)];
    }

    private static string Identity(JsonObject o) =>
        string.Join('/', new[] { (string?)o["kind"], (string?)o["metadata"]!["namespace"], (string?)o["metadata"]!["name"] }.Where(p => p is not null));

    private static async Task<V1ConfigMap> InstalledConfigMapAsync(ControlPlane controlPlane)
    {
        var deployment = await controlPlane.Client.AppsV1.ReadNamespacedDeploymentAsync("kaiwo-scheduler", "kaiwo-system");
        var name = deployment.Spec.Template.Spec.Volumes.Single(v => v.Name == "scheduler-config").ConfigMap.Name;
        return await controlPlane.Client.CoreV1.ReadNamespacedConfigMapAsync(name, "kaiwo-system");
    }

    private static async Task LeaseTakenAsync(ControlPlane controlPlane)
    {
        var lease = await ControlPlane.EventuallyAsync(
            async () =>
            {
                try
                {
                    return await controlPlane.Client.CoordinationV1.ReadNamespacedLeaseAsync("kaiwo-scheduler", "kube-system");
                }
                catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
                {
                    return null;
                }
            },
            l => !string.IsNullOrEmpty(l?.Spec?.HolderIdentity),
            Patience,
            _ => $"no holder of Lease kube-system/kaiwo-scheduler\n{controlPlane.SchedulerLog[^Math.Min(3000, controlPlane.SchedulerLog.Length)..]}");

        Assert.Equal("kube-system", lease!.Metadata.NamespaceProperty);
    }

    private Task<V1CustomResourceDefinition> EstablishedAsync() => ControlPlane.EventuallyAsync(
        () => ControlPlane.Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync("kaiwoqueues.kaiwo.ai"),
        c => c.Status?.Conditions?.Any(x => x.Type == "Established" && x.Status == "True") == true,
        Patience,
        c => $"the KaiwoQueue CRD is not established: {string.Join("; ", c.Status?.Conditions?.Select(x => $"{x.Type}={x.Status} {x.Message}") ?? [])}");

    /// <summary>The README's KaiwoQueue: the one yaml block of it that is a KaiwoQueue.</summary>
    private static string ReadmeQueueExample() =>
        Assert.Single(YamlBlock().Matches(File.ReadAllText(Path.Combine(DeploymentFiles.Root, "README.md"))), m => m.Groups[1].Value.Contains("kind: KaiwoQueue", StringComparison.Ordinal)).Groups[1].Value;

    private static YamlNode LoadYaml(string text)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(text))
        {
            stream.Load(reader);
        }

        return stream.Documents.Single().RootNode;
    }

    /// <summary>Every path to a leaf of a JSON tree: "properties.spec.type=object", ...</summary>
    private static IEnumerable<string> Paths(JsonNode? node, string prefix = "") => node switch
    {
        JsonObject o => o.SelectMany(kv => Paths(kv.Value, $"{prefix}.{kv.Key}")),
        JsonArray a => a.SelectMany((item, i) => Paths(item, $"{prefix}[{i}]")),
        null => [$"{prefix}=null"],
        _ => [$"{prefix}={node.ToJsonString()}"],
    };

    [GeneratedRegex("```yaml\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex YamlBlock();

    [GeneratedRegex("-[a-z0-9]{10}$")]
    private static partial Regex ConfigMapPattern();
}

using System.Text.Json.Nodes;
using k8s;
using Kaiwo.Extender.Hosting;
using Microsoft.Extensions.Configuration;
using static Kaiwo.Extender.Tests.Deployment.DeploymentFiles;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>
/// manifests/ and scheduler-config/ read as the API server would take them: Kubernetes objects with their
/// identity, a Deployment that runs locked down and probed, and names and ports that point at each other.
/// </summary>
public sealed class ManifestTests
{
    private static readonly string[] ExpectedFiles =
    [
        "manifests/crd-kaiwoqueue.yaml", "manifests/deployment.yaml", "manifests/namespace.yaml", "manifests/networkpolicy.yaml",
        "manifests/rbac.yaml", "manifests/service.yaml", "manifests/extender-service.yaml", "manifests/admission-webhook.yaml",
        "scheduler-config/configmap.yaml", "scheduler-config/scheduler-config-https.yaml", "scheduler-config/scheduler-config-mtls.yaml",
        "scheduler-config/scheduler-config.yaml",
    ];

    private static readonly string[] Namespaces = ["kaiwo-system", "kube-system"];

    private static readonly HashSet<string> ClusterScoped = new(StringComparer.Ordinal)
    {
        "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    };

    [Fact]
    public void DeploymentFiles_TheDocumentedSet_AreAllThere()
    {
        var files = YamlFiles.Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/')).ToHashSet(StringComparer.Ordinal);

        Assert.All(ExpectedFiles, f => Assert.Contains(f, files));
    }

    [Fact]
    public void EveryDocument_OfManifestsAndSchedulerConfig_HasApiVersionKindAndName()
    {
        Assert.NotEmpty(All);
        Assert.All(All, doc =>
        {
            Assert.False(string.IsNullOrEmpty((string?)doc.Root["apiVersion"]), $"{doc}: apiVersion");
            Assert.False(string.IsNullOrEmpty(doc.Kind), $"{doc}: kind");
            if (doc.Kind == "KubeSchedulerConfiguration")
            {
                // A component configuration read from a file, not an API object: it has no metadata.
                return;
            }

            Assert.False(string.IsNullOrEmpty(doc.Name), $"{doc}: metadata.name");
            if (ClusterScoped.Contains(doc.Kind!))
            {
                Assert.Null(doc.Namespace);
            }
            else
            {
                Assert.Contains(doc.Namespace, Namespaces);
            }
        });
    }

    [Fact]
    public void EveryAppliedFile_ReadStrictlyByKubernetesClient_IsBuiltInObjectsWithNoUnknownField()
    {
        foreach (var file in YamlFiles.Where(f => Load(f).All(d => d.Kind != "KubeSchedulerConfiguration")))
        {
            // strict: an unknown or misspelt field is an error, as `kubectl apply --validate=strict` makes it.
            List<object> objects;
            try
            {
                objects = KubernetesYaml.LoadAllFromString(File.ReadAllText(file), strict: true);
            }
            catch (YamlDotNet.Core.YamlException ex)
            {
                throw new Xunit.Sdk.XunitException($"{Path.GetRelativePath(Root, file)}: {ex.Message} {ex.InnerException?.Message}");
            }

            var documents = Load(file).ToList();

            Assert.Equal(documents.Count, objects.Count);
            for (var i = 0; i < objects.Count; i++)
            {
                var metadata = Assert.IsAssignableFrom<IKubernetesObject<k8s.Models.V1ObjectMeta>>(objects[i]);
                Assert.Equal(documents[i].Name, metadata.Metadata.Name);
            }
        }
    }

    [Fact]
    public void Deployment_EveryContainer_RunsAsNonRootOnAReadOnlyRootWithoutPrivileges()
    {
        Assert.Equal(true, (bool?)PodSpec["securityContext"]?["runAsNonRoot"]);
        Assert.All(PodSpec["containers"]!.AsArray(), c =>
        {
            var name = (string?)c!["name"];
            var security = c["securityContext"];
            Assert.True(security is not null, $"{name}: securityContext");
            Assert.Equal(true, (bool?)security["runAsNonRoot"]);
            Assert.True((long?)security["runAsUser"] > 0, $"{name}: runAsUser must be a non-root uid");
            Assert.Equal(true, (bool?)security["readOnlyRootFilesystem"]);
            Assert.Equal(false, (bool?)security["allowPrivilegeEscalation"]);
            Assert.Equal(["ALL"], security["capabilities"]!["drop"]!.AsArray().Select(d => (string?)d));
        });
    }

    [Fact]
    public void Deployment_EveryContainer_HasResourceRequestsAndAMemoryLimit()
    {
        Assert.All(PodSpec["containers"]!.AsArray(), c =>
        {
            var resources = c!["resources"];
            Assert.False(string.IsNullOrEmpty((string?)resources?["requests"]?["cpu"]), $"{c["name"]}: cpu request");
            Assert.False(string.IsNullOrEmpty((string?)resources?["requests"]?["memory"]), $"{c["name"]}: memory request");
            Assert.False(string.IsNullOrEmpty((string?)resources?["limits"]?["memory"]), $"{c["name"]}: memory limit");
        });
    }

    [Fact]
    public void Deployment_ExtenderProbes_HitHealthzAndReadyzOnTheMetricsListener()
    {
        var extender = Container("extender");

        Assert.Equal("/healthz", (string?)extender["livenessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("/readyz", (string?)extender["readinessProbe"]!["httpGet"]!["path"]);
        foreach (var probe in new[] { "livenessProbe", "readinessProbe" })
        {
            var port = extender[probe]!["httpGet"]!["port"]!;
            Assert.Equal("metrics", (string?)port);
            Assert.Null(extender[probe]!["httpGet"]!["scheme"]);
        }

        Assert.Equal(ListenerUrl(Listener.Metrics).Port, ContainerPort(extender, "metrics"));
    }

    [Fact]
    public void Deployment_SchedulerProbes_HitHealthzOverHttpsOnItsSecurePort()
    {
        var scheduler = Container("kube-scheduler");

        foreach (var probe in new[] { "livenessProbe", "readinessProbe" })
        {
            var get = scheduler[probe]!["httpGet"]!;
            Assert.Equal("/healthz", (string?)get["path"]);
            Assert.Equal("HTTPS", (string?)get["scheme"]);
            Assert.Equal(10259L, (long?)get["port"]);
        }
    }

    [Fact]
    public void Deployment_Extender_RunsLive()
    {
        var args = Container("extender")["args"]!.AsArray().Select(a => (string?)a).ToList();

        Assert.Equal("live", args[args.IndexOf("--Extender:Mode") + 1]);
        Assert.DoesNotContain("--urls", args);
    }

    [Fact]
    public void Deployment_ExtenderListeners_AreTheDefaultsVerbsOnLoopbackMetricsAndWebhookOnTheirContainerPorts()
    {
        var extender = Container("extender");
        var defaults = new ListenerOptions();

        foreach (var listener in new[] { Listener.Verbs, Listener.Metrics, Listener.Webhook })
        {
            Assert.Equal(defaults.Settings(listener).Url, ListenerUrl(listener).OriginalString);
        }

        Assert.Equal(("http", "127.0.0.1"), (ListenerUrl(Listener.Verbs).Scheme, ListenerUrl(Listener.Verbs).Host));
        Assert.Equal(("http", "0.0.0.0"), (ListenerUrl(Listener.Metrics).Scheme, ListenerUrl(Listener.Metrics).Host));
        Assert.Equal(("https", "0.0.0.0"), (ListenerUrl(Listener.Webhook).Scheme, ListenerUrl(Listener.Webhook).Host));
        Assert.Equal(ListenerUrl(Listener.Verbs).Port, ContainerPort(extender, "verbs"));
        Assert.Equal(ListenerUrl(Listener.Metrics).Port, ContainerPort(extender, "metrics"));
        Assert.Equal(ListenerUrl(Listener.Webhook).Port, ContainerPort(extender, "https-webhook"));
    }

    [Fact]
    public void Deployment_ExtenderSettings_PassTheExtendersOwnListenerValidation()
    {
        var env = ExtenderEnv();
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(env.Select(kv => KeyValuePair.Create(kv.Key.Replace("__", ":", StringComparison.Ordinal), kv.Value)))
            .Build();
        var options = new ListenerOptions();
        configuration.GetSection(ListenerOptions.Section).Bind(options);

        // The TLS files are named, and read only when a listener is HTTPS: as deployed, none that runs is.
        var result = new ListenerOptionsValidator(configuration).Validate(null, options);

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void Deployment_TlsSettings_NameFilesOfTheMountedSecret()
    {
        var extender = Container("extender");
        var env = ExtenderEnv();
        var mount = MountPath(extender, "tls");
        var secret = Volume("tls")["secret"]!;

        Assert.DoesNotContain("Tls__Enabled", env.Keys);
        Assert.Equal(true, (bool?)secret["optional"]);
        var files = secret["items"]!.AsArray().Select(i => $"{mount}/{(string?)i!["path"]}").ToList();
        Assert.Contains(env["Tls__CertificateFile"], files);
        Assert.Contains(env["Tls__KeyFile"], files);

        // The client CA of the service mode (extender-service.yaml says to set Tls__ClientCaFile to it) is mounted too.
        Assert.Contains($"{mount}/ca.crt", files);
        Assert.Contains("Tls__ClientCaFile=/etc/kaiwo/tls/ca.crt", File.ReadAllText(Path.Combine(ManifestsDirectory, "extender-service.yaml")), StringComparison.Ordinal);
    }

    [Fact]
    public void Deployment_SchedulerCommand_ReadsTheConfigMapWhereItIsMounted()
    {
        var scheduler = Container("kube-scheduler");
        var config = scheduler["command"]!.AsArray().Select(a => (string?)a).Single(a => a!.StartsWith("--config=", StringComparison.Ordinal))!["--config=".Length..];
        var configMap = Single("ConfigMap", (string)Volume("scheduler-config")["configMap"]!["name"]!);

        Assert.Equal(MountPath(scheduler, "scheduler-config"), Path.GetDirectoryName(config)!.Replace('\\', '/'));
        Assert.True(configMap.Root["data"]!.AsObject().ContainsKey(Path.GetFileName(config)), $"ConfigMap {configMap.Name} has no key {Path.GetFileName(config)}");
    }

    [Fact]
    public void Deployment_ServiceAccount_IsTheSubjectOfEveryBinding()
    {
        var account = (string?)PodSpec["serviceAccountName"];
        var bindings = All.Where(d => d.Kind is "ClusterRoleBinding" or "RoleBinding").ToList();

        Assert.NotNull(Single("ServiceAccount", account!));
        Assert.NotEmpty(bindings);
        Assert.All(bindings, b => Assert.Contains(
            b.Root["subjects"]!.AsArray(),
            s => (string?)s!["kind"] == "ServiceAccount" && (string?)s["name"] == account && (string?)s["namespace"] == "kaiwo-system"));
    }

    [Fact]
    public void EveryService_TargetPort_IsAPortTheSelectedContainersDeclare()
    {
        var services = All.Where(d => d.Kind == "Service").ToList();
        var labels = DeploymentFiles.Deployment["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
        var declared = PodSpec["containers"]!.AsArray().SelectMany(c => c!["ports"]?.AsArray() ?? []).ToList();

        Assert.NotEmpty(services);
        Assert.All(services, s =>
        {
            var selector = s.Root["spec"]!["selector"]!.AsObject();
            Assert.All(selector, kv => Assert.Equal((string?)kv.Value, (string?)labels[kv.Key]));
            Assert.All(s.Root["spec"]!["ports"]!.AsArray(), p =>
            {
                var target = p!["targetPort"]!;
                Assert.Contains(declared, d => target.GetValueKind() == System.Text.Json.JsonValueKind.String
                    ? (string?)d!["name"] == (string?)target
                    : (long?)d!["containerPort"] == (long?)target);
            });
        });
    }

    [Fact]
    public void NetworkPolicy_Ingress_OnlyTheMonitoringNamespaceOnTheMetricsPort()
    {
        var policy = Single("NetworkPolicy", "kaiwo-scheduler").Root["spec"]!;
        var rule = Assert.Single(policy["ingress"]!.AsArray())!;

        Assert.Equal(["Ingress"], policy["policyTypes"]!.AsArray().Select(t => (string?)t));
        Assert.Equal("kaiwo-scheduler", (string?)policy["podSelector"]!["matchLabels"]!["app.kubernetes.io/name"]);
        var from = Assert.Single(rule["from"]!.AsArray())!;
        Assert.Equal("monitoring", (string?)from["namespaceSelector"]!["matchLabels"]!["kubernetes.io/metadata.name"]);
        var port = Assert.Single(rule["ports"]!.AsArray())!;
        Assert.Equal(ContainerPort(Container("extender"), "metrics"), (long?)port["port"]);
    }

    [Fact]
    public void MetricsService_Port_IsNamedMetricsAndTargetsTheMetricsListener()
    {
        var service = Single("Service", "kaiwo-scheduler-metrics").Root;
        var port = Assert.Single(service["spec"]!["ports"]!.AsArray())!;

        Assert.Equal("metrics", (string?)port["name"]);
        Assert.Equal("metrics", (string?)port["targetPort"]);
        Assert.Equal(ListenerUrl(Listener.Metrics).Port, (long?)port["port"]);
        Assert.Equal(ListenerUrl(Listener.Metrics).Port.ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)service["metadata"]!["annotations"]!["prometheus.io/port"]);
    }

    [Fact]
    public void Services_OfTheWebhookAndTheVerbs_TargetTheirOwnListenersNeverTheMetricsPort()
    {
        var webhook = Assert.Single(Single("Service", "kaiwo-scheduler-webhook").Root["spec"]!["ports"]!.AsArray())!;
        var verbs = Assert.Single(Single("Service", "kaiwo-scheduler-extender").Root["spec"]!["ports"]!.AsArray())!;
        var configuration = Single("MutatingWebhookConfiguration", "kaiwo-pod-defaults").Root;
        var clientConfig = Assert.Single(configuration["webhooks"]!.AsArray())!["clientConfig"]!["service"]!;

        Assert.Equal("https-webhook", (string?)webhook["targetPort"]);
        Assert.Equal((long?)webhook["port"], (long?)clientConfig["port"]);
        Assert.Equal("verbs", (string?)verbs["targetPort"]);
        Assert.Equal(ListenerUrl(Listener.Verbs).Port, (long?)verbs["port"]);
    }

    /// <summary>The extender's environment in the Deployment, by name.</summary>
    internal static Dictionary<string, string?> ExtenderEnv() =>
        Container("extender")["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => (string?)e!["value"]);

    /// <summary>A listener's URL as the Deployment sets it.</summary>
    internal static Uri ListenerUrl(Listener listener) => new(ExtenderEnv()[$"Listeners__{listener}__Url"]!);

    internal static long ContainerPort(JsonObject container, string name) =>
        (long)container["ports"]!.AsArray().Single(p => (string?)p!["name"] == name)!["containerPort"]!;

    internal static string MountPath(JsonObject container, string volume) =>
        (string)container["volumeMounts"]!.AsArray().Single(m => (string?)m!["name"] == volume)!["mountPath"]!;

    internal static JsonObject Volume(string name) =>
        PodSpec["volumes"]!.AsArray().Single(v => (string?)v!["name"] == name)!.AsObject();
}

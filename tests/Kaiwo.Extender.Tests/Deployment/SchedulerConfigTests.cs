using System.Text.Json.Nodes;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Live;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using static Kaiwo.Extender.Tests.Deployment.DeploymentFiles;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>
/// The KubeSchedulerConfiguration against the service it calls: the verbs are routes the running extender maps,
/// the URL is its port, the timeout covers its bind, and the ConfigMap carries the same text.
/// </summary>
public sealed class SchedulerConfigTests(NamesCluster cluster) : IClassFixture<NamesCluster>
{
    private static readonly string[] GetUpdate = ["get", "update"];

    private static readonly string[] VerbKeys = ["filterVerb", "prioritizeVerb", "bindVerb", "preemptVerb"];

    public static TheoryData<string> Configurations() => new("scheduler-config.yaml", "scheduler-config-https.yaml", "scheduler-config-mtls.yaml");

    public static TheoryData<string> HttpsConfigurations() => new("scheduler-config-https.yaml", "scheduler-config-mtls.yaml");

    [Fact]
    public void ConfigMap_EmbeddedConfiguration_EqualsSchedulerConfigFile()
    {
        var configMap = Single("ConfigMap", "kaiwo-scheduler-config");

        var embedded = (string?)configMap.Root["data"]!["scheduler-config.yaml"];

        Assert.Equal(File.ReadAllText(SchedulerConfigFile).ReplaceLineEndings("\n"), embedded);
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void SchedulerConfig_ProfileAndLeaderElection_AreKaiwoSchedulerOnItsOwnLease(string file)
    {
        var config = Read(file);
        var lease = config["leaderElection"]!;
        var role = Single("Role", "kaiwo-scheduler-leader-election");

        Assert.Equal("kubescheduler.config.k8s.io/v1", (string?)config["apiVersion"]);
        Assert.Equal("KubeSchedulerConfiguration", (string?)config["kind"]);
        Assert.Equal("kaiwo-scheduler", (string?)Assert.Single(config["profiles"]!.AsArray())!["schedulerName"]);
        Assert.Equal(true, (bool?)lease["leaderElect"]);
        Assert.Equal("leases", (string?)lease["resourceLock"]);

        // The lease it takes is the one the RBAC lets it get and update.
        Assert.Equal(role.Namespace, (string?)lease["resourceNamespace"]);
        Assert.Contains(
            role.Root["rules"]!.AsArray(),
            r => r!["resources"]!.AsArray().Any(x => (string?)x == "leases")
                && r["resourceNames"]?.AsArray().Any(n => (string?)n == (string?)lease["resourceName"]) == true
                && r["verbs"]!.AsArray().Select(v => (string?)v).Order().SequenceEqual(GetUpdate));
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void SchedulerConfig_Verbs_AreRoutesTheRunningServiceMapsForPost(string file)
    {
        var extender = Extender(Read(file));
        var routes = cluster.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods.Contains("POST") == true)
            .Select(e => e.RoutePattern.RawText?.TrimStart('/'))
            .ToHashSet(StringComparer.Ordinal);

        Assert.All(VerbKeys, key =>
        {
            var verb = (string?)extender[key];
            Assert.False(string.IsNullOrEmpty(verb), $"{file}: {key} is not set");
            Assert.True(routes.Contains(verb), $"{file}: {key} {verb} is not a POST route of the service; it maps {string.Join(", ", routes)}");
        });
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void SchedulerConfig_Extender_IsNodeCacheCapableNotIgnorableWeightedAndTimedAboveTheBind(string file)
    {
        var extender = Extender(Read(file));

        Assert.Equal(true, (bool?)extender["nodeCacheCapable"]);
        Assert.Equal(false, (bool?)extender["ignorable"]);
        Assert.True((long?)extender["weight"] > 1, $"{file}: weight {extender["weight"]} does not let GPU scores outweigh a default plugin");
        var timeout = ParseGoDuration((string)extender["httpTimeout"]!);
        Assert.True(timeout > new KubernetesOptions().BindTimeout, $"{file}: httpTimeout {timeout} must exceed Kubernetes:BindTimeout, the whole bind");
    }

    [Fact]
    public void SchedulerConfig_UrlPrefix_IsLoopbackHttpOnTheVerbsListener()
    {
        var extender = Extender(Read("scheduler-config.yaml"));
        var url = new Uri((string)extender["urlPrefix"]!);

        Assert.Equal(("http", "127.0.0.1"), (url.Scheme, url.Host));
        Assert.Equal(ManifestTests.ListenerUrl(Listener.Verbs).Port, url.Port);
        Assert.Equal(false, (bool?)extender["enableHTTPS"]);
    }

    [Fact]
    public void SchedulerConfigHttps_UrlPrefix_IsLoopbackHttpsOnTheVerbsListenerCheckedAgainstTheMountedCa()
    {
        var extender = Extender(Read("scheduler-config-https.yaml"));
        var url = new Uri((string)extender["urlPrefix"]!);
        var scheduler = DeploymentFiles.Container("kube-scheduler");
        var ca = (string)extender["tlsConfig"]!["caFile"]!;
        var caVolume = ManifestTests.Volume("tls-ca")["secret"]!;

        Assert.Equal(("https", "127.0.0.1"), (url.Scheme, url.Host));
        Assert.Equal(ManifestTests.ListenerUrl(Listener.Verbs).Port, url.Port);
        Assert.Equal(true, (bool?)extender["enableHTTPS"]);
        Assert.Equal(ManifestTests.MountPath(scheduler, "tls-ca"), Path.GetDirectoryName(ca)!.Replace('\\', '/'));
        Assert.Contains(caVolume["items"]!.AsArray(), i => (string?)i!["path"] == Path.GetFileName(ca));
    }

    [Fact]
    public void SchedulerConfigMtls_UrlPrefix_IsTheVerbsServiceOverHttpsWithAClientCertificate()
    {
        var extender = Extender(Read("scheduler-config-mtls.yaml"));
        var url = new Uri((string)extender["urlPrefix"]!);
        var service = Single("Service", "kaiwo-scheduler-extender");
        var tls = extender["tlsConfig"]!;

        Assert.Equal("https", url.Scheme);
        Assert.Equal($"{service.Name}.{service.Namespace}.svc", url.Host);
        Assert.Equal((long?)Assert.Single(service.Root["spec"]!["ports"]!.AsArray())!["port"], url.Port);
        Assert.Equal(true, (bool?)extender["enableHTTPS"]);
        Assert.Null(tls["insecure"]);
        foreach (var key in new[] { "caFile", "certFile", "keyFile" })
        {
            Assert.False(string.IsNullOrEmpty((string?)tls[key]), $"tlsConfig.{key} is not set");
        }
    }

    [Theory]
    [MemberData(nameof(HttpsConfigurations))]
    public void SchedulerConfigHttps_BesideTheUrlAndTls_IsTheSameAsThePlainOne(string file)
    {
        var plain = Read("scheduler-config.yaml");
        var https = Read(file);
        foreach (var config in new[] { plain, https })
        {
            var extender = Extender(config);
            extender.Remove("urlPrefix");
            extender.Remove("enableHTTPS");
            extender.Remove("tlsConfig");
        }

        Assert.True(JsonNode.DeepEquals(plain, https), $"plain: {plain.ToJsonString()}\n{file}: {https.ToJsonString()}");
    }

    private static JsonObject Read(string file) => SingleDocument(Path.Combine(SchedulerConfigDirectory, file));

    private static JsonObject Extender(JsonObject config) => Assert.Single(config["extenders"]!.AsArray())!.AsObject();
}

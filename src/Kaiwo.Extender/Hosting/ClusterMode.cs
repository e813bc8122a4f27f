using k8s;
using Kaiwo.Extender.Live;

namespace Kaiwo.Extender.Hosting;

/// <summary>Where the extender learns the cluster from.</summary>
internal enum ClusterModeKind
{
    /// <summary>A cluster file, in memory: binds update memory only.</summary>
    Standalone,

    /// <summary>The API server: informers, and binds through patch and Binding.</summary>
    Live,
}

/// <summary>The chosen mode and what it serves, for logs and /inspect.</summary>
internal sealed record ClusterMode(ClusterModeKind Kind, string Source, KubernetesClientConfiguration? Kubernetes)
{
    public string Name => Kind == ClusterModeKind.Live ? "live" : "standalone";

    /// <summary>
    /// <c>Extender:Mode</c> <c>standalone</c> or <c>live</c> decide; <c>auto</c> (the default) serves a configured
    /// cluster file, else the API server when credentials are found (in-cluster service account, the configured
    /// kubeconfig, KUBECONFIG, ~/.kube/config), else the example cluster.
    /// </summary>
    public static ClusterMode Resolve(ExtenderOptions extender, KubernetesOptions kubernetes)
    {
        var mode = (extender.Mode ?? "auto").ToLowerInvariant();
        var file = string.IsNullOrEmpty(extender.ClusterFile) ? null : extender.ClusterFile;
        if (mode == "standalone" || (mode == "auto" && file is not null))
        {
            return new ClusterMode(ClusterModeKind.Standalone, file ?? Standalone.StandaloneCluster.ExampleClusterPath, null);
        }

        var config = FindCredentials(kubernetes);
        if (config is not null)
        {
            return new ClusterMode(ClusterModeKind.Live, config.Host ?? "the API server", config);
        }

        if (mode == "live")
        {
            throw new InvalidOperationException(
                "Extender:Mode is live, but no Kubernetes credentials were found: not in a cluster, no Kubernetes:Kubeconfig, no KUBECONFIG, no ~/.kube/config");
        }

        return new ClusterMode(ClusterModeKind.Standalone, Standalone.StandaloneCluster.ExampleClusterPath, null);
    }

    private static KubernetesClientConfiguration? FindCredentials(KubernetesOptions options)
    {
        if (!string.IsNullOrEmpty(options.Kubeconfig))
        {
            return KubernetesClientConfiguration.BuildConfigFromConfigFile(options.Kubeconfig, string.IsNullOrEmpty(options.Context) ? null : options.Context);
        }

        if (KubernetesClientConfiguration.IsInCluster())
        {
            return KubernetesClientConfiguration.InClusterConfig();
        }

        var kubeconfig = Environment.GetEnvironmentVariable("KUBECONFIG");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var path = !string.IsNullOrEmpty(kubeconfig) ? kubeconfig.Split(Path.PathSeparator)[0] : Path.Combine(home, ".kube", "config");
        return File.Exists(path)
            ? KubernetesClientConfiguration.BuildConfigFromConfigFile(path, string.IsNullOrEmpty(options.Context) ? null : options.Context)
            : null;
    }
}

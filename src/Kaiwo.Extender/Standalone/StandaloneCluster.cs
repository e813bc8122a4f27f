using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Live;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Standalone;

/// <summary>
/// Standalone mode: loads the cluster file into the state before the service takes requests.
/// A file that cannot be served stops the start with the reason.
/// </summary>
internal sealed partial class StandaloneCluster(
    ClusterState state,
    QueueCatalog queues,
    Readiness readiness,
    IOptions<ExtenderOptions> options,
    ILogger<StandaloneCluster> log) : IHostedService
{
    /// <summary>The example cluster that ships beside the service.</summary>
    public static string ExampleClusterPath => Path.Combine(AppContext.BaseDirectory, "examples", "cluster.yaml");

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var path = string.IsNullOrEmpty(options.Value.ClusterFile) ? ExampleClusterPath : options.Value.ClusterFile;
        var contents = ClusterFile.Load(path);
        Apply(state, contents, warning => LogRecordWarning(log, warning));
        queues.Replace(contents.Queues);
        queues.SetAvailable(true, null);
        readiness.MarkReady();
        LogLoaded(log, path, contents.Nodes.Count, contents.Pods.Count, contents.Queues.Count);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Nodes first, then pods, so that every record finds its node.</summary>
    internal static void Apply(ClusterState state, ClusterFileContents contents, Action<string> warn)
    {
        foreach (var node in contents.Nodes)
        {
            state.UpsertNode(node);
        }

        foreach (var pod in contents.Pods)
        {
            if (state.UpsertPod(pod) is { } warning)
            {
                warn(warning);
            }
        }
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Standalone mode: serving {Path} with {Nodes} nodes, {Pods} pods and {Queues} queues")]
    private static partial void LogLoaded(ILogger logger, string path, int nodes, int pods, int queues);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "{Warning}")]
    private static partial void LogRecordWarning(ILogger logger, LogText warning);
}

using Kaiwo.Extender.Hosting;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Live;

/// <summary>
/// Live mode: runs the informers for nodes, pods and KaiwoQueues, marks the service ready once nodes and pods have
/// been listed in full, and releases assumed pods whose binding never showed up.
/// </summary>
internal sealed partial class LiveCluster : BackgroundService
{
    private readonly ClusterState _state;
    private readonly Readiness _readiness;
    private readonly TimeProvider _time;
    private readonly KubernetesOptions _options;
    private readonly ILogger<LiveCluster> _log;

    public LiveCluster(
        IKubernetesApi api,
        ClusterState state,
        QueueCatalog queues,
        PodTarget pods,
        Readiness readiness,
        TimeProvider time,
        IOptions<KubernetesOptions> options,
        ILoggerFactory loggers)
    {
        _state = state;
        _readiness = readiness;
        _time = time;
        _options = options.Value;
        _log = loggers.CreateLogger<LiveCluster>();
        var informerLog = loggers.CreateLogger<ResourceInformer>();
        Nodes = new ResourceInformer(api, new NodeTarget(state), _options, time, informerLog);
        Pods = new ResourceInformer(api, pods, _options, time, informerLog);
        Queues = new ResourceInformer(api, queues, _options, time, informerLog);
        readiness.MarkNotReady("the first lists of nodes and pods have not been applied yet");
    }

    public ResourceInformer Nodes { get; }

    public ResourceInformer Pods { get; }

    public ResourceInformer Queues { get; }

    public IReadOnlyList<ResourceInformer> Informers => [Nodes, Pods, Queues];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Nodes first, so that the pods' records find their nodes; the informers then run side by side.
        var nodes = Nodes.RunAsync(stoppingToken);
        await Task.WhenAny(Nodes.Synced, nodes).ConfigureAwait(false);
        var pods = Pods.RunAsync(stoppingToken);
        var queues = Queues.RunAsync(stoppingToken);
        var ready = MarkReadyAsync(stoppingToken);
        var sweep = SweepAssumedAsync(stoppingToken);
        await Task.WhenAll(nodes, pods, queues, ready, sweep).ConfigureAwait(false);
    }

    private async Task MarkReadyAsync(CancellationToken stoppingToken)
    {
        await Task.WhenAll(Nodes.Synced, Pods.Synced).WaitAsync(stoppingToken).ConfigureAwait(false);
        _readiness.MarkReady();
        LogReady(_log, _state.NodeCount, _state.PodCount);
    }

    private async Task SweepAssumedAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.AssumedSweepInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                foreach (var pod in _state.ExpireAssumed(_time.GetUtcNow()))
                {
                    LogAssumedExpired(_log, pod);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 50, Level = LogLevel.Information, Message = "Live mode ready: {Nodes} nodes and {Pods} pods listed")]
    private static partial void LogReady(ILogger logger, int nodes, int pods);

    [LoggerMessage(EventId = 51, Level = LogLevel.Warning, Message = "Assumed pod {Pod} was never seen bound before its expiry; its devices are released")]
    private static partial void LogAssumedExpired(ILogger logger, LogText pod);
}

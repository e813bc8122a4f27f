using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Reservations;

namespace Kaiwo.Scheduling.Simulation;

/// <summary>
/// One pod of a workload trace: what it asks (annotations, resources, queue label, priority), when it arrives, how
/// long it runs, and the node labels it is restricted to (kube-scheduler's nodeSelector, applied before the extender
/// sees the nodes, as kube-scheduler does).
/// </summary>
public sealed record TracePod(PodFacts Pod, TimeSpan Arrival, TimeSpan Duration, IReadOnlyDictionary<string, string>? NodeSelector = null);

/// <summary>A workload trace: pods in arrival order, and how long to simulate (null: until the last arrival).</summary>
public sealed record Trace(IReadOnlyList<TracePod> Pods, TimeSpan? Horizon = null)
{
    /// <summary>The simulated span: the declared horizon, or the last arrival.</summary>
    public TimeSpan EffectiveHorizon => Horizon ?? (Pods.Count == 0 ? TimeSpan.Zero : Pods.Max(p => p.Arrival));
}

/// <summary>
/// The cluster a trace is replayed on: nodes, pods already running there (they hold their devices for the whole
/// simulation), and the queues with the definitions that did not read.
/// </summary>
public sealed record SimulatedCluster(
    IReadOnlyList<NodeFacts> Nodes,
    IReadOnlyList<PodFacts> Running,
    IReadOnlyList<QueueSpec> Queues,
    IReadOnlyDictionary<string, string> InvalidQueues);

/// <summary>One step of a long run, for progress on the console: the host adds the wall-clock rate.</summary>
public sealed record SimulationProgress(string Policy, TimeSpan VirtualTime, int Arrived, int Placed, int Total);

/// <summary>How a simulation runs: the service's own pipeline options, the queue settings, and the charts' resolution.</summary>
public sealed record SimulationOptions
{
    /// <summary>The pipeline options as the service would run with them; each policy adjusts them (see <see cref="PolicyRules"/>).</summary>
    public PipelineOptions Pipeline { get; init; } = new();

    public string DefaultQueue { get; init; } = "default";

    /// <summary>Trace pods without a scheduler name get this one, so that they count in their queue's demand as the service's pods do.</summary>
    public string SchedulerName { get; init; } = "kaiwo-scheduler";

    /// <summary>
    /// Reservations against starvation as the service makes them (null: none, the default): the service's own
    /// <see cref="StarvationReconciler"/> runs on the simulated clock after every change (before pending pods are tried
    /// again, as the service's loop runs right after every pod deletion) and every <see cref="ReconcileInterval"/>.
    /// </summary>
    public StarvationOptions? Starvation { get; init; }

    /// <summary>How often the reservation step runs when nothing else happens: the service loop's timer.</summary>
    public TimeSpan ReconcileInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How many equal time buckets the series are reduced to (time-weighted).</summary>
    public int Buckets { get; init; } = 240;

    /// <summary>The wall-clock instant virtual time 0 stands for; only the scores that read utilization timestamps see it.</summary>
    public DateTimeOffset Epoch { get; init; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Called every <see cref="ProgressEvery"/> arrivals.</summary>
    public Action<SimulationProgress>? Progress { get; init; }

    public int ProgressEvery { get; init; } = 1000;
}

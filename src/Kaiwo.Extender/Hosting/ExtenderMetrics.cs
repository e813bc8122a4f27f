using System.Diagnostics.Metrics;
using Kaiwo.Extender.Live;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// The extender's one Meter and its instruments, created once. Prometheus names follow from the instrument names and
/// units through the OpenTelemetry exporter (<c>kaiwo.extender.request.duration</c> in seconds becomes
/// <c>kaiwo_extender_request_duration_seconds</c>). Labels stay few on the hot paths: the verb, the result, and a
/// reason code from a short fixed list.
/// </summary>
internal sealed class ExtenderMetrics : IDisposable
{
    public const string MeterName = "Kaiwo.Extender";

    private readonly Meter _meter;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _decisions;

    public ExtenderMetrics(IMeterFactory meters, ClusterState state, IServiceProvider services)
    {
        _meter = meters.Create(MeterName);
        _duration = _meter.CreateHistogram<double>(
            "kaiwo.extender.request.duration",
            unit: "s",
            description: "Time to answer one extender call, by verb.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
        _decisions = _meter.CreateCounter<long>(
            "kaiwo.extender.decisions",
            unit: "{decision}",
            description: "Node decisions of filter and prioritize, and binds, by verb, result and reason code.");

        _meter.CreateObservableGauge(
            "kaiwo.gpu.allocated.ratio",
            () => PerGpuNode(state, c => c.AllocatedMilli / (1000.0 * c.Gpus)),
            unit: "1",
            description: "Share of a node's GPU capacity allocated, 0 to 1.");
        // Per node, in GPUs, so that cluster-wide figures are sums (an average of ratios would weigh a 1-GPU node as an 8-GPU one).
        _meter.CreateObservableGauge("kaiwo.gpu.capacity", () => PerGpuNode(state, c => c.Gpus), unit: "{gpu}", description: "Physical GPUs of the node.");
        _meter.CreateObservableGauge("kaiwo.gpu.allocated", () => PerGpuNode(state, c => c.AllocatedMilli / 1000.0), unit: "{gpu}", description: "GPUs allocated on the node, fractions by their share.");
        _meter.CreateObservableGauge(
            "kaiwo.gpu.stranded",
            () => PerGpuNode(state, c => c.StrandedMilli / 1000.0),
            unit: "{gpu}",
            description: "Free share on GPUs that pods already hold part of: room only fractional asks can use.");
        _meter.CreateObservableGauge(
            "kaiwo.gpu.free_whole",
            () => PerGpuNode(state, c => c.FreeWholeGpus),
            unit: "{gpu}",
            description: "Free logical GPUs: the largest amd.com/gpu ask the node takes now (GPUs in conflict count none).");
        _meter.CreateObservableGauge(
            "kaiwo.gpu.orphaned",
            () => state.HeldOnMissingNodes().Select(h => new Measurement<double>(h.Value / 1000.0, new KeyValuePair<string, object?>("node", h.Key))),
            unit: "{gpu}",
            description: "GPUs held by pods bound to a node the extender no longer has (deleted, its pods not yet gone).");
        _meter.CreateObservableGauge(
            "kaiwo.extender.ready",
            () => services.GetService<Readiness>()?.IsReady == true ? 1 : 0,
            unit: "1",
            description: "1 while /readyz answers ready: the cluster is loaded (standalone) or listed (live).");
        // Exposed as kaiwo_gpu_conflicts (a gauge: no _total; the unit in braces adds no suffix). Alerts use that name.
        _meter.CreateObservableGauge(
            "kaiwo.gpu.conflicts",
            () => state.ConflictedGpuCount,
            unit: "{gpu}",
            description: "GPUs whose pods' allocation records do not fit them (over-claimed compute or memory, a partition claimed twice, a GPU the node lacks); they take no new pods.");
        _meter.CreateObservableGauge(
            "kaiwo.pods.assumed",
            () => state.AssumedCount,
            unit: "{pod}",
            description: "Pods bound by the extender and not yet seen bound on the API server.");

        // Gangs, as the last reconcile left them, and the devices reservations hold (read from the state's table).
        _meter.CreateObservableGauge(
            "kaiwo.gangs",
            () => GangMeasurements(services),
            unit: "{gang}",
            description: "Gangs by state: waiting (too few members, or no room), reserved (plan held, members binding), placed (minimum bound), invalid.");
        _meter.CreateObservableCounter(
            "kaiwo.gangs.placed",
            () => services.GetService<GangReconciler>()?.Book.PlacedTotal ?? 0,
            unit: "{gang}",
            description: "Gang plans held: every member given its slot at once.");
        _meter.CreateObservableCounter(
            "kaiwo.gangs.released",
            () => services.GetService<GangReconciler>()?.Book.ReleasedTotal ?? 0,
            unit: "{gang}",
            description: "Gang reservations released whole before every member bound (expired, a member gone, below the minimum).");
        _meter.CreateObservableGauge(
            "kaiwo.gpu.reserved",
            () => ReservedMeasurements(state),
            unit: "{gpu}",
            description: "GPUs held by reservations for pods not bound yet, by kind (gang, starving), fractions by their share.");

        // Per queue and resource: GPUs, cores and GiB, as the KaiwoQueue spec counts them.
        _meter.CreateObservableGauge("kaiwo.queue.allocated", () => QueueMeasurements(services, s => s.Usage), unit: "1", description: "What a queue's running pods hold, per resource (GPUs, cores, GiB).");
        _meter.CreateObservableGauge("kaiwo.queue.fair_share", () => QueueMeasurements(services, s => s.FairShare), unit: "1", description: "A queue's fair share, per resource (GPUs, cores, GiB).");
        _meter.CreateObservableGauge("kaiwo.queue.demand", () => QueueMeasurements(services, s => s.Demand), unit: "1", description: "A queue's usage plus its pending pods' requests, per resource (GPUs, cores, GiB).");

        // Live mode only: these read the informers and the binder when they exist.
        _meter.CreateObservableGauge(
            "kaiwo.informer.synced",
            () => Informers(services).Select(i => new Measurement<int>(i.IsSynced ? 1 : 0, new KeyValuePair<string, object?>("resource", i.Resource))),
            unit: "1",
            description: "1 once the informer's first full list has been applied.");
        _meter.CreateObservableCounter(
            "kaiwo.informer.events",
            () => Informers(services).Select(i => new Measurement<long>(i.EventsApplied, new KeyValuePair<string, object?>("resource", i.Resource))),
            unit: "{event}",
            description: "Watch events applied to the state.");
        _meter.CreateObservableCounter(
            "kaiwo.informer.lists",
            () => Informers(services).Select(i => new Measurement<long>(i.Lists, new KeyValuePair<string, object?>("resource", i.Resource))),
            unit: "{list}",
            description: "Full lists applied (the first, and after 410 Expired or a dropped watch).");
        _meter.CreateObservableCounter(
            "kaiwo.bind.retries",
            () => services.GetService<LiveBinder>()?.Retries ?? 0,
            unit: "{retry}",
            description: "API calls of binds retried after 429, 5xx, conflicts or timeouts.");
        _meter.CreateObservableCounter(
            "kaiwo.bind.conflicts",
            () => services.GetService<LiveBinder>()?.Conflicts ?? 0,
            unit: "{conflict}",
            description: "Bindings the API server refused because the pod was already assigned.");
        _meter.CreateObservableCounter(
            "kaiwo.listener.connections.refused",
            () => services.GetService<ListenerEndpoints>()?.RefusedByListener()
                .Select(l => new Measurement<long>(l.Refused, new KeyValuePair<string, object?>("listener", l.Listener.ToString().ToLowerInvariant()))) ?? [],
            unit: "{connection}",
            description: "Connections closed on accept because their listener had Listeners:<listener>:MaxConnections open.");
        _meter.CreateObservableCounter(
            "kaiwo.events.sent",
            () => services.GetService<PodEvents>()?.Sent ?? 0,
            unit: "{event}",
            description: "Events recorded on pods at bind (GpuAllocated, GpuBindFailed, GpuAllocationConflict).");
        _meter.CreateObservableCounter(
            "kaiwo.events.dropped",
            () => services.GetService<PodEvents>()?.Dropped ?? 0,
            unit: "{event}",
            description: "Events not sent because of the Events:PerSecond rate limit or a full queue.");
    }

    private static IEnumerable<Measurement<int>> GangMeasurements(IServiceProvider services)
    {
        if (services.GetService<GangReconciler>() is not { } gangs)
        {
            yield break;
        }

        foreach (var phase in Enum.GetValues<GangPhase>())
        {
            yield return new Measurement<int>(gangs.Book.Count(phase), new KeyValuePair<string, object?>("state", phase.ToString().ToLowerInvariant()));
        }
    }

    private static IEnumerable<Measurement<double>> ReservedMeasurements(ClusterState state)
    {
        var reservations = state.Reservations();
        foreach (var kind in Enum.GetValues<ReservationKind>())
        {
            var milli = reservations.Where(r => r.Kind == kind).Sum(r => (long)r.Allocation.TotalComputeMilli);
            yield return new Measurement<double>(milli / 1000.0, new KeyValuePair<string, object?>("kind", kind.ToString().ToLowerInvariant()));
        }
    }

    public void RecordDuration(string verb, TimeSpan elapsed) =>
        _duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("verb", verb));

    /// <summary>Counts one verb's decisions, grouped first so that a call over 5,000 nodes adds a handful of times.</summary>
    public void RecordDecisions(string verb, IEnumerable<FitResult> results)
    {
        if (!_decisions.Enabled)
        {
            return;
        }

        foreach (var group in results.GroupBy(r => (r.Outcome, r.Code)))
        {
            RecordDecisions(verb, group.Key.Outcome, group.Key.Code, group.LongCount());
        }
    }

    /// <summary>Counts <paramref name="count"/> decisions of one outcome and reason code (the wire path tallies per call).</summary>
    public void RecordDecisions(string verb, FitOutcome outcome, string code, long count)
    {
        if (!_decisions.Enabled)
        {
            return;
        }

        _decisions.Add(
            count,
            new KeyValuePair<string, object?>("verb", verb),
            new KeyValuePair<string, object?>("result", ResultName(outcome)),
            new KeyValuePair<string, object?>("reason", code));
    }

    public void RecordBind(bool succeeded, string reason) =>
        _decisions.Add(
            1,
            new KeyValuePair<string, object?>("verb", "bind"),
            new KeyValuePair<string, object?>("result", succeeded ? "bound" : "error"),
            new KeyValuePair<string, object?>("reason", reason));

    public void Dispose() => _meter.Dispose();

    private static string ResultName(FitOutcome outcome) => outcome switch
    {
        FitOutcome.Fits => "passed",
        FitOutcome.FullNow => "failed",
        _ => "unresolvable",
    };

    private static IEnumerable<Measurement<double>> QueueMeasurements(IServiceProvider services, Func<QueueSnapshot, IReadOnlyDictionary<string, ResourceVector>> pick)
    {
        if (services.GetService<QueueState>()?.Current() is not { } snapshot)
        {
            yield break;
        }

        // Every queue gets all three series, 0 where it holds or wants nothing: a starved queue with no running pod
        // must still have an allocated series for "allocated < fair share" to match it.
        var amountsByQueue = pick(snapshot);
        foreach (var queue in snapshot.FairShare.Keys.Union(snapshot.Usage.Keys).Union(snapshot.Demand.Keys).Order(StringComparer.Ordinal))
        {
            var amounts = amountsByQueue.GetValueOrDefault(queue);
            yield return Measure(queue, "gpu", amounts.Gpu / 1000.0);
            yield return Measure(queue, "cpu", amounts.Cpu / 1000.0);
            yield return Measure(queue, "memory", amounts.Memory / 1024.0);
        }
    }

    private static IEnumerable<Measurement<double>> PerGpuNode(ClusterState state, Func<GpuCapacity, double> pick) =>
        state.Nodes()
            .Where(n => n.Usage.Inventory.HasGpus)
            .Select(n => new Measurement<double>(pick(GpuCapacity.Of(n.Usage)), new KeyValuePair<string, object?>("node", n.Name)));

    private static Measurement<double> Measure(string queue, string resource, double value) =>
        new(value, new KeyValuePair<string, object?>("queue", queue), new KeyValuePair<string, object?>("resource", resource));

    private static IEnumerable<ResourceInformer> Informers(IServiceProvider services) =>
        services.GetService<LiveCluster>()?.Informers ?? [];
}

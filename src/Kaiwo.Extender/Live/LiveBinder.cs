using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Verbs;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Live;

/// <summary>
/// Live bind: reserve the devices in memory (held as assumed until the watch shows the pod bound), then create the
/// Binding carrying the allocation record as annotations: the API server sets spec.nodeName and copies the
/// annotations onto the pod in one write, so a bind is one API call, and a refused Binding writes nothing. The call
/// and all its retries share one deadline, <see cref="KubernetesOptions.BindTimeout"/> (<see cref="ApiResilience"/>).
/// When the Binding fails, the reservation is released.
/// </summary>
internal sealed partial class LiveBinder : IPodBinder
{
    private readonly ClusterState _state;
    private readonly SchedulingPipeline _pipeline;
    private readonly IKubernetesApi _api;
    private readonly KubernetesOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<LiveBinder> _log;
    private readonly ApiResilience _resilience;
    private long _retries;
    private long _conflicts;

    private readonly QueueState? _queues;
    private readonly PodEvents? _events;
    private readonly GangReconciler? _gangs;

    public LiveBinder(ClusterState state, SchedulingPipeline pipeline, IKubernetesApi api, IOptions<KubernetesOptions> options, TimeProvider time, ILogger<LiveBinder> log, QueueState? queues = null, PodEvents? events = null, GangReconciler? gangs = null)
    {
        _gangs = gangs;
        _queues = queues;
        _events = events;
        _state = state;
        _pipeline = pipeline;
        _api = api;
        _options = options.Value;
        _time = time;
        _log = log;
        _resilience = new ApiResilience(_options, time, reason =>
        {
            Interlocked.Increment(ref _retries);
            LogRetry(_log, reason);
        });
    }

    /// <summary>API calls retried by binds so far.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Bindings the API server refused because the pod was already assigned.</summary>
    public long Conflicts => Interlocked.Read(ref _conflicts);

    public async Task<BindOutcome> BindAsync(PodFacts pod, string nodeName, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var reserved = Reservations.Reserve(_state, _pipeline, _queues, pod, nodeName, now, now + _options.AssumedPodTtl, _gangs);
        if (!reserved.Succeeded)
        {
            return new BindOutcome(reserved.Reason, null);
        }

        if (reserved.Status == ReserveStatus.AlreadyBoundHere && _state.TryGetPod(pod.Uid, out var known, out _) && known!.NodeName == nodeName)
        {
            // Seen bound to this node on the API server already: a repeated bind, nothing to do.
            return new BindOutcome(null, reserved.Allocation?.VisibleDevices);
        }

        var allocation = reserved.Allocation;
        try
        {
            // One deadline for the Binding and every retry of it: the bind answers in time.
            var record = allocation is null ? null : new Dictionary<string, string>(2, StringComparer.Ordinal)
            {
                [WellKnown.AllocationAnnotation] = AllocationRecord.Write(allocation),
                [WellKnown.VisibleDevicesAnnotation] = allocation.VisibleDevices,
            };
            await _resilience.RunAsync([ct => BindOrConfirmAsync(pod, nodeName, record, ct)], cancellationToken).ConfigureAwait(false);
            LogBound(_log, pod.Key, nodeName, allocation?.VisibleDevices ?? "none");
            _events?.Allocated(pod, nodeName, allocation);
            return new BindOutcome(null, allocation?.VisibleDevices);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _state.Release(pod.Uid);
            LogFailed(_log, pod.Key, nodeName, ex.Message);
            var reason = $"binding {pod.Key} to {nodeName} failed, its devices are released: {Describe(ex)}";
            _events?.BindFailed(pod, nodeName, ex, reason);
            return new BindOutcome(reason, null);
        }
    }

    /// <summary>
    /// Creates the Binding with the record. A 409 "already assigned" is success when the pod is assigned to this very
    /// node (an earlier attempt whose answer was lost) and an error otherwise; a pod found bound here without this
    /// record (bound by someone else) gets the record patched on, so that a restart rebuilds what this bind holds.
    /// </summary>
    private async Task BindOrConfirmAsync(PodFacts pod, string nodeName, Dictionary<string, string>? record, CancellationToken cancellationToken)
    {
        try
        {
            await _api.BindPodAsync(pod.Namespace, pod.Name, pod.Uid, nodeName, record, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException ex) when (ex.StatusCode == 409)
        {
            Interlocked.Increment(ref _conflicts);
            var current = await _api.GetPodAsync(pod.Namespace, pod.Name, cancellationToken).ConfigureAwait(false);
            if (current?.Spec?.NodeName != nodeName || current.Metadata?.Uid != pod.Uid)
            {
                throw new InvalidOperationException($"the API server refused the Binding: {ex.ApiMessage}", ex);
            }

            if (record is not null && !Carries(current.Metadata.Annotations, record))
            {
                await _api.PatchPodAnnotationsAsync(pod.Namespace, pod.Name, record.ToDictionary(a => a.Key, a => (string?)a.Value, StringComparer.Ordinal), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static bool Carries(IDictionary<string, string>? annotations, Dictionary<string, string> record) =>
        annotations is not null && record.All(a => annotations.TryGetValue(a.Key, out var value) && value == a.Value);

    private static string Describe(Exception ex) => ex switch
    {
        ApiDeadlineException deadline => deadline.Message,
        KubernetesApiException api => $"{api.StatusCode} {api.Reason}: {api.ApiMessage}",
        Polly.Timeout.TimeoutRejectedException => "the API server did not answer in time",
        _ => ex.Message,
    };

    // Debug: the bind verb logs every bind at Information already; a second line per pod costs the console logger's lock.
    [LoggerMessage(EventId = 40, Level = LogLevel.Debug, Message = "Bound {Pod} to {Node} through the API server, devices {Devices}")]
    private static partial void LogBound(ILogger logger, LogText pod, LogText node, LogText devices);

    [LoggerMessage(EventId = 41, Level = LogLevel.Warning, Message = "Bind of {Pod} to {Node} failed, reservation released: {Reason}")]
    private static partial void LogFailed(ILogger logger, LogText pod, LogText node, LogText reason);

    [LoggerMessage(EventId = 42, Level = LogLevel.Information, Message = "Retrying an API call of a bind: {Reason}")]
    private static partial void LogRetry(ILogger logger, LogText reason);
}

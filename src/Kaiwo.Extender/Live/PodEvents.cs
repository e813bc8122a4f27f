using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Kaiwo.Extender.Hosting;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Requests;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Live;

/// <summary>Section <c>Events</c>: the Kubernetes Events the extender records on pods at bind.</summary>
internal sealed class EventOptions
{
    public const string Section = "Events";

    /// <summary>Events per second on average, over all pods: a burst of binds cannot flood the API server.</summary>
    public double PerSecond { get; set; } = 5;

    /// <summary>Events that may go at once after a quiet spell; also how many may wait for the API server.</summary>
    public int Burst { get; set; } = 25;
}

internal sealed class EventOptionsValidator : IValidateOptions<EventOptions>
{
    public ValidateOptionsResult Validate(string? name, EventOptions options)
    {
        var problems = new List<string>();
        if (!(options.PerSecond > 0) || double.IsInfinity(options.PerSecond))
        {
            problems.Add($"{EventOptions.Section}:PerSecond is {options.PerSecond.ToString(CultureInfo.InvariantCulture)}; accepted: a positive number of events per second, e.g. 5");
        }

        if (options.Burst < 1)
        {
            problems.Add($"{EventOptions.Section}:Burst is {options.Burst}; accepted: a whole number of events of at least 1, e.g. 25");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

/// <summary>
/// A token bucket on an injected clock: <c>burst</c> tokens, refilled at <c>perSecond</c>. Not a timer: the tokens
/// a call finds are computed from the time since the last call.
/// </summary>
internal sealed class TokenBucket(TimeProvider time, double perSecond, int burst)
{
    private readonly Lock _gate = new();
    private double _tokens = burst;
    private long _last = time.GetTimestamp();

    public bool TryTake()
    {
        lock (_gate)
        {
            var now = time.GetTimestamp();
            _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * perSecond));
            _last = now;
            if (_tokens < 1)
            {
                return false;
            }

            _tokens -= 1;
            return true;
        }
    }
}

/// <summary>
/// The Events a bind leaves on its pod (events.k8s.io/v1, what <c>kubectl describe pod</c> lists): <c>GpuAllocated</c>
/// with the node, GPUs, partitions, XCDs and share; a Warning <c>GpuBindFailed</c> when the bind failed, or
/// <c>GpuAllocationConflict</c> when the API server had the pod assigned elsewhere, and <c>GpuRecordConflict</c> when
/// the informers find a pod's record unusable. Best effort and never in the bind's
/// way: an event is queued and sent by a background loop, and one over the rate (<see cref="EventOptions"/>) or over
/// the queue is dropped and counted, never waited for.
/// </summary>
internal sealed partial class PodEvents : BackgroundService
{
    /// <summary>The reportingController of every event: who wrote it.</summary>
    public const string Controller = "kaiwo.ai/scheduler-extender";

    private readonly IKubernetesApi _api;
    private readonly TimeProvider _time;
    private readonly KubernetesOptions _kubernetes;
    private readonly ILogger<PodEvents> _log;
    private readonly TokenBucket _bucket;
    private readonly Channel<Pending> _queue;
    private readonly string _instance = Environment.MachineName;

    // The record warning last reported per pod uid: a relist applies every pod again, and must not report again.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _recordWarnings = new(StringComparer.Ordinal);
    private long _sent;
    private long _dropped;
    private long _failed;

    public PodEvents(IKubernetesApi api, TimeProvider time, IOptions<EventOptions> options, IOptions<KubernetesOptions> kubernetes, ILogger<PodEvents> log)
    {
        _api = api;
        _time = time;
        _kubernetes = kubernetes.Value;
        _log = log;
        _bucket = new TokenBucket(time, options.Value.PerSecond, options.Value.Burst);
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(options.Value.Burst) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    }

    /// <summary>Events the API server accepted.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Events not sent because of the rate limit or a full queue.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Events the API server refused or did not answer.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>GpuAllocated; its note is written only when the rate lets the event go (most binds of a burst do not).</summary>
    public void Allocated(PodFacts pod, string node, PodAllocation? allocation)
    {
        if (Admit(pod, "GpuAllocated"))
        {
            Enqueue(pod, "Normal", "GpuAllocated", $"bound to {node}: {Describe(allocation)}");
        }
    }

    public void BindFailed(PodFacts pod, string node, Exception error, string message) =>
        Record(pod, "Warning", IsAssignedElsewhere(error) ? "GpuAllocationConflict" : "GpuBindFailed", message);

    /// <summary>
    /// A Warning <c>GpuRecordConflict</c> when the informers find the pod's allocation record unusable (unreadable, or
    /// naming another node than the one it is bound to); once per pod and warning.
    /// </summary>
    public void RecordConflict(PodFacts pod, string warning)
    {
        if (_recordWarnings.TryGetValue(pod.Uid, out var last) && last == warning)
        {
            return;
        }

        _recordWarnings[pod.Uid] = warning;
        Record(pod, "Warning", "GpuRecordConflict", warning);
    }

    /// <summary>The note of GpuAllocated: each GPU with its partitions, XCDs, share and memory, then the devices.</summary>
    internal static string Describe(PodAllocation? allocation)
    {
        if (allocation is null || allocation.Gpus.Count == 0)
        {
            return "no GPUs";
        }

        var gpus = allocation.Gpus.Select(g =>
        {
            var parts = new List<string>();
            if (g.Partitions.Count > 0)
            {
                parts.Add($"partitions {string.Join(',', g.Partitions)}");
            }

            if (g.Xcds.Count > 0)
            {
                parts.Add($"XCDs {string.Join(',', g.Xcds)}");
            }

            parts.Add($"{Share.Format(g.ComputeMilli)} GPU");
            parts.Add($"{g.MemoryMiB} MiB");
            return string.Create(CultureInfo.InvariantCulture, $"GPU {g.Index} ({string.Join(", ", parts)})");
        });
        var kind = allocation.Kind == AllocationKind.Whole ? "whole" : $"shared, {AllocationRecord.IsolationName(allocation.Isolation)}";
        return $"{string.Join("; ", gpus)}; {kind}; devices {allocation.VisibleDevices}";
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var pending in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                await SendAsync(pending, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: events still queued are not worth delaying the shutdown for.
        }
    }

    private void Record(PodFacts pod, string type, string reason, string note)
    {
        if (Admit(pod, reason))
        {
            Enqueue(pod, type, reason, note);
        }
    }

    /// <summary>Takes a token of the rate, or counts the event dropped.</summary>
    private bool Admit(PodFacts pod, string reason)
    {
        if (_bucket.TryTake())
        {
            return true;
        }

        Drop(pod, reason);
        return false;
    }

    private void Enqueue(PodFacts pod, string type, string reason, string note)
    {
        if (!_queue.Writer.TryWrite(new Pending(pod, type, reason, note, _time.GetUtcNow())))
        {
            Drop(pod, reason);
        }
    }

    private void Drop(PodFacts pod, string reason)
    {
        Interlocked.Increment(ref _dropped);
        LogDropped(_log, reason, pod.Key);
    }

    private async Task SendAsync(Pending pending, CancellationToken stoppingToken)
    {
        using var timeout = new CancellationTokenSource(_kubernetes.RequestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
        try
        {
            await _api.CreateEventAsync(pending.Pod.Namespace, Event(pending), linked.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _sent);
        }
        catch (Exception ex) when (ex is KubernetesApiException or HttpRequestException || (ex is OperationCanceledException && !stoppingToken.IsCancellationRequested))
        {
            // One try: an event is a note for people, and retrying it would compete with binds for the API server.
            Interlocked.Increment(ref _failed);
            LogFailed(_log, pending.Reason, pending.Pod.Key, ex.Message);
        }
    }

    private JsonObject Event(Pending pending) => new()
    {
        ["apiVersion"] = "events.k8s.io/v1",
        ["kind"] = "Event",

        // The server adds five characters; a name prefix must not end in a dot (7g), a dash is fine (7c).
        ["metadata"] = new JsonObject { ["generateName"] = $"{pending.Pod.Name}-", ["namespace"] = pending.Pod.Namespace },
        ["eventTime"] = pending.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
        ["reportingController"] = Controller,
        ["reportingInstance"] = _instance,
        ["action"] = "Binding",
        ["reason"] = pending.Reason,
        ["type"] = pending.Type,

        // The API server refuses a note over 1 kB.
        ["note"] = pending.Note.Length <= 1024 ? pending.Note : pending.Note[..1021] + "...",
        ["regarding"] = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["namespace"] = pending.Pod.Namespace,
            ["name"] = pending.Pod.Name,
            ["uid"] = pending.Pod.Uid,
        },
    };

    /// <summary>The Binding was refused because the pod is assigned to another node (LiveBinder's 409 path).</summary>
    private static bool IsAssignedElsewhere(Exception error) => error.InnerException is KubernetesApiException { StatusCode: 409 };

    [LoggerMessage(EventId = 60, Level = LogLevel.Debug, Message = "Event {Reason} on {Pod} dropped: over the events rate or queue")]
    private static partial void LogDropped(ILogger logger, string reason, LogText pod);

    [LoggerMessage(EventId = 61, Level = LogLevel.Information, Message = "Event {Reason} on {Pod} not recorded: {Error}")]
    private static partial void LogFailed(ILogger logger, string reason, LogText pod, LogText error);

    private sealed record Pending(PodFacts Pod, string Type, string Reason, string Note, DateTimeOffset At);
}

internal static class PodEventsRegistration
{
    /// <summary>Live mode: events at bind, through <see cref="IKubernetesApi"/>, sent in the background.</summary>
    public static IServiceCollection AddPodEvents(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<EventOptions>().Bind(configuration.GetSection(EventOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EventOptions>, EventOptionsValidator>();
        services.AddSingleton<PodEvents>();
        services.AddHostedService(sp => sp.GetRequiredService<PodEvents>());
        return services;
    }
}

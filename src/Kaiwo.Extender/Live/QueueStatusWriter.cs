using System.Globalization;
using System.Text.Json.Nodes;
using Kaiwo.Extender.Hosting;
using Kaiwo.Scheduling.Queues;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Live;

/// <summary>
/// Live mode: publishes every KaiwoQueue's allocated (usage), requested (demand) and fair share, in GPUs, cores and
/// GiB, with a <c>Ready</c> condition that says whether the queue takes pods and, when it is disabled, why. Each tick
/// of <see cref="KubernetesOptions.QueueStatusInterval"/> a queue's status is merge-patched through the status
/// subresource only when it differs from what this writer last wrote for it, and at most once per interval.
/// Failures are logged and tried again on the next tick.
/// </summary>
internal sealed partial class QueueStatusWriter : BackgroundService
{
    /// <summary>The condition's type; its reasons when the queue takes pods and when it is disabled.</summary>
    public const string ReadyCondition = "Ready";
    public const string ActiveReason = "Active";
    public const string InvalidDefinitionReason = "InvalidDefinition";

    private readonly QueueState _queues;
    private readonly IKubernetesApi _api;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly ILogger<QueueStatusWriter> _log;
    private readonly ApiResilience _resilience;

    // Touched by the writing loop only.
    private readonly Dictionary<string, Written> _written = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Transition> _ready = new(StringComparer.Ordinal);

    public QueueStatusWriter(QueueState queues, IKubernetesApi api, IOptions<KubernetesOptions> options, TimeProvider time, ILogger<QueueStatusWriter> log)
    {
        _queues = queues;
        _api = api;
        _time = time;
        _interval = options.Value.QueueStatusInterval;
        _log = log;
        _resilience = new ApiResilience(options.Value, time, reason => LogRetry(_log, reason));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await WriteChangedAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One tick: writes the status of every real queue whose status changed and whose last write is old enough.</summary>
    private async Task WriteChangedAsync(CancellationToken cancellationToken)
    {
        if (_queues.Current() is not { } snapshot)
        {
            return; // no queues, or the CRD is not installed: nothing to publish
        }

        var queues = snapshot.Tree.Queues.Values.Where(q => !q.IsImplicit).ToList();
        Forget(queues.Select(q => q.Name).ToHashSet(StringComparer.Ordinal));
        var now = _time.GetTimestamp();
        foreach (var queue in queues)
        {
            var status = Status(snapshot, queue);
            var text = status.ToJsonString();
            if (_written.TryGetValue(queue.Name, out var last) && (last.Json == text || !IntervalPassed(last.At, now)))
            {
                continue; // unchanged, or written too recently: a change goes out on a later tick
            }

            try
            {
                await _resilience.RunAsync([ct => _api.PatchQueueStatusAsync(queue.Name, status, ct)], cancellationToken).ConfigureAwait(false);
                _written[queue.Name] = new Written(text, now);
                LogWritten(_log, queue.Name, text);
            }
            catch (KubernetesApiException ex) when (ex.StatusCode == 404)
            {
                LogQueueGone(_log, queue.Name); // deleted since the snapshot; the informer will drop it
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogFailed(_log, queue.Name, ex.Message);
            }
        }
    }

    /// <summary>The status of one queue, as the CRD's status schema spells it.</summary>
    private JsonObject Status(QueueSnapshot snapshot, QueueNode queue)
    {
        var ready = queue.DisabledReason is null ? "True" : "False";
        if (!_ready.TryGetValue(queue.Name, out var transition) || transition.Status != ready)
        {
            transition = new Transition(ready, _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            _ready[queue.Name] = transition;
        }

        var condition = new JsonObject
        {
            ["type"] = ReadyCondition,
            ["status"] = ready,
            ["reason"] = queue.DisabledReason is null ? ActiveReason : InvalidDefinitionReason,
        };
        if (queue.DisabledReason is { } reason)
        {
            condition["message"] = reason;
        }

        condition["lastTransitionTime"] = transition.Since;
        return new JsonObject
        {
            ["allocated"] = Amounts(snapshot.Usage.GetValueOrDefault(queue.Name)),
            ["requested"] = Amounts(snapshot.Demand.GetValueOrDefault(queue.Name)),
            ["fairShare"] = Amounts(snapshot.FairShare.GetValueOrDefault(queue.Name)),
            ["conditions"] = new JsonArray(condition),
        };
    }

    /// <summary>GPU thousandths, millicores and MiB as GPUs, cores and GiB (to 3 decimals).</summary>
    private static JsonObject Amounts(ResourceVector amount) => new()
    {
        ["gpu"] = Plain(amount.Gpu / 1000m),
        ["cpu"] = Plain(amount.Cpu / 1000m),
        ["memory"] = Plain(Math.Round(amount.Memory / 1024m, 3, MidpointRounding.AwayFromZero)),
    };

    /// <summary>Without trailing zeros: 2.5, not 2.500; 0, not 0.000.</summary>
    private static decimal Plain(decimal value) => value / 1.000000000000000000000000000000000m;

    /// <summary>
    /// At least one interval since the last write. A timer may fire a hair before a full interval by the finer clock,
    /// so a twentieth of the interval is forgiven: what this rules out is a second write right after a late tick.
    /// </summary>
    private bool IntervalPassed(long writtenAt, long now) => _time.GetElapsedTime(writtenAt, now) >= _interval - (_interval / 20);

    /// <summary>Drops what was written for queues that no longer exist, so that a queue made again is written afresh.</summary>
    private void Forget(HashSet<string> current)
    {
        foreach (var name in _written.Keys.Where(n => !current.Contains(n)).ToList())
        {
            _written.Remove(name);
        }

        foreach (var name in _ready.Keys.Where(n => !current.Contains(n)).ToList())
        {
            _ready.Remove(name);
        }
    }

    private sealed record Written(string Json, long At);

    private sealed record Transition(string Status, string Since);

    [LoggerMessage(EventId = 70, Level = LogLevel.Debug, Message = "Wrote the status of queue {Queue}: {Status}")]
    private static partial void LogWritten(ILogger logger, LogText queue, LogText status);

    [LoggerMessage(EventId = 71, Level = LogLevel.Warning, Message = "Writing the status of queue {Queue} failed, trying again on the next tick: {Reason}")]
    private static partial void LogFailed(ILogger logger, LogText queue, LogText reason);

    [LoggerMessage(EventId = 72, Level = LogLevel.Debug, Message = "Queue {Queue} is gone from the API server; its status is not written")]
    private static partial void LogQueueGone(ILogger logger, LogText queue);

    [LoggerMessage(EventId = 73, Level = LogLevel.Information, Message = "Retrying a queue status write: {Reason}")]
    private static partial void LogRetry(ILogger logger, LogText reason);
}

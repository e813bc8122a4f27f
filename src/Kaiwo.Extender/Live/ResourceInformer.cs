using System.Text.Json;
using Kaiwo.Extender.Hosting;
using Polly;
using Polly.Retry;

namespace Kaiwo.Extender.Live;

/// <summary>What an informer keeps up to date: a full list replaces, watch events apply one by one.</summary>
internal interface IInformerTarget
{
    /// <summary>For logs and /inspect: "nodes", "pods", "kaiwoqueues".</summary>
    string Resource { get; }

    /// <summary>The collection's path under the API server, e.g. <c>api/v1/pods</c>.</summary>
    string Path { get; }

    /// <summary>True when a 404 on the list means the resource is not installed (a CRD) rather than an error.</summary>
    bool Optional { get; }

    /// <summary>A full list, applied page by page as it arrives: everything not in it is gone once it is complete.</summary>
    ListReplace BeginReplace();

    /// <summary>One ADDED, MODIFIED or DELETED event.</summary>
    void Apply(string type, JsonElement item);

    /// <summary>The optional resource is not installed (or is again).</summary>
    void SetAvailable(bool available, string? reason);
}

/// <summary>
/// One full list applied to a target page by page: each item is applied as it arrives (the state then reads as it
/// would halfway through a watch), and <see cref="Complete"/> removes whatever the list did not show. Pages are not
/// kept: holding every page of 200,000 pods as JSON until the last one arrived took more memory than the state itself.
/// </summary>
internal sealed class ListReplace(Func<JsonElement, string?> apply, Action<IReadOnlySet<string>> removeUnseen)
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    /// <summary>Items listed so far.</summary>
    public int Count { get; private set; }

    /// <summary>Applies one page; <c>apply</c> returns the key of what it applied (null: nothing).</summary>
    public void Add(IReadOnlyList<JsonElement> page)
    {
        foreach (var item in page)
        {
            Count++;
            if (apply(item) is { } key)
            {
                _seen.Add(key);
            }
        }
    }

    /// <summary>The list is complete: removes what it did not show.</summary>
    public void Complete() => removeUnseen(_seen);
}

/// <summary>
/// List-then-watch for one resource: lists in pages, watches from the list's resourceVersion with bookmarks,
/// watches again from the last resourceVersion when the server ends the stream, lists again on 410 Expired and after
/// a dropped stream (so that nothing is lost: the new list reconciles), and reconnects with capped, jittered backoff.
/// </summary>
internal sealed partial class ResourceInformer
{
    private readonly IKubernetesApi _api;
    private readonly IInformerTarget _target;
    private readonly KubernetesOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ResiliencePipeline _reconnect;
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _resourceVersion;
    private long _events;
    private long _lists;

    public ResourceInformer(IKubernetesApi api, IInformerTarget target, KubernetesOptions options, TimeProvider time, ILogger log)
    {
        _api = api;
        _target = target;
        _options = options;
        _time = time;
        _log = log;
        _reconnect = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => ex is not OperationCanceledException),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.ReconnectDelay,
                MaxDelay = options.MaxReconnectDelay,
                DelayGenerator = ApiResilience.RetryAfterDelay,
                OnRetry = args =>
                {
                    LogReconnect(_log, _target.Resource, args.RetryDelay, args.Outcome.Exception?.Message ?? "stream ended");
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    public string Resource => _target.Resource;

    /// <summary>Completes after the first full list has been applied.</summary>
    public Task Synced => _synced.Task;

    public bool IsSynced => _synced.Task.IsCompleted;

    public long EventsApplied => Interlocked.Read(ref _events);

    public long Lists => Interlocked.Read(ref _lists);

    public string? ResourceVersion => _resourceVersion;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await _reconnect.ExecuteAsync(StreamAsync, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>
    /// One connection: list if needed, then watch until the stream ends. Returns normally when the next connection
    /// should start at once; throws when it should wait (the reconnect policy's backoff).
    /// </summary>
    private async ValueTask StreamAsync(CancellationToken cancellationToken)
    {
        if (_resourceVersion is null)
        {
            if (!await ListAsync(cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }

        var received = 0;
        var started = _time.GetTimestamp();
        try
        {
            await foreach (var e in _api.WatchAsync(_target.Path, _resourceVersion!, cancellationToken).ConfigureAwait(false))
            {
                received++;
                if (e.Type != "BOOKMARK")
                {
                    _target.Apply(e.Type, e.Object);
                    Interlocked.Increment(ref _events);
                }

                _resourceVersion = e.ResourceVersion ?? _resourceVersion;
            }
        }
        catch (KubernetesApiException ex) when (ex.IsExpired)
        {
            // The resourceVersion fell out of the watch window: list again, at once.
            LogExpired(_log, _target.Resource, ex.ApiMessage);
            _resourceVersion = null;
            return;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or JsonException && received > 0)
        {
            // The stream broke after it had worked: list again at once, which reconciles anything missed.
            LogDropped(_log, _target.Resource, ex.Message);
            _resourceVersion = null;
            return;
        }

        if (received == 0 && _time.GetElapsedTime(started) < TimeSpan.FromSeconds(1))
        {
            // A server (or proxy) that ends every watch at once would otherwise be asked again in a tight loop.
            throw new IOException($"the {_target.Resource} watch ended at once without events");
        }
    }

    /// <summary>Lists every page and replaces the target's contents. False when an optional resource is absent.</summary>
    private async Task<bool> ListAsync(CancellationToken cancellationToken)
    {
        var replace = _target.BeginReplace();
        string? continueToken = null;
        string resourceVersion;
        while (true)
        {
            ListPage page;
            try
            {
                page = await _api.ListAsync(_target.Path, _options.ListPageSize, continueToken, cancellationToken).ConfigureAwait(false);
            }
            catch (KubernetesApiException ex) when (ex.IsExpired && continueToken is not null)
            {
                // The continue token expired between pages: start the list again; what was applied stays until
                // the new list is complete, as any object would between two watch events.
                replace = _target.BeginReplace();
                continueToken = null;
                continue;
            }
            catch (KubernetesApiException ex) when (ex.StatusCode == 404 && _target.Optional)
            {
                _target.SetAvailable(false, $"{_target.Resource} are not served by the API server (is the CRD installed?): {ex.ApiMessage}");
                LogAbsent(_log, _target.Resource, _options.CrdRetryInterval);
                _synced.TrySetResult();
                await Task.Delay(_options.CrdRetryInterval, _time, cancellationToken).ConfigureAwait(false);
                return false;
            }

            using (page)
            {
                replace.Add(page.Items);
                continueToken = page.Continue;
                resourceVersion = page.ResourceVersion;
            }

            if (continueToken is null)
            {
                break;
            }
        }

        if (_target.Optional)
        {
            _target.SetAvailable(true, null);
        }

        replace.Complete();
        _resourceVersion = resourceVersion;
        Interlocked.Increment(ref _lists);
        if (_synced.TrySetResult())
        {
            LogSynced(_log, _target.Resource, replace.Count, resourceVersion);
        }

        return true;
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "Informer {Resource}: first list applied, {Count} objects at resourceVersion {ResourceVersion}")]
    private static partial void LogSynced(ILogger logger, string resource, int count, LogText resourceVersion);

    [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "Informer {Resource}: watch expired ({Message}); listing again")]
    private static partial void LogExpired(ILogger logger, string resource, LogText message);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Informer {Resource}: watch dropped ({Message}); listing again")]
    private static partial void LogDropped(ILogger logger, string resource, LogText message);

    [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "Informer {Resource}: reconnecting in {Delay}: {Reason}")]
    private static partial void LogReconnect(ILogger logger, string resource, TimeSpan delay, LogText reason);

    [LoggerMessage(EventId = 24, Level = LogLevel.Warning, Message = "Informer {Resource}: not served by the API server; running without them, looking again every {Interval}")]
    private static partial void LogAbsent(ILogger logger, string resource, TimeSpan interval);
}

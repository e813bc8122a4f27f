using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// Watches: <c>200</c>, <c>Content-Type: application/json</c>, chunked, headers flushed at once, one JSON line per
/// event, chunk boundaries as Go's 2048-byte buffer makes them. From a resourceVersion the history since the last
/// compaction is replayed; from none or "0" a synthetic ADDED for every object comes first; from a compacted one the
/// only event is ERROR 410 Expired.
/// </summary>
public sealed partial class FakeKubeApiServer
{
    /// <summary>Without timeoutSeconds the real server picks 30 to 60 minutes.</summary>
    private static readonly TimeSpan DefaultWatchTimeout = TimeSpan.FromMinutes(30);

    private readonly List<WatchSession> _watchers = [];
    private readonly List<(Func<int, bool> Predicate, TaskCompletionSource Done)> _watchWaiters = [];

    /// <summary>The watches open now (counted from registration until they end, are ended or dropped).</summary>
    public int OpenWatchCount
    {
        get
        {
            lock (_gate)
            {
                return _watchers.Count;
            }
        }
    }

    /// <summary>Completes when at least <paramref name="count"/> watches are open.</summary>
    public Task WaitForWatchesAsync(int count, CancellationToken cancellationToken = default) =>
        WaitForWatchCountAsync(open => open >= count, cancellationToken);

    /// <summary>Completes when the number of open watches satisfies <paramref name="predicate"/>.</summary>
    public Task WaitForWatchCountAsync(Func<int, bool> predicate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        lock (_gate)
        {
            if (predicate(_watchers.Count))
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _watchWaiters.Add((predicate, done));
            return done.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// One BOOKMARK on every open watch that asked for them (allowWatchBookmarks=true, as the real server only
    /// sends them then): the empty shell of the kind with the current resourceVersion.
    /// </summary>
    public void SendBookmarks()
    {
        lock (_gate)
        {
            foreach (var watch in _watchers.Where(w => w.AllowBookmarks))
            {
                watch.Send(EventLine(EventTypes.Bookmark, watch.Resource.BookmarkShell(_resourceVersion)));
            }
        }
    }

    /// <summary>Ends every open watch cleanly, as when timeoutSeconds runs out: what is pending, then only the final <c>0\r\n\r\n</c>.</summary>
    public void EndWatches() => StopWatches(WatchEnd.Clean);

    /// <summary>Aborts every open watch connection mid-stream, as a network drop: no final chunk.</summary>
    public void DropWatches() => StopWatches(WatchEnd.Abort);

    private static byte[] EventLine(string type, JsonObject obj) =>
        GoJson.Encode(new JsonObject { ["type"] = type, ["object"] = obj.DeepClone() }, newline: true);

    private static bool ParseBool(string? value) => value is "1" or "t" or "T" or "true" or "TRUE" or "True";

    private void StopWatches(WatchEnd end)
    {
        lock (_gate)
        {
            foreach (var watch in _watchers)
            {
                watch.Stop(end);
            }

            _watchers.Clear();
            WatchCountChangedLocked();
        }
    }

    private void WatchCountChangedLocked()
    {
        for (var i = _watchWaiters.Count - 1; i >= 0; i--)
        {
            if (_watchWaiters[i].Predicate(_watchers.Count))
            {
                _watchWaiters[i].Done.TrySetResult();
                _watchWaiters.RemoveAt(i);
            }
        }
    }

    private async Task WatchAsync(HttpContext context, ResourceInfo resource, string? ns, ObjectFilter filter)
    {
        var query = context.Request.Query;
        var from = (string?)query["resourceVersion"];
        long? fromVersion = null;
        if (from is { Length: > 0 } and not "0")
        {
            if (!long.TryParse(from, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                await WriteStatusAsync(context, KubeStatus.BadRequest($"invalid resource version: {from}"));
                return;
            }

            fromVersion = parsed;
        }

        var timeout = DefaultWatchTimeout;
        if (int.TryParse(query["timeoutSeconds"], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            timeout = TimeSpan.FromSeconds(seconds);
        }

        byte[]? expired = null;
        WatchSession? session = null;
        lock (_gate)
        {
            if (fromVersion is { } version && version < _compactedRevision)
            {
                expired = EventLine(EventTypes.Error, KubeStatus.WatchExpired(version, _compactedRevision));
            }
            else
            {
                session = new WatchSession(resource, ns, filter, ParseBool(query["allowWatchBookmarks"]), fromVersion ?? _resourceVersion);
                if (fromVersion is null)
                {
                    foreach (var (_, obj) in ItemsLocked(resource, _resourceVersion))
                    {
                        if (session.Matches(obj))
                        {
                            session.Send(EventLine(EventTypes.Added, obj));
                        }
                    }
                }
                else
                {
                    foreach (var change in _events)
                    {
                        session.Offer(change);
                    }
                }

                _watchers.Add(session);
                WatchCountChangedLocked();
            }
        }

        var response = context.Response;
        var aborted = context.RequestAborted;
        try
        {
            response.StatusCode = StatusCodes.Status200OK;
            SetCommonHeaders(response, priorityHeaders: true);
            response.ContentType = "application/json";
            await response.StartAsync(aborted);
            await response.Body.FlushAsync(aborted);
            var writer = new GoChunkWriter(async chunk =>
            {
                await response.Body.WriteAsync(chunk, aborted);
                await response.Body.FlushAsync(aborted);
            });

            if (session is null)
            {
                await writer.WriteAsync(expired ?? []);
                await writer.FlushAsync();
                return;
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted, _stopping.Token);
            stop.CancelAfter(timeout);
            var reader = session.Frames.Reader;
            while (true)
            {
                WatchFrame frame;
                try
                {
                    frame = await reader.ReadAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    // timeoutSeconds ran out (or the client left, or the server stops): the stream just ends.
                    break;
                }

                var end = await WriteFrameAsync(writer, frame);
                while (end == WatchEnd.None && reader.TryRead(out var next))
                {
                    end = await WriteFrameAsync(writer, next);
                }

                if (end == WatchEnd.Abort)
                {
                    context.Abort();
                    return;
                }

                await writer.FlushAsync();
                if (end == WatchEnd.Clean)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client went away mid-write.
        }
        finally
        {
            if (session is not null)
            {
                lock (_gate)
                {
                    if (_watchers.Remove(session))
                    {
                        WatchCountChangedLocked();
                    }
                }
            }
        }
    }

    private static async Task<WatchEnd> WriteFrameAsync(GoChunkWriter writer, WatchFrame frame)
    {
        if (frame.Line is { } line)
        {
            await writer.WriteAsync(line);
        }

        return frame.End;
    }
}

internal static class EventTypes
{
    public const string Added = "ADDED";
    public const string Modified = "MODIFIED";
    public const string Deleted = "DELETED";
    public const string Bookmark = "BOOKMARK";
    public const string Error = "ERROR";
}

internal enum WatchEnd
{
    None,
    Clean,
    Abort,
}

/// <summary>What a watch handler is told: a line to send, or to end.</summary>
internal readonly record struct WatchFrame(byte[]? Line, WatchEnd End);

/// <summary>A write: its resourceVersion, the object after it (for a deletion: the last state, with the new resourceVersion) and before it.</summary>
internal sealed class StoredEvent(long resourceVersion, ResourceInfo resource, string type, JsonObject obj, JsonObject? previous)
{
    private readonly Dictionary<string, byte[]> _lines = new(StringComparer.Ordinal);

    public long ResourceVersion { get; } = resourceVersion;

    public ResourceInfo Resource { get; } = resource;

    public string Type { get; } = type;

    public JsonObject Object { get; } = obj;

    public JsonObject? Previous { get; } = previous;

    /// <summary>The event line as a given type (a watch with a selector turns MODIFIED into ADDED or DELETED).</summary>
    public byte[] Line(string type)
    {
        if (!_lines.TryGetValue(type, out var line))
        {
            _lines[type] = line = GoJson.Encode(new JsonObject { ["type"] = type, ["object"] = Object.DeepClone() }, newline: true);
        }

        return line;
    }
}

/// <summary>One open watch: what it selects and the frames its handler has not written yet.</summary>
internal sealed class WatchSession(ResourceInfo resource, string? ns, ObjectFilter filter, bool allowBookmarks, long after)
{
    public ResourceInfo Resource { get; } = resource;

    public bool AllowBookmarks { get; } = allowBookmarks;

    public Channel<WatchFrame> Frames { get; } = Channel.CreateUnbounded<WatchFrame>(new UnboundedChannelOptions { SingleReader = true });

    public bool Matches(JsonObject? obj) =>
        obj is not null
        && (ns is null || (obj["metadata"]?["namespace"] as JsonValue)?.GetValue<string>() == ns)
        && filter.Matches(obj);

    /// <summary>
    /// Sends a write the watch selects, after its starting resourceVersion. With a selector, an object that starts
    /// matching arrives as ADDED and one that stops matching as DELETED, as the watch cache does.
    /// </summary>
    public void Offer(StoredEvent change)
    {
        if (change.Resource != Resource || change.ResourceVersion <= after)
        {
            return;
        }

        var now = Matches(change.Object);
        var type = change.Type switch
        {
            EventTypes.Modified => (Matches(change.Previous), now) switch
            {
                (true, true) => EventTypes.Modified,
                (false, true) => EventTypes.Added,
                (true, false) => EventTypes.Deleted,
                _ => null,
            },
            _ => now ? change.Type : null,
        };
        if (type is not null)
        {
            Send(change.Line(type));
        }
    }

    public void Send(byte[] line) => Frames.Writer.TryWrite(new WatchFrame(line, WatchEnd.None));

    public void Stop(WatchEnd end) => Frames.Writer.TryWrite(new WatchFrame(null, end));
}

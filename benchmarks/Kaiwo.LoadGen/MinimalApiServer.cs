using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kaiwo.LoadGen;

/// <summary>
/// Just enough kube-apiserver for the extender's informers at scale: lists of nodes, pods and KaiwoQueues in pages
/// (<c>limit</c>, <c>continue</c>, the list's <c>resourceVersion</c>, <c>remainingItemCount</c>), then watches that
/// stay open and send a BOOKMARK now and then (as /work/shared/apiserver/2b shows the real server doing) until
/// <c>timeoutSeconds</c>. Nothing changes after the start, so one resourceVersion serves everything. Objects are
/// written from <see cref="SyntheticCluster"/> page by page as they are asked for: the server holds none of them,
/// so its own memory stays out of the way of the extender's. Writes (queue status, events) are answered 200 and
/// dropped. The test suite's FakeKubeApiServer is the faithful one (patches, binds, 410s); it keeps every object
/// as a JSON tree, which at 200,000 pods would cost gigabytes and seconds per page beside the process measured.
/// </summary>
internal sealed class MinimalApiServer : IAsyncDisposable
{
    public const string Token = "loadgen-token";
    private const string ResourceVersion = "1000";
    private readonly SyntheticCluster _cluster;
    private readonly TimeSpan _bookmarkInterval;
    private WebApplication? _app;
    private long _pages;

    private MinimalApiServer(SyntheticCluster cluster, TimeSpan bookmarkInterval)
    {
        _cluster = cluster;
        _bookmarkInterval = bookmarkInterval;
    }

    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>List pages served so far (all kinds).</summary>
    public long Pages => Interlocked.Read(ref _pages);

    public static async Task<MinimalApiServer> StartAsync(SyntheticCluster cluster, TimeSpan bookmarkInterval)
    {
        var server = new MinimalApiServer(cluster, bookmarkInterval);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1);
        });
        var app = builder.Build();
        app.Run(server.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no address");
        server._app = app;
        server.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return server;
    }

    /// <summary>A kubeconfig for this server, as the tests write one: plain HTTP, a bearer token.</summary>
    public string WriteKubeconfig(string path)
    {
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: loadgen
              cluster:
                server: {BaseAddress.ToString().TrimEnd('/')}
            contexts:
            - name: loadgen
              context:
                cluster: loadgen
                user: loadgen
            current-context: loadgen
            users:
            - name: loadgen
              user:
                token: {Token}
            """);
        return path;
    }

    /// <summary>Completes when the host is told to stop (Ctrl+C or SIGTERM).</summary>
    public Task WaitForShutdownAsync() => _app?.WaitForShutdownAsync() ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private async Task HandleAsync(HttpContext http)
    {
        var request = http.Request;
        if (request.Headers.Authorization != $"Bearer {Token}")
        {
            await WriteStatus(http, 401, "Unauthorized", "Unauthorized");
            return;
        }

        if (!HttpMethods.IsGet(request.Method))
        {
            // Queue status patches and events: accepted, not kept.
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("{}");
            return;
        }

        var (kind, count, write) = request.Path.Value switch
        {
            "/api/v1/nodes" => ("Node", _cluster.NodeCount, (Action<Utf8JsonWriter, int>)((w, i) => _cluster.WriteNode(w, i, full: true))),
            "/api/v1/pods" => ("Pod", _cluster.PodCount, (w, i) => _cluster.WritePod(w, i, full: true)),
            "/apis/kaiwo.ai/v1alpha2/kaiwoqueues" => ("KaiwoQueue", 1, (w, _) => _cluster.WriteQueue(w)),
            _ => (null, 0, null),
        };
        if (kind is null || write is null)
        {
            await WriteStatus(http, 404, "NotFound", $"the server could not find the requested resource ({request.Path})");
            return;
        }

        if (request.Query["watch"] is ["true" or "1"])
        {
            await WatchAsync(http, kind);
            return;
        }

        var limit = int.TryParse(request.Query["limit"], CultureInfo.InvariantCulture, out var l) && l > 0 ? l : int.MaxValue;
        var from = request.Query["continue"] is [{ Length: > 0 } token]
            ? (int.TryParse(token, CultureInfo.InvariantCulture, out var c) && c >= 0 && c <= count ? c : -1)
            : 0;
        if (from < 0)
        {
            await WriteStatus(http, 400, "BadRequest", "continue key is not valid");
            return;
        }

        var to = (int)Math.Min(count, (long)from + limit);
        var page = new ArrayBufferWriter<byte>(Math.Max(4096, (to - from) * 4096));
        using (var w = new Utf8JsonWriter(page))
        {
            w.WriteStartObject();
            w.WriteString("kind", kind + "List");
            w.WriteString("apiVersion", kind == "KaiwoQueue" ? "kaiwo.ai/v1alpha2" : "v1");
            w.WriteStartObject("metadata");
            w.WriteString("resourceVersion", ResourceVersion);
            if (to < count)
            {
                w.WriteString("continue", to.ToString(CultureInfo.InvariantCulture));
                w.WriteNumber("remainingItemCount", count - to);
            }

            w.WriteEndObject();
            w.WriteStartArray("items");
            for (var i = from; i < to; i++)
            {
                write(w, i);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        Interlocked.Increment(ref _pages);
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = page.WrittenCount;
        await http.Response.Body.WriteAsync(page.WrittenMemory, http.RequestAborted);
    }

    /// <summary>A watch with nothing to tell: a BOOKMARK every interval until timeoutSeconds or the client leaves.</summary>
    private async Task WatchAsync(HttpContext http, string kind)
    {
        var timeout = int.TryParse(http.Request.Query["timeoutSeconds"], CultureInfo.InvariantCulture, out var s) && s > 0 ? TimeSpan.FromSeconds(s) : TimeSpan.FromMinutes(30);
        var bookmark = System.Text.Encoding.UTF8.GetBytes(
            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"" + kind + "\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" + ResourceVersion + "\",\"creationTimestamp\":null}}}\n");
        http.Response.ContentType = "application/json";
        await http.Response.StartAsync(http.RequestAborted);
        using var ends = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        ends.CancelAfter(timeout);
        try
        {
            while (!ends.IsCancellationRequested)
            {
                await Task.Delay(_bookmarkInterval, ends.Token);
                await http.Response.Body.WriteAsync(bookmark, ends.Token);
                await http.Response.Body.FlushAsync(ends.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // The timeout or the client: the stream ends as the real server ends it.
        }
    }

    private static Task WriteStatus(HttpContext http, int code, string reason, string message)
    {
        http.Response.StatusCode = code;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new Dictionary<string, object>(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
            ["code"] = code,
        }));
    }
}

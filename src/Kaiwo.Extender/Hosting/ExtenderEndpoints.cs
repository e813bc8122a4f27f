using System.Text.Json;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Verbs;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.State;
using Microsoft.AspNetCore.Mvc;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// The HTTP surface: the four extender verbs and the allocation table on the verbs listener; metrics and health on the
/// metrics listener. Each endpoint answers on its own listener only (<see cref="ListenerHosting.UseListenerGate"/>).
/// </summary>
internal static class ExtenderEndpoints
{
    private static readonly JsonSerializerOptions InspectJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Deeper JSON is refused: no Pod, Node or extender type nests anywhere near this.</summary>
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    public static void Map(WebApplication app)
    {
        app.MapPost("/filter", (HttpContext http, [FromServices] ExtenderVerbs verbs) =>
            Handle(http, "filter", "ExtenderArgs", ExtenderRequests.ReadArgs, args => Task.FromResult(verbs.Filter(args))))
            .ServedOn(Listener.Verbs);
        app.MapPost("/prioritize", (HttpContext http, [FromServices] ExtenderVerbs verbs) =>
            Handle(http, "prioritize", "ExtenderArgs", ExtenderRequests.ReadArgs, args => Task.FromResult(verbs.Prioritize(args))))
            .ServedOn(Listener.Verbs);
        app.MapPost("/bind", (HttpContext http, [FromServices] ExtenderVerbs verbs) =>
            Handle(http, "bind", "ExtenderBindingArgs", ExtenderRequests.ReadBinding, args => verbs.BindPodAsync(args, http.RequestAborted)))
            .ServedOn(Listener.Verbs);
        app.MapPost("/preempt", (HttpContext http, [FromServices] ExtenderVerbs verbs) =>
            Handle(http, "preempt", "ExtenderPreemptionArgs", ExtenderRequests.ReadPreemption, args => Task.FromResult(verbs.Preempt(args))))
            .ServedOn(Listener.Verbs);

        // Health and metrics tell nothing about pods: the network may have them (Prometheus, the kubelet's probes).
        app.MapPrometheusScrapingEndpoint("/metrics").ServedOn(Listener.Metrics);
        app.MapGet("/healthz", () => Results.Text("ok")).ServedOn(Listener.Metrics);
        app.MapGet("/readyz", (Readiness readiness) => readiness.IsReady
            ? Results.Text("ready")
            : Results.Text($"not ready: {readiness.NotReadyReason}", statusCode: StatusCodes.Status503ServiceUnavailable))
            .ServedOn(Listener.Metrics);

        // /inspect lists every GPU pod of every namespace: it stays with the verbs, on loopback or behind client certificates.

        app.MapGet("/inspect", (ClusterState state, ClusterMode mode, QueueCatalog queues, QueueState queueState, IServiceProvider services) =>
            Results.Json(
                new
                {
                    mode = mode.Name,
                    source = mode.Source,
                    queues = new
                    {
                        available = queues.UnavailableReason is null,
                        reason = queues.UnavailableReason,
                        names = queues.Names,
                        tree = queueState.Current() is { } snapshot ? QueueTable.Build(snapshot) : null,
                    },
                    informers = services.GetService<LiveCluster>()?.Informers.Select(i => new
                    {
                        resource = i.Resource,
                        synced = i.IsSynced,
                        resourceVersion = i.ResourceVersion,
                        lists = i.Lists,
                        eventsApplied = i.EventsApplied,
                    }),
                    assumedPods = state.AssumedCount,
                    nodes = InspectTable.Build(state.Nodes()),
                },
                InspectJson))
            .ServedOn(Listener.Verbs);
        app.MapGet("/inspect/{node}", (string node, ClusterState state) =>
            state.TryGetNode(node, out var candidate)
                ? Results.Json(InspectTable.Build(candidate!.Usage), InspectJson)
                : Results.Json(new { error = $"node {node} is not known to the extender" }, InspectJson, statusCode: StatusCodes.Status404NotFound))
            .ServedOn(Listener.Verbs);
    }

    /// <summary>
    /// Reads the body as JSON, then as <paramref name="type"/>, runs the verb, and writes its answer. Malformed JSON and
    /// unusable requests get HTTP 400 with a JSON <c>Error</c> naming where (a JSON path, or the byte where the JSON
    /// broke) and what was wrong; an oversized body gets 413. Nothing here changes state before the body has been read
    /// whole and checked. The document stays alive until the answer is written: passed nodes are echoed from it.
    /// </summary>
    private static async Task Handle<TArgs, TResult>(HttpContext http, string name, string type, Func<JsonElement, TArgs> read, Func<TArgs, Task<TResult>> verb)
    {
        var time = http.RequestServices.GetRequiredService<TimeProvider>();
        var started = time.GetTimestamp();
        try
        {
            await HandleCore(http, type, read, verb).ConfigureAwait(false);
        }
        finally
        {
            http.RequestServices.GetRequiredService<ExtenderMetrics>().RecordDuration(name, time.GetElapsedTime(started));
        }
    }

    private static async Task HandleCore<TArgs, TResult>(HttpContext http, string type, Func<JsonElement, TArgs> read, Func<TArgs, Task<TResult>> verb)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(http.Request.Body, DocumentOptions, http.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            await WriteError(http, StatusCodes.Status400BadRequest, $"request body is not a valid {type}: not JSON ({Where(ex)}): {ex.Message}").ConfigureAwait(false);
            return;
        }
        catch (BadHttpRequestException ex)
        {
            await WriteError(http, ex.StatusCode, $"request body rejected: {ex.Message}").ConfigureAwait(false);
            return;
        }

        using (document)
        {
            TArgs args;
            try
            {
                args = read(document.RootElement);
            }
            catch (ObjectReadException ex)
            {
                await WriteError(http, StatusCodes.Status400BadRequest, $"request body is not a valid {type}: {ex.Path}: {ex.Problem}").ConfigureAwait(false);
                return;
            }

            var result = await verb(args).ConfigureAwait(false);
            await http.Response.WriteAsJsonAsync(result, ExtenderJson.Options, http.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>Where a JSON syntax error is: the path so far and the line and byte.</summary>
    private static string Where(JsonException ex) =>
        $"at {ex.Path ?? "$"}, line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}";

    private static Task WriteError(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new ErrorBody { Error = message }, ExtenderJson.Options, http.RequestAborted);
    }
}

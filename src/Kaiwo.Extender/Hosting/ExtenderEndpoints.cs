using System.Text.Json;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Verbs;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling.Gangs;
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

    public static void Map(WebApplication app)
    {
        app.MapPost("/filter", (HttpContext http, [FromServices] ExtenderVerbs verbs) =>
            Handle(http, "filter", verbs.Filter))
            .ServedOn(Listener.Verbs);
        app.MapPost("/prioritize", (HttpContext http, [FromServices] ExtenderVerbs verbs) =>
            Handle(http, "prioritize", verbs.Prioritize))
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
                    reservations = GangInspect.Reservations(state.Reservations()),
                    gangs = services.GetService<GangReconciler>() is { } gangs ? GangInspect.Gangs(gangs.Book) : [],
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
    /// Reads the body whole, runs the verb over it, and writes its answer. Malformed JSON and unusable requests get
    /// HTTP 400 with a JSON <c>Error</c> naming where (a JSON path, or the byte where the JSON broke) and what was
    /// wrong; an oversized body gets 413. Nothing here changes state before the body has been read whole and checked.
    /// </summary>
    private static async Task Handle<TArgs, TResult>(HttpContext http, string name, string type, Func<JsonElement, TArgs> read, Func<TArgs, Task<TResult>> verb) =>
        await Timed(http, name, async () =>
        {
            using var body = await RequestBody.ReadAsync(http).ConfigureAwait(false);
            if (body.Rejection is { } rejection)
            {
                await WriteError(http, rejection.Status, rejection.Message).ConfigureAwait(false);
                return;
            }

            // The document stays alive until the answer is written: parts of it may be echoed.
            using var document = ExtenderRequests.TryRead(body.Bytes, type, read, out var args, out var error);
            if (document is null)
            {
                await WriteError(http, StatusCodes.Status400BadRequest, error!).ConfigureAwait(false);
                return;
            }

            var result = await verb(args!).ConfigureAwait(false);
            await http.Response.WriteAsJsonAsync(result, ExtenderJson.Options, http.RequestAborted).ConfigureAwait(false);
        }).ConfigureAwait(false);

    /// <summary>
    /// Filter and prioritize: the verb reads the body bytes and writes its answer (see
    /// <see cref="ExtenderVerbs.Filter(ReadOnlyMemory{byte}, System.Buffers.IBufferWriter{byte})"/>) into a pooled
    /// buffer, or returns the error of an unusable body, having written nothing. The answer goes out whole with its
    /// Content-Length: one write of headers and body, where writing into the response as it grew made a chunked answer
    /// with a second send for its last chunk.
    /// </summary>
    private static Task Handle(HttpContext http, string name, Func<ReadOnlyMemory<byte>, System.Buffers.IBufferWriter<byte>, string?> verb) =>
        Timed(http, name, async () =>
        {
            using var body = await RequestBody.ReadAsync(http).ConfigureAwait(false);
            if (body.Rejection is { } rejection)
            {
                await WriteError(http, rejection.Status, rejection.Message).ConfigureAwait(false);
                return;
            }

            var answer = AnswerBuffer.Take();
            try
            {
                if (verb(body.Bytes, answer) is { } error)
                {
                    await WriteError(http, StatusCodes.Status400BadRequest, error).ConfigureAwait(false);
                    return;
                }

                http.Response.ContentType = "application/json; charset=utf-8";
                http.Response.ContentLength = answer.WrittenCount;
                await http.Response.BodyWriter.WriteAsync(answer.WrittenMemory, http.RequestAborted).ConfigureAwait(false);
            }
            finally
            {
                AnswerBuffer.Return(answer);
            }
        });

    private static async Task Timed(HttpContext http, string name, Func<Task> handle)
    {
        var time = http.RequestServices.GetRequiredService<TimeProvider>();
        var started = time.GetTimestamp();
        try
        {
            await handle().ConfigureAwait(false);
        }
        finally
        {
            http.RequestServices.GetRequiredService<ExtenderMetrics>().RecordDuration(name, time.GetElapsedTime(started));
        }
    }

    private static Task WriteError(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new ErrorBody { Error = message }, ExtenderJson.Options, http.RequestAborted);
    }
}

using System.Text.Json;
using Kaiwo.Extender.Admission;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling.Pipeline;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

// In the Hosting namespace beside ExtenderEndpoints, so that Program.cs reaches these extensions with the usings it has.
namespace Kaiwo.Extender.Hosting;

/// <summary>
/// The mutating admission webhook for pods (<c>POST /admission/mutate-pods</c>), served by the extender itself when
/// <c>Admission:Enabled</c> is true. AdmissionReview v1 in and out; the decision is <see cref="PodMutator"/>'s.
/// </summary>
internal static partial class AdmissionWebhook
{
    public const string Path = "/admission/mutate-pods";

    /// <summary>Registers the options (validated at start, enabled or not) and the mutator.</summary>
    public static WebApplicationBuilder AddAdmissionWebhook(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<AdmissionOptions>().Bind(builder.Configuration.GetSection(AdmissionOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AdmissionOptions>, AdmissionOptionsValidator>();
        builder.Services.AddSingleton(sp => new PodMutator(
            sp.GetRequiredService<PipelineOptions>().Requests,
            sp.GetRequiredService<IOptions<AdmissionOptions>>().Value.SchedulerName));
        return builder;
    }

    /// <summary>
    /// Maps the webhook's path, only when <c>Admission:Enabled</c> is true (otherwise the path is a 404), on the
    /// webhook's own HTTPS listener: the API server reaches it over the network, and never reaches the verbs.
    /// </summary>
    public static WebApplication MapAdmissionWebhook(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.Services.GetRequiredService<IOptions<AdmissionOptions>>().Value.Enabled)
        {
            app.MapPost(Path, (HttpContext http, [FromServices] PodMutator mutator, [FromServices] ILogger<PodMutator> log) =>
                HandleAsync(http, mutator, log))
                .ServedOn(Listener.Webhook);
        }

        return app;
    }

    /// <summary>
    /// Reads the AdmissionReview, decides, and answers 200 with an AdmissionReview whose response echoes the request's
    /// uid. A body that is not an AdmissionReview v1 with a request and a uid (or whose object is not a Pod) gets HTTP
    /// 400 with a JSON <c>Error</c>, as the extender verbs do: there is no uid to answer to.
    /// </summary>
    private static async Task HandleAsync(HttpContext http, PodMutator mutator, ILogger log)
    {
        AdmissionReview? review;
        try
        {
            review = await JsonSerializer.DeserializeAsync<AdmissionReview>(http.Request.Body, AdmissionJson.Options, http.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            await WriteError(http, StatusCodes.Status400BadRequest, $"request body is not a valid AdmissionReview: {ex.Message}").ConfigureAwait(false);
            return;
        }
        catch (BadHttpRequestException ex)
        {
            await WriteError(http, ex.StatusCode, $"request body rejected: {ex.Message}").ConfigureAwait(false);
            return;
        }

        if (Problem(review) is { } problem)
        {
            await WriteError(http, StatusCodes.Status400BadRequest, problem).ConfigureAwait(false);
            return;
        }

        var request = review!.Request!;
        var response = new AdmissionResponse { Uid = request.Uid!, Allowed = true };
        if (IsPodCreate(request))
        {
            if (request.Object is not { } pod)
            {
                await WriteError(http, StatusCodes.Status400BadRequest, "AdmissionReview.request.object ($.request.object) is missing: a pod CREATE carries the Pod").ConfigureAwait(false);
                return;
            }

            PodDecision decision;
            try
            {
                decision = mutator.Decide(pod);
            }
            catch (JsonException ex)
            {
                await WriteError(http, StatusCodes.Status400BadRequest, $"AdmissionReview.request.object is not a Pod: {ex.Message}").ConfigureAwait(false);
                return;
            }

            Answer(response, decision);
            Log(log, request.Namespace ?? string.Empty, PodName(request, pod), decision);
        }

        await http.Response.WriteAsJsonAsync(
            new AdmissionReview { ApiVersion = AdmissionReview.V1, Kind = AdmissionReview.ReviewKind, Response = response },
            AdmissionJson.Options,
            http.RequestAborted).ConfigureAwait(false);
    }

    private static string? Problem(AdmissionReview? review)
    {
        if (review is null)
        {
            return "request body is not an AdmissionReview: $ is JSON null";
        }

        if (review.ApiVersion != AdmissionReview.V1 || review.Kind != AdmissionReview.ReviewKind)
        {
            return $"request body has apiVersion ($.apiVersion) \"{review.ApiVersion}\" and kind ($.kind) \"{review.Kind}\"; this webhook reads {AdmissionReview.V1} {AdmissionReview.ReviewKind} (admissionReviewVersions: [v1])";
        }

        if (review.Request is null)
        {
            return "AdmissionReview has no request ($.request)";
        }

        return string.IsNullOrEmpty(review.Request.Uid) ? "AdmissionReview.request has no uid ($.request.uid)" : null;
    }

    /// <summary>The webhook is registered for pod CREATE only; anything else it is sent is admitted unchanged.</summary>
    private static bool IsPodCreate(AdmissionRequest request) =>
        string.IsNullOrEmpty(request.Kind?.Group)
        && request.Kind?.Kind == "Pod"
        && request.Operation == "CREATE"
        && string.IsNullOrEmpty(request.SubResource);

    private static void Answer(AdmissionResponse response, PodDecision decision)
    {
        if (!decision.Allowed)
        {
            response.Allowed = false;
            response.Status = new AdmissionStatus { Code = StatusCodes.Status400BadRequest, Message = decision.Message ?? string.Empty };
            return;
        }

        if (decision.PatchJson() is { } patch)
        {
            response.PatchType = AdmissionResponse.JsonPatchType;
            response.Patch = patch;
        }
    }

    /// <summary>The pod's name, or its generateName on a CREATE that has no name yet.</summary>
    private static string PodName(AdmissionRequest request, JsonElement pod) =>
        !string.IsNullOrEmpty(request.Name) ? request.Name
        : pod.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("generateName", out var generateName) && generateName.ValueKind == JsonValueKind.String
            ? generateName.GetString() ?? string.Empty
            : string.Empty;

    private static void Log(ILogger log, string ns, string pod, PodDecision decision)
    {
        switch (decision.Verdict)
        {
            case PodVerdict.Refused:
                LogRefused(log, ns, pod, decision.Message ?? string.Empty);
                break;
            case PodVerdict.GpuPod:
                LogPatched(log, ns, pod, decision.Patch.Count);
                break;
            default:
                LogNotGpuPod(log, ns, pod);
                break;
        }
    }

    private static Task WriteError(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new ErrorBody { Error = message }, ExtenderJson.Options, http.RequestAborted);
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "Admission of {Namespace}/{Pod}: a GPU pod, {Operations} patch operations")]
    private static partial void LogPatched(ILogger logger, LogText @namespace, LogText pod, int operations);

    [LoggerMessage(EventId = 61, Level = LogLevel.Information, Message = "Admission of {Namespace}/{Pod} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, LogText @namespace, LogText pod, LogText reason);

    [LoggerMessage(EventId = 62, Level = LogLevel.Debug, Message = "Admission of {Namespace}/{Pod}: not a GPU pod, unchanged")]
    private static partial void LogNotGpuPod(ILogger logger, LogText @namespace, LogText pod);
}

using Kaiwo.Extender.Hosting;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Live;

/// <summary>
/// Asks kube-scheduler to retry pods by writing <see cref="WellKnown.RetryAnnotation"/> on each: an update of a pod
/// moves it out of the scheduler's unschedulable queue at once (to the active queue, or to the back-off queue while
/// its back-off of at most <c>podMaxBackoffSeconds</c>, 10 s by default, runs). One merge patch per pod, all at once;
/// a pod that is gone is skipped, a failed patch only logged (the pod is retried on the scheduler's own back-off).
/// </summary>
internal sealed partial class AnnotationNudger(IKubernetesApi api, TimeProvider time, ILogger<AnnotationNudger> log) : IPodNudger
{
    public async Task RetryAsync(IReadOnlyList<PodFacts> pods, CancellationToken cancellationToken)
    {
        var at = time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
        await Task.WhenAll(pods.Select(pod => PatchAsync(pod, at, cancellationToken))).ConfigureAwait(false);
    }

    private async Task PatchAsync(PodFacts pod, string at, CancellationToken cancellationToken)
    {
        try
        {
            await api.PatchPodAnnotationsAsync(pod.Namespace, pod.Name, new Dictionary<string, string?>(1, StringComparer.Ordinal) { [WellKnown.RetryAnnotation] = at }, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException ex) when (ex.StatusCode == 404)
        {
            // Deleted meanwhile: nothing to retry.
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogFailed(log, pod.Key, ex.Message);
        }
    }

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "Could not ask kube-scheduler to retry {Pod} (it retries on its own back-off): {Reason}")]
    private static partial void LogFailed(ILogger logger, LogText pod, LogText reason);
}

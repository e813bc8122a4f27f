using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Kaiwo.Extender.Live;

/// <summary>
/// The resilience pipeline around the API calls of a bind: a total timeout below kube-scheduler's httpTimeout,
/// retries with jittered exponential backoff on 429, 5xx, conflicts, timeouts and network errors (honouring
/// Retry-After), and a timeout per attempt.
/// </summary>
internal static class ApiResilience
{
    public static ResiliencePipeline Create(KubernetesOptions options, TimeProvider time, Action<string>? onRetry = null) =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(options.BindTimeout)
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.BindTimeout,
                DelayGenerator = RetryAfterDelay,
                OnRetry = args =>
                {
                    onRetry?.Invoke(args.Outcome.Exception?.Message ?? "unknown");
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(options.RequestTimeout)
            .Build();

    /// <summary>The server's Retry-After, when it sent one; otherwise the strategy's own backoff.</summary>
    public static ValueTask<TimeSpan?> RetryAfterDelay(RetryDelayGeneratorArguments<object> args) => ValueTask.FromResult(
        args.Outcome.Exception is KubernetesApiException { RetryAfter: { } retryAfter } ? retryAfter : (TimeSpan?)null);

    /// <summary>Worth another try: throttling, server errors, write conflicts, timeouts and broken connections.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        KubernetesApiException api => api.StatusCode is 429 or >= 500 || (api.StatusCode == 409 && api.Reason == "Conflict"),
        TimeoutRejectedException => true,
        HttpRequestException or IOException => true,
        _ => false,
    };
}

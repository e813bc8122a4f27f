using System.Globalization;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Kaiwo.Extender.Live;

/// <summary>
/// An operation of API calls that ran out of its deadline: the deadline passed, or the server asked to retry later
/// than the deadline allows. The message says which, after how many attempts, and the last answer.
/// </summary>
internal sealed class ApiDeadlineException(string message, Exception? inner)
    : TimeoutException(message, inner);

/// <summary>
/// The resilience of the extender's API writes. One operation (a bind: the Binding carrying the record, and a record patch after a 409) gets one
/// deadline, <see cref="KubernetesOptions.BindTimeout"/>, for all its calls and every retry of them together, so that
/// it always answers within kube-scheduler's httpTimeout. Inside it each call is retried with jittered exponential
/// backoff on 429, 5xx, conflicts, timeouts and network errors, honouring Retry-After, with a timeout per attempt; a
/// Retry-After beyond what is left of the deadline ends the operation at once instead of sleeping into the timeout.
/// </summary>
internal sealed class ApiResilience
{
    private static readonly ResiliencePropertyKey<DateTimeOffset> DeadlineKey = new("kaiwo.api.deadline");
    private static readonly ResiliencePropertyKey<string> GaveUpKey = new("kaiwo.api.gave-up");
    private static readonly ResiliencePropertyKey<string> LastFailureKey = new("kaiwo.api.last-failure");
    private static readonly ResiliencePropertyKey<int> AttemptsKey = new("kaiwo.api.attempts");

    private readonly TimeSpan _budget;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline _deadline;
    private readonly ResiliencePipeline _call;

    public ApiResilience(KubernetesOptions options, TimeProvider time, Action<string>? onRetry = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _budget = options.BindTimeout;
        _time = time;
        _deadline = new ResiliencePipelineBuilder { TimeProvider = time }.AddTimeout(options.BindTimeout).Build();
        _call = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome.Exception, args.Context)),
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
    }

    /// <summary>
    /// Runs the calls one after another, each retried, all within one deadline of <see cref="KubernetesOptions.BindTimeout"/>.
    /// </summary>
    /// <exception cref="ApiDeadlineException">The deadline passed, or a Retry-After reached beyond it.</exception>
    /// <exception cref="KubernetesApiException">A call failed for good (not transient, or out of retries).</exception>
    public async Task RunAsync(IReadOnlyList<Func<CancellationToken, Task>> calls, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(calls);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(DeadlineKey, _time.GetUtcNow() + _budget);
        context.Properties.Set(AttemptsKey, 0);
        try
        {
            await _deadline.ExecuteAsync(
                async (outer, state) =>
                {
                    foreach (var call in state.Calls)
                    {
                        // The same context: every call and retry sees the one deadline and the outer timeout's token.
                        await state.Self._call.ExecuteAsync(
                            async (inner, call) =>
                            {
                                inner.Properties.Set(AttemptsKey, inner.Properties.GetValue(AttemptsKey, 0) + 1);
                                try
                                {
                                    await call(inner.CancellationToken).ConfigureAwait(false);
                                }
                                catch (Exception ex) when (ex is not OperationCanceledException)
                                {
                                    inner.Properties.Set(LastFailureKey, Describe(ex));
                                    throw;
                                }
                            },
                            outer,
                            call).ConfigureAwait(false);
                    }
                },
                context,
                (Self: this, Calls: calls)).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException ex) when (!cancellationToken.IsCancellationRequested && _time.GetUtcNow() >= context.Properties.GetValue(DeadlineKey, default))
        {
            throw new ApiDeadlineException(
                $"the deadline of {Seconds(_budget)} (Kubernetes:BindTimeout) passed after {Attempts(context)}{LastFailure(context)}",
                ex);
        }
        catch (Exception ex) when (context.Properties.TryGetValue(GaveUpKey, out var why))
        {
            throw new ApiDeadlineException($"{Describe(ex)}; {why}", ex);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

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

    /// <summary>A transient failure is retried while the deadline can still hold the wait the server asks for.</summary>
    private bool ShouldRetry(Exception? ex, ResilienceContext context)
    {
        if (ex is null || !IsTransient(ex))
        {
            return false;
        }

        var left = context.Properties.GetValue(DeadlineKey, default) - _time.GetUtcNow();
        if (ex is KubernetesApiException { RetryAfter: { } retryAfter } && retryAfter >= left)
        {
            context.Properties.Set(
                GaveUpKey,
                $"the API server asked to retry after {Seconds(retryAfter)}, but only {Seconds(left)} of the {Seconds(_budget)} deadline (Kubernetes:BindTimeout) were left, so the bind gave up at once after {Attempts(context)}");
            return false;
        }

        return true;
    }

    private static string Describe(Exception ex) => ex switch
    {
        KubernetesApiException api => $"{api.StatusCode} {api.Reason}: {api.ApiMessage}",
        TimeoutRejectedException => "the API server did not answer in time",
        _ => ex.Message,
    };

    private static string Attempts(ResilienceContext context)
    {
        var n = context.Properties.GetValue(AttemptsKey, 0);
        return n == 1 ? "1 attempt" : $"{n} attempts";
    }

    private static string LastFailure(ResilienceContext context) =>
        context.Properties.TryGetValue(LastFailureKey, out var last) ? $" (last answer: {last})" : " (the last call had not answered)";

    private static string Seconds(TimeSpan span) =>
        span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
}

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// A failure to answer one request with, queued per route by <see cref="FakeKubeApiServer.InjectFault"/> and
/// consumed by the next matching request.
/// </summary>
public sealed class Fault
{
    private Fault(FaultKind kind, int retryAfterSeconds, TimeSpan duration)
    {
        Kind = kind;
        RetryAfterSeconds = retryAfterSeconds;
        Duration = duration;
    }

    public FaultKind Kind { get; }

    /// <summary>The Retry-After seconds of <see cref="FaultKind.TooManyRequests"/>.</summary>
    public int RetryAfterSeconds { get; }

    /// <summary>How long <see cref="FaultKind.Delay"/> holds the request before answering it normally.</summary>
    public TimeSpan Duration { get; }

    /// <summary>
    /// 429 as API Priority and Fairness rejects (8a): <c>text/plain; charset=utf-8</c>, <c>Retry-After</c>,
    /// <c>X-Content-Type-Options: nosniff</c>, body <c>Too many requests, please try again later.\n</c>.
    /// </summary>
    public static Fault TooManyRequests(int retryAfterSeconds = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(retryAfterSeconds);
        return new(FaultKind.TooManyRequests, retryAfterSeconds, TimeSpan.Zero);
    }

    /// <summary>500 with a JSON Status, reason InternalError.</summary>
    public static Fault ServerError() => new(FaultKind.ServerError, 0, TimeSpan.Zero);

    /// <summary>
    /// Holds the request, then answers it normally. The wait runs on <see cref="FakeKubeApiServer.TimeProvider"/>
    /// (a fake clock must be advanced); the request's own cancellation ends it.
    /// </summary>
    public static Fault Delay(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return new(FaultKind.Delay, 0, delay);
    }

    /// <summary>409 with a JSON Status, reason Conflict ("the object has been modified; ...").</summary>
    public static Fault Conflict() => new(FaultKind.Conflict, 0, TimeSpan.Zero);

    public override string ToString() => Kind switch
    {
        FaultKind.TooManyRequests => $"429 (Retry-After: {RetryAfterSeconds})",
        FaultKind.Delay => $"delay {Duration}",
        _ => Kind.ToString(),
    };
}

public enum FaultKind
{
    TooManyRequests,
    ServerError,
    Delay,
    Conflict,
}

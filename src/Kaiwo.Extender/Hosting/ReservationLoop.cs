using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>Makes kube-scheduler try pods again now rather than after its back-off (up to five minutes for a refused pod).</summary>
internal interface IPodNudger
{
    Task RetryAsync(IReadOnlyList<PodFacts> pods, CancellationToken cancellationToken);
}

/// <summary>
/// Standalone mode has no API server to write to: kube-scheduler retries the pods on its own back-off, and filter
/// answers them from the reservations by then.
/// </summary>
internal sealed class NoNudger : IPodNudger
{
    public Task RetryAsync(IReadOnlyList<PodFacts> pods, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// The clock and the hands of the reservation steps (gangs, starving pods), which hold the rules: runs every step, one
/// at a time and under the queues' admission gate, when the state moved since the last pass and at least once a
/// second (for expiries and waiting times), then asks kube-scheduler to retry the pods the steps name.
/// </summary>
internal sealed partial class ReservationLoop(
    ClusterState state,
    IEnumerable<IReservationStep> steps,
    IPodNudger nudger,
    QueueState queues,
    TimeProvider time,
    IOptions<SchedulingOptions> options,
    ILogger<ReservationLoop> log) : BackgroundService
{
    /// <summary>The longest the steps go without a pass: expiries and waiting times move with the clock, not the state.</summary>
    public static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);

    private readonly IReservationStep[] _steps = [.. steps];
    private readonly Lock _passGate = new();
    private long _reconciledVersion = -1;
    private DateTimeOffset _sweepDue = DateTimeOffset.MinValue;

    /// <summary>The step names, in the order they run.</summary>
    public IReadOnlyList<string> StepNames => [.. _steps.Select(s => s.Name)];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_steps.Length == 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.ReservationInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var retry = ReconcileIfDue(time.GetUtcNow());
                if (retry.Count > 0)
                {
                    await nudger.RetryAsync(retry, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>
    /// One pass of every step when the state moved since the last pass or the sweep is due; otherwise nothing. Returns
    /// the pods to retry. A pass that changed the state (its own holds) is followed by one more, which finds nothing
    /// left to do: an event that arrived during the pass is never missed.
    /// </summary>
    public IReadOnlyList<PodFacts> ReconcileIfDue(DateTimeOffset now)
    {
        lock (_passGate)
        {
            var version = state.Version;
            if (version == _reconciledVersion && now < _sweepDue)
            {
                return [];
            }

            _reconciledVersion = version;
            _sweepDue = now + SweepInterval;
            var retry = new List<PodFacts>();
            foreach (var step in _steps)
            {
                ReservationReport report;
                lock (queues.AdmissionGate)
                {
                    report = step.Reconcile(now, queues.Current());
                }

                retry.AddRange(report.Retry);
            }

            if (retry.Count > 0 && log.IsEnabled(LogLevel.Information))
            {
                var keys = string.Join(", ", retry.Select(p => p.Key));
                LogRetry(log, retry.Count, keys);
            }

            return retry;
        }
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "Asking kube-scheduler to retry {Count} pods that can be placed now: {Pods}")]
    private static partial void LogRetry(ILogger logger, int count, string pods);
}

using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Tests.FakeApiServer;
using Kaiwo.Extender.Tests.Live;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Kaiwo.Extender.Tests.Hosting;

public sealed class ReservationLoopTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero));
    private readonly ClusterState _state = new();
    private readonly QueueState _queues;
    private readonly RecordingStep _step;
    private readonly ReservationLoop _loop;

    public ReservationLoopTests()
    {
        _queues = new QueueState(_state, new QueueCatalog(), Options.Create(new SchedulingOptions()));
        _step = new RecordingStep(_queues);
        _loop = new ReservationLoop(_state, [_step], new NoNudger(), _queues, _time, Options.Create(new SchedulingOptions()), NullLogger<ReservationLoop>.Instance);
    }

    public void Dispose() => _loop.Dispose();

    private static PodFacts Pod(string name) => new() { Namespace = "team-a", Name = name, Uid = "uid-" + name };

    [Fact]
    public void ReconcileIfDue_FirstPass_RunsEveryStepUnderTheAdmissionGate()
    {
        _loop.ReconcileIfDue(_time.GetUtcNow());

        Assert.Equal(1, _step.Passes);
        Assert.True(_step.RanUnderGate);
    }

    [Fact]
    public void ReconcileIfDue_NothingMovedWithinTheSweep_RunsNoStep()
    {
        _loop.ReconcileIfDue(_time.GetUtcNow());

        _loop.ReconcileIfDue(_time.GetUtcNow() + ReservationLoop.SweepInterval - TimeSpan.FromMilliseconds(1));

        Assert.Equal(1, _step.Passes);
    }

    [Fact]
    public void ReconcileIfDue_StateMoved_RunsAgain()
    {
        _loop.ReconcileIfDue(_time.GetUtcNow());

        _state.UpsertPod(Pod("new"));
        _loop.ReconcileIfDue(_time.GetUtcNow());

        Assert.Equal(2, _step.Passes);
    }

    [Fact]
    public void ReconcileIfDue_SweepDueWithNothingMoved_RunsAgain()
    {
        _loop.ReconcileIfDue(_time.GetUtcNow());

        _loop.ReconcileIfDue(_time.GetUtcNow() + ReservationLoop.SweepInterval);

        Assert.Equal(2, _step.Passes);
    }

    [Fact]
    public void ReconcileIfDue_StepNamesPods_ReturnsThemToRetry()
    {
        _step.Retry = [Pod("member-0"), Pod("member-1")];

        var retry = _loop.ReconcileIfDue(_time.GetUtcNow());

        Assert.Equal(["team-a/member-0", "team-a/member-1"], retry.Select(p => p.Key));
    }

    [Fact]
    public async Task ExecuteAsync_ClockTicks_ReconcilesOnTheInjectedTimer()
    {
        using var stop = new CancellationTokenSource();
        await _loop.StartAsync(stop.Token);
        try
        {
            // ExecuteAsync starts on the thread pool: its timer may not exist yet when the clock first moves, so the
            // clock moves until the pass comes (nothing runs before that: the step counts no pass at 0).
            Assert.Equal(0, _step.Passes);
            for (var i = 0; i < 500 && !_step.FirstPass.IsCompleted; i++)
            {
                _time.Advance(new SchedulingOptions().ReservationInterval);
                await Task.WhenAny(_step.FirstPass, Task.Delay(20));
            }

            Assert.True(_step.FirstPass.IsCompleted, "the loop never ran on the fake clock's ticks");
        }
        finally
        {
            await _loop.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task RetryAsync_LivePods_WritesTheRetryAnnotationOnEach()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        server.CreatePod(LiveObjects.Fraction("member-0", "0.5"));
        server.CreatePod(LiveObjects.Fraction("member-1", "0.5"));
        using var api = new KubernetesApi(server.CreateKubernetesClient());
        var nudger = new AnnotationNudger(api, _time, NullLogger<AnnotationNudger>.Instance);

        await nudger.RetryAsync([Pod("member-0"), Pod("member-1"), Pod("gone")], CancellationToken.None);

        foreach (var name in new[] { "member-0", "member-1" })
        {
            var annotations = server.GetPod("team-a", name)!.Metadata.Annotations;
            Assert.Equal("2026-12-02T06:00:00.000Z", annotations[WellKnown.RetryAnnotation]);
            Assert.Equal("0.5", annotations["kaiwo.ai/gpu-fraction"]);
        }

        Assert.Null(server.GetPod("team-a", "gone"));
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-00:00:01")]
    [InlineData("00:00:02")]
    public void Validate_ReservationIntervalOutOfRange_NamesTheSetting(string interval)
    {
        var result = new ExtenderOptionsValidator().Validate(null, new SchedulingOptions { ReservationInterval = TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture) });

        Assert.Contains(result.Failures ?? [], f => f.StartsWith("Scheduling:ReservationInterval is ", StringComparison.Ordinal) && f.EndsWith("it must be more than 0 and at most 00:00:01", StringComparison.Ordinal));
    }

    private sealed class RecordingStep(QueueState queues) : IReservationStep
    {
        private readonly TaskCompletionSource _firstPass = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => "recording";

        public int Passes { get; private set; }

        public bool RanUnderGate { get; private set; }

        public IReadOnlyList<PodFacts> Retry { get; set; } = [];

        public Task FirstPass => _firstPass.Task;

        public ReservationReport Reconcile(DateTimeOffset now, QueueSnapshot? snapshot)
        {
            Passes++;
            RanUnderGate = queues.AdmissionGate.IsHeldByCurrentThread;
            _firstPass.TrySetResult();
            return new ReservationReport(Retry);
        }
    }
}

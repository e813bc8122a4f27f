using System.Text.Json.Nodes;
using k8s.Models;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Verbs;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Kaiwo.Extender.Tests.Live;

/// <summary>
/// One deadline per bind, on fake time: the Binding (which carries the record) and every retry of it end within
/// Kubernetes:BindTimeout together; when they cannot, the bind gives up, releases its reservation and says why.
/// </summary>
public sealed class BindDeadlineTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(4);
    private static readonly SchedulingPipeline Pipeline = new(new PipelineOptions());

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));
    private readonly ScriptedApi _api;
    private readonly ClusterState _state = new();
    private readonly LiveBinder _binder;
    private readonly DateTimeOffset _start;

    public BindDeadlineTests()
    {
        _api = new ScriptedApi();
        _start = _time.GetUtcNow();
        _state.UpsertNode(new NodeFacts
        {
            Name = "gpu-node-1",
            Labels = new Dictionary<string, string> { ["amd.com/gpu.product-name"] = "AMD_Instinct_MI300X_OAM", ["amd.com/gpu.vram"] = "192G" },
            Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "8" },
        });
        var options = new KubernetesOptions { BindTimeout = Budget, RequestTimeout = TimeSpan.FromSeconds(3.5), MaxRetries = 3, RetryDelay = TimeSpan.FromMilliseconds(100) };
        _binder = new LiveBinder(_state, Pipeline, _api, Options.Create(options), _time, NullLogger<LiveBinder>.Instance);
    }

    private static PodFacts Pod() => new()
    {
        Namespace = "team-a",
        Name = "quarter",
        Uid = "uid-quarter",
        Annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-fraction"] = "0.25" },
        Containers = [new ContainerFacts("main", new Dictionary<string, string>(), new Dictionary<string, string>())],
    };

    private Task<BindOutcome> BindAsync()
    {
        var pod = Pod();
        return _binder.BindAsync(pod, "gpu-node-1", CancellationToken.None);
    }

    private void AssertReleased()
    {
        Assert.True(_state.TryGetNode("gpu-node-1", out var node));
        Assert.Empty(node!.Usage.Holds);
        Assert.Equal(0, _state.AssumedCount);
    }

    [Fact]
    public async Task BindAsync_StalledBinding_GivesUpAtTheDeadlineAndReleases()
    {
        _api.Bind = async ct => await Task.Delay(Timeout.InfiniteTimeSpan, _time, ct).ConfigureAwait(false);

        var bind = BindAsync();
        _time.Advance(Budget);
        var outcome = await bind.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(Budget, _time.GetUtcNow() - _start);
        Assert.Contains("the deadline of 4s (Kubernetes:BindTimeout) passed", outcome.Error, StringComparison.Ordinal);
        Assert.Contains("its devices are released", outcome.Error, StringComparison.Ordinal);
        Assert.True(_api.BindCancelled);
        Assert.Equal(0, _api.Patches);
        AssertReleased();
    }

    [Fact]
    public async Task BindAsync_RetryAfterBeyondTheBudget_GivesUpAtOnceWithoutWaiting()
    {
        _api.Bind = _ => throw new KubernetesApiException(429, "TooManyRequests", "the server has received too many requests", TimeSpan.FromSeconds(10));

        var outcome = await BindAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(_start, _time.GetUtcNow()); // no fake time had to pass: nothing slept
        Assert.Equal(1, _api.Binds);
        Assert.Equal(0, _api.Patches);
        Assert.Contains("429 TooManyRequests", outcome.Error, StringComparison.Ordinal);
        Assert.Contains("asked to retry after 10s, but only 4s of the 4s deadline (Kubernetes:BindTimeout) were left, so the bind gave up at once after 1 attempt", outcome.Error, StringComparison.Ordinal);
        AssertReleased();
    }

    [Fact]
    public async Task BindAsync_SlowAnswerThenRetryAfterBeyondWhatIsLeft_GivesUpAtOnce()
    {
        // The Binding answers 429 after 3 s with a Retry-After of 2 s, which would fit a fresh budget but not the 1 s
        // left of this one: the time the first attempt took counts against the one deadline.
        _api.Bind = async ct =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3), _time, ct).ConfigureAwait(false);
            throw new KubernetesApiException(429, "TooManyRequests", "slow down", TimeSpan.FromSeconds(2));
        };

        var bind = BindAsync();
        await _api.BindCalled(1).WaitAsync(TimeSpan.FromSeconds(30));
        _time.Advance(TimeSpan.FromSeconds(3));
        var outcome = await bind.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, _api.Binds);
        Assert.Contains("asked to retry after 2s, but only 1s of the 4s deadline (Kubernetes:BindTimeout) were left", outcome.Error, StringComparison.Ordinal);
        Assert.Contains("after 1 attempt", outcome.Error, StringComparison.Ordinal);
        AssertReleased();
    }

    [Fact]
    public async Task BindAsync_ConflictPodBoundHereWithoutTheRecord_BindsAndPatchesTheRecordOn()
    {
        _api.Bind = _ => throw new KubernetesApiException(409, "Conflict", "pod quarter is already assigned to node \"gpu-node-1\"", null);
        _api.Current = new V1Pod { Metadata = new V1ObjectMeta { Uid = "uid-quarter", Annotations = new Dictionary<string, string>() }, Spec = new V1PodSpec { NodeName = "gpu-node-1" } };

        var outcome = await BindAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Null(outcome.Error);
        Assert.Equal(1, _api.Patches);
        Assert.Contains("\"computeMilli\":250", _api.Patched!["kaiwo.ai/gpu-allocation"], StringComparison.Ordinal);
        Assert.Equal(1, _binder.Conflicts);
    }

    [Fact]
    public async Task BindAsync_ConflictPodBoundElsewhere_FailsReleasesAndPatchesNothing()
    {
        _api.Bind = _ => throw new KubernetesApiException(409, "Conflict", "pod quarter is already assigned to node \"gpu-node-2\"", null);
        _api.Current = new V1Pod { Metadata = new V1ObjectMeta { Uid = "uid-quarter" }, Spec = new V1PodSpec { NodeName = "gpu-node-2" } };

        var outcome = await BindAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Contains("already assigned to node \"gpu-node-2\"", outcome.Error, StringComparison.Ordinal);
        Assert.Equal(0, _api.Patches);
        AssertReleased();
    }

    [Fact]
    public async Task BindAsync_ThrottledWithinTheBudgetThenBeyondWhatIsLeft_RetriesOnceThenGivesUp()
    {
        var throttles = new Queue<TimeSpan>([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3.5)]);
        _api.Bind = _ => throw new KubernetesApiException(429, "TooManyRequests", "slow down", throttles.Dequeue());

        var bind = BindAsync();
        _time.Advance(TimeSpan.FromSeconds(1));
        var outcome = await bind.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, _api.Binds);
        Assert.Equal(1, _binder.Retries);
        Assert.Contains("asked to retry after 3.5s, but only 3s of the 4s deadline", outcome.Error, StringComparison.Ordinal);
        Assert.Contains("after 2 attempts", outcome.Error, StringComparison.Ordinal);
        AssertReleased();
    }

    [Fact]
    public async Task BindAsync_ThrottledOnceWithinTheBudget_Binds()
    {
        var throttled = false;
        _api.Bind = _ =>
        {
            if (!throttled)
            {
                throttled = true;
                throw new KubernetesApiException(429, "TooManyRequests", "slow down", TimeSpan.FromSeconds(1));
            }

            return Task.CompletedTask;
        };

        var bind = BindAsync();
        await _api.BindCalled(1).WaitAsync(TimeSpan.FromSeconds(30));
        _time.Advance(TimeSpan.FromSeconds(1));
        var outcome = await bind.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Null(outcome.Error);
        Assert.Equal(2, _api.Binds);
        Assert.Equal(1, _binder.Retries);
        Assert.True(_state.TryGetNode("gpu-node-1", out var node));
        Assert.Single(node!.Usage.Holds);
    }

    /// <summary>
    /// An API server whose Binding (and patch, after a 409) answers the test scripts; everything else is not called by a bind.
    /// Timers resume their waiters on the thread pool, so a test advances fake time only where the bind is known to
    /// wait on a timer it registered synchronously (at its start, or in the call it is in), or after
    /// <see cref="BindCalled"/> where what follows needs no new timer.
    /// </summary>
    private sealed class ScriptedApi : IKubernetesApi
    {
        private readonly Lock _gate = new();
        private readonly List<(int Count, TaskCompletionSource Signal)> _waiters = [];
        private int _patches;
        private int _binds;

        public Func<CancellationToken, Task> Patch { get; set; } = _ => Task.CompletedTask;

        public Func<CancellationToken, Task> Bind { get; set; } = _ => Task.CompletedTask;

        public int Patches => Volatile.Read(ref _patches);

        public int Binds => Volatile.Read(ref _binds);

        public bool BindCancelled { get; private set; }

        /// <summary>Completes once the Binding has been called <paramref name="count"/> times.</summary>
        public Task BindCalled(int count)
        {
            lock (_gate)
            {
                if (_binds >= count)
                {
                    return Task.CompletedTask;
                }

                var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((count, signal));
                return signal.Task;
            }
        }

        /// <summary>What GetPodAsync answers (a 409's follow-up read).</summary>
        public V1Pod? Current { get; set; }

        /// <summary>The annotations of the last patch.</summary>
        public IReadOnlyDictionary<string, string?>? Patched { get; private set; }

        public async Task PatchPodAnnotationsAsync(string ns, string name, IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _patches);
            Patched = annotations;
            await Patch(cancellationToken).ConfigureAwait(false);
        }

        public async Task BindPodAsync(string ns, string name, string uid, string nodeName, IReadOnlyDictionary<string, string>? annotations, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                _binds++;
                foreach (var waiter in _waiters.Where(w => w.Count <= _binds).ToList())
                {
                    _waiters.Remove(waiter);
                    waiter.Signal.SetResult();
                }
            }

            try
            {
                await Bind(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                BindCancelled = true;
                throw;
            }
        }

        public Task<V1Pod?> GetPodAsync(string ns, string name, CancellationToken cancellationToken) => Task.FromResult(Current);

        public Task<ListPage> ListAsync(string path, int limit, string? continueToken, CancellationToken cancellationToken) => throw new NotSupportedException("a bind does not list");

        public IAsyncEnumerable<WatchEvent> WatchAsync(string path, string resourceVersion, CancellationToken cancellationToken) => throw new NotSupportedException("a bind does not watch");

        public Task PatchQueueStatusAsync(string name, JsonObject status, CancellationToken cancellationToken) => throw new NotSupportedException("a bind does not write queue status");

        // The binder of these tests has no PodEvents: the events at bind go through PodEvents, never from here.
        public Task CreateEventAsync(string ns, JsonObject ev, CancellationToken cancellationToken) => throw new NotSupportedException("a bind without PodEvents records no event");
    }
}

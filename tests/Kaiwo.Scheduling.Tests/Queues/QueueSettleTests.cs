using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Kaiwo.Scheduling.Tests.State;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Queues;

/// <summary>
/// Many pods from several queues arriving over time against a fixed cluster of 4 x MI300X SPX nodes (32 GPUs),
/// scheduled as kube-scheduler would through the extender: pending pods in arrival order, each admitted against a
/// fresh queue snapshot and reserved on the first node that fits, while bound pods complete and leave. Once the
/// cluster is saturated, each queue's GPU usage settles within one pod's size of its fair share and never passes a
/// limit. Fair shares are in GPUs (1 GPU = 1000 units), the arithmetic in the comments.
/// </summary>
public sealed class QueueSettleTests
{
    private const long Gpu = 1000;
    private const long Capacity = 32 * Gpu;

    private static QueueSpec Queue(string name, long quota = 0, int weight = 1, long limit = -1, int priority = 0, string? parent = null) => new()
    {
        Name = name,
        Parent = parent,
        Priority = priority,
        Gpu = new QueueResourceSpec(quota * Gpu, weight, limit < 0 ? -1 : limit * Gpu),
    };

    /// <summary>a: quota 8 weight 1; b: quota 4 weight 3; c: quota 0 weight 1; all in one priority tier.</summary>
    private static QueueSpec[] FlatQueues(long bLimit = -1) =>
    [
        Queue("a", quota: 8, weight: 1),
        Queue("b", quota: 4, weight: 3, limit: bLimit),
        Queue("c", quota: 0, weight: 1),
    ];

    /// <summary>research (vision, nlp) in tier 0; prod (serving) in tier 10 with a limit of 20.</summary>
    private static QueueSpec[] TwoLevelQueues() =>
    [
        Queue("research", quota: 8, weight: 1),
        Queue("vision", quota: 4, weight: 1, parent: "research"),
        Queue("nlp", quota: 0, weight: 3, parent: "research"),
        Queue("prod", quota: 8, weight: 1, limit: 20, priority: 10),
        Queue("serving", quota: 8, weight: 1, parent: "prod"),
    ];

    [Theory]
    [InlineData(1000, 11)]
    [InlineData(500, 12)]
    public void QueueAdmission_ThreeFlatQueuesJoiningOverTime_EachSettlesWithinOnePodOfItsFairShare(long podMilli, int seed)
    {
        // a starts alone and takes the whole cluster (its share while nobody else wants any); b joins at round 3 and
        // c at round 8, and must get their shares back as a's (then b's) pods complete.
        // Once all three want more than the 32 GPUs: quotas first, a 8, b 4, c 0 (12); the other 20 by weight 1:3:1
        // → a +4, b +12, c +4. a = 12, b = 16, c = 4 (12 + 16 + 4 = 32).
        var sim = new QueueSimulation(FlatQueues(), new() { ["a"] = 0, ["b"] = 3, ["c"] = 8 }, podMilli, seed);

        sim.Run(rounds: 60);

        sim.AssertSettled(new() { ["a"] = 12 * Gpu, ["b"] = 16 * Gpu, ["c"] = 4 * Gpu }, lastRounds: 10);
    }

    [Theory]
    [InlineData(1000, 21)]
    [InlineData(500, 22)]
    public void QueueAdmission_TwoLevelTreeWithPriorityTierAndParentLimit_EachLeafSettlesWithinOnePodOfItsFairShare(long podMilli, int seed)
    {
        // Roots, 32 GPUs: quotas research 8, prod 8 (16); the other 16 by tier, highest first: prod (tier 10) up to
        // its limit 20 → +12; research (tier 0) the last 4 → research 12, prod 20.
        // research's 12: quotas vision 4, nlp 0; the other 8 by weight 1:3 → vision +2, nlp +6 → vision 6, nlp 6.
        // prod's 20: serving, its only child, quota 8 and the other 12 → serving 20. Leaves: 6 + 6 + 20 = 32.
        // vision starts alone and fills the cluster; nlp joins at round 4, serving (the high tier) at round 8.
        var sim = new QueueSimulation(TwoLevelQueues(), new() { ["vision"] = 0, ["nlp"] = 4, ["serving"] = 8 }, podMilli, seed);

        sim.Run(rounds: 60);

        sim.AssertSettled(
            new() { ["vision"] = 6 * Gpu, ["nlp"] = 6 * Gpu, ["serving"] = 20 * Gpu, ["research"] = 12 * Gpu, ["prod"] = 20 * Gpu },
            lastRounds: 10);
    }

    [Fact]
    public void QueueAdmission_QueueStopsSendingHalfway_ItsShareGoesToTheOthers()
    {
        // While all three send: a 12, b 16, c 4 (see the flat case).
        // Once c has sent its last pod and all of c's pods have finished, c's demand is 0 and so is its share:
        // quotas a 8, b 4 (12); the other 20 by weight 1:3 → a +5, b +15 → a 13, b 19, c 0 (13 + 19 = 32).
        var sim = new QueueSimulation(FlatQueues(), new() { ["a"] = 0, ["b"] = 0, ["c"] = 0 }, Gpu, seed: 31);

        sim.Run(rounds: 60);
        sim.AssertSettled(new() { ["a"] = 12 * Gpu, ["b"] = 16 * Gpu, ["c"] = 4 * Gpu }, lastRounds: 10);

        sim.StopSending("c");
        sim.Run(rounds: 90);

        Assert.Equal(0, sim.PendingOf("c"));
        Assert.Equal(0, sim.Snapshot().UsageOf("c").Gpu);
        sim.AssertSettled(new() { ["a"] = 13 * Gpu, ["b"] = 19 * Gpu, ["c"] = 0 }, lastRounds: 10);
    }

    [Fact]
    public void QueueAdmission_QueueLimitBelowItsShareByWeight_StaysAtTheLimitAndTheRestGoesToTheOthers()
    {
        // b has a limit of 10. Quotas a 8, b 4, c 0 (12); the other 20 by weight 1:3:1 → a 4, b 12, c 4, but b can
        // take only 6 more before its limit: b = 10. The 6 left go round again to a and c by 1:1 → a +3, c +3.
        // a = 8 + 4 + 3 = 15, b = 10, c = 4 + 3 = 7 (15 + 10 + 7 = 32).
        // b starts alone: with 22 GPUs idle it still stops at its limit; a and c join at round 3.
        var sim = new QueueSimulation(FlatQueues(bLimit: 10), new() { ["b"] = 0, ["a"] = 3, ["c"] = 3 }, Gpu, seed: 41);

        sim.Run(rounds: 60);

        sim.AssertSettled(new() { ["a"] = 15 * Gpu, ["b"] = 10 * Gpu, ["c"] = 7 * Gpu }, lastRounds: 10);
        Assert.Equal(10 * Gpu, sim.Snapshot().UsageOf("b").Gpu);
        var refusal = sim.EvaluateFirstPending("b").Refusal;
        Assert.NotNull(refusal);
        Assert.Equal("queue-limit", refusal.Code);
        Assert.Contains("queue \"b\" would exceed its gpu limit of 10 GPU: usage 10 GPU + request 1 GPU", refusal.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void QueueAdmission_FairSharesThatAreNotWholePods_StillSaturateTheCluster()
    {
        // Three equal queues, no quotas: 32 / 3 → a 10.667, b 10.667, c 10.666 (the 2 units that rounding leaves go by
        // name). With 1-GPU pods each holds 10 within its share; the last 2 GPUs are idle capacity all three want, and
        // one of them may go one pod over its share to take each.
        var sim = new QueueSimulation([Queue("a"), Queue("b"), Queue("c")], new() { ["a"] = 0, ["b"] = 0, ["c"] = 0 }, Gpu, seed: 51);

        sim.Run(rounds: 40);

        sim.AssertSettled(new() { ["a"] = 10_667, ["b"] = 10_667, ["c"] = 10_666 }, lastRounds: 10);
    }

    /// <summary>
    /// A fixed cluster, a queue tree, and a seeded stream of pods per leaf queue, scheduled round by round:
    /// pods that reached their end complete (Succeeded, or deleted), new pods arrive interleaved across the queues, and
    /// every pending pod is tried once in arrival order. The refused stay pending for the next round, as they would in
    /// kube-scheduler's queue.
    /// </summary>
    private sealed class QueueSimulation
    {
        private const string SchedulerName = "kaiwo-scheduler";

        private readonly SchedulingPipeline _pipeline = new(new PipelineOptions());
        private readonly ClusterState _state = new();
        private readonly QueueTree _tree;
        private readonly IReadOnlyList<string> _leaves;
        private readonly Dictionary<string, int> _startRound;
        private readonly HashSet<string> _sending;
        private readonly long _podMilli;
        private readonly Random _random;
        private readonly List<PodFacts> _pending = [];
        private readonly List<(PodFacts Pod, int EndsAt)> _running = [];
        private readonly List<Dictionary<string, long>> _usageByRound = [];
        private int _round;
        private int _created;

        /// <param name="queues">The queue tree.</param>
        /// <param name="startRound">Each leaf queue that sends pods, with the round its first pods arrive.</param>
        /// <param name="podMilli">Every pod's GPU size: 1000 a whole GPU, less a fraction.</param>
        /// <param name="seed">The seed of arrivals, run times and completions.</param>
        public QueueSimulation(IEnumerable<QueueSpec> queues, Dictionary<string, int> startRound, long podMilli, int seed)
        {
            _tree = QueueTree.Build(queues, "default");
            _startRound = startRound;
            _leaves = [.. startRound.Keys.Order(StringComparer.Ordinal)];
            _sending = [.. _leaves];
            _podMilli = podMilli;
            _random = new Random(seed);
            for (var i = 1; i <= 4; i++)
            {
                _state.UpsertNode(Mi300XSpx($"gpu-node-{i:D2}"));
            }
        }

        public void StopSending(string queue) => _sending.Remove(queue);

        public int PendingOf(string queue) => _pending.Count(p => QueueOf(p) == queue);

        public QueueSnapshot Snapshot() => _state.QueueSnapshot(_tree, SchedulerName);

        public PodEvaluation EvaluateFirstPending(string queue) =>
            _pipeline.EvaluatePod(_pending.First(p => QueueOf(p) == queue), Now, Snapshot());

        public void Run(int rounds)
        {
            for (var i = 0; i < rounds; i++)
            {
                Complete();
                Arrive();
                Schedule();
                RecordUsage();
                _round++;
            }
        }

        /// <summary>
        /// After the last round the cluster is full, every queue still sending wants more than it has, each leaf and
        /// parent has the expected fair share, and over the last <paramref name="lastRounds"/> rounds each was within
        /// one pod's size of it.
        /// </summary>
        public void AssertSettled(Dictionary<string, long> expectedFairShare, int lastRounds)
        {
            var snapshot = Snapshot();
            Assert.Equal(Capacity, snapshot.Capacity.Gpu);
            Assert.Equal(Capacity, _leaves.Sum(q => snapshot.UsageOf(q).Gpu));
            foreach (var queue in _sending)
            {
                Assert.True(
                    snapshot.Demand[queue].Gpu > snapshot.UsageOf(queue).Gpu,
                    $"queue {queue} should still want more than it holds: demand {snapshot.Demand[queue].Gpu}, usage {snapshot.UsageOf(queue).Gpu}");
            }

            foreach (var (queue, fair) in expectedFairShare)
            {
                Assert.Equal(fair, snapshot.FairShareOf(queue).Gpu);
                foreach (var (usage, round) in _usageByRound.Select((u, r) => (u, r)).TakeLast(lastRounds))
                {
                    var used = usage.GetValueOrDefault(queue);
                    Assert.True(
                        Math.Abs(used - fair) <= _podMilli,
                        $"round {round}: queue {queue} holds {Share.Format(used)} GPU, fair share {Share.Format(fair)} GPU, pod size {Share.Format(_podMilli)} GPU");
                }
            }
        }

        private DateTimeOffset Now => DateTimeOffset.UnixEpoch.AddMinutes(_round);

        private static string QueueOf(PodFacts pod) => pod.Labels[WellKnown.QueueLabel];

        /// <summary>Pods whose run is over leave: most as Succeeded (still listed, holding nothing), some deleted.</summary>
        private void Complete()
        {
            foreach (var done in _running.Where(r => r.EndsAt <= _round).ToList())
            {
                _running.Remove(done);
                if (_random.Next(4) == 0)
                {
                    _state.RemovePod(done.Pod.Uid);
                }
                else
                {
                    _state.UpsertPod(done.Pod with { Phase = PodPhase.Succeeded });
                }
            }
        }

        /// <summary>
        /// A few new pods per sending queue, at least enough that the queue's pods (running and pending) ask for more
        /// than the whole cluster; the new pods of all queues arrive shuffled together.
        /// </summary>
        private void Arrive()
        {
            var arrivals = new List<PodFacts>();
            foreach (var queue in _leaves.Where(q => _sending.Contains(q) && _round >= _startRound[q]))
            {
                var held = _running.Count(r => QueueOf(r.Pod) == queue) + PendingOf(queue);
                var wanted = (int)(Capacity / _podMilli) + 2 - held;
                var count = Math.Max(wanted, 0) + _random.Next(0, 3);
                for (var i = 0; i < count; i++)
                {
                    arrivals.Add(NewPod(queue));
                }
            }

            var order = arrivals.ToArray();
            _random.Shuffle(order);
            foreach (var pod in order)
            {
                _state.UpsertPod(pod);
                _pending.Add(pod);
            }
        }

        /// <summary>Every pending pod once, in arrival order: admission against a fresh snapshot, then the first node that fits.</summary>
        private void Schedule()
        {
            foreach (var pod in _pending.ToList())
            {
                var snapshot = Snapshot();
                var evaluation = _pipeline.EvaluatePod(pod, Now, snapshot);
                if (evaluation.Refusal is not null)
                {
                    continue;
                }

                foreach (var node in _state.Nodes())
                {
                    var reserved = _state.Reserve(pod, node.Name, candidate => _pipeline.EvaluateNode(evaluation, candidate));
                    if (reserved.Succeeded)
                    {
                        var bound = ClusterStateTests.RecordedPod(pod, reserved.Allocation!);
                        _state.UpsertPod(bound);
                        _pending.Remove(pod);
                        _running.Add((bound, _round + _random.Next(2, 9)));
                        AssertNoLimitExceeded();
                        break;
                    }
                }
            }
        }

        private void AssertNoLimitExceeded()
        {
            var snapshot = Snapshot();
            Assert.True(_leaves.Sum(q => snapshot.UsageOf(q).Gpu) <= Capacity);
            foreach (var queue in _tree.Queues.Values.Where(q => q.Spec.Gpu.HasLimit))
            {
                Assert.True(
                    snapshot.UsageOf(queue.Name).Gpu <= queue.Spec.Gpu.Limit,
                    $"round {_round}: queue {queue.Name} holds {Share.Format(snapshot.UsageOf(queue.Name).Gpu)} GPU over its limit {Share.Format(queue.Spec.Gpu.Limit)} GPU");
            }
        }

        private void RecordUsage()
        {
            var snapshot = Snapshot();
            _usageByRound.Add(_tree.Queues.Keys.ToDictionary(q => q, q => snapshot.UsageOf(q).Gpu, StringComparer.Ordinal));
        }

        /// <summary>A pod of the queue: one whole GPU (amd.com/gpu: 1), or a fraction by annotation; 2 cores and 16 GiB.</summary>
        private PodFacts NewPod(string queue)
        {
            var name = $"{queue}-{_created++:D5}";
            var requests = new Dictionary<string, string> { ["cpu"] = "2", ["memory"] = "16Gi" };
            var limits = new Dictionary<string, string>();
            var annotations = new Dictionary<string, string>();
            if (_podMilli == Gpu)
            {
                requests[WellKnown.GpuResource] = "1";
                limits[WellKnown.GpuResource] = "1";
            }
            else
            {
                annotations[WellKnown.GpuFractionAnnotation] = Share.Format(_podMilli);
            }

            return new PodFacts
            {
                Namespace = "team-" + queue,
                Name = name,
                Uid = $"uid-{name}",
                Labels = new Dictionary<string, string> { [WellKnown.QueueLabel] = queue },
                Annotations = annotations,
                Containers = [new ContainerFacts("main", requests, limits)],
                SchedulerName = SchedulerName,
            };
        }
    }
}

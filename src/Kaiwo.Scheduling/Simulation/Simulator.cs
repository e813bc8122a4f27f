using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Reservations;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Simulation;

/// <summary>
/// Replays a trace on a cluster with the service's own pipeline and state, in virtual time: pods arrive, are
/// filtered, scored (highest score, ties by node name) and bound through <see cref="ClusterState.Reserve"/>, end at
/// their end time, and pending pods are retried in queue order (priority, then arrival) after every change. A pod
/// that fits nowhere now and outranks running pods preempts as kube-scheduler would, with the victims filtered by the
/// queue rules (<see cref="QueueReclaim"/>) as the extender's preempt verb does. With
/// <see cref="SimulationOptions.Starvation"/>, the service's starvation step holds devices for large pods that wait.
/// </summary>
public static class Simulator
{
    /// <summary>The size classes pending times are reported by, smallest first.</summary>
    public static IReadOnlyList<string> SizeClasses { get; } = ["< 0.5 GPU", "0.5-1 GPU", "1 GPU", "2-4 GPUs", "5+ GPUs", "no GPU"];

    public static PolicyRun Run(SimulatedCluster cluster, Trace trace, SimulationPolicy policy, SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(options);
        return new Replay(cluster, trace, policy, options).Run();
    }

    /// <summary>The figures common to every policy, around the runs.</summary>
    public static SimulationResult Summarize(SimulatedCluster cluster, Trace trace, SimulationOptions options, IReadOnlyList<PolicyRun> runs)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(options);
        var state = new ClusterState(options.Pipeline.Requests);
        foreach (var node in cluster.Nodes)
        {
            state.UpsertNode(node);
        }

        var gpus = state.Nodes().Sum(n => n.Usage.Inventory.Gpus.Count);
        var median = MedianPod(trace, options.Pipeline.Requests);
        var horizon = trace.EffectiveHorizon.TotalSeconds;
        return new SimulationResult(
            horizon,
            horizon / options.Buckets,
            cluster.Nodes.Count,
            gpus,
            median is null ? "none (no pod asks for a GPU)" : Describe(GpuRequestParser.Parse(median, options.Pipeline.Requests)),
            SizeClasses,
            runs);
    }

    /// <summary>The size class of a pod, by the GPUs its queue counts it for.</summary>
    public static string SizeClassOf(PodFacts pod, GpuRequest request)
    {
        var milli = PodResources.Request(pod, request).Gpu;
        return milli switch
        {
            0 => SizeClasses[5],
            < 500 => SizeClasses[0],
            < 1000 => SizeClasses[1],
            1000 => SizeClasses[2],
            <= 4000 => SizeClasses[3],
            _ => SizeClasses[4],
        };
    }

    /// <summary>The trace's median GPU pod by the GPU share it asks (the lower median): what fragmentation is measured against.</summary>
    public static PodFacts? MedianPod(Trace trace, RequestOptions requests)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var asks = trace.Pods
            .Select(p => (p.Pod, Milli: PodResources.Request(p.Pod, GpuRequestParser.Parse(p.Pod, requests)).Gpu))
            .Where(p => p.Milli > 0)
            .OrderBy(p => p.Milli)
            .ToList();
        return asks.Count == 0 ? null : asks[(asks.Count - 1) / 2].Pod;
    }

    private static string Describe(GpuRequest request) =>
        request.Describe() + (request.Kind == GpuAskKind.Shared && request.Isolation != GpuIsolation.TimeSlicing ? $", {request.Isolation.ToString().ToLowerInvariant()} isolation" : string.Empty);

    private sealed class Job
    {
        public required int Index { get; init; }
        public required PodFacts Pod { get; init; }
        public required GpuRequest Request { get; init; }
        public required int Signature { get; init; }
        public required TimeSpan Arrival { get; init; }
        public required TimeSpan Duration { get; init; }
        public required string SizeClass { get; init; }

        /// <summary>What the pod asks of its queue (GPU share, CPU, memory), computed once.</summary>
        public required ResourceVector Resources { get; init; }

        /// <summary>Per node (in name order), whether kube-scheduler's nodeSelector lets the pod there; null: every node.</summary>
        public bool[]? Eligible { get; init; }
        public string? QueueLabel => Pod.Labels.GetValueOrDefault(WellKnown.QueueLabel);
        public int Priority => Pod.Priority;
        public string Uid => Pod.Uid;
        public bool Pending { get; set; }
        public bool Running { get; set; }
        public bool Done { get; set; }
        public string? Node { get; set; }
        public TimeSpan? FirstStart { get; set; }
        public TimeSpan LastStart { get; set; }
        public TimeSpan PendingSince { get; set; }
        public double PendingSeconds { get; set; }
        public int Generation { get; set; }
        public TimeSpan? PreemptionBlockedAt { get; set; }
    }

    /// <summary>One policy's run: all mutable state of the replay lives here.</summary>
    private sealed class Replay
    {
        private static readonly Comparison<Job> QueueOrder = (a, b) =>
            a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority)
            : a.Arrival != b.Arrival ? a.Arrival.CompareTo(b.Arrival)
            : a.Index.CompareTo(b.Index);

        private readonly SimulationPolicy _policy;
        private readonly SimulationOptions _options;
        private readonly TimeSpan _horizon;
        private readonly PipelineOptions _pipelineOptions;
        private readonly SchedulingPipeline _pipeline;
        private readonly ClusterState _state;
        private readonly QueueTree? _tree;
        private readonly string[] _nodeNames;
        private readonly Dictionary<string, int> _nodeIndex;
        private readonly long[] _freedAt;
        private readonly (Allocation.NodeUsage? Usage, long Stranded, int Idle)[] _measured;
        private readonly List<Job> _jobs;
        private readonly Dictionary<string, Job> _byUid = new(StringComparer.Ordinal);
        private readonly List<Job> _pending = [];
        private readonly List<Job> _requeued = [];
        private readonly PriorityQueue<(Job Job, int Generation), (TimeSpan At, long Order)> _ends = new();
        private readonly SortedDictionary<int, int> _runningPriorities = [];
        private readonly long[] _failedAtVersion;
        private readonly long[] _noFitSince;
        private readonly Dictionary<(int Signature, int Node), (Allocation.NodeUsage Usage, List<Job>? Victims)> _victimCache = [];
        private readonly long[] _preemptionFailedAtSeq;
        private readonly GpuRequest? _medianAsk;
        private readonly long _capacityMilli;
        private readonly StarvationReconciler? _starvation;
        private TimeSpan _nextReconcile;

        /// <summary>Whole-GPU asks count only unpartitioned GPUs when the cluster has any (see <see cref="CapacityMeasures.IdleGpus"/>).</summary>
        private readonly bool _hasUnpartitionedGpus;
        private readonly Timeline _allocation;
        private readonly Timeline _fragmentation;
        private readonly Timeline _largest;
        private readonly Timeline _completedSeries;
        private readonly Timeline _pendingSeries;
        private readonly Timeline _reservedSeries;
        private readonly List<(string Queue, Timeline Allocated, Timeline Fair)> _queueSeries = [];
        private readonly double[] _largestGap;
        private readonly double[] _largestGapAt;
        private readonly Dictionary<string, int> _refused = new(StringComparer.Ordinal);

        private long _seq;
        private long _endOrder;
        private long _snapshotVersion = -1;
        private QueueSnapshot? _snapshot;
        private long _sampledVersion = -1;
        private int _completed;
        private int _started;
        private int _preemptions;
        private long _attempts;
        private FirstRefusal? _firstRefusal;

        public Replay(SimulatedCluster cluster, Trace trace, SimulationPolicy policy, SimulationOptions options)
        {
            _policy = policy;
            _options = options;
            _horizon = trace.EffectiveHorizon;
            _pipelineOptions = PolicyRules.Pipeline(policy, options.Pipeline);
            _pipeline = new SchedulingPipeline(_pipelineOptions);
            _state = new ClusterState(_pipelineOptions.Requests);
            if (options.Starvation is { Enabled: true } starvation)
            {
                _starvation = new StarvationReconciler(starvation with { SchedulerNames = [options.SchedulerName] });
                _nextReconcile = options.ReconcileInterval;
            }
            foreach (var node in cluster.Nodes)
            {
                _state.UpsertNode(node);
            }

            foreach (var pod in cluster.Running)
            {
                _state.UpsertPod(pod);
            }

            _tree = cluster.Queues.Count == 0 && cluster.InvalidQueues.Count == 0
                ? null
                : QueueTree.Build(cluster.Queues, options.DefaultQueue, cluster.InvalidQueues);
            _nodeNames = [.. cluster.Nodes.Select(n => n.Name).Distinct().Order(StringComparer.Ordinal)];
            _nodeIndex = _nodeNames.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
            _freedAt = new long[_nodeNames.Length];
            _measured = new (Allocation.NodeUsage?, long, int)[_nodeNames.Length];
            _hasUnpartitionedGpus = _state.Nodes().Any(n => n.Usage.Inventory.Gpus.Any(g => !g.IsPartitioned));
            _capacityMilli = Math.Max(1, _state.Nodes().Sum(n => n.Usage.Inventory.Gpus.Count * 1000L));

            var signatures = new Dictionary<string, int>(StringComparer.Ordinal);
            var eligibility = new List<bool[]?>();
            var labels = cluster.Nodes.GroupBy(n => n.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Labels, StringComparer.Ordinal);
            bool[] Eligibility(IReadOnlyDictionary<string, string> selector) =>
                [.. _nodeNames.Select(n => selector.All(s => labels[n].TryGetValue(s.Key, out var v) && v == s.Value))];
            _jobs = [];
            var index = 0;
            foreach (var tracePod in trace.Pods.Where(p => p.Arrival <= _horizon).OrderBy(p => p.Arrival))
            {
                var original = tracePod.Pod.SchedulerName is null ? tracePod.Pod with { SchedulerName = options.SchedulerName } : tracePod.Pod;
                var originalRequest = GpuRequestParser.Parse(original, _pipelineOptions.Requests);
                var pod = PolicyRules.Apply(policy, original, originalRequest) with { NodeName = null, Phase = PodPhase.Pending, CreatedAt = options.Epoch + tracePod.Arrival };
                var signature = SignatureOf(pod) + "#" + string.Join(',', (tracePod.NodeSelector ?? new Dictionary<string, string>()).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
                if (!signatures.TryGetValue(signature, out var id))
                {
                    id = signatures.Count;
                    signatures[signature] = id;
                    eligibility.Add(tracePod.NodeSelector is { Count: > 0 } selector ? Eligibility(selector) : null);
                }

                var request = GpuRequestParser.Parse(pod, _pipelineOptions.Requests);
                var job = new Job
                {
                    Index = index++,
                    Pod = pod,
                    Request = request,
                    Resources = PodResources.Request(pod, request),
                    Signature = id,
                    Arrival = tracePod.Arrival,
                    Duration = tracePod.Duration,
                    SizeClass = SizeClassOf(original, originalRequest),
                    Eligible = eligibility[id],
                };
                _jobs.Add(job);
                _byUid[job.Uid] = job;
            }

            _failedAtVersion = Enumerable.Repeat(-1L, signatures.Count).ToArray();
            _noFitSince = Enumerable.Repeat(-1L, signatures.Count).ToArray();
            _preemptionFailedAtSeq = Enumerable.Repeat(-1L, signatures.Count).ToArray();
            if (MedianPod(trace, _pipelineOptions.Requests) is { } median)
            {
                var medianPod = PolicyRules.Apply(policy, median, GpuRequestParser.Parse(median, _pipelineOptions.Requests));
                _medianAsk = GpuRequestParser.Parse(medianPod, _pipelineOptions.Requests);
            }

            var buckets = Math.Max(1, options.Buckets);
            _allocation = new Timeline(_horizon, buckets);
            _fragmentation = new Timeline(_horizon, buckets);
            _largest = new Timeline(_horizon, buckets);
            _completedSeries = new Timeline(_horizon, buckets);
            _pendingSeries = new Timeline(_horizon, buckets);
            _reservedSeries = new Timeline(_horizon, buckets);
            if (_tree is not null)
            {
                foreach (var queue in _jobs.Select(j => _tree.AccountFor(j.QueueLabel)).Distinct().Order(StringComparer.Ordinal))
                {
                    _queueSeries.Add((queue, new Timeline(_horizon, buckets), new Timeline(_horizon, buckets)));
                }
            }

            _largestGap = new double[_queueSeries.Count];
            _largestGapAt = new double[_queueSeries.Count];
        }

        private static string SignatureOf(PodFacts pod)
        {
            // Two pods with the same signature get the same answer from every check and score in the same state.
            static string Map(IReadOnlyDictionary<string, string> map) => string.Join(',', map.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
            static string Containers(IReadOnlyList<ContainerFacts> containers) =>
                string.Join(';', containers.Select(c => $"{Map(c.Requests)}|{Map(c.Limits)}|{c.IsRestartableInit}"));
            return $"{pod.Priority}#{pod.SchedulerName}#{Map(pod.Annotations)}#{pod.Labels.GetValueOrDefault(WellKnown.QueueLabel)}#{Containers(pod.Containers)}#{Containers(pod.InitContainers)}";
        }

        public PolicyRun Run()
        {
            var cursor = 0;
            var name = RunName();
            Sample(TimeSpan.Zero);
            while (true)
            {
                var nextArrival = cursor < _jobs.Count ? _jobs[cursor].Arrival : TimeSpan.MaxValue;
                var nextEnd = _ends.TryPeek(out _, out var end) ? end.At : TimeSpan.MaxValue;
                var nextReconcile = _starvation is null ? TimeSpan.MaxValue : _nextReconcile;
                var now = Min(Min(nextArrival, nextEnd), nextReconcile);
                if (now == TimeSpan.MaxValue || now > _horizon)
                {
                    break;
                }

                while (_ends.TryPeek(out var ending, out var at) && at.At == now)
                {
                    _ends.Dequeue();
                    if (ending.Job.Running && ending.Job.Generation == ending.Generation)
                    {
                        Complete(ending.Job);
                    }
                }

                while (cursor < _jobs.Count && _jobs[cursor].Arrival == now)
                {
                    Arrive(_jobs[cursor++], now);
                    if (cursor % Math.Max(1, _options.ProgressEvery) == 0)
                    {
                        _options.Progress?.Invoke(new SimulationProgress(name, now, cursor, _started, _jobs.Count));
                    }
                }

                Reconcile(now);
                Pass(now);
                Sample(now);
            }

            return Finish();
        }

        private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

        /// <summary>The policy's name, marked when the run reserves against starvation.</summary>
        private string RunName() => PolicyRules.Name(_policy) + (_starvation is null ? string.Empty : "+reserve");

        /// <summary>
        /// The service's starvation step on the simulated clock. A released reservation frees its devices for every
        /// pod; a held or grown one matters only to its own pod, which is always judged afresh (see <see cref="TrySchedule"/>).
        /// </summary>
        private void Reconcile(TimeSpan now)
        {
            if (_starvation is null)
            {
                return;
            }

            while (_nextReconcile <= now)
            {
                _nextReconcile += _options.ReconcileInterval;
            }

            var step = _starvation.Reconcile(_state, _pipeline, Snapshot, Clock(now));
            foreach (var released in step.Released)
            {
                Freed(released.Node);
            }
        }

        private void Freed(string node)
        {
            if (_nodeIndex.TryGetValue(node, out var k))
            {
                _freedAt[k] = ++_seq;
            }
        }

        private Reservation? ReservationOf(Job job) => _starvation is not null && _state.TryGetReservation(job.Uid, out var held) ? held : null;

        private void Arrive(Job job, TimeSpan now)
        {
            job.Pending = true;
            job.PendingSince = now;
            _state.UpsertPod(job.Pod);
            Insert(job);
        }

        private void Insert(Job job)
        {
            var at = _pending.BinarySearch(job, Comparer<Job>.Create(QueueOrder));
            _pending.Insert(at < 0 ? ~at : at, job);
        }

        private void Complete(Job job)
        {
            _state.RemovePod(job.Uid);
            Stop(job);
            job.Done = true;
            _completed++;
        }

        private void Stop(Job job)
        {
            job.Running = false;
            job.Generation++;
            _runningPriorities[job.Priority]--;
            if (_runningPriorities[job.Priority] == 0)
            {
                _runningPriorities.Remove(job.Priority);
            }

            _freedAt[_nodeIndex[job.Node!]] = ++_seq;
            job.Node = null;
        }

        /// <summary>Tries every pending pod once, in queue order; victims of preemption are queued again and get a further pass.</summary>
        private void Pass(TimeSpan now)
        {
            for (var round = 0; round < 8; round++)
            {
                for (var i = 0; i < _pending.Count; i++)
                {
                    if (_pending[i].Pending)
                    {
                        TrySchedule(_pending[i], now, allowPreemption: true);
                    }
                }

                _pending.RemoveAll(j => !j.Pending);
                if (_requeued.Count == 0)
                {
                    return;
                }

                foreach (var job in _requeued.Where(j => j.Pending))
                {
                    Insert(job);
                }

                _requeued.Clear();
            }
        }

        private QueueSnapshot? Snapshot()
        {
            if (_tree is null)
            {
                return null;
            }

            if (_snapshotVersion != _state.Version)
            {
                _snapshot = _state.QueueSnapshot(_tree, _options.SchedulerName);
                _snapshotVersion = _state.Version;
            }

            return _snapshot;
        }

        private DateTimeOffset Clock(TimeSpan now) => _options.Epoch + now;

        /// <summary>Filter, prioritize and bind for one pod; on "not now", preemption when the pod outranks running pods.</summary>
        private bool TrySchedule(Job job, TimeSpan now, bool allowPreemption)
        {
            // A pod that holds a reservation is judged on its own: its reserved devices are free for it alone, so what
            // its signature's other pods found says nothing of it.
            var reservation = ReservationOf(job);
            if (reservation is null && _failedAtVersion[job.Signature] == _state.Version)
            {
                return false; // a pod with the same ask failed in this very state
            }

            _attempts++;
            var evaluation = _pipeline.EvaluatePod(job.Pod, Clock(now), Snapshot(), reservation);
            FitResult refusal;
            if (evaluation.Refusal is { } podRefusal)
            {
                if (podRefusal.Outcome == FitOutcome.NeverFits)
                {
                    Refuse(job, podRefusal.Code);
                    return false;
                }

                refusal = podRefusal;
            }
            else
            {
                var (best, fit, reason, anyFull, fullScan) = Filter(job, evaluation, reservation);
                if (best is not null)
                {
                    Bind(job, best, evaluation, fit!, now);
                    if (reservation is not null && reservation.Node != best.Name)
                    {
                        Freed(reservation.Node); // it fit elsewhere first: its reservation went
                    }

                    return true;
                }

                if (fullScan && !anyFull)
                {
                    Refuse(job, reason?.Code ?? "node-selector");
                    return false;
                }

                // Nothing fits as of now; until a node frees capacity, only freed nodes need looking at again.
                if (reservation is null)
                {
                    _noFitSince[job.Signature] = _seq;
                }

                refusal = reason ?? FitResult.Full("full", "no node has room");
            }

            _firstRefusal ??= new FirstRefusal(now.TotalSeconds, AllocationPercent(), job.Pod.Key, refusal.Reason);
            var version = _state.Version;
            if (allowPreemption && job.PreemptionBlockedAt != now && _runningPriorities.Count > 0 && _runningPriorities.First().Key < job.Priority
                && TryPreempt(job, evaluation, now))
            {
                return true;
            }

            if (reservation is null)
            {
                _failedAtVersion[job.Signature] = version == _state.Version ? version : -1;
            }

            return false;
        }

        /// <summary>Filter and prioritize over the nodes that may take the pod: the highest score wins, ties by node name.</summary>
        private (Pipeline.NodeCandidate? Best, FitResult? Fit, FitResult? Reason, bool AnyFull, bool FullScan) Filter(Job job, PodEvaluation evaluation, Reservation? reservation)
        {
            var since = reservation is null ? _noFitSince[job.Signature] : -1;
            Pipeline.NodeCandidate? best = null;
            FitResult? bestFit = null;
            FitResult? reason = null;
            var bestScore = -1;
            var anyFull = false;
            for (var k = 0; k < _nodeNames.Length; k++)
            {
                if ((since >= 0 && _freedAt[k] <= since) || job.Eligible?[k] == false)
                {
                    continue; // it had no room at `since` and nothing left it since; or kube-scheduler's nodeSelector keeps the pod off it
                }

                _state.TryGetNode(_nodeNames[k], out var node);
                if (job.Request.IsValid && reservation?.Node != node!.Name && FreeMilli(node.Usage) < MinimumShareMilli(job.Request, node.Usage))
                {
                    // Exact shortcut: the fit would say "full" (too little free capacity on the whole node).
                    anyFull = true;
                    reason ??= FitResult.Full("full", $"no node has room for {job.Request.Describe()}");
                    continue;
                }

                var fit = _pipeline.EvaluateNode(evaluation, node!);
                if (fit.Fits)
                {
                    var score = _pipeline.Score(evaluation, node!, fit);
                    if (score > bestScore)
                    {
                        (best, bestFit, bestScore) = (node, fit, score);
                    }
                }
                else
                {
                    anyFull |= fit.Outcome == FitOutcome.FullNow;
                    if (reason is null || (fit.Outcome == FitOutcome.FullNow && reason.Outcome != FitOutcome.FullNow))
                    {
                        reason = fit;
                    }
                }
            }

            return (best, bestFit, reason, anyFull, since < 0);
        }

        private void Bind(Job job, Pipeline.NodeCandidate node, PodEvaluation evaluation, FitResult fit, TimeSpan now)
        {
            // As the service's bind: re-fit under the node's lock against the latest usage (here nothing changed since filter).
            var result = _state.Reserve(job.Pod, node.Name, n => _pipeline.EvaluateNode(evaluation, n));
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"simulator: pod {job.Pod.Key} passed filter on {node.Name} (\"{fit.Reason}\") but its bind failed: {result.Reason}");
            }

            job.Pending = false;
            job.Running = true;
            job.Node = node.Name;
            job.PendingSeconds += (now - job.PendingSince).TotalSeconds;
            job.LastStart = now;
            if (job.FirstStart is null)
            {
                job.FirstStart = now;
                _started++;
            }

            _runningPriorities[job.Priority] = _runningPriorities.GetValueOrDefault(job.Priority) + 1;
            _ends.Enqueue((job, job.Generation), (now + job.Duration, _endOrder++));
        }

        private void Refuse(Job job, string code)
        {
            job.Pending = false;
            _state.RemovePod(job.Uid);
            _refused[code] = _refused.GetValueOrDefault(code) + 1;
        }

        /// <summary>
        /// kube-scheduler's preemption with the extender's preempt verb: per node, the lower-priority pods as victims,
        /// reprieved most important first while the pod still fits; then the queue rules keep only the victims reclaim
        /// allows, and the node stays a candidate if the pod fits without them. The node whose victims matter least
        /// (lowest highest priority, lowest sum, fewest; then name) is chosen, its victims evicted and queued again.
        /// </summary>
        private bool TryPreempt(Job job, PodEvaluation evaluation, TimeSpan now)
        {
            if (_preemptionFailedAtSeq[job.Signature] == _seq)
            {
                // This ask found no victims and nothing was freed since: it tries again when capacity is freed, not
                // after every bind (a bind could only tip the queue rules, never open room).
                return false;
            }

            // Judged without the queue check, as the preempt verb does: admission counts the usage preemption frees.
            var unchecked_ = evaluation with { Refusal = null };
            (string Node, List<Job> Victims, (int Max, long Sum, int Count) Rank)? best = null;
            for (var k = 0; k < _nodeNames.Length; k++)
            {
                if (job.Eligible?[k] == false)
                {
                    continue;
                }

                var name = _nodeNames[k];
                _state.TryGetNode(name, out var found);
                var node = found!;
                if (!_victimCache.TryGetValue((job.Signature, k), out var cached) || !ReferenceEquals(cached.Usage, node.Usage))
                {
                    // kube-scheduler's part depends only on the node's holds and the pods' priorities: usage snapshots
                    // are immutable, so it is computed again only when the node changed.
                    cached = (node.Usage, KubeSchedulerVictims(job, unchecked_, node));
                    _victimCache[(job.Signature, k)] = cached;
                }

                if (cached.Victims is not { } kubeVictims)
                {
                    continue;
                }

                if (kubeVictims.Count == 0)
                {
                    continue; // it fits without evicting anyone: what stops it is not room (its queue, say)
                }

                // The preempt verb's own rules: the queue's say on each victim, then the re-fit without the kept ones.
                var kept = Preemption.VictimsOn(_state, _pipeline, evaluation, name, [.. kubeVictims.Select(v => v.Uid)]);
                if (kept is null)
                {
                    continue;
                }

                var keptUids = kept.ToHashSet(StringComparer.Ordinal);
                List<Job> victims = [.. kubeVictims.Where(v => keptUids.Contains(v.Uid))];
                var rank = (victims.Max(v => v.Priority), victims.Sum(v => (long)v.Priority), victims.Count);
                if (best is null || rank.CompareTo(best.Value.Rank) < 0)
                {
                    best = (name, victims, rank);
                }
            }

            if (best is not { } chosen)
            {
                _preemptionFailedAtSeq[job.Signature] = _seq;
                return false;
            }

            foreach (var victim in chosen.Victims)
            {
                _state.RemovePod(victim.Uid);
                Stop(victim);
                _state.UpsertPod(victim.Pod);
                victim.Pending = true;
                victim.PendingSince = now;
                _requeued.Add(victim);
                _preemptions++;
            }

            if (TrySchedule(job, now, allowPreemption: false))
            {
                return true;
            }

            job.PreemptionBlockedAt = now; // its victims are gone; it waits for the next change rather than taking more
            return false;
        }

        /// <summary>
        /// kube-scheduler's victims on one node: every lower-priority pod removed, then reprieved most important first
        /// (higher priority, then earlier start) while the pod still fits; null when the node cannot take it even so.
        /// </summary>
        private List<Job>? KubeSchedulerVictims(Job job, PodEvaluation evaluation, Pipeline.NodeCandidate node)
        {
            var holds = node.Usage.Holds;
            var lower = new List<Job>();
            foreach (var uid in holds.Keys)
            {
                if (_byUid.TryGetValue(uid, out var other) && other.Running && other.Priority < job.Priority)
                {
                    lower.Add(other);
                }
            }

            if (lower.Count == 0)
            {
                return null;
            }

            var reclaimable = FreeMilli(node.Usage);
            foreach (var victim in lower)
            {
                reclaimable += HeldMilli(node.Usage, holds[victim.Uid]);
            }

            if (reclaimable < MinimumShareMilli(job.Request, node.Usage))
            {
                return null; // even without every lower-priority pod the node would be too full
            }

            var usage = node.Usage;
            foreach (var victim in lower)
            {
                usage = usage.Without(victim.Uid);
            }

            if (!_pipeline.EvaluateNode(evaluation, node with { Usage = usage }).Fits)
            {
                return null;
            }

            var victims = new List<Job>();
            foreach (var victim in lower.OrderByDescending(v => v.Priority).ThenBy(v => v.LastStart).ThenBy(v => v.Index))
            {
                var back = usage.With(holds[victim.Uid]);
                if (_pipeline.EvaluateNode(evaluation, node with { Usage = back }).Fits)
                {
                    usage = back;
                }
                else
                {
                    victims.Add(victim);
                }
            }

            return victims;
        }

        private static long FreeMilli(Allocation.NodeUsage usage) => (usage.Inventory.Gpus.Count * 1000L) - usage.UsedMilliTotal;

        /// <summary>At most what removing a hold frees: per GPU the larger of its compute and memory share.</summary>
        private static long HeldMilli(Allocation.NodeUsage usage, Allocation.PodHold hold)
        {
            long milli = 0;
            foreach (var grant in hold.Allocation.Gpus)
            {
                var gpu = usage.Inventory.Gpus.FirstOrDefault(g => g.Index == grant.Index);
                var memory = gpu is { MemoryMiB: > 0 } ? grant.MemoryMiB * 1000 / gpu.MemoryMiB : 0;
                milli += hold.Allocation.Kind == Allocation.AllocationKind.Whole && gpu is { IsPartitioned: false } ? 1000 : Math.Max(grant.ComputeMilli, memory);
            }

            return milli;
        }

        /// <summary>
        /// A lower bound of the GPU capacity (thousandths) the ask takes on this node: N partitions or GPUs for a
        /// whole ask, the compute share for a shared one; 0 when time-slicing oversubscription makes no bound hold.
        /// </summary>
        private long MinimumShareMilli(GpuRequest request, Allocation.NodeUsage usage)
        {
            var gpus = usage.Inventory.Gpus;
            if (gpus.Count == 0 || !request.WantsGpu)
            {
                return 0;
            }

            if (request.Kind == GpuAskKind.Whole)
            {
                return request.WholeCount * (long)gpus.Min(g => g.PartitionComputeMilli);
            }

            if (request.Isolation == GpuIsolation.TimeSlicing && _pipelineOptions.Placement.TimeSlicingCapacityMilli > 1000)
            {
                return 0;
            }

            return gpus.Min(g => request.ComputeMilliOn(g.MemoryMiB));
        }

        private double AllocationPercent()
        {
            long used = 0;
            foreach (var name in _nodeNames)
            {
                _state.TryGetNode(name, out var node);
                used += node!.Usage.UsedMilliTotal;
            }

            return 100.0 * used / _capacityMilli;
        }

        private void Sample(TimeSpan now)
        {
            var pendingCount = _pending.Count(j => j.Pending) + _requeued.Count(j => j.Pending);
            _completedSeries.Set(now, _completed);
            _pendingSeries.Set(now, pendingCount);
            if (_starvation is not null)
            {
                // Reservations are few: their held share is summed from the state's list, not from every node.
                _reservedSeries.Set(now, 100.0 * _state.Reservations().Sum(r => r.Allocation.TotalComputeMilli) / _capacityMilli);
            }
            if (_sampledVersion == _state.Version)
            {
                return;
            }

            _sampledVersion = _state.Version;
            long used = 0;
            long stranded = 0;
            var largest = 0;
            for (var k = 0; k < _nodeNames.Length; k++)
            {
                _state.TryGetNode(_nodeNames[k], out var node);
                var usage = node!.Usage;
                if (!ReferenceEquals(_measured[k].Usage, usage))
                {
                    // Usage snapshots are immutable: a node whose snapshot did not change measures the same.
                    var nodeStranded = _medianAsk is null ? 0 : CapacityMeasures.StrandedMilli(usage, _medianAsk, _pipelineOptions.Placement);
                    _measured[k] = (usage, nodeStranded, CapacityMeasures.IdleGpus(usage, unpartitionedOnly: _hasUnpartitionedGpus));
                }

                used += usage.UsedMilliTotal;
                stranded += _measured[k].Stranded;
                largest = Math.Max(largest, _measured[k].Idle);
            }

            _allocation.Set(now, 100.0 * used / _capacityMilli);
            _fragmentation.Set(now, 100.0 * stranded / _capacityMilli);
            _largest.Set(now, largest);
            if (Snapshot() is { } snapshot)
            {
                for (var q = 0; q < _queueSeries.Count; q++)
                {
                    var (queue, allocated, fair) = _queueSeries[q];
                    var a = snapshot.UsageOf(queue).Gpu / 1000.0;
                    var f = snapshot.FairShareOf(queue).Gpu / 1000.0;
                    allocated.Set(now, a);
                    fair.Set(now, f);
                    if (f - a > _largestGap[q])
                    {
                        _largestGap[q] = f - a;
                        _largestGapAt[q] = now.TotalSeconds;
                    }
                }
            }
        }

        private PolicyRun Finish()
        {
            var waits = new List<double>();
            var byClass = SizeClasses.ToDictionary(c => c, _ => new List<double>(), StringComparer.Ordinal);
            var pendingByClass = SizeClasses.ToDictionary(c => c, _ => 0, StringComparer.Ordinal);
            var pendingAtHorizon = 0;
            var runningAtHorizon = 0;
            foreach (var job in _jobs)
            {
                var wait = job.PendingSeconds;
                if (job.Pending)
                {
                    wait += (_horizon - job.PendingSince).TotalSeconds;
                    pendingAtHorizon++;
                    pendingByClass[job.SizeClass]++;
                }
                else if (job.FirstStart is null)
                {
                    continue; // refused for good: it never waited for capacity
                }

                runningAtHorizon += job.Running ? 1 : 0;
                waits.Add(wait);
                byClass[job.SizeClass].Add(wait);
            }

            var allocation = _allocation.Finish();
            var fragmentation = _fragmentation.Finish();
            var completed = _completedSeries.Finish();
            var queues = new List<QueueTimeline>();
            for (var q = 0; q < _queueSeries.Count; q++)
            {
                var (queue, allocated, fair) = _queueSeries[q];
                var a = allocated.Finish();
                var f = fair.Finish();
                queues.Add(new QueueTimeline(queue, a.Mean, f.Mean, a.Overall, f.Overall, _largestGap[q], _largestGapAt[q]));
            }

            return new PolicyRun
            {
                Policy = RunName(),
                Pods = _jobs.Count,
                Completed = _completed,
                Started = _started,
                RunningAtHorizon = runningAtHorizon,
                PendingAtHorizon = pendingAtHorizon,
                Refused = new SortedDictionary<string, int>(_refused, StringComparer.Ordinal),
                Preemptions = _preemptions,
                FirstRefusal = _firstRefusal,
                MeanAllocationPercent = allocation.Overall,
                MeanFragmentationPercent = fragmentation.Overall,
                Wait = WaitStats.Of(waits, pendingAtHorizon),
                WaitBySize = [.. SizeClasses.Where(c => byClass[c].Count > 0).Select(c => new SizeClassWaits(c, WaitStats.Of(byClass[c], pendingByClass[c])))],
                AllocationPercent = allocation.Mean,
                FragmentationPercent = fragmentation.Mean,
                LargestWholeGpuAsk = _largest.Finish().Min,
                CompletedSoFar = completed.Max,
                Pending = _pendingSeries.Finish().Mean,
                MeanReservedPercent = _reservedSeries.Finish().Overall,
                Queues = queues,
                Attempts = _attempts,
            };
        }
    }
}

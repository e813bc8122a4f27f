using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Verbs;

/// <summary>
/// The four extender verbs over the in-memory state. Filter, prioritize and preempt only read memory;
/// bind goes through the <see cref="IPodBinder"/>.
/// </summary>
internal sealed partial class ExtenderVerbs(
    ClusterState state,
    SchedulingPipeline pipeline,
    PendingPods pending,
    IPodBinder binder,
    TimeProvider time,
    ILogger<ExtenderVerbs> log,
    IOptions<ExtenderOptions> options,
    ExtenderMetrics? metrics = null,
    QueueState? queues = null,
    ClusterMode? mode = null,
    GangReconciler? gangs = null)
{
    private readonly IReadOnlyList<string> _schedulerNames = options.Value.EffectiveSchedulerNames;

    public ExtenderFilterResult Filter(ExtenderArgs args)
    {
        var (evaluation, candidates) = Prepare(args);
        if ((evaluation.Context.Gang is not null || evaluation.Context.Request.Kind == GpuAskKind.Whole) && state.KeepsOfferedNodes(evaluation.Context.Pod.Uid))
        {
            // A gang member's or a whole-GPU pod's candidates are the nodes kube-scheduler's own checks let it go to:
            // its gang's plan or its starving reservation keeps to them.
            state.RecordOfferedNodes(evaluation.Context.Pod.Uid, [.. candidates.Select(c => c.Name)]);
        }

        var result = new ExtenderFilterResult();
        var passedNames = new List<string>(candidates.Count);
        var passedNodes = args.NodeNames is null ? new List<NodePayload>(candidates.Count) : null;
        var decisions = new List<FitResult>(candidates.Count);
        foreach (var (name, node, requestNode) in candidates)
        {
            var fit = Evaluate(evaluation, name, node);
            decisions.Add(fit);
            switch (fit.Outcome)
            {
                case FitOutcome.Fits:
                    passedNames.Add(name);
                    if (requestNode is not null)
                    {
                        passedNodes?.Add(requestNode);
                    }

                    break;
                case FitOutcome.FullNow:
                    result.FailedNodes[name] = fit.Reason;
                    break;
                default:
                    result.FailedAndUnresolvableNodes[name] = fit.Reason;
                    break;
            }

            if (log.IsEnabled(LogLevel.Debug))
            {
                LogDecision(log, "filter", evaluation.Context.Pod.Key, name, fit.Outcome, fit.Reason);
            }
        }

        if (pipeline.PassesOnlyBestNode && passedNames.Count > 1)
        {
            PassOnlyBest(evaluation, candidates, decisions, result, passedNames, passedNodes);
        }

        if (args.NodeNames is not null)
        {
            result.NodeNames = passedNames;
        }
        else
        {
            result.Nodes = new NodeListPayload { ApiVersion = args.Nodes?.ApiVersion, Kind = args.Nodes?.Kind, Items = passedNodes!, Metadata = args.Nodes?.Metadata };
        }

        metrics?.RecordDecisions("filter", decisions);
        return result;
    }

    /// <summary>
    /// Keeps of the passed nodes only the one that scores best, as the plain path does (<see cref="SchedulingPipeline.Best"/>),
    /// and lists the others as failed with <see cref="SchedulingPipeline.PassedOverReason"/>.
    /// </summary>
    private void PassOnlyBest(
        PodEvaluation evaluation,
        List<(string Name, NodeCandidate? Node, NodePayload? RequestNode)> candidates,
        List<FitResult> decisions,
        ExtenderFilterResult result,
        List<string> passedNames,
        List<NodePayload>? passedNodes)
    {
        var fitting = new List<int>(passedNames.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            if (decisions[i].Fits && candidates[i].Node is not null)
            {
                fitting.Add(i);
            }
        }

        if (fitting.Count == 0)
        {
            return;
        }

        var nodes = fitting.Select(i => candidates[i].Node!).ToArray();
        var verdicts = fitting.Select(i => FitVerdict.Of(decisions[i])).ToArray();
        var best = candidates[fitting[pipeline.Best(evaluation, nodes, verdicts)]];
        passedNames.Clear();
        passedNames.Add(best.Name);
        if (passedNodes is not null)
        {
            passedNodes.Clear();
            passedNodes.Add(best.RequestNode!);
        }

        foreach (var i in fitting)
        {
            if (candidates[i].Name != best.Name)
            {
                result.FailedNodes[candidates[i].Name] = SchedulingPipeline.PassedOverReason;
            }
        }
    }

    public List<HostPriority> Prioritize(ExtenderArgs args)
    {
        var (evaluation, candidates) = Prepare(args);
        var scores = new List<HostPriority>(candidates.Count);
        var decisions = new List<FitResult>(candidates.Count);
        foreach (var (name, node, _) in candidates)
        {
            var fit = Evaluate(evaluation, name, node);
            decisions.Add(fit);
            var score = node is null ? 0 : pipeline.Score(evaluation, node, fit);
            scores.Add(new HostPriority { Host = name, Score = score });
        }

        metrics?.RecordDecisions("prioritize", decisions);
        return scores;
    }

    /// <summary>
    /// Binds the pod as kube-scheduler last showed it (the newest filter copy, else the cluster's), once the core's
    /// <see cref="BindRules"/> find it ours: a refused bind makes no reservation and no API call.
    /// </summary>
    public async Task<ExtenderBindingResult> BindPodAsync(BindTarget target, CancellationToken cancellationToken)
    {
        var key = target.Key;
        var inCluster = state.TryGetPod(target.PodUid, out var known, out _) ? known : null;
        var pod = pending.Find(target.PodUid)?.Pod ?? inCluster;
        if (pod is null)
        {
            LogBindFailed(log, key, target.Node, "unknown pod");
            metrics?.RecordBind(false, "unknown-pod");
            return new ExtenderBindingResult { Error = $"pod {key} (uid {target.PodUid}) is not known to the extender: it was not filtered here and is not in the cluster" };
        }

        if (BindRules.Refusal(target, pod, inCluster, _schedulerNames) is { } refusal)
        {
            LogBindFailed(log, key, target.Node, refusal);
            metrics?.RecordBind(false, "not-ours");
            return new ExtenderBindingResult { Error = refusal };
        }

        var outcome = await binder.BindAsync(pod, target.Node, cancellationToken).ConfigureAwait(false);
        if (!outcome.Succeeded)
        {
            LogBindFailed(log, key, target.Node, outcome.Error!);
            metrics?.RecordBind(false, "bind-failed");
            return new ExtenderBindingResult { Error = outcome.Error! };
        }

        metrics?.RecordBind(true, "bound");
        pending.Forget(target.PodUid);
        LogBound(log, key, target.Node, outcome.VisibleDevices ?? "none");
        return new ExtenderBindingResult();
    }

    /// <summary>
    /// Offers, per node, the victims the core's <see cref="Preemption"/> rules allow; a node whose victims are all
    /// refused, or where the pod would not fit without them, is dropped. Only a preemptor of our schedulers gets any.
    /// </summary>
    public ExtenderPreemptionResult Preempt(ExtenderPreemptionArgs args)
    {
        var result = new ExtenderPreemptionResult();
        var scheduler = string.IsNullOrEmpty(args.Pod.SchedulerName) ? BindRules.DefaultSchedulerName : args.Pod.SchedulerName;
        if (!_schedulerNames.Contains(scheduler))
        {
            return result;
        }

        var evaluation = pipeline.EvaluatePod(args.Pod, time.GetUtcNow(), queues?.Current(), ReservationOf(args.Pod), gangs?.ViewFor(args.Pod));
        foreach (var (nodeName, nodeVictims) in args.Victims.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var uids = nodeVictims.Pods.Select(v => v.Uid).ToList();
            if (Preemption.VictimsOn(state, pipeline, evaluation, nodeName, uids) is { } kept)
            {
                result.NodeNameToMetaVictims[nodeName] = new MetaVictims
                {
                    Pods = [.. kept.Select(uid => new MetaPod { Uid = uid })],
                    NumPdbViolations = nodeVictims.NumPdbViolations,
                };
            }
        }

        return result;
    }

    /// <summary>Remembers the pod for its bind and runs the pod checks, once per call.</summary>
    private PodEvaluation Prepare(PodFacts pod)
    {
        Remember(pod);
        return pipeline.EvaluatePod(pod, time.GetUtcNow(), queues?.Current(), ReservationOf(pod), gangs?.ViewFor(pod));
    }

    private Reservation? ReservationOf(PodFacts pod) => state.TryGetReservation(pod.Uid, out var reservation) ? reservation : null;

    private (PodEvaluation Evaluation, List<(string Name, NodeCandidate? Node, NodePayload? RequestNode)> Candidates) Prepare(ExtenderArgs args)
    {
        var evaluation = Prepare(args.Pod);
        var candidates = new List<(string, NodeCandidate?, NodePayload?)>();
        if (args.NodeNames is not null)
        {
            foreach (var name in args.NodeNames)
            {
                candidates.Add((name, state.TryGetNode(name, out var node) ? node : null, null));
            }
        }
        else
        {
            foreach (var requestNode in args.Nodes!.Items)
            {
                var facts = requestNode.Facts;
                candidates.Add((facts.Name, state.TryGetNode(facts.Name, out var node) ? node : FromRequest(facts), requestNode));
            }
        }

        return (evaluation, candidates);
    }

    /// <summary>
    /// Keeps the pod as last seen for its bind. Standalone has no informer, so a pod kube-scheduler shows us is also a
    /// pending pod of the cluster (it counts in its queue's demand, as in live mode) while it is remembered; it holds
    /// nothing, whatever node or record the body claims. Pods forgotten for room stop counting.
    /// </summary>
    private void Remember(PodFacts pod)
    {
        // A pod this filter registered before is registered again as it is now (its ask may have changed); a pod the
        // cluster file holds is left as the file has it.
        var registered = mode?.Kind == ClusterModeKind.Standalone
            && (pending.Find(pod.Uid)?.Registered == true || !state.ContainsPod(pod.Uid))
            && state.RegisterPending(pod);

        foreach (var forgotten in pending.Remember(pod, registered))
        {
            if (forgotten.Registered)
            {
                state.ForgetPending(forgotten.Pod.Uid);
            }
        }
    }

    /// <summary>A node kube-scheduler knows and we do not yet: judged from its own labels, with nothing allocated.</summary>
    private static NodeCandidate FromRequest(NodeFacts facts) => new(facts, NodeUsage.Create(InventoryReader.Read(facts)));

    private FitResult Evaluate(PodEvaluation evaluation, string name, NodeCandidate? node)
    {
        if (node is not null)
        {
            return pipeline.EvaluateNode(evaluation, node);
        }

        if (evaluation.Unresolvable is { } reason)
        {
            return FitResult.Never("invalid-request", reason);
        }

        // Not seen yet (a node just added): a GPU pod waits for it; a pod without GPUs does not need us.
        return evaluation.Context.Request.WantsGpu
            ? FitResult.Full("unknown-node", $"node {name} is not known to the extender yet")
            : FitResult.NoGpuNeeded;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "{Verb} {Pod} on {Node}: {Outcome}, {Reason}")]
    private static partial void LogDecision(ILogger logger, string verb, LogText pod, LogText node, FitOutcome outcome, LogText reason);

    // Debug: a line per pod was a tenth of the extender's CPU in a burst (console logger contention). The record on the
    // pod, its GpuAllocated event and kaiwo_extender_decisions_total{verb="bind"} say the same; failures stay at Information.
    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Bound {Pod} to {Node}, devices {Devices}")]
    private static partial void LogBound(ILogger logger, LogText pod, LogText node, LogText devices);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Bind of {Pod} to {Node} refused: {Reason}")]
    private static partial void LogBindFailed(ILogger logger, LogText pod, LogText node, LogText reason);
}

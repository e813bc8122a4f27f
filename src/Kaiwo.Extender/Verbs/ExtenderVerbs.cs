using k8s.Models;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Verbs;

/// <summary>A request that is well-formed JSON but not a usable extender request: answered with HTTP 400.</summary>
internal sealed class BadExtenderRequestException(string message) : Exception(message);

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
    ExtenderMetrics? metrics = null,
    QueueState? queues = null,
    ClusterMode? mode = null)
{
    public ExtenderFilterResult Filter(ExtenderArgs args)
    {
        var (evaluation, candidates) = Prepare(args);
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

            LogDecision(log, "filter", evaluation.Context.Pod.Key, name, fit.Outcome, fit.Reason);
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

    public async Task<ExtenderBindingResult> BindPodAsync(ExtenderBindingArgs args, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(args.PodName) || string.IsNullOrEmpty(args.PodNamespace) || string.IsNullOrEmpty(args.PodUid) || string.IsNullOrEmpty(args.Node))
        {
            throw new BadExtenderRequestException("ExtenderBindingArgs needs PodName, PodNamespace, PodUID and Node; got " +
                $"PodName=\"{args.PodName}\", PodNamespace=\"{args.PodNamespace}\", PodUID=\"{args.PodUid}\", Node=\"{args.Node}\"");
        }

        var key = $"{args.PodNamespace}/{args.PodName}";
        var pod = state.TryGetPod(args.PodUid, out var known, out _) ? known : pending.Find(args.PodUid);
        if (pod is null)
        {
            LogBindFailed(log, key, args.Node, "unknown pod");
            metrics?.RecordBind(false, "unknown-pod");
            return new ExtenderBindingResult { Error = $"pod {key} (uid {args.PodUid}) is not known to the extender: it was not filtered here and is not in the cluster" };
        }

        if (pod.Namespace != args.PodNamespace || pod.Name != args.PodName)
        {
            metrics?.RecordBind(false, "uid-mismatch");
            return new ExtenderBindingResult { Error = $"pod uid {args.PodUid} belongs to {pod.Key}, not {key}" };
        }

        var evaluation = pipeline.EvaluatePod(pod, time.GetUtcNow(), queues?.ForFilter());
        if (evaluation.Unresolvable is { } reason)
        {
            LogBindFailed(log, key, args.Node, reason);
            metrics?.RecordBind(false, "invalid-request");
            return new ExtenderBindingResult { Error = $"pod {key} cannot be placed: {reason}" };
        }

        var outcome = await binder.BindAsync(pod, args.Node, evaluation, cancellationToken).ConfigureAwait(false);
        if (!outcome.Succeeded)
        {
            LogBindFailed(log, key, args.Node, outcome.Error!);
            metrics?.RecordBind(false, "bind-failed");
            return new ExtenderBindingResult { Error = outcome.Error! };
        }

        metrics?.RecordBind(true, "bound");
        pending.Forget(args.PodUid);
        LogBound(log, key, args.Node, outcome.VisibleDevices ?? "none");
        return new ExtenderBindingResult();
    }

    /// <summary>
    /// Filters the scheduler's victims by queue (see <see cref="QueueReclaim"/>) when there are queues, and keeps a node
    /// only if removing the victims left there lets the pod fit; a node whose victims are all refused is dropped.
    /// </summary>
    public ExtenderPreemptionResult Preempt(ExtenderPreemptionArgs args)
    {
        if (args.Pod is null || KubernetesFacts.ToFacts(args.Pod) is not { } pod)
        {
            throw new BadExtenderRequestException("ExtenderPreemptionArgs.Pod is missing or has no metadata.name");
        }

        var victims = args.NodeNameToMetaVictims
            ?? args.NodeNameToVictims?.ToDictionary(
                p => p.Key,
                p => new MetaVictims
                {
                    Pods = p.Value?.Pods?.Select(v => new MetaPod { Uid = v.Metadata?.Uid ?? string.Empty }).ToList() ?? [],
                    NumPdbViolations = p.Value?.NumPdbViolations ?? 0,
                })
            ?? [];

        var snapshot = queues?.ForFilter();
        var evaluation = pipeline.EvaluatePod(pod, time.GetUtcNow(), snapshot);
        var leaf = snapshot?.Tree.LeafFor(pod.Labels.GetValueOrDefault(Scheduling.WellKnown.QueueLabel)).Queue;
        var result = new ExtenderPreemptionResult();
        foreach (var (nodeName, nodeVictims) in victims.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (nodeVictims is null || evaluation.Unresolvable is not null)
            {
                continue;
            }

            if (!state.TryGetNode(nodeName, out var node))
            {
                // A node we do not track holds no GPUs of ours: only a pod without a GPU ask can use it.
                if (!evaluation.Context.Request.WantsGpu)
                {
                    result.NodeNameToMetaVictims[nodeName] = nodeVictims;
                }

                continue;
            }

            var kept = snapshot is not null && leaf is not null
                ? AllowedByQueues(snapshot, leaf, pod, evaluation, nodeVictims.Pods)
                : nodeVictims.Pods;
            if (kept.Count == 0)
            {
                continue;
            }

            var usage = node!.Usage;
            foreach (var victim in kept)
            {
                usage = usage.Without(victim.Uid);
            }

            // Judged without the queue check: admission counts the victims' usage, which preemption is about to free.
            var fit = pipeline.EvaluateNode(evaluation with { Refusal = null }, node with { Usage = usage });
            if (fit.Fits)
            {
                result.NodeNameToMetaVictims[nodeName] = new MetaVictims { Pods = [.. kept], NumPdbViolations = nodeVictims.NumPdbViolations };
            }
        }

        return result;
    }

    private List<MetaPod> AllowedByQueues(QueueSnapshot snapshot, string leaf, PodFacts preemptor, PodEvaluation evaluation, List<MetaPod> victims)
    {
        var candidates = new List<VictimCandidate>();
        var unknown = new List<MetaPod>();
        foreach (var victim in victims)
        {
            if (state.TryGetPod(victim.Uid, out var facts, out var allocation))
            {
                var request = GpuRequestParser.Parse(facts!, new RequestOptions());
                candidates.Add(new VictimCandidate(victim.Uid, facts!.Labels.GetValueOrDefault(Scheduling.WellKnown.QueueLabel), facts.Priority, PodResources.Usage(facts, allocation, request)));
            }
            else
            {
                unknown.Add(victim); // not ours to judge: kube-scheduler chose it and we know nothing against it
            }
        }

        var allowed = QueueReclaim.Allowed(snapshot, leaf, preemptor.Priority, PodResources.Request(preemptor, evaluation.Context.Request), candidates)
            .Select(v => v.Uid)
            .ToHashSet(StringComparer.Ordinal);
        return [.. victims.Where(v => allowed.Contains(v.Uid) || unknown.Contains(v))];
    }

    private (PodEvaluation Evaluation, List<(string Name, NodeCandidate? Node, NodePayload? RequestNode)> Candidates) Prepare(ExtenderArgs args)
    {
        if (args.Pod is null || KubernetesFacts.ToFacts(args.Pod) is not { } pod)
        {
            throw new BadExtenderRequestException("ExtenderArgs.Pod is missing or has no metadata.name");
        }

        if (args.NodeNames is null && args.Nodes is null)
        {
            throw new BadExtenderRequestException("ExtenderArgs needs NodeNames (nodeCacheCapable: true) or Nodes.items (nodeCacheCapable: false); both are null");
        }

        pending.Remember(pod);
        if (mode?.Kind == ClusterModeKind.Standalone && !state.TryGetPod(pod.Uid, out _, out _))
        {
            // Standalone has no informer: a pod kube-scheduler shows us is a pending pod of the cluster from now on,
            // so that it counts in its queue's demand as it would in live mode.
            state.UpsertPod(pod);
        }

        var evaluation = pipeline.EvaluatePod(pod, time.GetUtcNow(), queues?.ForFilter());
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
                if (requestNode.Facts is not { } facts)
                {
                    throw new BadExtenderRequestException("ExtenderArgs.Nodes.items has a node without metadata.name");
                }

                candidates.Add((facts.Name, state.TryGetNode(facts.Name, out var node) ? node : FromRequest(facts), requestNode));
            }
        }

        return (evaluation, candidates);
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

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Bound {Pod} to {Node}, devices {Devices}")]
    private static partial void LogBound(ILogger logger, LogText pod, LogText node, LogText devices);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Bind of {Pod} to {Node} refused: {Reason}")]
    private static partial void LogBindFailed(ILogger logger, LogText pod, LogText node, LogText reason);
}

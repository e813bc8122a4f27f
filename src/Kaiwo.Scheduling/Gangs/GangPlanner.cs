using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Gangs;

/// <summary>One member's planned place: its node and the devices it is to hold there.</summary>
public sealed record GangSlot(PodFacts Pod, string Node, PodAllocation Allocation);

/// <summary>
/// A gang's plan on the state of one moment: the unbound members' slots, or the refusal with how many of them could
/// be placed now. Members that ask for no GPU get no slot (they need no device) but count as placeable.
/// </summary>
public sealed record GangPlan(string GangKey, IReadOnlyList<GangSlot> Slots, FitResult? Refusal, int Planned, int Placeable)
{
    public bool Fits => Refusal is null;
}

/// <summary>
/// Plans a whole gang at once, pure: on copies of the nodes' usage, each member is fitted by the pipeline's own
/// request and node checks (as a single pod would be) and its devices are taken in the copy before the next member
/// is fitted. Bigger asks go first; each member goes to a node the plan already uses when one fits (the one whose
/// placement spans the fewest NUMA domains, then the earliest opened), and only otherwise opens the node with the most
/// free GPU capacity (among a few with as much free, the one where it spans the fewest NUMA domains; then by name),
/// so the gang lands on as few nodes and NUMA domains as it can. The members' total is admitted by their queue as one
/// ask first (all members must be in the same queue). The plan fits when every waiting member has a place, or at least
/// enough of them to make up the gang's minimum with those already bound.
/// </summary>
public static class GangPlanner
{
    public static GangPlan Plan(GangView gang, IReadOnlyList<NodeCandidate> nodes, SchedulingPipeline pipeline, QueueSnapshot? queues, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(gang);
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(pipeline);
        if (gang.Disagreement is { } disagreement)
        {
            return Refused(gang, GangRefusals.Invalid(disagreement), 0, 0);
        }

        var waiting = gang.Members.Where(m => m.Counts && !m.IsBound).ToList();
        if (gang.Present < gang.MinMembers)
        {
            return Refused(gang, GangRefusals.Waiting(gang), waiting.Count, 0);
        }

        // The pod checks alone (request; the gang's own rule is this plan, its queue is asked once below).
        var evaluations = new List<(GangMember Member, PodEvaluation Evaluation)>(waiting.Count);
        foreach (var member in waiting)
        {
            var evaluation = pipeline.EvaluatePod(member.Pod, now);
            if (evaluation.Unresolvable is { } reason)
            {
                return Refused(gang, GangRefusals.Invalid($"gang {gang.Key} cannot be placed: pod {member.Pod.Key}: {reason}"), waiting.Count, 0);
            }

            evaluations.Add((member, evaluation with { Refusal = null }));
        }

        var asks = evaluations
            .Select(e => (e.Member, e.Evaluation, Ask: PodResources.Request(e.Evaluation.Context.Pod, e.Evaluation.Context.Request)))
            .OrderByDescending(a => a.Ask.Gpu)
            .ThenBy(a => a.Evaluation.Context.Pod.Key, StringComparer.Ordinal)
            .ToList();
        var total = asks.Aggregate(ResourceVector.Zero, (sum, a) => sum + a.Ask);

        if (queues is not null && QueueRefusal(gang, queues, waiting.Count, total) is { } queueRefusal)
        {
            return Refused(gang, queueRefusal, waiting.Count, 0);
        }

        // Every waiting member is planned; when some do not fit, the gang still starts if those that do make up its
        // minimum with the bound ones (a member beyond the minimum is not worth keeping the rest waiting).
        var (slots, placeable) = Place(asks.Select(a => (a.Member, a.Evaluation)), nodes, pipeline);
        var needed = Math.Max(0, gang.MinMembers - gang.Bound);
        if (placeable < asks.Count && placeable < needed)
        {
            var bound = gang.Bound > 0 ? $" ({gang.Bound} more are bound)" : string.Empty;
            var least = needed < asks.Count ? $", at least {needed} to start" : string.Empty;
            return Refused(
                gang,
                FitResult.Full("gang-no-room", $"gang {gang.Key} needs {Share.Format(total.Gpu)} GPUs in {asks.Count} pods{bound}{least}; {placeable} pods can be placed now"),
                asks.Count,
                placeable);
        }

        return new GangPlan(gang.Key, slots, null, asks.Count, placeable);
    }

    private static GangPlan Refused(GangView gang, FitResult refusal, int planned, int placeable) => new(gang.Key, [], refusal, planned, placeable);

    /// <summary>The members' total as one ask of their one leaf queue; members of different queues are refused.</summary>
    private static FitResult? QueueRefusal(GangView gang, QueueSnapshot queues, int waiting, ResourceVector total)
    {
        string? leaf = null;
        GangMember? first = null;
        foreach (var member in gang.Members.Where(m => m.Counts))
        {
            var label = member.Pod.Labels.GetValueOrDefault(WellKnown.QueueLabel);
            var (queue, refusal) = queues.Tree.LeafFor(label);
            if (refusal is not null)
            {
                return FitResult.Never("queue-invalid", $"gang {gang.Key} cannot be placed: pod {member.Pod.Key}: {refusal}");
            }

            if (leaf is null)
            {
                (leaf, first) = (queue, member);
            }
            else if (queue != leaf)
            {
                return GangRefusals.Invalid($"gang {gang.Key} cannot be placed: its members are in different queues: pod {first!.Pod.Key} in \"{leaf}\", pod {member.Pod.Key} in \"{queue}\"");
            }
        }

        if (leaf is null || waiting == 0)
        {
            return null;
        }

        return QueueAdmission.Check(queues, leaf, total) is { } queueRefusal
            ? queueRefusal with { Reason = $"gang {gang.Key} ({waiting} pods, {Share.Format(total.Gpu)} GPUs as one ask): {queueRefusal.Reason}" }
            : null;
    }

    /// <summary>
    /// Fits the members in the order given on copies of the nodes' usage, each only on nodes kube-scheduler offered it
    /// (<see cref="GangMember.MayGoTo"/>). Keeps going past a member that fits nowhere, so that the refusal can say how
    /// many could be placed.
    /// </summary>
    private static (IReadOnlyList<GangSlot> Slots, int Placeable) Place(IEnumerable<(GangMember Member, PodEvaluation Evaluation)> members, IReadOnlyList<NodeCandidate> nodes, SchedulingPipeline pipeline)
    {
        var byFree = nodes
            .OrderByDescending(Free)
            .ThenBy(n => n.Name, StringComparer.Ordinal)
            .ToList();
        var opened = new List<NodeCandidate>();
        var openedNames = new HashSet<string>(StringComparer.Ordinal);
        var slots = new List<GangSlot>();
        var placeable = 0;
        foreach (var (gangMember, member) in members)
        {
            if (!member.Context.Request.WantsGpu)
            {
                placeable++;
                continue;
            }

            var (index, fit) = BestOpened(gangMember, member, opened, pipeline);
            if (fit is null && BestToOpen(gangMember, member, byFree, openedNames, pipeline) is ({ } node, { } found))
            {
                opened.Add(node);
                openedNames.Add(node.Name);
                (index, fit) = (opened.Count - 1, found);
            }

            if (fit?.Allocation is not { } allocation)
            {
                continue;
            }

            var pod = member.Context.Pod;
            var target = opened[index];
            opened[index] = target with { Usage = target.Usage.With(new PodHold("gang-plan:" + pod.Uid, pod.Key, allocation)) };
            slots.Add(new GangSlot(pod, target.Name, allocation));
            placeable++;
        }

        return (slots, placeable);
    }

    /// <summary>How many nodes with as much free capacity as the first that fits are compared for their NUMA spread.</summary>
    private const int OpeningCandidates = 16;

    /// <summary>
    /// The node to open: the one with the most free GPU capacity that fits the member; among the next few with as much
    /// free, the one whose placement spans the fewest NUMA domains (the first on a tie).
    /// </summary>
    private static (NodeCandidate? Node, FitResult? Fit) BestToOpen(GangMember gangMember, PodEvaluation member, List<NodeCandidate> byFree, HashSet<string> opened, SchedulingPipeline pipeline)
    {
        (NodeCandidate? Node, FitResult? Fit) best = (null, null);
        var bestFree = 0L;
        var compared = 0;
        foreach (var node in byFree)
        {
            if (opened.Contains(node.Name) || !gangMember.MayGoTo(node.Name))
            {
                continue;
            }

            if (best.Node is not null && (Free(node) < bestFree || ++compared > OpeningCandidates))
            {
                break;
            }

            if (!pipeline.Verdict(member, node).Fits || pipeline.EvaluateNode(member, node) is not { Fits: true, Allocation: not null } fit)
            {
                continue;
            }

            if (best.Fit is null)
            {
                (best, bestFree) = ((node, fit), Free(node));
            }
            else if (Numa(fit) < Numa(best.Fit))
            {
                best = (node, fit);
            }
        }

        return best;
    }

    private static long Free(NodeCandidate node) => (node.Usage.Gpus.Count * 1000L) - node.Usage.UsedMilliTotal;

    private static int Numa(FitResult fit) => fit.Quality?.NumaNodes ?? 0;

    /// <summary>Among the nodes the plan uses, the placement that spans the fewest NUMA domains; the earliest opened on a tie.</summary>
    private static (int Index, FitResult? Fit) BestOpened(GangMember gangMember, PodEvaluation member, List<NodeCandidate> opened, SchedulingPipeline pipeline)
    {
        (int Index, FitResult? Fit) best = (-1, null);
        for (var i = 0; i < opened.Count; i++)
        {
            if (!gangMember.MayGoTo(opened[i].Name) || !pipeline.Verdict(member, opened[i]).Fits || pipeline.EvaluateNode(member, opened[i]) is not { Fits: true, Allocation: not null } fit)
            {
                continue;
            }

            if (best.Fit is null || Numa(fit) < Numa(best.Fit))
            {
                best = (i, fit);
            }
        }

        return best;
    }
}

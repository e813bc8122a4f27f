using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Scoring;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Pipeline;

/// <summary>Everything the pipeline's stages are configured with.</summary>
public sealed record PipelineOptions
{
    public RequestOptions Requests { get; init; } = new();
    public PlacementOptions Placement { get; init; } = new();

    /// <summary>How old a node's live utilization annotation may be and still count.</summary>
    public TimeSpan MaxUtilizationAge { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Per-score switches and weights, by stage name ("packing", "topology", "load"). The checks ("request", "queue",
    /// "fit") always run: naming one here with <c>Enabled: false</c> or a weight is refused (see
    /// <see cref="SchedulingPipeline.StageSettingProblems"/>).
    /// </summary>
    public IReadOnlyDictionary<string, StageOptions> Stages { get; init; } = new Dictionary<string, StageOptions>();
}

/// <summary>A pod's pipeline verdict before any node: its parsed ask, and the refusal if it fits nowhere.</summary>
public sealed record PodEvaluation(PodContext Context, FitResult? Refusal)
{
    /// <summary>The reason the pod can never be placed, when a pod check said so.</summary>
    public string? Unresolvable => Refusal is { Outcome: FitOutcome.NeverFits } refusal ? refusal.Reason : null;
}

/// <summary>
/// The scheduling pipeline: a short list of named stages, registered in <see cref="Register"/>. Pod checks run once
/// per request, node checks per candidate node, and the scores of the nodes that fit make one 0..10 integer.
/// The checks are what keeps a GPU from being double-booked, so they always run; only scores are configurable.
/// </summary>
public sealed class SchedulingPipeline
{
    public const int MaxScore = 10;

    private readonly IPodCheck[] _podChecks;
    private readonly INodeCheck[] _nodeChecks;
    private readonly (INodeScore Score, int Weight)[] _scores;

    /// <summary>Which of <see cref="_scores"/> follow from the fit alone, and so are kept with it on the node's snapshot.</summary>
    private readonly bool[] _followsFromFit;

    /// <summary>Whether any score is kept with the fit.</summary>
    private readonly bool _keepsScores;
    private readonly RequestOptions _requestOptions;

    public SchedulingPipeline(PipelineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (StageSettingProblems(options.Stages) is [var first, ..])
        {
            throw new ArgumentException(first, nameof(options));
        }

        _requestOptions = options.Requests;
        var (podChecks, nodeChecks, scores) = Register(options);
        bool On(string name) => !options.Stages.TryGetValue(name, out var s) || s.Enabled;
        _podChecks = podChecks;
        _nodeChecks = nodeChecks;
        _scores = [.. scores.Where(s => On(s.Name))
            .Select(s => (s, options.Stages.TryGetValue(s.Name, out var o) && o.Weight is { } w ? w : s.DefaultWeight))
            .Where(p => p.Item2 > 0)];
        _followsFromFit = [.. _scores.Select(s => s.Score.FollowsFromFit)];
        _keepsScores = _followsFromFit.Contains(true);
    }

    /// <summary>The stage names, in order, for configuration validation and /inspect.</summary>
    public static IReadOnlyList<string> StageNames { get; } = StageNamesOf(new PipelineOptions());

    /// <summary>The correctness checks (request, queue, gang, fit), which always run.</summary>
    public static IReadOnlyList<string> CheckNames { get; } = CheckNamesOf(new PipelineOptions());

    /// <summary>The scores, which configuration may switch off and weigh.</summary>
    public static IReadOnlyList<string> ScoreNames { get; } = [.. StageNames.Except(CheckNames, StringComparer.Ordinal)];

    /// <summary>
    /// What is wrong with per-stage settings, one message per setting, each naming it by its key under
    /// <c>Stages</c> ("fit:Enabled"): an unknown stage, a check switched off or weighed (checks are not optional and
    /// have no weight), a weight outside 0..100.
    /// </summary>
    public static IReadOnlyList<string> StageSettingProblems(IReadOnlyDictionary<string, StageOptions> stages)
    {
        ArgumentNullException.ThrowIfNull(stages);
        var problems = new List<string>();
        foreach (var (stage, settings) in stages)
        {
            if (CheckNames.Contains(stage, StringComparer.OrdinalIgnoreCase))
            {
                if (!settings.Enabled)
                {
                    problems.Add($"{stage}:Enabled is false; {stage} is a correctness check ({string.Join(", ", CheckNames)}) and always runs: only the scores ({string.Join(", ", ScoreNames)}) can be switched off");
                }

                if (settings.Weight is not null)
                {
                    problems.Add($"{stage}:Weight is {settings.Weight}; {stage} is a check, not a score: only the scores ({string.Join(", ", ScoreNames)}) have weights");
                }
            }
            else if (!ScoreNames.Contains(stage, StringComparer.OrdinalIgnoreCase))
            {
                problems.Add($"{stage} is not a stage; stages are {string.Join(", ", StageNames)}");
            }
            else if (settings.Weight is < 0 or > 100)
            {
                problems.Add($"{stage}:Weight is {settings.Weight}; it must be from 0 to 100");
            }
        }

        return problems;
    }

    /// <summary>
    /// The one place stages are registered. A new check or score is one class and one line here.
    /// </summary>
    private static (IPodCheck[] PodChecks, INodeCheck[] NodeChecks, INodeScore[] Scores) Register(PipelineOptions options) =>
    (
        [new RequestCheck(), new QueueCheck(), new GangCheck()],
        [new GpuFitCheck(options.Placement)],
        [new PackingScore(), new TopologyScore(), new LoadScore(options.MaxUtilizationAge)]
    );

    private static IReadOnlyList<string> CheckNamesOf(PipelineOptions options)
    {
        var (p, n, _) = Register(options);
        return [.. p.Select(x => x.Name), .. n.Select(x => x.Name)];
    }

    private static IReadOnlyList<string> StageNamesOf(PipelineOptions options)
    {
        var (p, n, s) = Register(options);
        return [.. p.Select(x => x.Name), .. n.Select(x => x.Name), .. s.Select(x => x.Name)];
    }

    /// <summary>
    /// Parses the pod's ask and runs the pod-level checks, against the queues' state when there are queues, with the
    /// reservation the state holds for the pod, if any (<see cref="ClusterState.TryGetReservation"/>), and with the
    /// pod's gang when it has one (<see cref="GangView"/>, read by the caller from the state).
    /// </summary>
    public PodEvaluation EvaluatePod(PodFacts pod, DateTimeOffset now, QueueSnapshot? queues = null, Reservation? reservation = null, GangView? gang = null)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var context = new PodContext(pod, GpuRequestParser.Parse(pod, _requestOptions), now, queues)
        {
            Reservation = reservation?.PodUid == pod.Uid ? reservation : null,
            Gang = gang,
        };
        foreach (var check in _podChecks)
        {
            if (check.Check(context) is { } refusal)
            {
                return new PodEvaluation(context, refusal);
            }
        }

        return new PodEvaluation(context, null);
    }

    /// <summary>Runs the node checks; the first one that does not pass decides.</summary>
    public FitResult EvaluateNode(PodEvaluation pod, NodeCandidate node)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (pod.Refusal is { } refusal)
        {
            return refusal;
        }

        if (JudgedFor(pod.Context, node) is not { } judged)
        {
            return GangSlotElsewhere(pod.Context.Pod, pod.Context.Reservation!);
        }

        node = judged;

        var result = FitResult.NoGpuNeeded;
        foreach (var check in _nodeChecks)
        {
            var r = check.Check(pod.Context, node);
            if (!r.Fits)
            {
                return r;
            }

            if (r.Allocation is not null)
            {
                result = r;
            }
        }

        return result;
    }

    /// <summary>
    /// The outcome and code <see cref="EvaluateNode"/> would give, from the node's fit summary: a few integer
    /// comparisons per GPU, no placement, no reason text, no allocation. Filter asks this of every candidate and
    /// <see cref="EvaluateNode"/> only of those it must explain or score.
    /// </summary>
    public FitVerdict Verdict(PodEvaluation pod, NodeCandidate node)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (pod.Refusal is { } refusal)
        {
            return FitVerdict.Of(refusal);
        }

        if (JudgedFor(pod.Context, node) is not { } judged)
        {
            return GangSlotElsewhereVerdict;
        }

        node = judged;

        var result = FitVerdict.NoGpuNeeded;
        foreach (var check in _nodeChecks)
        {
            var v = check.Verdict(pod.Context, node);
            if (!v.Fits)
            {
                return v;
            }

            if (v.Code != FitVerdict.NoGpuNeeded.Code)
            {
                result = v;
            }
        }

        return result;
    }

    /// <summary>
    /// Prioritize's question of one node: its verdict (for the decision counts) and its score, 0 unless it fits. Where
    /// the node checks already hold their answers for this ask on the node's snapshot (a filter or prioritize of the
    /// same shape saw the node unchanged), they are read, with the scores kept beside them, instead of judged again;
    /// otherwise as <see cref="Verdict"/>, and <see cref="EvaluateNode"/> and <see cref="Score"/> for a node that
    /// fits. Either way the same verdict and score.
    /// </summary>
    public int ScoreNode(PodEvaluation pod, NodeCandidate node, out FitVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(node);
        if (pod.Refusal is null && pod.Context.Reservation is null && KnownEvaluation(pod.Context, node) is { } known)
        {
            verdict = FitVerdict.Of(known);
            return Score(pod, node, known);
        }

        verdict = Verdict(pod, node);
        return verdict.Fits ? Score(pod, node, EvaluateNode(pod, node)) : 0;
    }

    /// <summary>What <see cref="EvaluateNode"/> would answer from the checks' known answers alone; null when a check that decides has none at hand.</summary>
    private FitResult? KnownEvaluation(PodContext pod, NodeCandidate node)
    {
        var result = FitResult.NoGpuNeeded;
        foreach (var check in _nodeChecks)
        {
            if (check.Known(pod, node) is not { } r)
            {
                return null;
            }

            if (!r.Fits)
            {
                return r;
            }

            if (r.Allocation is not null)
            {
                result = r;
            }
        }

        return result;
    }

    private static readonly FitVerdict GangSlotElsewhereVerdict = new(FitOutcome.FullNow, "gang-slot");

    /// <summary>A gang member may go only to the node of its planned slot: its devices are held there and nowhere else.</summary>
    private static FitResult GangSlotElsewhere(PodFacts pod, Reservation reserved) =>
        FitResult.Full(GangSlotElsewhereVerdict.Code, $"pod {pod.Key} holds the slot of gang {reserved.Owner} on node {reserved.Node}");

    /// <summary>
    /// The node as the pod is judged on it: on the node of its reservation, with the devices held for it free for it;
    /// null when the pod holds a gang slot on another node (it may go nowhere else); otherwise the node as it is.
    /// </summary>
    private static NodeCandidate? JudgedFor(PodContext pod, NodeCandidate node)
    {
        if (pod.Reservation is not { } reserved)
        {
            return node;
        }

        if (reserved.Node != node.Name)
        {
            return reserved.Kind == ReservationKind.Gang ? null : node;
        }

        var usage = node.Usage.Without(reserved.HoldKey);
        return ReferenceEquals(usage, node.Usage) ? node : node with { Usage = usage };
    }

    /// <summary>
    /// The weighted score, 0..10, of a node that fits; 0 for one that does not. The scores that follow from the fit
    /// alone (<see cref="INodeScore.FollowsFromFit"/>) are computed once per node snapshot, ask shape and fit, and kept
    /// with the fit in the snapshot's cache as raw values: the weighted sum is made on every call, in the same order,
    /// so a kept value gives the very same score as a fresh one.
    /// </summary>
    public int Score(PodEvaluation pod, NodeCandidate node, FitResult fit)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(fit);
        if (!fit.Fits)
        {
            return 0;
        }

        var entry = _keepsScores ? node.Usage.FitCache.EntryOf(pod.Context.Request, fit) : null;
        var kept = entry?.ScoresOf(this);
        double?[]? made = null;
        double sum = 0;
        double weights = 0;
        for (var i = 0; i < _scores.Length; i++)
        {
            var (score, weight) = _scores[i];
            double? value;
            if (kept is not null && _followsFromFit[i])
            {
                value = kept[i];
            }
            else
            {
                value = score.Score(pod.Context, node, fit);
                if (entry is not null && kept is null && _followsFromFit[i])
                {
                    (made ??= new double?[_scores.Length])[i] = value;
                }
            }

            if (value is { } v)
            {
                sum += Math.Clamp(v, 0, 1) * weight;
                weights += weight;
            }
        }

        if (made is not null)
        {
            entry!.KeepScores(this, made);
        }

        return weights == 0 ? 0 : (int)Math.Round(MaxScore * sum / weights, MidpointRounding.AwayFromZero);
    }
}

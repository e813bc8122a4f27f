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

    /// <summary>
    /// Filter passes only the node that scores best (<see cref="SchedulingPipeline.Best"/>) and lists the other nodes
    /// that fit as failed with <see cref="SchedulingPipeline.PassedOverReason"/>. kube-scheduler places a pod that has
    /// one feasible node without scoring: no prioritize call and none of its own score plugins, so the extender's
    /// score alone decides. Off by default.
    /// </summary>
    public bool PassOnlyBestNode { get; init; }
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

    /// <summary>The reason filter gives a node that fits but is not passed, when only the best node is (<see cref="PipelineOptions.PassOnlyBestNode"/>).</summary>
    public const string PassedOverReason = "fits, but another node scores higher and only the best node is passed";

    private readonly IPodCheck[] _podChecks;
    private readonly INodeCheck[] _nodeChecks;
    private readonly (INodeScore Score, int Weight)[] _scores;

    /// <summary>Which of <see cref="_scores"/> follow from the fit alone, and so are kept with it on the node's snapshot.</summary>
    private readonly bool[] _followsFromFit;

    /// <summary>Whether any score is kept with the fit.</summary>
    private readonly bool _keepsScores;

    /// <summary>How many of <see cref="_scores"/>, from the first, follow from the fit: their sum is kept in a <see cref="KeptAnswer"/>.</summary>
    private readonly int _leadingFromFit;

    /// <summary>Whether every node check follows from the ask's shape and the candidate, so that answers may be kept on candidates.</summary>
    private readonly bool _keepsAnswers;
    private readonly RequestOptions _requestOptions;

    public SchedulingPipeline(PipelineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (StageSettingProblems(options.Stages) is [var first, ..])
        {
            throw new ArgumentException(first, nameof(options));
        }

        _requestOptions = options.Requests;
        PassesOnlyBestNode = options.PassOnlyBestNode;
        var (podChecks, nodeChecks, scores) = Register(options);
        bool On(string name) => !options.Stages.TryGetValue(name, out var s) || s.Enabled;
        _podChecks = podChecks;
        _nodeChecks = nodeChecks;
        _scores = [.. scores.Where(s => On(s.Name))
            .Select(s => (s, options.Stages.TryGetValue(s.Name, out var o) && o.Weight is { } w ? w : s.DefaultWeight))
            .Where(p => p.Item2 > 0)];
        _followsFromFit = [.. _scores.Select(s => s.Score.FollowsFromFit)];
        _keepsScores = _followsFromFit.Contains(true);
        _leadingFromFit = Array.IndexOf(_followsFromFit, false) is var stop and >= 0 ? stop : _followsFromFit.Length;
        _keepsAnswers = _nodeChecks.All(c => c.FollowsFromShape);
    }

    /// <summary><see cref="PipelineOptions.PassOnlyBestNode"/>: filter passes only the node <see cref="Best"/> picks.</summary>
    public bool PassesOnlyBestNode { get; }

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
    /// <see cref="EvaluateNode"/> only of those it must explain or score. The verdict is kept on the candidate for the
    /// next pod of the ask's shape (<see cref="KeptAnswer"/>), where the pod and the checks allow it.
    /// </summary>
    public FitVerdict Verdict(PodEvaluation pod, NodeCandidate node)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (pod.Refusal is { } refusal)
        {
            return FitVerdict.Of(refusal);
        }

        var keeps = KeepsAnswerFor(pod.Context);
        if (keeps && node.KeptFor(this, pod.Context.Request.Shape) is { } kept)
        {
            return kept.Verdict;
        }

        if (JudgedFor(pod.Context, node) is not { } judged)
        {
            return GangSlotElsewhereVerdict;
        }

        var result = NodeChecksVerdict(pod.Context, judged);
        if (keeps)
        {
            node.Keep(new KeptAnswer(this, pod.Context.Request.Shape, result, null, 0, 0, 0));
        }

        return result;
    }

    /// <summary>
    /// <see cref="Verdict"/> of each node: <paramref name="verdicts"/>[i] is the verdict of <paramref name="nodes"/>[i].
    /// The answers kept on the candidates are read first, in a short loop of independent reads that the processor
    /// overlaps (at 5,000 candidates a call, each candidate and its answer is a likely cache miss); the nodes without
    /// one are then judged one by one. The same verdicts as one <see cref="Verdict"/> per node.
    /// </summary>
    public void Verdicts(PodEvaluation pod, ReadOnlySpan<NodeCandidate> nodes, Span<FitVerdict> verdicts)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (verdicts.Length < nodes.Length)
        {
            throw new ArgumentException("there must be a place for the verdict of every node", nameof(verdicts));
        }

        if (pod.Refusal is null && KeepsAnswerFor(pod.Context))
        {
            var shape = pod.Context.Request.Shape;
            for (var i = 0; i < nodes.Length; i++)
            {
                verdicts[i] = nodes[i].KeptFor(this, shape) is { } kept ? kept.Verdict : default;
            }
        }
        else
        {
            verdicts[..nodes.Length].Clear();
        }

        for (var i = 0; i < nodes.Length; i++)
        {
            // A verdict's code is never null: an empty place is a node without a kept answer.
            if (verdicts[i].Code is null)
            {
                verdicts[i] = Verdict(pod, nodes[i]);
            }
        }
    }

    /// <summary>
    /// The position of the node the pod should go to among <paramref name="nodes"/> whose <paramref name="verdicts"/>
    /// fit: the highest <see cref="ScoreNode"/>, the first of equal scores (kube-scheduler starts each call's list at
    /// another node, so equals take turns); -1 when none fits. The same score prioritize would give each.
    /// </summary>
    public int Best(PodEvaluation pod, ReadOnlySpan<NodeCandidate> nodes, ReadOnlySpan<FitVerdict> verdicts)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (verdicts.Length < nodes.Length)
        {
            throw new ArgumentException("there must be a verdict for every node", nameof(verdicts));
        }

        var best = -1;
        var bestScore = -1;
        for (var i = 0; i < nodes.Length; i++)
        {
            if (verdicts[i].Fits && ScoreNode(pod, nodes[i], out _) is var score && score > bestScore)
            {
                best = i;
                bestScore = score;
            }
        }

        return best;
    }

    private FitVerdict NodeChecksVerdict(PodContext pod, NodeCandidate node)
    {
        var result = FitVerdict.NoGpuNeeded;
        foreach (var check in _nodeChecks)
        {
            var v = check.Verdict(pod, node);
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
    /// Whether this pod's answer on a node may be kept on the candidate and read back for the next pod of its shape:
    /// no reservation (which changes the node it is judged on) and node checks that follow from the shape. The pod
    /// checks' refusal is answered before any node.
    /// </summary>
    private bool KeepsAnswerFor(PodContext pod) => _keepsAnswers && pod.Reservation is null;

    /// <summary>
    /// Prioritize's question of one node: its verdict (for the decision counts) and its score, 0 unless it fits. Where
    /// the candidate keeps this pipeline's answer for the ask's shape (<see cref="KeptAnswer"/>: a prioritize of the
    /// shape saw the node unchanged), its verdict and the sum of the leading scores are read and only the scores that
    /// do not follow from the fit are made; where the node checks hold their answers on the node's snapshot (a filter
    /// or prioritize of the same shape), they are read instead of judged again, and the answer is kept; otherwise as
    /// <see cref="Verdict"/>, and <see cref="EvaluateNode"/> and <see cref="Score"/> for a node that fits. Either way
    /// the same verdict and score.
    /// </summary>
    public int ScoreNode(PodEvaluation pod, NodeCandidate node, out FitVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(node);
        if (pod.Refusal is null && KeepsAnswerFor(pod.Context))
        {
            var shape = pod.Context.Request.Shape;
            if (node.KeptFor(this, shape) is { Fit: { } fit } kept)
            {
                verdict = kept.Verdict;
                return fit.Fits ? FinishScore(pod, node, fit, kept.Sum, kept.Weights, kept.Next) : 0;
            }

            if (KnownEvaluation(pod.Context, node) is { } known)
            {
                verdict = FitVerdict.Of(known);
                var answer = Answer(pod, node, shape, known);
                node.Keep(answer);
                return known.Fits ? FinishScore(pod, node, known, answer.Sum, answer.Weights, answer.Next) : 0;
            }
        }
        else if (pod.Refusal is null && pod.Context.Reservation is null && KnownEvaluation(pod.Context, node) is { } known)
        {
            verdict = FitVerdict.Of(known);
            return Score(pod, node, known);
        }

        verdict = Verdict(pod, node);
        return verdict.Fits ? Score(pod, node, EvaluateNode(pod, node)) : 0;
    }

    /// <summary>The answer to keep on the candidate: the verdict of the fit and, for a fit that fits, the sum of the leading scores that follow from it.</summary>
    private KeptAnswer Answer(PodEvaluation pod, NodeCandidate node, AskShape shape, FitResult fit)
    {
        double sum = 0;
        double weights = 0;
        var next = 0;
        if (fit.Fits)
        {
            for (; next < _leadingFromFit; next++)
            {
                var (score, weight) = _scores[next];
                Add(score.Score(pod.Context, node, fit), weight, ref sum, ref weights);
            }
        }

        return new KeptAnswer(this, shape, FitVerdict.Of(fit), fit, sum, weights, next);
    }

    /// <summary>Continues the weighted sum from the score at <paramref name="next"/>, each made afresh, and rounds it to 0..10 as <see cref="Score"/> does.</summary>
    private int FinishScore(PodEvaluation pod, NodeCandidate node, FitResult fit, double sum, double weights, int next)
    {
        for (var i = next; i < _scores.Length; i++)
        {
            var (score, weight) = _scores[i];
            Add(score.Score(pod.Context, node, fit), weight, ref sum, ref weights);
        }

        return Rounded(sum, weights);
    }

    private static void Add(double? value, int weight, ref double sum, ref double weights)
    {
        if (value is { } v)
        {
            sum += Math.Clamp(v, 0, 1) * weight;
            weights += weight;
        }
    }

    private static int Rounded(double sum, double weights) =>
        weights == 0 ? 0 : (int)Math.Round(MaxScore * sum / weights, MidpointRounding.AwayFromZero);

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

            Add(value, weight, ref sum, ref weights);
        }

        if (made is not null)
        {
            entry!.KeepScores(this, made);
        }

        return Rounded(sum, weights);
    }
}

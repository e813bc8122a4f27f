using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Scoring;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Pipeline;

/// <summary>
/// One pod's view through the pipeline: the pod, its parsed ask, the time the caller decided with, and the queues'
/// state (null when the cluster has no queues).
/// </summary>
public sealed record PodContext(PodFacts Pod, GpuRequest Request, DateTimeOffset Now, QueueSnapshot? Queues = null)
{
    /// <summary>The pod's gang as the caller read it (null: no gang, or the gang's rules are the caller's).</summary>
    public GangView? Gang { get; init; }

    /// <summary>The devices the state holds for the pod before it binds (a gang slot, a starving pod's), if any.</summary>
    public Reservation? Reservation { get; init; }
}

/// <summary>
/// A node as the pipeline sees it: its facts and a consistent snapshot of its GPU usage. What scores read of the facts
/// is read once, when the facts are set (a candidate made <c>with</c> new usage keeps it; one with new facts reads them).
/// </summary>
public sealed record NodeCandidate
{
    private readonly NodeFacts _facts = null!;
    private readonly NodeUsage _usage = null!;

    // The usage's fit summary, kept beside the usage reference once read: filter's per-node question then reads this
    // candidate and the summary, not the usage snapshot between them (at 5,000 candidates a call, each object read is
    // a likely cache miss). A candidate made with new usage starts without it (see Usage's init).
    private NodeFitSummary? _summary;

    // What pipelines answered for up to two ask shapes on this very candidate (see KeptAnswer): filled first come, never
    // evicted, so that pods of many shapes cost no allocation per call. A candidate made with new facts or usage starts
    // without them.
    private KeptAnswer? _firstKept;
    private KeptAnswer? _secondKept;

    public NodeCandidate(NodeFacts facts, NodeUsage usage)
    {
        Facts = facts;
        Usage = usage;
    }

    public NodeFacts Facts
    {
        get => _facts;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _facts = value;
            Utilization = NodeUtilization.Of(value);
            _firstKept = _secondKept = null;
        }
    }

    public NodeUsage Usage
    {
        get => _usage;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _usage = value;
            _summary = null;
            _firstKept = _secondKept = null;
            HasGpus = value.HasGpus;
            UsedFraction = value.UsedFraction();
        }
    }

    /// <summary><see cref="NodeUsage.HasGpus"/> of <see cref="Usage"/>, kept on the candidate: the load score reads it of every node without reading the usage.</summary>
    public bool HasGpus { get; private init; }

    /// <summary><see cref="NodeUsage.UsedFraction"/> of <see cref="Usage"/>, kept on the candidate as <see cref="HasGpus"/> is.</summary>
    public double UsedFraction { get; private init; }

    /// <summary>The fit summary of <see cref="Usage"/> (<see cref="NodeUsage.Summary"/>), the same object, read through the candidate.</summary>
    public NodeFitSummary Summary => _summary ??= _usage.Summary;

    /// <summary>The answer <paramref name="owner"/> kept on this candidate for an ask of this shape, if any.</summary>
    internal KeptAnswer? KeptFor(object owner, in AskShape shape)
    {
        if (Volatile.Read(ref _firstKept) is { } first && first.IsFor(owner, shape))
        {
            return first;
        }

        return Volatile.Read(ref _secondKept) is { } second && second.IsFor(owner, shape) ? second : null;
    }

    /// <summary>
    /// Keeps <paramref name="answer"/> in place of the same owner's for the same shape, or in a free place; with both
    /// places held for other shapes it is not kept. An answer with a fit is not replaced by one without.
    /// </summary>
    internal void Keep(KeptAnswer answer)
    {
        if (!TryKeep(ref _firstKept, answer))
        {
            TryKeep(ref _secondKept, answer);
        }
    }

    /// <summary>True when the place now holds an answer for this owner and shape (this one or one at least as complete).</summary>
    private static bool TryKeep(ref KeptAnswer? place, KeptAnswer answer)
    {
        while (true)
        {
            var held = Volatile.Read(ref place);
            if (held is not null && !held.IsFor(answer.Owner, answer.Shape))
            {
                return false;
            }

            if (held?.Fit is not null && answer.Fit is null)
            {
                return true;
            }

            if (ReferenceEquals(Interlocked.CompareExchange(ref place, answer, held), held))
            {
                return true;
            }
        }
    }

    /// <summary>The node's live GPU utilization annotation as read from <see cref="Facts"/>; null when absent or malformed.</summary>
    public NodeUtilization? Utilization { get; private init; }

    public string Name => Facts.Name;

    /// <summary>Equal facts and the same usage snapshot: the kept summary, which follows from the usage, is not compared.</summary>
    public bool Equals(NodeCandidate? other) =>
        other is not null && (ReferenceEquals(this, other) || (EqualityComparer<NodeFacts>.Default.Equals(_facts, other._facts) && EqualityComparer<NodeUsage>.Default.Equals(_usage, other._usage)));

    public override int GetHashCode() => HashCode.Combine(_facts, _usage);

    public void Deconstruct(out NodeFacts facts, out NodeUsage usage)
    {
        facts = Facts;
        usage = Usage;
    }
}

/// <summary>A check of the pod alone, before any node: a refusal here applies to every node.</summary>
public interface IPodCheck
{
    string Name { get; }

    /// <summary>Null when the pod passes; otherwise why it fits nowhere (never, or not now).</summary>
    FitResult? Check(PodContext pod);
}

/// <summary>A check of the pod against one node. The first check that does not pass decides the node.</summary>
public interface INodeCheck
{
    string Name { get; }

    FitResult Check(PodContext pod, NodeCandidate node);

    /// <summary>
    /// What <see cref="Check"/> would answer, outcome and code only, without building the placement or the reason:
    /// the filter's per-node question. Must always agree with <see cref="Check"/>.
    /// </summary>
    FitVerdict Verdict(PodContext pod, NodeCandidate node);

    /// <summary>
    /// What <see cref="Check"/> answered before for this ask's shape on this very node snapshot, when it is still at
    /// hand (a check that keeps no answers has none): a lookup, cheaper than <see cref="Verdict"/>.
    /// </summary>
    FitResult? Known(PodContext pod, NodeCandidate node) => null;

    /// <summary>
    /// Whether <see cref="Check"/> and <see cref="Verdict"/> follow from the ask's shape (<see cref="GpuRequest.Shape"/>)
    /// and the node's candidate snapshot alone, not the pod's other details, its queue, gang or the clock: then the
    /// pipeline may keep its answer on the candidate for every pod of the shape (<see cref="KeptAnswer"/>). False unless
    /// the check says so.
    /// </summary>
    bool FollowsFromShape => false;
}

/// <summary>One component of the node score.</summary>
public interface INodeScore
{
    string Name { get; }

    int DefaultWeight { get; }

    /// <summary>
    /// Whether the score follows from the ask's shape (<see cref="GpuRequest.SameShape"/>), the node's usage snapshot
    /// and the fit alone: not the clock, not the node's facts, not the pod's other details, not the score's own
    /// settings. The pipeline then keeps the value with the fit on the snapshot and reads it back for the next pod of
    /// the same shape on the unchanged node. False unless the score says so.
    /// </summary>
    bool FollowsFromFit => false;

    /// <summary>0..1, higher is better; null when the score has no opinion on this pod and node.</summary>
    double? Score(PodContext pod, NodeCandidate node, FitResult fit);
}

/// <summary>Per-stage settings: every stage can be switched off or reweighted by configuration.</summary>
public sealed record StageOptions
{
    public bool Enabled { get; init; } = true;

    /// <summary>For scores: the weight in the weighted average; null keeps the stage's default.</summary>
    public int? Weight { get; init; }
}

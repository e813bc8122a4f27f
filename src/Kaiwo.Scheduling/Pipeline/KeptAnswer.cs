using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Pipeline;

/// <summary>
/// What one pipeline answered for one ask shape on one node candidate, kept on the candidate
/// (<see cref="NodeCandidate.KeptFor"/>): the node checks' verdict and, once prioritize asked, the fit and the running
/// weighted sum of the leading scores that follow from the fit. Filter and prioritize then read one small object per
/// node instead of the usage, its fit cache, its entries and their scores (at 5,000 candidates a call, each object
/// read is a likely cache miss). Immutable, published by one reference write.
/// </summary>
/// <remarks>
/// Kept only for a pod with no refusal and no reservation, by a pipeline whose node checks all follow from the ask's
/// shape and the node's snapshot (<see cref="INodeCheck.FollowsFromShape"/>): then the answer is the same for every
/// pod of the shape on this candidate. The sum is of the scores before the first one that does not follow from the
/// fit, in the pipeline's order, so continuing it with the others gives the very sum a fresh score makes.
/// </remarks>
internal sealed class KeptAnswer(object owner, AskShape shape, FitVerdict verdict, FitResult? fit, double sum, double weights, int next)
{
    /// <summary>The pipeline whose answer this is: another's checks and scores are not read as its own.</summary>
    public object Owner { get; } = owner;

    public AskShape Shape { get; } = shape;

    public FitVerdict Verdict { get; } = verdict;

    /// <summary>The node checks' fit, from which the remaining scores are made; null when only the verdict is known (a filter's answer).</summary>
    public FitResult? Fit { get; } = fit;

    /// <summary>The weighted sum of the values of the scores before <see cref="Next"/>.</summary>
    public double Sum { get; } = sum;

    /// <summary>The sum of the weights of those of them that had a value.</summary>
    public double Weights { get; } = weights;

    /// <summary>The position of the first score not summed here.</summary>
    public int Next { get; } = next;

    public bool IsFor(object owner, in AskShape shape) => ReferenceEquals(Owner, owner) && Shape == shape;
}

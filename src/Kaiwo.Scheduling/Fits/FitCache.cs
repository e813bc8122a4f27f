using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Fits;

/// <summary>
/// The last few fits computed on one immutable node snapshot, by ask shape and placement options. Lock-free: each
/// slot holds an immutable entry published by one reference write, so a reader sees a whole entry or none. A new
/// snapshot (any change of the node's usage) starts with an empty cache, so nothing here can go stale. Each fit keeps
/// beside it the scores that follow from it alone (<see cref="Pipeline.INodeScore.FollowsFromFit"/>).
/// </summary>
internal sealed class FitCache
{
    /// <summary>Enough for the shapes of a burst of pods (and filter then prioritize of each) without growing per node.</summary>
    private const int Slots = 4;

    private Entry?[]? _entries;
    private int _next;

    public FitResult? Find(GpuRequest request, PlacementOptions options)
    {
        var entries = Volatile.Read(ref _entries);
        if (entries is null)
        {
            return null;
        }

        // The shape is kept in the entry, so that a lookup reads no other object than the entries.
        var shape = request.Shape;
        for (var i = 0; i < entries.Length; i++)
        {
            if (Volatile.Read(ref entries[i]) is { } entry && entry.Shape == shape && (ReferenceEquals(entry.Options, options) || entry.Options.Equals(options)))
            {
                return entry.Result;
            }
        }

        return null;
    }

    /// <summary>
    /// The entry that holds this very fit (the same object) for this ask's shape, where the scores that follow from the
    /// fit are kept; null when the fit is not one of this snapshot's (made elsewhere, or its slot taken since).
    /// </summary>
    public Entry? EntryOf(GpuRequest request, FitResult fit)
    {
        var entries = Volatile.Read(ref _entries);
        if (entries is null)
        {
            return null;
        }

        for (var i = 0; i < entries.Length; i++)
        {
            if (Volatile.Read(ref entries[i]) is { } entry && ReferenceEquals(entry.Result, fit) && entry.Shape == request.Shape)
            {
                return entry;
            }
        }

        return null;
    }

    public void Store(GpuRequest request, PlacementOptions options, FitResult result)
    {
        var entries = Volatile.Read(ref _entries);
        if (entries is null)
        {
            Interlocked.CompareExchange(ref _entries, new Entry?[Slots], null);
            entries = _entries!;
        }

        var slot = (int)((uint)Interlocked.Increment(ref _next) % Slots);
        Volatile.Write(ref entries[slot], new Entry(request, options, result));
    }

    /// <summary>
    /// One fit on the snapshot, and beside it the raw values of the scores that follow from the fit alone, as one
    /// pipeline computed them (its own scores, in its order: another pipeline's are not read as its).
    /// </summary>
    internal sealed class Entry(GpuRequest request, PlacementOptions options, FitResult result)
    {
        private Scores? _scores;

        public AskShape Shape { get; } = request.Shape;

        public PlacementOptions Options { get; } = options;

        public FitResult Result { get; } = result;

        /// <summary>The score values <paramref name="owner"/> kept here, by the position of each score in its list; null when it kept none.</summary>
        public double?[]? ScoresOf(object owner) => Volatile.Read(ref _scores) is { } scores && ReferenceEquals(scores.Owner, owner) ? scores.Values : null;

        /// <summary>Keeps <paramref name="owner"/>'s score values, published whole by one reference write (the array is not written after).</summary>
        public void KeepScores(object owner, double?[] values) => Volatile.Write(ref _scores, new Scores(owner, values));

        private sealed record Scores(object Owner, double?[] Values);
    }
}

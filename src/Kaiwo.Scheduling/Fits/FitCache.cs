using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Fits;

/// <summary>
/// The last few fits computed on one immutable node snapshot, by ask shape and placement options. Lock-free: each
/// slot holds an immutable entry published by one reference write, so a reader sees a whole entry or none. A new
/// snapshot (any change of the node's usage) starts with an empty cache, so nothing here can go stale.
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

        for (var i = 0; i < entries.Length; i++)
        {
            if (Volatile.Read(ref entries[i]) is { } entry && entry.Request.SameShape(request) && (ReferenceEquals(entry.Options, options) || entry.Options.Equals(options)))
            {
                return entry.Result;
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

    private sealed record Entry(GpuRequest Request, PlacementOptions Options, FitResult Result);
}

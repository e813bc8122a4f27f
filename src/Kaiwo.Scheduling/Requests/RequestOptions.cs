namespace Kaiwo.Scheduling.Requests;

/// <summary>Limits on what pods may ask for.</summary>
public sealed record RequestOptions
{
    /// <summary>The smallest fraction accepted, in thousandths of a GPU (default 0.1).</summary>
    public int MinimumFractionMilli { get; init; } = 100;
}

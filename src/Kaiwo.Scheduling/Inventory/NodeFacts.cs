namespace Kaiwo.Scheduling.Inventory;

/// <summary>A node as the scheduling core sees it: labels, annotations and allocatable resources as strings.</summary>
public sealed record NodeFacts
{
    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();

    public required string Name { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = Empty;
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = Empty;
    public IReadOnlyDictionary<string, string> Allocatable { get; init; } = Empty;
}

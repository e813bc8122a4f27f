using System.Text;

namespace Kaiwo.Scheduling.State;

/// <summary>
/// Node names compared ordinally, also findable by their characters or by their ASCII bytes (as a request body holds
/// them) without making a string or copying bytes to characters: a name hashes the same over its characters as over
/// its bytes. The hash is FNV-1a, fixed rather than seeded per process as string hashing is: the keys are the
/// cluster's node names, not chosen by a caller, and a fixed hash keeps the table's order the same from run to run.
/// </summary>
internal sealed class NodeNameComparer :
    IEqualityComparer<string>,
    IAlternateEqualityComparer<ReadOnlySpan<char>, string>,
    IAlternateEqualityComparer<ReadOnlySpan<byte>, string>
{
    private const uint OffsetBasis = 2166136261;
    private const uint Prime = 16777619;

    private NodeNameComparer()
    {
    }

    public static NodeNameComparer Instance { get; } = new();

    public bool Equals(string? x, string? y) => string.Equals(x, y, StringComparison.Ordinal);

    public int GetHashCode(string obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        return GetHashCode(obj.AsSpan());
    }

    public bool Equals(ReadOnlySpan<char> alternate, string other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<char> alternate)
    {
        var hash = OffsetBasis;
        foreach (var c in alternate)
        {
            hash = (hash ^ c) * Prime;
        }

        return (int)hash;
    }

    public string Create(ReadOnlySpan<char> alternate) => new(alternate);

    /// <summary>Only an ASCII name's bytes equal a name: other bytes find nothing.</summary>
    public bool Equals(ReadOnlySpan<byte> alternate, string other) => Ascii.Equals(alternate, other);

    public int GetHashCode(ReadOnlySpan<byte> alternate)
    {
        var hash = OffsetBasis;
        foreach (var b in alternate)
        {
            hash = (hash ^ b) * Prime;
        }

        return (int)hash;
    }

    public string Create(ReadOnlySpan<byte> alternate) =>
        Ascii.IsValid(alternate) ? Encoding.ASCII.GetString(alternate) : throw new ArgumentException("a node name looked up by its bytes must be ASCII", nameof(alternate));
}

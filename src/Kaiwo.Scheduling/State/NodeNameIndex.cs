using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Text;

namespace Kaiwo.Scheduling.State;

/// <summary>
/// The nodes by the ASCII bytes of their names, as one immutable open-addressing table: filter's lookup of a name as
/// the request body holds it. A slot keeps the name's hash and length and, for a name of up to 16 bytes, the name
/// itself as two words, so a lookup of such a name reads the slot and nothing else to know it found its node (a
/// dictionary reads a node object and the key string first: at 5,000 names a call, each is a likely cache miss).
/// Built from the node table when the set of nodes changed (<see cref="Version"/>), never written after.
/// </summary>
/// <typeparam name="TEntry">What a name finds (the state's node entry).</typeparam>
internal sealed class NodeNameIndex<TEntry>
    where TEntry : class
{
    /// <summary>Names of up to this many bytes are held in the slot and compared there.</summary>
    private const int InlineBytes = 16;

    private readonly Slot[] _slots;
    private readonly int _mask;

    private NodeNameIndex(Slot[] slots, long version)
    {
        _slots = slots;
        _mask = slots.Length - 1;
        Version = version;
    }

    /// <summary>The version of the set of nodes this index was built at (the state's count of adds and removals).</summary>
    public long Version { get; }

    /// <summary>
    /// The index of <paramref name="entries"/>, labelled <paramref name="version"/>. Names that are not ASCII are left
    /// out: no ASCII bytes equal them. A name given twice keeps its first entry (a dictionary's keys are distinct).
    /// </summary>
    public static NodeNameIndex<TEntry> Build(IEnumerable<KeyValuePair<string, TEntry>> entries, int count, long version)
    {
        ArgumentNullException.ThrowIfNull(entries);
        // At most half full, so that a probe for a missing name ends after a slot or two.
        var slots = new Slot[(int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, count * 2))];
        var mask = slots.Length - 1;
        Span<byte> bytes = stackalloc byte[InlineBytes];
        var used = 0;
        foreach (var (name, entry) in entries)
        {
            if (!Ascii.IsValid(name))
            {
                continue;
            }

            if (used * 2 >= slots.Length)
            {
                // More entries than counted (the table grew while it was read): start again at the size they need.
                return Build(entries, count * 2 + 1, version);
            }

            var hash = NodeNameComparer.Instance.GetHashCode(name);
            var i = hash & mask;
            var duplicate = false;
            while (slots[i].Entry is not null)
            {
                if (slots[i].Hash == hash && string.Equals(slots[i].Name, name, StringComparison.Ordinal))
                {
                    duplicate = true;
                    break;
                }

                i = (i + 1) & mask;
            }

            if (duplicate)
            {
                continue;
            }

            var (low, high) = Words(name, bytes);
            slots[i] = new Slot(hash, name.Length, low, high, name, entry);
            used++;
        }

        return new NodeNameIndex<TEntry>(slots, version);
    }

    /// <summary>The entry of the name whose ASCII bytes these are; false for any other bytes.</summary>
    public bool TryGetValue(ReadOnlySpan<byte> asciiName, [MaybeNullWhen(false)] out TEntry entry)
    {
        var hash = NodeNameComparer.Instance.GetHashCode(asciiName);
        var length = asciiName.Length;
        var (low, high) = Words(asciiName);
        var slots = _slots;
        for (var i = hash & _mask; ; i = (i + 1) & _mask)
        {
            ref readonly var slot = ref slots[i];
            if (slot.Entry is null)
            {
                entry = null;
                return false;
            }

            if (slot.Hash == hash && slot.Length == length && slot.Low == low && slot.High == high
                && (length <= InlineBytes || Ascii.Equals(asciiName, slot.Name)))
            {
                entry = slot.Entry!;
                return true;
            }
        }
    }

    /// <summary>The first 16 bytes of an ASCII name as two little-endian words, zero past its end.</summary>
    private static (ulong Low, ulong High) Words(ReadOnlySpan<byte> name)
    {
        Span<byte> padded = stackalloc byte[InlineBytes];
        padded.Clear();
        name[..Math.Min(name.Length, InlineBytes)].CopyTo(padded);
        return (BinaryPrimitives.ReadUInt64LittleEndian(padded), BinaryPrimitives.ReadUInt64LittleEndian(padded[8..]));
    }

    private static (ulong Low, ulong High) Words(string asciiName, Span<byte> scratch)
    {
        var head = asciiName.AsSpan(0, Math.Min(asciiName.Length, InlineBytes));
        Encoding.ASCII.GetBytes(head, scratch);
        return Words(scratch[..head.Length]);
    }

    /// <summary>One name: its hash, its length, its first 16 bytes, and the name itself for longer names.</summary>
    private readonly record struct Slot(int Hash, int Length, ulong Low, ulong High, string Name, TEntry? Entry);
}

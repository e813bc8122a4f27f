using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Text;

namespace Kaiwo.Scheduling.State;

/// <summary>
/// The nodes by the ASCII bytes of their names, as one immutable open-addressing table: filter's lookup of a name as
/// the request body holds it. A slot keeps the name's hash and length and its first 16 bytes as two words, so a lookup
/// of a name of up to 16 bytes reads the slot and nothing else to know it found its node (a dictionary reads a node
/// object and the key string first: at 5,000 names a call, each is a likely cache miss); longer names are compared
/// with the name kept beside the slots. The hash is made of the name's 8-byte words, a few multiplications rather than
/// one per byte. Built from the node table when the set of nodes changed (<see cref="Version"/>), never written after.
/// </summary>
/// <typeparam name="TEntry">What a name finds (the state's node entry).</typeparam>
internal sealed class NodeNameIndex<TEntry>
    where TEntry : class
{
    /// <summary>Names of up to this many bytes are held in the slot and compared there.</summary>
    private const int InlineBytes = 16;

    private readonly Slot[] _slots;

    /// <summary>The names, by slot: read only for a name longer than <see cref="InlineBytes"/>.</summary>
    private readonly string[] _names;
    private readonly int _mask;

    private NodeNameIndex(Slot[] slots, string[] names, long version)
    {
        _slots = slots;
        _names = names;
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
        var names = new string[slots.Length];
        var mask = slots.Length - 1;
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

            var bytes = Encoding.ASCII.GetBytes(name);
            var (low, high) = Words(bytes);
            var hash = Hash(bytes, low, high);
            var i = hash & mask;
            var duplicate = false;
            while (slots[i].Entry is not null)
            {
                if (slots[i].Hash == hash && string.Equals(names[i], name, StringComparison.Ordinal))
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

            slots[i] = new Slot(hash, name.Length, low, high, entry);
            names[i] = name;
            used++;
        }

        return new NodeNameIndex<TEntry>(slots, names, version);
    }

    /// <summary>The entry of the name whose ASCII bytes these are; false for any other bytes.</summary>
    public bool TryGetValue(ReadOnlySpan<byte> asciiName, [MaybeNullWhen(false)] out TEntry entry)
    {
        if (TryFind(asciiName, out var position))
        {
            entry = EntryAt(position);
            return true;
        }

        entry = null;
        return false;
    }

    /// <summary>
    /// Where in the table the name whose ASCII bytes these are is (for <see cref="EntryAt"/>); false for any other
    /// bytes. A position is a number, so a caller that finds many names keeps them without writing a reference.
    /// </summary>
    public bool TryFind(ReadOnlySpan<byte> asciiName, out int position)
    {
        var (low, high) = Words(asciiName);
        var hash = Hash(asciiName, low, high);
        var length = asciiName.Length;
        var slots = _slots;
        for (var i = hash & _mask; ; i = (i + 1) & _mask)
        {
            ref readonly var slot = ref slots[i];
            if (slot.Entry is null)
            {
                position = -1;
                return false;
            }

            if (slot.Hash == hash && slot.Length == length && slot.Low == low && slot.High == high
                && (length <= InlineBytes || Ascii.Equals(asciiName, _names[i])))
            {
                position = i;
                return true;
            }
        }
    }

    /// <summary>The entry at a position <see cref="TryFind"/> gave.</summary>
    public TEntry EntryAt(int position) => _slots[position].Entry!;

    /// <summary>
    /// The first 16 bytes of a name as two little-endian words, zero past its end: read as whole words (the second one
    /// of a name of 9 to 15 bytes ending at the name's end, shifted down), not copied byte by byte.
    /// </summary>
    private static (ulong Low, ulong High) Words(ReadOnlySpan<byte> name)
    {
        var length = name.Length;
        if (length >= InlineBytes)
        {
            return (BinaryPrimitives.ReadUInt64LittleEndian(name), BinaryPrimitives.ReadUInt64LittleEndian(name[8..]));
        }

        if (length > 8)
        {
            return (BinaryPrimitives.ReadUInt64LittleEndian(name), BinaryPrimitives.ReadUInt64LittleEndian(name[(length - 8)..]) >> ((InlineBytes - length) * 8));
        }

        if (length == 8)
        {
            return (BinaryPrimitives.ReadUInt64LittleEndian(name), 0);
        }

        ulong low = 0;
        for (var i = 0; i < length; i++)
        {
            low |= (ulong)name[i] << (i * 8);
        }

        return (low, 0);
    }

    /// <summary>
    /// The name's hash from its length, its first two words and, past 16 bytes, each further word (the last one zero
    /// past the name's end): multiply-rotate rounds and a final mix, so that names that differ in one byte anywhere
    /// spread over the table's low bits.
    /// </summary>
    private static int Hash(ReadOnlySpan<byte> name, ulong low, ulong high)
    {
        const ulong Prime1 = 0x9E3779B185EBCA87;
        const ulong Prime2 = 0xC2B2AE3D27D4EB4F;
        var h = ((ulong)name.Length * Prime1) ^ low;
        h = BitOperations.RotateLeft(h * Prime2, 31) ^ high;
        for (var at = InlineBytes; at < name.Length; at += 8)
        {
            var rest = name[at..];
            h = BitOperations.RotateLeft(h * Prime1, 27) ^ (rest.Length >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(rest) : Words(rest).Low);
        }

        h *= Prime2;
        h ^= h >> 29;
        h *= Prime1;
        h ^= h >> 32;
        return (int)h;
    }

    /// <summary>One name: its hash, its length, its first 16 bytes and what it finds (null: an empty slot).</summary>
    private readonly record struct Slot(int Hash, int Length, ulong Low, ulong High, TEntry? Entry);
}

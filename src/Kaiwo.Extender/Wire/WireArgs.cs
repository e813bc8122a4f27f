using System.Buffers;
using System.Text;
using System.Text.Json;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Wire;

/// <summary>One candidate node of a filter or prioritize call, as the bytes it came in as.</summary>
/// <param name="Name">Where the node's name is in the body (the string without its quotes).</param>
/// <param name="NameIsPlain">
/// The name is only letters, digits, <c>-</c>, <c>.</c> and <c>_</c> (every Kubernetes node name is): the answer's
/// writer would escape none of it, so it is written as the quoted bytes it came in as, with no escaping check.
/// </param>
/// <param name="Item">In full mode, where the whole Node object is in the body, echoed as is when it passes.</param>
/// <remarks>
/// The candidate's node and verdict are kept beside it, at the same position (<see cref="WireArgs.Nodes"/>,
/// <see cref="WireArgs.Verdicts"/>), so that the questions of all nodes at once read and write them where they are.
/// </remarks>
internal readonly record struct WireCandidate(Range Name, bool NameIsPlain, Range Item)
{
    /// <summary>The name with its quotes, as it is in the body (an unescaped string): a JSON string as it stands.</summary>
    public Range QuotedName => (Name.Start.Value - 1)..(Name.End.Value + 1);
}

/// <summary>
/// The quick reading of an ExtenderArgs body for filter and prioritize: a <see cref="Utf8JsonReader"/> over the body
/// bytes that keeps candidate names and Node items as ranges of the body (nothing copied, no string per node) and
/// looks the names up in the state without making strings. Of each Node item only <c>metadata.name</c> is read.
/// </summary>
/// <remarks>
/// It succeeds only on the plain case, where it is sure to mean exactly what <see cref="ExtenderRequests.ReadArgs(JsonElement)"/>
/// means: ASCII keys without escapes, names that are plain ASCII strings, every candidate known to the state, one of
/// <c>NodeNames</c> or <c>Nodes</c>. Anything else (malformed JSON, a wrong type, an unknown node, a duplicate
/// key's subtleties) makes <see cref="TryRead"/> answer false, and the caller reads the body the complete way, which
/// gives every error its path and judges unknown nodes from their labels. So the quick path never decides an error.
/// </remarks>
internal sealed class WireArgs
{
    /// <summary>As deep as the complete reader parses (<see cref="ExtenderRequests"/>).</summary>
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64 };

    [ThreadStatic]
    private static WireArgs? t_cached;

    private WireCandidate[] _candidates = new WireCandidate[64];

    // The candidates' names and their nodes, looked up all at once when the body is read (ClusterState.TryGetNodes).
    private Range[] _names = new Range[64];
    private NodeCandidate[] _nodes = new NodeCandidate[64];
    private FitVerdict[] _verdicts = new FitVerdict[64];

    private WireArgs()
    {
    }

    public PodFacts Pod { get; private set; } = null!;

    /// <summary>Whether the candidates came as a NodeList (not nodeCacheCapable) rather than as names.</summary>
    public bool FullMode { get; private set; }

    /// <summary>In full mode, the NodeList's own <c>kind</c>, <c>apiVersion</c> and <c>metadata</c> values, as raw JSON (empty when absent or null).</summary>
    public Range ListKind { get; private set; }

    public Range ListApiVersion { get; private set; }

    public Range ListMetadata { get; private set; }

    public int Count { get; private set; }

    public ReadOnlySpan<WireCandidate> Candidates => _candidates.AsSpan(0, Count);

    /// <summary>The candidates' snapshots in the state, in their order: <see cref="Nodes"/>[i] is the node of <see cref="Candidates"/>[i].</summary>
    public ReadOnlySpan<NodeCandidate> Nodes => _nodes.AsSpan(0, Count);

    /// <summary>The candidates' verdicts, in their order, set by the verb on its first pass over them.</summary>
    public Span<FitVerdict> Verdicts => _verdicts.AsSpan(0, Count);

    /// <summary>Failed nodes already written in this answer: a name listed twice is one key of the failed maps, as in a dictionary.</summary>
    public HashSet<NodeCandidate> Written { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Decisions of this call counted by outcome and code, for the metrics: a handful of entries, not one per node.</summary>
    public DecisionTally Tally { get; } = new();

    /// <summary>
    /// The calling thread's reader, emptied. Filter and prioritize read, decide and write without awaiting, so one per
    /// thread is enough; <see cref="Release"/> drops the references it holds when the call is done.
    /// </summary>
    public static WireArgs Rent()
    {
        var args = t_cached ?? new WireArgs();
        t_cached = null;
        return args;
    }

    public void Release()
    {
        _candidates.AsSpan(0, Count).Clear();
        _nodes.AsSpan(0, Count).Clear();
        _verdicts.AsSpan(0, Count).Clear();
        Count = 0;
        Written.Clear();
        Tally.Clear();
        Pod = null!;
        t_cached = this;
    }

    /// <summary>Reads the plain case; false for anything the complete reader must look at (see remarks).</summary>
    public bool TryRead(ReadOnlyMemory<byte> body, ClusterState state)
    {
        Count = 0;
        FullMode = false;
        ListKind = ListApiVersion = ListMetadata = default;
        try
        {
            return TryReadCore(body, state);
        }
        catch (JsonException)
        {
            return false; // malformed: the complete reader says where
        }
        catch (ObjectReadException)
        {
            return false; // the pod is unusable: the complete reader says why, in the order it reads the body
        }
    }

    private bool TryReadCore(ReadOnlyMemory<byte> body, ClusterState state)
    {
        var span = body.Span;
        var reader = new Utf8JsonReader(span, ReaderOptions);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        Range? pod = null;
        var names = false;
        var nodes = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueIsEscaped || !Ascii.IsValid(reader.ValueSpan))
            {
                return false; // a key that only the complete reader's case folding would match
            }

            var key = reader.ValueSpan;
            reader.Read();
            if (Ascii.EqualsIgnoreCase(key, "Pod"u8))
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    return false;
                }

                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                pod = start..(int)reader.BytesConsumed;
            }
            else if (Ascii.EqualsIgnoreCase(key, "NodeNames"u8))
            {
                if (reader.TokenType == JsonTokenType.Null && !names)
                {
                    continue; // full mode: Go sends the unused field as null
                }

                if (names || nodes || !ReadNames(ref reader))
                {
                    return false;
                }

                names = true;
            }
            else if (Ascii.EqualsIgnoreCase(key, "Nodes"u8))
            {
                if (reader.TokenType == JsonTokenType.Null && !nodes)
                {
                    continue; // names mode: Go sends the unused field as null
                }

                if (names || nodes || !ReadNodeList(ref reader))
                {
                    return false;
                }

                nodes = true;
            }
            else
            {
                reader.Skip();
            }
        }

        // Nothing may follow the body's object; Read throws on anything but whitespace.
        if (reader.TokenType != JsonTokenType.EndObject || reader.Read() || pod is not { } podRange || !(names || nodes))
        {
            return false;
        }

        // Every candidate must be a node the state knows; their names are looked up together (see TryGetNodes).
        if (!state.TryGetNodes(span, _names.AsSpan(0, Count), _nodes))
        {
            return false;
        }

        // The pod is read where it lies, by the one pod mapper, once the rest of the body is known to be plain.
        var podReader = new Utf8JsonReader(span[podRange], ReaderOptions);
        podReader.Read();
        var facts = ObjectJson.ReadPod(ref podReader, "$.Pod");
        if (facts.Name.Length == 0)
        {
            return false;
        }

        Pod = facts;
        FullMode = nodes;
        return true;
    }

    private bool ReadNames(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return false; // null too: the complete reader decides whether Nodes is there instead
        }

        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.String || !TryName(ref reader, out var name, out var plain))
            {
                return false;
            }

            Add(new WireCandidate(name, plain, default));
        }

        return true;
    }

    /// <summary>A NodeList: its envelope as raw values, and of each item only where it is and its <c>metadata.name</c>.</summary>
    private bool ReadNodeList(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueIsEscaped)
            {
                return false;
            }

            var key = reader.ValueSpan;
            reader.Read();
            if (key.SequenceEqual("items"u8))
            {
                if (reader.TokenType != JsonTokenType.StartArray || Count > 0)
                {
                    return false; // null or repeated items: rare; the complete reader decides what they mean
                }

                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (!ReadItem(ref reader, out var candidate))
                    {
                        return false;
                    }

                    Add(candidate);
                }
            }
            else if (key.SequenceEqual("kind"u8) || key.SequenceEqual("apiVersion"u8))
            {
                if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
                {
                    return false;
                }

                var value = reader.TokenType == JsonTokenType.Null ? default : RawValue(ref reader);
                if (key[0] == (byte)'k')
                {
                    ListKind = value;
                }
                else
                {
                    ListApiVersion = value;
                }
            }
            else if (key.SequenceEqual("metadata"u8))
            {
                ListMetadata = reader.TokenType == JsonTokenType.Null ? default : RawValue(ref reader);
            }
            else
            {
                reader.Skip();
            }
        }

        return true;
    }

    /// <summary>One Node item: where it is, and its name from <c>metadata.name</c>; nothing else of it is read.</summary>
    private static bool ReadItem(ref Utf8JsonReader reader, out WireCandidate candidate)
    {
        candidate = default;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        var start = (int)reader.TokenStartIndex;
        Range name = default;
        var plain = false;
        var named = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueIsEscaped)
            {
                return false;
            }

            var isMetadata = reader.ValueSpan.SequenceEqual("metadata"u8);
            var isStatus = reader.ValueSpan.SequenceEqual("status"u8);
            reader.Read();
            if (isMetadata && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueIsEscaped)
                    {
                        return false;
                    }

                    var isName = reader.ValueSpan.SequenceEqual("name"u8);
                    reader.Read();
                    if (!isName)
                    {
                        reader.Skip();
                    }
                    else if (reader.TokenType != JsonTokenType.String || !TryName(ref reader, out name, out plain))
                    {
                        return false;
                    }
                    else
                    {
                        named = true;
                    }
                }
            }
            else if ((isMetadata || isStatus) && reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.Null))
            {
                return false; // the complete reader refuses a metadata or status that is not an object
            }
            else
            {
                reader.Skip();
            }
        }

        if (!named)
        {
            return false; // no name: the complete reader says why (a node the state does not know is found when all are looked up)
        }

        candidate = new WireCandidate(name, plain, start..(int)reader.BytesConsumed);
        return true;
    }

    /// <summary>
    /// A node name (ASCII, no escapes, 1 to 253 characters): where it is in the body, to be looked up by its bytes (no
    /// string, no characters) with the others once the body is read. Whether it is plain
    /// (<see cref="WireCandidate.NameIsPlain"/>) is seen in the same pass.
    /// </summary>
    private static bool TryName(ref Utf8JsonReader reader, out Range name, out bool plain)
    {
        name = default;
        plain = false;
        var value = reader.ValueSpan;
        if (reader.ValueIsEscaped || value.Length is 0 or > ObjectJson.MaxNameLength)
        {
            return false;
        }

        plain = !value.ContainsAnyExcept(PlainNameBytes);
        if (!plain && !Ascii.IsValid(value))
        {
            return false;
        }

        var start = (int)reader.TokenStartIndex + 1;
        name = start..(start + value.Length);
        return true;
    }

    /// <summary>The bytes of a plain name: none of them is escaped by the answer's writer.</summary>
    private static readonly SearchValues<byte> PlainNameBytes = SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._"u8);

    private static Range RawValue(ref Utf8JsonReader reader)
    {
        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        return start..(int)reader.BytesConsumed;
    }

    private void Add(WireCandidate candidate)
    {
        if (Count == _candidates.Length)
        {
            Array.Resize(ref _candidates, _candidates.Length * 2);
            Array.Resize(ref _names, _candidates.Length);
            Array.Resize(ref _nodes, _candidates.Length);
            Array.Resize(ref _verdicts, _candidates.Length);
        }

        _names[Count] = candidate.Name;
        _candidates[Count++] = candidate;
    }
}

/// <summary>Decisions counted by outcome and reason code; codes come from a short fixed list, so a linear search is enough.</summary>
internal sealed class DecisionTally
{
    private (FitOutcome Outcome, string Code, long Count)[] _entries = new (FitOutcome, string, long)[8];

    public int Count { get; private set; }

    public ReadOnlySpan<(FitOutcome Outcome, string Code, long Count)> Entries => _entries.AsSpan(0, Count);

    public void Add(FitVerdict verdict)
    {
        for (var i = 0; i < Count; i++)
        {
            ref var entry = ref _entries[i];
            if (entry.Outcome == verdict.Outcome && string.Equals(entry.Code, verdict.Code, StringComparison.Ordinal))
            {
                entry.Count++;
                return;
            }
        }

        if (Count == _entries.Length)
        {
            Array.Resize(ref _entries, Count * 2);
        }

        _entries[Count++] = (verdict.Outcome, verdict.Code, 1);
    }

    public void Clear()
    {
        _entries.AsSpan(0, Count).Clear();
        Count = 0;
    }
}

using System.Buffers;
using System.Buffers.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Verbs;

/// <summary>
/// Filter and prioritize as the HTTP handler runs them: body bytes in, answer bytes out. The plain request (known
/// nodes, plain names) is read by <see cref="WireArgs"/> without a document or a string per node, judged by the nodes'
/// fit summaries, and answered straight into the output with the passed names and Node items echoed as the bytes they
/// came in as; a failed node's reason is the one its snapshot already holds for this ask's shape. Any other body goes
/// the complete way (<see cref="ExtenderRequests"/>, <see cref="Filter(ExtenderArgs)"/>), which gives the same answers and every
/// error its JSON path.
/// </summary>
internal sealed partial class ExtenderVerbs
{
    /// <summary>As <see cref="ExtenderJson.Options"/> writes: reasons keep their quotes and apostrophes.</summary>
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The calling thread's answer writer: filter and prioritize write without awaiting, so one per thread is enough.</summary>
    [ThreadStatic]
    private static Utf8JsonWriter? t_answerWriter;

    /// <summary>Prioritize's keys, escaped once rather than checked on every entry.</summary>
    private static readonly JsonEncodedText HostKey = JsonEncodedText.Encode("Host"), ScoreKey = JsonEncodedText.Encode("Score");

    /// <summary>Answers a filter body into <paramref name="output"/>; or, writing nothing, returns the error of an unusable body (HTTP 400).</summary>
    public string? Filter(ReadOnlyMemory<byte> body, IBufferWriter<byte> output)
    {
        var args = WireArgs.Rent();
        try
        {
            if (!args.TryRead(body, state))
            {
                return Complete(body, output, a => Filter(a));
            }

            var evaluation = Prepare(args.Pod);
            if ((evaluation.Context.Gang is not null || evaluation.Context.Request.Kind == GpuAskKind.Whole) && state.KeepsOfferedNodes(evaluation.Context.Pod.Uid))
            {
                RecordOffered(evaluation, args);
            }

            var writer = AnswerWriter(output);
            WriteFilter(writer, body.Span, args, evaluation);
            writer.Flush();
            Record("filter", args, evaluation);
            return null;
        }
        finally
        {
            ReleaseAnswerWriter();
            args.Release();
        }
    }

    /// <summary>Answers a prioritize body into <paramref name="output"/>; or, writing nothing, returns the error of an unusable body.</summary>
    public string? Prioritize(ReadOnlyMemory<byte> body, IBufferWriter<byte> output)
    {
        var args = WireArgs.Rent();
        try
        {
            if (!args.TryRead(body, state))
            {
                return Complete(body, output, a => Prioritize(a));
            }

            var evaluation = Prepare(args.Pod);
            var span = body.Span;
            var writer = AnswerWriter(output);
            Span<byte> entry = stackalloc byte[PriorityEntryBytes];
            writer.WriteStartArray();
            var candidates = args.Candidates;
            var nodes = args.Nodes;
            var verdicts = args.Verdicts;
            for (var i = 0; i < candidates.Length; i++)
            {
                // The answer the candidate keeps for this shape when it has one; else the fit and scores the node's
                // snapshot keeps; else the verdict, and only a node that fits is placed in full (its score reads where
                // the pod would go).
                var score = pipeline.ScoreNode(evaluation, nodes[i], out verdicts[i]);
                args.Tally.Add(verdicts[i]);
                WritePriority(writer, span, candidates[i], score, entry);
            }

            writer.WriteEndArray();
            writer.Flush();
            Record("prioritize", args, evaluation);
            return null;
        }
        finally
        {
            ReleaseAnswerWriter();
            args.Release();
        }
    }

    /// <summary>
    /// A gang member's or a whole-GPU pod's candidates are the nodes kube-scheduler's own checks let it go to: its gang's
    /// plan or its starving reservation keeps to them. Other pods record nothing.
    /// </summary>
    private void RecordOffered(PodEvaluation evaluation, WireArgs args)
    {
        var names = new List<string>(args.Count);
        foreach (var node in args.Nodes)
        {
            names.Add(node.Name);
        }

        state.RecordOfferedNodes(evaluation.Context.Pod.Uid, names);
    }

    private void WriteFilter(Utf8JsonWriter writer, ReadOnlySpan<byte> body, WireArgs args, PodEvaluation evaluation)
    {
        var verdicts = args.Verdicts;
        pipeline.Verdicts(evaluation, args.Nodes, verdicts);
        foreach (var verdict in verdicts)
        {
            args.Tally.Add(verdict);
        }

        var candidates = args.Candidates;

        // Every node that fits is passed; or, where only the best is, that one node (-1: none fits).
        var best = pipeline.PassesOnlyBestNode ? pipeline.Best(evaluation, args.Nodes, verdicts) : -1;
        writer.WriteStartObject();
        if (args.FullMode)
        {
            writer.WritePropertyName("Nodes"u8);
            writer.WriteStartObject();
            WriteRaw(writer, "kind"u8, body, args.ListKind);
            WriteRaw(writer, "apiVersion"u8, body, args.ListApiVersion);
            WriteRaw(writer, "metadata"u8, body, args.ListMetadata);
            writer.WriteStartArray("items"u8);
            for (var i = 0; i < candidates.Length; i++)
            {
                if (Passes(verdicts, i, best))
                {
                    writer.WriteRawValue(body[candidates[i].Item], skipInputValidation: true);
                }
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteNull("NodeNames"u8);
        }
        else
        {
            writer.WriteNull("Nodes"u8);
            writer.WriteStartArray("NodeNames"u8);
            for (var i = 0; i < candidates.Length; i++)
            {
                if (Passes(verdicts, i, best))
                {
                    WriteName(writer, body, candidates[i]);
                }
            }

            writer.WriteEndArray();
        }

        WriteFailed(writer, "FailedNodes"u8, FitOutcome.FullNow, body, args, evaluation, best);
        WriteFailed(writer, "FailedAndUnresolvableNodes"u8, FitOutcome.NeverFits, body, args, evaluation, -1);
        writer.WriteString("Error"u8, string.Empty);
        writer.WriteEndObject();
    }

    /// <summary>
    /// The failed nodes of one kind with their reasons. A reason is the node snapshot's own for this ask's shape (made
    /// once per change of the node), or the pod's refusal, one for every node: no text is formatted per node per call.
    /// </summary>
    /// <remarks>
    /// Where only the best node is passed (<paramref name="best"/> is its position), the other nodes that fit are
    /// failed nodes too, with <see cref="SchedulingPipeline.PassedOverReason"/>: every node is answered, and the best
    /// one (even where kube-scheduler named it twice) only as passed.
    /// </remarks>
    private void WriteFailed(Utf8JsonWriter writer, ReadOnlySpan<byte> key, FitOutcome outcome, ReadOnlySpan<byte> body, WireArgs args, PodEvaluation evaluation, int best)
    {
        writer.WriteStartObject(key);
        var candidates = args.Candidates;
        var nodes = args.Nodes;
        var verdicts = args.Verdicts;
        if (best >= 0)
        {
            args.Written.Add(nodes[best]);
        }

        for (var i = 0; i < candidates.Length; i++)
        {
            if (verdicts[i].Outcome == outcome && args.Written.Add(nodes[i]))
            {
                writer.WriteString(body[candidates[i].Name], pipeline.EvaluateNode(evaluation, nodes[i]).Reason);
            }
            else if (best >= 0 && verdicts[i].Fits && args.Written.Add(nodes[i]))
            {
                writer.WriteString(body[candidates[i].Name], SchedulingPipeline.PassedOverReason);
            }
        }

        writer.WriteEndObject();
    }

    /// <summary>Whether the node at <paramref name="i"/> is passed: it fits, and it is the best where only the best is (<paramref name="best"/> ≥ 0).</summary>
    private static bool Passes(ReadOnlySpan<FitVerdict> verdicts, int i, int best) => verdicts[i].Fits && (best < 0 || i == best);

    /// <summary>The calling thread's answer writer on <paramref name="output"/>, made once per thread rather than once per call; the caller flushes it.</summary>
    private static Utf8JsonWriter AnswerWriter(IBufferWriter<byte> output)
    {
        if (t_answerWriter is not { } writer)
        {
            return t_answerWriter = new Utf8JsonWriter(output, WriterOptions);
        }

        writer.Reset(output);
        return writer;
    }

    /// <summary>Takes the answer writer off the call's output, so that it holds no answer between calls.</summary>
    private static void ReleaseAnswerWriter() => t_answerWriter?.Reset(NoOutput.Instance);

    /// <summary>
    /// One entry of prioritize's answer, <c>{"Host":"name","Score":7}</c>: for a plain name, put together in
    /// <paramref name="entry"/> from the name's quoted bytes and the score's digits (formatted as the writer formats
    /// numbers) and written as one raw value, with the writer's separator: the very bytes the writer makes of the
    /// object. Any other name goes through the writer.
    /// </summary>
    private static void WritePriority(Utf8JsonWriter writer, ReadOnlySpan<byte> body, in WireCandidate candidate, int score, Span<byte> entry)
    {
        var quoted = body[candidate.QuotedName];
        if (candidate.NameIsPlain && quoted.Length <= entry.Length - PriorityEntryOverhead)
        {
            "{\"Host\":"u8.CopyTo(entry);
            var length = 8;
            quoted.CopyTo(entry[length..]);
            length += quoted.Length;
            ",\"Score\":"u8.CopyTo(entry[length..]);
            length += 9;
            if (Utf8Formatter.TryFormat(score, entry[length..], out var digits))
            {
                length += digits;
                entry[length++] = (byte)'}';
                writer.WriteRawValue(entry[..length], skipInputValidation: true);
                return;
            }
        }

        writer.WriteStartObject();
        writer.WritePropertyName(HostKey);
        WriteName(writer, body, candidate);
        writer.WriteNumber(ScoreKey, score);
        writer.WriteEndObject();
    }

    /// <summary>Room for a prioritize entry of a quoted name of up to 255 bytes (a node name has at most 253).</summary>
    private const int PriorityEntryBytes = 255 + PriorityEntryOverhead;

    /// <summary><c>{"Host":</c>, <c>,"Score":</c>, the digits of any int and <c>}</c>.</summary>
    private const int PriorityEntryOverhead = 8 + 9 + 11 + 1;

    /// <summary>A candidate's name as a string value: a plain one as the quoted bytes it came in as, with no escaping check; any other through the writer.</summary>
    private static void WriteName(Utf8JsonWriter writer, ReadOnlySpan<byte> body, in WireCandidate candidate)
    {
        if (candidate.NameIsPlain)
        {
            writer.WriteRawValue(body[candidate.QuotedName], skipInputValidation: true);
        }
        else
        {
            writer.WriteStringValue(body[candidate.Name]);
        }
    }

    private static void WriteRaw(Utf8JsonWriter writer, ReadOnlySpan<byte> key, ReadOnlySpan<byte> body, Range value)
    {
        if (value.End.Value > value.Start.Value)
        {
            writer.WritePropertyName(key);
            writer.WriteRawValue(body[value], skipInputValidation: true);
        }
    }

    /// <summary>Counts the call's decisions per outcome and code, and logs each one only when its level is on.</summary>
    private void Record(string verb, WireArgs args, PodEvaluation evaluation)
    {
        if (metrics is not null)
        {
            foreach (var (outcome, code, count) in args.Tally.Entries)
            {
                metrics.RecordDecisions(verb, outcome, code, count);
            }
        }

        if (log.IsEnabled(LogLevel.Debug))
        {
            foreach (var node in args.Nodes)
            {
                var fit = pipeline.EvaluateNode(evaluation, node);
                LogDecision(log, verb, evaluation.Context.Pod.Key, node.Name, fit.Outcome, fit.Reason);
            }
        }
    }

    /// <summary>The complete way: the body parsed whole, read with every check, the verb run on the result and serialized.</summary>
    private static string? Complete<TResult>(ReadOnlyMemory<byte> body, IBufferWriter<byte> output, Func<ExtenderArgs, TResult> verb)
    {
        using var document = ExtenderRequests.TryRead(body, "ExtenderArgs", ExtenderRequests.ReadArgs, out var read, out var error);
        if (document is null)
        {
            return error;
        }

        var result = verb(read!);
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        JsonSerializer.Serialize(writer, result, ExtenderJson.Options);
        return null;
    }
}

/// <summary>Where a released writer points between calls, so that it holds no answer's output: nothing may be written to it.</summary>
internal sealed class NoOutput : IBufferWriter<byte>
{
    public static NoOutput Instance { get; } = new();

    public void Advance(int count) => throw new InvalidOperationException("a released answer writer was written to");

    public Memory<byte> GetMemory(int sizeHint = 0) => throw new InvalidOperationException("a released answer writer was written to");

    public Span<byte> GetSpan(int sizeHint = 0) => throw new InvalidOperationException("a released answer writer was written to");
}

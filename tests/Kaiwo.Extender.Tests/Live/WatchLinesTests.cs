using System.Buffers;
using System.Text;
using Kaiwo.Extender.Live;

namespace Kaiwo.Extender.Tests.Live;

public sealed class WatchLinesTests
{
    [Fact]
    public void TryTake_LinesSplitAcrossSegments_GivesEachWholeLineOnce()
    {
        var buffer = Segments("{\"type\":\"ADD", "ED\"}\n{\"type\":", "\"MODIFIED\"}\r\n", "{\"partial\"");

        var lines = TakeAll(ref buffer, streamEnded: false);

        Assert.Equal(["{\"type\":\"ADDED\"}", "{\"type\":\"MODIFIED\"}"], lines);
        Assert.Equal("{\"partial\"", Encoding.UTF8.GetString(buffer.ToArray()));
    }

    [Fact]
    public void TryTake_StreamEndedWithoutNewline_GivesTheRestAsTheLastLine()
    {
        var buffer = Segments("{\"a\":1}\n", "{\"b\":2}");

        var lines = TakeAll(ref buffer, streamEnded: true);

        Assert.Equal(["{\"a\":1}", "{\"b\":2}"], lines);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void TryTake_EmptyLinesAndCarriageReturns_GivesEmptyLinesWithoutTheReturn()
    {
        var buffer = Segments("\n\r\n{\"a\":1}\r", "\n");

        var lines = TakeAll(ref buffer, streamEnded: false);

        Assert.Equal(["", "", "{\"a\":1}"], lines);
    }

    [Fact]
    public void TryTake_NoNewlineAndStreamOpen_TakesNothing()
    {
        var buffer = Segments("{\"type\":\"ADDED\"");

        Assert.False(WatchLines.TryTake(ref buffer, streamEnded: false, out _));
        Assert.Equal(15, buffer.Length);
    }

    [Fact]
    public void TryTake_OpenLineLongerThanTheLimit_ThrowsNamingItsLengthAndTheLimit()
    {
        var buffer = Segments("{\"type\":\"ADDED\",", "\"object\":{\"x\":\"");

        var ex = Assert.Throws<WatchLineTooLongException>(() => WatchLines.TryTake(ref buffer, streamEnded: false, out _, maxLineBytes: 20));

        Assert.IsAssignableFrom<IOException>(ex);
        Assert.Contains("reached 31 bytes", ex.Message, StringComparison.Ordinal);
        Assert.Contains("at most 20 bytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryTake_EndedLineLongerThanTheLimit_Throws()
    {
        var buffer = Segments("{\"a\":\"0123456789012345\"}\n{\"b\":1}\n");

        Assert.Throws<WatchLineTooLongException>(() => WatchLines.TryTake(ref buffer, streamEnded: false, out _, maxLineBytes: 20));
    }

    [Fact]
    public void TryTake_LastLineOfAnEndedStreamLongerThanTheLimit_Throws()
    {
        var buffer = Segments("{\"a\":\"0123456789012345\"}");

        Assert.Throws<WatchLineTooLongException>(() => WatchLines.TryTake(ref buffer, streamEnded: true, out _, maxLineBytes: 20));
    }

    [Fact]
    public void TryTake_LinesAtTheLimit_AreTaken()
    {
        var buffer = Segments("{\"a\":\"0123456789\"}\r\n", "{\"b\":\"012345678901\"}");

        var lines = new List<string>();
        while (WatchLines.TryTake(ref buffer, streamEnded: true, out var line, maxLineBytes: 20))
        {
            lines.Add(Encoding.UTF8.GetString(line.ToArray()));
        }

        Assert.Equal(["{\"a\":\"0123456789\"}", "{\"b\":\"012345678901\"}"], lines);
    }

    private static List<string> TakeAll(ref ReadOnlySequence<byte> buffer, bool streamEnded)
    {
        var lines = new List<string>();
        while (WatchLines.TryTake(ref buffer, streamEnded, out var line))
        {
            lines.Add(Encoding.UTF8.GetString(line.ToArray()));
        }

        return lines;
    }

    private static ReadOnlySequence<byte> Segments(params string[] parts)
    {
        Segment? first = null, last = null;
        foreach (var part in parts)
        {
            var segment = new Segment(Encoding.UTF8.GetBytes(part));
            if (first is null)
            {
                first = last = segment;
            }
            else
            {
                last = last!.Append(segment);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes) => Memory = bytes;

        public Segment Append(Segment next)
        {
            next.RunningIndex = RunningIndex + Memory.Length;
            Next = next;
            return next;
        }
    }
}

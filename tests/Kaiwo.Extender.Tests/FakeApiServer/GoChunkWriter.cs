namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// Go's <c>bufio.Writer</c> of 2048 bytes in front of net/http's chunk writer, which is why the watch stream's chunk
/// boundaries do not follow event boundaries: events written while more are pending fill 2048-byte (<c>800</c>)
/// chunks, a write larger than the free space of an empty buffer goes out as one chunk of its own size, and a flush
/// sends what is buffered (2j, 3g: chunks 2048, 2048, 1475; 2b: one chunk per live event).
/// Each call of the sink must become exactly one HTTP chunk.
/// </summary>
internal sealed class GoChunkWriter(Func<ReadOnlyMemory<byte>, Task> sink)
{
    public const int BufferSize = 2048;

    private readonly byte[] _buffer = new byte[BufferSize];
    private int _count;

    public async Task WriteAsync(ReadOnlyMemory<byte> data)
    {
        while (data.Length > BufferSize - _count)
        {
            if (_count == 0)
            {
                // Large write, empty buffer: Go writes it directly, as one chunk.
                await sink(data.ToArray());
                return;
            }

            var free = BufferSize - _count;
            data[..free].CopyTo(_buffer.AsMemory(_count));
            _count = BufferSize;
            data = data[free..];
            await FlushAsync();
        }

        data.CopyTo(_buffer.AsMemory(_count));
        _count += data.Length;
    }

    public async Task FlushAsync()
    {
        if (_count > 0)
        {
            var chunk = _buffer.AsMemory(0, _count).ToArray();
            _count = 0;
            await sink(chunk);
        }
    }
}

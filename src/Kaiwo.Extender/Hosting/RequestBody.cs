using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// A request body read whole into a buffer rented from the shared pool (returned on dispose), or why it was refused:
/// the server's body size limit (<c>Extender:MaxRequestBodyBytes</c>) ends the read with 413, a client that breaks off
/// with 400, and so does a body that is not UTF-8 (naming the first bad byte). A UTF-8 byte order mark is dropped, as
/// JSON readers of a stream do.
/// </summary>
internal sealed class RequestBody : IDisposable
{
    private byte[]? _buffer;
    private readonly int _start;
    private readonly int _length;

    private RequestBody(byte[]? buffer, int start, int length, (int Status, string Message)? rejection)
    {
        _buffer = buffer;
        _start = start;
        _length = length;
        Rejection = rejection;
    }

    public ReadOnlyMemory<byte> Bytes => _buffer is null ? ReadOnlyMemory<byte>.Empty : _buffer.AsMemory(_start, _length);

    public (int Status, string Message)? Rejection { get; }

    public static async Task<RequestBody> ReadAsync(HttpContext http)
    {
        var declared = http.Request.ContentLength;
        var buffer = ArrayPool<byte>.Shared.Rent(declared is > 0 and < 64 * 1024 * 1024 ? (int)declared.Value + 1 : 16 * 1024);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await http.Request.Body.ReadAsync(buffer.AsMemory(length), http.RequestAborted).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                length += read;
            }
        }
        catch (BadHttpRequestException ex)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return new RequestBody(null, 0, 0, (ex.StatusCode, $"request body rejected: {ex.Message}"));
        }

        var start = length >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF ? 3 : 0;
        var bytes = buffer.AsSpan(start, length - start);
        if (!Utf8.IsValid(bytes))
        {
            // No JSON reader turns a string with such bytes into text: refused here, before any verb reads it.
            var at = FirstInvalidByte(bytes);
            var problem = $"request body is not UTF-8: byte {start + at + 1} (0x{bytes[at]:X2}) starts an invalid UTF-8 sequence; JSON bodies are UTF-8";
            ArrayPool<byte>.Shared.Return(buffer);
            return new RequestBody(null, 0, 0, (StatusCodes.Status400BadRequest, problem));
        }

        return new RequestBody(buffer, start, length - start, null);
    }

    private static int FirstInvalidByte(ReadOnlySpan<byte> bytes)
    {
        var at = 0;
        while (Rune.DecodeFromUtf8(bytes[at..], out _, out var consumed) == OperationStatus.Done)
        {
            at += consumed;
        }

        return at;
    }

    public void Dispose()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

using System.Buffers;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// The buffers filter and prioritize write their answers into before they go out whole: one kept per thread, taken
/// for the call (it may end on another thread after the write awaits) and given back to the thread that ends it. A
/// buffer that grew past <see cref="KeptBytes"/> for one large answer is dropped rather than kept.
/// </summary>
internal static class AnswerBuffer
{
    /// <summary>An answer to 5,000 candidates is about 100 KB; larger buffers are not kept between calls.</summary>
    public const int KeptBytes = 1024 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    public static ArrayBufferWriter<byte> Take()
    {
        var buffer = t_buffer ?? new ArrayBufferWriter<byte>(16 * 1024);
        t_buffer = null;
        return buffer;
    }

    public static void Return(ArrayBufferWriter<byte> buffer)
    {
        if (buffer.Capacity <= KeptBytes)
        {
            buffer.ResetWrittenCount();
            t_buffer = buffer;
        }
    }
}

using System.Buffers;
using Kaiwo.Extender.Verbs;

namespace Kaiwo.Benchmarks;

internal static class WireCall
{
    /// <summary>What the HTTP handler does between reading the body and flushing the response: the answer's length.</summary>
    public static int Answer(ExtenderVerbs verbs, byte[] body, ArrayBufferWriter<byte> output, bool filter)
    {
        output.ResetWrittenCount();
        var error = filter ? verbs.Filter(body, output) : verbs.Prioritize(body, output);
        return error is null ? output.WrittenCount : throw new InvalidOperationException(error);
    }
}

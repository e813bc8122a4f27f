using System.Globalization;
using System.Text;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// A value from a request or from the API server (a pod or node name, a reason quoting a user's annotation, an error
/// message) as the logs show it. Every <c>[LoggerMessage]</c> parameter that can carry such a value has this type, so
/// no call site can forget it: the conversion from string is implicit, and the escaping happens only when a log line
/// is written. Escaped: line breaks and tabs as <c>\r \n \t</c>, every other control character (ANSI escapes
/// included), the Unicode line and paragraph separators, bidirectional overrides and unpaired surrogates as
/// <c>\uXXXX</c>, and the backslash itself as <c>\\</c> (so a value cannot spell an escape that reads as ours).
/// Values longer than <see cref="MaxLength"/> characters are cut, with how long they were.
/// </summary>
internal readonly record struct LogText(string? Value)
{
    /// <summary>The most characters of one value a log line shows (escapes count as the characters they print).</summary>
    public const int MaxLength = 1024;

    public static implicit operator LogText(string? value) => new(value);

    public static LogText FromString(string? value) => new(value);

    public override string ToString() => Escape(Value);

    /// <summary>The value escaped and cut as the type's summary says; null as the empty string.</summary>
    public static string Escape(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }

        if (value.Length <= MaxLength && !value.AsSpan().ContainsAnyExceptInRange(' ', '~') && !value.Contains('\\', StringComparison.Ordinal))
        {
            return value; // printable ASCII without backslashes: nothing to do
        }

        var text = new StringBuilder(Math.Min(value.Length, MaxLength) + 32);
        var i = 0;
        for (; i < value.Length && text.Length < MaxLength; i++)
        {
            var c = value[i];
            if (c == '\\')
            {
                text.Append(@"\\");
            }
            else if (c == '\n')
            {
                text.Append(@"\n");
            }
            else if (c == '\r')
            {
                text.Append(@"\r");
            }
            else if (c == '\t')
            {
                text.Append(@"\t");
            }
            else if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                text.Append(c).Append(value[++i]);
            }
            else if (char.IsControl(c) || char.IsSurrogate(c) || IsLayoutControl(c))
            {
                text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                text.Append(c);
            }
        }

        if (i < value.Length)
        {
            text.Append(CultureInfo.InvariantCulture, $"... (cut: {value.Length} characters)");
        }

        return text.ToString();
    }

    /// <summary>Characters that move or reorder text on a terminal without being control characters.</summary>
    private static bool IsLayoutControl(char c) =>
        c is '\u2028' or '\u2029' or '\u061c' or '\u200e' or '\u200f' or (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069');
}

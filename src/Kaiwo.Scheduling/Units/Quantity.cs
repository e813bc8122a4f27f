using System.Globalization;
using System.Numerics;

namespace Kaiwo.Scheduling.Units;

/// <summary>
/// Parses Kubernetes resource quantities ("24Gi", "500m", "1e3", "192G") exactly, with no floating point.
/// </summary>
/// <remarks>
/// Kubernetes' own grammar: a signed decimal number, then an optional binary suffix (Ki..Ei), decimal
/// suffix (n, u, m, k, M, G, T, P, E) or decimal exponent (e3, E-2). We keep the value as a fraction of
/// big integers so that "0.1" and "100m" compare equal and rounding happens once, where the caller says.
/// </remarks>
public static class Quantity
{
    private static readonly (string Suffix, BigInteger Numerator, BigInteger Denominator)[] Suffixes =
    [
        ("Ki", BigInteger.Pow(2, 10), 1), ("Mi", BigInteger.Pow(2, 20), 1), ("Gi", BigInteger.Pow(2, 30), 1),
        ("Ti", BigInteger.Pow(2, 40), 1), ("Pi", BigInteger.Pow(2, 50), 1), ("Ei", BigInteger.Pow(2, 60), 1),
        ("n", 1, BigInteger.Pow(10, 9)), ("u", 1, BigInteger.Pow(10, 6)), ("m", 1, 1000),
        ("k", 1000, 1), ("M", BigInteger.Pow(10, 6), 1), ("G", BigInteger.Pow(10, 9), 1),
        ("T", BigInteger.Pow(10, 12), 1), ("P", BigInteger.Pow(10, 15), 1), ("E", BigInteger.Pow(10, 18), 1),
    ];

    /// <summary>Parses a quantity into an exact fraction. Returns false for anything Kubernetes would refuse.</summary>
    public static bool TryParse(string? text, out BigInteger numerator, out BigInteger denominator)
    {
        numerator = 0;
        denominator = 1;
        if (string.IsNullOrWhiteSpace(text) || text.Length > 64)
        {
            return false;
        }

        var s = text.Trim();
        BigInteger suffixNum = 1, suffixDen = 1;
        var number = s;
        var exponent = 0;
        var matched = false;
        foreach (var (suffix, num, den) in Suffixes)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal) && s.Length > suffix.Length && IsNumberChar(s[^(suffix.Length + 1)]))
            {
                // "1E" is the exa suffix; "1e3" is an exponent: handled below.
                suffixNum = num;
                suffixDen = den;
                number = s[..^suffix.Length];
                matched = true;
                break;
            }
        }

        if (!matched)
        {
            var e = s.IndexOfAny(['e', 'E']);
            if (e > 0)
            {
                if (!int.TryParse(s.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent) || Math.Abs(exponent) > 30)
                {
                    return false;
                }

                number = s[..e];
            }
        }

        if (!TryParseDecimal(number, out var decNum, out var decDen))
        {
            return false;
        }

        numerator = decNum * suffixNum;
        denominator = decDen * suffixDen;
        if (exponent > 0)
        {
            numerator *= BigInteger.Pow(10, exponent);
        }
        else if (exponent < 0)
        {
            denominator *= BigInteger.Pow(10, -exponent);
        }

        return true;
    }

    /// <summary>Parses a quantity and rounds it up to a whole number of <paramref name="unit"/> (for example 1 MiB).</summary>
    public static bool TryParseCeiling(string? text, long unit, out long value)
    {
        value = 0;
        if (!TryParse(text, out var num, out var den))
        {
            return false;
        }

        var scaledDen = den * unit;
        var q = BigInteger.DivRem(num, scaledDen, out var rem);
        if (rem > 0)
        {
            q += 1;
        }

        if (q > long.MaxValue || q < long.MinValue)
        {
            return false;
        }

        value = (long)q;
        return true;
    }

    /// <summary>Parses a quantity that must be a whole number (extended resources such as amd.com/gpu are integers).</summary>
    public static bool TryParseInteger(string? text, out long value)
    {
        value = 0;
        if (!TryParse(text, out var num, out var den))
        {
            return false;
        }

        var q = BigInteger.DivRem(num, den, out var rem);
        if (rem != 0 || q > long.MaxValue || q < long.MinValue)
        {
            return false;
        }

        value = (long)q;
        return true;
    }

    private static bool IsNumberChar(char c) => c is >= '0' and <= '9' or '.';

    private static bool TryParseDecimal(string text, out BigInteger numerator, out BigInteger denominator)
    {
        numerator = 0;
        denominator = 1;
        var span = text.AsSpan();
        var negative = false;
        if (span.Length > 0 && (span[0] == '+' || span[0] == '-'))
        {
            negative = span[0] == '-';
            span = span[1..];
        }

        if (span.Length == 0)
        {
            return false;
        }

        var digits = 0;
        var seenDot = false;
        foreach (var c in span)
        {
            if (c == '.')
            {
                if (seenDot)
                {
                    return false;
                }

                seenDot = true;
                continue;
            }

            if (c is < '0' or > '9')
            {
                return false;
            }

            numerator = (numerator * 10) + (c - '0');
            digits++;
            if (seenDot)
            {
                denominator *= 10;
            }
        }

        if (digits == 0)
        {
            return false;
        }

        if (negative)
        {
            numerator = -numerator;
        }

        return true;
    }
}

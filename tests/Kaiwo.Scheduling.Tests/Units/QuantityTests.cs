using Kaiwo.Scheduling.Units;

namespace Kaiwo.Scheduling.Tests.Units;

public sealed class QuantityTests
{
    [Theory]
    [InlineData("24Gi", 24576)]
    [InlineData("1Gi", 1024)]
    [InlineData("512Mi", 512)]
    [InlineData("24G", 22889)] // 24e9 bytes is 22888.18 MiB: rounded up, never understated
    [InlineData("1048576", 1)]
    [InlineData("1e6", 1)]
    [InlineData("1.5Gi", 1536)]
    public void TryParseCeiling_ValidQuantity_ReturnsWholeMiB(string text, long expected)
    {
        Assert.True(Quantity.TryParseCeiling(text, 1024 * 1024, out var mib));
        Assert.Equal(expected, mib);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("1.2.3")]
    [InlineData("Gi")]
    [InlineData("1Xi")]
    [InlineData("NaN")]
    [InlineData("1e")]
    [InlineData("--1")]
    public void TryParse_Malformed_ReturnsFalse(string text)
    {
        Assert.False(Quantity.TryParse(text, out _, out _));
    }

    [Theory]
    [InlineData("4", 4)]
    [InlineData("1000m", 1)]
    [InlineData("0", 0)]
    public void TryParseInteger_WholeNumber_ReturnsIt(string text, long expected)
    {
        Assert.True(Quantity.TryParseInteger(text, out var n));
        Assert.Equal(expected, n);
    }

    [Theory]
    [InlineData("500m")]
    [InlineData("1.5")]
    public void TryParseInteger_Fractional_ReturnsFalse(string text)
    {
        Assert.False(Quantity.TryParseInteger(text, out _));
    }
}

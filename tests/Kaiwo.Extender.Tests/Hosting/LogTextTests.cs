using System.Collections.Concurrent;
using System.Text;
using Kaiwo.Extender.Hosting;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>Values from requests cannot forge log lines: escaped, and cut at <see cref="LogText.MaxLength"/>.</summary>
public sealed class LogTextTests
{
    [Theory]
    [InlineData("team-a/quarter", "team-a/quarter")]
    [InlineData("a\r\nINFO forged line", @"a\r\nINFO forged line")]
    [InlineData("tab\there", @"tab\there")]
    [InlineData("\u001b[31mred\u001b[0m", @"\u001b[31mred\u001b[0m")]
    [InlineData("back\\slash\\n", @"back\\slash\\n")]
    [InlineData("nul\0bell\u0007del\u007f", @"nul\u0000bell\u0007del\u007f")]
    [InlineData("next\u0085line\u2028sep\u2029", @"next\u0085line\u2028sep\u2029")]
    [InlineData("bidi\u202eevil\u2066", @"bidi\u202eevil\u2066")]
    [InlineData("gpu-ノード-🚀", "gpu-ノード-🚀")]
    [InlineData("", "")]
    [InlineData(null, "")]
    public void Escape_Value_EscapesWhatCouldForgeOrRecolourALine(string? value, string expected)
    {
        Assert.Equal(expected, LogText.Escape(value));
    }

    [Fact]
    public void Escape_UnpairedSurrogate_IsEscaped()
    {
        // Not in InlineData: test discovery would replace the lone surrogate before the test sees it.
        Assert.Equal(@"lone\ud800surrogate", LogText.Escape("lone" + (char)0xD800 + "surrogate"));
    }

    [Fact]
    public void Escape_MegabyteName_IsCutAtTheLimitSayingHowLongItWas()
    {
        var name = new string('x', 1024 * 1024);

        var logged = LogText.Escape(name);

        Assert.Equal(new string('x', LogText.MaxLength) + "... (cut: 1048576 characters)", logged);
    }

    [Fact]
    public void Escape_MegabyteOfNewlines_IsCutAndHasNoLineBreak()
    {
        var logged = LogText.Escape(new string('\n', 1024 * 1024));

        Assert.DoesNotContain('\n', logged);
        Assert.StartsWith(@"\n\n", logged, StringComparison.Ordinal);
        Assert.InRange(logged.Length, LogText.MaxLength, LogText.MaxLength + 40);
    }

    [Fact]
    public void ToString_ImplicitFromString_Escapes()
    {
        LogText text = "x\ny";

        Assert.Equal(@"x\ny", text.ToString());
    }

    [Fact]
    public async Task Bind_PodNameWithLineBreaksAnsi_IsLoggedOnOneLineAndAMegabyteNameIsRefusedBeforeLogging()
    {
        var logs = new CapturedLogs();
        await using var factory = ExtenderFactory.ForMode("names", new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Information" })
            .WithWebHostBuilder(b => b.ConfigureTestServices(s => s.AddSingleton<ILoggerProvider>(logs)));
        using var client = factory.CreateClient();
        var forged = "ghost\r\n2026-11-23 INFO Bound team-a/x to gpu-node-01\u001b[2K";
        var huge = new string('y', 1024 * 1024);

        foreach (var name in new[] { forged, huge })
        {
            var body = System.Text.Json.JsonSerializer.Serialize(new { PodName = name, PodNamespace = "team-a", PodUID = "no-such-uid", Node = "gpu-node-01" });
            var answer = await Fixtures.PostAsync(client, "/bind", body);

            // A name past Kubernetes' 253 characters is not a usable request: 400 naming the field, before anything is logged.
            Assert.Equal(name.Length > 253 ? System.Net.HttpStatusCode.BadRequest : System.Net.HttpStatusCode.OK, answer.Status);
        }

        var refused = logs.Messages.Where(m => m.StartsWith("Bind of team-a/", StringComparison.Ordinal)).ToList();
        Assert.Single(refused);
        Assert.All(logs.Messages, m => Assert.False(m.Contains('\n') || m.Contains('\r') || m.Contains('\u001b'), $"raw control character in: {m[..Math.Min(200, m.Length)]}"));
        Assert.Contains(refused, m => m.Contains(@"ghost\r\n2026-11-23 INFO Bound team-a/x to gpu-node-01\u001b[2K", StringComparison.Ordinal));
        Assert.All(logs.Messages, m => Assert.True(m.Length < 2 * LogText.MaxLength, $"a logged line is {m.Length} characters"));
    }

    /// <summary>Every log message, formatted as a log line shows it.</summary>
    private sealed class CapturedLogs : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _messages = new();

        public IReadOnlyList<string> Messages => [.. _messages];

        public ILogger CreateLogger(string categoryName) => new Logger(_messages);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Enqueue(formatter(state, exception));
        }
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Kaiwo.Extender.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>
/// The limits of <c>Listeners</c> on a real Kestrel server, driven by raw TCP clients: slow and idle clients are cut
/// off, oversized headers refused, and a full listener refuses new connections while its open ones, and the other
/// listener, go on. Kestrel's timeouts run on its own one-second heartbeat and the real clock, so these tests take a
/// few real seconds; every wait is bounded.
/// </summary>
public sealed class KestrelLimitsTests
{
    /// <summary>
    /// Kestrel checks its timeouts once a second, and this machine is shared: a cut-off comes within the limit plus
    /// this. Only a bound: each wait ends as soon as the server closes the connection, seconds before it without load.
    /// </summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task RequestHeaders_TrickledSlowerThanTheTimeout_ConnectionIsCutOff()
    {
        await using var factory = Start(new() { ["Listeners:RequestHeadersTimeout"] = "00:00:01" });
        using var slow = await ConnectAsync(factory, Listener.Verbs);
        var watch = Stopwatch.StartNew();

        // A slowloris: a request line, then one header byte every 100 ms, never the blank line that ends the headers.
        await slow.SendAsync(Encoding.ASCII.GetBytes("POST /filter HTTP/1.1\r\nHost: x\r\nX-Slow: "));
        var closed = await TrickleUntilClosedAsync(slow, "a"u8.ToArray(), TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1) + Slack);

        Assert.True(closed, $"still open after {watch.Elapsed}");
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(1) - TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1) + Slack);
    }

    [Fact]
    public async Task KeepAlive_IdleConnectionPastTheTimeout_IsClosedByTheServer()
    {
        await using var factory = Start(new() { ["Listeners:KeepAliveTimeout"] = "00:00:01" });
        using var idle = await ConnectAsync(factory, Listener.Verbs);
        Assert.StartsWith("HTTP/1.1 200", await RequestAsync(idle, "GET /inspect/gpu-node-01"), StringComparison.Ordinal);

        var closed = await ClosedWithinAsync(idle, TimeSpan.FromSeconds(1) + Slack);

        Assert.True(closed);
    }

    [Fact]
    public async Task RequestBody_SentSlowerThanTheMinimumRate_ConnectionIsCutOffAfterTheGracePeriod()
    {
        await using var factory = Start(new()
        {
            ["Listeners:MinDataRateBytesPerSecond"] = "1000",
            ["Listeners:MinDataRateGracePeriod"] = "00:00:02",
        });
        using var slow = await ConnectAsync(factory, Listener.Verbs);
        var watch = Stopwatch.StartNew();
        await slow.SendAsync(Encoding.ASCII.GetBytes("POST /filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"));

        // Ten bytes a second against a minimum of a thousand.
        var closed = await TrickleUntilClosedAsync(slow, "          "u8.ToArray(), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2) + Slack);

        Assert.True(closed, $"still open after {watch.Elapsed}");
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(100), $"cut off after {watch.Elapsed}, inside the grace period");

        Assert.True(closed, $"still open after {watch.Elapsed}");
    }

    [Fact]
    public async Task RequestHeaders_LargerThanTheLimit_Answered431()
    {
        await using var factory = Start(new() { ["Listeners:MaxRequestHeadersBytes"] = "4096" });
        using var connection = await ConnectAsync(factory, Listener.Verbs);

        var answer = await RequestAsync(connection, "GET /inspect", $"X-Large: {new string('a', 8192)}");

        Assert.StartsWith("HTTP/1.1 431", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_VerbsListenerFull_NewOnesClosedWhileOpenOnesAndTheMetricsListenerGoOn()
    {
        await using var factory = Start(new() { ["Listeners:Verbs:MaxConnections"] = "2", ["Listeners:Metrics:MaxConnections"] = "2" });
        using var first = await ConnectAsync(factory, Listener.Verbs);
        using var second = await ConnectAsync(factory, Listener.Verbs);
        Assert.StartsWith("HTTP/1.1 200", await RequestAsync(first, "GET /inspect/gpu-node-01"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200", await RequestAsync(second, "GET /inspect/gpu-node-01"), StringComparison.Ordinal);

        using var third = await ConnectAsync(factory, Listener.Verbs);
        var refused = await RequestAsync(third, "GET /inspect/gpu-node-01");
        var again = await RequestAsync(first, "GET /inspect/gpu-node-01");
        using var metrics = factory.CreateClient(Listener.Metrics);
        var health = await Fixtures.GetAsync(metrics, "/healthz");

        Assert.Equal(string.Empty, refused);
        Assert.StartsWith("HTTP/1.1 200", again, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, health.Status);
        Assert.Equal(1, factory.Services.GetRequiredService<ListenerEndpoints>().Refused(Listener.Verbs));
        Assert.Equal(0, factory.Services.GetRequiredService<ListenerEndpoints>().Refused(Listener.Metrics));
    }

    [Fact]
    public async Task Connections_MetricsListenerFull_VerbsStillServed()
    {
        await using var factory = Start(new() { ["Listeners:Metrics:MaxConnections"] = "1" });
        using var scraper = await ConnectAsync(factory, Listener.Metrics);
        Assert.StartsWith("HTTP/1.1 200", await RequestAsync(scraper, "GET /healthz"), StringComparison.Ordinal);
        using var flood = await ConnectAsync(factory, Listener.Metrics);

        var refused = await RequestAsync(flood, "GET /healthz");
        using var verbs = await ConnectAsync(factory, Listener.Verbs);
        var inspect = await RequestAsync(verbs, "GET /inspect/gpu-node-01");

        Assert.Equal(string.Empty, refused);
        Assert.StartsWith("HTTP/1.1 200", inspect, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_AfterARefusedConnection_CountItPerListener()
    {
        await using var factory = Start(new() { ["Listeners:Verbs:MaxConnections"] = "1" });
        using var open = await ConnectAsync(factory, Listener.Verbs);
        Assert.StartsWith("HTTP/1.1 200", await RequestAsync(open, "GET /inspect/gpu-node-01"), StringComparison.Ordinal);
        using var refused = await ConnectAsync(factory, Listener.Verbs);
        Assert.Equal(string.Empty, await RequestAsync(refused, "GET /inspect"));
        using var metrics = factory.CreateClient(Listener.Metrics);

        var text = await metrics.GetStringAsync(new Uri("/metrics", UriKind.Relative));

        Assert.True(text.Contains("kaiwo_listener_connections_refused_total{otel_scope_name=\"Kaiwo.Extender\",listener=\"verbs\"} 1", StringComparison.Ordinal), string.Join("\n", text.Split('\n').Where(l => l.Contains("refused", StringComparison.Ordinal))));
    }

    private static ExtenderFactory Start(Dictionary<string, string?> settings)
    {
        settings["Extender:ClusterFile"] = Fixtures.ClusterFile("names");
        var factory = new ExtenderFactory(settings, kestrel: true);
        factory.StartServer();
        return factory;
    }

    private static async Task<Socket> ConnectAsync(ExtenderFactory factory, Listener listener)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, factory.Address(listener).Port);
        return socket;
    }

    /// <summary>One HTTP/1.1 request on the connection; the response head and body as text, or empty when the server closed it unanswered.</summary>
    private static async Task<string> RequestAsync(Socket socket, string requestLine, string? header = null)
    {
        var request = $"{requestLine} HTTP/1.1\r\nHost: x\r\n{(header is null ? string.Empty : header + "\r\n")}\r\n";
        if (!await TrySendAsync(socket, Encoding.ASCII.GetBytes(request)))
        {
            return string.Empty;
        }

        var received = new StringBuilder();
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!timeout.IsCancellationRequested)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            }
            catch (SocketException)
            {
                break;
            }

            if (read == 0)
            {
                break;
            }

            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            if (IsComplete(received.ToString()))
            {
                break;
            }
        }

        return received.ToString();
    }

    /// <summary>A whole response: headers, and as many body bytes as Content-Length says.</summary>
    private static bool IsComplete(string response)
    {
        var end = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return false;
        }

        var length = response[..end].Split("\r\n").FirstOrDefault(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        return length is null || response.Length - end - 4 >= int.Parse(length["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Sends <paramref name="bytes"/> every <paramref name="every"/> until the server closes the connection (true) or <paramref name="within"/> has passed (false).</summary>
    private static async Task<bool> TrickleUntilClosedAsync(Socket socket, byte[] bytes, TimeSpan every, TimeSpan within)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < within)
        {
            if (!await TrySendAsync(socket, bytes) || await ClosedWithinAsync(socket, every))
            {
                return true;
            }
        }

        return false;
    }

    private static async Task<bool> TrySendAsync(Socket socket, byte[] bytes)
    {
        try
        {
            await socket.SendAsync(bytes);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Whether the server ends the connection (end of stream or reset, after any answer it sends) within <paramref name="within"/>.</summary>
    private static Task<bool> ClosedWithinAsync(Socket socket, TimeSpan within)
    {
        // Poll, not a cancelled receive: a receive cancelled on timeout may leave the socket unusable, which would read as closed.
        var buffer = new byte[4096];
        var deadline = Stopwatch.StartNew();
        for (var wait = within; wait > TimeSpan.Zero; wait = within - deadline.Elapsed)
        {
            if (!socket.Poll(wait, SelectMode.SelectRead))
            {
                continue;
            }

            try
            {
                if (socket.Receive(buffer) == 0)
                {
                    return Task.FromResult(true);
                }
            }
            catch (SocketException)
            {
                return Task.FromResult(true);
            }
        }

        return Task.FromResult(false);
    }
}

using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Kaiwo.LoadGen;

/// <summary>One request the load sends again and again: its bytes on the wire, prebuilt.</summary>
internal sealed record LoadRequest(string Name, byte[] Wire)
{
    /// <summary>
    /// <c>POST /{verb}</c> with the captured kube-scheduler body of a pending half-GPU pod (Payloads/filter-frac-half.json,
    /// as kube-scheduler v1.24 sent it with nodeCacheCapable: true) and its NodeNames replaced by
    /// <paramref name="candidates"/> names. <paramref name="variant"/> rotates which nodes they are, so consecutive calls
    /// do not ask about the same ones.
    /// </summary>
    public static LoadRequest Verb(string verb, int port, int nodes, int candidates, int variant)
    {
        var body = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Payloads", "filter-frac-half.json")))!.AsObject();
        var names = new JsonArray();
        var stride = Math.Max(1, nodes / candidates);
        for (var i = 0; i < candidates; i++)
        {
            names.Add(SyntheticCluster.NodeName(((i * stride) + variant) % nodes));
        }

        body["NodeNames"] = names;
        var content = Encoding.UTF8.GetBytes(body.ToJsonString());
        var head = Encoding.ASCII.GetBytes($"POST /{verb} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {content.Length}\r\n\r\n");
        return new LoadRequest($"/{verb}, {candidates} candidates", [.. head, .. content]);
    }

    public static LoadRequest Get(string path, int port) =>
        new(path, Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"));
}

/// <summary>What one load run measured.</summary>
internal sealed record LoadResult(
    string Request,
    int Connections,
    TimeSpan Duration,
    long Calls,
    long Errors,
    string? FirstError,
    Latencies Latencies,
    TimeSpan ClientCpu,
    TimeSpan? ServerCpu,
    string? SampleAnswer)
{
    public double CallsPerSecond => Calls / Duration.TotalSeconds;
}

/// <summary>
/// A closed loop over raw keep-alive HTTP/1.1 connections, as wrk does it: each connection sends its next request when
/// the answer to the last one has been read whole, so the rate is what the server sustains at that concurrency.
/// Requests are prebuilt bytes and answers are only framed (status line, Content-Length or chunked), not parsed, so
/// the client costs little CPU; what it costs is reported, since it runs on the same cores as the server.
/// Anything but a 200 is an error.
/// </summary>
internal static class HttpLoad
{
    public static async Task<LoadResult> RunAsync(int port, IReadOnlyList<LoadRequest> requests, int connections, TimeSpan warmup, TimeSpan duration, long maxCalls, Func<TimeSpan?> serverCpu)
    {
        var clients = new List<Connection>();
        for (var i = 0; i < connections; i++)
        {
            clients.Add(await Connection.OpenAsync(port, requests, i));
        }

        using var stop = new CancellationTokenSource();
        var measuring = 0; // 0 warm-up, 1 measuring, 2 done
        var perConnection = new List<long>[connections];
        var errors = new long[connections];
        var firstError = new string?[connections];
        var calls = new long[connections];
        string? sample = null;
        var threads = new Thread[connections];
        for (var i = 0; i < connections; i++)
        {
            var index = i;
            perConnection[index] = new List<long>(1 << 16);
            threads[i] = new Thread(() =>
            {
                var connection = clients[index];
                while (Volatile.Read(ref measuring) < 2 && Interlocked.Read(ref calls[index]) < maxCalls)
                {
                    var started = Stopwatch.GetTimestamp();
                    int status;
                    try
                    {
                        status = connection.Call();
                    }
                    catch (Exception ex) when (ex is IOException or SocketException)
                    {
                        // A broken connection ends this connection's loop and fails the run.
                        errors[index]++;
                        firstError[index] ??= $"connection {index}: {ex.Message}";
                        return;
                    }

                    var elapsed = Stopwatch.GetTimestamp() - started;
                    if (Volatile.Read(ref measuring) != 1)
                    {
                        continue;
                    }

                    perConnection[index].Add(elapsed);
                    calls[index]++;
                    if (status != 200)
                    {
                        errors[index]++;
                        firstError[index] ??= $"HTTP {status}: {connection.LastBody}";
                    }
                    else if (index == 0 && sample is null)
                    {
                        sample = connection.LastBody;
                    }
                }
            })
            { IsBackground = true, Name = $"load-{i}" };
            threads[i].Start();
        }

        await Task.Delay(warmup);
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var serverBefore = serverCpu();
        var clock = Stopwatch.StartNew();
        Volatile.Write(ref measuring, 1);
        var deadline = DateTime.UtcNow + duration;
        var totalCalls = maxCalls == long.MaxValue ? long.MaxValue : maxCalls * connections;
        while (DateTime.UtcNow < deadline && calls.Sum() < totalCalls)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }

        Volatile.Write(ref measuring, 2);
        var elapsed = clock.Elapsed;
        var cpuAfter = Process.GetCurrentProcess().TotalProcessorTime;
        var serverAfter = serverCpu();
        foreach (var thread in threads)
        {
            thread.Join();
        }

        foreach (var client in clients)
        {
            client.Dispose();
        }

        var latencies = Latencies.Of(perConnection);
        return new LoadResult(requests[0].Name, connections, elapsed, latencies.Count, errors.Sum(),
            firstError.FirstOrDefault(e => e is not null), latencies, cpuAfter - cpuBefore,
            serverBefore is { } b && serverAfter is { } a ? a - b : null, sample);
    }

    /// <summary>One keep-alive connection that sends its requests in turn and reads each answer whole.</summary>
    private sealed class Connection : IDisposable
    {
        private static readonly byte[] HeaderEnd = "\r\n\r\n"u8.ToArray();
        private readonly Socket _socket;
        private readonly IReadOnlyList<LoadRequest> _requests;
        private byte[] _buffer = new byte[64 * 1024];
        private int _next;
        private int _start;
        private int _end;
        private int _bodyStart;
        private int _bodyEnd;
        private bool _chunked;

        private Connection(Socket socket, IReadOnlyList<LoadRequest> requests, int offset)
        {
            _socket = socket;
            _requests = requests;
            _next = offset;
        }

        /// <summary>The start of the last answer's body (of a chunked one, its first chunk), for error messages and the sample.</summary>
        public string LastBody
        {
            get
            {
                var body = _buffer.AsSpan(_bodyStart, _bodyEnd - _bodyStart);
                if (_chunked && body.IndexOf("\r\n"u8) is var line and >= 0)
                {
                    body = body[(line + 2)..];
                }

                return Encoding.UTF8.GetString(body[..Math.Min(body.Length, 2000)]);
            }
        }

        public static async Task<Connection> OpenAsync(int port, IReadOnlyList<LoadRequest> requests, int offset)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            return new Connection(socket, requests, offset);
        }

        /// <summary>Sends the next request and reads its answer; returns the HTTP status.</summary>
        public int Call()
        {
            var request = _requests[_next++ % _requests.Count].Wire;
            _socket.Send(request);

            // Keep-alive: an answer starts where the last one ended; nothing should be left over in a closed loop.
            _start = _end = 0;
            int headerEnd;
            while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf(HeaderEnd)) < 0)
            {
                Fill();
            }

            var head = _buffer.AsSpan(_start, headerEnd);
            var status = ParseStatus(head);
            _chunked = head.IndexOf("Transfer-Encoding: chunked"u8) >= 0;
            _bodyStart = _start + headerEnd + HeaderEnd.Length;
            if (_chunked)
            {
                ReadChunked(_bodyStart);
            }
            else
            {
                var length = ContentLength(head);
                while (_end - _bodyStart < length)
                {
                    Fill();
                }

                _bodyEnd = _bodyStart + length;
            }

            return status;
        }

        private void ReadChunked(int at)
        {
            while (true)
            {
                int lineEnd;
                while ((lineEnd = _buffer.AsSpan(at, _end - at).IndexOf("\r\n"u8)) < 0)
                {
                    Fill();
                }

                var sizeText = _buffer.AsSpan(at, lineEnd);
                var semicolon = sizeText.IndexOf((byte)';');
                if (!Utf8Parser.TryParse(semicolon >= 0 ? sizeText[..semicolon] : sizeText, out int size, out _, 'x'))
                {
                    throw new IOException($"bad chunk size line '{Encoding.ASCII.GetString(sizeText)}'");
                }

                at += lineEnd + 2;
                while (_end - at < size + 2)
                {
                    Fill();
                }

                at += size + 2;
                if (size == 0)
                {
                    _bodyEnd = at;
                    return;
                }
            }
        }

        private void Fill()
        {
            if (_end == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var read = _socket.Receive(_buffer, _end, _buffer.Length - _end, SocketFlags.None);
            if (read == 0)
            {
                throw new IOException("the server closed the connection");
            }

            _end += read;
        }

        private static int ParseStatus(ReadOnlySpan<byte> head)
        {
            // "HTTP/1.1 200 OK"
            return head.Length >= 12 && Utf8Parser.TryParse(head.Slice(9, 3), out int status, out _) ? status : throw new IOException("no HTTP status line");
        }

        private static int ContentLength(ReadOnlySpan<byte> head)
        {
            var at = head.IndexOf("Content-Length: "u8);
            if (at < 0)
            {
                return 0;
            }

            return Utf8Parser.TryParse(head[(at + 16)..], out int length, out _) ? length : throw new IOException("bad Content-Length");
        }

        public void Dispose() => _socket.Dispose();
    }
}

/// <summary>Latencies of one run, sorted, in Stopwatch ticks: percentiles by rank.</summary>
internal sealed class Latencies
{
    private readonly long[] _sorted;

    private Latencies(long[] sorted) => _sorted = sorted;

    public int Count => _sorted.Length;

    public static Latencies Of(IEnumerable<List<long>> parts)
    {
        var all = parts.SelectMany(p => p).ToArray();
        Array.Sort(all);
        return new Latencies(all);
    }

    /// <summary>The latency at or below which <paramref name="percent"/>% of the calls were (nearest rank).</summary>
    public TimeSpan Percentile(double percent)
    {
        if (_sorted.Length == 0)
        {
            return TimeSpan.Zero;
        }

        var rank = (int)Math.Ceiling(percent / 100 * _sorted.Length) - 1;
        return Stopwatch.GetElapsedTime(0, _sorted[Math.Clamp(rank, 0, _sorted.Length - 1)]);
    }

    public TimeSpan Max => _sorted.Length == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(0, _sorted[^1]);
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Kaiwo.Extender.Tests.Monitoring;

/// <summary>
/// A real Prometheus server (Debian's /usr/bin/prometheus) on a free loopback port, in a temporary folder, scraping
/// one target every second and evaluating the given rule files every second. Killed and deleted on dispose.
/// </summary>
internal sealed class RealPrometheus : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _log;

    private RealPrometheus(Process process, string directory, StringBuilder log, HttpClient client)
    {
        _process = process;
        _directory = directory;
        _log = log;
        Client = client;
    }

    public HttpClient Client { get; }

    /// <summary>What the server printed so far, for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public static async Task<RealPrometheus> StartAsync(string job, Uri target, IEnumerable<string> ruleFiles)
    {
        var binary = PrometheusTools.Require("prometheus");
        var directory = Path.Combine(Path.GetTempPath(), $"kaiwo-prometheus-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var rules = string.Join("\n", ruleFiles.Select(f => $"- {JsonSerializer.Serialize(f)}"));
        await File.WriteAllTextAsync(Path.Combine(directory, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:
            {rules}
            scrape_configs:
            - job_name: {job}
              static_configs:
              - targets: ["{target.Authority}"]
            """);

        var port = FreePort();
        var log = new StringBuilder();
        var start = new ProcessStartInfo(binary)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
        {
            "--config.file=prometheus.yml", "--storage.tsdb.path=data", $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("prometheus did not start");
        process.OutputDataReceived += (_, e) => Append(log, e.Data);
        process.ErrorDataReceived += (_, e) => Append(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RealPrometheus(process, directory, log, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) });
        try
        {
            await server.WaitReadyAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>An instant query through the HTTP API: the result vector, or the server's error as an exception.</summary>
    public async Task<JsonElement> QueryAsync(string promql)
    {
        using var response = await Client.GetAsync(new Uri($"api/v1/query?query={Uri.EscapeDataString(promql)}", UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        if ((string?)doc.RootElement.GetProperty("status").GetString() != "success")
        {
            throw new PrometheusQueryException($"{promql}: {doc.RootElement.GetProperty("errorType").GetString()}: {doc.RootElement.GetProperty("error").GetString()}");
        }

        return doc.RootElement.GetProperty("data").GetProperty("result").Clone();
    }

    /// <summary>A GET of the HTTP API's <paramref name="path"/> (api/v1/rules, api/v1/targets), its data element.</summary>
    public async Task<JsonElement> GetDataAsync(string path)
    {
        using var doc = JsonDocument.Parse(await Client.GetStringAsync(new Uri(path, UriKind.Relative)));
        return doc.RootElement.GetProperty("data").Clone();
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, up to <see cref="PrometheusTools.Timeout"/>; then fails with <paramref name="state"/>.</summary>
    public async Task EventuallyAsync(Func<Task<bool>> condition, Func<Task<string>> state)
    {
        var deadline = DateTime.UtcNow + PrometheusTools.Timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"timed out after {PrometheusTools.Timeout}: {await state()}\nprometheus log:\n{Log}");
            }

            await Task.Delay(200);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow + PrometheusTools.Timeout;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"prometheus exited with {_process.ExitCode}:\n{Log}");
            }

            try
            {
                using var response = await Client.GetAsync(new Uri("-/ready", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"prometheus was not ready within {PrometheusTools.Timeout}:\n{Log}");
            }

            await Task.Delay(100);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Append(StringBuilder log, string? line)
    {
        if (line is not null)
        {
            lock (log)
            {
                log.AppendLine(line);
            }
        }
    }
}

/// <summary>Prometheus refused a query (a parse error, an unknown function): the query and the server's reason.</summary>
internal sealed class PrometheusQueryException(string message) : Exception(message);

using System.Net.Http.Headers;
using System.Text.Json;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Extender.Inspect;

/// <summary>
/// <c>Kaiwo.Extender inspect [--url U] [NODE]</c> (and the kubectl plugin <c>kubectl kaiwo inspect</c>): reads a running
/// extender's <c>/inspect</c> and prints it as tables. Exit 0 when printed, 1 when the extender could not be read or
/// answered something else, 2 for a bad command line; every error says what was asked and what came back.
/// </summary>
internal static class InspectCommand
{
    public const string DefaultUrl = "http://127.0.0.1:8888";

    public const string Usage = """
        usage: inspect [--url URL] [NODE]
          prints the allocation table of a running kaiwo extender (per node and GPU: mode, free partitions,
          compute and memory used, pods) and its queues (allocated / fair share / limit), from URL/inspect.
          NODE: only that node, from URL/inspect/NODE.
          --url URL: where the extender listens (default http://127.0.0.1:8888, e.g. through
                     kubectl -n kaiwo-system port-forward deployment/kaiwo-scheduler 8888:8888).
        """;

    /// <summary>How long the extender may take to answer: /inspect is served from memory.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    // The endpoint's own shape: missing fields and nulls where none belong are errors, not silent zeros.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (!TryParse(args, out var url, out var node, out var problem))
        {
            if (problem is not null)
            {
                await error.WriteLineAsync($"inspect: {problem}");
            }

            await (problem is null ? output : error).WriteLineAsync(Usage);
            return problem is null ? 0 : 2;
        }

        var target = new Uri(new Uri(url!), node is null ? "inspect" : $"inspect/{Uri.EscapeDataString(node)}");
        using var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        client.Timeout = Timeout;
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        try
        {
            using var response = await client.GetAsync(target);
            var body = await response.Content.ReadAsStringAsync();
            var text = Render(target, (int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, body, node is null);
            await output.WriteAsync(text);
            return 0;
        }
        catch (InspectException ex)
        {
            await error.WriteLineAsync($"inspect: {ex.Message}");
            return 1;
        }
        catch (HttpRequestException ex)
        {
            await error.WriteLineAsync($"inspect: cannot reach the extender at {target}: {ex.Message} (is it running, or the port-forward open?)");
            return 1;
        }
        catch (TaskCanceledException)
        {
            await error.WriteLineAsync($"inspect: the extender at {target} did not answer within {Timeout.TotalSeconds:0} s");
            return 1;
        }
    }

    /// <summary>The printed tables of one answer of <paramref name="target"/>; throws <see cref="InspectException"/> for anything but a good one.</summary>
    internal static string Render(Uri target, int status, string? mediaType, string body, bool whole)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            throw new InspectException($"{target} answered {status} ({mediaType ?? "no content type"}), not JSON: {Excerpt(body)}; is {target.GetLeftPart(UriPartial.Authority)} a kaiwo extender?");
        }

        using (document)
        {
            if (status is < 200 or > 299)
            {
                var message = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String
                    ? e.GetString()
                    : Excerpt(body);
                throw new InspectException($"{target} answered {status}: {message}");
            }

            try
            {
                return whole
                    ? InspectPrinter.Print(document.Deserialize<InspectAnswer>(Json) ?? throw new JsonException("the answer is null"), target.GetLeftPart(UriPartial.Authority))
                    : InspectPrinter.Print(document.Deserialize<InspectNode>(Json) ?? throw new JsonException("the answer is null"));
            }
            catch (JsonException ex)
            {
                throw new InspectException($"{target} answered JSON that is not an extender's /inspect ({ex.Message}); is the extender of another version?");
            }
        }
    }

    private static bool TryParse(IReadOnlyList<string> args, out string? url, out string? node, out string? problem)
    {
        url = DefaultUrl;
        node = null;
        problem = null;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "--help")
            {
                return false;
            }

            if (arg == "--url" || arg.StartsWith("--url=", StringComparison.Ordinal))
            {
                if (arg == "--url" && i + 1 >= args.Count)
                {
                    problem = "--url needs a value, e.g. --url http://127.0.0.1:8888";
                    return false;
                }

                url = arg == "--url" ? args[++i] : arg["--url=".Length..];
            }
            else if (arg.StartsWith('-'))
            {
                problem = $"unknown option \"{arg}\"; accepted: --url URL, NODE";
                return false;
            }
            else if (node is null)
            {
                node = arg;
            }
            else
            {
                problem = $"one NODE at most; got \"{node}\" and \"{arg}\"";
                return false;
            }
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https") || string.IsNullOrEmpty(parsed.Host))
        {
            problem = $"--url \"{url}\" is not an absolute http or https URL; accepted: e.g. http://127.0.0.1:8888";
            return false;
        }

        // The endpoints are relative to the URL's path: http://host/prefix means http://host/prefix/inspect.
        url = parsed.AbsoluteUri.EndsWith('/') ? parsed.AbsoluteUri : parsed.AbsoluteUri + "/";
        return true;
    }

    private static string Excerpt(string body)
    {
        var line = body.ReplaceLineEndings(" ").Trim();
        if (line.Length == 0)
        {
            return "(an empty body)";
        }

        return line.Length <= 80 ? $"\"{line}\"" : $"\"{line[..80]}...\"";
    }
}

/// <summary>An answer of the extender that inspect cannot print; the message says what came back.</summary>
internal sealed class InspectException(string message) : Exception(message);

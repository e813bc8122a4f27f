using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Kaiwo.Extender.Live;

/// <summary>An API server answer that is not a success: the HTTP status, the Status reason, and Retry-After.</summary>
internal sealed class KubernetesApiException(int statusCode, string? reason, string message, TimeSpan? retryAfter)
    : Exception($"{statusCode} {reason}: {message}")
{
    public int StatusCode { get; } = statusCode;
    public string? Reason { get; } = reason;
    public string ApiMessage { get; } = message;
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>410 Gone / reason Expired: the resourceVersion or continue token is too old; list again.</summary>
    public bool IsExpired => StatusCode == 410 || Reason == "Expired" || Reason == "Gone";
}

/// <summary>
/// One page of a list: the items as JSON, the list's resourceVersion and the continue token. The items are elements of
/// the page's own document, valid until the page is disposed: applying them reads them where they are (a copy of each
/// of 200,000 pods cost as much as reading it). Whoever keeps an item beyond that clones it.
/// </summary>
internal sealed class ListPage(IReadOnlyList<JsonElement> items, string resourceVersion, string? continueToken, IDisposable? owner = null) : IDisposable
{
    public IReadOnlyList<JsonElement> Items { get; } = items;

    public string ResourceVersion { get; } = resourceVersion;

    public string? Continue { get; } = continueToken;

    public void Dispose() => owner?.Dispose();
}

/// <summary>One watch event: its type and object, valid until the next is asked for. ERROR events carry the Status instead.</summary>
internal sealed record WatchEvent(string Type, JsonElement Object)
{
    public string? ResourceVersion =>
        Object.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object
        && m.TryGetProperty("resourceVersion", out var rv) && rv.ValueKind == JsonValueKind.String
            ? rv.GetString()
            : null;
}

/// <summary>The API server calls the extender makes: list and watch, patch a pod, bind a pod, publish a queue's status.</summary>
internal interface IKubernetesApi
{
    Task<ListPage> ListAsync(string path, int limit, string? continueToken, CancellationToken cancellationToken);

    IAsyncEnumerable<WatchEvent> WatchAsync(string path, string resourceVersion, CancellationToken cancellationToken);

    /// <summary>Merge-patches the pod's annotations (a null value removes one).</summary>
    Task PatchPodAnnotationsAsync(string ns, string name, IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken);

    /// <summary>
    /// Creates the pod's Binding to <paramref name="nodeName"/>, guarded by its uid. The API server copies the
    /// Binding's <paramref name="annotations"/> onto the pod in the same write that sets spec.nodeName (pod storage,
    /// setPodHostAndAnnotations): one call, and nothing written when the Binding is refused.
    /// </summary>
    Task BindPodAsync(string ns, string name, string uid, string nodeName, IReadOnlyDictionary<string, string>? annotations, CancellationToken cancellationToken);

    Task<V1Pod?> GetPodAsync(string ns, string name, CancellationToken cancellationToken);

    /// <summary>Merge-patches a KaiwoQueue's status subresource with <paramref name="status"/>.</summary>
    Task PatchQueueStatusAsync(string name, JsonObject status, CancellationToken cancellationToken);

    /// <summary>Creates an events.k8s.io/v1 Event in <paramref name="ns"/>.</summary>
    Task CreateEventAsync(string ns, JsonObject ev, CancellationToken cancellationToken);
}

/// <summary>
/// The API server over HTTP, through KubernetesClient's configured HttpClient and credentials (in-cluster service
/// account, KUBECONFIG, ~/.kube/config). Requests and answers are the plain JSON of the API so that lists, chunked
/// watch streams, 410s and 429s are handled exactly as the server sends them.
/// </summary>
internal sealed class KubernetesApi(k8s.Kubernetes client) : IKubernetesApi, IDisposable
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly MediaTypeHeaderValue MergePatch = new("application/merge-patch+json");

    public async Task<ListPage> ListAsync(string path, int limit, string? continueToken, CancellationToken cancellationToken)
    {
        var query = $"?limit={limit}" + (continueToken is null ? string.Empty : $"&continue={Uri.EscapeDataString(continueToken)}");
        using var response = await SendAsync(HttpMethod.Get, path + query, null, null, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var doc = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            var root = doc.RootElement;
            var metadata = root.GetProperty("metadata");
            var rv = metadata.TryGetProperty("resourceVersion", out var v) ? v.GetString() ?? string.Empty : string.Empty;
            var next = metadata.TryGetProperty("continue", out var c) && c.ValueKind == JsonValueKind.String && c.GetString() is { Length: > 0 } token ? token : null;
            var items = new List<JsonElement>(root.TryGetProperty("items", out var array) && array.ValueKind == JsonValueKind.Array ? array.GetArrayLength() : 0);
            if (items.Capacity > 0)
            {
                foreach (var item in array.EnumerateArray())
                {
                    items.Add(item);
                }
            }

            return new ListPage(items, rv, next, doc);
        }
        catch
        {
            doc.Dispose();
            throw;
        }
    }

    public async IAsyncEnumerable<WatchEvent> WatchAsync(string path, string resourceVersion, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var query = $"?watch=true&allowWatchBookmarks=true&resourceVersion={Uri.EscapeDataString(resourceVersion)}&timeoutSeconds=300";
        using var response = await SendAsync(HttpMethod.Get, path + query, null, null, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var reader = PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        try
        {
            // One event per line; chunk boundaries do not follow event boundaries, so read lines, not chunks. Each line
            // is parsed as the UTF-8 it came in as, in the reader's buffer: no string of it is made.
            while (true)
            {
                var read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var buffer = read.Buffer;
                while (WatchLines.TryTake(ref buffer, read.IsCompleted, out var line))
                {
                    if (line.IsEmpty)
                    {
                        continue;
                    }

                    // Not cloned: the consumer applies the event before it asks for the next, and the document (and
                    // the buffer under it, not advanced past until then) lives until then.
                    using var doc = JsonDocument.Parse(line);
                    var type = doc.RootElement.GetProperty("type").GetString() ?? string.Empty;
                    var obj = doc.RootElement.GetProperty("object");
                    if (type == "ERROR")
                    {
                        throw StatusException(obj, null);
                    }

                    yield return new WatchEvent(type, obj);
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted)
                {
                    yield break;
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    public async Task PatchPodAnnotationsAsync(string ns, string name, IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
    {
        var patch = JsonSerializer.Serialize(new { metadata = new { annotations } });
        using var response = await SendAsync(HttpMethod.Patch, $"api/v1/namespaces/{ns}/pods/{name}", patch, MergePatch, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    public async Task BindPodAsync(string ns, string name, string uid, string nodeName, IReadOnlyDictionary<string, string>? annotations, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, $"api/v1/namespaces/{ns}/pods/{name}/binding", BindingJson(ns, name, uid, nodeName, annotations), Json, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The v1 Binding, written directly: a bind is the one write per pod, and needs no serializer metadata.</summary>
    internal static string BindingJson(string ns, string name, string uid, string nodeName, IReadOnlyDictionary<string, string>? annotations)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("apiVersion", "v1");
            json.WriteString("kind", "Binding");
            json.WriteStartObject("metadata");
            json.WriteString("name", name);
            json.WriteString("namespace", ns);
            json.WriteString("uid", uid);
            if (annotations is { Count: > 0 })
            {
                json.WriteStartObject("annotations");
                foreach (var (key, value) in annotations)
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteStartObject("target");
            json.WriteString("apiVersion", "v1");
            json.WriteString("kind", "Node");
            json.WriteString("name", nodeName);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public async Task<V1Pod?> GetPodAsync(string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await SendAsync(HttpMethod.Get, $"api/v1/namespaces/{ns}/pods/{name}", null, null, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            return KubernetesJson.Deserialize<V1Pod>(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (KubernetesApiException ex) when (ex.StatusCode == 404)
        {
            return null;
        }
    }

    public async Task PatchQueueStatusAsync(string name, JsonObject status, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(status);
        var patch = new JsonObject { ["status"] = status.DeepClone() }.ToJsonString();
        using var response = await SendAsync(HttpMethod.Patch, $"apis/kaiwo.ai/v1alpha2/kaiwoqueues/{Uri.EscapeDataString(name)}/status", patch, MergePatch, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    public async Task CreateEventAsync(string ns, JsonObject ev, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ev);
        using var response = await SendAsync(HttpMethod.Post, $"apis/events.k8s.io/v1/namespaces/{Uri.EscapeDataString(ns)}/events", ev.ToJsonString(), Json, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => client.Dispose();

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string relative, string? body, MediaTypeHeaderValue? contentType, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        var baseUri = client.BaseUri.ToString().TrimEnd('/') + "/";
        using var request = new HttpRequestMessage(method, new Uri(new Uri(baseUri), relative));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = contentType;
        }

        if (client.Credentials is { } credentials)
        {
            await credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var response = await client.HttpClient.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            var retryAfter = response.Headers.RetryAfter?.Delta
                ?? (response.Headers.RetryAfter?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
            if (response.Content.Headers.ContentType?.MediaType == "application/json")
            {
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    throw StatusException(doc.RootElement, retryAfter, (int)response.StatusCode);
                }
                catch (JsonException)
                {
                    // Not a Status after all: fall through to the plain-text error.
                }
            }

            throw new KubernetesApiException((int)response.StatusCode, response.StatusCode.ToString(), text.Trim(), retryAfter);
        }
    }

    private static KubernetesApiException StatusException(JsonElement status, TimeSpan? retryAfter, int? httpStatus = null)
    {
        var code = status.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : httpStatus ?? (int)HttpStatusCode.InternalServerError;
        var reason = status.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        var message = status.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() ?? string.Empty : string.Empty;
        if (retryAfter is null && status.TryGetProperty("details", out var d) && d.ValueKind == JsonValueKind.Object
            && d.TryGetProperty("retryAfterSeconds", out var s) && s.ValueKind == JsonValueKind.Number)
        {
            retryAfter = TimeSpan.FromSeconds(s.GetInt32());
        }

        return new KubernetesApiException(httpStatus ?? code, reason, message, retryAfter);
    }
}

/// <summary>
/// The lines of a watch stream as bytes: a line ends at '\n' (a '\r' before it is dropped), and at the end of the
/// stream what is left is the last line. A line longer than <see cref="MaxLineBytes"/> is refused, so that a stream
/// that never ends its line cannot grow the reader's buffer without bound.
/// </summary>
internal static class WatchLines
{
    /// <summary>
    /// The longest watch event taken: 16 MiB. One event is one object, and the API server keeps none larger than
    /// etcd's request limit (1.5 MiB by default), so a longer line is a broken stream, not an event.
    /// </summary>
    public const long MaxLineBytes = 16L * 1024 * 1024;

    /// <summary>Takes the next whole line off the front of <paramref name="buffer"/>; false when none is whole yet.</summary>
    /// <exception cref="WatchLineTooLongException">The line reached <paramref name="maxLineBytes"/> bytes.</exception>
    public static bool TryTake(ref ReadOnlySequence<byte> buffer, bool streamEnded, out ReadOnlySequence<byte> line, long maxLineBytes = MaxLineBytes)
    {
        if (buffer.PositionOf((byte)'\n') is { } end)
        {
            line = buffer.Slice(0, end);
            buffer = buffer.Slice(buffer.GetPosition(1, end));
        }
        else if (buffer.Length > maxLineBytes)
        {
            throw new WatchLineTooLongException(buffer.Length, maxLineBytes);
        }
        else if (streamEnded && !buffer.IsEmpty)
        {
            line = buffer;
            buffer = buffer.Slice(buffer.End);
        }
        else
        {
            line = default;
            return false;
        }

        if (line.Length > maxLineBytes)
        {
            throw new WatchLineTooLongException(line.Length, maxLineBytes);
        }

        if (!line.IsEmpty && line.Slice(line.Length - 1).FirstSpan[0] == (byte)'\r')
        {
            line = line.Slice(0, line.Length - 1);
        }

        return true;
    }
}

/// <summary>
/// A watch stream sent more than <see cref="WatchLines.MaxLineBytes"/> without ending its line: an IOException, so
/// that the informer treats the stream as broken (lists again, or reconnects after its backoff).
/// </summary>
internal sealed class WatchLineTooLongException(long bytes, long maxLineBytes)
    : IOException($"a watch event line reached {bytes} bytes without its end; accepted: at most {maxLineBytes} bytes (one object, which the API server keeps under etcd's 1.5 MiB request limit), so the stream is treated as broken");

using System.Buffers;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kaiwo.EndToEnd;

/// <summary>
/// The floor of kube-scheduler's extender protocol: an extender that holds no state and decides nothing. Filter
/// passes every candidate, prioritize scores every candidate 0, bind creates the pod's Binding (the one API call a
/// bind needs, as kaiwo's does, without the record). Run beside the real extender it shows what the three HTTP calls
/// and the Binding cost kube-scheduler, kube-apiserver and an extender that does no work, so that kaiwo's cost reads
/// against what any extender of this protocol costs on the same machine.
/// </summary>
internal static class NullExtender
{
    private static readonly byte[] NodeNamesKey = "NodeNames"u8.ToArray();

    /// <summary><c>null-extender PORT API-URL TOKEN-FILE</c>: serves the verbs on 127.0.0.1:PORT until killed.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length != 4 || !int.TryParse(args[1], out var port) || !Uri.TryCreate(args[2], UriKind.Absolute, out var api))
        {
            Console.Error.WriteLine("usage: Kaiwo.EndToEnd null-extender PORT API-URL TOKEN-FILE");
            return 2;
        }

        var token = (await File.ReadAllTextAsync(args[3])).Trim();

        // The control plane's own serving certificate, on loopback: the harness's API server and nothing else.
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        using var http = new HttpClient(handler) { BaseAddress = api, Timeout = TimeSpan.FromSeconds(4) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.MapGet("/readyz", () => "ok");
        app.MapPost("/filter", async context =>
        {
            var names = NodeNames(await BodyAsync(context.Request));
            await WriteAsync(context.Response, json =>
            {
                json.WriteStartObject();
                json.WriteStartArray("NodeNames");
                foreach (var name in names)
                {
                    json.WriteStringValue(name);
                }

                json.WriteEndArray();
                json.WriteStartObject("FailedNodes");
                json.WriteEndObject();
                json.WriteString("Error", "");
                json.WriteEndObject();
            });
        });
        app.MapPost("/prioritize", async context =>
        {
            var names = NodeNames(await BodyAsync(context.Request));
            await WriteAsync(context.Response, json =>
            {
                json.WriteStartArray();
                foreach (var name in names)
                {
                    json.WriteStartObject();
                    json.WriteString("Host", name);
                    json.WriteNumber("Score", 0);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            });
        });
        app.MapPost("/bind", async context =>
        {
            using var args = JsonDocument.Parse(await BodyAsync(context.Request));
            var root = args.RootElement;
            var ns = root.GetProperty("PodNamespace").GetString();
            var name = root.GetProperty("PodName").GetString();
            var binding = JsonSerializer.Serialize(new
            {
                apiVersion = "v1",
                kind = "Binding",
                metadata = new { name, @namespace = ns, uid = root.GetProperty("PodUID").GetString() },
                target = new { apiVersion = "v1", kind = "Node", name = root.GetProperty("Node").GetString() },
            });
            using var content = new StringContent(binding, Encoding.UTF8, "application/json");
            using var response = await http.PostAsync(new Uri($"api/v1/namespaces/{ns}/pods/{name}/binding", UriKind.Relative), content);
            var error = response.IsSuccessStatusCode ? "" : $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}";
            await WriteAsync(context.Response, json =>
            {
                json.WriteStartObject();
                json.WriteString("Error", error);
                json.WriteEndObject();
            });
        });
        await app.RunAsync();
        return 0;
    }

    private static async Task<byte[]> BodyAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    /// <summary>The ExtenderArgs' NodeNames (nodeCacheCapable), read without a document.</summary>
    private static List<string> NodeNames(byte[] body)
    {
        var names = new List<string>();
        var reader = new Utf8JsonReader(body);
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals(NodeNamesKey))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    return names;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.String)
                {
                    names.Add(reader.GetString()!);
                }

                return names;
            }
        }

        return names;
    }

    private static async Task WriteAsync(HttpResponse response, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        response.ContentType = "application/json";
        response.ContentLength = buffer.WrittenCount;
        await response.Body.WriteAsync(buffer.WrittenMemory);
    }
}

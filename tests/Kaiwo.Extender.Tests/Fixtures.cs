using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Kaiwo.Extender.Tests;

/// <summary>The captured kube-scheduler payloads, and posting bodies to the extender as they are.</summary>
internal static class Fixtures
{
    public static readonly string[] Modes = ["names", "full"];

    public static string PayloadDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "Fixtures", "payloads");

    /// <summary>The nodes the payloads of a mode name, as kubectl printed them: the cluster file for that mode.</summary>
    public static string ClusterFile(string mode) => Path.Combine(PayloadDirectory, "cluster", $"{mode}-nodes.yaml");

    public static string PayloadPath(string mode, string file) => Path.Combine(PayloadDirectory, mode, file);

    /// <summary>The payload files of a mode, by file name.</summary>
    public static IReadOnlyList<string> PayloadFiles(string mode) =>
        [.. Directory.GetFiles(Path.Combine(PayloadDirectory, mode), "*.json").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    public static byte[] ReadPayload(string mode, string file) => File.ReadAllBytes(PayloadPath(mode, file));

    public static JsonElement ReadPayloadJson(string mode, string file) => JsonShape.Parse(Encoding.UTF8.GetString(ReadPayload(mode, file)));

    /// <summary>The verb a payload file was captured from: its name up to the first dash.</summary>
    public static string VerbOf(string file) => file[..file.IndexOf('-', StringComparison.Ordinal)];

    /// <summary>The pod a payload file is about: <c>bind-frac-half.json</c> and <c>filter-frac-half.2.json</c> are both frac-half.</summary>
    public static string PodOf(string file)
    {
        var name = file[(file.IndexOf('-', StringComparison.Ordinal) + 1)..^".json".Length];
        return name.EndsWith(".2", StringComparison.Ordinal) ? name[..^2] : name;
    }

    /// <summary>Posts a captured payload, byte for byte, to the verb its file name starts with.</summary>
    public static Task<HttpAnswer> PostPayloadAsync(HttpClient client, string mode, string file) =>
        PostAsync(client, "/" + VerbOf(file), ReadPayload(mode, file));

    public static Task<HttpAnswer> PostAsync(HttpClient client, string path, string body) =>
        PostAsync(client, path, Encoding.UTF8.GetBytes(body));

    public static async Task<HttpAnswer> PostAsync(HttpClient client, string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await client.PostAsync(new Uri(path, UriKind.Relative), content);
        return await HttpAnswer.ReadAsync(response);
    }

    public static async Task<HttpAnswer> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        return await HttpAnswer.ReadAsync(response);
    }
}

/// <summary>An HTTP answer read whole: status, media type and body text.</summary>
public sealed record HttpAnswer(HttpStatusCode Status, string? MediaType, string Body)
{
    /// <summary>The body as JSON; fails the test with the body when it is not JSON.</summary>
    public JsonElement Json
    {
        get
        {
            try
            {
                return JsonShape.Parse(Body);
            }
            catch (JsonException ex)
            {
                Assert.Fail($"the answer ({(int)Status}) is not JSON: {ex.Message}\n{Body}");
                throw;
            }
        }
    }

    public static async Task<HttpAnswer> ReadAsync(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var body = await response.Content.ReadAsStringAsync();
        return new HttpAnswer(response.StatusCode, response.Content.Headers.ContentType?.MediaType, body);
    }

    public override string ToString() => $"{(int)Status} {MediaType}: {Body}";
}

/// <summary>Small JSON readers for assertions.</summary>
internal static class JsonShape
{
    public static JsonElement Parse(string text)
    {
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    public static IReadOnlyList<string> PropertyNames(JsonElement element) => [.. element.EnumerateObject().Select(p => p.Name)];

    public static IReadOnlyList<string> Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString() ?? string.Empty)];

    /// <summary>A string map (FailedNodes, FailedAndUnresolvableNodes) as a dictionary.</summary>
    public static Dictionary<string, string> StringMap(JsonElement map) =>
        map.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? string.Empty, StringComparer.Ordinal);

    /// <summary>The candidate node names of an ExtenderArgs body: NodeNames, or the names of Nodes.items.</summary>
    public static IReadOnlyList<string> CandidateNodes(JsonElement args)
    {
        if (args.GetProperty("NodeNames").ValueKind == JsonValueKind.Array)
        {
            return Strings(args.GetProperty("NodeNames"));
        }

        return [.. args.GetProperty("Nodes").GetProperty("items").EnumerateArray().Select(n => n.GetProperty("metadata").GetProperty("name").GetString() ?? string.Empty)];
    }
}

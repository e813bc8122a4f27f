using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// The apiserver's continue token: unpadded URL-safe base64 of <c>{"v":"meta.k8s.io/v1","rv":88,"start":"team-a/pod-a2\u0000"}</c>
/// (1b): the snapshot's resourceVersion (-1 to continue inconsistently after a 410, 3b) and the key to start at,
/// relative to the list's prefix.
/// </summary>
internal static class ContinueToken
{
    private const string Version = "meta.k8s.io/v1";

    public static string Encode(long resourceVersion, string start)
    {
        var json = GoJson.Encode(new JsonObject { ["v"] = Version, ["rv"] = resourceVersion, ["start"] = start });
        return Convert.ToBase64String(json).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    public static bool TryDecode(string token, out long resourceVersion, out string start)
    {
        resourceVersion = 0;
        start = string.Empty;
        try
        {
            var base64 = token.Replace('-', '+').Replace('_', '/');
            base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
            if (JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(base64))) is not JsonObject json
                || json["v"] is not JsonValue v || !v.TryGetValue<string>(out var version) || version != Version
                || json["rv"] is not JsonValue rv || !rv.TryGetValue<long>(out resourceVersion)
                || json["start"] is not JsonValue s || !s.TryGetValue<string>(out var startKey))
            {
                return false;
            }

            start = startKey;
            return true;
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return false;
        }
    }
}

using System.Text.Encodings.Web;
using System.Text.Json;
using k8s;

namespace Kaiwo.Extender.Wire;

/// <summary>
/// Serializer settings for the extender protocol: KubernetesClient's own settings (camelCase, its converters for
/// quantities, times and IntOrString) for the embedded Pod and Node objects, case-insensitive reading, and the
/// PascalCase keys of the extender types fixed by their [JsonPropertyName] attributes.
/// </summary>
internal static class ExtenderJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        JsonSerializerOptions? kubernetes = null;
        KubernetesJson.AddJsonOptions(o => kubernetes = o);
        var options = new JsonSerializerOptions(kubernetes!)
        {
            PropertyNameCaseInsensitive = true,
            MaxDepth = 64,

            // Reasons are read by people in kubectl describe and logs: keep quotes and apostrophes as they are.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

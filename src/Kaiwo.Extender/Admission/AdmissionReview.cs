using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Kaiwo.Extender.Admission;

/// <summary>
/// <c>admission.k8s.io/v1</c> AdmissionReview, as the API server sends it (with <see cref="Request"/>) and as the
/// webhook answers (with <see cref="Response"/>). The field names are the API's own camelCase names.
/// </summary>
internal sealed class AdmissionReview
{
    public const string V1 = "admission.k8s.io/v1";
    public const string ReviewKind = "AdmissionReview";

    [JsonPropertyName("apiVersion")]
    public string? ApiVersion { get; set; }

    [JsonPropertyName("kind")]
    public string? Kind { get; set; }

    [JsonPropertyName("request")]
    public AdmissionRequest? Request { get; set; }

    [JsonPropertyName("response")]
    public AdmissionResponse? Response { get; set; }
}

/// <summary>What is being admitted. The object stays raw JSON: <see cref="PodMutator"/> reads it as a Pod.</summary>
internal sealed class AdmissionRequest
{
    [JsonPropertyName("uid")]
    public string? Uid { get; set; }

    [JsonPropertyName("kind")]
    public GroupVersionKind? Kind { get; set; }

    [JsonPropertyName("resource")]
    public GroupVersionResource? Resource { get; set; }

    [JsonPropertyName("subResource")]
    public string? SubResource { get; set; }

    [JsonPropertyName("requestKind")]
    public GroupVersionKind? RequestKind { get; set; }

    [JsonPropertyName("requestResource")]
    public GroupVersionResource? RequestResource { get; set; }

    [JsonPropertyName("requestSubResource")]
    public string? RequestSubResource { get; set; }

    /// <summary>Empty on CREATE when the object has only <c>metadata.generateName</c>.</summary>
    [JsonPropertyName("name")]
    public string? Name { get; set; }

    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }

    /// <summary><c>CREATE</c>, <c>UPDATE</c>, <c>DELETE</c> or <c>CONNECT</c>.</summary>
    [JsonPropertyName("operation")]
    public string? Operation { get; set; }

    [JsonPropertyName("userInfo")]
    public AdmissionUserInfo? UserInfo { get; set; }

    [JsonPropertyName("object")]
    public JsonElement? Object { get; set; }

    [JsonPropertyName("oldObject")]
    public JsonElement? OldObject { get; set; }

    [JsonPropertyName("dryRun")]
    public bool? DryRun { get; set; }

    [JsonPropertyName("options")]
    public JsonElement? Options { get; set; }
}

internal sealed class GroupVersionKind
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("version")]
    public string? Version { get; set; }

    [JsonPropertyName("kind")]
    public string? Kind { get; set; }
}

internal sealed class GroupVersionResource
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("version")]
    public string? Version { get; set; }

    [JsonPropertyName("resource")]
    public string? Resource { get; set; }
}

internal sealed class AdmissionUserInfo
{
    [JsonPropertyName("username")]
    public string? Username { get; set; }

    [JsonPropertyName("uid")]
    public string? Uid { get; set; }

    [JsonPropertyName("groups")]
    public List<string>? Groups { get; set; }

    [JsonPropertyName("extra")]
    public Dictionary<string, List<string>>? Extra { get; set; }
}

/// <summary>The webhook's answer. <see cref="Patch"/> is serialized as base64, as the API expects.</summary>
internal sealed class AdmissionResponse
{
    public const string JsonPatchType = "JSONPatch";

    [JsonPropertyName("uid")]
    public string Uid { get; set; } = string.Empty;

    [JsonPropertyName("allowed")]
    public bool Allowed { get; set; }

    [JsonPropertyName("status")]
    public AdmissionStatus? Status { get; set; }

    [JsonPropertyName("patchType")]
    public string? PatchType { get; set; }

    /// <summary>An RFC 6902 JSON patch, UTF-8; System.Text.Json writes a byte array as base64.</summary>
    [JsonPropertyName("patch")]
    public byte[]? Patch { get; set; }
}

/// <summary>The part of a <c>metav1.Status</c> a refusal carries; the API server shows the message to the client.</summary>
internal sealed class AdmissionStatus
{
    [JsonPropertyName("code")]
    public int Code { get; set; }

    [JsonPropertyName("message")]
    public string Message { get; set; } = string.Empty;
}

/// <summary>Serializer settings for AdmissionReview: explicit names, absent fields left out.</summary>
internal static class AdmissionJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNameCaseInsensitive = true,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            MaxDepth = 64,

            // Refusals are read by people in kubectl's output: keep quotes as they are.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

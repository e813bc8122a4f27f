using System.Text.Json;
using System.Text.Json.Serialization;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Scheduling.Inventory;

namespace Kaiwo.Extender.Wire;

/// <summary>One node of a full NodeList: its JSON as sent, and the few facts the scheduling core reads from it.</summary>
internal sealed record NodePayload(JsonElement Json, NodeFacts Facts)
{
    public string Name => Facts.Name;
}

/// <summary>
/// The <c>Nodes</c> NodeList of ExtenderArgs and ExtenderFilterResult when the extender is not nodeCacheCapable.
/// </summary>
/// <remarks>
/// A NodeList of 500 real nodes is megabytes of JSON (images, conditions, managedFields). Materialising it as
/// KubernetesClient's V1Node objects costs ten times more than reading it, and the extender only needs each node's
/// name, labels, annotations and allocatable, and must answer with the passed nodes unchanged. So each item is kept
/// as its JSON element and echoed back byte for byte.
/// </remarks>
[JsonConverter(typeof(NodeListPayloadConverter))]
internal sealed class NodeListPayload
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public JsonElement? Metadata { get; init; }
    public List<NodePayload> Items { get; init; } = [];
}

internal sealed class NodeListPayloadConverter : JsonConverter<NodeListPayload>
{
    /// <summary>Reading goes through <see cref="ExtenderRequests.ReadNodeList"/>, which names the path of every problem.</summary>
    public override NodeListPayload? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var element = JsonElement.ParseValue(ref reader);
        try
        {
            return ExtenderRequests.ReadNodeList(element, "$");
        }
        catch (ObjectReadException ex)
        {
            throw new JsonException(ex.Message, ex);
        }
    }

    public override void Write(Utf8JsonWriter writer, NodeListPayload value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        if (value.Kind is not null)
        {
            writer.WriteString("kind", value.Kind);
        }

        if (value.ApiVersion is not null)
        {
            writer.WriteString("apiVersion", value.ApiVersion);
        }

        if (value.Metadata is { } metadata)
        {
            writer.WritePropertyName("metadata");
            metadata.WriteTo(writer);
        }

        writer.WriteStartArray("items");
        foreach (var item in value.Items)
        {
            item.Json.WriteTo(writer);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// <c>POST /apis/events.k8s.io/v1/namespaces/{ns}/events</c> as captured (7a, 7c, 7d, 7g): 201 with the Event and
/// its server fields, a generateName completed with five characters, and 422 for a missing eventTime, reason,
/// reporting fields or action, a type other than Normal or Warning, or a name prefix ending in a dot.
/// Events are kept in <see cref="Events"/>, in the order they were created, apart from the store: nothing watches
/// them and they do not move <see cref="ResourceVersion"/>.
/// </summary>
public sealed partial class FakeKubeApiServer
{
    private readonly List<JsonObject> _createdEvents = [];

    /// <summary>The Events created so far, as stored.</summary>
    public IReadOnlyList<JsonObject> Events
    {
        get
        {
            lock (_gate)
            {
                return [.. _createdEvents.Select(e => e.DeepClone().AsObject())];
            }
        }
    }

    private static bool IsEventsPath(string[] segments, string method) =>
        method == HttpMethods.Post && segments is ["apis", "events.k8s.io", "v1", "namespaces", _, "events"];

    private async Task CreateEventAsync(HttpContext context, string ns, string body)
    {
        JsonObject ev;
        try
        {
            ev = JsonNode.Parse(body) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException ex)
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest($"the object provided is unrecognized: {ex.Message}"));
            return;
        }

        var meta = ev["metadata"] as JsonObject ?? [];
        ev["metadata"] = meta;
        var name = StringAt(meta["name"]) ?? (StringAt(meta["generateName"]) is { Length: > 0 } prefix ? prefix + RandomSuffix() : null);
        if (name is null)
        {
            await WriteStatusAsync(context, KubeStatus.Invalid("Event", string.Empty, "metadata.name", "FieldValueRequired", "Required value: name or generateName is required"));
            return;
        }

        if (StringAt(meta["generateName"]) is { } generateName && generateName.EndsWith('.'))
        {
            await WriteStatusAsync(context, KubeStatus.Invalid("Event", name, "metadata.generateName", "FieldValueInvalid", $"Invalid value: \"{generateName}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
            return;
        }

        foreach (var required in new[] { "eventTime", "reportingController", "reportingInstance", "action", "reason" })
        {
            if (StringAt(ev[required]) is not { Length: > 0 })
            {
                await WriteStatusAsync(context, KubeStatus.Invalid("Event", name, required, "FieldValueRequired", "Required value"));
                return;
            }
        }

        if (StringAt(ev["type"]) is not ("Normal" or "Warning"))
        {
            await WriteStatusAsync(context, KubeStatus.Invalid("Event", name, "type", "FieldValueInvalid", $"Invalid value: \"{StringAt(ev["type"])}\": has invalid value: {StringAt(ev["type"])}"));
            return;
        }

        lock (_gate)
        {
            meta["name"] = name;
            meta["namespace"] = ns;
            meta["uid"] = Guid.NewGuid().ToString();
            // Not the store's revision: nothing watches events here, and tests wait for an informer to reach
            // ResourceVersion, which an event written in the background would move past every watched object.
            meta["resourceVersion"] = (_createdEvents.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            meta["creationTimestamp"] = NowText();
            _createdEvents.Add(ev.DeepClone().AsObject());
        }

        await WriteJsonAsync(context, StatusCodes.Status201Created, ev);
    }
}

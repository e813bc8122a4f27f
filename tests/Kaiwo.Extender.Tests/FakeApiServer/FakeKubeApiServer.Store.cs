using System.Globalization;
using System.Text.Json.Nodes;
using k8s;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// The store: every version of every object since the last compaction (so a continue token lists the snapshot it
/// was made at, as etcd does), and the event history watches replay from. All of it under <c>_gate</c>.
/// </summary>
public sealed partial class FakeKubeApiServer
{
    private readonly Dictionary<ResourceKind, SortedDictionary<string, List<StoredVersion>>> _objects = [];
    private readonly List<StoredEvent> _events = [];
    private readonly Dictionary<FakeRoute, Queue<Fault>> _faults = [];
    private readonly List<RecordedRequest> _requests = [];
    private long _resourceVersion = 1;
    private long _compactedRevision;

    /// <summary>
    /// Makes every resourceVersion up to now too old: a watch from an older one gets the single ERROR event with the
    /// 410 Expired Status (3h) and ends, a continue token from before gets HTTP 410 (3b), and a list at an older
    /// exact resourceVersion gets HTTP 410 (3c, 3e). Open watches go on.
    /// </summary>
    public void Compact()
    {
        lock (_gate)
        {
            _compactedRevision = _resourceVersion;
            _events.RemoveAll(e => e.ResourceVersion <= _compactedRevision);
            foreach (var objects in _objects.Values)
            {
                foreach (var key in objects.Keys.ToList())
                {
                    var versions = objects[key];
                    var keep = versions.FindLastIndex(v => v.ResourceVersion <= _compactedRevision);
                    if (keep > 0)
                    {
                        versions.RemoveRange(0, keep);
                    }

                    if (versions is [{ Object: null }])
                    {
                        objects.Remove(key);
                    }
                }
            }
        }
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static JsonObject Metadata(JsonObject obj) => obj["metadata"] as JsonObject ?? throw new InvalidOperationException("object without metadata");

    private static string? StringAt(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static string NameOf(JsonObject obj) =>
        StringAt(obj["metadata"]?["name"]) is { Length: > 0 } name ? name : throw new ArgumentException("metadata.name is required");

    private static string? NamespaceOf(JsonObject obj) => StringAt(obj["metadata"]?["namespace"]);

    private static string KeyOf(ResourceInfo resource, JsonObject obj) => resource.Key(NamespaceOf(obj), NameOf(obj));

    private static string ResourceVersionOf(JsonObject obj) => StringAt(obj["metadata"]?["resourceVersion"]) ?? string.Empty;

    private static T ToModel<T>(JsonObject wire) => KubernetesJson.Deserialize<T>(wire.ToJsonString());

    /// <summary>A typed object as the server writes it: kind and apiVersion set, Go field order.</summary>
    private static JsonObject ToWire(ResourceInfo resource, object model)
    {
        var json = JsonNode.Parse(KubernetesJson.Serialize(model)) as JsonObject ?? [];
        json["kind"] = resource.KindName;
        json["apiVersion"] = resource.ApiVersion;
        return GoJson.Order(json, resource.GoType!);
    }

    /// <summary>
    /// JSON from a request or a patch as the server would store it: a built-in type goes through its model (unknown
    /// fields dropped, wrong types rejected, nulls gone); a custom resource keeps everything, keys sorted.
    /// </summary>
    private static JsonObject Normalize(ResourceInfo resource, JsonObject json)
    {
        if (resource.IsCustom)
        {
            var copy = (JsonObject)json.DeepClone();
            copy["apiVersion"] = resource.ApiVersion;
            copy["kind"] = resource.KindName;
            copy["metadata"] ??= new JsonObject();
            return GoJson.SortObject(copy);
        }

        object model = resource.Kind == ResourceKind.Pod
            ? KubernetesJson.Deserialize<k8s.Models.V1Pod>(json.ToJsonString())
            : KubernetesJson.Deserialize<k8s.Models.V1Node>(json.ToJsonString());
        return ToWire(resource, model);
    }

    /// <summary>The object's JSON back in the resource's order after it was changed in place.</summary>
    private static JsonObject Finish(ResourceInfo resource, JsonObject obj) =>
        resource.GoType is { } type ? GoJson.Order(obj, type) : GoJson.SortObject(obj);

    private static void KeepServerMetadata(JsonObject next, JsonObject current)
    {
        var meta = next["metadata"] as JsonObject ?? [];
        next["metadata"] = meta;
        var was = Metadata(current);
        foreach (var field in new[] { "name", "namespace", "uid", "creationTimestamp", "generation" })
        {
            if (was[field] is { } value && meta[field] is null)
            {
                meta[field] = value.DeepClone();
            }
        }
    }

    private static void BumpGenerationIfSpecChanged(JsonObject next, JsonObject current)
    {
        if (!JsonNode.DeepEquals(next["spec"], current["spec"]))
        {
            var generation = current["metadata"]?["generation"] is JsonValue g && g.TryGetValue<long>(out var n) ? n : 1;
            Metadata(next)["generation"] = generation + 1;
        }
    }

    private string NowText() =>
        new DateTime(TimeProvider.GetUtcNow().UtcDateTime.Ticks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, DateTimeKind.Utc)
            .ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>uid and creationTimestamp (and generation 1 for a custom resource) unless given.</summary>
    private void FillCreateMetadata(ResourceInfo resource, JsonObject wire, string? ns)
    {
        var meta = Metadata(wire);
        _ = NameOf(wire);
        if (resource.Namespaced)
        {
            meta["namespace"] = ns ?? NamespaceOf(wire) ?? "default";
        }
        else
        {
            meta.Remove("namespace");
        }

        if (StringAt(meta["uid"]) is not { Length: > 0 })
        {
            meta["uid"] = Guid.NewGuid().ToString();
        }

        meta["creationTimestamp"] ??= NowText();
        if (resource.IsCustom)
        {
            meta["generation"] ??= 1;
        }
    }

    private JsonObject? CurrentLocked(ResourceInfo resource, string key) =>
        _objects[resource.Kind].TryGetValue(key, out var versions) ? versions[^1].Object : null;

    /// <summary>The objects as they were at <paramref name="resourceVersion"/>, in key order.</summary>
    private IEnumerable<(string Key, JsonObject Object)> ItemsLocked(ResourceInfo resource, long resourceVersion)
    {
        foreach (var (key, versions) in _objects[resource.Kind])
        {
            var at = versions.FindLast(v => v.ResourceVersion <= resourceVersion);
            if (at.Object is not null)
            {
                yield return (key, at.Object);
            }
        }
    }

    /// <summary>Stores a new object (ADDED); null when its key is taken.</summary>
    private JsonObject? CreateLocked(ResourceInfo resource, JsonObject wire)
    {
        var key = KeyOf(resource, wire);
        return CurrentLocked(resource, key) is null ? CommitLocked(resource, key, wire, EventTypes.Added) : null;
    }

    /// <summary>Stores a change (MODIFIED), unless nothing but the resourceVersion differs: then, as etcd's GuaranteedUpdate, nothing happens.</summary>
    private JsonObject UpdateLocked(ResourceInfo resource, string key, JsonObject current, JsonObject next)
    {
        var candidate = Finish(resource, next);
        Metadata(candidate)["resourceVersion"] = ResourceVersionOf(current);
        return JsonNode.DeepEquals(candidate, current) ? current : CommitLocked(resource, key, candidate, EventTypes.Modified);
    }

    private JsonObject DeleteLocked(ResourceInfo resource, string key) =>
        CurrentLocked(resource, key) is { } current
            ? CommitLocked(resource, key, current, EventTypes.Deleted)
            : throw new InvalidOperationException($"{resource.Plural} {key} does not exist");

    /// <summary>One write: the next resourceVersion, a new version of the object, an event for the watches.</summary>
    private JsonObject CommitLocked(ResourceInfo resource, string key, JsonObject obj, string type)
    {
        var resourceVersion = ++_resourceVersion;
        var stored = (JsonObject)obj.DeepClone();
        Metadata(stored)["resourceVersion"] = Text(resourceVersion);
        stored = Finish(resource, stored);

        var objects = _objects[resource.Kind];
        if (!objects.TryGetValue(key, out var versions))
        {
            objects[key] = versions = [];
        }

        var previous = versions.Count > 0 ? versions[^1].Object : null;
        versions.Add(new StoredVersion(resourceVersion, type == EventTypes.Deleted ? null : stored));
        var change = new StoredEvent(resourceVersion, resource, type, stored, previous);
        _events.Add(change);
        foreach (var watch in _watchers)
        {
            watch.Offer(change);
        }

        return stored;
    }
}

/// <summary>One version of an object; a null object is its deletion.</summary>
internal readonly record struct StoredVersion(long ResourceVersion, JsonObject? Object);

using System.Globalization;
using System.Text.Json.Nodes;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>A JSON patch operation that cannot be applied: the server answers 422 Invalid (4f, 4h).</summary>
internal sealed class PatchFailedException(string message) : Exception(message);

/// <summary>The three PATCH content types of the API, applied to an object's JSON.</summary>
internal static class JsonPatches
{
    /// <summary>
    /// Merge keys of the lists a strategic merge patch merges by key instead of replacing (PodSpec, PodStatus,
    /// ObjectMeta): enough for what the scheduler and the extender patch.
    /// </summary>
    private static readonly Dictionary<string, string> MergeKeys = new(StringComparer.Ordinal)
    {
        ["containers"] = "name",
        ["initContainers"] = "name",
        ["ephemeralContainers"] = "name",
        ["conditions"] = "type",
        ["env"] = "name",
        ["ports"] = "containerPort",
        ["volumes"] = "name",
        ["volumeMounts"] = "mountPath",
        ["ownerReferences"] = "uid",
        ["containerStatuses"] = "name",
        ["initContainerStatuses"] = "name",
        ["podIPs"] = "ip",
        ["hostIPs"] = "ip",
        ["addresses"] = "type",
    };

    /// <summary>RFC 7386: objects merge recursively, null removes a key, anything else replaces.</summary>
    public static JsonNode? MergePatch(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target is JsonObject targetObject ? (JsonObject)targetObject.DeepClone() : [];
        foreach (var (name, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(name);
            }
            else
            {
                result.TryGetPropertyValue(name, out var current);
                result[name] = MergePatch(current, value);
            }
        }

        return result;
    }

    /// <summary>
    /// A strategic merge patch: a merge patch whose lists of objects with a known merge key (containers by name,
    /// conditions by type, ...) merge item by item; <c>$patch: delete</c> removes an item, <c>$patch: replace</c>
    /// replaces; the <c>$setElementOrder/</c>, <c>$retainKeys</c> and <c>$deleteFromPrimitiveList/</c> directives are
    /// accepted and ignored.
    /// </summary>
    public static JsonNode? StrategicMergePatch(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        if (patchObject.TryGetPropertyValue("$patch", out var directive) && directive?.GetValue<string>() == "replace")
        {
            var replaced = (JsonObject)patchObject.DeepClone();
            replaced.Remove("$patch");
            return replaced;
        }

        var result = target is JsonObject targetObject ? (JsonObject)targetObject.DeepClone() : [];
        foreach (var (name, value) in patchObject)
        {
            if (name.StartsWith('$'))
            {
                continue;
            }

            if (value is null)
            {
                result.Remove(name);
                continue;
            }

            result.TryGetPropertyValue(name, out var current);
            if (value is JsonArray patchList && current is JsonArray currentList && MergeKeys.TryGetValue(name, out var key)
                && patchList.All(i => i is JsonObject))
            {
                result[name] = MergeList(currentList, patchList, key);
            }
            else
            {
                result[name] = StrategicMergePatch(current, value);
            }
        }

        return result;
    }

    /// <summary>RFC 6902 add, remove, replace, move, copy and test on JSON pointers (<c>~1</c> is <c>/</c>, <c>~0</c> is <c>~</c>).</summary>
    public static JsonNode? JsonPatch(JsonNode? target, JsonArray operations)
    {
        var document = target?.DeepClone();
        foreach (var operation in operations)
        {
            if (operation is not JsonObject op || !TryString(op, "op", out var name) || !TryString(op, "path", out var path))
            {
                throw new PatchFailedException("an operation needs op and path");
            }

            switch (name)
            {
                case "add":
                    document = Add(document, path, Value(op));
                    break;
                case "remove":
                    document = Remove(document, path, out _);
                    break;
                case "replace":
                    document = Remove(document, path, out _);
                    document = Add(document, path, Value(op));
                    break;
                case "move":
                    document = Remove(document, From(op), out var moved);
                    document = Add(document, path, moved);
                    break;
                case "copy":
                    document = Add(document, path, Get(document, From(op))?.DeepClone());
                    break;
                case "test":
                    if (!JsonNode.DeepEquals(Get(document, path), Value(op)))
                    {
                        throw new PatchFailedException($"test failed at {path}");
                    }

                    break;
                default:
                    throw new PatchFailedException($"unknown op {name}");
            }
        }

        return document;
    }

    private static JsonArray MergeList(JsonArray current, JsonArray patch, string key)
    {
        var result = (JsonArray)current.DeepClone();
        foreach (var item in patch.OfType<JsonObject>())
        {
            var id = item[key]?.ToJsonString();
            var index = -1;
            for (var i = 0; i < result.Count; i++)
            {
                if (result[i] is JsonObject existing && existing[key]?.ToJsonString() == id)
                {
                    index = i;
                    break;
                }
            }

            var delete = item.TryGetPropertyValue("$patch", out var d) && d?.GetValue<string>() == "delete";
            if (delete)
            {
                if (index >= 0)
                {
                    result.RemoveAt(index);
                }
            }
            else if (index >= 0)
            {
                result[index] = StrategicMergePatch(result[index], item);
            }
            else
            {
                result.Add(StrategicMergePatch(null, item));
            }
        }

        return result;
    }

    private static bool TryString(JsonObject op, string name, out string value)
    {
        if (op.TryGetPropertyValue(name, out var node) && node is JsonValue v && v.TryGetValue<string>(out var s))
        {
            value = s;
            return true;
        }

        value = string.Empty;
        return false;
    }

    private static JsonNode? Value(JsonObject op) =>
        op.TryGetPropertyValue("value", out var value) ? value?.DeepClone() : throw new PatchFailedException("missing value");

    private static string From(JsonObject op) =>
        TryString(op, "from", out var from) ? from : throw new PatchFailedException("missing from");

    private static List<string> Tokens(string path)
    {
        if (path.Length == 0)
        {
            return [];
        }

        if (path[0] != '/')
        {
            throw new PatchFailedException($"bad pointer {path}");
        }

        return [.. path[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))];
    }

    private static JsonNode? Get(JsonNode? document, string path)
    {
        var node = document;
        foreach (var token in Tokens(path))
        {
            node = node switch
            {
                JsonObject obj when obj.TryGetPropertyValue(token, out var child) => child,
                JsonArray array when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < array.Count => array[i],
                _ => throw new PatchFailedException($"missing path {path}"),
            };
        }

        return node;
    }

    private static JsonNode? Add(JsonNode? document, string path, JsonNode? value)
    {
        var tokens = Tokens(path);
        if (tokens.Count == 0)
        {
            return value;
        }

        var parent = Get(document, ParentPath(tokens));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject obj:
                obj[last] = value;
                break;
            case JsonArray array when last == "-":
                array.Add(value);
                break;
            case JsonArray array when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= array.Count:
                array.Insert(i, value);
                break;
            default:
                throw new PatchFailedException($"cannot add at {path}");
        }

        return document;
    }

    private static JsonNode? Remove(JsonNode? document, string path, out JsonNode? removed)
    {
        var tokens = Tokens(path);
        if (tokens.Count == 0)
        {
            throw new PatchFailedException("cannot remove the whole document");
        }

        var parent = Get(document, ParentPath(tokens));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject obj when obj.TryGetPropertyValue(last, out removed):
                obj.Remove(last);
                break;
            case JsonArray array when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < array.Count:
                removed = array[i];
                array.RemoveAt(i);
                break;
            default:
                throw new PatchFailedException($"missing path {path}");
        }

        removed = removed?.DeepClone();
        return document;
    }

    private static string ParentPath(List<string> tokens) =>
        tokens.Count == 1 ? string.Empty : "/" + string.Join('/', tokens[..^1].Select(Escape));

    private static string Escape(string token) => token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}

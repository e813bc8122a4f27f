using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kaiwo.Extender.Tests.Fuzz;

/// <summary>
/// A seeded mutator of JSON bodies: deletes fields, swaps types, inserts nulls, blows up numbers and strings,
/// duplicates keys in other cases, and truncates. The same seed gives the same bodies, so a failure is replayed by its
/// seed alone.
/// </summary>
internal sealed class JsonMutator(int seed)
{
    /// <summary>Values put in place of any field, as raw JSON (so that numbers JSON can carry but .NET cannot are possible).</summary>
    private static readonly string[] RawValues =
    [
        "null", "0", "-1", "1e400", "-1e400", "123456789012345678901234567890", "1.5", "true", "false", "[]", "{}", "[null]",
        "{\"a\":null}", "[[[[[[[[1]]]]]]]]", "\"\"", "\"abc\"", "\"1x\"", "\"1e400\"", "\"-1\"", "\"1e3\"", "\"0.0001\"", "\"Infinity\"",
        "\"NaN\"", "\"\\u0000\\n\\r\\t\"", "\"9223372036854775808\"", "\"99999999999Ei\"", "\"1.5\"", "\"64Ti\"", "\"0x10\"",
        "\"2026-13-45T99:99:99Z\"", "\"   \"", "\"1E\"", "\"-0\"", "\"1e-30\"",
    ];

    /// <summary>Numbers past every bound: what a hostile client writes for a count or a quantity.</summary>
    private static readonly string[] HugeNumbers = ["1e400", "18446744073709551616", "9223372036854775807", "-9223372036854775808", "2147483648", "1e18", "0.000000001"];

    private static readonly string LongString = JsonSerializer.Serialize(new string('n', 100_000));

    private readonly Random _random = new(seed);

    public string Mutate(string json)
    {
        var root = JsonNode.Parse(json)!;
        var raws = new List<string>();
        var keys = new List<string>();
        var mutations = 1 + _random.Next(3);
        for (var i = 0; i < mutations; i++)
        {
            root = MutateOnce(root, raws, keys) ?? root;
        }

        var text = root.ToJsonString();
        for (var i = 0; i < raws.Count; i++)
        {
            text = text.Replace($"\"__RAW{i}__\"", raws[i], StringComparison.Ordinal);
        }

        for (var i = 0; i < keys.Count; i++)
        {
            text = text.Replace($"\"__DUP{i}__\":", JsonSerializer.Serialize(keys[i]) + ":", StringComparison.Ordinal);
        }

        return _random.Next(12) == 0 ? text[.._random.Next(text.Length)] : text;
    }

    private JsonNode? MutateOnce(JsonNode root, List<string> raws, List<string> keys)
    {
        var places = new List<JsonNode>();
        Collect(root, places);

        // managedFields is most of a pod and never read: visit it less, but still sometimes.
        var target = places[_random.Next(places.Count)];
        if (target.GetPath().Contains("managedFields", StringComparison.Ordinal) && _random.Next(4) != 0)
        {
            target = places[_random.Next(places.Count)];
        }

        switch (_random.Next(6))
        {
            case 0:
                return Delete(target);
            case 1:
                return Replace(target, Raw(raws, "null"));
            case 2 when target is JsonObject obj && obj.Count > 0:
                // A second key for the same field in another case (or the same): which one wins must be settled, never a crash.
                var key = obj.ElementAt(_random.Next(obj.Count)).Key;
                var variant = _random.Next(3) switch { 0 => key.ToUpperInvariant(), 1 => key.ToLowerInvariant(), _ => key };
                keys.Add(variant);
                obj[$"__DUP{keys.Count - 1}__"] = Raw(raws, RawValues[_random.Next(RawValues.Length)]);
                return null;
            case 3 when target is JsonValue value && value.GetValueKind() == JsonValueKind.Number:
                return Replace(target, Raw(raws, HugeNumbers[_random.Next(HugeNumbers.Length)]));
            case 4 when target is JsonValue value && value.GetValueKind() == JsonValueKind.String:
                return Replace(target, Raw(raws, _random.Next(20) == 0 ? LongString : RawValues[_random.Next(RawValues.Length)]));
            default:
                return Replace(target, Raw(raws, RawValues[_random.Next(RawValues.Length)]));
        }
    }

    private static JsonValue Raw(List<string> raws, string raw)
    {
        raws.Add(raw);
        return JsonValue.Create($"__RAW{raws.Count - 1}__");
    }

    private static void Collect(JsonNode? node, List<JsonNode> places)
    {
        if (node is null)
        {
            return;
        }

        places.Add(node);
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, child) in obj)
                {
                    Collect(child, places);
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    Collect(child, places);
                }

                break;
        }
    }

    /// <summary>Removes the node from its parent; the root itself is replaced by nothing useful: an empty object.</summary>
    private static JsonObject? Delete(JsonNode target)
    {
        switch (target.Parent)
        {
            case JsonObject parent:
                parent.Remove(parent.First(p => ReferenceEquals(p.Value, target)).Key);
                return null;
            case JsonArray parent:
                parent.Remove(target);
                return null;
            default:
                return new JsonObject();
        }
    }

    private static JsonNode? Replace(JsonNode target, JsonNode replacement)
    {
        switch (target.Parent)
        {
            case JsonObject parent:
                parent[parent.First(p => ReferenceEquals(p.Value, target)).Key] = replacement;
                return null;
            case JsonArray parent:
                parent[parent.IndexOf(target)] = replacement;
                return null;
            default:
                return replacement;
        }
    }
}

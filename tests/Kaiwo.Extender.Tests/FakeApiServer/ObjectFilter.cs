using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>A selector the server rejects with 400 BadRequest.</summary>
internal sealed class SelectorException(string message) : Exception(message);

/// <summary>
/// labelSelector (<c>k=v</c>, <c>k==v</c>, <c>k!=v</c>, <c>k</c>, <c>!k</c>, <c>k in (a,b)</c>, <c>k notin (a,b)</c>)
/// and fieldSelector (<c>path=v</c>, <c>path==v</c>, <c>path!=v</c> on the fields the server indexes) of a list or watch.
/// </summary>
internal sealed partial class ObjectFilter
{
    public static readonly ObjectFilter Everything = new([], []);

    private static readonly string[] CommonFields = ["metadata.name", "metadata.namespace"];

    private static readonly string[] PodFields =
    [
        "spec.nodeName", "spec.schedulerName", "spec.serviceAccountName", "spec.restartPolicy", "spec.hostNetwork",
        "status.phase", "status.podIP", "status.nominatedNodeName",
    ];

    private static readonly string[] NodeFields = ["spec.unschedulable"];

    private readonly IReadOnlyList<Func<JsonObject, bool>> _labels;
    private readonly IReadOnlyList<Func<JsonObject, bool>> _fields;

    private ObjectFilter(IReadOnlyList<Func<JsonObject, bool>> labels, IReadOnlyList<Func<JsonObject, bool>> fields)
    {
        _labels = labels;
        _fields = fields;
    }

    /// <summary>No selector: lists carry remainingItemCount only then.</summary>
    public bool IsEmpty => _labels.Count == 0 && _fields.Count == 0;

    public static ObjectFilter Parse(ResourceInfo resource, string? labelSelector, string? fieldSelector)
    {
        var labels = new List<Func<JsonObject, bool>>();
        foreach (var requirement in SplitRequirements(labelSelector))
        {
            labels.Add(ParseLabel(requirement));
        }

        var fields = new List<Func<JsonObject, bool>>();
        foreach (var requirement in SplitRequirements(fieldSelector))
        {
            fields.Add(ParseField(resource, requirement));
        }

        return labels.Count == 0 && fields.Count == 0 ? Everything : new ObjectFilter(labels, fields);
    }

    public bool Matches(JsonObject obj) => _labels.All(m => m(obj)) && _fields.All(m => m(obj));

    private static IEnumerable<string> SplitRequirements(string? selector)
    {
        if (string.IsNullOrWhiteSpace(selector))
        {
            yield break;
        }

        var depth = 0;
        var start = 0;
        for (var i = 0; i < selector.Length; i++)
        {
            switch (selector[i])
            {
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    break;
                case ',' when depth == 0:
                    yield return selector[start..i].Trim();
                    start = i + 1;
                    break;
            }
        }

        yield return selector[start..].Trim();
    }

    private static Func<JsonObject, bool> ParseLabel(string requirement)
    {
        var set = SetRequirement().Match(requirement);
        if (set.Success)
        {
            var key = set.Groups[1].Value;
            var values = set.Groups[3].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            return set.Groups[2].Value == "in"
                ? obj => Label(obj, key) is { } v && values.Contains(v)
                : obj => Label(obj, key) is not { } v || !values.Contains(v);
        }

        if (requirement.StartsWith('!'))
        {
            var key = requirement[1..].Trim();
            return obj => Label(obj, key) is null;
        }

        var (name, op, value) = SplitOperator(requirement);
        if (op is null)
        {
            ValidateKey(requirement, name);
            return obj => Label(obj, name) is not null;
        }

        ValidateKey(requirement, name);
        return op == "!=" ? obj => Label(obj, name) != value : obj => Label(obj, name) == value;
    }

    private static void ValidateKey(string requirement, string key)
    {
        if (key.Length == 0 || key.Any(char.IsWhiteSpace))
        {
            throw new SelectorException($"unable to parse requirement: {requirement}");
        }
    }

    private static Func<JsonObject, bool> ParseField(ResourceInfo resource, string requirement)
    {
        var (path, op, value) = SplitOperator(requirement);
        if (op is null)
        {
            throw new SelectorException($"invalid selector: '{requirement}'; can't understand '{requirement}'");
        }

        var supported = resource.Kind switch
        {
            ResourceKind.Pod => CommonFields.Concat(PodFields),
            ResourceKind.Node => CommonFields.Concat(NodeFields),
            _ => CommonFields,
        };
        if (!supported.Contains(path, StringComparer.Ordinal))
        {
            throw new SelectorException($"field label not supported: {path}");
        }

        var segments = path.Split('.');
        return op == "!=" ? obj => Field(obj, segments) != value : obj => Field(obj, segments) == value;
    }

    private static (string Name, string? Op, string Value) SplitOperator(string requirement)
    {
        foreach (var op in new[] { "!=", "==", "=" })
        {
            var at = requirement.IndexOf(op, StringComparison.Ordinal);
            if (at >= 0)
            {
                return (requirement[..at].Trim(), op, requirement[(at + op.Length)..].Trim());
            }
        }

        return (requirement.Trim(), null, string.Empty);
    }

    private static string? Label(JsonObject obj, string key) =>
        obj["metadata"]?["labels"] is JsonObject labels && labels[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary>A field's value as the field selector compares it: missing is the empty string.</summary>
    private static string Field(JsonObject obj, string[] segments)
    {
        JsonNode? node = obj;
        foreach (var segment in segments)
        {
            node = node is JsonObject o && o.TryGetPropertyValue(segment, out var child) ? child : null;
        }

        return node switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonValue v => v.ToJsonString(),
            _ => string.Empty,
        };
    }

    [GeneratedRegex(@"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex SetRequirement();
}

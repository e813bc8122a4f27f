using System.Text.Json;
using Kaiwo.Scheduling.Queues;

namespace Kaiwo.Extender.Live;

/// <summary>
/// The queues as last read, one immutable value: the specs that read well, the queues whose definition does not with
/// why, their names, and why queues are not served at all (null when they are). <see cref="Version"/> moves with
/// every change; derived state (the queue tree) is keyed on the value itself.
/// </summary>
internal sealed record QueueCatalogContents(
    long Version,
    string? UnavailableReason,
    IReadOnlyList<string> Names,
    IReadOnlyList<QueueSpec> Specs,
    IReadOnlyDictionary<string, string> Invalid)
{
    public static QueueCatalogContents Initial { get; } = new(0, "not listed yet", [], [], new Dictionary<string, string>(StringComparer.Ordinal));
}

/// <summary>
/// The KaiwoQueue objects (from the informer, or the cluster file in standalone mode), each read into a spec once, when
/// it arrives. Absent when the CRD is not installed. Every change publishes new <see cref="Contents"/>, so readers
/// never parse and never see half of a change.
/// </summary>
internal sealed class QueueCatalog : IInformerTarget
{
    private readonly Lock _gate = new();

    // Under _gate: each queue by name, as read.
    private readonly Dictionary<string, Definition> _queues = new(StringComparer.Ordinal);
    private string? _unavailableReason = QueueCatalogContents.Initial.UnavailableReason;
    private QueueCatalogContents _contents = QueueCatalogContents.Initial;

    public string Resource => "kaiwoqueues";

    public string Path => "apis/kaiwo.ai/v1alpha2/kaiwoqueues";

    public bool Optional => true;

    /// <summary>The queues as of now: one reference, replaced whole on every change.</summary>
    public QueueCatalogContents Contents => Volatile.Read(ref _contents);

    /// <summary>Null when queues are served; otherwise why the extender runs without them.</summary>
    public string? UnavailableReason => Contents.UnavailableReason;

    public long Version => Contents.Version;

    public IReadOnlyList<string> Names => Contents.Names;

    /// <summary>The queues' specs, and the queues whose definition does not read with why.</summary>
    public (IReadOnlyList<QueueSpec> Specs, IReadOnlyDictionary<string, string> Invalid) Read()
    {
        var contents = Contents;
        return (contents.Specs, contents.Invalid);
    }

    /// <summary>Queues are few and their catalogue changes at once: the pages are gathered and replace it when complete.</summary>
    public ListReplace BeginReplace()
    {
        var items = new List<JsonElement>();
        return new ListReplace(
            item =>
            {
                // Kept until the list is complete, beyond the page that holds it.
                items.Add(item.Clone());
                return null;
            },
            _ => Replace(items));
    }

    public void Replace(IReadOnlyList<JsonElement> items)
    {
        var queues = new List<(string Name, Definition Definition)>();
        foreach (var item in items)
        {
            if (NameOf(item) is { } name)
            {
                queues.Add((name, Definition.Of(item)));
            }
        }

        lock (_gate)
        {
            _queues.Clear();
            foreach (var (name, definition) in queues)
            {
                _queues[name] = definition;
            }

            Publish();
        }
    }

    public void Apply(string type, JsonElement item)
    {
        if (NameOf(item) is not { } name)
        {
            return;
        }

        var definition = type == "DELETED" ? null : Definition.Of(item);
        lock (_gate)
        {
            if (definition is null)
            {
                _queues.Remove(name);
            }
            else
            {
                _queues[name] = definition;
            }

            Publish();
        }
    }

    public void SetAvailable(bool available, string? reason)
    {
        lock (_gate)
        {
            _unavailableReason = available ? null : reason;
            Publish();
        }
    }

    /// <summary>Under _gate: the contents of now, as one new value (as many steps as there are queues).</summary>
    private void Publish()
    {
        var specs = new List<QueueSpec>();
        var invalid = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new List<string>(_queues.Count);
        foreach (var (name, definition) in _queues.OrderBy(q => q.Key, StringComparer.Ordinal))
        {
            names.Add(name);
            if (definition.Spec is { } spec)
            {
                specs.Add(spec);
            }
            else
            {
                invalid[name] = definition.Invalid!;
            }
        }

        Volatile.Write(ref _contents, new QueueCatalogContents(_contents.Version + 1, _unavailableReason, names, specs, invalid));
    }

    private static string? NameOf(JsonElement item) =>
        item.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object
        && m.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
            ? n.GetString()
            : null;

    /// <summary>One KaiwoQueue as read: its spec, or why its definition does not read.</summary>
    private sealed record Definition(QueueSpec? Spec, string? Invalid)
    {
        public static Definition Of(JsonElement item) => QueueSpecReader.TryRead(item, out var spec, out var errors)
            ? new Definition(spec, null)
            : new Definition(null, string.Join("; ", errors));
    }
}

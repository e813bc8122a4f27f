namespace Kaiwo.Scheduling.Queues;

/// <summary>One queue of the tree.</summary>
public sealed record QueueNode
{
    public required QueueSpec Spec { get; init; }

    public string Name => Spec.Name;

    public IReadOnlyList<string> Children { get; init; } = [];

    public bool IsLeaf => Children.Count == 0;

    /// <summary>Why the queue takes no pods (a missing parent, a cycle), or null when it is usable.</summary>
    public string? DisabledReason { get; init; }

    /// <summary>Not a KaiwoQueue object: the default queue, made up because none of that name exists.</summary>
    public bool IsImplicit { get; init; }
}

/// <summary>
/// The queues as a tree. A broken definition (a missing parent, a cycle) disables only the queues it touches, each
/// with its reason; the rest of the tree goes on. The default queue, for pods without a queue label, always exists.
/// </summary>
public sealed class QueueTree
{
    private readonly Dictionary<string, QueueNode> _queues;

    private QueueTree(Dictionary<string, QueueNode> queues, IReadOnlyList<string> roots, string defaultQueue)
    {
        _queues = queues;
        Roots = roots;
        DefaultQueue = defaultQueue;
    }

    public IReadOnlyDictionary<string, QueueNode> Queues => _queues;

    /// <summary>The usable root queues, by name.</summary>
    public IReadOnlyList<string> Roots { get; }

    public string DefaultQueue { get; }

    /// <param name="specs">The queues that read well.</param>
    /// <param name="defaultQueue">The queue of pods without a queue label; made up when no spec has its name.</param>
    /// <param name="invalid">Queues whose definition does not read, with why: present, but disabled.</param>
    public static QueueTree Build(IEnumerable<QueueSpec> specs, string defaultQueue, IReadOnlyDictionary<string, string>? invalid = null)
    {
        ArgumentNullException.ThrowIfNull(specs);
        var byName = new SortedDictionary<string, QueueSpec>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            byName[spec.Name] = spec;
        }

        foreach (var (name, _) in invalid ?? new Dictionary<string, string>())
        {
            byName.TryAdd(name, new QueueSpec { Name = name });
        }

        var implicitDefault = !byName.ContainsKey(defaultQueue);
        if (implicitDefault)
        {
            byName[defaultQueue] = new QueueSpec { Name = defaultQueue };
        }

        // Why each queue is unusable: its own definition first, then anything above it.
        var disabled = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, why) in invalid ?? new Dictionary<string, string>())
        {
            disabled[name] = $"its definition is invalid: {why}";
        }

        foreach (var (name, spec) in byName)
        {
            if (!disabled.ContainsKey(name) && spec.Parent is { } parent && !byName.ContainsKey(parent))
            {
                disabled[name] = $"its parent queue \"{parent}\" does not exist";
            }
        }

        foreach (var name in byName.Keys)
        {
            if (InCycle(name, byName) is { } cycle)
            {
                disabled[name] = $"its parents form a cycle ({cycle})";
            }
        }

        foreach (var name in byName.Keys)
        {
            if (disabled.ContainsKey(name))
            {
                continue;
            }

            for (var parent = byName[name].Parent; parent is not null && byName.TryGetValue(parent, out var p); parent = p.Parent)
            {
                if (disabled.ContainsKey(parent))
                {
                    disabled[name] = $"its ancestor queue \"{parent}\" is disabled";
                    break;
                }
            }
        }

        var children = byName.Keys.ToDictionary(n => n, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var (name, spec) in byName)
        {
            if (!disabled.ContainsKey(name) && spec.Parent is { } parent)
            {
                children[parent].Add(name);
            }
        }

        var queues = byName.ToDictionary(
            p => p.Key,
            p => new QueueNode
            {
                Spec = p.Value,
                Children = children[p.Key],
                DisabledReason = disabled.GetValueOrDefault(p.Key),
                IsImplicit = implicitDefault && p.Key == defaultQueue,
            },
            StringComparer.Ordinal);
        var roots = queues.Values.Where(q => q.Spec.Parent is null && q.DisabledReason is null).Select(q => q.Name).ToList();
        return new QueueTree(queues, roots, defaultQueue);
    }

    /// <summary>The queue itself, then its parent, up to the root.</summary>
    public IEnumerable<QueueNode> Ancestry(string queue)
    {
        // Bounded by the number of queues, so that even a disabled queue in a cycle ends.
        var steps = 0;
        for (var name = queue; name is not null && steps++ <= _queues.Count && _queues.TryGetValue(name, out var node); name = node.Spec.Parent)
        {
            yield return node;
        }
    }

    /// <summary>
    /// The leaf queue a new pod belongs to, or the reason it cannot be admitted to the queue it names:
    /// a queue that does not exist, is not a leaf, or is disabled.
    /// </summary>
    public (string? Queue, string? Refusal) LeafFor(string? label)
    {
        var name = string.IsNullOrEmpty(label) ? DefaultQueue : label;
        if (!_queues.TryGetValue(name, out var node))
        {
            return (null, $"queue \"{name}\" (label {WellKnown.QueueLabel}) does not exist");
        }

        if (node.DisabledReason is { } reason)
        {
            return (null, $"queue \"{name}\" is disabled: {reason}");
        }

        if (!node.IsLeaf)
        {
            return (null, $"queue \"{name}\" has child queues ({string.Join(", ", node.Children)}); pods go to leaf queues only");
        }

        return (name, null);
    }

    /// <summary>
    /// The queue a bound pod's usage counts in: its own queue while that is a usable leaf, else the default queue
    /// (a queue deleted under running pods, for example), so that nothing running goes uncounted.
    /// </summary>
    public string AccountFor(string? label) => LeafFor(label).Queue ?? DefaultQueue;

    private static string? InCycle(string start, SortedDictionary<string, QueueSpec> byName)
    {
        var path = new List<string> { start };
        for (var parent = byName[start].Parent; parent is not null && byName.TryGetValue(parent, out var p); parent = p.Parent)
        {
            if (parent == start)
            {
                return string.Join(" → ", path.Append(start));
            }

            if (path.Contains(parent))
            {
                return null; // a cycle above, not through this queue: the ancestor check disables it
            }

            path.Add(parent);
        }

        return null;
    }
}

using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Verbs;

/// <summary>
/// The pods kube-scheduler has shown us in filter, by uid, as last seen, so that bind (whose body names the pod
/// only) places the newest ask. Bounded: past the capacity the pod seen longest ago is forgotten, so memory stays
/// flat under any stream of new pods.
/// </summary>
internal sealed class PendingPods(int capacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _byUid = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _byAge = new();

    /// <summary>One remembered pod; <c>Registered</c> when standalone filter made it a pending pod of the state.</summary>
    public sealed record Entry(PodFacts Pod, bool Registered);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _byUid.Count;
            }
        }
    }

    /// <summary>Remembers the pod as it is now, as the newest; returns the entries forgotten to make room.</summary>
    public IReadOnlyList<Entry> Remember(PodFacts pod, bool registered)
    {
        ArgumentNullException.ThrowIfNull(pod);
        lock (_gate)
        {
            if (_byUid.Remove(pod.Uid, out var known))
            {
                _byAge.Remove(known);
                registered |= known.Value.Registered;
            }

            _byUid[pod.Uid] = _byAge.AddLast(new Entry(pod, registered));
            List<Entry>? forgotten = null;
            while (_byUid.Count > capacity && _byAge.First is { } oldest)
            {
                _byAge.RemoveFirst();
                _byUid.Remove(oldest.Value.Pod.Uid);
                (forgotten ??= []).Add(oldest.Value);
            }

            return forgotten ?? (IReadOnlyList<Entry>)[];
        }
    }

    public Entry? Find(string uid)
    {
        lock (_gate)
        {
            return _byUid.TryGetValue(uid, out var node) ? node.Value : null;
        }
    }

    public void Forget(string uid)
    {
        lock (_gate)
        {
            if (_byUid.Remove(uid, out var node))
            {
                _byAge.Remove(node);
            }
        }
    }
}

using System.Collections.Concurrent;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Verbs;

/// <summary>
/// The pods kube-scheduler has shown us in filter, by uid, so that bind (whose body names the pod only) can find
/// its annotations. Bounded: past the capacity the oldest are forgotten.
/// </summary>
internal sealed class PendingPods(int capacity)
{
    private readonly ConcurrentDictionary<string, PodFacts> _pods = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();

    public void Remember(PodFacts pod)
    {
        if (_pods.TryGetValue(pod.Uid, out var known) && ReferenceEquals(known, pod))
        {
            return;
        }

        if (_pods.TryAdd(pod.Uid, pod))
        {
            _order.Enqueue(pod.Uid);
            while (_pods.Count > capacity && _order.TryDequeue(out var oldest))
            {
                _pods.TryRemove(oldest, out _);
            }
        }
        else
        {
            _pods[pod.Uid] = pod;
        }
    }

    public PodFacts? Find(string uid) => _pods.TryGetValue(uid, out var pod) ? pod : null;

    public void Forget(string uid) => _pods.TryRemove(uid, out _);
}

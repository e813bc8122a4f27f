using Kaiwo.Scheduling.Queues;

namespace Kaiwo.Scheduling.State;

/// <summary>What one pod counts in its queue: bound (usage) or pending (demand), by queue label and scheduler.</summary>
internal sealed record PodAccount(string Label, bool Bound, bool Pending, string? SchedulerName, ResourceVector Amount)
{
    public static PodAccount None { get; } = new(string.Empty, false, false, null, ResourceVector.Zero);
}

/// <summary>
/// Running totals of every pod's account, by queue label: the sum and pod count of bound pods, and per scheduler the
/// sum of pending requests and how many pending pods ask each amount (for the smallest pending request); and the
/// cluster's capacity for queues, summed over nodes. Updated by a remove and an add per pod change (a capacity delta
/// per node change), so a queue snapshot costs as many steps as there are labels, not pods. <see cref="Version"/>
/// moves with every change of a total and only then. Not thread-safe: the owner locks.
/// </summary>
internal sealed class QueueAccounts
{
    private readonly Dictionary<string, (ResourceVector Sum, int Pods)> _bound = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Label, string Scheduler), Pending> _pending = new();

    /// <summary>Moves with every change of the totals or the capacity; never otherwise.</summary>
    public long Version { get; private set; }

    public ResourceVector Capacity { get; private set; }

    /// <summary>Replaces one pod's account by another; a no-op (the version stays) when they are equal.</summary>
    public void Move(PodAccount old, PodAccount account)
    {
        if (old == account)
        {
            return;
        }

        Apply(old, -1);
        Apply(account, +1);
        Version++;
    }

    /// <summary>Adds a node's capacity change (new minus old); a no-op when it is zero.</summary>
    public void AddCapacity(ResourceVector delta)
    {
        if (delta.IsZero)
        {
            return;
        }

        Capacity += delta;
        Version++;
    }

    /// <summary>A copy of the totals as of now for one scheduler: bound totals by label, pending totals and the smallest pending request by label.</summary>
    public QueueTotals Totals(string schedulerName)
    {
        var bound = new Dictionary<string, (ResourceVector Sum, int Pods)>(_bound, StringComparer.Ordinal);
        var pending = new Dictionary<string, (ResourceVector Sum, ResourceVector Smallest)>(StringComparer.Ordinal);
        foreach (var ((label, scheduler), totals) in _pending)
        {
            if (scheduler == schedulerName)
            {
                pending[label] = (totals.Sum, totals.Smallest());
            }
        }

        return new QueueTotals(Version, Capacity, bound, pending);
    }

    private void Apply(PodAccount account, int sign)
    {
        if (account.Bound)
        {
            var (sum, pods) = _bound.GetValueOrDefault(account.Label);
            var next = (sign > 0 ? sum + account.Amount : sum - account.Amount, pods + sign);
            if (next.Item2 == 0)
            {
                _bound.Remove(account.Label);
            }
            else
            {
                _bound[account.Label] = next;
            }
        }
        else if (account.Pending)
        {
            var key = (account.Label, account.SchedulerName ?? string.Empty);
            if (!_pending.TryGetValue(key, out var totals))
            {
                totals = new Pending();
                _pending[key] = totals;
            }

            totals.Apply(account.Amount, sign);
            if (totals.Pods == 0)
            {
                _pending.Remove(key);
            }
        }
    }

    private sealed class Pending
    {
        private readonly SortedDictionary<long, int>[] _sizes = [new(), new(), new()];

        public ResourceVector Sum { get; private set; }

        public int Pods { get; private set; }

        public void Apply(ResourceVector amount, int sign)
        {
            Sum = sign > 0 ? Sum + amount : Sum - amount;
            Pods += sign;
            foreach (var r in ResourceVector.All)
            {
                var size = amount[r];
                if (size <= 0)
                {
                    continue;
                }

                var sizes = _sizes[(int)r];
                var count = sizes.GetValueOrDefault(size) + sign;
                if (count <= 0)
                {
                    sizes.Remove(size);
                }
                else
                {
                    sizes[size] = count;
                }
            }
        }

        public ResourceVector Smallest() => new(First(QueueResource.Gpu), First(QueueResource.Cpu), First(QueueResource.Memory));

        private long First(QueueResource r)
        {
            foreach (var (size, _) in _sizes[(int)r])
            {
                return size;
            }

            return 0;
        }
    }
}

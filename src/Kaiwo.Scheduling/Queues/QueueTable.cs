namespace Kaiwo.Scheduling.Queues;

/// <summary>One resource of a queue, as /inspect shows it: "2.5 GPU", "150 cores", "128 GiB".</summary>
public sealed record QueueAmounts(string Gpu, string Cpu, string Memory)
{
    public static QueueAmounts Of(ResourceVector v) => new(
        ResourceVector.Format(QueueResource.Gpu, v.Gpu),
        ResourceVector.Format(QueueResource.Cpu, v.Cpu),
        ResourceVector.Format(QueueResource.Memory, v.Memory));
}

/// <summary>One queue, as /inspect shows it.</summary>
public sealed record QueueRow(
    string Name,
    string? Parent,
    int Priority,
    bool Leaf,
    bool Implicit,
    string? Disabled,
    QueueAmounts Quota,
    QueueAmounts Limit,
    QueueAmounts Allocated,
    QueueAmounts Requested,
    QueueAmounts FairShare,
    IReadOnlyDictionary<string, int>? AlsoCounts);

/// <summary>The queue tree of /inspect, sorted by name so that the same state gives the same bytes.</summary>
public static class QueueTable
{
    public static IReadOnlyList<QueueRow> Build(QueueSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return
        [
            .. snapshot.Tree.Queues.Values.OrderBy(q => q.Name, StringComparer.Ordinal).Select(q => new QueueRow(
                q.Name,
                q.Spec.Parent,
                q.Spec.Priority,
                q.IsLeaf,
                q.IsImplicit,
                q.DisabledReason,
                QueueAmounts.Of(new ResourceVector(q.Spec.Gpu.Quota, q.Spec.Cpu.Quota, q.Spec.Memory.Quota)),
                new QueueAmounts(Limit(QueueResource.Gpu, q.Spec.Gpu), Limit(QueueResource.Cpu, q.Spec.Cpu), Limit(QueueResource.Memory, q.Spec.Memory)),
                QueueAmounts.Of(snapshot.UsageOf(q.Name)),
                QueueAmounts.Of(snapshot.Demand.GetValueOrDefault(q.Name)),
                QueueAmounts.Of(snapshot.FairShareOf(q.Name)),
                q.Name == snapshot.Tree.DefaultQueue && snapshot.CountedInDefault.Count > 0 ? snapshot.CountedInDefault : null)),
        ];
    }

    private static string Limit(QueueResource resource, QueueResourceSpec spec) => spec.HasLimit ? ResourceVector.Format(resource, spec.Limit) : "none";
}

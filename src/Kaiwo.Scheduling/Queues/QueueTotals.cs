namespace Kaiwo.Scheduling.Queues;

/// <summary>
/// The cluster's running queue totals at one <see cref="Version"/>, by queue label as the pods carry it (the empty
/// label for pods without one): which queue each label counts in is the tree's business, so the same totals serve any
/// tree. One consistent copy: every total is of the same moment.
/// </summary>
/// <param name="Version">The cluster's queue version these totals are of (see <c>ClusterState.QueueVersion</c>).</param>
/// <param name="Capacity">What the cluster's nodes offer queues.</param>
/// <param name="BoundByLabel">Pods bound or reserved: the sum they hold and how many they are.</param>
/// <param name="PendingByLabel">One scheduler's unbound pods: the sum they ask, and the smallest ask per resource.</param>
public sealed record QueueTotals(
    long Version,
    ResourceVector Capacity,
    IReadOnlyDictionary<string, (ResourceVector Sum, int Pods)> BoundByLabel,
    IReadOnlyDictionary<string, (ResourceVector Sum, ResourceVector Smallest)> PendingByLabel);

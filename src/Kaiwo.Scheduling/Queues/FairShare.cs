namespace Kaiwo.Scheduling.Queues;

/// <summary>
/// Fair share, top-down, one resource at a time: at each level the parent's share goes first to each child's quota
/// (capped by its demand), then the rest by priority tier (highest first) and, within a tier, by overQuotaWeight,
/// water-filled and capped by each child's demand and limit. What no child wants stays unassigned (idle).
/// </summary>
/// <remarks>
/// Integer arithmetic throughout (GPU thousandths, millicores, MiB): a water-filling round gives each child
/// floor(rest × weight / total weight); the last few units that rounding leaves go one by one, by queue name, so the
/// answer is exact and deterministic.
/// </remarks>
public static class FairShare
{
    /// <param name="tree">The queues.</param>
    /// <param name="capacity">What the cluster has of each resource.</param>
    /// <param name="demand">Each leaf queue's demand: its usage plus the requests of its pending pods.</param>
    /// <returns>The fair share of every usable queue, leaves and parents.</returns>
    public static IReadOnlyDictionary<string, ResourceVector> Compute(QueueTree tree, ResourceVector capacity, IReadOnlyDictionary<string, ResourceVector> demand)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(demand);
        var totalDemand = new Dictionary<string, ResourceVector>(StringComparer.Ordinal);
        foreach (var root in tree.Roots)
        {
            SumDemand(tree, root, demand, totalDemand);
        }

        var shares = tree.Queues.Keys.Where(totalDemand.ContainsKey).ToDictionary(n => n, _ => ResourceVector.Zero, StringComparer.Ordinal);
        foreach (var resource in ResourceVector.All)
        {
            Split(tree, tree.Roots, capacity[resource], resource, totalDemand, shares);
        }

        return shares;
    }

    private static ResourceVector SumDemand(QueueTree tree, string queue, IReadOnlyDictionary<string, ResourceVector> demand, Dictionary<string, ResourceVector> total)
    {
        var node = tree.Queues[queue];
        var sum = node.IsLeaf ? demand.GetValueOrDefault(queue) : ResourceVector.Zero;
        foreach (var child in node.Children)
        {
            sum += SumDemand(tree, child, demand, total);
        }

        total[queue] = sum;
        return sum;
    }

    private static void Split(QueueTree tree, IReadOnlyList<string> children, long amount, QueueResource resource, Dictionary<string, ResourceVector> demand, Dictionary<string, ResourceVector> shares)
    {
        if (children.Count == 0)
        {
            return;
        }

        var given = Distribute(tree, children, amount, resource, demand);
        for (var i = 0; i < children.Count; i++)
        {
            var child = children[i];
            shares[child] = shares[child].With(resource, given[i]);
            Split(tree, tree.Queues[child].Children, given[i], resource, demand, shares);
        }
    }

    /// <summary>One level: how much of <paramref name="amount"/> each child gets.</summary>
    internal static long[] Distribute(QueueTree tree, IReadOnlyList<string> children, long amount, QueueResource resource, IReadOnlyDictionary<string, ResourceVector> demand)
    {
        var n = children.Count;
        var given = new long[n];
        var specs = children.Select(c => tree.Queues[c].Spec[resource]).ToArray();
        var wants = children.Select(c => Math.Max(0, demand.GetValueOrDefault(c)[resource])).ToArray();
        var caps = new long[n];
        for (var i = 0; i < n; i++)
        {
            caps[i] = specs[i].HasLimit ? Math.Min(wants[i], specs[i].Limit) : wants[i];
        }

        // 1. Quotas, capped by demand (and limit). Quotas promised beyond what the parent has are cut in proportion.
        var quotas = Enumerable.Range(0, n).Select(i => Math.Min(specs[i].Quota, caps[i])).ToArray();
        var quotaSum = quotas.Sum();
        if (quotaSum <= amount)
        {
            Array.Copy(quotas, given, n);
        }
        else
        {
            WaterFill(given, quotas, quotas.Select(q => q).ToArray(), Enumerable.Range(0, n).ToArray(), amount, children);
        }

        var rest = amount - given.Sum();

        // 2. The surplus: by priority tier, highest first; within a tier by weight, up to demand and limit.
        foreach (var tier in Enumerable.Range(0, n).GroupBy(i => tree.Queues[children[i]].Spec.Priority).OrderByDescending(g => g.Key))
        {
            if (rest <= 0)
            {
                break;
            }

            var members = tier.Where(i => specs[i].OverQuotaWeight > 0).ToArray();
            var weights = new long[n];
            foreach (var i in members)
            {
                weights[i] = specs[i].OverQuotaWeight;
            }

            rest -= WaterFill(given, caps, weights, members, rest, children);
        }

        return given;
    }

    /// <summary>
    /// Shares <paramref name="amount"/> among <paramref name="members"/> in proportion to their weights, none above
    /// its cap; what a capped member cannot take goes round again to the others. Returns how much was given.
    /// </summary>
    private static long WaterFill(long[] given, long[] caps, long[] weights, int[] members, long amount, IReadOnlyList<string> names)
    {
        var total = 0L;
        while (amount > 0)
        {
            var open = members.Where(i => given[i] < caps[i] && weights[i] > 0).ToArray();
            if (open.Length == 0)
            {
                break;
            }

            var weightSum = open.Sum(i => weights[i]);
            var round = 0L;
            foreach (var i in open)
            {
                var portion = (long)((Int128)amount * weights[i] / weightSum);
                var take = Math.Min(portion, caps[i] - given[i]);
                given[i] += take;
                round += take;
            }

            if (round == 0)
            {
                // Rounding left fewer units than members: one each, by name, until none is left.
                foreach (var i in open.OrderBy(i => names[i], StringComparer.Ordinal))
                {
                    if (amount - round == 0)
                    {
                        break;
                    }

                    given[i]++;
                    round++;
                }
            }

            amount -= round;
            total += round;
        }

        return total;
    }
}

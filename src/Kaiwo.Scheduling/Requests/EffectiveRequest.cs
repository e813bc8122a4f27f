using Kaiwo.Scheduling.Units;

namespace Kaiwo.Scheduling.Requests;

/// <summary>Kubernetes' effective request of a pod for one resource, from each container's own amount.</summary>
public static class EffectiveRequest
{
    /// <summary>
    /// The larger of the app containers' sum (plus restartable init "sidecar" containers) and the largest single init
    /// container (plus the sidecars started before it).
    /// </summary>
    public static long Of(PodFacts pod, Func<ContainerFacts, long> amount)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(amount);
        // Saturating sums: a body may hold any number of containers, and a sum must never wrap.
        long sidecars = 0, initPeak = 0, app = 0;
        foreach (var c in pod.InitContainers)
        {
            var n = amount(c);
            if (c.IsRestartableInit)
            {
                sidecars = ResourceAmounts.SaturatingAdd(sidecars, n);
                initPeak = Math.Max(initPeak, sidecars);
            }
            else
            {
                initPeak = Math.Max(initPeak, ResourceAmounts.SaturatingAdd(sidecars, n));
            }
        }

        foreach (var c in pod.Containers)
        {
            app = ResourceAmounts.SaturatingAdd(app, amount(c));
        }

        return Math.Max(initPeak, ResourceAmounts.SaturatingAdd(app, sidecars));
    }
}

using k8s.Models;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// What the real server adds to a new pod (defaulting, the DefaultTolerationSeconds and Priority admission plugins,
/// status): the fields every captured pod shows although no request set them.
/// </summary>
internal static class PodDefaults
{
    private static readonly string[] NoExecuteTaints = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];

    public static void Apply(V1Pod pod)
    {
        pod.ApiVersion = "v1";
        pod.Kind = "Pod";
        pod.Metadata ??= new V1ObjectMeta();
        var spec = pod.Spec ??= new V1PodSpec();
        foreach (var container in (spec.InitContainers ?? []).Concat(spec.Containers ?? []))
        {
            container.TerminationMessagePath ??= "/dev/termination-log";
            container.TerminationMessagePolicy ??= "File";
            container.ImagePullPolicy ??= PullPolicy(container.Image);
            if (container.Resources?.Limits is { Count: > 0 } limits)
            {
                // Requests default to limits where they are not given.
                container.Resources.Requests ??= new Dictionary<string, ResourceQuantity>();
                foreach (var (name, quantity) in limits)
                {
                    container.Resources.Requests.TryAdd(name, quantity);
                }
            }
        }

        spec.RestartPolicy ??= "Always";
        spec.TerminationGracePeriodSeconds ??= 30;
        spec.DnsPolicy ??= "ClusterFirst";
        spec.SecurityContext ??= new V1PodSecurityContext();
        spec.SchedulerName ??= "default-scheduler";
        spec.Priority ??= 0;
        spec.EnableServiceLinks ??= true;
        spec.PreemptionPolicy ??= "PreemptLowerPriority";
        spec.Tolerations ??= [];
        foreach (var taint in NoExecuteTaints)
        {
            if (!spec.Tolerations.Any(t => t.Key == taint && (t.Effect ?? "NoExecute") == "NoExecute"))
            {
                spec.Tolerations.Add(new V1Toleration { Key = taint, OperatorProperty = "Exists", Effect = "NoExecute", TolerationSeconds = 300 });
            }
        }

        var status = pod.Status ??= new V1PodStatus();
        status.Phase ??= "Pending";
        status.QosClass ??= QosClass(spec);
    }

    /// <summary>Always for <c>:latest</c> or no tag, IfNotPresent otherwise.</summary>
    private static string PullPolicy(string? image)
    {
        if (string.IsNullOrEmpty(image) || image.Contains('@', StringComparison.Ordinal))
        {
            return "IfNotPresent";
        }

        var name = image[(image.LastIndexOf('/') + 1)..];
        var colon = name.LastIndexOf(':');
        return colon < 0 || name[(colon + 1)..] == "latest" ? "Always" : "IfNotPresent";
    }

    /// <summary>BestEffort without cpu/memory requests or limits; Guaranteed when every container's cpu and memory limits equal its requests; else Burstable.</summary>
    private static string QosClass(V1PodSpec spec)
    {
        var containers = (spec.InitContainers ?? []).Concat(spec.Containers ?? []).ToList();
        string[] compute = ["cpu", "memory"];
        var any = containers.Any(c => compute.Any(r => c.Resources?.Requests?.ContainsKey(r) == true || c.Resources?.Limits?.ContainsKey(r) == true));
        if (!any)
        {
            return "BestEffort";
        }

        var guaranteed = containers.All(c => compute.All(r =>
            c.Resources?.Limits?.TryGetValue(r, out var limit) == true
            && c.Resources.Requests?.TryGetValue(r, out var request) == true
            && limit.ToString() == request.ToString()));
        return guaranteed ? "Guaranteed" : "Burstable";
    }
}

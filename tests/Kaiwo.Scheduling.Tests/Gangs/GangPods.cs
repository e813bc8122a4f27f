using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Tests.Gangs;

/// <summary>Gang members as a training job's pods declare them, and a cluster to place them on.</summary>
internal static class GangPods
{
    /// <summary>Member <paramref name="index"/> of gang <paramref name="group"/> (team-a), asking for whole GPUs.</summary>
    public static PodFacts Member(string group, int index, int size, int gpus = 4, int priority = 0, string scheduler = "kaiwo-scheduler", string? queue = null)
    {
        var pod = TestCluster.Pod($"{group}-{index}", new Dictionary<string, string>
        {
            [WellKnown.PodGroupAnnotation] = group,
            [WellKnown.PodGroupSizeAnnotation] = size.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, gpus);
        return pod with
        {
            Priority = priority,
            SchedulerName = scheduler,
            Labels = queue is null ? pod.Labels : new Dictionary<string, string> { [WellKnown.QueueLabel] = queue },
        };
    }

    public static IReadOnlyList<PodFacts> Members(string group, int count, int size, int gpus = 4, int priority = 0) =>
        [.. Enumerable.Range(0, count).Select(i => Member(group, i, size, gpus, priority))];

    public static ClusterState Cluster(params NodeFacts[] nodes)
    {
        var state = new ClusterState();
        foreach (var node in nodes)
        {
            state.UpsertNode(node);
        }

        return state;
    }

    /// <summary>The pods pending in the state.</summary>
    public static void Pending(ClusterState state, IEnumerable<PodFacts> pods)
    {
        foreach (var pod in pods)
        {
            state.UpsertPod(pod);
        }
    }

    /// <summary>A pod bound to <paramref name="node"/> with its devices, as a bind and the watch leave it.</summary>
    public static void BindTo(ClusterState state, PodFacts pod, string node)
    {
        var result = Kaiwo.Scheduling.Tests.State.ClusterStateTests.Bind(state, pod, node);
        Assert.True(result.Succeeded, result.Reason);
    }

    public static GangView View(ClusterState state, string key) => GangView.Of(key, state.GangMembers(key));
}

using System.Globalization;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Gangs;

/// <summary>Where a pod's group membership was read from.</summary>
public enum PodGroupSource
{
    /// <summary>Annotations <c>kaiwo.ai/pod-group</c> and <c>kaiwo.ai/pod-group-size</c>.</summary>
    Kaiwo,

    /// <summary>Kueue's label <c>kueue.x-k8s.io/pod-group-name</c> and annotation <c>kueue.x-k8s.io/pod-group-total-count</c>.</summary>
    Kueue,
}

/// <summary>
/// A pod's membership of a gang: the pods of one namespace that share a group name start all together or not at
/// all, once at least <see cref="MinMembers"/> of them exist. A membership whose size cannot be read carries the
/// refusal in <see cref="Error"/> (and <see cref="MinMembers"/> 0): the pod and its siblings are not placed.
/// </summary>
public sealed record PodGroup(string Namespace, string Name, int MinMembers, PodGroupSource Source, string? Error = null)
{
    /// <summary>The largest group size accepted: beyond it a size is a typo, not a job.</summary>
    public const int MaxMembers = 10_000;

    /// <summary>"namespace/group": the gang's name in reasons, /inspect and reservations.</summary>
    public string Key => $"{Namespace}/{Name}";

    /// <summary>The annotation the size was read from, for reasons that name it.</summary>
    public string SizeField => Source == PodGroupSource.Kaiwo ? WellKnown.PodGroupSizeAnnotation : WellKnown.KueuePodGroupCountAnnotation;

    /// <summary>
    /// The pod's gang, or null when it belongs to none. <c>kaiwo.ai/pod-group</c> is read first; Kueue's pod-group
    /// label only when it is absent.
    /// </summary>
    public static PodGroup? Read(PodFacts pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (pod.Annotations.TryGetValue(WellKnown.PodGroupAnnotation, out var name))
        {
            return Read(pod.Namespace, name, WellKnown.PodGroupAnnotation, pod.Annotations.GetValueOrDefault(WellKnown.PodGroupSizeAnnotation), PodGroupSource.Kaiwo);
        }

        if (pod.Labels.TryGetValue(WellKnown.KueuePodGroupLabel, out name))
        {
            return Read(pod.Namespace, name, WellKnown.KueuePodGroupLabel, pod.Annotations.GetValueOrDefault(WellKnown.KueuePodGroupCountAnnotation), PodGroupSource.Kueue);
        }

        return null;
    }

    private static PodGroup Read(string ns, string name, string nameField, string? size, PodGroupSource source)
    {
        var sizeField = source == PodGroupSource.Kaiwo ? WellKnown.PodGroupSizeAnnotation : WellKnown.KueuePodGroupCountAnnotation;
        if (string.IsNullOrWhiteSpace(name) || name.Length > 253)
        {
            return new PodGroup(ns, name, 0, source, $"{nameField} is \"{name}\"; a group name is 1 to 253 characters");
        }

        if (size is null)
        {
            return new PodGroup(ns, name, 0, source, $"{sizeField} is missing; a pod of group \"{name}\" ({nameField}) must give the group's minimum number of members, a whole number from 1 to {MaxMembers}");
        }

        if (!int.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out var members) || members is < 1 or > MaxMembers)
        {
            return new PodGroup(ns, name, 0, source, $"{sizeField} is \"{size}\"; it must be a whole number from 1 to {MaxMembers}");
        }

        return new PodGroup(ns, name, members, source);
    }
}

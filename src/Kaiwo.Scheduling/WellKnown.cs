namespace Kaiwo.Scheduling;

/// <summary>The annotation, label and resource names that make up kaiwo's contract with pods and nodes.</summary>
public static class WellKnown
{
    public const string GpuResource = "amd.com/gpu";

    public const string GpuFractionAnnotation = "kaiwo.ai/gpu-fraction";
    public const string GpuMemoryAnnotation = "kaiwo.ai/gpu-memory";
    public const string GpuSharingAnnotation = "kaiwo.ai/gpu-sharing";
    public const string GpuIsolationAnnotation = "kaiwo.ai/gpu-isolation";
    public const string PlacementAnnotation = "kaiwo.ai/placement";
    public const string QueueLabel = "kaiwo.ai/queue";

    /// <summary>A gang's name: the pods of a namespace that share it are placed all or nothing.</summary>
    public const string PodGroupAnnotation = "kaiwo.ai/pod-group";

    /// <summary>The gang's minimum number of members to start, a positive integer.</summary>
    public const string PodGroupSizeAnnotation = "kaiwo.ai/pod-group-size";

    /// <summary>Kueue's pod group name (a label), read as <see cref="PodGroupAnnotation"/>.</summary>
    public const string KueuePodGroupLabel = "kueue.x-k8s.io/pod-group-name";

    /// <summary>Kueue's pod group size (an annotation), read as <see cref="PodGroupSizeAnnotation"/>.</summary>
    public const string KueuePodGroupCountAnnotation = "kueue.x-k8s.io/pod-group-total-count";

    public const string AllocationAnnotation = "kaiwo.ai/gpu-allocation";

    /// <summary>Written by the extender on a waiting pod that can be placed now: kube-scheduler retries an updated pod at once.</summary>
    public const string RetryAnnotation = "kaiwo.ai/retry-requested-at";
    public const string VisibleDevicesAnnotation = "kaiwo.ai/visible-devices";

    public const string TopologyAnnotation = "kaiwo.ai/gpu-topology";
    public const string UtilizationAnnotation = "kaiwo.ai/gpu-utilization";

    public const string ProductNameLabel = "amd.com/gpu.product-name";
    public const string DeviceIdLabel = "amd.com/gpu.device-id";
    public const string FamilyLabel = "amd.com/gpu.family";
    public const string VramLabel = "amd.com/gpu.vram";
    public const string CuCountLabel = "amd.com/gpu.cu-count";
    public const string PartitionLabel = "amd.com/gpu.compute-memory-partition";

    /// <summary>The AMD node labeller's older form: <c>beta.amd.com/gpu.&lt;kind&gt;.&lt;value&gt;=&lt;count&gt;</c>.</summary>
    public const string BetaLabelPrefix = "beta.amd.com/gpu.";
}

namespace Kaiwo.Extender.Live;

/// <summary>Section <c>Kubernetes</c>: how the extender talks to the API server in live mode.</summary>
internal sealed class KubernetesOptions
{
    public const string Section = "Kubernetes";

    /// <summary>A kubeconfig file; empty: the in-cluster service account, then KUBECONFIG, then ~/.kube/config.</summary>
    public string? Kubeconfig { get; set; }

    /// <summary>The kubeconfig context; empty: its current context.</summary>
    public string? Context { get; set; }

    /// <summary>How long a pod we bound is held as assumed before the watch must have shown it bound.</summary>
    public TimeSpan AssumedPodTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The whole bind (patch and Binding, with retries) must finish within this: below kube-scheduler's httpTimeout.</summary>
    public TimeSpan BindTimeout { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>One API call's timeout.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Retries of one API call on 429, 5xx and conflicts.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>The first retry delay; later ones grow exponentially, with jitter.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Items per list page.</summary>
    public int ListPageSize { get; set; } = 500;

    /// <summary>The first delay before reconnecting a failed list or watch; it doubles, with jitter, up to the maximum.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often to look again for the KaiwoQueue CRD when it is not installed.</summary>
    public TimeSpan CrdRetryInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often expired assumed pods are released.</summary>
    public TimeSpan AssumedSweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often queue statuses are published; a queue's status is written at most once per interval, and only when it changed.</summary>
    public TimeSpan QueueStatusInterval { get; set; } = TimeSpan.FromSeconds(5);
}

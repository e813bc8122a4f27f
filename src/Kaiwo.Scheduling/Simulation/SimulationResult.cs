namespace Kaiwo.Scheduling.Simulation;

/// <summary>Pending time of a group of pods, in seconds. Pods still pending at the horizon count with the time they had waited by then.</summary>
public sealed record WaitStats(int Pods, double MedianSeconds, double P95Seconds, double MaxSeconds, int StillPending)
{
    public static WaitStats Of(IReadOnlyList<double> waits, int stillPending)
    {
        ArgumentNullException.ThrowIfNull(waits);
        if (waits.Count == 0)
        {
            return new WaitStats(0, 0, 0, 0, stillPending);
        }

        var sorted = waits.Order().ToArray();
        return new WaitStats(sorted.Length, Percentile(sorted, 50), Percentile(sorted, 95), sorted[^1], stillPending);
    }

    /// <summary>Nearest rank: the smallest value with at least p% of the values at or below it.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        var rank = (int)Math.Ceiling(p / 100 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }
}

/// <summary>The moment the cluster first said "not now" to a pod (not "never").</summary>
public sealed record FirstRefusal(double AtSeconds, double AllocationPercent, string Pod, string Reason);

/// <summary>Pending times of the pods of one size class.</summary>
public sealed record SizeClassWaits(string SizeClass, WaitStats Wait);

/// <summary>One queue over time: the GPUs its pods hold against its fair share, and the largest shortfall.</summary>
public sealed record QueueTimeline(
    string Queue,
    IReadOnlyList<double> AllocatedGpus,
    IReadOnlyList<double> FairShareGpus,
    double MeanAllocatedGpus,
    double MeanFairShareGpus,
    double LargestGapGpus,
    double LargestGapAtSeconds);

/// <summary>Everything one policy's run measured. Series have one value per bucket (see <see cref="SimulationResult.BucketSeconds"/>).</summary>
public sealed record PolicyRun
{
    public required string Policy { get; init; }

    /// <summary>Pods that arrived within the horizon.</summary>
    public int Pods { get; init; }

    /// <summary>Pods that ran to their end within the horizon.</summary>
    public int Completed { get; init; }

    /// <summary>Pods that started at least once.</summary>
    public int Started { get; init; }

    public int RunningAtHorizon { get; init; }

    public int PendingAtHorizon { get; init; }

    /// <summary>Pods no node and no queue could ever take (a request or limit refusal), by reason.</summary>
    public IReadOnlyDictionary<string, int> Refused { get; init; } = new Dictionary<string, int>();

    /// <summary>Pods evicted by preemption (each is queued again and starts over).</summary>
    public int Preemptions { get; init; }

    public FirstRefusal? FirstRefusal { get; init; }

    /// <summary>Time-weighted mean of the GPU allocation, % of the cluster's GPU capacity.</summary>
    public double MeanAllocationPercent { get; init; }

    /// <summary>
    /// Time-weighted mean of the GPU capacity held by reservations against starvation and not yet used by their pods,
    /// % of the cluster's (counted in <see cref="MeanAllocationPercent"/> too): what draining GPUs costs the others.
    /// </summary>
    public double MeanReservedPercent { get; init; }

    /// <summary>Time-weighted mean of the stranded capacity, % of the cluster's GPU capacity.</summary>
    public double MeanFragmentationPercent { get; init; }

    public required WaitStats Wait { get; init; }

    public IReadOnlyList<SizeClassWaits> WaitBySize { get; init; } = [];

    /// <summary>GPU capacity held, % of the cluster's, per bucket (mean).</summary>
    public IReadOnlyList<double> AllocationPercent { get; init; } = [];

    /// <summary>Free capacity that cannot host the trace's median ask, % of the cluster's, per bucket (mean).</summary>
    public IReadOnlyList<double> FragmentationPercent { get; init; } = [];

    /// <summary>The largest whole-GPU ask that still fits on some node (idle physical GPUs on the best node), per bucket (minimum).</summary>
    public IReadOnlyList<double> LargestWholeGpuAsk { get; init; } = [];

    /// <summary>Pods completed so far, at the end of each bucket.</summary>
    public IReadOnlyList<double> CompletedSoFar { get; init; } = [];

    /// <summary>Pods pending, per bucket (mean).</summary>
    public IReadOnlyList<double> Pending { get; init; } = [];

    public IReadOnlyList<QueueTimeline> Queues { get; init; } = [];

    /// <summary>Scheduling attempts (filter over the nodes) the run made: what the speed figure is per.</summary>
    public long Attempts { get; init; }
}

/// <summary>A trace replayed under several policies, side by side.</summary>
public sealed record SimulationResult(
    double HorizonSeconds,
    double BucketSeconds,
    int Nodes,
    int Gpus,
    string MedianRequest,
    IReadOnlyList<string> SizeClasses,
    IReadOnlyList<PolicyRun> Policies);

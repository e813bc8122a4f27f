using Kaiwo.Extender.Live;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;
using Kaiwo.Scheduling.Reservations;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>Section <c>Extender</c>: the service itself.</summary>
internal sealed class ExtenderOptions
{
    public const string Section = "Extender";

    /// <summary><c>auto</c> (default), <c>standalone</c> or <c>live</c>: see <see cref="ClusterMode.Resolve"/>.</summary>
    public string? Mode { get; set; } = "auto";

    /// <summary>A cluster file to serve standalone. Empty: the example cluster that ships with the service.</summary>
    public string? ClusterFile { get; set; }

    /// <summary>The largest request body accepted, in bytes. The default holds a full NodeList of 5,000 large nodes.</summary>
    public long MaxRequestBodyBytes { get; set; } = 128L * 1024 * 1024;

    /// <summary>How many pods seen in filter are remembered for their bind.</summary>
    public int PendingPodCapacity { get; set; } = 10_000;

    /// <summary>The default of <see cref="SchedulerNames"/>.</summary>
    public static readonly IReadOnlyList<string> DefaultSchedulerNames = ["kaiwo-scheduler"];

    /// <summary>
    /// The schedulers whose pods bind and preempt act for (<c>spec.schedulerName</c>); null: <see cref="DefaultSchedulerNames"/>.
    /// Null rather than a default list, because the configuration binder appends to a list it finds filled.
    /// </summary>
    public string[]? SchedulerNames { get; set; }

    public IReadOnlyList<string> EffectiveSchedulerNames => SchedulerNames is { Length: > 0 } names ? names : DefaultSchedulerNames;
}

/// <summary>Section <c>Scheduling</c>: what pods may ask and how the pipeline decides.</summary>
internal sealed class SchedulingOptions
{
    public const string Section = "Scheduling";

    /// <summary>The smallest <c>kaiwo.ai/gpu-fraction</c> accepted.</summary>
    public decimal MinimumGpuFraction { get; set; } = 0.1m;

    /// <summary>How far time-sliced pods may oversubscribe a GPU's compute: 1.0 is none.</summary>
    public decimal TimeSlicingOversubscription { get; set; } = 1.0m;

    /// <summary>How old a node's <c>kaiwo.ai/gpu-utilization</c> may be and still count.</summary>
    public TimeSpan MaxUtilizationAge { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Per-score switches and weights, by stage name; the checks (request, queue, gang, fit) always run.</summary>
    public Dictionary<string, StageOptions> Stages { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The queue of pods without a <c>kaiwo.ai/queue</c> label (made up, without limits, if no KaiwoQueue has the name).</summary>
    public string DefaultQueue { get; set; } = "default";

    /// <summary>The scheduler name whose pending pods make up the queues' demand.</summary>
    public string SchedulerName { get; set; } = "kaiwo-scheduler";

    /// <summary>
    /// The fewest whole GPUs (<c>amd.com/gpu</c>) a pending pod must ask for to have devices reserved for it against
    /// starvation once it has waited <see cref="ReserveAfter"/>; 0 switches starvation reservations off.
    /// </summary>
    public int ReserveMinGpus { get; set; } = 2;

    /// <summary>How long such a pod waits before it reserves; also how long a node it let go stays closed to it.</summary>
    public TimeSpan ReserveAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a starving pod's reservation lasts without taking more of its node.</summary>
    public TimeSpan StarvationReservationTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a gang's planned slots are held for its members to bind; then they are released whole.</summary>
    public TimeSpan GangReservationTtl { get; set; } = Kaiwo.Scheduling.Gangs.GangOptions.DefaultReservationTtl;

    /// <summary>How often the reservation loop looks whether the state moved (it reconciles only then, and at least once a second).</summary>
    public TimeSpan ReservationInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Filter passes only the node kaiwo scores best for the pod; the other nodes that fit are failed nodes, "passed
    /// over". kube-scheduler then places the pod without a prioritize call and without its own score plugins
    /// (preferred affinity, topology spread and balance scores no longer count for GPU pods): one HTTP call fewer per
    /// pod. Off by default.
    /// </summary>
    public bool PassOnlyBestNode { get; set; }

    public PipelineOptions ToPipelineOptions() => new()
    {
        PassOnlyBestNode = PassOnlyBestNode,
        Requests = new RequestOptions { MinimumFractionMilli = (int)(MinimumGpuFraction * 1000) },
        Placement = new PlacementOptions { TimeSlicingCapacityMilli = (int)(TimeSlicingOversubscription * 1000) },
        MaxUtilizationAge = MaxUtilizationAge,
        Stages = Stages,
    };

    /// <summary>The starvation step's settings, for the pods of <paramref name="schedulerNames"/>.</summary>
    public StarvationOptions ToStarvationOptions(IReadOnlyCollection<string> schedulerNames) => new()
    {
        MinimumGpus = ReserveMinGpus,
        After = ReserveAfter,
        Ttl = StarvationReservationTtl,
        SchedulerNames = schedulerNames,
    };
}

/// <summary>Validates every setting at start and lists every problem at once.</summary>
internal sealed class ExtenderOptionsValidator : IValidateOptions<ExtenderOptions>, IValidateOptions<SchedulingOptions>, IValidateOptions<KubernetesOptions>
{
    public ValidateOptionsResult Validate(string? name, KubernetesOptions options)
    {
        var problems = new List<string>();
        void Positive(string key, TimeSpan value)
        {
            if (value <= TimeSpan.Zero)
            {
                problems.Add($"{KubernetesOptions.Section}:{key} is {value}; it must be positive");
            }
        }

        Positive(nameof(options.AssumedPodTtl), options.AssumedPodTtl);
        Positive(nameof(options.BindTimeout), options.BindTimeout);
        Positive(nameof(options.RequestTimeout), options.RequestTimeout);
        Positive(nameof(options.RetryDelay), options.RetryDelay);
        Positive(nameof(options.ReconnectDelay), options.ReconnectDelay);
        Positive(nameof(options.MaxReconnectDelay), options.MaxReconnectDelay);
        Positive(nameof(options.CrdRetryInterval), options.CrdRetryInterval);
        Positive(nameof(options.AssumedSweepInterval), options.AssumedSweepInterval);
        Positive(nameof(options.QueueStatusInterval), options.QueueStatusInterval);
        if (options.BindTimeout >= TimeSpan.FromSeconds(5))
        {
            problems.Add($"{KubernetesOptions.Section}:BindTimeout is {options.BindTimeout}; it must stay below kube-scheduler's extender httpTimeout (5s by default), e.g. 4s");
        }

        if (options.RequestTimeout > options.BindTimeout)
        {
            problems.Add($"{KubernetesOptions.Section}:RequestTimeout ({options.RequestTimeout}) must not exceed BindTimeout ({options.BindTimeout})");
        }

        if (options.MaxRetries is < 0 or > 10)
        {
            problems.Add($"{KubernetesOptions.Section}:MaxRetries is {options.MaxRetries}; it must be from 0 to 10");
        }

        if (options.ListPageSize is < 1 or > 5000)
        {
            problems.Add($"{KubernetesOptions.Section}:ListPageSize is {options.ListPageSize}; it must be from 1 to 5000");
        }

        if (!string.IsNullOrEmpty(options.Kubeconfig) && !File.Exists(options.Kubeconfig))
        {
            problems.Add($"{KubernetesOptions.Section}:Kubeconfig is \"{options.Kubeconfig}\", which does not exist");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    public ValidateOptionsResult Validate(string? name, ExtenderOptions options)
    {
        var problems = new List<string>();
        if (options.MaxRequestBodyBytes < 64 * 1024)
        {
            problems.Add($"{ExtenderOptions.Section}:MaxRequestBodyBytes is {options.MaxRequestBodyBytes}; it must be at least 65536");
        }

        if (options.PendingPodCapacity < 1)
        {
            problems.Add($"{ExtenderOptions.Section}:PendingPodCapacity is {options.PendingPodCapacity}; it must be at least 1");
        }

        foreach (var scheduler in options.SchedulerNames ?? [])
        {
            if (string.IsNullOrEmpty(scheduler) || scheduler.Length > 253 || !scheduler.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'))
            {
                problems.Add($"{ExtenderOptions.Section}:SchedulerNames has \"{scheduler}\"; a scheduler name is 1 to 253 lower-case letters, digits, '-' and '.'");
            }
        }

        if (options.Mode is not null && !new[] { "auto", "standalone", "live" }.Contains(options.Mode, StringComparer.OrdinalIgnoreCase))
        {
            problems.Add($"{ExtenderOptions.Section}:Mode is \"{options.Mode}\"; it must be auto, standalone or live");
        }

        if (!string.IsNullOrEmpty(options.ClusterFile) && !File.Exists(options.ClusterFile))
        {
            problems.Add($"{ExtenderOptions.Section}:ClusterFile (--cluster-file) is \"{options.ClusterFile}\", which does not exist");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    public ValidateOptionsResult Validate(string? name, SchedulingOptions options)
    {
        var problems = new List<string>();
        if (options.MinimumGpuFraction is <= 0 or > 1 || decimal.Round(options.MinimumGpuFraction, 3) != options.MinimumGpuFraction)
        {
            problems.Add($"{SchedulingOptions.Section}:MinimumGpuFraction is {options.MinimumGpuFraction}; it must be in (0, 1] with at most 3 decimals");
        }

        if (options.TimeSlicingOversubscription is < 1 or > 16 || decimal.Round(options.TimeSlicingOversubscription, 3) != options.TimeSlicingOversubscription)
        {
            problems.Add($"{SchedulingOptions.Section}:TimeSlicingOversubscription is {options.TimeSlicingOversubscription}; it must be from 1.0 (none) to 16 with at most 3 decimals");
        }

        if (options.MaxUtilizationAge <= TimeSpan.Zero)
        {
            problems.Add($"{SchedulingOptions.Section}:MaxUtilizationAge is {options.MaxUtilizationAge}; it must be positive");
        }

        if (options.ReserveMinGpus is < 0 or > 1000)
        {
            problems.Add($"{SchedulingOptions.Section}:ReserveMinGpus is {options.ReserveMinGpus}; it must be from 0 (no starvation reservations) to 1000");
        }

        if (options.ReserveAfter <= TimeSpan.Zero)
        {
            problems.Add($"{SchedulingOptions.Section}:ReserveAfter is {options.ReserveAfter}; it must be positive");
        }

        if (options.StarvationReservationTtl <= TimeSpan.Zero)
        {
            problems.Add($"{SchedulingOptions.Section}:StarvationReservationTtl is {options.StarvationReservationTtl}; it must be positive");
        }

        if (options.GangReservationTtl < TimeSpan.FromSeconds(1) || options.GangReservationTtl > TimeSpan.FromHours(1))
        {
            problems.Add($"{SchedulingOptions.Section}:GangReservationTtl is {options.GangReservationTtl}; it must be from 00:00:01 to 01:00:00 (the time a gang's members have to bind once planned)");
        }

        if (options.ReservationInterval <= TimeSpan.Zero || options.ReservationInterval > TimeSpan.FromSeconds(1))
        {
            problems.Add($"{SchedulingOptions.Section}:ReservationInterval is {options.ReservationInterval}; it must be more than 0 and at most 00:00:01");
        }

        // The checks (request, queue, gang, fit) cannot be switched off or weighed: a setting that tries stops the start.
        problems.AddRange(SchedulingPipeline.StageSettingProblems(options.Stages).Select(p => $"{SchedulingOptions.Section}:Stages:{p}"));

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

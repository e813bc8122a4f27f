using Kaiwo.Scheduling.Units;

namespace Kaiwo.Scheduling.Requests;

/// <summary>
/// Reads a pod's GPU ask from its annotations and its <c>amd.com/gpu</c> container resources.
/// Every bad value becomes a <see cref="RequestError"/> that names the field, the value and what is accepted.
/// </summary>
public static class GpuRequestParser
{
    private const long MiB = 1024 * 1024;

    public static GpuRequest Parse(PodFacts pod, RequestOptions options)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(options);

        var errors = new List<RequestError>();
        var annotations = pod.Annotations;

        var wholeGpus = EffectiveGpuRequest(pod, errors);
        CheckCpuAndMemory(pod.InitContainers, "init container", errors);
        CheckCpuAndMemory(pod.Containers, "container", errors);
        var fraction = ParseFraction(annotations, options, errors);
        var memory = ParseMemory(annotations, errors);
        var sharing = ParseSharing(annotations, errors);
        var isolation = ParseIsolation(annotations, errors);
        var placement = ParsePlacement(annotations, errors);

        var shared = fraction is not null || memory is not null;
        if (shared && wholeGpus > 1)
        {
            errors.Add(new RequestError(
                WellKnown.GpuResource,
                wholeGpus.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"a pod with {WellKnown.GpuFractionAnnotation} or {WellKnown.GpuMemoryAnnotation} may ask for at most 1 {WellKnown.GpuResource} (the device plugin's slot)"));
        }

        if (errors.Count > 0)
        {
            return new GpuRequest { Kind = shared ? GpuAskKind.Shared : (wholeGpus > 0 ? GpuAskKind.Whole : GpuAskKind.None), Errors = errors, Isolation = isolation, Placement = placement };
        }

        if (shared)
        {
            return new GpuRequest
            {
                Kind = GpuAskKind.Shared,
                ComputeMilli = fraction,
                MemoryMiB = memory,
                Exclusive = sharing == false,
                Isolation = isolation,
                Placement = placement,
            };
        }

        if (wholeGpus > 0)
        {
            return new GpuRequest { Kind = GpuAskKind.Whole, WholeCount = (int)wholeGpus, Isolation = isolation, Placement = placement };
        }

        return placement == PlacementPreference.Binpack ? GpuRequest.NoGpu : GpuRequest.NoGpu with { Placement = placement };
    }

    /// <summary>
    /// The pod's effective <c>amd.com/gpu</c> request by Kubernetes' rule: the larger of the sum over app containers
    /// (plus restartable init "sidecar" containers) and the largest single init container (plus the sidecars started before it).
    /// For an extended resource a limit alone is the request.
    /// </summary>
    internal static long EffectiveGpuRequest(PodFacts pod, List<RequestError> errors) =>
        EffectiveRequest.Of(pod, c => ContainerGpus(c, errors));

    private static long ContainerGpus(ContainerFacts c, List<RequestError> errors)
    {
        var text = c.Requests.TryGetValue(WellKnown.GpuResource, out var r) ? r
            : c.Limits.TryGetValue(WellKnown.GpuResource, out var l) ? l
            : null;
        if (text is null)
        {
            return 0;
        }

        if (!Quantity.TryParseInteger(text, out var n) || n < 0 || n > 1024)
        {
            errors.Add(new RequestError($"container \"{c.Name}\" {WellKnown.GpuResource}", text, "a whole number of GPUs from 0 to 1024"));
            return 0;
        }

        return n;
    }

    /// <summary>
    /// CPU and memory of every container must be quantities the core can count (<see cref="ResourceAmounts"/>): a pod
    /// asking for "-1" or "1e400" cores is refused with its value, not counted as something else.
    /// </summary>
    private static void CheckCpuAndMemory(IReadOnlyList<ContainerFacts> containers, string kind, List<RequestError> errors)
    {
        foreach (var c in containers)
        {
            Check(c, "requests", c.Requests);
            Check(c, "limits", c.Limits);
        }

        void Check(ContainerFacts c, string section, IReadOnlyDictionary<string, string> values)
        {
            if (values.TryGetValue("cpu", out var cpu) && !ResourceAmounts.TryCpuMilli(cpu, out _))
            {
                errors.Add(new RequestError($"{kind} \"{c.Name}\" resources.{section}.cpu", cpu, ResourceAmounts.CpuAccepted));
            }

            if (values.TryGetValue("memory", out var memory) && !ResourceAmounts.TryMemoryMiB(memory, out _))
            {
                errors.Add(new RequestError($"{kind} \"{c.Name}\" resources.{section}.memory", memory, ResourceAmounts.MemoryAccepted));
            }
        }
    }

    private static int? ParseFraction(IReadOnlyDictionary<string, string> annotations, RequestOptions options, List<RequestError> errors)
    {
        if (!annotations.TryGetValue(WellKnown.GpuFractionAnnotation, out var text))
        {
            return null;
        }

        var accepted = $"a decimal in (0, 1] with at most 3 decimals, at least {Share.Format(options.MinimumFractionMilli)}";
        if (!TryParseMilli(text, out var milli))
        {
            errors.Add(new RequestError(WellKnown.GpuFractionAnnotation, text, accepted));
            return null;
        }

        if (milli <= 0 || milli > Share.Whole || milli < options.MinimumFractionMilli)
        {
            errors.Add(new RequestError(WellKnown.GpuFractionAnnotation, text, accepted));
            return null;
        }

        return milli;
    }

    /// <summary>Strict decimal: digits, optionally a dot and 1 to 3 digits. No sign, exponent, NaN or spaces.</summary>
    internal static bool TryParseMilli(string text, out int milli)
    {
        milli = 0;
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        var intPart = dot < 0 ? text : text[..dot];
        var fracPart = dot < 0 ? string.Empty : text[(dot + 1)..];
        if (intPart.Length is 0 or > 4 || (dot >= 0 && fracPart.Length is 0 or > 3))
        {
            return false;
        }

        foreach (var ch in intPart)
        {
            if (ch is < '0' or > '9')
            {
                return false;
            }
        }

        foreach (var ch in fracPart)
        {
            if (ch is < '0' or > '9')
            {
                return false;
            }
        }

        var whole = int.Parse(intPart, System.Globalization.CultureInfo.InvariantCulture);
        var frac = fracPart.Length == 0 ? 0 : int.Parse(fracPart.PadRight(3, '0'), System.Globalization.CultureInfo.InvariantCulture);
        milli = (whole * 1000) + frac;
        return true;
    }

    /// <summary>The suffixes <c>kaiwo.ai/gpu-memory</c> accepts: binary and decimal byte multiples.</summary>
    private static readonly (string Suffix, long Bytes)[] MemorySuffixes =
    [
        ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("Ti", 1L << 40), ("Pi", 1L << 50), ("Ei", 1L << 60),
        ("k", 1_000L), ("M", 1_000_000L), ("G", 1_000_000_000L), ("T", 1_000_000_000_000L), ("P", 1_000_000_000_000_000L), ("E", 1_000_000_000_000_000_000L),
    ];

    /// <summary>
    /// An integer of MiB ("24000"), or digits with an optional decimal part and a byte suffix ("24Gi", "1.5G"). A plain
    /// number with a decimal point or an exponent ("1.5", "1e3") is refused: it would be bytes to Kubernetes and MiB to
    /// a reader, so neither reading is safe.
    /// </summary>
    private static long? ParseMemory(IReadOnlyDictionary<string, string> annotations, List<RequestError> errors)
    {
        if (!annotations.TryGetValue(WellKnown.GpuMemoryAnnotation, out var text))
        {
            return null;
        }

        const string accepted = "a positive whole number of MiB (\"24000\") or a quantity with a binary or decimal suffix (\"24Gi\", \"1.5G\"), at most 64Ti";
        if (!TryParseMemoryMiB(text, out var mib) || mib <= 0 || mib > 64L * 1024 * 1024)
        {
            errors.Add(new RequestError(WellKnown.GpuMemoryAnnotation, text, accepted));
            return null;
        }

        return mib;
    }

    internal static bool TryParseMemoryMiB(string text, out long mib)
    {
        mib = 0;
        if (text.Length is 0 or > 32)
        {
            return false;
        }

        if (text.All(char.IsAsciiDigit))
        {
            // A bare integer is MiB, not bytes: "4000" means 4000 MiB.
            return long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out mib);
        }

        foreach (var (suffix, _) in MemorySuffixes)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                var number = text[..^suffix.Length];
                var dot = number.IndexOf('.', StringComparison.Ordinal);
                var digitsOnly = number.Length > 0 && number.All(c => char.IsAsciiDigit(c) || c == '.')
                    && dot != 0 && dot != number.Length - 1 && number.IndexOf('.', dot + 1) < 0;
                return digitsOnly && Quantity.TryParseCeiling(text, MiB, out mib);
            }
        }

        return false;
    }

    private static bool? ParseSharing(IReadOnlyDictionary<string, string> annotations, List<RequestError> errors)
    {
        if (!annotations.TryGetValue(WellKnown.GpuSharingAnnotation, out var text))
        {
            return null;
        }

        if (string.Equals(text, "true", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (string.Equals(text, "false", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        errors.Add(new RequestError(WellKnown.GpuSharingAnnotation, text, "\"true\" or \"false\""));
        return null;
    }

    private static GpuIsolation ParseIsolation(IReadOnlyDictionary<string, string> annotations, List<RequestError> errors)
    {
        if (!annotations.TryGetValue(WellKnown.GpuIsolationAnnotation, out var text))
        {
            return GpuIsolation.TimeSlicing;
        }

        switch (text)
        {
            case "time-slicing":
                return GpuIsolation.TimeSlicing;
            case "mps":
                return GpuIsolation.Mps;
            case "xcd":
                return GpuIsolation.Xcd;
            default:
                errors.Add(new RequestError(WellKnown.GpuIsolationAnnotation, text, "one of \"time-slicing\", \"mps\", \"xcd\""));
                return GpuIsolation.TimeSlicing;
        }
    }

    private static PlacementPreference ParsePlacement(IReadOnlyDictionary<string, string> annotations, List<RequestError> errors)
    {
        if (!annotations.TryGetValue(WellKnown.PlacementAnnotation, out var text))
        {
            return PlacementPreference.Binpack;
        }

        switch (text)
        {
            case "binpack":
                return PlacementPreference.Binpack;
            case "spread":
                return PlacementPreference.Spread;
            default:
                errors.Add(new RequestError(WellKnown.PlacementAnnotation, text, "one of \"binpack\", \"spread\""));
                return PlacementPreference.Binpack;
        }
    }
}

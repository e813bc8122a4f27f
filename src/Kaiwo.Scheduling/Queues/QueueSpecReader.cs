using System.Numerics;
using System.Text.Json;
using Kaiwo.Scheduling.Units;

namespace Kaiwo.Scheduling.Queues;

/// <summary>
/// Reads a <c>KaiwoQueue</c> object (<c>kaiwo.ai/v1alpha2</c>) into a <see cref="QueueSpec"/> in core units:
/// <code>{"apiVersion":"kaiwo.ai/v1alpha2","kind":"KaiwoQueue","metadata":{"name":"research-queue"},"spec":{"parentQueue":"ai-department","priority":100,"resources":{"gpu":{"quota":10,"overQuotaWeight":50,"limit":20}},"fairness":{"policy":"DRF","reclaimStrategy":"aggressive"}}}</code>
/// gpu is in GPUs (up to 3 decimals, kept as thousandths); cpu in cores (up to 3 decimals) or a quantity such as
/// <c>"500m"</c>, kept as millicores; memory in GiB or a quantity with a unit such as <c>"512Gi"</c>, kept as MiB
/// rounded up. Absent fields take the defaults (quota 0, overQuotaWeight 1, limit -1, priority 0, aggressive), JSON
/// null counts as absent (the API server prunes it), and unknown fields are ignored.
/// </summary>
public static class QueueSpecReader
{
    /// <summary>The only apiVersion read.</summary>
    public const string ApiVersion = "kaiwo.ai/v1alpha2";

    /// <summary>The object kind read.</summary>
    public const string Kind = "KaiwoQueue";

    private const string Limitless = "-1 (no limit) or at least the quota";
    private const string WeightAccepted = "a whole number from 0 to 2147483647";
    private const string PriorityAccepted = "a whole number from -2147483648 to 2147483647";
    private const int MaxShown = 40;

    /// <summary>The largest amount read, in the CRD's units (GPUs, cores, GiB): far above any cluster, far below overflow.</summary>
    private const decimal MaxAmount = 1_000_000_000_000m;

    /// <summary>
    /// Reads one KaiwoQueue. On success <paramref name="spec"/> is set and <paramref name="errors"/> is empty; otherwise
    /// <paramref name="spec"/> is null and <paramref name="errors"/> lists every problem, each naming the field path, the
    /// value and what is accepted. Never throws on bad input.
    /// </summary>
    public static bool TryRead(JsonElement queue, out QueueSpec? spec, out IReadOnlyList<string> errors)
    {
        spec = null;
        var problems = new List<string>();
        errors = problems;

        if (queue.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"queue: {Show(queue)} is {KindName(queue)}; accepted: a {Kind} object");
            return false;
        }

        // apiVersion and kind may be left out (as some list items do), but when given they must be ours.
        if (TryGet(queue, "apiVersion", out var apiVersion) && (apiVersion.ValueKind != JsonValueKind.String || apiVersion.GetString() != ApiVersion))
        {
            problems.Add($"apiVersion: {Show(apiVersion)} is not read here; accepted: \"{ApiVersion}\"");
        }

        if (TryGet(queue, "kind", out var kind) && (kind.ValueKind != JsonValueKind.String || kind.GetString() != Kind))
        {
            problems.Add($"kind: {Show(kind)} is not read here; accepted: \"{Kind}\"");
        }

        var name = ReadName(queue, problems);

        string? displayName = null;
        string? parent = null;
        var priority = 0;
        var gpu = new QueueResourceSpec();
        var cpu = new QueueResourceSpec();
        var memory = new QueueResourceSpec();
        var reclaim = ReclaimStrategy.Aggressive;

        if (TryGet(queue, "spec", out var body))
        {
            if (body.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"spec: {Show(body)} is {KindName(body)}; accepted: an object");
            }
            else
            {
                displayName = ReadString(body, "displayName", "spec.displayName", "a string", problems);
                parent = ReadParent(body, name, problems);
                priority = ReadPriority(body, problems);
                (gpu, cpu, memory) = ReadResources(body, problems);
                reclaim = ReadFairness(body, problems);
            }
        }

        if (problems.Count > 0 || name is null)
        {
            return false;
        }

        spec = new QueueSpec
        {
            Name = name,
            DisplayName = displayName,
            Parent = parent,
            Priority = priority,
            Gpu = gpu,
            Cpu = cpu,
            Memory = memory,
            Reclaim = reclaim,
        };
        return true;
    }

    private static string? ReadName(JsonElement queue, List<string> problems)
    {
        if (!TryGet(queue, "metadata", out var metadata))
        {
            problems.Add("metadata.name: is missing; accepted: a non-empty string");
            return null;
        }

        if (metadata.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"metadata: {Show(metadata)} is {KindName(metadata)}; accepted: an object with a name");
            return null;
        }

        if (!TryGet(metadata, "name", out var nameElement))
        {
            problems.Add("metadata.name: is missing; accepted: a non-empty string");
            return null;
        }

        if (nameElement.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(nameElement.GetString()))
        {
            problems.Add($"metadata.name: {Show(nameElement)} is {KindName(nameElement)}; accepted: a non-empty string");
            return null;
        }

        return nameElement.GetString();
    }

    private static string? ReadParent(JsonElement body, string? name, List<string> problems)
    {
        const string accepted = "the name of another KaiwoQueue, or absent for a root queue";
        if (!TryGet(body, "parentQueue", out var e))
        {
            return null;
        }

        if (e.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(e.GetString()))
        {
            problems.Add($"spec.parentQueue: {Show(e)} is {KindName(e)}; accepted: {accepted}");
            return null;
        }

        var parent = e.GetString()!;
        if (name is not null && string.Equals(parent, name, StringComparison.Ordinal))
        {
            problems.Add($"spec.parentQueue: {Show(e)} names the queue itself; accepted: {accepted}");
            return null;
        }

        return parent;
    }

    private static int ReadPriority(JsonElement body, List<string> problems)
    {
        if (!TryGet(body, "priority", out var e))
        {
            return 0;
        }

        if (ReadInteger(e) is { } problem)
        {
            problems.Add($"spec.priority: {Show(e)} {problem}; accepted: {PriorityAccepted}");
            return 0;
        }

        return (int)e.GetDecimal();
    }

    private static (QueueResourceSpec Gpu, QueueResourceSpec Cpu, QueueResourceSpec Memory) ReadResources(JsonElement body, List<string> problems)
    {
        var result = (Gpu: new QueueResourceSpec(), Cpu: new QueueResourceSpec(), Memory: new QueueResourceSpec());
        if (!TryGet(body, "resources", out var resources))
        {
            return result;
        }

        if (resources.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"spec.resources: {Show(resources)} is {KindName(resources)}; accepted: an object with gpu, cpu and memory");
            return result;
        }

        result.Gpu = ReadResource(resources, QueueResource.Gpu, problems);
        result.Cpu = ReadResource(resources, QueueResource.Cpu, problems);
        result.Memory = ReadResource(resources, QueueResource.Memory, problems);
        return result;
    }

    private static QueueResourceSpec ReadResource(JsonElement resources, QueueResource resource, List<string> problems)
    {
        var key = resource switch
        {
            QueueResource.Gpu => "gpu",
            QueueResource.Cpu => "cpu",
            _ => "memory",
        };
        var path = $"spec.resources.{key}";
        if (!TryGet(resources, key, out var e))
        {
            return new QueueResourceSpec();
        }

        if (e.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"{path}: {Show(e)} is {KindName(e)}; accepted: an object with quota, overQuotaWeight and limit");
            return new QueueResourceSpec();
        }

        var amount = AmountAccepted(resource);

        long quota = 0;
        var quotaValid = true;
        var quotaShown = "0";
        if (TryGet(e, "quota", out var quotaElement))
        {
            quotaShown = Show(quotaElement);
            if (ReadAmount(quotaElement, resource, out quota, out _) is { } problem)
            {
                problems.Add($"{path}.quota: {quotaShown} {problem}; accepted: {amount}, at least 0");
                quotaValid = false;
                quota = 0;
            }
            else if (quota < 0)
            {
                problems.Add($"{path}.quota: {quotaShown} is negative; accepted: {amount}, at least 0");
                quotaValid = false;
                quota = 0;
            }
        }

        var weight = 1;
        if (TryGet(e, "overQuotaWeight", out var weightElement))
        {
            var problem = ReadInteger(weightElement);
            if (problem is null && weightElement.GetDecimal() < 0)
            {
                problem = "is negative";
            }

            if (problem is not null)
            {
                problems.Add($"{path}.overQuotaWeight: {Show(weightElement)} {problem}; accepted: {WeightAccepted}");
            }
            else
            {
                weight = (int)weightElement.GetDecimal();
            }
        }

        long limit = -1;
        if (TryGet(e, "limit", out var limitElement))
        {
            var shown = Show(limitElement);
            if (ReadAmount(limitElement, resource, out limit, out var noLimit) is { } problem)
            {
                problems.Add($"{path}.limit: {shown} {problem}; accepted: -1 (no limit) or {amount}, at least the quota");
                limit = -1;
            }
            else if (noLimit)
            {
                limit = -1;
            }
            else if (limit < 0)
            {
                problems.Add($"{path}.limit: {shown} is negative; accepted: {Limitless}");
                limit = -1;
            }
            else if (quotaValid && limit < quota)
            {
                problems.Add($"{path}.limit: {shown} is below quota {quotaShown}; accepted: {Limitless}");
                limit = -1;
            }
        }

        return new QueueResourceSpec(quota, weight, limit);
    }

    private static ReclaimStrategy ReadFairness(JsonElement body, List<string> problems)
    {
        if (!TryGet(body, "fairness", out var fairness))
        {
            return ReclaimStrategy.Aggressive;
        }

        if (fairness.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"spec.fairness: {Show(fairness)} is {KindName(fairness)}; accepted: an object with policy and reclaimStrategy");
            return ReclaimStrategy.Aggressive;
        }

        if (TryGet(fairness, "policy", out var policy) && !(policy.ValueKind == JsonValueKind.String && policy.GetString() == "DRF"))
        {
            var problem = policy.ValueKind == JsonValueKind.String ? "is not a known policy" : $"is {KindName(policy)}";
            problems.Add($"spec.fairness.policy: {Show(policy)} {problem}; accepted: \"DRF\"");
        }

        if (!TryGet(fairness, "reclaimStrategy", out var strategy))
        {
            return ReclaimStrategy.Aggressive;
        }

        switch (strategy.ValueKind == JsonValueKind.String ? strategy.GetString() : null)
        {
            case "aggressive":
                return ReclaimStrategy.Aggressive;
            case "conservative":
                return ReclaimStrategy.Conservative;
            default:
                var problem = strategy.ValueKind == JsonValueKind.String ? "is not a known strategy" : $"is {KindName(strategy)}";
                problems.Add($"spec.fairness.reclaimStrategy: {Show(strategy)} {problem}; accepted: \"aggressive\" or \"conservative\"");
                return ReclaimStrategy.Aggressive;
        }
    }

    private static string? ReadString(JsonElement body, string property, string path, string accepted, List<string> problems)
    {
        if (!TryGet(body, property, out var e))
        {
            return null;
        }

        if (e.ValueKind != JsonValueKind.String)
        {
            problems.Add($"{path}: {Show(e)} is {KindName(e)}; accepted: {accepted}");
            return null;
        }

        return e.GetString();
    }

    /// <summary>Null when <paramref name="e"/> is a whole number in the int32 range (1.0 and 1e2 count); otherwise what is wrong.</summary>
    private static string? ReadInteger(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Number)
        {
            return $"is {KindName(e)}";
        }

        if (!e.TryGetDecimal(out var d))
        {
            return "is out of range";
        }

        if (decimal.Truncate(d) != d)
        {
            return "is not an integer";
        }

        return d is < int.MinValue or > int.MaxValue ? "is out of range" : null;
    }

    /// <summary>
    /// An amount in core units (GPU thousandths, millicores, MiB), or what is wrong with it. Sign is left to the caller;
    /// <paramref name="noLimit"/> is true for the number -1, the limit's "none".
    /// </summary>
    private static string? ReadAmount(JsonElement e, QueueResource resource, out long amount, out bool noLimit)
    {
        amount = 0;
        noLimit = false;
        switch (e.ValueKind)
        {
            case JsonValueKind.Number:
                if (!e.TryGetDecimal(out var d) || Math.Abs(d) > MaxAmount)
                {
                    return "is too large";
                }

                noLimit = d == -1m;
                if (resource == QueueResource.Memory)
                {
                    amount = (long)decimal.Ceiling(d * 1024);
                    return null;
                }

                var thousandths = d * 1000;
                if (decimal.Truncate(thousandths) != thousandths)
                {
                    return "has more than 3 decimals";
                }

                amount = (long)thousandths;
                return null;

            case JsonValueKind.String when resource == QueueResource.Cpu:
                if (!Quantity.TryParse(e.GetString(), out var num, out var den))
                {
                    return "is not a quantity";
                }

                var milli = BigInteger.DivRem(num * 1000, den, out var rem);
                if (!rem.IsZero)
                {
                    return "is finer than 1m";
                }

                if (BigInteger.Abs(milli) > new BigInteger(MaxAmount * 1000))
                {
                    return "is too large";
                }

                amount = (long)milli;
                return null;

            case JsonValueKind.String when resource == QueueResource.Memory:
                var text = e.GetString()!.Trim();

                // A bare "512" is 512 bytes to Kubernetes but 512 GiB as a number here: refuse the guess.
                if (text.Length > 0 && char.IsAsciiDigit(text[^1]))
                {
                    return "has no unit";
                }

                if (!Quantity.TryParseCeiling(text, 1024 * 1024, out amount))
                {
                    amount = 0;
                    return "is not a quantity";
                }

                if (amount > MaxAmount * 1024 || amount < -MaxAmount * 1024)
                {
                    amount = 0;
                    return "is too large";
                }

                return null;

            default:
                return $"is {KindName(e)}";
        }
    }

    private static string AmountAccepted(QueueResource resource) => resource switch
    {
        QueueResource.Gpu => "a number of GPUs with at most 3 decimals",
        QueueResource.Cpu => "a number of cores with at most 3 decimals or a quantity (\"500m\", \"100\")",
        _ => "a number of GiB or a quantity with a unit (\"512Gi\", \"1Ti\")",
    };

    /// <summary>The property, unless it is absent or JSON null (which the API server prunes).</summary>
    private static bool TryGet(JsonElement obj, string property, out JsonElement value) =>
        obj.TryGetProperty(property, out value) && value.ValueKind != JsonValueKind.Null;

    private static string KindName(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => e.GetString()!.Length == 0 ? "empty" : "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "not a value",
    };

    /// <summary>The value as written (strings quoted), shortened when long.</summary>
    private static string Show(JsonElement e)
    {
        var text = e.ValueKind == JsonValueKind.Undefined ? "(nothing)" : e.GetRawText();
        return text.Length <= MaxShown ? text : string.Concat(text.AsSpan(0, MaxShown), "...");
    }
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Admission;

/// <summary>One RFC 6902 operation.</summary>
internal sealed record JsonPatchOperation(string Op, string Path, JsonNode? Value);

/// <summary>What the webhook makes of a pod.</summary>
internal enum PodVerdict
{
    /// <summary>No kaiwo GPU annotation: admitted as it is.</summary>
    NotGpuPod,

    /// <summary>A GPU pod with good values: admitted with <see cref="PodDecision.Patch"/> (empty when nothing is missing).</summary>
    GpuPod,

    /// <summary>A bad annotation or resource value: refused with the scheduler's own message.</summary>
    Refused,
}

/// <summary>The webhook's decision on one pod.</summary>
internal sealed record PodDecision
{
    public static PodDecision NotGpuPod { get; } = new() { Verdict = PodVerdict.NotGpuPod };

    public required PodVerdict Verdict { get; init; }

    public bool Allowed => Verdict != PodVerdict.Refused;

    /// <summary>Why the pod is refused: exactly what filter says of it on every node.</summary>
    public string? Message { get; init; }

    public IReadOnlyList<JsonPatchOperation> Patch { get; init; } = [];

    /// <summary>The patch as the UTF-8 JSON array the API server applies; null when there is nothing to change.</summary>
    public byte[]? PatchJson()
    {
        if (Patch.Count == 0)
        {
            return null;
        }

        var operations = new JsonArray();
        foreach (var operation in Patch)
        {
            operations.Add(new JsonObject
            {
                ["op"] = operation.Op,
                ["path"] = operation.Path,
                ["value"] = operation.Value?.DeepClone(),
            });
        }

        return Encoding.UTF8.GetBytes(operations.ToJsonString(AdmissionJson.Options));
    }
}

/// <summary>
/// The pod defaults of the admission webhook, as a pure function of the pod: a pod that asks for GPUs through kaiwo's
/// annotations is sent to the kaiwo scheduler and given <c>ROCR_VISIBLE_DEVICES</c> from
/// the <c>kaiwo.ai/visible-devices</c> annotation the extender writes at bind (the downward API resolves it when the
/// containers start, after the bind). Bad values are refused with the messages of <see cref="GpuRequestParser"/>, the
/// ones filter gives. Whether the namespace takes part is not decided here: the MutatingWebhookConfiguration's
/// namespaceSelector (<c>kaiwo.ai/scheduling: enabled</c>) makes the API server call the webhook only for pods of
/// labelled namespaces, so the service never looks namespaces up.
/// </summary>
internal sealed class PodMutator
{
    /// <summary>
    /// The variable set in every container. Only this one: the record's device ids are the node's, and ROCr narrows
    /// the GPUs to them; HIP then numbers the devices it is left with from 0, so a <c>HIP_VISIBLE_DEVICES</c> with the
    /// same node-level ids would name devices that are not there and hide the GPUs.
    /// </summary>
    public const string DeviceVariable = "ROCR_VISIBLE_DEVICES";

    /// <summary>The downward API field the variables come from.</summary>
    public static readonly string VisibleDevicesFieldPath = $"metadata.annotations['{WellKnown.VisibleDevicesAnnotation}']";

    private const string GpuAnnotationPrefix = "kaiwo.ai/gpu-";

    private readonly RequestOptions _requests;
    private readonly string _schedulerName;

    public PodMutator(RequestOptions requests, string schedulerName)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentException.ThrowIfNullOrEmpty(schedulerName);
        _requests = requests;
        _schedulerName = schedulerName;
    }

    /// <summary>Decides on a pod given as JSON (an AdmissionReview's <c>request.object</c>).</summary>
    /// <exception cref="JsonException">The JSON is not a Pod: the message names the path and what was wrong.</exception>
    public PodDecision Decide(JsonElement podJson)
    {
        PodFacts facts;
        try
        {
            // The one reading of a pod, as filter reads it; on CREATE the name may still be missing (generateName).
            facts = ObjectJson.ReadPod(podJson, "$.request.object");
        }
        catch (ObjectReadException ex)
        {
            throw new JsonException(ex.Message, ex);
        }

        if (!IsGpuPod(facts.Annotations))
        {
            return PodDecision.NotGpuPod;
        }

        var request = GpuRequestParser.Parse(facts, _requests);
        if (!request.IsValid)
        {
            // The message RequestCheck gives filter, so a refused kubectl apply reads as filter's reason would.
            return new PodDecision { Verdict = PodVerdict.Refused, Message = string.Join("; ", request.Errors.Select(e => e.ToString())) };
        }

        if (!podJson.TryGetProperty("spec", out var spec) || spec.ValueKind != JsonValueKind.Object)
        {
            return new PodDecision { Verdict = PodVerdict.GpuPod };
        }

        var patch = new List<JsonPatchOperation>();

        // The API server has already defaulted an absent schedulerName to default-scheduler; "add" replaces a member
        // that is there (RFC 6902, 4.1), so one operation covers both.
        if (!string.Equals(facts.SchedulerName, _schedulerName, StringComparison.Ordinal))
        {
            patch.Add(new JsonPatchOperation("add", "/spec/schedulerName", JsonValue.Create(_schedulerName)));
        }

        AddDeviceVariable(patch, spec, "initContainers");
        AddDeviceVariable(patch, spec, "containers");
        return new PodDecision { Verdict = PodVerdict.GpuPod, Patch = patch };
    }

    /// <summary>
    /// A GPU pod carries a <c>kaiwo.ai/gpu-*</c> annotation or <c>kaiwo.ai/placement</c>. A pod that asks only for
    /// whole <c>amd.com/gpu</c> without them is left to whichever scheduler it names.
    /// </summary>
    private static bool IsGpuPod(IReadOnlyDictionary<string, string> annotations) =>
        annotations.Keys.Any(key =>
            key.StartsWith(GpuAnnotationPrefix, StringComparison.Ordinal) || string.Equals(key, WellKnown.PlacementAnnotation, StringComparison.Ordinal));

    /// <summary>
    /// Adds the variable to each container that does not define it yet. A container without <c>env</c> gets the whole
    /// array (a JSON patch cannot append to an array that is not there); one with <c>env</c> gets it appended with
    /// <c>/-</c>, after its own. Only the names of <c>env</c> entries are read.
    /// </summary>
    /// <exception cref="JsonException">A container's env is not an array.</exception>
    private static void AddDeviceVariable(List<JsonPatchOperation> patch, JsonElement spec, string field)
    {
        // ObjectJson.ReadPod has checked that the containers are an array (or null) of objects (or nulls).
        if (!spec.TryGetProperty(field, out var containers) || containers.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        for (var i = 0; i < containers.GetArrayLength(); i++)
        {
            var container = containers[i];
            var env = container.ValueKind == JsonValueKind.Object && container.TryGetProperty("env", out var e) && e.ValueKind != JsonValueKind.Null ? e : (JsonElement?)null;
            if (env is null)
            {
                patch.Add(new JsonPatchOperation("add", $"/spec/{field}/{i}/env", new JsonArray(DeviceVariableFromRecord())));
                continue;
            }

            if (env.Value.ValueKind != JsonValueKind.Array)
            {
                throw new JsonException($"$.request.object.spec.{field}[{i}].env: expected an array of EnvVar objects, got {ObjectJson.Describe(env.Value)}");
            }

            var defined = env.Value.EnumerateArray().Any(v => v.ValueKind == JsonValueKind.Object && v.TryGetProperty("name", out var n)
                && n.ValueKind == JsonValueKind.String && string.Equals(n.GetString(), DeviceVariable, StringComparison.Ordinal));
            if (!defined)
            {
                patch.Add(new JsonPatchOperation("add", $"/spec/{field}/{i}/env/-", DeviceVariableFromRecord()));
            }
        }
    }

    private static JsonObject DeviceVariableFromRecord() => new JsonObject
    {
        ["name"] = DeviceVariable,
        ["valueFrom"] = new JsonObject
        {
            ["fieldRef"] = new JsonObject
            {
                ["apiVersion"] = "v1",
                ["fieldPath"] = VisibleDevicesFieldPath,
            },
        },
    };
}

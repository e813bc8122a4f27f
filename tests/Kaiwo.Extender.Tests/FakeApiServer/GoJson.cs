using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// JSON as the kube-apiserver writes it: Go's <c>encoding/json</c> escaping (<c>\"</c>, <c>\u003c</c>, <c>\u0026</c>,
/// raw UTF-8 for the rest), struct fields in Go declaration order, map keys sorted, and the fields Go always writes
/// (non-pointer structs and times: <c>"creationTimestamp":null</c>, <c>"lastProbeTime":null</c>, <c>"resources":{}</c>).
/// KubernetesClient writes its models with sorted property names; <see cref="Order"/> puts them back in Go's order.
/// </summary>
internal static class GoJson
{
    /// <summary>Compact JSON bytes, Go-escaped, optionally with the trailing newline Go's encoder adds.</summary>
    public static byte[] Encode(JsonNode? node, bool newline = false)
    {
        var text = new StringBuilder(1024);
        Write(text, node);
        if (newline)
        {
            text.Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public static string EncodeString(JsonNode? node) => Encoding.UTF8.GetString(Encode(node));

    /// <summary>A copy of <paramref name="source"/> with its fields in the order of <paramref name="type"/>.</summary>
    public static JsonObject Order(JsonObject source, GoType type)
    {
        var result = new JsonObject();
        foreach (var field in type.Fields)
        {
            if (source.TryGetPropertyValue(field.Name, out var value))
            {
                result[field.Name] = Shape(value, field);
            }
            else if (field.Always)
            {
                result[field.Name] = Shape(field.Default?.Invoke(), field);
            }
        }

        // Fields the table does not know keep KubernetesClient's order, after the known ones.
        foreach (var (name, value) in source)
        {
            if (!type.Has(name))
            {
                result[name] = value?.DeepClone();
            }
        }

        return result;
    }

    /// <summary>A copy with every object's keys sorted, as Go writes unstructured (custom resource) JSON.</summary>
    public static JsonNode? SortKeys(JsonNode? node) => node switch
    {
        JsonObject obj => SortObject(obj),
        JsonArray array => new JsonArray([.. array.Select(SortKeys)]),
        _ => node?.DeepClone(),
    };

    public static JsonObject SortObject(JsonObject obj)
    {
        var result = new JsonObject();
        foreach (var (name, value) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            result[name] = SortKeys(value);
        }

        return result;
    }

    private static JsonNode? Shape(JsonNode? value, GoField field)
    {
        switch (field.Shape)
        {
            case FieldShape.Time when value is JsonValue time && time.TryGetValue<string>(out var text)
                && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed):
                // metav1.Time: RFC 3339 in UTC, whole seconds (KubernetesClient writes fractions when there are some).
                return parsed.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", CultureInfo.InvariantCulture);
            case FieldShape.Map when value is JsonObject map:
                return SortObject(map);
            case FieldShape.Object when value is JsonObject obj && field.Type is not null:
                return Order(obj, field.Type);
            case FieldShape.List when value is JsonArray list && field.Type is not null:
                var type = field.Type;
                return new JsonArray([.. list.Select(item => item is JsonObject o ? Order(o, type) : item?.DeepClone())]);
            default:
                return value?.DeepClone();
        }
    }

    private static void Write(StringBuilder text, JsonNode? node)
    {
        switch (node)
        {
            case null:
                text.Append("null");
                break;
            case JsonObject obj:
                text.Append('{');
                var first = true;
                foreach (var (name, value) in obj)
                {
                    if (!first)
                    {
                        text.Append(',');
                    }

                    first = false;
                    WriteString(text, name);
                    text.Append(':');
                    Write(text, value);
                }

                text.Append('}');
                break;
            case JsonArray array:
                text.Append('[');
                for (var i = 0; i < array.Count; i++)
                {
                    if (i > 0)
                    {
                        text.Append(',');
                    }

                    Write(text, array[i]);
                }

                text.Append(']');
                break;
            case JsonValue value:
                switch (value.GetValueKind())
                {
                    case JsonValueKind.String:
                        WriteString(text, value.GetValue<string>());
                        break;
                    case JsonValueKind.True:
                        text.Append("true");
                        break;
                    case JsonValueKind.False:
                        text.Append("false");
                        break;
                    case JsonValueKind.Null:
                        text.Append("null");
                        break;
                    default:
                        text.Append(value.ToJsonString());
                        break;
                }

                break;
        }
    }

    /// <summary>Go's encodeState.string with escapeHTML on (go1.19: no \b or \f short forms).</summary>
    private static void WriteString(StringBuilder text, string value)
    {
        text.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    text.Append("\\\"");
                    break;
                case '\\':
                    text.Append("\\\\");
                    break;
                case '\n':
                    text.Append("\\n");
                    break;
                case '\r':
                    text.Append("\\r");
                    break;
                case '\t':
                    text.Append("\\t");
                    break;
                case '<' or '>' or '&' or '\u2028' or '\u2029':
                case < ' ':
                    text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    text.Append(c);
                    break;
            }
        }

        text.Append('"');
    }
}

internal enum FieldShape
{
    /// <summary>Copied as it is: strings, numbers, lists of strings, raw JSON (fieldsV1).</summary>
    Scalar,

    /// <summary>A Go map: keys sorted.</summary>
    Map,

    /// <summary>A Go struct: fields in <see cref="GoField.Type"/> order.</summary>
    Object,

    /// <summary>A list of Go structs.</summary>
    List,

    /// <summary>A metav1.Time: RFC 3339, UTC, whole seconds.</summary>
    Time,
}

/// <summary>One field of a Go struct. <see cref="Always"/>: Go writes it even when empty, with <see cref="Default"/>.</summary>
internal sealed record GoField(string Name, FieldShape Shape, GoType? Type = null, bool Always = false, Func<JsonNode?>? Default = null);

/// <summary>A Go struct: its JSON fields in declaration order.</summary>
internal sealed class GoType
{
    private readonly HashSet<string> _names;

    public GoType(params GoField[] fields)
    {
        Fields = fields;
        _names = new HashSet<string>(fields.Select(f => f.Name), StringComparer.Ordinal);
    }

    public IReadOnlyList<GoField> Fields { get; }

    public bool Has(string name) => _names.Contains(name);
}

/// <summary>The k8s.io/api structs the fake serves, in Go field order (k8s 1.24+, newer fields included).</summary>
internal static class GoTypes
{
    public static readonly GoType OwnerReference = new(
        S("apiVersion"), S("kind"), S("name"), S("uid"), S("controller"), S("blockOwnerDeletion"));

    public static readonly GoType ManagedFieldsEntry = new(
        S("manager"), S("operation"), S("apiVersion"), T("time"), S("fieldsType"), S("fieldsV1"), S("subresource"));

    public static readonly GoType ObjectMeta = new(
        S("name"), S("generateName"), S("namespace"), S("selfLink"), S("uid"), S("resourceVersion"), S("generation"),
        Null("creationTimestamp"), T("deletionTimestamp"), S("deletionGracePeriodSeconds"), M("labels"), M("annotations"),
        L("ownerReferences", OwnerReference), S("finalizers"), L("managedFields", ManagedFieldsEntry));

    public static readonly GoType ResourceRequirements = new(M("limits"), M("requests"), S("claims"));

    public static readonly GoType ContainerPort = new(S("name"), S("hostPort"), S("containerPort"), S("protocol"), S("hostIP"));

    public static readonly GoType EnvVar = new(S("name"), S("value"), S("valueFrom"));

    public static readonly GoType VolumeMount = new(
        S("name"), S("readOnly"), S("recursiveReadOnly"), S("mountPath"), S("subPath"), S("mountPropagation"), S("subPathExpr"));

    public static readonly GoType Container = new(
        S("name"), S("image"), S("command"), S("args"), S("workingDir"), L("ports", ContainerPort), S("envFrom"),
        L("env", EnvVar), new GoField("resources", FieldShape.Object, ResourceRequirements, Always: true, Default: () => new JsonObject()),
        S("resizePolicy"), S("restartPolicy"), L("volumeMounts", VolumeMount), S("volumeDevices"), S("livenessProbe"),
        S("readinessProbe"), S("startupProbe"), S("lifecycle"), S("terminationMessagePath"), S("terminationMessagePolicy"),
        S("imagePullPolicy"), S("securityContext"), S("stdin"), S("stdinOnce"), S("tty"));

    public static readonly GoType Toleration = new(S("key"), S("operator"), S("value"), S("effect"), S("tolerationSeconds"));

    public static readonly GoType PodSpec = new(
        S("volumes"), L("initContainers", Container), new GoField("containers", FieldShape.List, Container, Always: true),
        L("ephemeralContainers", Container), S("restartPolicy"), S("terminationGracePeriodSeconds"), S("activeDeadlineSeconds"),
        S("dnsPolicy"), M("nodeSelector"), S("serviceAccountName"), S("serviceAccount"), S("automountServiceAccountToken"),
        S("nodeName"), S("hostNetwork"), S("hostPID"), S("hostIPC"), S("shareProcessNamespace"), S("securityContext"),
        S("imagePullSecrets"), S("hostname"), S("subdomain"), S("affinity"), S("schedulerName"), L("tolerations", Toleration),
        S("hostAliases"), S("priorityClassName"), S("priority"), S("dnsConfig"), S("readinessGates"), S("runtimeClassName"),
        S("enableServiceLinks"), S("preemptionPolicy"), M("overhead"), S("topologySpreadConstraints"), S("setHostnameAsFQDN"),
        S("os"), S("hostUsers"), S("schedulingGates"), S("resourceClaims"), S("resources"));

    public static readonly GoType PodCondition = new(
        S("type"), S("observedGeneration"), S("status"), Null("lastProbeTime"), Null("lastTransitionTime"), S("reason"), S("message"));

    public static readonly GoType ContainerStatus = new(
        S("name"), Always("state", () => new JsonObject()), Always("lastState", () => new JsonObject()),
        Always("ready", () => JsonValue.Create(false)), Always("restartCount", () => JsonValue.Create(0)),
        Always("image", () => JsonValue.Create(string.Empty)), Always("imageID", () => JsonValue.Create(string.Empty)),
        S("containerID"), S("started"), M("allocatedResources"), S("resources"), S("volumeMounts"), S("user"),
        S("allocatedResourcesStatus"), S("stopSignal"));

    public static readonly GoType PodStatus = new(
        S("observedGeneration"), S("phase"), L("conditions", PodCondition), S("message"), S("reason"), S("nominatedNodeName"),
        S("hostIP"), S("hostIPs"), S("podIP"), S("podIPs"), T("startTime"), L("initContainerStatuses", ContainerStatus),
        L("containerStatuses", ContainerStatus), S("qosClass"), L("ephemeralContainerStatuses", ContainerStatus), S("resize"),
        S("resourceClaimStatuses"));

    public static readonly GoType Pod = new(
        S("kind"), S("apiVersion"), O("metadata", ObjectMeta), O("spec", PodSpec), O("status", PodStatus));

    public static readonly GoType Taint = new(S("key"), S("value"), S("effect"), T("timeAdded"));

    public static readonly GoType NodeSpec = new(
        S("podCIDR"), S("podCIDRs"), S("providerID"), S("unschedulable"), L("taints", Taint), S("configSource"), S("externalID"));

    public static readonly GoType NodeCondition = new(
        S("type"), S("status"), Null("lastHeartbeatTime"), Null("lastTransitionTime"), S("reason"), S("message"));

    public static readonly GoType NodeAddress = new(S("type"), S("address"));

    public static readonly GoType DaemonEndpoint = new(Always("Port", () => JsonValue.Create(0)));

    public static readonly GoType NodeDaemonEndpoints = new(O("kubeletEndpoint", DaemonEndpoint));

    public static readonly GoType NodeSystemInfo = new(
        Empty("machineID"), Empty("systemUUID"), Empty("bootID"), Empty("kernelVersion"), Empty("osImage"),
        Empty("containerRuntimeVersion"), Empty("kubeletVersion"), Empty("kubeProxyVersion"), Empty("operatingSystem"),
        Empty("architecture"), S("swap"));

    public static readonly GoType NodeStatus = new(
        M("capacity"), M("allocatable"), S("phase"), L("conditions", NodeCondition), L("addresses", NodeAddress),
        O("daemonEndpoints", NodeDaemonEndpoints), O("nodeInfo", NodeSystemInfo), S("images"), S("volumesInUse"),
        S("volumesAttached"), S("config"), S("runtimeHandlers"), S("features"));

    public static readonly GoType Node = new(
        S("kind"), S("apiVersion"), O("metadata", ObjectMeta), O("spec", NodeSpec), O("status", NodeStatus));

    private static GoField S(string name) => new(name, FieldShape.Scalar);

    private static GoField M(string name) => new(name, FieldShape.Map);

    private static GoField L(string name, GoType type) => new(name, FieldShape.List, type);

    /// <summary>A non-pointer struct: always written, <c>{}</c> when empty.</summary>
    private static GoField O(string name, GoType type) => new(name, FieldShape.Object, type, Always: true, Default: () => new JsonObject());

    /// <summary>A metav1.Time pointer: written when set.</summary>
    private static GoField T(string name) => new(name, FieldShape.Time);

    /// <summary>A metav1.Time that is not a pointer: always written, <c>null</c> when zero.</summary>
    private static GoField Null(string name) => new(name, FieldShape.Time, Always: true, Default: () => null);

    /// <summary>A string without omitempty.</summary>
    private static GoField Empty(string name) => new(name, FieldShape.Scalar, Always: true, Default: () => JsonValue.Create(string.Empty));

    private static GoField Always(string name, Func<JsonNode?> value) => new(name, FieldShape.Scalar, Always: true, Default: value);
}

using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Kaiwo.LoadGen;

/// <summary>
/// A busy MI300X cluster, generated object by object from its index so that 200,000 pods never have to be held:
/// <c>gpu-node-00000</c>.. in SPX/NPS1 (8 GPUs of 192 GiB), and pods laid out in rounds over the nodes (pod
/// <c>i</c> is slot <c>i / nodes</c> of node <c>i % nodes</c>). Slots 0-3 hold one whole GPU each (0-3), slots 4-5
/// half of GPU 4 each, slots 6-7 a quarter of GPU 5 each, all with allocation records, bound by kaiwo-scheduler; slot 8
/// is a CPU-only pod of default-scheduler; slot 9 is a default-scheduler pod with <c>amd.com/gpu: 1</c> and no record
/// (the extender counts it as holding a whole GPU) on nine nodes in ten, and a pending fractional pod of
/// kaiwo-scheduler on the tenth. Pods past ten a node are pending. So every node has GPU 5 half free and one or two
/// whole GPUs left: a pending 0.5 pod fits, after a real fit check.
/// </summary>
internal sealed class SyntheticCluster(int nodes, int pods)
{
    public const string Queue = "research-queue";
    private const int GpusPerNode = 8;
    private const int GpuMemoryMiB = 196_608;
    private static readonly int[] Xcds = [0, 1, 2, 3, 4, 5, 6, 7];

    public int NodeCount { get; } = nodes;

    public int PodCount { get; } = pods;

    public static string NodeName(int index) => string.Create(CultureInfo.InvariantCulture, $"gpu-node-{index:D5}");

    /// <summary>
    /// One Node as the API server lists it. <paramref name="full"/> adds what a real server sends and the extender
    /// does not read (conditions, addresses, nodeInfo, managedFields), so that list decoding is measured at its real size.
    /// </summary>
    public void WriteNode(Utf8JsonWriter w, int index, bool full)
    {
        var name = NodeName(index);
        w.WriteStartObject();
        w.WriteString("apiVersion", "v1");
        w.WriteString("kind", "Node");
        w.WriteStartObject("metadata");
        w.WriteString("name", name);
        w.WriteString("uid", Uid('n', index));
        w.WriteString("resourceVersion", "10");
        w.WriteString("creationTimestamp", "2026-11-23T13:32:41Z");
        w.WriteStartObject("labels");
        w.WriteString("amd.com/gpu.compute-memory-partition", "spx_nps1");
        w.WriteString("amd.com/gpu.cu-count", "304");
        w.WriteString("amd.com/gpu.device-id", "74a1");
        w.WriteString("amd.com/gpu.family", "AI");
        w.WriteString("amd.com/gpu.product-name", "AMD_Instinct_MI300X_OAM");
        w.WriteString("amd.com/gpu.vram", "192G");
        w.WriteString("beta.kubernetes.io/arch", "amd64");
        w.WriteString("beta.kubernetes.io/os", "linux");
        w.WriteString("kubernetes.io/arch", "amd64");
        w.WriteString("kubernetes.io/hostname", name);
        w.WriteString("kubernetes.io/os", "linux");
        w.WriteEndObject();
        if (full)
        {
            WriteManagedFields(w, "kubelet", """{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/hostname":{}}},"f:status":{"f:allocatable":{},"f:capacity":{},"f:conditions":{}}}""");
        }

        w.WriteEndObject();
        w.WriteStartObject("spec");
        w.WriteEndObject();
        w.WriteStartObject("status");
        foreach (var section in new[] { "allocatable", "capacity" })
        {
            w.WriteStartObject(section);
            w.WriteString("amd.com/gpu", "8");
            w.WriteString("cpu", "192");
            w.WriteString("ephemeral-storage", "3Ti");
            w.WriteString("memory", "1536Gi");
            w.WriteString("pods", "250");
            w.WriteEndObject();
        }

        if (full)
        {
            w.WriteStartArray("addresses");
            w.WriteStartObject();
            w.WriteString("address", string.Create(CultureInfo.InvariantCulture, $"10.{index / 65536 % 256}.{index / 256 % 256}.{index % 256}"));
            w.WriteString("type", "InternalIP");
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("address", name);
            w.WriteString("type", "Hostname");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartArray("conditions");
            foreach (var (type, status, reason) in new[] { ("MemoryPressure", "False", "KubeletHasSufficientMemory"), ("DiskPressure", "False", "KubeletHasNoDiskPressure"), ("PIDPressure", "False", "KubeletHasSufficientPID"), ("Ready", "True", "KubeletReady") })
            {
                w.WriteStartObject();
                w.WriteString("lastHeartbeatTime", "2026-11-23T13:32:41Z");
                w.WriteString("lastTransitionTime", "2026-11-23T13:32:41Z");
                w.WriteString("message", "kubelet is posting ready status");
                w.WriteString("reason", reason);
                w.WriteString("status", status);
                w.WriteString("type", type);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("nodeInfo");
            w.WriteString("architecture", "amd64");
            w.WriteString("containerRuntimeVersion", "containerd://1.7.12");
            w.WriteString("kernelVersion", "5.15.0-119-generic");
            w.WriteString("kubeletVersion", "v1.31.0");
            w.WriteString("operatingSystem", "linux");
            w.WriteString("osImage", "Ubuntu 22.04.4 LTS");
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>One Pod as the API server lists it; <paramref name="full"/> as for <see cref="WriteNode"/> (managedFields, a kubelet's status).</summary>
    public void WritePod(Utf8JsonWriter w, int index, bool full)
    {
        var node = index % NodeCount;
        var slot = index / NodeCount;
        var nodeName = NodeName(node);
        var name = string.Create(CultureInfo.InvariantCulture, $"pod-{index:D6}");
        var ours = slot is >= 0 and <= 7 || (slot == 9 && node % 10 == 0) || slot >= 10;
        var bound = slot <= 8 || (slot == 9 && node % 10 != 0);

        w.WriteStartObject();
        w.WriteString("apiVersion", "v1");
        w.WriteString("kind", "Pod");
        w.WriteStartObject("metadata");
        w.WriteString("name", name);
        w.WriteString("namespace", string.Create(CultureInfo.InvariantCulture, $"team-{index % 20:D2}"));
        w.WriteString("uid", Uid('p', index));
        w.WriteString("resourceVersion", "20");
        w.WriteString("creationTimestamp", "2026-11-23T13:40:23Z");
        w.WriteStartObject("labels");
        w.WriteString("app", "train");
        if (ours)
        {
            w.WriteString("kaiwo.ai/queue", Queue);
        }

        w.WriteEndObject();
        w.WriteStartObject("annotations");
        var (gpu, milli) = slot switch
        {
            <= 3 => (slot, 1000),
            4 or 5 => (4, 500),
            6 or 7 => (5, 250),
            _ => (-1, 0),
        };
        if (milli is > 0 and < 1000)
        {
            w.WriteString("kaiwo.ai/gpu-fraction", milli == 500 ? "0.5" : "0.25");
        }
        else if (ours && !bound)
        {
            w.WriteString("kaiwo.ai/gpu-fraction", "0.25");
        }

        if (gpu >= 0)
        {
            w.WriteString("kaiwo.ai/gpu-allocation", Record(nodeName, gpu, milli));
            w.WriteString("kaiwo.ai/visible-devices", gpu.ToString(CultureInfo.InvariantCulture));
        }

        w.WriteEndObject();
        if (full)
        {
            WriteManagedFields(w, "kube-controller-manager", """{"f:metadata":{"f:annotations":{".":{},"f:kaiwo.ai/gpu-fraction":{}},"f:labels":{".":{},"f:app":{},"f:kaiwo.ai/queue":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"main\"}":{".":{},"f:command":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{".":{},"f:limits":{".":{},"f:amd.com/gpu":{}},"f:requests":{".":{},"f:amd.com/gpu":{},"f:cpu":{},"f:memory":{}}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}""");
        }

        w.WriteEndObject();

        w.WriteStartObject("spec");
        w.WriteStartArray("containers");
        w.WriteStartObject();
        w.WriteString("name", "main");
        w.WriteString("image", "rocm/pytorch:rocm6.2_ubuntu22.04_py3.10_pytorch_release_2.3.0");
        w.WriteStartObject("resources");
        var wholeGpu = milli == 1000 || (!ours && slot == 9);
        if (wholeGpu)
        {
            w.WriteStartObject("limits");
            w.WriteString("amd.com/gpu", "1");
            w.WriteEndObject();
        }

        w.WriteStartObject("requests");
        if (wholeGpu)
        {
            w.WriteString("amd.com/gpu", "1");
        }

        w.WriteString("cpu", "2");
        w.WriteString("memory", "8Gi");
        w.WriteEndObject();
        w.WriteEndObject();
        if (full)
        {
            w.WriteString("terminationMessagePath", "/dev/termination-log");
            w.WriteString("terminationMessagePolicy", "File");
            w.WriteString("imagePullPolicy", "IfNotPresent");
        }

        w.WriteEndObject();
        w.WriteEndArray();
        if (bound)
        {
            w.WriteString("nodeName", nodeName);
        }

        w.WriteString("schedulerName", ours ? "kaiwo-scheduler" : "default-scheduler");
        w.WriteNumber("priority", 0);
        if (full)
        {
            w.WriteString("restartPolicy", "Always");
            w.WriteNumber("terminationGracePeriodSeconds", 30);
            w.WriteString("dnsPolicy", "ClusterFirst");
            w.WriteStartObject("securityContext");
            w.WriteEndObject();
            w.WriteStartArray("tolerations");
            foreach (var key in new[] { "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable" })
            {
                w.WriteStartObject();
                w.WriteString("key", key);
                w.WriteString("operator", "Exists");
                w.WriteString("effect", "NoExecute");
                w.WriteNumber("tolerationSeconds", 300);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteBoolean("enableServiceLinks", true);
            w.WriteString("preemptionPolicy", "PreemptLowerPriority");
        }

        w.WriteEndObject();

        w.WriteStartObject("status");
        w.WriteString("phase", bound ? "Running" : "Pending");
        if (full)
        {
            w.WriteString("qosClass", "Burstable");
            if (bound)
            {
                w.WriteString("hostIP", "10.0.1.11");
                w.WriteString("podIP", "10.244.1.17");
                w.WriteString("startTime", "2026-11-23T13:40:24Z");
                w.WriteStartArray("conditions");
                foreach (var type in new[] { "Initialized", "Ready", "ContainersReady", "PodScheduled" })
                {
                    w.WriteStartObject();
                    w.WriteString("type", type);
                    w.WriteString("status", "True");
                    w.WriteString("lastTransitionTime", "2026-11-23T13:40:24Z");
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("containerStatuses");
                w.WriteStartObject();
                w.WriteString("name", "main");
                w.WriteBoolean("ready", true);
                w.WriteNumber("restartCount", 0);
                w.WriteString("image", "rocm/pytorch:rocm6.2_ubuntu22.04_py3.10_pytorch_release_2.3.0");
                w.WriteString("imageID", "docker.io/rocm/pytorch@sha256:4f1c0e2b7d9a8c6e5f3b1a2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a4b6c8d0e");
                w.WriteString("containerID", "containerd://9d2f6b1c3e5a7d9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e");
                w.WriteBoolean("started", true);
                w.WritePropertyName("state");
                w.WriteRawValue("""{"running":{"startedAt":"2026-11-23T13:40:25Z"}}""");
                w.WriteEndObject();
                w.WriteEndArray();
            }
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>The KaiwoQueue every pod of ours is labelled with: no limit, a quota of every GPU.</summary>
    public void WriteQueue(Utf8JsonWriter w)
    {
        var gpus = (long)NodeCount * GpusPerNode;
        w.WriteStartObject();
        w.WriteString("apiVersion", "kaiwo.ai/v1alpha2");
        w.WriteString("kind", "KaiwoQueue");
        w.WriteStartObject("metadata");
        w.WriteString("name", Queue);
        w.WriteString("uid", Uid('q', 0));
        w.WriteString("resourceVersion", "30");
        w.WriteNumber("generation", 1);
        w.WriteEndObject();
        w.WritePropertyName("spec");
        w.WriteRawValue(string.Create(CultureInfo.InvariantCulture,
            $$"""{"priority":100,"fairness":{"policy":"DRF","reclaimStrategy":"conservative"},"resources":{"gpu":{"quota":{{gpus}},"overQuotaWeight":1,"limit":-1},"cpu":{"quota":{{gpus * 24}},"overQuotaWeight":1,"limit":-1},"memory":{"quota":{{gpus * 192}},"overQuotaWeight":1,"limit":-1}""") + "}}");
        w.WriteEndObject();
    }

    /// <summary>
    /// The whole cluster as one <c>List</c> for <c>--cluster-file</c>: JSON, which is YAML, one object a line. Lean
    /// objects (<c>full: false</c>): the standalone loader reads YAML, and nothing it does not read changes a decision.
    /// </summary>
    public void WriteClusterFile(string path)
    {
        using var file = File.Create(path);
        var newline = "\n"u8.ToArray();
        file.Write("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n"u8);
        var buffer = new ArrayBufferWriter<byte>(8192);
        void Item(Action<Utf8JsonWriter> write, bool last)
        {
            buffer.ResetWrittenCount();
            using (var w = new Utf8JsonWriter(buffer))
            {
                write(w);
            }

            file.Write(buffer.WrittenSpan);
            file.Write(last ? newline : ",\n"u8);
        }

        Item(WriteQueue, false);
        for (var n = 0; n < NodeCount; n++)
        {
            var index = n;
            Item(w => WriteNode(w, index, full: false), PodCount == 0 && n == NodeCount - 1);
        }

        for (var p = 0; p < PodCount; p++)
        {
            var index = p;
            Item(w => WritePod(w, index, full: false), p == PodCount - 1);
        }

        file.Write("]}\n"u8);
    }

    /// <summary>The allocation record the extender writes for one GPU's share (see examples/cluster.yaml).</summary>
    private static string Record(string node, int gpu, int milli)
    {
        var text = new StringBuilder(256);
        var c = CultureInfo.InvariantCulture;
        text.Append(c, $$"""{"version":1,"node":"{{node}}","kind":"{{(milli == 1000 ? "whole" : "shared")}}","isolation":"time-slicing","gpus":[{"index":{{gpu}},"partitions":[],"xcds":[""");
        text.AppendJoin(',', Xcds);
        text.Append(c, $$$"""],"devices":[{{{gpu}}}],"computeMilli":{{{milli}}},"memoryMiB":{{{GpuMemoryMiB * milli / 1000}}}}]}""");
        return text.ToString();
    }

    private static void WriteManagedFields(Utf8JsonWriter w, string manager, string fields)
    {
        w.WriteStartArray("managedFields");
        w.WriteStartObject();
        w.WriteString("manager", manager);
        w.WriteString("operation", "Update");
        w.WriteString("apiVersion", "v1");
        w.WriteString("time", "2026-11-23T13:40:23Z");
        w.WriteString("fieldsType", "FieldsV1");
        w.WritePropertyName("fieldsV1");
        w.WriteRawValue(fields);
        w.WriteEndObject();
        w.WriteEndArray();
    }

    private static string Uid(char kind, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{(int)kind:x8}-0000-4000-8000-{index:x12}");
}

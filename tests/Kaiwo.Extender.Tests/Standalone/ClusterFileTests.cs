using System.Net;
using Kaiwo.Extender.Standalone;

namespace Kaiwo.Extender.Tests.Standalone;

/// <summary>
/// The names cluster with pods appended as further YAML documents: a running pod holding half of gpu-node-02's GPU 3,
/// a running pod whose record names GPU 9 of the 8-GPU gpu-node-01, and a pending pod ready for /bind.
/// </summary>
public sealed class ClusterWithPods : ExtenderFixture
{
    public const string HeldPodUid = "0d7f1c2e-1111-4a5b-8c9d-000000000001";
    public const string PendingPodUid = "0d7f1c2e-3333-4a5b-8c9d-000000000003";

    private const string Pods = """
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          annotations:
            kaiwo.ai/gpu-allocation: '{"version":1,"node":"gpu-node-02","kind":"shared","isolation":"time-slicing","gpus":[{"index":3,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[3],"computeMilli":500,"memoryMiB":98304}]}'
            kaiwo.ai/gpu-fraction: "0.5"
            kaiwo.ai/visible-devices: "3"
          name: held-pod
          namespace: team-a
          uid: 0d7f1c2e-1111-4a5b-8c9d-000000000001
        spec:
          containers:
          - image: rocm/pytorch:latest
            name: main
          nodeName: gpu-node-02
          schedulerName: kaiwo-scheduler
        status:
          phase: Running
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          annotations:
            kaiwo.ai/gpu-allocation: '{"version":1,"node":"gpu-node-01","kind":"whole","isolation":"time-slicing","gpus":[{"index":9,"partitions":[],"xcds":[0,1,2,3,4,5,6,7],"devices":[9],"computeMilli":1000,"memoryMiB":196608}]}'
            kaiwo.ai/visible-devices: "9"
          name: ghost-gpu
          namespace: team-b
          uid: 0d7f1c2e-2222-4a5b-8c9d-000000000002
        spec:
          containers:
          - image: rocm/pytorch:latest
            name: main
            resources:
              limits:
                amd.com/gpu: "1"
          nodeName: gpu-node-01
          schedulerName: kaiwo-scheduler
        status:
          phase: Running
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          annotations:
            kaiwo.ai/gpu-fraction: "0.25"
          name: file-pending
          namespace: team-a
          uid: 0d7f1c2e-3333-4a5b-8c9d-000000000003
        spec:
          containers:
          - image: rocm/pytorch:latest
            name: main
          schedulerName: kaiwo-scheduler
        status:
          phase: Pending

        """;

    private readonly string _path;

    public ClusterWithPods()
        : this(Path.Combine(Path.GetTempPath(), $"kaiwo-cluster-{Guid.NewGuid():N}.yaml"))
    {
    }

    private ClusterWithPods(string path)
        : base(new ExtenderFactory(new Dictionary<string, string?> { ["Extender:ClusterFile"] = path }))
    {
        _path = path;
        File.WriteAllText(path, File.ReadAllText(Fixtures.ClusterFile("names")).TrimEnd('\n') + "\n" + Pods);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        File.Delete(_path);
    }
}

/// <summary>Reading cluster files: List and multi-document YAML, refusals that say where and why, and what pods hold.</summary>
public sealed class ClusterFileTests(ClusterWithPods cluster) : IClassFixture<ClusterWithPods>
{
    private const string NodeDocument = """
        apiVersion: v1
        kind: Node
        metadata:
          name: n1
        status:
          allocatable:
            amd.com/gpu: "8"
        """;

    private const string PodDocument = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: p1
          namespace: team-a
          uid: 5e0c9a3b-0000-4000-8000-000000000001
        spec:
          containers:
          - name: main
            image: busybox
        """;

    private const string QueueDocument = """
        apiVersion: kaiwo.ai/v1alpha2
        kind: KaiwoQueue
        metadata:
          name: q1
        spec:
          priority: 100
        """;

    private static readonly string[] ExpectedNames =
    [
        "cpu-node-01", "cpu-node-02",
        "gpu-node-01", "gpu-node-02", "gpu-node-03", "gpu-node-04", "gpu-node-05", "gpu-node-06",
        "gpu-node-07", "gpu-node-08", "gpu-node-09", "gpu-node-10", "gpu-node-11", "gpu-node-12",
    ];

    private static readonly string[] QueueNames = ["q1"];

    [Fact]
    public void Parse_KubectlListDocument_ReadsEveryNode()
    {
        var contents = ClusterFile.Parse(File.ReadAllText(Fixtures.ClusterFile("names")), "names-nodes.yaml");

        Assert.Equal(ExpectedNames, contents.Nodes.Select(n => n.Name).Order(StringComparer.Ordinal));
        Assert.Empty(contents.Pods);
        var node = contents.Nodes.Single(n => n.Name == "gpu-node-09");
        Assert.Equal("cpx_nps4", node.Labels["amd.com/gpu.compute-memory-partition"]);
        Assert.Equal("64", node.Allocatable["amd.com/gpu"]);
    }

    [Fact]
    public void Parse_MultiDocumentWithEmptyTrailingDocument_ReadsEachObjectAndSkipsTheEmptyOne()
    {
        var yaml = $"---\n{NodeDocument}\n---\n{PodDocument}\n---\n{QueueDocument}\n---\n";

        var contents = ClusterFile.Parse(yaml, "multi.yaml");

        Assert.Equal("n1", Assert.Single(contents.Nodes).Name);
        var pod = Assert.Single(contents.Pods);
        Assert.Equal("p1", pod.Name);
        Assert.Equal("team-a", pod.Namespace);
        Assert.Equal(QueueNames, contents.Queues.Select(q => q.GetProperty("metadata").GetProperty("name").GetString()));
    }

    [Fact]
    public void Parse_UnknownKind_ThrowsNamingTheKindAndTheDocument()
    {
        var yaml = $"{NodeDocument}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d1\n";

        var ex = Assert.Throws<ClusterFileException>(() => ClusterFile.Parse(yaml, "typo.yaml"));

        Assert.Contains("\"Deployment\"", ex.Message, StringComparison.Ordinal);
        Assert.Contains("document 2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("typo.yaml", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownKindInsideAList_ThrowsNamingTheItem()
    {
        var yaml = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: n1\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s1\n";

        var ex = Assert.Throws<ClusterFileException>(() => ClusterFile.Parse(yaml, "list.yaml"));

        Assert.Contains("\"Service\"", ex.Message, StringComparison.Ordinal);
        Assert.Contains("document 1 item 1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_InvalidYaml_ThrowsNamingTheLine()
    {
        // Line 4 puts a second "key: value" inside a plain scalar, which YAML does not allow.
        const string yaml = "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1: broken\n";

        var ex = Assert.Throws<ClusterFileException>(() => ClusterFile.Parse(yaml, "broken.yaml"));

        Assert.Contains("broken.yaml", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 4", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_RunningPodWithAllocationRecord_HoldsItsDevicesFromTheStart()
    {
        var node = await NodeAsync("gpu-node-02");

        var gpu = node.GetProperty("gpus").EnumerateArray().Single(g => g.GetProperty("index").GetInt32() == 3);
        var pod = Assert.Single(gpu.GetProperty("pods").EnumerateArray());
        Assert.Equal("team-a/held-pod", pod.GetProperty("pod").GetString());
        Assert.Equal(ClusterWithPods.HeldPodUid, pod.GetProperty("uid").GetString());
        Assert.Equal("0.5", pod.GetProperty("compute").GetString());
        Assert.Equal(98304, pod.GetProperty("memoryMiB").GetInt64());
        Assert.Equal("0.5", gpu.GetProperty("computeUsed").GetString());
        Assert.Equal(98304, gpu.GetProperty("memoryUsedMiB").GetInt64());
        Assert.Empty(node.GetProperty("conflicts").EnumerateArray());
    }

    [Fact]
    public async Task Inspect_PodRecordNamingAGpuTheNodeLacks_ListsTheConflict()
    {
        var node = await NodeAsync("gpu-node-01");

        var conflict = Assert.Single(node.GetProperty("conflicts").EnumerateArray());
        Assert.Equal(9, conflict.GetProperty("gpu").GetInt32());
        Assert.Equal("team-b/ghost-gpu", Assert.Single(conflict.GetProperty("pods").EnumerateArray()).GetString());
        Assert.Equal("GPU 9 is not on this node (8 GPUs)", conflict.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Filter_GpuPodOnNodeWithConflictingRecord_IsUnresolvableThere()
    {
        var answer = await Fixtures.PostPayloadAsync(cluster.Client, "names", "filter-frac-half.json");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        var unresolvable = JsonShape.StringMap(answer.Json.GetProperty("FailedAndUnresolvableNodes"));
        Assert.True(unresolvable.TryGetValue("gpu-node-01", out var reason), $"gpu-node-01 should be unresolvable: {answer}");
        Assert.Contains("GPU 9", reason, StringComparison.Ordinal);
        var passed = JsonShape.Strings(answer.Json.GetProperty("NodeNames"));
        Assert.Contains("gpu-node-02", passed);
        Assert.Contains("gpu-node-03", passed);
    }

    [Fact]
    public async Task Bind_PendingPodOfTheFile_BindsWithoutAFilterAndHoldsItsShare()
    {
        var body = $$"""{"PodName":"file-pending","PodNamespace":"team-a","PodUID":"{{ClusterWithPods.PendingPodUid}}","Node":"gpu-node-04"}""";

        var answer = await Fixtures.PostAsync(cluster.Client, "/bind", body);

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(string.Empty, answer.Json.GetProperty("Error").GetString());
        var pods = (await NodeAsync("gpu-node-04")).GetProperty("gpus").EnumerateArray().SelectMany(g => g.GetProperty("pods").EnumerateArray()).ToList();
        var pod = Assert.Single(pods);
        Assert.Equal("team-a/file-pending", pod.GetProperty("pod").GetString());
        Assert.Equal("0.25", pod.GetProperty("compute").GetString());
    }

    private async Task<System.Text.Json.JsonElement> NodeAsync(string name)
    {
        var answer = await Fixtures.GetAsync(cluster.Client, "/inspect/" + name);
        Assert.True(answer.Status == HttpStatusCode.OK, $"/inspect/{name}: {answer}");
        return answer.Json;
    }

    [Fact]
    public void Parse_QueueWithANonScalarMappingKey_ThrowsNamingTheLine()
    {
        var yaml = "apiVersion: kaiwo.ai/v1alpha2\nkind: KaiwoQueue\nmetadata:\n  name: q\nspec:\n  ? [a, b]\n  : 1\n";

        var ex = Assert.Throws<ClusterFileException>(() => ClusterFile.Parse(yaml, "odd.yaml"));

        Assert.Contains("line", ex.Message, StringComparison.Ordinal);
    }
}

using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Tests;

/// <summary>Nodes and pods as the AMD GPU operator and kube-scheduler really describe them.</summary>
internal static class TestCluster
{
    /// <summary>The labels of gpu-node-01 of the captured cluster: 8 x MI300X in SPX/NPS1.</summary>
    public static NodeFacts Mi300XSpx(string name = "gpu-node-01") => new()
    {
        Name = name,
        Labels = new Dictionary<string, string>
        {
            ["amd.com/gpu.compute-memory-partition"] = "spx_nps1",
            ["amd.com/gpu.cu-count"] = "304",
            ["amd.com/gpu.device-id"] = "74a1",
            ["amd.com/gpu.family"] = "AI",
            ["amd.com/gpu.product-name"] = "AMD_Instinct_MI300X_OAM",
            ["amd.com/gpu.vram"] = "192G",
            ["kubernetes.io/hostname"] = name,
        },
        Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "8", ["cpu"] = "192", ["memory"] = "1536Gi" },
    };

    /// <summary>The labels of gpu-node-09 of the captured cluster: 8 x MI300X in CPX/NPS4, 64 logical GPUs.</summary>
    public static NodeFacts Mi300XCpx(string name = "gpu-node-09", string vram = "192G") => new()
    {
        Name = name,
        Labels = new Dictionary<string, string>
        {
            ["amd.com/gpu.compute-memory-partition"] = "cpx_nps4",
            ["amd.com/gpu.cu-count"] = "38",
            ["amd.com/gpu.device-id"] = "74a1",
            ["amd.com/gpu.family"] = "AI",
            ["amd.com/gpu.product-name"] = "AMD_Instinct_MI300X_OAM",
            ["amd.com/gpu.vram"] = vram,
        },
        Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "64" },
    };

    public static NodeFacts CpuOnly(string name = "cpu-node-01") => new()
    {
        Name = name,
        Allocatable = new Dictionary<string, string> { ["cpu"] = "192", ["memory"] = "1536Gi" },
    };

    public static NodeUsage Usage(NodeFacts node) => NodeUsage.Create(InventoryReader.Read(node));

    public static PodFacts Pod(string name, Dictionary<string, string>? annotations = null, int gpus = 0, string? uid = null) => new()
    {
        Namespace = "team-a",
        Name = name,
        Uid = uid ?? $"uid-{name}",
        Annotations = annotations ?? [],
        Containers =
        [
            new ContainerFacts(
                "main",
                gpus > 0 ? new Dictionary<string, string> { ["amd.com/gpu"] = gpus.ToString(System.Globalization.CultureInfo.InvariantCulture) } : [],
                gpus > 0 ? new Dictionary<string, string> { ["amd.com/gpu"] = gpus.ToString(System.Globalization.CultureInfo.InvariantCulture) } : []),
        ],
    };

    public static PodFacts Fraction(string name, string fraction, string? isolation = null)
    {
        var annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-fraction"] = fraction };
        if (isolation is not null)
        {
            annotations["kaiwo.ai/gpu-isolation"] = isolation;
        }

        return Pod(name, annotations);
    }

    public static GpuRequest Parse(PodFacts pod) => GpuRequestParser.Parse(pod, new RequestOptions());
}

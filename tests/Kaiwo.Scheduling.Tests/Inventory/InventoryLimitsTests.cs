using Kaiwo.Scheduling.Inventory;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Inventory;

/// <summary>Nothing is sized from what a node advertises before it is checked against <see cref="InventoryLimits"/>.</summary>
public sealed class InventoryLimitsTests
{
    public static TheoryData<string, string, string> Beyond() => new()
    {
        { "amd.com/gpu", "4611686018427387904", "at most 1024 logical GPUs" },
        { "amd.com/gpu", "1025", "at most 1024 logical GPUs" },
        { "amd.com/gpu", "128", "128 physical MI300X GPUs; at most 64" },
        { "cpu", "100001", "allocatable cpu is \"100001\"" },
        { "cpu", "-1", "allocatable cpu is \"-1\"" },
        { "memory", "2Pi", "allocatable memory is \"2Pi\"" },
    };

    [Theory]
    [MemberData(nameof(Beyond))]
    public void Read_NodeBeyondALimit_IsBrokenWithTheReasonAndNoGpus(string resource, string amount, string reason)
    {
        var node = Mi300XSpx();
        node = node with { Allocatable = new Dictionary<string, string>(node.Allocatable) { [resource] = amount } };

        var inventory = InventoryReader.Read(node);

        Assert.Empty(inventory.Gpus);
        Assert.Contains(reason, inventory.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_UnknownModelWithMoreThanSixtyFourGpus_IsBroken()
    {
        var node = new NodeFacts { Name = "n", Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "65" } };

        Assert.Contains("at most 64 physical GPUs", InventoryReader.Read(node).Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_VramLabelBeyondTheLimit_IsBroken()
    {
        var node = new NodeFacts
        {
            Name = "n",
            Labels = new Dictionary<string, string> { ["amd.com/gpu.vram"] = "100000000G" },
            Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "1" },
        };

        Assert.Contains("amd.com/gpu.vram", InventoryReader.Read(node).Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"gpus":[{"index":0,"xcds":17}]}""", "xcds must be a whole number from 1 to 16")]
    [InlineData("""{"gpus":[{"index":0,"memory":"20Ti"}]}""", "at most 16777216 MiB per GPU")]
    [InlineData("""{"gpus":[{"index":64}]}""", "index must be a whole number from 0 to 63")]
    public void Read_TopologyAnnotationBeyondALimit_IsBroken(string topology, string reason)
    {
        var node = new NodeFacts { Name = "n", Annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-topology"] = topology } };

        Assert.Contains(reason, InventoryReader.Read(node).Error, StringComparison.Ordinal);
    }
}

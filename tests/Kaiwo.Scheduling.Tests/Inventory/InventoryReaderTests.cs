using Kaiwo.Scheduling.Inventory;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Inventory;

public sealed class InventoryReaderTests
{
    [Fact]
    public void Read_Mi300XSpxLabels_EightWholeGpusOnTwoNumaNodes()
    {
        var inventory = InventoryReader.Read(Mi300XSpx());

        Assert.Null(inventory.Error);
        Assert.Equal(InventorySource.Labels, inventory.Source);
        Assert.Equal(8, inventory.Gpus.Count);
        Assert.Equal(8, inventory.LogicalGpuCount);
        Assert.All(inventory.Gpus, g =>
        {
            Assert.Equal("MI300X", g.Model.Name);
            Assert.Equal(1, g.Partitions);
            Assert.Equal(196608, g.MemoryMiB);
            Assert.Equal(8, g.XcdCount);
            Assert.Equal("SPX/NPS1", g.ModeName);
        });
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1], inventory.Gpus.Select(g => g.NumaNode));
    }

    [Fact]
    public void Read_Mi300XCpxNps4Labels_EightGpusOfEightPartitionsInFourQuadrants()
    {
        var inventory = InventoryReader.Read(Mi300XCpx());

        Assert.Null(inventory.Error);
        Assert.Equal(8, inventory.Gpus.Count);
        Assert.Equal(64, inventory.LogicalGpuCount);
        var gpu = inventory.Gpus[3];
        Assert.Equal(8, gpu.Partitions);
        Assert.Equal(4, gpu.Quadrants);
        Assert.Equal(2, gpu.PartitionsPerQuadrant);
        Assert.Equal(24576, gpu.PartitionMemoryMiB);
        Assert.Equal(24, gpu.FirstDeviceId);
        Assert.Equal([5], gpu.XcdsOf(5));
        Assert.Equal(2, gpu.QuadrantOf(5));
        Assert.Equal("CPX/NPS4", gpu.ModeName);
    }

    [Fact]
    public void Read_CpxNodeLabelledWithPartitionVram_SameInventoryAsWholeGpuVram()
    {
        // AMD's labeller reports one partition's memory (24G) on real partitioned nodes; the captures say 192G.
        var whole = InventoryReader.Read(Mi300XCpx(vram: "192G"));
        var partition = InventoryReader.Read(Mi300XCpx(vram: "24G"));

        Assert.Equal(whole.Gpus.Select(g => (g.MemoryMiB, g.Partitions, g.Quadrants)), partition.Gpus.Select(g => (g.MemoryMiB, g.Partitions, g.Quadrants)));
    }

    [Fact]
    public void Read_BetaLabelForms_SameAsPlainLabels()
    {
        var beta = new NodeFacts
        {
            Name = "beta",
            Labels = new Dictionary<string, string>
            {
                ["beta.amd.com/gpu.product-name.AMD_Instinct_MI300X_OAM"] = "8",
                ["beta.amd.com/gpu.vram.24G"] = "64",
                ["beta.amd.com/gpu.device-id.74a1"] = "64",
                ["beta.amd.com/gpu.cu-count.38"] = "64",
                ["beta.amd.com/gpu.family.AI"] = "64",
                ["beta.amd.com/gpu.compute-memory-partition.cpx_nps4"] = "64",
            },
            Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "64" },
        };

        var inventory = InventoryReader.Read(beta);

        Assert.Null(inventory.Error);
        Assert.Equal(8, inventory.Gpus.Count);
        Assert.All(inventory.Gpus, g => Assert.Equal("CPX/NPS4", g.ModeName));
    }

    [Fact]
    public void Read_NoPartitionLabelButPartitionCuCount_InfersCpx()
    {
        var labels = new Dictionary<string, string>(Mi300XCpx().Labels);
        labels.Remove("amd.com/gpu.compute-memory-partition");

        var inventory = InventoryReader.Read(Mi300XCpx() with { Labels = labels });

        Assert.Equal(8, inventory.Gpus.Count);
        Assert.All(inventory.Gpus, g => Assert.Equal(8, g.Partitions));
    }

    [Fact]
    public void Read_UnknownModel_DegradesToPlainGpusWithLabelledMemory()
    {
        var node = new NodeFacts
        {
            Name = "mystery",
            Labels = new Dictionary<string, string> { ["amd.com/gpu.product-name"] = "AMD_Instinct_MI999", ["amd.com/gpu.vram"] = "96G" },
            Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "4" },
        };

        var inventory = InventoryReader.Read(node);

        Assert.Null(inventory.Error);
        Assert.Equal(4, inventory.Gpus.Count);
        Assert.All(inventory.Gpus, g =>
        {
            Assert.False(g.Model.IsKnown);
            Assert.Equal(98304, g.MemoryMiB);
            Assert.Equal(1, g.Partitions);
        });
    }

    [Theory]
    [InlineData("AMD_Instinct_MI325X_OAM", "MI325X", 262144)]
    [InlineData("AMD_Instinct_MI300A", "MI300A", 131072)]
    [InlineData("AMD_Instinct_MI250X_MI250", "MI250X", 65536)]
    [InlineData("AMD_Instinct_MI210", "MI210", 65536)]
    public void Read_KnownModels_UseBuiltInMemory(string productName, string model, long memory)
    {
        var node = new NodeFacts
        {
            Name = "n",
            Labels = new Dictionary<string, string> { ["amd.com/gpu.product-name"] = productName },
            Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "8" },
        };

        var gpu = InventoryReader.Read(node).Gpus[0];

        Assert.Equal(model, gpu.Model.Name);
        Assert.Equal(memory, gpu.MemoryMiB);
    }

    [Fact]
    public void Read_DeviceIdOnly_FindsTheModel()
    {
        var node = new NodeFacts
        {
            Name = "n",
            Labels = new Dictionary<string, string> { ["amd.com/gpu.device-id"] = "74a5" },
            Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "8" },
        };

        Assert.Equal("MI325X", InventoryReader.Read(node).Gpus[0].Model.Name);
    }

    [Fact]
    public void Read_CpuNode_HasNoGpus()
    {
        var inventory = InventoryReader.Read(CpuOnly());

        Assert.False(inventory.HasGpus);
        Assert.Null(inventory.Error);
        Assert.Equal(InventorySource.None, inventory.Source);
    }

    [Fact]
    public void Read_AllocatableNotAMultipleOfPartitions_IsBrokenWithReason()
    {
        var node = Mi300XCpx() with { Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "60" } };

        var inventory = InventoryReader.Read(node);

        Assert.NotNull(inventory.Error);
        Assert.Contains("60", inventory.Error, StringComparison.Ordinal);
        Assert.Contains("8 partitions", inventory.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_MalformedAllocatable_IsBroken()
    {
        var node = Mi300XSpx() with { Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "eight" } };

        Assert.Contains("eight", InventoryReader.Read(node).Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_TopologyAnnotation_WinsOverLabels()
    {
        var json = """
            {"gpus":[
              {"index":0,"model":"MI300X","computePartition":"cpx","memoryPartition":"nps4","numaNode":1},
              {"index":1,"model":"MI300X","computePartition":"spx","memoryPartition":"nps1","numaNode":0}]}
            """;
        var node = Mi300XSpx() with
        {
            Annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-topology"] = json },
            Allocatable = new Dictionary<string, string> { ["amd.com/gpu"] = "9" },
        };

        var inventory = InventoryReader.Read(node);

        Assert.Null(inventory.Error);
        Assert.Equal(InventorySource.TopologyAnnotation, inventory.Source);
        Assert.Equal(2, inventory.Gpus.Count);
        Assert.Equal(8, inventory.Gpus[0].Partitions);
        Assert.Equal(1, inventory.Gpus[0].NumaNode);
        Assert.Equal(1, inventory.Gpus[1].Partitions);
        Assert.Equal(8, inventory.Gpus[1].FirstDeviceId);
        Assert.Equal(9, inventory.LogicalGpuCount);
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("[]", "\"gpus\" array")]
    [InlineData("""{"gpus":[{"model":"MI300X"}]}""", "index")]
    [InlineData("""{"gpus":[{"index":0},{"index":0}]}""", "appears twice")]
    [InlineData("""{"gpus":[{"index":0,"computePartition":"zpx"}]}""", "zpx")]
    [InlineData("""{"gpus":[{"index":0,"memory":"lots"}]}""", "memory")]
    [InlineData("""{"gpus":[{"index":0,"model":"MI300X","computePartition":"dpx","memoryPartition":"nps4"}]}""", "nps4")]
    public void Read_BrokenTopologyAnnotation_IsBrokenNamingTheProblem(string json, string expected)
    {
        var node = Mi300XSpx() with
        {
            Annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-topology"] = json },
            Allocatable = new Dictionary<string, string>(),
        };

        var inventory = InventoryReader.Read(node);

        Assert.NotNull(inventory.Error);
        Assert.Contains("kaiwo.ai/gpu-topology", inventory.Error, StringComparison.Ordinal);
        Assert.Contains(expected, inventory.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_TopologyDisagreeingWithAllocatable_IsBroken()
    {
        var node = Mi300XSpx() with
        {
            Annotations = new Dictionary<string, string> { ["kaiwo.ai/gpu-topology"] = """{"gpus":[{"index":0},{"index":1}]}""" },
        };

        Assert.Contains("allocatable", InventoryReader.Read(node).Error, StringComparison.Ordinal);
    }
}

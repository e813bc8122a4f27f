using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Tests.Allocation;

public sealed class AllocationRecordTests
{
    private static readonly PodAllocation Quarter = new(
        "gpu-node-09",
        AllocationKind.Shared,
        GpuIsolation.Xcd,
        [new GpuGrant(2, [4, 5], [4, 5], [20, 21], 250, 49152)]);

    [Fact]
    public void Write_QuarterOnCpx_IsTheDocumentedCompactJson()
    {
        Assert.Equal(
            """{"version":1,"node":"gpu-node-09","kind":"shared","isolation":"xcd","gpus":[{"index":2,"partitions":[4,5],"xcds":[4,5],"devices":[20,21],"computeMilli":250,"memoryMiB":49152}]}""",
            AllocationRecord.Write(Quarter));
        Assert.Equal("20,21", Quarter.VisibleDevices);
    }

    [Fact]
    public void TryRead_WhatWriteWrote_GivesTheSameAllocation()
    {
        Assert.True(AllocationRecord.TryRead(AllocationRecord.Write(Quarter), out var read, out var error), error);
        Assert.True(read!.SameAs(Quarter));
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[]", "object")]
    [InlineData("""{"version":2,"node":"n","kind":"whole","gpus":[]}""", "version")]
    [InlineData("""{"version":"1","node":"n","kind":"whole","gpus":[]}""", "version")]
    [InlineData("""{"version":1,"node":"n","kind":"whole","gpus":[{"index":"0","partitions":[],"xcds":[],"devices":[0],"computeMilli":1000,"memoryMiB":1}]}""", "index")]
    [InlineData("""{"version":1,"node":"n","kind":"whole","gpus":[{"index":0,"partitions":["a"],"xcds":[],"devices":[0],"computeMilli":1000,"memoryMiB":"1"}]}""", "index")]
    [InlineData("""{"version":1,"kind":"whole","gpus":[]}""", "node")]
    [InlineData("""{"version":1,"node":"n","kind":"half","gpus":[]}""", "kind")]
    [InlineData("""{"version":1,"node":"n","kind":"whole","isolation":"magic","gpus":[]}""", "isolation")]
    [InlineData("""{"version":1,"node":"n","kind":"whole","gpus":[]}""", "non-empty")]
    [InlineData("""{"version":1,"node":"n","kind":"whole","gpus":[{"index":0}]}""", "computeMilli")]
    [InlineData("""{"version":1,"node":"n","kind":"whole","gpus":[{"index":0,"partitions":[],"xcds":[],"devices":[0],"computeMilli":1001,"memoryMiB":1}]}""", "computeMilli")]
    public void TryRead_Malformed_SaysWhatIsWrong(string json, string expected)
    {
        Assert.False(AllocationRecord.TryRead(json, out var read, out var error));
        Assert.Null(read);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}

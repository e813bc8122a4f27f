using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Scheduling.Tests.Requests;

/// <summary>The fit cache keeps an ask's <see cref="GpuRequest.Shape"/> and compares it: it must tell apart exactly what <see cref="GpuRequest.SameShape"/> does.</summary>
public sealed class AskShapeTests
{
    private static readonly GpuRequest Base = new() { Kind = GpuAskKind.Shared, ComputeMilli = 250, MemoryMiB = 4096 };

    public static TheoryData<string> Fields() => ["kind", "whole", "compute", "no-compute", "memory", "no-memory", "exclusive", "isolation", "placement"];

    [Theory]
    [MemberData(nameof(Fields))]
    public void SameShape_AsksDifferingInOneField_AreNotTheSameShape(string field)
    {
        var other = field switch
        {
            "kind" => Base with { Kind = GpuAskKind.Whole },
            "whole" => Base with { WholeCount = 1 },
            "compute" => Base with { ComputeMilli = 500 },
            "no-compute" => Base with { ComputeMilli = null },
            "memory" => Base with { MemoryMiB = 8192 },
            "no-memory" => Base with { MemoryMiB = null },
            "exclusive" => Base with { Exclusive = true },
            "isolation" => Base with { Isolation = GpuIsolation.Mps },
            _ => Base with { Placement = PlacementPreference.Spread },
        };

        Assert.False(Base.SameShape(other));
        Assert.NotEqual(Base.Shape, other.Shape);
    }

    [Fact]
    public void SameShape_EqualAmountsWithOtherErrors_IsTheSameShape()
    {
        var other = Base with { Errors = [new RequestError("kaiwo.ai/gpu-fraction", "x", "a number")] };

        Assert.True(Base.SameShape(other));
        Assert.Equal(Base.Shape, other.Shape);
    }
}

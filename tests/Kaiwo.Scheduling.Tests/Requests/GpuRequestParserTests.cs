using Kaiwo.Scheduling.Requests;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Requests;

public sealed class GpuRequestParserTests
{
    [Fact]
    public void Parse_NoAnnotationsNoGpus_AsksForNoGpu()
    {
        var request = Parse(Pod("cpu"));

        Assert.True(request.IsValid);
        Assert.Equal(GpuAskKind.None, request.Kind);
    }

    [Theory]
    [InlineData("0.5", 500)]
    [InlineData("0.25", 250)]
    [InlineData("1", 1000)]
    [InlineData("1.0", 1000)]
    [InlineData("0.125", 125)]
    [InlineData("0.1", 100)]
    public void Parse_ValidFraction_KeepsThousandths(string fraction, int milli)
    {
        var request = Parse(Fraction("f", fraction));

        Assert.True(request.IsValid);
        Assert.Equal(GpuAskKind.Shared, request.Kind);
        Assert.Equal(milli, request.ComputeMilli);
        Assert.Null(request.MemoryMiB);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("NaN")]
    [InlineData("-0.5")]
    [InlineData("0")]
    [InlineData("0.0")]
    [InlineData("1.5")]
    [InlineData("0.1234")]
    [InlineData("0.05")]
    [InlineData("")]
    [InlineData(" 0.5")]
    [InlineData("1e-1")]
    [InlineData(".5")]
    public void Parse_BadFraction_IsRefusedNamingAnnotationValueAndAccepted(string fraction)
    {
        var request = Parse(Fraction("f", fraction));

        var error = Assert.Single(request.Errors);
        Assert.Equal("kaiwo.ai/gpu-fraction", error.Field);
        Assert.Equal(fraction, error.Value);
        Assert.Contains("(0, 1]", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("at least 0.1", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FractionBelowConfiguredMinimum_IsRefused()
    {
        var request = GpuRequestParser.Parse(Fraction("f", "0.2"), new RequestOptions { MinimumFractionMilli = 250 });

        Assert.False(request.IsValid);
        Assert.Contains("at least 0.25", request.Errors[0].Accepted, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("4000", 4000)]
    [InlineData("24Gi", 24576)]
    [InlineData("512Mi", 512)]
    [InlineData("24G", 22889)]
    [InlineData("1.5Gi", 1536)]
    [InlineData("64Ti", 67108864)]
    public void Parse_GpuMemory_ReadsMiBOrQuantity(string memory, long mib)
    {
        var request = Parse(Pod("m", new() { ["kaiwo.ai/gpu-memory"] = memory }));

        Assert.True(request.IsValid);
        Assert.Equal(GpuAskKind.Shared, request.Kind);
        Assert.Equal(mib, request.MemoryMiB);
        Assert.Null(request.ComputeMilli);
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("0")]
    [InlineData("-24Gi")]
    [InlineData("24 Gi")]
    [InlineData("1.5")]
    [InlineData("1e3")]
    [InlineData("1E3")]
    [InlineData("24000.0")]
    [InlineData("100m")]
    [InlineData(".5Gi")]
    [InlineData("65Ti")]
    [InlineData("99999999999999999999")]
    public void Parse_BadGpuMemory_IsRefused(string memory)
    {
        var request = Parse(Pod("m", new() { ["kaiwo.ai/gpu-memory"] = memory }));

        var error = Assert.Single(request.Errors);
        Assert.Equal("kaiwo.ai/gpu-memory", error.Field);
        Assert.Equal(memory, error.Value);
        Assert.Contains($"\"{memory}\" is not accepted", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cpu", "-1")]
    [InlineData("cpu", "1e400")]
    [InlineData("cpu", "100001")]
    [InlineData("memory", "abc")]
    [InlineData("memory", "2Pi")]
    public void Parse_CpuOrMemoryTheCoreCannotCount_IsRefusedNamingTheContainerAndValue(string resource, string value)
    {
        var pod = Pod("r") with { Containers = [new ContainerFacts("main", new Dictionary<string, string> { [resource] = value }, new Dictionary<string, string>())] };

        var error = Assert.Single(Parse(pod).Errors);

        Assert.Equal($"container \"main\" resources.requests.{resource}", error.Field);
        Assert.Equal(value, error.Value);
    }

    [Fact]
    public void ComputeMilliOn_MemoryAlone_ImpliesShareRoundedUp()
    {
        var request = Parse(Pod("m", new() { ["kaiwo.ai/gpu-memory"] = "24000" }));

        // 24000 / 196608 = 0.1220..., rounded up to 0.123 so that the share is never understated.
        Assert.Equal(123, request.ComputeMilliOn(196608));
        Assert.Equal(24000, request.MemoryMiBOn(196608));
    }

    [Fact]
    public void MemoryMiBOn_FractionAlone_RoundsDownSoTenTenthsFillAGpu()
    {
        var request = Parse(Fraction("f", "0.1"));

        Assert.Equal(19660, request.MemoryMiBOn(196608));
        Assert.True(request.MemoryMiBOn(196608) * 10 <= 196608);
    }

    [Theory]
    [InlineData("time-slicing", GpuIsolation.TimeSlicing)]
    [InlineData("mps", GpuIsolation.Mps)]
    [InlineData("xcd", GpuIsolation.Xcd)]
    public void Parse_Isolation_IsRead(string value, GpuIsolation isolation)
    {
        Assert.Equal(isolation, Parse(Fraction("f", "0.5", value)).Isolation);
    }

    [Theory]
    [InlineData("kaiwo.ai/gpu-isolation", "hardware")]
    [InlineData("kaiwo.ai/gpu-isolation", "XCD")]
    [InlineData("kaiwo.ai/placement", "pack")]
    [InlineData("kaiwo.ai/gpu-sharing", "yes")]
    public void Parse_UnknownEnumValue_IsRefusedWithAcceptedValues(string annotation, string value)
    {
        var request = Parse(Pod("p", new() { ["kaiwo.ai/gpu-fraction"] = "0.5", [annotation] = value }));

        var error = Assert.Single(request.Errors);
        Assert.Equal(annotation, error.Field);
        Assert.Equal(value, error.Value);
        Assert.Contains('"', error.Accepted);
    }

    [Fact]
    public void Parse_BadPlacementOnCpuPod_IsRefusedToo()
    {
        var request = Parse(Pod("cpu", new() { ["kaiwo.ai/placement"] = "random" }));

        Assert.False(request.IsValid);
    }

    [Fact]
    public void Parse_SpreadPlacement_IsRead()
    {
        var request = Parse(Pod("p", new() { ["kaiwo.ai/gpu-fraction"] = "0.5", ["kaiwo.ai/placement"] = "spread" }));

        Assert.Equal(PlacementPreference.Spread, request.Placement);
    }

    [Fact]
    public void Parse_WholeGpusFromLimitsOnly_CountsThem()
    {
        var pod = Pod("w") with
        {
            Containers = [new ContainerFacts("main", new Dictionary<string, string>(), new Dictionary<string, string> { ["amd.com/gpu"] = "4" })],
        };

        var request = Parse(pod);

        Assert.Equal(GpuAskKind.Whole, request.Kind);
        Assert.Equal(4, request.WholeCount);
    }

    [Fact]
    public void Parse_InitContainerLargerThanApps_EffectiveRequestIsTheInitContainer()
    {
        // The captured multi-container pod: two app containers without GPUs and an init container with one.
        var pod = Pod("multi") with
        {
            Containers =
            [
                new ContainerFacts("trainer", new Dictionary<string, string> { ["cpu"] = "8" }, new Dictionary<string, string>()),
                new ContainerFacts("log-sidecar", new Dictionary<string, string> { ["cpu"] = "100m" }, new Dictionary<string, string>()),
            ],
            InitContainers = [new ContainerFacts("gpu-warmup", new Dictionary<string, string> { ["amd.com/gpu"] = "1" }, new Dictionary<string, string> { ["amd.com/gpu"] = "1" })],
        };

        var request = Parse(pod);

        Assert.Equal(GpuAskKind.Whole, request.Kind);
        Assert.Equal(1, request.WholeCount);
    }

    [Fact]
    public void Parse_AppContainersSum_WinsOverSmallerInit()
    {
        var gpu = (string n) => new ContainerFacts(n, new Dictionary<string, string> { ["amd.com/gpu"] = "2" }, new Dictionary<string, string>());
        var pod = Pod("sum") with { Containers = [gpu("a"), gpu("b")], InitContainers = [gpu("init")] };

        Assert.Equal(4, Parse(pod).WholeCount);
    }

    [Fact]
    public void Parse_RestartableInitSidecar_IsAddedToApps()
    {
        var gpu = (string n, bool sidecar) => new ContainerFacts(n, new Dictionary<string, string> { ["amd.com/gpu"] = "1" }, new Dictionary<string, string>(), sidecar);
        var pod = Pod("sidecar") with { Containers = [gpu("app", false)], InitContainers = [gpu("proxy", true)] };

        Assert.Equal(2, Parse(pod).WholeCount);
    }

    [Fact]
    public void Parse_FractionWithOneGpuSlot_IsTheFraction()
    {
        var pod = Pod("slot", new() { ["kaiwo.ai/gpu-fraction"] = "0.5" }, gpus: 1);

        var request = Parse(pod);

        Assert.Equal(GpuAskKind.Shared, request.Kind);
        Assert.Equal(500, request.ComputeMilli);
    }

    [Fact]
    public void Parse_FractionWithTwoGpus_IsRefused()
    {
        var request = Parse(Pod("two", new() { ["kaiwo.ai/gpu-fraction"] = "0.5" }, gpus: 2));

        var error = Assert.Single(request.Errors);
        Assert.Equal("amd.com/gpu", error.Field);
        Assert.Equal("2", error.Value);
    }

    [Fact]
    public void Parse_SharingFalseWithFraction_IsExclusive()
    {
        var request = Parse(Pod("x", new() { ["kaiwo.ai/gpu-fraction"] = "0.5", ["kaiwo.ai/gpu-sharing"] = "false" }));

        Assert.True(request.Exclusive);
        Assert.Equal(GpuAskKind.Shared, request.Kind);
    }

    [Fact]
    public void Parse_SharingFalseWithWholeGpu_IsAWholeGpu()
    {
        // The captured no-sharing pod: amd.com/gpu 1 and gpu-sharing "false".
        var request = Parse(Pod("no-sharing", new() { ["kaiwo.ai/gpu-sharing"] = "false" }, gpus: 1));

        Assert.Equal(GpuAskKind.Whole, request.Kind);
        Assert.Equal(1, request.WholeCount);
    }

    [Fact]
    public void Parse_NonIntegerGpuResource_IsRefusedNamingTheContainer()
    {
        var pod = Pod("half") with
        {
            Containers = [new ContainerFacts("main", new Dictionary<string, string> { ["amd.com/gpu"] = "500m" }, new Dictionary<string, string>())],
        };

        var error = Assert.Single(Parse(pod).Errors);
        Assert.Contains("main", error.Field, StringComparison.Ordinal);
        Assert.Equal("500m", error.Value);
    }

    [Fact]
    public void Parse_SeveralBadValues_ListsEveryOne()
    {
        var request = Parse(Pod("bad", new()
        {
            ["kaiwo.ai/gpu-fraction"] = "2",
            ["kaiwo.ai/gpu-isolation"] = "none",
            ["kaiwo.ai/placement"] = "random",
        }));

        Assert.Equal(3, request.Errors.Count);
    }
}

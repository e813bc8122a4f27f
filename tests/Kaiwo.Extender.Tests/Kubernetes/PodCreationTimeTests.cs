using System.Text.Json;
using Kaiwo.Extender.Kubernetes;

namespace Kaiwo.Extender.Tests.Kubernetes;

/// <summary>A pod's creation time, read from metadata.creationTimestamp: how long a pending pod has waited.</summary>
public sealed class PodCreationTimeTests
{
    private static JsonElement Pod(string creation) =>
        JsonDocument.Parse($$$"""{"metadata":{"name":"large","namespace":"team-a","uid":"u1","creationTimestamp":{{{creation}}}}}""").RootElement;

    [Fact]
    public void ReadPod_CreationTimestamp_IsTheCreationTime()
    {
        var pod = ObjectJson.ReadPod(Pod("\"2026-12-02T05:49:15Z\""), "$");

        Assert.Equal(new DateTimeOffset(2026, 12, 2, 5, 49, 15, TimeSpan.Zero), pod.CreatedAt);
    }

    [Theory]
    [InlineData("null")]
    [InlineData("42")]
    [InlineData("\"yesterday\"")]
    [InlineData("{}")]
    public void ReadPod_CreationTimestampNullOrNotATime_HasNoCreationTimeAndIsReadAsUsual(string creation)
    {
        var pod = ObjectJson.ReadPod(Pod(creation), "$");

        Assert.Null(pod.CreatedAt);
        Assert.Equal("team-a/large", pod.Key);
    }

    [Fact]
    public void ReadPod_NoCreationTimestamp_HasNoCreationTime()
    {
        Assert.Null(ObjectJson.ReadPod(JsonDocument.Parse("""{"metadata":{"name":"p"}}""").RootElement, "$").CreatedAt);
    }
}

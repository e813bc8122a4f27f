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

    [Fact]
    public void ReadPod_NullOrNoCreationTimestamp_HasNoCreationTime()
    {
        Assert.Null(ObjectJson.ReadPod(Pod("null"), "$").CreatedAt);
        Assert.Null(ObjectJson.ReadPod(JsonDocument.Parse("""{"metadata":{"name":"p"}}""").RootElement, "$").CreatedAt);
    }

    [Theory]
    [InlineData("42", "the number 42")]
    [InlineData("\"yesterday\"", "the string \"yesterday\"")]
    public void ReadPod_CreationTimestampNotATime_RefusedNamingTheFieldAndWhatIsAccepted(string creation, string got)
    {
        var ex = Assert.Throws<ObjectReadException>(() => ObjectJson.ReadPod(Pod(creation), "$"));

        Assert.Contains("$.metadata.creationTimestamp", ex.Message, StringComparison.Ordinal);
        Assert.Contains("an RFC 3339 time", ex.Message, StringComparison.Ordinal);
        Assert.Contains(got, ex.Message, StringComparison.Ordinal);
    }
}

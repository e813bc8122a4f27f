using Kaiwo.Scheduling.Gangs;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Gangs;

public sealed class PodGroupTests
{
    [Fact]
    public void Read_KaiwoAnnotations_ReturnsTheGroupItsSizeAndSource()
    {
        var group = PodGroup.Read(GangPods.Member("train", 0, 8));

        Assert.NotNull(group);
        Assert.Equal("team-a/train", group.Key);
        Assert.Equal(8, group.MinMembers);
        Assert.Equal(PodGroupSource.Kaiwo, group.Source);
        Assert.Null(group.Error);
    }

    [Fact]
    public void Read_KueuePodGroupLabelAndTotalCount_IsReadTheSameWay()
    {
        var pod = Pod("w-0", new Dictionary<string, string> { ["kueue.x-k8s.io/pod-group-total-count"] = "4" }, gpus: 1) with
        {
            Labels = new Dictionary<string, string> { ["kueue.x-k8s.io/pod-group-name"] = "job-7" },
        };

        var group = PodGroup.Read(pod);

        Assert.NotNull(group);
        Assert.Equal("team-a/job-7", group.Key);
        Assert.Equal(4, group.MinMembers);
        Assert.Equal(PodGroupSource.Kueue, group.Source);
    }

    [Fact]
    public void Read_BothKaiwoAndKueueMetadata_KaiwoAnnotationDecides()
    {
        var pod = GangPods.Member("train", 0, 8) with
        {
            Labels = new Dictionary<string, string> { ["kueue.x-k8s.io/pod-group-name"] = "other" },
        };

        Assert.Equal("team-a/train", PodGroup.Read(pod)!.Key);
    }

    [Fact]
    public void Read_PodWithoutGroup_ReturnsNull()
    {
        Assert.Null(PodGroup.Read(Pod("single", gpus: 4)));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("eight")]
    [InlineData("1.5")]
    [InlineData(" 8")]
    [InlineData("10001")]
    [InlineData("99999999999")]
    public void Read_SizeNotAWholeNumberInRange_ErrorNamesTheFieldTheValueAndWhatIsAccepted(string size)
    {
        var pod = Pod("w-0", new Dictionary<string, string> { ["kaiwo.ai/pod-group"] = "train", ["kaiwo.ai/pod-group-size"] = size });

        var group = PodGroup.Read(pod)!;

        Assert.Equal($"kaiwo.ai/pod-group-size is \"{size}\"; it must be a whole number from 1 to 10000", group.Error);
        Assert.Equal(0, group.MinMembers);
    }

    [Fact]
    public void Read_KueueGroupWithoutTotalCount_ErrorNamesTheMissingAnnotation()
    {
        var pod = Pod("w-0") with { Labels = new Dictionary<string, string> { ["kueue.x-k8s.io/pod-group-name"] = "job-7" } };

        var group = PodGroup.Read(pod)!;

        Assert.StartsWith("kueue.x-k8s.io/pod-group-total-count is missing", group.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_EmptyGroupName_ErrorNamesTheAnnotation()
    {
        var pod = Pod("w-0", new Dictionary<string, string> { ["kaiwo.ai/pod-group"] = "", ["kaiwo.ai/pod-group-size"] = "2" });

        Assert.Equal("kaiwo.ai/pod-group is \"\"; a group name is 1 to 253 characters", PodGroup.Read(pod)!.Error);
    }
}

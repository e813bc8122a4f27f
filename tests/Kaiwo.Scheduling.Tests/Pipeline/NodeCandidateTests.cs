using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Pipeline;

namespace Kaiwo.Scheduling.Tests.Pipeline;

/// <summary>The fit summary a candidate keeps beside its usage is always its own usage's.</summary>
public sealed class NodeCandidateTests
{
    [Fact]
    public void Summary_CandidateMadeWithNewUsage_IsTheNewUsagesSummary()
    {
        var facts = TestCluster.Mi300XSpx();
        var candidate = new NodeCandidate(facts, TestCluster.Usage(facts));
        Assert.Same(candidate.Usage.Summary, candidate.Summary);

        var moved = candidate with { Usage = TestCluster.Usage(facts) };

        Assert.NotSame(candidate.Usage, moved.Usage);
        Assert.Same(moved.Usage.Summary, moved.Summary);
        Assert.NotSame(candidate.Summary, moved.Summary);
    }

    [Fact]
    public void Equals_OneCandidateWithItsSummaryReadAndOneWithout_AreEqual()
    {
        var facts = TestCluster.Mi300XSpx();
        var usage = TestCluster.Usage(facts);
        var read = new NodeCandidate(facts, usage);
        _ = read.Summary;

        var unread = new NodeCandidate(facts, usage);

        Assert.Equal(read, unread);
        Assert.Equal(read.GetHashCode(), unread.GetHashCode());
    }

    [Fact]
    public void UsedFraction_CandidateMadeWithNewUsage_IsTheNewUsagesAsHasGpusIs()
    {
        var facts = TestCluster.Mi300XSpx();
        var empty = new NodeCandidate(facts, TestCluster.Usage(facts));
        var usage = empty.Usage.With(new PodHold("u1", "ns/p1", GpuPlacer.Fit(empty.Usage, TestCluster.Parse(TestCluster.Pod("p1", gpus: 2)), new PlacementOptions()).Allocation!));

        var busy = empty with { Usage = usage };
        var cpu = empty with { Usage = TestCluster.Usage(TestCluster.CpuOnly()) };

        Assert.Equal((true, 0.0), (empty.HasGpus, empty.UsedFraction));
        Assert.Equal((usage.HasGpus, usage.UsedFraction()), (busy.HasGpus, busy.UsedFraction));
        Assert.True(busy.UsedFraction > 0);
        Assert.False(cpu.HasGpus);
    }
}

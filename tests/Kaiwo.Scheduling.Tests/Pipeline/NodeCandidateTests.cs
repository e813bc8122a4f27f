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
}

using Kaiwo.Scheduling.Queues;

namespace Kaiwo.Scheduling.Tests.Queues;

public sealed class QueueReclaimTests
{
    private const long Gpu = 1000;

    // 16 GPUs; a and b have quota 4 and weight 1. a holds 12 (and wants no more), b holds 2 and waits for 6 more.
    // Fair share: quotas 4 + 4, surplus 8 split 1:1 → a 8, b 8. a is 4 above its share, b 6 below.
    private static QueueSnapshot Snapshot(ReclaimStrategy strategy = ReclaimStrategy.Aggressive, long aUsage = 12, long bUsage = 2, long bPending = 6) =>
        QueueSnapshot.Build(
            QueueTree.Build(
                [
                    new QueueSpec { Name = "a", Gpu = new QueueResourceSpec(4 * Gpu) },
                    new QueueSpec { Name = "b", Gpu = new QueueResourceSpec(4 * Gpu), Reclaim = strategy },
                ],
                "default"),
            new ResourceVector(16 * Gpu, 0, 0),
            new Dictionary<string, ResourceVector> { ["a"] = new(aUsage * Gpu, 0, 0), ["b"] = new(bUsage * Gpu, 0, 0) },
            new Dictionary<string, ResourceVector> { ["b"] = new(bPending * Gpu, 0, 0) });

    private static VictimCandidate Victim(string uid, string queue, long gpus, int priority = 0) => new(uid, queue, priority, new ResourceVector(gpus * Gpu, 0, 0));

    private static readonly ResourceVector OneGpu = new(Gpu, 0, 0);

    [Fact]
    public void Allowed_SameQueue_FollowsPodPriority()
    {
        var allowed = QueueReclaim.Allowed(Snapshot(), "b", 100, OneGpu, [Victim("low", "b", 1, priority: 10), Victim("peer", "b", 1, priority: 100)]);

        Assert.Equal(["low"], allowed.Select(v => v.Uid));
    }

    [Fact]
    public void Allowed_OtherQueueAboveItsShare_IsReclaimedDownToTheShareNotFurther()
    {
        // a holds 12 with a share of 8: two victims of 2 GPUs bring it to 8; the third would be below the share.
        var victims = new[] { Victim("v1", "a", 2), Victim("v2", "a", 2), Victim("v3", "a", 2) };

        var allowed = QueueReclaim.Allowed(Snapshot(), "b", 0, OneGpu, victims);

        Assert.Equal(["v1", "v2"], allowed.Select(v => v.Uid));
    }

    [Fact]
    public void Allowed_VictimQueueAtItsFairShare_IsNotReclaimed()
    {
        var allowed = QueueReclaim.Allowed(Snapshot(aUsage: 8), "b", 0, OneGpu, [Victim("v", "a", 2)]);

        Assert.Empty(allowed);
    }

    [Fact]
    public void Allowed_PreemptorAlreadyAtItsShare_ReclaimsNothingFromOthers()
    {
        // b holds 8 of its share 8 and waits for nothing: it may not take from a.
        var allowed = QueueReclaim.Allowed(Snapshot(bUsage: 8, bPending: 0), "b", 0, OneGpu, [Victim("v", "a", 2)]);

        Assert.Empty(allowed);
    }

    [Fact]
    public void Allowed_BigVictim_AggressiveDownToQuotaConservativeOnlyDownToShare()
    {
        // a holds 12 (share 8, quota 4). A victim of 6 GPUs would leave 6: at least the quota, below the share.
        var big = Victim("big", "a", 6);

        Assert.Equal(["big"], QueueReclaim.Allowed(Snapshot(ReclaimStrategy.Aggressive), "b", 0, OneGpu, [big]).Select(v => v.Uid));
        Assert.Empty(QueueReclaim.Allowed(Snapshot(ReclaimStrategy.Conservative), "b", 0, OneGpu, [big]));
    }

    [Fact]
    public void Allowed_VictimThatWouldTakeItsQueueBelowQuota_IsNeverOffered()
    {
        // A 10-GPU victim would leave a with 2, below its quota 4, whatever the strategy.
        Assert.Empty(QueueReclaim.Allowed(Snapshot(ReclaimStrategy.Aggressive), "b", 0, OneGpu, [Victim("huge", "a", 10)]));
    }

    [Fact]
    public void Allowed_TwoQueuesAboveTheirShares_TheLargerDominantShareGivesFirst()
    {
        // 12 GPUs and 100 cores, all 12 GPUs held: gpu-heavy 7 (dominant share 7/12 = 0.58), cpu-heavy 5 GPUs and
        // 80 cores (dominant 0.8). b waits for 8. GPU fair shares: 12 split 1:1:1 → 4 each, so both holders are above
        // theirs and b is below. The victims are listed gpu-heavy first; cpu-heavy's must come out first.
        var snapshot = QueueSnapshot.Build(
            QueueTree.Build(
                [new QueueSpec { Name = "gpu-heavy" }, new QueueSpec { Name = "cpu-heavy" }, new QueueSpec { Name = "b" }],
                "default"),
            new ResourceVector(12 * Gpu, 100_000, 0),
            new Dictionary<string, ResourceVector>
            {
                ["gpu-heavy"] = new(7 * Gpu, 0, 0),
                ["cpu-heavy"] = new(5 * Gpu, 80_000, 0),
                ["b"] = new(0, 0, 0),
            },
            new Dictionary<string, ResourceVector> { ["b"] = new(8 * Gpu, 0, 0) });

        var allowed = QueueReclaim.Allowed(snapshot, "b", 0, OneGpu, [Victim("g1", "gpu-heavy", 1), Victim("c1", "cpu-heavy", 1)]);

        Assert.Equal(["c1", "g1"], allowed.Select(v => v.Uid));
        Assert.True(snapshot.DominantShare("cpu-heavy") > snapshot.DominantShare("gpu-heavy"));
    }
}

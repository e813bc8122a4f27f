using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Queues;

namespace Kaiwo.Scheduling.Tests.Queues;

public sealed class QueueAdmissionTests
{
    private const long Gpu = 1000;

    private static QueueSpec Queue(string name, long quota = 0, long limit = -1, string? parent = null, int weight = 1) => new()
    {
        Name = name,
        Parent = parent,
        Gpu = new QueueResourceSpec(quota * Gpu, weight, limit < 0 ? -1 : limit * Gpu),
    };

    private static QueueSnapshot Snapshot(long capacity, Dictionary<string, long> usage, Dictionary<string, long> pending, params QueueSpec[] queues) =>
        QueueSnapshot.Build(
            QueueTree.Build(queues, "default"),
            new ResourceVector(capacity * Gpu, 0, 0),
            usage.ToDictionary(p => p.Key, p => new ResourceVector(p.Value * Gpu, 0, 0)),
            pending.ToDictionary(p => p.Key, p => new ResourceVector(p.Value * Gpu, 0, 0)));

    private static ResourceVector Gpus(double n) => new((long)(n * Gpu), 0, 0);

    [Fact]
    public void Check_WithinQuota_IsAdmitted()
    {
        var snapshot = Snapshot(100, new() { ["a"] = 5 }, new(), Queue("a", quota: 10), Queue("b", quota: 10));

        Assert.Null(QueueAdmission.Check(snapshot, "a", Gpus(5)));
    }

    [Fact]
    public void Check_OverItsLimit_IsUnresolvableNamingQueueResourceLimitUsageAndRequest()
    {
        var snapshot = Snapshot(100, new() { ["a"] = 19 }, new(), Queue("a", quota: 10, limit: 20));

        var refusal = QueueAdmission.Check(snapshot, "a", Gpus(1.5));

        Assert.NotNull(refusal);
        Assert.Equal(FitOutcome.NeverFits, refusal.Outcome);
        Assert.Equal("queue-limit", refusal.Code);
        Assert.Contains("queue \"a\" would exceed its gpu limit of 20 GPU: usage 19 GPU + request 1.5 GPU", refusal.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ParentLimitWhileTheChildIsUnderItsQuota_StopsTheChild()
    {
        // team is at 4 of its quota 10, but dept (limit 12) already holds 11 through its other team.
        var snapshot = Snapshot(
            100,
            new() { ["team"] = 4, ["other-team"] = 7 },
            new(),
            Queue("dept", limit: 12),
            Queue("team", quota: 10, parent: "dept"),
            Queue("other-team", parent: "dept"));

        var refusal = QueueAdmission.Check(snapshot, "team", Gpus(2));

        Assert.Contains("queue \"dept\" would exceed its gpu limit of 12 GPU", refusal!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AboveQuotaWithinFairShare_IsAdmitted()
    {
        // 100 GPUs, a and b quota 10 each, both want 50: fair shares 50/50. a at 30 asks 5 more: above quota, within share.
        var snapshot = Snapshot(100, new() { ["a"] = 30, ["b"] = 10 }, new() { ["a"] = 20, ["b"] = 40 }, Queue("a", quota: 10), Queue("b", quota: 10));

        Assert.Null(QueueAdmission.Check(snapshot, "a", Gpus(5)));
    }

    [Fact]
    public void Check_AboveFairShareWhileAnotherQueueWaits_IsRefusedAsFullNow()
    {
        // Fair shares 50/50; a already holds 50, b holds 10 and waits for 40 more.
        var snapshot = Snapshot(100, new() { ["a"] = 50, ["b"] = 10 }, new() { ["a"] = 10, ["b"] = 40 }, Queue("a", quota: 10), Queue("b", quota: 10));

        var refusal = QueueAdmission.Check(snapshot, "a", Gpus(1));

        Assert.Equal(FitOutcome.FullNow, refusal!.Outcome);
        Assert.Equal("queue-fair-share", refusal.Code);
        Assert.Contains("fair share of 50 GPU", refusal.Reason, StringComparison.Ordinal);
        Assert.Contains("queue \"b\" is below its fair share and waiting", refusal.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AboveFairShareOnIdleCapacity_IsAdmitted()
    {
        // b wants nothing more: the idle GPUs may go to a beyond its fair share.
        var snapshot = Snapshot(100, new() { ["a"] = 60, ["b"] = 10 }, new() { ["a"] = 0, ["b"] = 0 }, Queue("a", quota: 10), Queue("b", quota: 10));

        Assert.Null(QueueAdmission.Check(snapshot, "a", Gpus(20)));
    }

    [Fact]
    public void Check_QuotaLoweredBelowUsage_NewAdmissionsStopUntilUsageFalls()
    {
        // a's quota was lowered to 5 while it holds 30; b is short of its fair share: nothing is evicted, a gets nothing new.
        var snapshot = Snapshot(40, new() { ["a"] = 30, ["b"] = 5 }, new() { ["b"] = 30 }, Queue("a", quota: 5), Queue("b", quota: 30));

        Assert.NotNull(QueueAdmission.Check(snapshot, "a", Gpus(1)));
        Assert.Equal(30_000, snapshot.UsageOf("a").Gpu);
    }

    [Fact]
    public void DominantShare_GpuHeavyAndCpuHeavy_ComparesTheirLargestShares()
    {
        var tree = QueueTree.Build([new QueueSpec { Name = "gpu-team" }, new QueueSpec { Name = "cpu-team" }], "default");
        var snapshot = QueueSnapshot.Build(
            tree,
            new ResourceVector(16_000, 100_000, 0),
            new Dictionary<string, ResourceVector> { ["gpu-team"] = new(8_000, 10_000, 0), ["cpu-team"] = new(1_000, 60_000, 0) },
            new Dictionary<string, ResourceVector>());

        Assert.Equal(0.5, snapshot.DominantShare("gpu-team"), 3); // 8 of 16 GPUs
        Assert.Equal(0.6, snapshot.DominantShare("cpu-team"), 3); // 60 of 100 cores
    }
}

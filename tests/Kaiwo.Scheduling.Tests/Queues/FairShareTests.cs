using Kaiwo.Scheduling.Queues;

namespace Kaiwo.Scheduling.Tests.Queues;

/// <summary>Fair share against worked examples; the arithmetic is in the comments, in GPUs (1 GPU = 1000 units).</summary>
public sealed class FairShareTests
{
    private const long Gpu = 1000;

    private static QueueSpec Queue(string name, long quota = 0, int weight = 1, long limit = -1, int priority = 0, string? parent = null) => new()
    {
        Name = name,
        Parent = parent,
        Priority = priority,
        Gpu = new QueueResourceSpec(quota * Gpu, weight, limit < 0 ? -1 : limit * Gpu),
    };

    private static IReadOnlyDictionary<string, ResourceVector> Shares(long capacityGpus, Dictionary<string, long> demandGpus, params QueueSpec[] queues)
    {
        var tree = QueueTree.Build(queues, "default");
        var demand = demandGpus.ToDictionary(p => p.Key, p => new ResourceVector(p.Value * Gpu, 0, 0));
        return FairShare.Compute(tree, new ResourceVector(capacityGpus * Gpu, 0, 0), demand);
    }

    [Fact]
    public void Compute_TwoQueuesSameTier_QuotaThenSurplusByWeight()
    {
        // 100 GPUs. Quotas 30 and 20 first; the other 50 by weight 1:3 → 12.5 and 37.5. A = 42.5, B = 57.5.
        var shares = Shares(100, new() { ["a"] = 80, ["b"] = 80 }, Queue("a", quota: 30, weight: 1), Queue("b", quota: 20, weight: 3));

        Assert.Equal(42_500, shares["a"].Gpu);
        Assert.Equal(57_500, shares["b"].Gpu);
    }

    [Fact]
    public void Compute_PriorityTiers_HigherTierTakesTheSurplusFirst()
    {
        // 100 GPUs. Quotas 10 and 10; surplus 80: tier 200 (p) takes up to its demand 70 → 60 more; tier 100 (q) the last 20.
        var shares = Shares(100, new() { ["p"] = 70, ["q"] = 70 }, Queue("p", quota: 10, priority: 200), Queue("q", quota: 10, priority: 100));

        Assert.Equal(70_000, shares["p"].Gpu);
        Assert.Equal(30_000, shares["q"].Gpu);
    }

    [Fact]
    public void Compute_QueueCappedByItsLimit_TheRestGoesToTheOthers()
    {
        // 100 GPUs. Quotas 10 and 10; surplus 80 by 1:1 → 40 each, but a stops at its limit 20 (10 more);
        // the 30 it cannot take go round to b: 10 + 40 + 30 = 80.
        var shares = Shares(100, new() { ["a"] = 100, ["b"] = 100 }, Queue("a", quota: 10, limit: 20), Queue("b", quota: 10));

        Assert.Equal(20_000, shares["a"].Gpu);
        Assert.Equal(80_000, shares["b"].Gpu);
    }

    [Fact]
    public void Compute_QueueWithNoDemand_GetsNothingEvenWithAQuota()
    {
        // Quota is capped by demand: idle a (quota 50) gets 0, b takes its quota 10 and the whole surplus 90.
        var shares = Shares(100, new() { ["b"] = 100 }, Queue("a", quota: 50), Queue("b", quota: 10));

        Assert.Equal(0, shares["a"].Gpu);
        Assert.Equal(100_000, shares["b"].Gpu);
    }

    [Fact]
    public void Compute_ThreeLevels_SplitsEachParentsShareAmongItsChildren()
    {
        // 100 GPUs. Roots: dept (quota 60, demand 50 + 50) and other (quota 40, demand 10).
        // Top: dept 60, other min(40, 10) = 10; surplus 30 → dept (other is at its demand) → dept 90.
        // dept's 90: team1 quota 20, team2 quota 10; surplus 60 by 1:1 → 30 each → team1 50 (its demand), team2 40.
        var shares = Shares(
            100,
            new() { ["team1"] = 50, ["team2"] = 50, ["other"] = 10 },
            Queue("dept", quota: 60),
            Queue("team1", quota: 20, parent: "dept"),
            Queue("team2", quota: 10, parent: "dept"),
            Queue("other", quota: 40));

        Assert.Equal(90_000, shares["dept"].Gpu);
        Assert.Equal(10_000, shares["other"].Gpu);
        Assert.Equal(50_000, shares["team1"].Gpu);
        Assert.Equal(40_000, shares["team2"].Gpu);
    }

    [Fact]
    public void Compute_QuotasBeyondTheCapacity_AreCutInProportion()
    {
        // 30 GPUs, quotas 40 and 20 (both wanted): 30 × 40/60 = 20 and 30 × 20/60 = 10.
        var shares = Shares(30, new() { ["a"] = 40, ["b"] = 20 }, Queue("a", quota: 40), Queue("b", quota: 20));

        Assert.Equal(20_000, shares["a"].Gpu);
        Assert.Equal(10_000, shares["b"].Gpu);
    }

    [Fact]
    public void Compute_RoundingRemainder_IsGivenOutExactlyAndDeterministically()
    {
        // 1 unit (a thousandth of a GPU) over three equal queues: nobody is short-changed by more than one unit,
        // and the whole amount is handed out.
        var queues = new[] { Queue("x"), Queue("y"), Queue("z") };
        var tree = QueueTree.Build(queues, "default");
        var demand = queues.ToDictionary(q => q.Name, _ => new ResourceVector(1000, 0, 0));

        var shares = FairShare.Compute(tree, new ResourceVector(1000, 0, 0), demand);

        Assert.Equal(1000, shares["x"].Gpu + shares["y"].Gpu + shares["z"].Gpu);
        Assert.Equal([334, 333, 333], new[] { shares["x"].Gpu, shares["y"].Gpu, shares["z"].Gpu });
    }

    [Fact]
    public void Compute_EachResourceOnItsOwn_GpuHeavyAndCpuHeavyQueues()
    {
        // 16 GPUs and 100 cores. gpu-team wants 16 GPUs and 10 cores; cpu-team 2 GPUs and 100 cores; no quotas.
        // GPUs: 8 each by weight, cpu-team capped at 2 → gpu-team 14. Cores: 50 each, gpu-team capped at 10 → cpu-team 90.
        var tree = QueueTree.Build([new QueueSpec { Name = "gpu-team" }, new QueueSpec { Name = "cpu-team" }], "default");
        var demand = new Dictionary<string, ResourceVector>
        {
            ["gpu-team"] = new(16_000, 10_000, 0),
            ["cpu-team"] = new(2_000, 100_000, 0),
        };

        var shares = FairShare.Compute(tree, new ResourceVector(16_000, 100_000, 0), demand);

        Assert.Equal(new ResourceVector(14_000, 10_000, 0), shares["gpu-team"]);
        Assert.Equal(new ResourceVector(2_000, 90_000, 0), shares["cpu-team"]);
    }

    [Fact]
    public void Build_BrokenDefinitions_DisableOnlyTheQueuesTheyTouch()
    {
        var tree = QueueTree.Build(
            [
                new QueueSpec { Name = "orphan", Parent = "gone" },
                new QueueSpec { Name = "orphan-child", Parent = "orphan" },
                new QueueSpec { Name = "loop-a", Parent = "loop-b" },
                new QueueSpec { Name = "loop-b", Parent = "loop-a" },
                new QueueSpec { Name = "healthy" },
            ],
            "default");

        Assert.Contains("\"gone\" does not exist", tree.Queues["orphan"].DisabledReason, StringComparison.Ordinal);
        Assert.Contains("\"orphan\" is disabled", tree.Queues["orphan-child"].DisabledReason, StringComparison.Ordinal);
        Assert.Contains("cycle", tree.Queues["loop-a"].DisabledReason, StringComparison.Ordinal);
        Assert.Contains("cycle", tree.Queues["loop-b"].DisabledReason, StringComparison.Ordinal);
        Assert.Null(tree.Queues["healthy"].DisabledReason);
        Assert.Equal(["default", "healthy"], tree.Roots);
        Assert.True(tree.Queues["default"].IsImplicit);
        Assert.Equal("default", tree.AccountFor("loop-a"));
        Assert.Contains("cycle", tree.LeafFor("loop-a").Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void LeafFor_ParentQueue_IsRefusedNamingItsChildren()
    {
        var tree = QueueTree.Build([new QueueSpec { Name = "dept" }, new QueueSpec { Name = "team", Parent = "dept" }], "default");

        var (queue, refusal) = tree.LeafFor("dept");

        Assert.Null(queue);
        Assert.Contains("child queues (team)", refusal, StringComparison.Ordinal);
        Assert.Equal("team", tree.LeafFor("team").Queue);
        Assert.Equal("default", tree.LeafFor(null).Queue);
    }
}

using Kaiwo.Scheduling.Allocation;
using Kaiwo.Scheduling.Fits;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Requests;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Fits;

/// <summary>
/// The filter judges nodes by <see cref="NodeFitSummary.Verdict"/>, the bind by <see cref="GpuPlacer.Fit"/>: on random
/// nodes (SPX, CPX/NPS4, small and unpublished memory, CPU-only, a broken inventory), random usages (pods placed by the
/// placer itself, and random records that may conflict) and random asks under random options, both must always give the
/// same outcome and code, and the cached fit the same answer as a fresh one (fixed seeds).
/// </summary>
public sealed class FitSummaryPropertyTests
{
    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 1; seed <= 30; seed++)
        {
            data.Add(seed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Verdict_RandomNodesUsagesAndAsks_EqualsTheOutcomeAndCodeOfGpuPlacerFit(int seed)
    {
        var random = new Random(seed);
        var outcomes = new HashSet<(FitOutcome, string)>();
        for (var n = 0; n < 40; n++)
        {
            var options = new PlacementOptions
            {
                TimeSlicingCapacityMilli = random.Next(3) switch { 0 => 1000, 1 => 1500, _ => 2000 },
                DeviceChoice = random.Next(4) == 0 ? DeviceChoice.FirstFit : DeviceChoice.BestFit,
            };
            var usage = RandomUsage(random, options);
            for (var r = 0; r < 25; r++)
            {
                var request = RandomRequest(random);
                var fit = GpuPlacer.Fit(usage, request, options);
                var verdict = usage.Summary.Verdict(request, options);
                Assert.True(
                    (fit.Outcome, fit.Code) == (verdict.Outcome, verdict.Code),
                    $"seed {seed}, node {usage.NodeName} ({usage.Inventory.Gpus.Count} GPUs, {usage.Holds.Count} holds, {usage.Conflicts.Count} conflicts), ask {request.Describe()} {request.Isolation}: Fit says {fit.Outcome}/{fit.Code} ({fit.Reason}), the summary {verdict.Outcome}/{verdict.Code}");
                var cached = GpuPlacer.CachedFit(usage, request, options);
                Assert.Equal((fit.Outcome, fit.Code, fit.Reason), (cached.Outcome, cached.Code, cached.Reason));
                Assert.Equal(fit.Allocation is null, cached.Allocation is null);
                Assert.True(fit.Allocation is null || fit.Allocation.SameAs(cached.Allocation!));
                outcomes.Add((fit.Outcome, fit.Code));
            }
        }

        // The random cases reach the verdicts that matter, not only one of them.
        Assert.Contains(outcomes, o => o.Item1 == FitOutcome.Fits);
        Assert.Contains(outcomes, o => o.Item1 == FitOutcome.FullNow);
        Assert.Contains(outcomes, o => o.Item1 == FitOutcome.NeverFits);
    }

    internal static NodeUsage RandomUsage(Random random, PlacementOptions options)
    {
        var facts = random.Next(9) switch
        {
            0 => CpuOnly("cpu"),
            1 => Mi300XCpx("cpx-small", vram: "24G"),
            2 => Mi300XSpx("no-vram") with { Labels = Mi300XSpx().Labels.Where(l => l.Key != WellKnown.VramLabel).ToDictionary() },
            3 => Mi300XSpx("broken") with { Allocatable = new Dictionary<string, string> { [WellKnown.GpuResource] = "5000" } },
            4 or 5 => Mi300XCpx("cpx"),
            _ => Mi300XSpx("spx"),
        };
        var usage = NodeUsage.Create(InventoryReader.Read(facts), options.TimeSlicingCapacityMilli);
        var pods = random.Next(30);
        for (var p = 0; p < pods; p++)
        {
            if (random.Next(25) == 0 && usage.Inventory.HasGpus)
            {
                // A record written by someone else, right or wrong: conflicts are part of the cases.
                var index = random.Next(12) == 0 ? 9 : random.Next(usage.Inventory.Gpus.Count);
                int[] partitions = random.Next(2) == 0 ? [] : [random.Next(9)];
                var grant = new GpuGrant(index, partitions, partitions, partitions, random.Next(1001), random.Next(200_000));
                var kind = random.Next(4) == 0 ? AllocationKind.Whole : AllocationKind.Shared;
                usage = usage.With(new PodHold($"uid-x{p}", $"team-a/x{p}", new PodAllocation(usage.NodeName, kind, (GpuIsolation)random.Next(3), [grant])));
                continue;
            }

            var fit = GpuPlacer.Fit(usage, RandomRequest(random), options);
            if (fit.Allocation is { } allocation)
            {
                usage = usage.With(new PodHold($"uid-p{p}", $"team-a/p{p}", allocation));
            }
        }

        return usage;
    }

    internal static GpuRequest RandomRequest(Random random)
    {
        var isolation = (GpuIsolation)random.Next(3);
        var placement = random.Next(3) == 0 ? PlacementPreference.Spread : PlacementPreference.Binpack;
        return random.Next(5) switch
        {
            0 => GpuRequest.NoGpu,
            1 => new GpuRequest { Kind = GpuAskKind.Whole, WholeCount = random.Next(4) == 0 ? 1 + random.Next(70) : 1 + random.Next(8), Isolation = isolation, Placement = placement },
            _ => Shared(random, isolation, placement),
        };
    }

    /// <summary>A share by compute, by memory or both (one of them always), sometimes not shared.</summary>
    private static GpuRequest Shared(Random random, GpuIsolation isolation, PlacementPreference placement)
    {
        int? compute = random.Next(3) == 0 ? null : 1 + random.Next(1000);
        long? memory = compute is null || random.Next(2) == 0 ? 1 + random.Next(random.Next(2) == 0 ? 30_000 : 250_000) : null;
        return new GpuRequest { Kind = GpuAskKind.Shared, ComputeMilli = compute, MemoryMiB = memory, Exclusive = random.Next(5) == 0, Isolation = isolation, Placement = placement };
    }
}

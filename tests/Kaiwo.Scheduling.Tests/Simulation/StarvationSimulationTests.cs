using Kaiwo.Scheduling.Reservations;
using Kaiwo.Scheduling.Simulation;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Simulation;

/// <summary>
/// One 4-GPU pod into a node kept busy by a stream of 0.25-GPU pods, replayed with and without reservations against
/// starvation: the stream asks a little more than the node has, so a quarter that ends is taken by the next small pod
/// and no GPU is ever idle long enough for the large pod, unless its reservation drains GPUs for it.
/// </summary>
public sealed class StarvationSimulationTests
{
    private static readonly TimeSpan Horizon = TimeSpan.FromHours(2);
    private static readonly TimeSpan BigArrival = TimeSpan.FromMinutes(20);

    private static Trace Stream()
    {
        // Every 18 s a 0.25 pod of 5 to 15 minutes (10 on average): 8.3 GPUs asked of 8. The 4-GPU pod runs 30 minutes.
        var pods = new List<TracePod>();
        for (var k = 0; k * 18 < Horizon.TotalSeconds; k++)
        {
            var duration = 300 + (k * 137 % 600);
            pods.Add(new TracePod(Fraction($"small-{k:D4}", "0.25"), TimeSpan.FromSeconds(k * 18), TimeSpan.FromSeconds(duration)));
        }

        pods.Add(new TracePod(Pod("big", gpus: 4), BigArrival, TimeSpan.FromMinutes(30)));
        return new Trace([.. pods.OrderBy(p => p.Arrival)], Horizon);
    }

    private static PolicyRun Run(StarvationOptions? starvation) => Simulator.Run(
        new SimulatedCluster([Mi300XSpx("node-a")], [], [], new Dictionary<string, string>()),
        Stream(),
        SimulationPolicy.Binpack,
        new SimulationOptions { Buckets = 24, Starvation = starvation });

    private static WaitStats BigWait(PolicyRun run) => run.WaitBySize.Single(c => c.SizeClass == "2-4 GPUs").Wait;

    [Fact]
    public void Run_WithoutReservations_TheLargePodWaitsUntilTheHorizon()
    {
        var run = Run(null);

        Assert.Equal("binpack", run.Policy);
        Assert.Equal(1, BigWait(run).StillPending);
        Assert.Equal((Horizon - BigArrival).TotalSeconds, BigWait(run).MaxSeconds, 6);
    }

    [Fact]
    public void Run_WithReservations_TheLargePodStartsWithinReserveAfterAndOneSmallPodDuration()
    {
        var options = new StarvationOptions();

        var run = Run(options);

        Assert.Equal("binpack+reserve", run.Policy);
        Assert.Equal(0, BigWait(run).StillPending);
        Assert.InRange(BigWait(run).MaxSeconds, options.After.TotalSeconds, (options.After + TimeSpan.FromMinutes(15) + TimeSpan.FromSeconds(10)).TotalSeconds);
    }

    [Fact]
    public void Run_SameTraceTwice_SameOutcome()
    {
        var first = Run(new StarvationOptions());
        var second = Run(new StarvationOptions());

        Assert.Equal((first.Completed, first.Wait, BigWait(first)), (second.Completed, second.Wait, BigWait(second)));
    }
}

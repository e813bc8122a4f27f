using System.Collections.Concurrent;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Requests;
using static Kaiwo.Extender.Tests.Queues.QueueHarness;

namespace Kaiwo.Extender.Tests.Queues;

/// <summary>
/// Readers of the queue snapshot while writers change the state: every snapshot read is one moment of the totals
/// (never half of a change), never older than what the reader could see before it asked, and never older than the
/// one it read before. The invariants hold under any interleaving, so the test cannot flake on timing.
/// </summary>
public sealed class SnapshotConcurrencyTests
{
    private const int Pods = 8;
    private const int MovesPerWriter = 2_000;

    [Fact]
    public void Current_ReadWhileWritersMovePodsBetweenQueues_AlwaysCountsEveryPodOnceAndNeverGoesBack()
    {
        var harness = new QueueHarness();
        harness.State.UpsertNode(Node("gpu-a"));
        harness.Catalog.Replace([QueueObject("a"), QueueObject("b")]);
        var pods = new PodFacts[Pods];
        for (var i = 0; i < Pods; i++)
        {
            Assert.Null(harness.Bind(harness.Arrive(Pod($"p{i}", "a", gpus: 1)), "gpu-a"));
            harness.State.TryGetPod($"uid-p{i}", out var facts, out _);
            pods[i] = facts!;
        }

        var problems = new ConcurrentQueue<string>();
        var writersLeft = 2;
        var reads = new int[2];

        // Each writer moves its own half of the pods between the queues: a relabel moves a pod's usage from one
        // queue's total to the other's in one step, so every consistent snapshot counts all 8 GPUs.
        void Write(int writer)
        {
            var random = new Random(writer);
            for (var move = 0; move < MovesPerWriter; move++)
            {
                var pod = pods[(writer * (Pods / 2)) + random.Next(Pods / 2)];
                var queue = random.Next(2) == 0 ? "a" : "b";
                harness.State.UpsertPod(pod with { Labels = new Dictionary<string, string> { [WellKnown.QueueLabel] = queue } });
            }

            Interlocked.Decrement(ref writersLeft);
        }

        void Read(int reader)
        {
            var last = -1L;
            while (Volatile.Read(ref writersLeft) > 0 || reads[reader] < 100)
            {
                var seen = harness.State.QueueVersion;
                var snapshot = harness.Queues.Current()!;
                reads[reader]++;
                var total = snapshot.UsageOf("a").Gpu + snapshot.UsageOf("b").Gpu;
                if (total != Pods * 1_000)
                {
                    problems.Enqueue($"version {snapshot.Version}: the queues count {total} GPU thousandths, not {Pods * 1_000}");
                }

                if (snapshot.Version < seen)
                {
                    problems.Enqueue($"version {snapshot.Version} read after version {seen} was visible");
                }

                if (snapshot.Version < last)
                {
                    problems.Enqueue($"version {snapshot.Version} read after version {last}");
                }

                if (snapshot.FairShareOf("a").Gpu + snapshot.FairShareOf("b").Gpu > snapshot.Capacity.Gpu)
                {
                    problems.Enqueue($"version {snapshot.Version}: fair shares above the capacity");
                }

                last = snapshot.Version;
            }
        }

        var threads = new[] { new Thread(() => Write(0)), new Thread(() => Write(1)), new Thread(() => Read(0)), new Thread(() => Read(1)) };
        foreach (var thread in threads)
        {
            thread.Start();
        }

        foreach (var thread in threads)
        {
            Assert.True(thread.Join(TimeSpan.FromMinutes(2)), "a thread did not finish");
        }

        Assert.Empty(problems);
        Assert.All(reads, r => Assert.True(r >= 100));
        var final = harness.Queues.Current()!;
        Assert.Equal(harness.State.QueueVersion, final.Version);
        Assert.Equal(Pods * 1_000, final.UsageOf("a").Gpu + final.UsageOf("b").Gpu);
    }
}

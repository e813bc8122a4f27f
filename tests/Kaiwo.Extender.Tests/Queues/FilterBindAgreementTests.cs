using System.Text.Json;
using Kaiwo.Scheduling;
using Kaiwo.Scheduling.Queues;
using Kaiwo.Scheduling.Requests;
using static Kaiwo.Extender.Tests.Queues.QueueHarness;

namespace Kaiwo.Extender.Tests.Queues;

/// <summary>
/// Over random histories of arrivals, binds, failed binds, deletions, completions, queue spec changes and heartbeats,
/// the filter's verdict on a node is the verdict of the bind that follows it, and the published snapshot is the one a
/// fresh build from freshly read queues and the totals gives.
/// </summary>
public sealed class FilterBindAgreementTests
{
    private static readonly string?[] Labels = ["research", "prod", null, "gone"];
    private static readonly string[] NodeNames = ["gpu-a", "gpu-b"];

    public static TheoryData<int> Seeds() => [1, 2, 3, 4, 5, 6];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Filter_RandomHistory_GivesTheVerdictOfTheBindThatFollows(int seed)
    {
        var random = new Random(seed);
        var harness = new QueueHarness();
        foreach (var node in NodeNames)
        {
            harness.State.UpsertNode(Node(node));
        }

        var queues = new Dictionary<string, JsonElement>(StringComparer.Ordinal)
        {
            ["org"] = QueueObject("org", quota: 4, limit: 12),
            ["research"] = QueueObject("research", parent: "org", quota: 2, limit: 3),
            ["prod"] = QueueObject("prod", parent: "org", quota: 2, priority: 100),
        };
        harness.Catalog.Replace([.. queues.Values]);
        var pending = new Dictionary<string, PodFacts>(StringComparer.Ordinal);
        var bound = new HashSet<string>(StringComparer.Ordinal);
        var queueRefusals = 0;
        var binds = 0;

        for (var step = 0; step < 300; step++)
        {
            switch (random.Next(13))
            {
                case < 4:
                    var label = Labels[random.Next(Labels.Length)];
                    var pod = random.Next(3) switch
                    {
                        0 => Pod($"p{step}", label, gpus: 1 + random.Next(2)),
                        1 => Pod($"p{step}", label, fraction: "0.5"),
                        _ => Pod($"p{step}", label, fraction: "0.25"),
                    };
                    pending[harness.Arrive(pod).Uid] = pod;
                    break;
                case < 7 when pending.Count > 0:
                    var candidate = pending.Values.ElementAt(random.Next(pending.Count));
                    var node = NodeNames[random.Next(NodeNames.Length)];
                    var verdict = Verdict(harness.Filter(candidate, node), node);
                    var bind = harness.Bind(candidate, node);
                    if (verdict is null)
                    {
                        Assert.Null(bind);
                        pending.Remove(candidate.Uid);
                        bound.Add(candidate.Uid);
                        binds++;
                    }
                    else
                    {
                        Assert.NotNull(bind);
                        Assert.EndsWith($": {verdict}", bind, StringComparison.Ordinal);
                        queueRefusals += verdict.StartsWith("queue \"", StringComparison.Ordinal) ? 1 : 0;
                    }

                    break;
                case 7 when bound.Count > 0:
                    // The Binding failed: the reservation is released and the pod is pending again.
                    var failed = bound.ElementAt(random.Next(bound.Count));
                    harness.State.TryGetPod(failed, out var facts, out _);
                    harness.State.Release(failed);
                    var again = facts! with { NodeName = null, Annotations = new Dictionary<string, string>(facts.Annotations.Where(a => a.Key != WellKnown.AllocationAnnotation)) };
                    harness.State.UpsertPod(again);
                    bound.Remove(failed);
                    pending[failed] = again;
                    break;
                case 8 when bound.Count + pending.Count > 0:
                    var gone = bound.Concat(pending.Keys).ElementAt(random.Next(bound.Count + pending.Count));
                    harness.State.RemovePod(gone);
                    bound.Remove(gone);
                    pending.Remove(gone);
                    break;
                case 9 when bound.Count > 0:
                    var done = bound.ElementAt(random.Next(bound.Count));
                    harness.State.TryGetPod(done, out var running, out _);
                    harness.State.UpsertPod(running! with { Phase = PodPhase.Succeeded });
                    bound.Remove(done);
                    break;
                case 10:
                    var limit = random.Next(4) switch { 0 => -1m, var n => n * 1.5m };
                    queues["research"] = QueueObject("research", parent: "org", quota: Math.Min(2, limit < 0 ? 2 : limit), limit: limit);
                    harness.Catalog.Apply("MODIFIED", queues["research"]);
                    break;
                case 11:
                    if (queues.Remove("prod"))
                    {
                        harness.Catalog.Apply("DELETED", QueueObject("prod"));
                    }
                    else
                    {
                        queues["prod"] = QueueObject("prod", parent: "org", quota: random.Next(3), priority: 100);
                        harness.Catalog.Apply("ADDED", queues["prod"]);
                    }

                    break;
                default:
                    harness.State.UpsertNode(Node(NodeNames[random.Next(NodeNames.Length)]));
                    break;
            }

            AssertPublishedIsFresh(harness, queues.Values);
        }

        // The histories reach both sides of the limits, so the agreement is tested where it matters.
        Assert.True(binds > 10, $"only {binds} binds");
        Assert.True(queueRefusals > 0, "no bind was refused by a queue");
    }

    /// <summary>The published snapshot equals one built now from the raw queue objects read again and the totals.</summary>
    private static void AssertPublishedIsFresh(QueueHarness harness, IEnumerable<JsonElement> queueObjects)
    {
        var specs = new List<QueueSpec>();
        var invalid = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in queueObjects)
        {
            Assert.True(QueueSpecReader.TryRead(item, out var spec, out _));
            specs.Add(spec!);
        }

        var expected = QueueSnapshot.FromTotals(QueueTree.Build(specs, "default", invalid), harness.State.QueueTotals(Scheduler));
        var published = harness.Queues.Current()!;
        Assert.Equal(expected.Version, published.Version);
        Assert.Equal(expected.Capacity, published.Capacity);
        Assert.Equal(expected.Tree.Queues.Keys, published.Tree.Queues.Keys);
        Assert.Equal(expected.Usage.OrderBy(p => p.Key), published.Usage.OrderBy(p => p.Key));
        Assert.Equal(expected.Demand.OrderBy(p => p.Key), published.Demand.OrderBy(p => p.Key));
        Assert.Equal(expected.FairShare.OrderBy(p => p.Key), published.FairShare.OrderBy(p => p.Key));
    }
}

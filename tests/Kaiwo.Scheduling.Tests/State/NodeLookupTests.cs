using System.Text;
using Kaiwo.Scheduling.Inventory;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.State;

namespace Kaiwo.Scheduling.Tests.State;

/// <summary>Nodes looked up by a name's ASCII bytes (as a request body holds it) find what the name itself finds.</summary>
public sealed class NodeLookupTests
{
    private static ClusterState WithNodes(params string[] names)
    {
        var state = new ClusterState();
        foreach (var name in names)
        {
            state.UpsertNode(new NodeFacts { Name = name });
        }

        return state;
    }

    [Fact]
    public void TryGetNode_AsciiBytesOfEveryName_FindTheNodeTheNameFinds()
    {
        var names = Enumerable.Range(0, 2_000).Select(i => $"gpu-node-{i:D4}").Append("a").Append("Node_With.Dots-And_CAPS").ToArray();
        var state = WithNodes(names);

        foreach (var name in names)
        {
            Assert.True(state.TryGetNode(Encoding.ASCII.GetBytes(name), out var byBytes));
            Assert.True(state.TryGetNode(name, out var byName));
            Assert.True(state.TryGetNode(name.AsSpan(), out var byChars));
            Assert.Same(byName, byBytes);
            Assert.Same(byName, byChars);
        }
    }

    [Fact]
    public async Task TryGetNode_WhileNodesComeAndGoOnAnotherThread_AlwaysFindsTheNodesThatStay()
    {
        var stay = Enumerable.Range(0, 200).Select(i => $"stay-{i:D3}").ToArray();
        var state = WithNodes(stay);
        using var done = new CancellationTokenSource();
        var missed = 0;

        // Four readers, each rebuilding or waiting for the index after every change, beside one writer.
        var readers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
            {
                foreach (var name in stay)
                {
                    if (!state.TryGetNode((ReadOnlySpan<byte>)Encoding.ASCII.GetBytes(name), out NodeCandidate? _))
                    {
                        Interlocked.Increment(ref missed);
                    }
                }
            }
        })).ToArray();
        for (var i = 0; i < 300; i++)
        {
            state.UpsertNode(new NodeFacts { Name = $"churn-{i:D3}" });
            if (i % 2 == 0)
            {
                state.RemoveNode($"churn-{i:D3}");
            }
        }

        await done.CancelAsync();
        await Task.WhenAll(readers);

        Assert.Equal(0, missed);
        for (var i = 0; i < 300; i++)
        {
            Assert.Equal(i % 2 == 1, state.TryGetNode((ReadOnlySpan<byte>)Encoding.ASCII.GetBytes($"churn-{i:D3}"), out NodeCandidate? _));
        }
    }

    [Fact]
    public void TryGetNode_BytesOfNoNodesName_FindNothing()
    {
        var state = WithNodes("gpu-node-01", "gpü-node");

        Assert.False(state.TryGetNode("gpu-node-0"u8, out _));
        Assert.False(state.TryGetNode("gpu-node-011"u8, out _));
        Assert.False(state.TryGetNode("GPU-NODE-01"u8, out _));
        Assert.False(state.TryGetNode(ReadOnlySpan<byte>.Empty, out var none));
        Assert.Null(none);

        // Only ASCII names are looked up by bytes: a name with other characters is found by its string.
        Assert.False(state.TryGetNode(Encoding.UTF8.GetBytes("gpü-node"), out _));
        Assert.True(state.TryGetNode("gpü-node", out _));
    }

    [Fact]
    public void TryGetNode_BytesOfARemovedNode_FindNothing()
    {
        var state = WithNodes("gpu-node-01", "gpu-node-02");

        state.RemoveNode("gpu-node-01");

        Assert.False(state.TryGetNode("gpu-node-01"u8, out _));
        Assert.True(state.TryGetNode("gpu-node-02"u8, out _));
    }

    /// <summary>
    /// Property: after every add, update and removal of a random history, the lookup by bytes (the flat name index)
    /// finds exactly what the lookup by name finds, for names of every length around the 16 bytes a slot holds.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void TryGetNode_RandomAddsAndRemovals_BytesFindWhatTheNameFinds(int seed)
    {
        var random = new Random(seed);
        string[] stems = ["n", "gpu-node-", "node-0123456789", "node-0123456789a", "node-0123456789ab", "a-much-longer-node-name.cluster.example.com-"];
        var universe = Enumerable.Range(0, 120).Select(i => $"{stems[i % stems.Length]}{i / stems.Length}").Append("gpu-node-").ToArray();
        var state = new ClusterState();
        for (var step = 0; step < 400; step++)
        {
            var name = universe[random.Next(universe.Length)];
            if (random.Next(3) == 0)
            {
                state.RemoveNode(name);
            }
            else
            {
                state.UpsertNode(new NodeFacts { Name = name, Labels = new Dictionary<string, string> { ["step"] = $"{step}" } });
            }

            foreach (var probe in universe)
            {
                var found = state.TryGetNode(probe, out var byName);
                Assert.Equal(found, state.TryGetNode(Encoding.ASCII.GetBytes(probe), out var byBytes));
                Assert.Same(byName, byBytes);
            }

            Assert.False(state.TryGetNode("node-0123456789a-not-a-node"u8, out _));

            // All the names that find a node, looked up at once from one text, find the same nodes.
            var known = universe.Where(n => state.TryGetNode(n, out _)).OrderBy(_ => random.Next()).ToArray();
            var (text, ranges) = Text(known);
            var nodes = new NodeCandidate[known.Length];
            Assert.True(state.TryGetNodes(text, ranges, nodes));
            for (var i = 0; i < known.Length; i++)
            {
                state.TryGetNode(known[i], out var byName);
                Assert.Same(byName, nodes[i]);
            }
        }
    }

    [Fact]
    public void TryGetNodes_OneNameOfNoNode_IsFalse()
    {
        var state = WithNodes("gpu-node-01", "gpu-node-02");
        var (text, ranges) = Text(["gpu-node-01", "gpu-node-03", "gpu-node-02"]);

        Assert.False(state.TryGetNodes(text, ranges, new NodeCandidate[3]));
        Assert.True(state.TryGetNodes(text, [ranges[0], ranges[2]], new NodeCandidate[2]));
    }

    /// <summary>The names one after another in one ASCII text, as in a request body, and where each one is.</summary>
    private static (byte[] Text, Range[] Names) Text(string[] names)
    {
        var text = new List<byte>();
        var ranges = new Range[names.Length];
        for (var i = 0; i < names.Length; i++)
        {
            text.Add((byte)'"');
            ranges[i] = text.Count..(text.Count + names[i].Length);
            text.AddRange(Encoding.ASCII.GetBytes(names[i]));
            text.Add((byte)'"');
        }

        return ([.. text], ranges);
    }

    [Fact]
    public void TryGetNode_NamesThatShareTheirFirst16Bytes_FindEachTheirOwnNode()
    {
        var state = WithNodes("node-0123456789ab-1", "node-0123456789ab-2", "node-0123456789ab");

        Assert.True(state.TryGetNode("node-0123456789ab-1"u8, out var first));
        Assert.True(state.TryGetNode("node-0123456789ab-2"u8, out var second));
        Assert.True(state.TryGetNode("node-0123456789ab"u8, out var shortest));
        Assert.Equal("node-0123456789ab-1", first!.Name);
        Assert.Equal("node-0123456789ab-2", second!.Name);
        Assert.Equal("node-0123456789ab", shortest!.Name);
        Assert.False(state.TryGetNode("node-0123456789ab-3"u8, out _));
    }

    [Fact]
    public void TryGetNode_NodeAddedAfterALookup_IsFoundByItsBytes()
    {
        var state = WithNodes("gpu-node-01");
        Assert.False(state.TryGetNode("gpu-node-02"u8, out _));

        state.UpsertNode(new NodeFacts { Name = "gpu-node-02" });

        Assert.True(state.TryGetNode("gpu-node-02"u8, out var node));
        Assert.Equal("gpu-node-02", node!.Name);
    }
}

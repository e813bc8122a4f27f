using System.Text;
using Kaiwo.Scheduling.Inventory;
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
}

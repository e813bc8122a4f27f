using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Wire;
using Kaiwo.Scheduling.Pipeline;

namespace Kaiwo.Extender.Tests.Verbs;

/// <summary>
/// <c>Scheduling:PassOnlyBestNode</c>: filter passes only the node prioritize would score highest (the first of
/// equals) and answers every other node that fits as a failed node, passed over; the nodes that do not fit are
/// answered as they are without the setting. On every captured filter body, in both modes, over the captured cluster
/// with some GPUs taken; the quick wire path and the complete one give the same answer.
/// </summary>
public sealed class PassOnlyBestNodeTests
{
    public static TheoryData<string, string> FilterPayloads()
    {
        var data = new TheoryData<string, string>();
        foreach (var mode in Fixtures.Modes)
        {
            foreach (var file in Fixtures.PayloadFiles(mode).Where(f => Fixtures.VerbOf(f) == "filter"))
            {
                data.Add(mode, file);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FilterPayloads))]
    public void Filter_PassOnlyBestNode_PassesThePrioritizeWinnerAndFailsTheOtherFits(string mode, string file)
    {
        var body = Fixtures.ReadPayload(mode, file);
        var (all, _) = WireVerbsTests.Build(mode);
        var (best, _) = WireVerbsTests.Build(mode, new PipelineOptions { PassOnlyBestNode = true });
        var everyFit = Answer(all, body);
        var scores = Scores(all, body);

        var answer = Answer(best, body);

        var fits = Passed(everyFit);
        var passed = Passed(answer);
        var failed = answer["FailedNodes"]!.AsObject();
        if (fits.Count == 0)
        {
            Assert.Empty(passed);
            Assert.True(JsonNode.DeepEquals(everyFit, answer));
            return;
        }

        var winner = fits.OrderByDescending(n => scores[n]).First();
        Assert.Equal([winner], passed.Distinct());
        Assert.False(failed.ContainsKey(winner));
        foreach (var other in fits.Where(n => n != winner))
        {
            Assert.Equal(SchedulingPipeline.PassedOverReason, failed[other]!.GetValue<string>());
        }

        foreach (var (name, reason) in everyFit["FailedNodes"]!.AsObject())
        {
            Assert.Equal(reason!.GetValue<string>(), failed[name]!.GetValue<string>());
        }

        Assert.True(JsonNode.DeepEquals(everyFit["FailedAndUnresolvableNodes"], answer["FailedAndUnresolvableNodes"]));
        Assert.Equal(everyFit["FailedNodes"]!.AsObject().Count + fits.Distinct().Count() - 1, failed.Count);
    }

    [Theory]
    [MemberData(nameof(FilterPayloads))]
    public void Filter_PassOnlyBestNode_QuickAnswerIsTheCompleteReadersAnswer(string mode, string file)
    {
        var body = Fixtures.ReadPayload(mode, file);
        var (verbs, _) = WireVerbsTests.Build(mode, new PipelineOptions { PassOnlyBestNode = true });

        var quick = Answer(verbs, body);
        var complete = JsonNode.Parse(JsonSerializer.SerializeToUtf8Bytes(verbs.Filter(ExtenderRequests.ReadArgs(body)), ExtenderJson.Options))!;

        Assert.True(JsonNode.DeepEquals(quick, complete), $"quick: {quick.ToJsonString()}\ncomplete: {complete.ToJsonString()}");
    }

    [Fact]
    public void Filter_PassOnlyBestNodeWithTheWinnerNamedTwice_PassesItOnceAndNeverAsFailed()
    {
        var (verbs, state) = WireVerbsTests.Build("names", new PipelineOptions { PassOnlyBestNode = true });
        var free = state.Nodes().Where(n => n.Usage.Inventory.HasGpus && n.Usage.Holds.Count == 0).Select(n => n.Name).Take(2).ToArray();
        Assert.Equal(2, free.Length);
        var body = Encoding.UTF8.GetBytes($$$"""
            {"Pod":{"metadata":{"name":"p","namespace":"team-a","uid":"u-1","annotations":{"kaiwo.ai/gpu-fraction":"0.5"}},"spec":{"containers":[{"name":"c"}]}},
             "NodeNames":["{{{free[0]}}}","{{{free[1]}}}","{{{free[0]}}}"]}
            """);

        var scores = Scores(verbs, body);
        var (winner, other) = scores[free[1]] > scores[free[0]] ? (free[1], free[0]) : (free[0], free[1]);

        var answer = Answer(verbs, body);

        Assert.Equal([winner], Passed(answer));
        Assert.Equal(SchedulingPipeline.PassedOverReason, answer["FailedNodes"]![other]!.GetValue<string>());
        Assert.Single(answer["FailedNodes"]!.AsObject());
    }

    [Fact]
    public void ToPipelineOptions_PassOnlyBestNode_IsThePipelines()
    {
        Assert.True(new SchedulingPipeline(new SchedulingOptions { PassOnlyBestNode = true }.ToPipelineOptions()).PassesOnlyBestNode);
        Assert.False(new SchedulingPipeline(new SchedulingOptions().ToPipelineOptions()).PassesOnlyBestNode);
    }

    private static JsonNode Answer(Kaiwo.Extender.Verbs.ExtenderVerbs verbs, byte[] body)
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.Null(verbs.Filter(body, output));
        return JsonNode.Parse(output.WrittenSpan)!;
    }

    private static Dictionary<string, int> Scores(Kaiwo.Extender.Verbs.ExtenderVerbs verbs, byte[] body)
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.Null(verbs.Prioritize(body, output));
        var scores = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in JsonNode.Parse(output.WrittenSpan)!.AsArray())
        {
            scores.TryAdd(entry!["Host"]!.GetValue<string>(), entry["Score"]!.GetValue<int>());
        }

        return scores;
    }

    /// <summary>The names of the passed nodes, from NodeNames or from the items of Nodes.</summary>
    private static List<string> Passed(JsonNode answer) =>
        answer["NodeNames"] is JsonArray names
            ? [.. names.Select(n => n!.GetValue<string>())]
            : [.. answer["Nodes"]!["items"]!.AsArray().Select(n => n!["metadata"]!["name"]!.GetValue<string>())];
}

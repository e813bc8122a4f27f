using Kaiwo.Scheduling.Pipeline;
using static Kaiwo.Scheduling.Tests.TestCluster;

namespace Kaiwo.Scheduling.Tests.Pipeline;

/// <summary>The checks (request, queue, gang, fit) keep GPUs from being double-booked: no setting can switch them off.</summary>
public sealed class StageSettingsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 14, 0, 0, TimeSpan.Zero);

    private static PipelineOptions With(string stage, StageOptions settings) =>
        new() { Stages = new Dictionary<string, StageOptions>(StringComparer.OrdinalIgnoreCase) { [stage] = settings } };

    [Theory]
    [InlineData("request")]
    [InlineData("queue")]
    [InlineData("fit")]
    [InlineData("FIT")]
    public void StageSettingProblems_CheckSwitchedOff_NamesTheKeyAndSaysItAlwaysRuns(string stage)
    {
        var problems = SchedulingPipeline.StageSettingProblems(With(stage, new StageOptions { Enabled = false }).Stages);

        var problem = Assert.Single(problems);
        Assert.StartsWith($"{stage}:Enabled is false", problem, StringComparison.Ordinal);
        Assert.Contains("always runs", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void StageSettingProblems_CheckWithAWeight_IsRefused()
    {
        var problems = SchedulingPipeline.StageSettingProblems(With("fit", new StageOptions { Weight = 5 }).Stages);

        Assert.StartsWith("fit:Weight is 5; fit is a check, not a score", Assert.Single(problems), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("packing")]
    [InlineData("topology")]
    [InlineData("load")]
    public void StageSettingProblems_ScoreSwitchedOffOrReweighed_IsAccepted(string stage)
    {
        Assert.Empty(SchedulingPipeline.StageSettingProblems(With(stage, new StageOptions { Enabled = false, Weight = 7 }).Stages));
    }

    [Fact]
    public void StageSettingProblems_CheckEnabledExplicitly_IsAccepted()
    {
        Assert.Empty(SchedulingPipeline.StageSettingProblems(With("request", new StageOptions { Enabled = true }).Stages));
    }

    [Fact]
    public void StageSettingProblems_UnknownStage_ListsTheStages()
    {
        var problem = Assert.Single(SchedulingPipeline.StageSettingProblems(With("nope", new StageOptions()).Stages));

        Assert.Equal("nope is not a stage; stages are request, queue, gang, fit, packing, topology, load", problem);
    }

    [Fact]
    public void Constructor_FitSwitchedOff_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => new SchedulingPipeline(With("fit", new StageOptions { Enabled = false })));

        Assert.Contains("fit:Enabled is false", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EvaluateNode_EveryScoreSwitchedOff_StillRefusesAPodThatDoesNotFit()
    {
        var options = new PipelineOptions
        {
            Stages = new Dictionary<string, StageOptions>
            {
                ["packing"] = new() { Enabled = false },
                ["topology"] = new() { Enabled = false },
                ["load"] = new() { Enabled = false },
            },
        };
        var pipeline = new SchedulingPipeline(options);
        var node = Mi300XSpx();

        var bad = pipeline.EvaluatePod(Fraction("bad", "1.5"), Now);
        var tooBig = pipeline.EvaluatePod(Pod("big", gpus: 9), Now);

        Assert.Equal("invalid-request", pipeline.EvaluateNode(bad, new NodeCandidate(node, Usage(node))).Code);
        Assert.Equal("too-large", pipeline.EvaluateNode(tooBig, new NodeCandidate(node, Usage(node))).Code);
    }
}

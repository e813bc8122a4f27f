using System.Text.Json;
using Kaiwo.Extender.Simulation;

namespace Kaiwo.Extender.Tests.Simulation;

/// <summary>The <c>simulate</c> command end to end on a small cluster file and trace in a temporary folder.</summary>
public sealed class SimulateCommandTests : IDisposable
{
    private const string Cluster = """
        apiVersion: v1
        kind: Node
        metadata:
          name: spx-1
          labels: {amd.com/gpu.compute-memory-partition: spx_nps1, amd.com/gpu.product-name: AMD_Instinct_MI300X_OAM, amd.com/gpu.vram: 192G}
        status:
          allocatable: {amd.com/gpu: "8", cpu: "192", memory: 1536Gi}
        ---
        apiVersion: v1
        kind: Node
        metadata:
          name: cpx-1
          labels: {amd.com/gpu.compute-memory-partition: cpx_nps4, amd.com/gpu.product-name: AMD_Instinct_MI300X_OAM, amd.com/gpu.vram: 192G}
        status:
          allocatable: {amd.com/gpu: "64", cpu: "192", memory: 1536Gi}
        ---
        apiVersion: kaiwo.ai/v1alpha2
        kind: KaiwoQueue
        metadata: {name: prod}
        spec:
          priority: 10
          resources: {gpu: {quota: 8}}
        ---
        apiVersion: kaiwo.ai/v1alpha2
        kind: KaiwoQueue
        metadata: {name: research}
        spec:
          resources: {gpu: {quota: 8}}
        """;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"kaiwo-simulate-{Guid.NewGuid():N}");

    public SimulateCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = SimulateCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Run_ReservationsBoth_RunsEachPolicyWithoutAndWithThemAndReportsTheHeldShare()
    {
        File.WriteAllText(PathOf("cluster.yaml"), Cluster);
        Assert.Equal(0, Run("generate", "--out", PathOf("trace.yaml"), "--pods", "200", "--horizon", "2h", "--seed", "3").Code);

        var (code, _, errors) = Run("--cluster-file", PathOf("cluster.yaml"), "--trace", PathOf("trace.yaml"), "--policy", "binpack", "--reservations", "both", "--report", PathOf("r.html"), "--json", PathOf("r.json"));

        Assert.True(code == 0, errors);
        using var json = JsonDocument.Parse(File.ReadAllText(PathOf("r.json")));
        var policies = json.RootElement.GetProperty("policies").EnumerateArray().ToList();
        Assert.Equal(["binpack", "binpack+reserve"], policies.Select(p => p.GetProperty("policy").GetString()));
        Assert.Equal(0, policies[0].GetProperty("meanReservedPercent").GetDouble());
        Assert.Contains("Mean held for starving pods", File.ReadAllText(PathOf("r.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_ReservationsNotOffOnOrBoth_ExitsTwoNamingTheOptionAndWhatIsAccepted()
    {
        var (code, _, errors) = Run("--cluster-file", PathOf("cluster.yaml"), "--trace", PathOf("trace.yaml"), "--reservations", "yes");

        Assert.Equal(2, code);
        Assert.Contains("--reservations: \"yes\" is not accepted; off, on or both", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_GenerateThenSimulateAllPolicies_WritesASelfContainedReportAndItsJson()
    {
        File.WriteAllText(PathOf("cluster.yaml"), Cluster);
        var generated = Run("generate", "--out", PathOf("trace.yaml"), "--pods", "300", "--horizon", "6h", "--seed", "5", "--queues", "prod:1:100,research:2:0");
        Assert.Equal(0, generated.Code);

        var (code, output, errors) = Run("--cluster-file", PathOf("cluster.yaml"), "--trace", PathOf("trace.yaml"), "--report", PathOf("r.html"), "--json", PathOf("r.json"), "--buckets", "24");

        Assert.Equal(0, code);
        Assert.Contains("completes", output, StringComparison.Ordinal);
        Assert.Contains("[binpack] done: 300 pods", errors, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(File.ReadAllText(PathOf("r.json")));
        var policies = json.RootElement.GetProperty("policies").EnumerateArray().Select(p => p.GetProperty("policy").GetString()).ToList();
        Assert.Equal(["binpack", "spread", "first-fit", "whole-gpus"], policies);
        var first = json.RootElement.GetProperty("policies")[0];
        Assert.Equal(24, first.GetProperty("allocationPercent").GetArrayLength());
        Assert.Equal(["prod", "research"], first.GetProperty("queues").EnumerateArray().Select(q => q.GetProperty("queue").GetString()));
        var html = File.ReadAllText(PathOf("r.html"));
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.Contains("@media print", html, StringComparison.Ordinal);
        Assert.Contains(json.RootElement.GetProperty("headline").GetString()!, System.Net.WebUtility.HtmlDecode(html), StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.DoesNotContain("src=", html, StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html.Replace("http://www.w3.org/2000/svg", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--trace", "t.yaml" }, "--cluster-file is required")]
    [InlineData(new[] { "--cluster-file", "c.yaml", "--trace", "t.yaml", "--policy", "best" }, "--policy: \"best\" is not accepted; one of binpack, spread, first-fit, whole-gpus")]
    [InlineData(new[] { "--cluster-file", "c.yaml", "--trace", "t.yaml", "--buckets", "0" }, "--buckets: \"0\" is not accepted; a whole number from 10 to 5000")]
    [InlineData(new[] { "--cluster-file", "c.yaml", "--trace", "t.yaml", "--horizon", "tomorrow" }, "--horizon: \"tomorrow\" is not accepted; a duration")]
    [InlineData(new[] { "--cluster-file", "c.yaml", "--trace" }, "--trace needs a value")]
    [InlineData(new[] { "--cluster-file", "c.yaml", "--cluster-file", "d.yaml" }, "--cluster-file is given twice")]
    [InlineData(new[] { "--clusterfile", "c.yaml" }, "\"--clusterfile\" is not accepted; options are --cluster-file")]
    [InlineData(new[] { "generate" }, "--out is required")]
    [InlineData(new[] { "generate", "--out", "t.yaml", "--pods", "0" }, "--pods: \"0\" is not accepted; a whole number from 1")]
    [InlineData(new[] { "generate", "--out", "t.yaml", "--sizes", "0.25:30,1.5:2" }, "--sizes: \"1.5:2\" is not accepted (size \"1.5\")")]
    [InlineData(new[] { "generate", "--out", "t.yaml", "--sizes", "0.25" }, "--sizes: \"0.25\" is not accepted (no weight)")]
    [InlineData(new[] { "generate", "--out", "t.yaml", "--durations", "30m-5m:1" }, "--durations: \"30m-5m:1\" is not accepted (range \"30m-5m\")")]
    [InlineData(new[] { "generate", "--out", "t.yaml", "--queues", "Prod:1:0" }, "--queues: \"Prod:1:0\" is not accepted; NAME:WEIGHT:PRIORITY")]
    [InlineData(new[] { "generate", "--out", "t.yaml", "--diurnal", "2" }, "--diurnal: \"2\" is not accepted; a number from 0 to 0.95")]
    [InlineData(new[] { "generate", "--out", "t.yaml", "--whole-gpu-selector", "spx" }, "--whole-gpu-selector: \"spx\" is not accepted; LABEL=VALUE")]
    public void Run_BadCommandLine_ExitsTwoNamingTheOptionAndValue(string[] args, string expected)
    {
        var (code, output, errors) = Run(args);

        Assert.Equal(2, code);
        Assert.Contains(expected, errors, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    [Fact]
    public void Run_MalformedTraceFile_ExitsOneNamingTheLineAndWritesNothing()
    {
        File.WriteAllText(PathOf("cluster.yaml"), Cluster);
        File.WriteAllText(PathOf("trace.yaml"), "pods:\n- {name: a, arrival: 0, duration: 5}\n- {name: b, arrival: 1, duration: 1y}\n");

        var (code, _, errors) = Run("--cluster-file", PathOf("cluster.yaml"), "--trace", PathOf("trace.yaml"), "--json", PathOf("r.json"));

        Assert.Equal(1, code);
        Assert.Contains("line 3: pods[1].duration: \"1y\" is not accepted", errors, StringComparison.Ordinal);
        Assert.False(File.Exists(PathOf("r.json")));
    }

    [Fact]
    public void Run_MissingClusterFile_ExitsOneWithTheReason()
    {
        var (code, _, errors) = Run("--cluster-file", PathOf("nope.yaml"), "--trace", PathOf("t.yaml"));

        Assert.Equal(1, code);
        Assert.Contains("nope.yaml: cannot be read", errors, StringComparison.Ordinal);
    }
}

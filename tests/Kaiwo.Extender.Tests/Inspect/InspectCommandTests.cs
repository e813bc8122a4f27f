using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Kaiwo.Extender.Inspect;

namespace Kaiwo.Extender.Tests.Inspect;

/// <summary>
/// <c>inspect</c>: the printer on captured /inspect answers (golden text), the same text from the running extender,
/// and every way the extender cannot be read: a bad URL, nobody listening, an answer that is not JSON or not /inspect.
/// </summary>
public sealed class InspectCommandTests(InspectCommandTests.ExampleExtender extender) : IClassFixture<InspectCommandTests.ExampleExtender>
{
    private static readonly Uri InspectUrl = new("http://127.0.0.1:8888/inspect");

    private static string FixtureDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "inspect");

    [Fact]
    public void Render_CapturedAnswer_PrintsTheGoldenTables()
    {
        var text = InspectCommand.Render(InspectUrl, 200, "application/json", Fixture("standalone-example.json"), whole: true);

        Assert.Equal(Fixture("standalone-example.txt"), text);
    }

    [Fact]
    public void Render_CapturedNodeAnswer_PrintsThatNodesGolden()
    {
        var text = InspectCommand.Render(new Uri(InspectUrl, "inspect/gpu-node-02"), 200, "application/json", Fixture("node-gpu-node-02.json"), whole: false);

        Assert.Equal(Fixture("node-gpu-node-02.txt"), text);
    }

    [Fact]
    public async Task RunAsync_AgainstTheRunningExtender_PrintsTheGoldenTablesBelowItsHeader()
    {
        // The fixture is this extender's own answer: when /inspect changes, this test says the fixture must be captured again.
        var (code, output, error) = await Run(["--url", "http://localhost/"], extender.Factory.Server.CreateHandler());

        Assert.Equal((0, string.Empty), (code, error));
        Assert.StartsWith("kaiwo extender http://localhost: mode standalone (", output, StringComparison.Ordinal);
        Assert.Equal(BelowFirstLine(Fixture("standalone-example.txt")), BelowFirstLine(output));
    }

    [Fact]
    public async Task RunAsync_NodeOfTheRunningExtender_PrintsThatNodeOnly()
    {
        var (code, output, _) = await Run(["gpu-node-02", "--url=http://localhost"], extender.Factory.Server.CreateHandler());

        Assert.Equal(0, code);
        Assert.Equal(Fixture("node-gpu-node-02.txt"), output);
    }

    [Fact]
    public async Task RunAsync_UnknownNode_ExitsOneWithTheExtendersMessage()
    {
        var (code, output, error) = await Run(["--url", "http://localhost", "gpu-node-99"], extender.Factory.Server.CreateHandler());

        Assert.Equal((1, string.Empty), (code, output));
        Assert.Equal("inspect: http://localhost/inspect/gpu-node-99 answered 404: node gpu-node-99 is not known to the extender\n", error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Render_ConflictsInventoryErrorsAndQueueStates_AreListedWithTheirNode()
    {
        var answer = JsonNode.Parse(Fixture("standalone-example.json"))!;
        var node = answer["nodes"]!.AsArray().Single(n => (string?)n!["name"] == "gpu-node-03")!;
        node["conflicts"] = new JsonArray(new JsonObject { ["gpu"] = 9, ["pods"] = new JsonArray("team-a/old"), ["reason"] = "the node has no GPU 9" });
        node["inventoryError"] = "amd.com/gpu.vram: \"lots\" is not a quantity";
        var prod = answer["queues"]!["tree"]!.AsArray().Single(q => (string?)q!["name"] == "prod-queue")!;
        prod["disabled"] = "spec.parentQueue names org, which does not exist";
        answer["queues"]!["tree"]!.AsArray().Single(q => (string?)q!["name"] == "default")!["alsoCounts"] = new JsonObject { ["gone-queue"] = 2 };

        var text = InspectCommand.Render(InspectUrl, 200, "application/json", answer.ToJsonString(), whole: true);

        Assert.Contains("gpu-node-03: inventory error: amd.com/gpu.vram: \"lots\" is not a quantity\n", text, StringComparison.Ordinal);
        Assert.Contains("gpu-node-03: conflict (takes no new GPU pods until resolved): GPU 9: the node has no GPU 9 (pods team-a/old)\n", text, StringComparison.Ordinal);
        Assert.Matches(@"\nprod-queue +- +200 +0\.5/2\.625/none .* disabled: spec\.parentQueue names org, which does not exist\n", text);
        Assert.Matches(@"\ndefault +- +0 .* implicit; also counts pods of gone-queue \(2\)\n", text);
    }

    [Fact]
    public void Render_LiveAnswer_SaysWhichInformersAreSyncedAndWhyQueuesAreMissing()
    {
        var answer = JsonNode.Parse(Fixture("standalone-example.json"))!;
        answer["mode"] = "live";
        answer["source"] = "in-cluster";
        answer["informers"] = new JsonArray(
            new JsonObject { ["resource"] = "nodes", ["synced"] = true, ["resourceVersion"] = "12", ["lists"] = 1, ["eventsApplied"] = 3 },
            new JsonObject { ["resource"] = "pods", ["synced"] = false, ["resourceVersion"] = null, ["lists"] = 0, ["eventsApplied"] = 0 });
        answer["queues"] = new JsonObject { ["available"] = false, ["reason"] = "the KaiwoQueue CRD is not installed", ["names"] = new JsonArray(), ["tree"] = null };

        var lines = InspectCommand.Render(InspectUrl, 200, "application/json", answer.ToJsonString(), whole: true).Split('\n');

        Assert.Equal("kaiwo extender http://127.0.0.1:8888: mode live (in-cluster), 7 nodes, 0 assumed pods", lines[0]);
        Assert.Equal("informers: nodes synced, pods NOT SYNCED", lines[1]);
        Assert.Contains("queues: not available: the KaiwoQueue CRD is not installed", lines);
    }

    [Fact]
    public async Task RunAsync_NobodyListening_ExitsOneNamingTheUrl()
    {
        // A port that was just free: nothing listens on it.
        var port = RealCluster.ControlPlane.FreePort();

        var (code, output, error) = await Run(["--url", $"http://127.0.0.1:{port}"]);

        Assert.Equal((1, string.Empty), (code, output));
        Assert.StartsWith($"inspect: cannot reach the extender at http://127.0.0.1:{port}/inspect: ", error, StringComparison.Ordinal);
        Assert.Contains("port-forward", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_AnswerThatIsNotJson_ExitsOneQuotingIt()
    {
        using var handler = new FixedAnswer(HttpStatusCode.OK, "text/html", "<html><body>Grafana</body></html>");

        var (code, output, error) = await Run(["--url", "http://grafana.example:3000"], handler);

        Assert.Equal((1, string.Empty), (code, output));
        Assert.Equal(
            "inspect: http://grafana.example:3000/inspect answered 200 (text/html), not JSON: \"<html><body>Grafana</body></html>\"; is http://grafana.example:3000 a kaiwo extender?\n",
            error.ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData("""{"status":"ok"}""")]
    [InlineData("""{"mode":"live","queues":{"available":true},"assumedPods":0,"nodes":[{"name":"n"}]}""")]
    [InlineData("[]")]
    public async Task RunAsync_JsonThatIsNotInspect_ExitsOneSayingSo(string body)
    {
        using var handler = new FixedAnswer(HttpStatusCode.OK, "application/json", body);

        var (code, output, error) = await Run([], handler);

        Assert.Equal((1, string.Empty), (code, output));
        Assert.StartsWith("inspect: http://127.0.0.1:8888/inspect answered JSON that is not an extender's /inspect (", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ErrorStatusWithoutJson_ExitsOneWithTheStatus()
    {
        using var handler = new FixedAnswer(HttpStatusCode.BadGateway, "text/plain", string.Empty);

        var (code, _, error) = await Run(["--url", "http://proxy:8080/kaiwo/"], handler);

        Assert.Equal(1, code);
        Assert.Equal("inspect: http://proxy:8080/kaiwo/inspect answered 502 (text/plain), not JSON: (an empty body); is http://proxy:8080 a kaiwo extender?\n", error.ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData("inspect: --url \"localhost:8888\" is not an absolute http or https URL; accepted: e.g. http://127.0.0.1:8888", "--url", "localhost:8888")]
    [InlineData("inspect: --url \"ftp://127.0.0.1\" is not an absolute http or https URL; accepted: e.g. http://127.0.0.1:8888", "--url=ftp://127.0.0.1")]
    [InlineData("inspect: --url needs a value, e.g. --url http://127.0.0.1:8888", "--url")]
    [InlineData("inspect: unknown option \"--node\"; accepted: --url URL, NODE", "--node", "gpu-node-01")]
    [InlineData("inspect: one NODE at most; got \"gpu-node-01\" and \"gpu-node-02\"", "gpu-node-01", "gpu-node-02")]
    public async Task RunAsync_BadCommandLine_ExitsTwoWithTheProblemAndUsage(string expected, params string[] args)
    {
        var (code, output, error) = await Run(args);

        Assert.Equal((2, string.Empty), (code, output));
        Assert.Equal(expected, error.ReplaceLineEndings("\n").Split('\n')[0]);
        Assert.Contains("usage: inspect [--url URL] [NODE]", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_Help_PrintsUsageAndExitsZero()
    {
        var (code, output, error) = await Run(["--help"]);

        Assert.Equal((0, string.Empty), (code, error));
        Assert.StartsWith("usage: inspect [--url URL] [NODE]", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Program_InspectAsFirstArgument_RunsTheCommandAndStartsNoServer()
    {
        var port = RealCluster.ControlPlane.FreePort();
        var program = Path.Combine(AppContext.BaseDirectory, "Kaiwo.Extender.dll");

        var (code, output, error) = await RunProcess("dotnet", new Dictionary<string, string>(), program, "inspect", "--url", $"http://127.0.0.1:{port}");

        Assert.Equal(1, code);
        Assert.StartsWith($"inspect: cannot reach the extender at http://127.0.0.1:{port}/inspect: ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Now listening", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KubectlPlugin_Inspect_RunsTheCommandInTheExtenderContainerWithItsArguments()
    {
        var (code, output, _) = await RunPlugin(new Dictionary<string, string>(), "inspect", "--url", "http://127.0.0.1:8888", "gpu-node-05");

        Assert.Equal(0, code);

        // The image's entry point, and the extender container of the Deployment, as the Dockerfile and manifests name them.
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"Kaiwo.Extender.dll\"]", File.ReadAllText(Deployment.DeploymentFiles.Dockerfile), StringComparison.Ordinal);
        Assert.Equal(
            "--namespace kaiwo-system exec deployment/kaiwo-scheduler --container extender -- dotnet /app/Kaiwo.Extender.dll inspect --url http://127.0.0.1:8888 gpu-node-05",
            output.Trim());
    }

    [Fact]
    public async Task KubectlPlugin_OtherInstall_UsesItsNamespaceAndDeployment()
    {
        var (_, output, _) = await RunPlugin(new Dictionary<string, string> { ["KAIWO_NAMESPACE"] = "gpu", ["KAIWO_DEPLOYMENT"] = "kaiwo-b" }, "inspect");

        Assert.StartsWith("--namespace gpu exec deployment/kaiwo-b --container extender", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KubectlPlugin_UnknownCommand_ExitsTwoNamingIt()
    {
        var (code, output, error) = await RunPlugin(new Dictionary<string, string>(), "describe");

        Assert.Equal((2, string.Empty), (code, output));
        Assert.StartsWith("kubectl kaiwo: unknown command \"describe\"; accepted: inspect", error, StringComparison.Ordinal);
    }

    private static string Fixture(string name) => File.ReadAllText(Path.Combine(FixtureDirectory, name)).ReplaceLineEndings("\n");

    private static string BelowFirstLine(string text) => text.ReplaceLineEndings("\n")[(text.IndexOf('\n', StringComparison.Ordinal) + 1)..];

    private static async Task<(int Code, string Output, string Error)> Run(string[] args, HttpMessageHandler? handler = null)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await InspectCommand.RunAsync(args, output, error, handler);
        return (code, output.ToString().ReplaceLineEndings("\n"), error.ToString());
    }

    /// <summary>plugins/kubectl-kaiwo with a kubectl on PATH that prints its arguments instead of calling a cluster.</summary>
    private static async Task<(int Code, string Output, string Error)> RunPlugin(Dictionary<string, string> environment, params string[] args)
    {
        var bin = Directory.CreateTempSubdirectory("kaiwo-plugin-");
        try
        {
            var kubectl = Path.Combine(bin.FullName, "kubectl");
            await File.WriteAllTextAsync(kubectl, "#!/bin/sh\necho \"$@\"\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(kubectl, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            }

            var withPath = new Dictionary<string, string>(environment) { ["PATH"] = $"{bin.FullName}:{Environment.GetEnvironmentVariable("PATH")}" };
            return await RunProcess("bash", withPath, [Path.Combine(Deployment.DeploymentFiles.Root, "plugins", "kubectl-kaiwo"), .. args]);
        }
        finally
        {
            bin.Delete(recursive: true);
        }
    }

    private static async Task<(int Code, string Output, string Error)> RunProcess(string file, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    /// <summary>The example cluster's extender, in memory.</summary>
    public sealed class ExampleExtender() : ExtenderFixture(new ExtenderFactory(new Dictionary<string, string?> { ["Extender:Mode"] = "standalone" }));

    /// <summary>One fixed answer to every request: what a wrong URL may point at.</summary>
    private sealed class FixedAnswer(HttpStatusCode status, string mediaType, string body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, mediaType), RequestMessage = request });
    }
}

using Kaiwo.Extender.Simulation;
using Kaiwo.Scheduling;

namespace Kaiwo.Extender.Tests.Simulation;

public sealed class TraceFileTests
{
    private const string Valid = """
        horizon: 2h
        pods:
        - name: a
          namespace: research
          arrival: 90
          duration: 1h30m
          queue: research
          priority: 5
          annotations: {kaiwo.ai/gpu-fraction: "0.25"}
          resources: {cpu: "4", memory: 16Gi}
          nodeSelector: {pool: cpx}
        - {"name": "b", "arrival": "2m5s", "duration": 1.5, "resources": {"amd.com/gpu": "2"}}
        """;

    [Fact]
    public void Parse_YamlAndJsonFlowPods_ReadEveryField()
    {
        var trace = TraceFile.Parse(Valid, "t.yaml");

        Assert.Equal(TimeSpan.FromHours(2), trace.Horizon);
        var a = trace.Pods[0];
        Assert.Equal("research/a", a.Pod.Key);
        Assert.Equal(TimeSpan.FromSeconds(90), a.Arrival);
        Assert.Equal(TimeSpan.FromMinutes(90), a.Duration);
        Assert.Equal("research", a.Pod.Labels[WellKnown.QueueLabel]);
        Assert.Equal(5, a.Pod.Priority);
        Assert.Equal("0.25", a.Pod.Annotations[WellKnown.GpuFractionAnnotation]);
        Assert.Equal("16Gi", a.Pod.Containers[0].Requests["memory"]);
        Assert.Equal("cpx", a.NodeSelector!["pool"]);
        var b = trace.Pods[1];
        Assert.Equal("default/b", b.Pod.Key);
        Assert.Equal(TimeSpan.FromSeconds(125), b.Arrival);
        Assert.Equal(TimeSpan.FromSeconds(1.5), b.Duration);
        Assert.Equal("2", b.Pod.Containers[0].Requests[WellKnown.GpuResource]);
    }

    [Fact]
    public void Parse_JsonDocument_ReadsAsYaml()
    {
        var trace = TraceFile.Parse("""{"horizon": 60, "pods": [{"name": "j", "arrival": 0, "duration": 10}]}""", "t.json");

        Assert.Equal(TimeSpan.FromSeconds(60), trace.Horizon);
        Assert.Single(trace.Pods);
    }

    [Fact]
    public void SaveThenLoad_GeneratedTrace_RoundTripsExactly()
    {
        var trace = TraceGenerator.Generate(new TraceMix { Pods = 200, Seed = 3, WholeGpuSelector = new Dictionary<string, string> { ["pool"] = "spx" } });
        foreach (var extension in new[] { ".yaml", ".json" })
        {
            var path = Path.Combine(Path.GetTempPath(), $"kaiwo-trace-{Guid.NewGuid():N}{extension}");
            try
            {
                TraceFile.Save(trace, path, ["test"]);
                var back = TraceFile.Load(path);

                Assert.Equal(trace.Horizon, back.Horizon);
                Assert.Equal(trace.Pods.Select(p => (p.Pod.Key, p.Arrival, p.Duration, p.Pod.Priority)), back.Pods.Select(p => (p.Pod.Key, p.Arrival, p.Duration, p.Pod.Priority)));
                Assert.Equal(trace.Pods.Select(p => string.Join(',', p.Pod.Annotations.OrderBy(x => x.Key))), back.Pods.Select(p => string.Join(',', p.Pod.Annotations.OrderBy(x => x.Key))));
                Assert.Equal(trace.Pods.Select(p => p.NodeSelector?.Count ?? 0), back.Pods.Select(p => p.NodeSelector?.Count ?? 0));
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    [Fact]
    public void Generate_SameSeedAndMix_GivesTheSameTrace()
    {
        var mix = new TraceMix { Pods = 300, Seed = 42 };

        var first = TraceGenerator.Generate(mix);
        var second = TraceGenerator.Generate(mix);
        var other = TraceGenerator.Generate(mix with { Seed = 43 });

        Assert.Equal(300, first.Pods.Count);
        Assert.Equal(first.Pods.Select(p => (p.Pod.Key, p.Arrival, p.Duration)), second.Pods.Select(p => (p.Pod.Key, p.Arrival, p.Duration)));
        Assert.NotEqual(first.Pods.Select(p => p.Arrival), other.Pods.Select(p => p.Arrival));
        Assert.True(first.Pods.Zip(first.Pods.Skip(1)).All(p => p.First.Arrival <= p.Second.Arrival));
        Assert.All(first.Pods, p => Assert.InRange(p.Arrival, TimeSpan.Zero, mix.Horizon));
    }

    [Theory]
    [InlineData("pods:\n- {name: a, arrival: 0, duration: -5}\n", "line 2: pods[0].duration: \"-5\" is not accepted; a duration of at least 0")]
    [InlineData("pods:\n- {name: a, arrival: soon, duration: 5}\n", "line 2: pods[0].arrival: \"soon\" is not accepted")]
    [InlineData("pods:\n- {name: a, duration: 5}\n", "line 2: pods[0].arrival: is missing")]
    [InlineData("pods:\n- {name: a, arrival: 0, duration: 5}\n- {name: b, arival: 0, duration: 5}\n", "line 3: pods[1]: unknown field \"arival\"; accepted fields are name, namespace")]
    [InlineData("pods:\n- {name: a, arrival: 0, duration: 5, priority: high}\n", "pods[0].priority: \"high\" is not accepted; a whole number")]
    [InlineData("pods:\n- {name: A_1, arrival: 0, duration: 5}\n", "pods[0].name: \"A_1\" is not accepted; a Kubernetes name")]
    [InlineData("pods:\n- {name: a, arrival: 0, duration: 5}\n- {name: a, arrival: 1, duration: 5}\n", "line 3: pods[1].name: \"default/a\" is not accepted; pods[0] has the same namespace/name")]
    [InlineData("pods:\n- {name: a, arrival: 0, duration: 5, resources: {cpu: lots}}\n", "pods[0].resources.cpu: \"lots\" is not accepted; a Kubernetes quantity")]
    [InlineData("pods:\n- {name: a, arrival: 0, duration: 5, annotations: [x]}\n", "pods[0].annotations: is not accepted; a mapping of names to plain values")]
    [InlineData("pods:\n- just-a-name\n", "line 2: pods[0]: is not a mapping")]
    [InlineData("horizon: forever\npods: []\n", "line 1: horizon: \"forever\" is not accepted")]
    [InlineData("pods: {a: 1}\n", "\"pods\" is missing or not a list")]
    [InlineData("- a\n- b\n", "expected one mapping with a \"pods\" list")]
    [InlineData("pods: [\n", "not valid YAML or JSON")]
    [InlineData("podz: []\n", "line 1: trace: unknown field \"podz\"")]
    public void Parse_MalformedTrace_NamesTheLineFieldAndValue(string text, string expected)
    {
        var error = Assert.Throws<TraceFileException>(() => TraceFile.Parse(text, "bad.yaml"));

        Assert.StartsWith("trace bad.yaml", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("90", 90)]
    [InlineData("1.5", 1.5)]
    [InlineData("1h30m", 5400)]
    [InlineData("500ms", 0.5)]
    [InlineData("2d", 172800)]
    [InlineData("0", 0)]
    public void TryParseDuration_AcceptedForms_ReadAsSeconds(string text, double seconds)
    {
        Assert.True(TraceFile.TryParseDuration(text, out var value));
        Assert.Equal(seconds, value.TotalSeconds, 9);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("1x")]
    [InlineData("h")]
    [InlineData("1e400")]
    public void TryParseDuration_BadForms_AreRefused(string text) => Assert.False(TraceFile.TryParseDuration(text, out _));
}

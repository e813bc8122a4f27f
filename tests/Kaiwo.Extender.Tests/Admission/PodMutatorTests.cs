using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Kaiwo.Extender.Admission;
using Kaiwo.Extender.Kubernetes;
using Kaiwo.Extender.Tests.FakeApiServer;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.Requests;

namespace Kaiwo.Extender.Tests.Admission;

/// <summary>
/// The webhook's decision on a pod, rule by rule: which pods it leaves alone, what it adds to a GPU pod (checked by
/// applying the patch as the API server would), and that it refuses bad values with the messages filter gives.
/// </summary>
public sealed class PodMutatorTests
{
    private const string FieldPath = "metadata.annotations['kaiwo.ai/visible-devices']";

    private static readonly PodMutator Mutator = new(new RequestOptions(), "kaiwo-scheduler");

    [Fact]
    public void Decide_CpuPod_AllowsItWithoutPatch()
    {
        var pod = Pod(
            """{"prometheus.io/scrape": "true"}""",
            """[{"name": "web", "image": "nginx:1.27", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]""");

        var decision = Mutator.Decide(pod);

        Assert.Equal(PodVerdict.NotGpuPod, decision.Verdict);
        Assert.True(decision.Allowed);
        Assert.Empty(decision.Patch);
        Assert.Null(decision.PatchJson());
    }

    [Fact]
    public void Decide_WholeGpusWithoutKaiwoAnnotations_AllowsItWithoutPatch()
    {
        // amd.com/gpu alone is the Kubernetes way: such a pod keeps the scheduler it names.
        var pod = Pod("{}", """[{"name": "main", "image": "rocm/pytorch", "resources": {"limits": {"amd.com/gpu": "2"}}}]""");

        var decision = Mutator.Decide(pod);

        Assert.Equal(PodVerdict.NotGpuPod, decision.Verdict);
        Assert.Null(decision.PatchJson());
    }

    [Fact]
    public void Decide_FractionPod_SetsSchedulerNameAndRocrVisibleDevicesInEveryContainerAndInitContainer()
    {
        var pod = Pod(
            """{"kaiwo.ai/gpu-fraction": "0.25"}""",
            """[{"name": "main", "image": "rocm/pytorch"}, {"name": "logger", "image": "busybox:1.36"}]""",
            """[{"name": "fetch", "image": "busybox:1.36"}]""");

        var decision = Mutator.Decide(pod);

        Assert.Equal(PodVerdict.GpuPod, decision.Verdict);
        Assert.True(decision.Allowed);
        var patched = Apply(pod, decision);
        Assert.Equal("kaiwo-scheduler", patched["spec"]!["schedulerName"]!.GetValue<string>());
        foreach (var field in new[] { "containers", "initContainers" })
        {
            foreach (var container in patched["spec"]![field]!.AsArray())
            {
                AssertJson(DeviceEnv("ROCR_VISIBLE_DEVICES"), container!["env"]);
            }
        }

        // A container without env gets the array whole: "/-" cannot append to an array that is not there.
        Assert.Equal(
            ["add /spec/schedulerName", "add /spec/initContainers/0/env", "add /spec/containers/0/env", "add /spec/containers/1/env"],
            decision.Patch.Select(o => $"{o.Op} {o.Path}"));
    }

    [Fact]
    public void Decide_ContainerWithEnv_KeepsItsVariablesAndAppendsOnesWithDash()
    {
        var pod = Pod(
            """{"kaiwo.ai/gpu-memory": "24Gi"}""",
            """[{"name": "main", "image": "rocm/pytorch", "env": [{"name": "NCCL_DEBUG", "value": "INFO"}]}]""");

        var decision = Mutator.Decide(pod);

        Assert.Equal(
            ["add /spec/schedulerName", "add /spec/containers/0/env/-"],
            decision.Patch.Select(o => $"{o.Op} {o.Path}"));
        var env = Apply(pod, decision)["spec"]!["containers"]![0]!["env"];
        var expected = DeviceEnv("ROCR_VISIBLE_DEVICES");
        expected.Insert(0, new JsonObject { ["name"] = "NCCL_DEBUG", ["value"] = "INFO" });
        AssertJson(expected, env);
    }

    [Fact]
    public void Decide_ContainerThatSetsRocrVisibleDevices_KeepsItsValue()
    {
        var ownEnv = """[{"name": "ROCR_VISIBLE_DEVICES", "value": "0,1"}]""";
        var pod = Pod(
            """{"kaiwo.ai/gpu-fraction": "0.5"}""",
            $$"""[{"name": "main", "image": "rocm/pytorch", "env": {{ownEnv}}}, {"name": "side", "image": "busybox:1.36"}]""");

        var decision = Mutator.Decide(pod);

        Assert.DoesNotContain(decision.Patch, o => o.Path.StartsWith("/spec/containers/0/", StringComparison.Ordinal));
        AssertJson(JsonNode.Parse(ownEnv), Apply(pod, decision)["spec"]!["containers"]![0]!["env"]);
        Assert.Contains(decision.Patch, o => o.Path == "/spec/containers/1/env");
    }

    [Fact]
    public void Decide_AnyGpuPod_NeverSetsHipVisibleDevices()
    {
        // HIP numbers devices from 0 within what ROCr left visible: node-level ids in HIP_VISIBLE_DEVICES would hide
        // the GPUs (ids 2,3 name HIP devices 2 and 3 of the two that are left).
        var pod = Pod(
            """{"kaiwo.ai/gpu-fraction": "0.25", "kaiwo.ai/gpu-isolation": "xcd"}""",
            """[{"name": "main", "image": "rocm/pytorch", "env": [{"name": "NCCL_DEBUG", "value": "INFO"}]}, {"name": "side", "image": "busybox:1.36"}]""",
            """[{"name": "fetch", "image": "busybox:1.36"}]""");

        var decision = Mutator.Decide(pod);

        var json = decision.PatchJson()!;
        Assert.DoesNotContain("HIP_VISIBLE_DEVICES", Encoding.UTF8.GetString(json), StringComparison.Ordinal);
        var patched = Apply(pod, decision);
        foreach (var field in new[] { "containers", "initContainers" })
        {
            foreach (var container in patched["spec"]![field]!.AsArray())
            {
                Assert.Single(container!["env"]!.AsArray(), e => e!["name"]!.GetValue<string>() == "ROCR_VISIBLE_DEVICES");
            }
        }
    }

    [Fact]
    public void Decide_ContainerThatSetsHipVisibleDevicesItself_KeepsItAndGetsRocrVisibleDevices()
    {
        var pod = Pod(
            """{"kaiwo.ai/gpu-fraction": "0.5"}""",
            """[{"name": "main", "image": "rocm/pytorch", "env": [{"name": "HIP_VISIBLE_DEVICES", "value": "0"}]}]""");

        var decision = Mutator.Decide(pod);

        var env = Apply(pod, decision)["spec"]!["containers"]![0]!["env"];
        var expected = DeviceEnv("ROCR_VISIBLE_DEVICES");
        expected.Insert(0, new JsonObject { ["name"] = "HIP_VISIBLE_DEVICES", ["value"] = "0" });
        AssertJson(expected, env);
    }

    [Fact]
    public void Decide_SchedulerNameAlreadyKaiwo_HasNoSchedulerNameOperation()
    {
        var pod = Pod(
            """{"kaiwo.ai/gpu-fraction": "0.5"}""",
            """[{"name": "main", "image": "rocm/pytorch"}]""",
            schedulerName: "kaiwo-scheduler");

        var decision = Mutator.Decide(pod);

        Assert.Equal(PodVerdict.GpuPod, decision.Verdict);
        Assert.Equal(["/spec/containers/0/env"], decision.Patch.Select(o => o.Path));
    }

    [Fact]
    public void Decide_GpuPodWithNothingMissing_AllowsItWithoutPatch()
    {
        var pod = Pod(
            """{"kaiwo.ai/placement": "spread"}""",
            """[{"name": "main", "image": "rocm/pytorch", "env": [{"name": "ROCR_VISIBLE_DEVICES", "value": "0"}, {"name": "HIP_VISIBLE_DEVICES", "value": "0"}]}]""",
            schedulerName: "kaiwo-scheduler");

        var decision = Mutator.Decide(pod);

        Assert.Equal(PodVerdict.GpuPod, decision.Verdict);
        Assert.Null(decision.PatchJson());
    }

    [Fact]
    public void Decide_OtherSchedulerName_IsReplaced()
    {
        // The API server has defaulted an absent schedulerName before the webhook sees the pod; "add" replaces it.
        var pod = Pod("""{"kaiwo.ai/gpu-sharing": "false"}""", """[{"name": "main", "image": "rocm/pytorch"}]""", schedulerName: "default-scheduler");

        var decision = Mutator.Decide(pod);

        Assert.Contains(decision.Patch, o => o is { Op: "add", Path: "/spec/schedulerName" } && o.Value!.GetValue<string>() == "kaiwo-scheduler");
        Assert.Equal("kaiwo-scheduler", Apply(pod, decision)["spec"]!["schedulerName"]!.GetValue<string>());
    }

    [Fact]
    public void Decide_BadFraction_RefusesWithTheMessageFilterGives()
    {
        var pod = Pod("""{"kaiwo.ai/gpu-fraction": "abc"}""", """[{"name": "main", "image": "rocm/pytorch"}]""");

        var decision = Mutator.Decide(pod);

        Assert.Equal(PodVerdict.Refused, decision.Verdict);
        Assert.False(decision.Allowed);
        Assert.Empty(decision.Patch);
        Assert.Equal("kaiwo.ai/gpu-fraction: \"abc\" is not accepted; a decimal in (0, 1] with at most 3 decimals, at least 0.1", decision.Message);
        Assert.Equal(FilterReason(pod, new PipelineOptions()), decision.Message);
    }

    [Fact]
    public void Decide_FractionWithTwoGpus_RefusesWithTheMessageFilterGives()
    {
        var pod = Pod(
            """{"kaiwo.ai/gpu-fraction": "0.5"}""",
            """[{"name": "main", "image": "rocm/pytorch", "resources": {"requests": {"amd.com/gpu": "2"}, "limits": {"amd.com/gpu": "2"}}}]""");

        var decision = Mutator.Decide(pod);

        Assert.Equal(PodVerdict.Refused, decision.Verdict);
        Assert.Equal(
            "amd.com/gpu: \"2\" is not accepted; a pod with kaiwo.ai/gpu-fraction or kaiwo.ai/gpu-memory may ask for at most 1 amd.com/gpu (the device plugin's slot)",
            decision.Message);
        Assert.Equal(FilterReason(pod, new PipelineOptions()), decision.Message);
    }

    [Fact]
    public void Decide_SeveralBadValues_RefusesWithEveryMessageJoinedAsFilterJoinsThem()
    {
        var pod = Pod("""{"kaiwo.ai/gpu-fraction": "2", "kaiwo.ai/gpu-isolation": "full", "kaiwo.ai/placement": "random"}""", """[{"name": "main", "image": "rocm/pytorch"}]""");

        var decision = Mutator.Decide(pod);

        Assert.Equal(PodVerdict.Refused, decision.Verdict);
        Assert.Equal(3, decision.Message!.Split("; ").Count(part => part.Contains("is not accepted", StringComparison.Ordinal)));
        Assert.Equal(FilterReason(pod, new PipelineOptions()), decision.Message);
    }

    [Fact]
    public void Decide_FractionBelowTheConfiguredMinimum_RefusesWithThatMinimum()
    {
        var options = new PipelineOptions { Requests = new RequestOptions { MinimumFractionMilli = 200 } };
        var mutator = new PodMutator(options.Requests, "kaiwo-scheduler");
        var pod = Pod("""{"kaiwo.ai/gpu-fraction": "0.1"}""", """[{"name": "main", "image": "rocm/pytorch"}]""");

        var decision = mutator.Decide(pod);

        Assert.Equal(PodVerdict.Refused, decision.Verdict);
        Assert.EndsWith("at least 0.2", decision.Message, StringComparison.Ordinal);
        Assert.Equal(FilterReason(pod, options), decision.Message);
    }

    [Fact]
    public void Decide_PodWithOnlyGenerateName_IsDecidedLikeANamedOne()
    {
        // Pods of ReplicaSets and Jobs reach admission before the API server has generated their name.
        var pod = JsonShape.Parse("""
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"generateName": "train-7c9f6d8b5d-", "namespace": "team-a", "annotations": {"kaiwo.ai/gpu-fraction": "0.5"}},
             "spec": {"containers": [{"name": "main", "image": "rocm/pytorch"}], "schedulerName": "default-scheduler"}}
            """);

        var decision = Mutator.Decide(pod);

        Assert.Equal(PodVerdict.GpuPod, decision.Verdict);
        Assert.False(Apply(pod, decision)["metadata"]!.AsObject().ContainsKey("name"));
        Assert.Equal(["/spec/schedulerName", "/spec/containers/0/env"], decision.Patch.Select(o => o.Path));
    }

    [Fact]
    public void Decide_ConfiguredSchedulerName_IsTheOneSet()
    {
        var mutator = new PodMutator(new RequestOptions(), "gpu-scheduler");
        var pod = Pod("""{"kaiwo.ai/gpu-fraction": "0.5"}""", """[{"name": "main", "image": "rocm/pytorch"}]""");

        var patched = Apply(pod, mutator.Decide(pod));

        Assert.Equal("gpu-scheduler", patched["spec"]!["schedulerName"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("\"a pod\"")]
    [InlineData("[]")]
    [InlineData("null")]
    public void Decide_NotAPodObject_ThrowsJsonException(string json)
    {
        Assert.ThrowsAny<JsonException>(() => Mutator.Decide(JsonShape.Parse(json)));
    }

    /// <summary>A pod as the API server hands it to admission: defaulted, not yet named by the server's uid.</summary>
    private static JsonElement Pod(string annotations, string containers, string? initContainers = null, string schedulerName = "default-scheduler")
    {
        var init = initContainers is null ? string.Empty : $"\"initContainers\": {initContainers},";
        return JsonShape.Parse($$$"""
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "p", "namespace": "team-a", "creationTimestamp": null, "annotations": {{{annotations}}}},
             "spec": {{{{init}}} "containers": {{{containers}}}, "restartPolicy": "Always", "schedulerName": "{{{schedulerName}}}"},
             "status": {}}
            """);
    }

    /// <summary>The pod after the decision's patch, applied by the test API server's RFC 6902 implementation.</summary>
    private static JsonNode Apply(JsonElement pod, PodDecision decision)
    {
        var node = JsonNode.Parse(pod.GetRawText())!;
        var patch = decision.PatchJson();
        return patch is null ? node : JsonPatches.JsonPatch(node, JsonNode.Parse(Encoding.UTF8.GetString(patch))!.AsArray())!;
    }

    private static JsonArray DeviceEnv(params string[] names) =>
        [.. names.Select(name => (JsonNode)new JsonObject
        {
            ["name"] = name,
            ["valueFrom"] = new JsonObject { ["fieldRef"] = new JsonObject { ["apiVersion"] = "v1", ["fieldPath"] = FieldPath } },
        })];

    /// <summary>What filter says of the pod on every node: the request stage's reason.</summary>
    private static string? FilterReason(JsonElement pod, PipelineOptions options)
    {
        var facts = ObjectJson.ReadPod(pod, "$");
        return new SchedulingPipeline(options).EvaluatePod(facts, ExtenderFactory.Now).Unresolvable;
    }

    private static void AssertJson(JsonNode? expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(expected, actual), $"expected {expected?.ToJsonString()}\nactual   {actual?.ToJsonString()}");
}

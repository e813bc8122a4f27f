using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kaiwo.Extender.Tests.FakeApiServer;
using Kaiwo.Extender.Tests.Hosting;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Tests.Admission;

/// <summary>The names cluster with the admission webhook enabled: its listener is HTTPS, so it has a certificate.</summary>
public sealed class AdmissionCluster() : CertifiedExtenderFixture(
    TestPki.Create(ExtenderFactory.Now), new Dictionary<string, string?> { ["Admission:Enabled"] = "true" }, kestrel: false);

/// <summary>
/// <c>POST /admission/mutate-pods</c> through the whole service, with AdmissionReview v1 bodies in the shape the API
/// server sends: what is admitted, what the patch makes of the pod, what is refused, and what is not an AdmissionReview.
/// </summary>
public sealed class AdmissionWebhookTests(AdmissionCluster admission, NamesCluster disabled)
    : IClassFixture<AdmissionCluster>, IClassFixture<NamesCluster>
{
    private const string Path = "/admission/mutate-pods";
    private const string FieldPath = "metadata.annotations['kaiwo.ai/visible-devices']";
    private static readonly string[] ReviewKeys = ["apiVersion", "kind", "response"];
    private static readonly string[] ErrorKeys = ["Error"];
    private static readonly string[] AllowedKeys = ["uid", "allowed"];
    private static readonly string[] DeviceVariables = ["ROCR_VISIBLE_DEVICES"];

    /// <summary>
    /// A pod of a Deployment's ReplicaSet as the API server sends it to a mutating webhook: defaulted, with the service
    /// account volume and the default tolerations added by the admission plugins before it, and no name yet.
    /// </summary>
    private const string ReplicaSetPod = """
        {
          "kind": "Pod",
          "apiVersion": "v1",
          "metadata": {
            "generateName": "train-7c9f6d8b5d-",
            "namespace": "team-a",
            "creationTimestamp": null,
            "labels": {"app": "train", "kaiwo.ai/queue": "research-queue", "pod-template-hash": "7c9f6d8b5d"},
            "annotations": {"kaiwo.ai/gpu-fraction": "0.25", "kaiwo.ai/gpu-isolation": "xcd"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "train-7c9f6d8b5d",
                                 "uid": "5b0f3c1e-8d7a-4c52-9e61-2f4a7b9c0d13", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                               "time": "2026-11-23T13:59:58Z", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:kaiwo.ai/gpu-fraction": {}, "f:kaiwo.ai/gpu-isolation": {}},
                                                           "f:generateName": {}}}}]
          },
          "spec": {
            "volumes": [{"name": "kube-api-access-x7k2p", "projected": {"sources": [
              {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
              {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
              {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}],
              "defaultMode": 420}}],
            "initContainers": [{
              "name": "fetch-weights",
              "image": "busybox:1.36",
              "command": ["sh", "-c", "cp -r /src/weights /work"],
              "resources": {},
              "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
              "terminationMessagePath": "/dev/termination-log",
              "terminationMessagePolicy": "File",
              "imagePullPolicy": "IfNotPresent"
            }],
            "containers": [{
              "name": "main",
              "image": "rocm/pytorch:rocm6.2_ubuntu22.04_py3.10_pytorch_release_2.3.0",
              "command": ["python", "train.py"],
              "env": [{"name": "NCCL_DEBUG", "value": "INFO"}],
              "resources": {"limits": {"amd.com/gpu": "1"}, "requests": {"amd.com/gpu": "1", "cpu": "4", "memory": "32Gi"}},
              "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
              "terminationMessagePath": "/dev/termination-log",
              "terminationMessagePolicy": "File",
              "imagePullPolicy": "IfNotPresent"
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
              {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
              {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
          },
          "status": {}
        }
        """;

    /// <summary>A pod created with kubectl by a person, named, with a value filter refuses.</summary>
    private const string BadFractionPod = """
        {
          "kind": "Pod",
          "apiVersion": "v1",
          "metadata": {
            "name": "bad-fraction",
            "namespace": "team-a",
            "creationTimestamp": null,
            "annotations": {"kaiwo.ai/gpu-fraction": "abc"}
          },
          "spec": {
            "containers": [{"name": "main", "image": "rocm/pytorch", "resources": {"requests": {"cpu": "1", "memory": "4Gi"}},
                            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
          },
          "status": {}
        }
        """;

    [Fact]
    public async Task Mutate_FractionPodOfAReplicaSet_AllowsWithAJsonPatchThatGivesTheExpectedPod()
    {
        var uid = "0d6f8a52-3c1b-4e7a-9f20-6b8e4d1c7a35";
        var review = Review(uid, ReplicaSetPod, userName: "system:serviceaccount:kube-system:replicaset-controller", name: string.Empty);

        var answer = await Fixtures.PostAsync(admission.Client, Path, review);

        var response = AssertReview(answer, uid);
        Assert.True(response.GetProperty("allowed").GetBoolean());
        Assert.False(response.TryGetProperty("status", out _));
        Assert.Equal("JSONPatch", response.GetProperty("patchType").GetString());
        var patch = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(response.GetProperty("patch").GetString()!)))!.AsArray();
        var patched = JsonPatches.JsonPatch(JsonNode.Parse(ReplicaSetPod), patch);

        var expected = JsonNode.Parse(ReplicaSetPod)!;
        expected["spec"]!["schedulerName"] = "kaiwo-scheduler";
        expected["spec"]!["initContainers"]![0]!["env"] = DeviceEnv();
        var mainEnv = DeviceEnv();
        mainEnv.Insert(0, new JsonObject { ["name"] = "NCCL_DEBUG", ["value"] = "INFO" });
        expected["spec"]!["containers"]![0]!["env"] = mainEnv;
        Assert.True(JsonNode.DeepEquals(expected, patched), $"the patched pod:\n{patched?.ToJsonString()}");
    }

    [Fact]
    public async Task Mutate_BadFraction_RefusesWithCode400AndTheReasonFilterGives()
    {
        var uid = "9a1e7c44-0b2d-4f6e-8a13-5c7d2e9f4b60";

        var answer = await Fixtures.PostAsync(admission.Client, Path, Review(uid, BadFractionPod, userName: "kubernetes-admin", name: "bad-fraction"));

        var response = AssertReview(answer, uid);
        Assert.False(response.GetProperty("allowed").GetBoolean());
        Assert.Equal(400, response.GetProperty("status").GetProperty("code").GetInt32());
        Assert.False(response.TryGetProperty("patch", out _));
        Assert.False(response.TryGetProperty("patchType", out _));
        var message = response.GetProperty("status").GetProperty("message").GetString();
        Assert.Equal("kaiwo.ai/gpu-fraction: \"abc\" is not accepted; a decimal in (0, 1] with at most 3 decimals, at least 0.1", message);

        var filter = await Fixtures.PostAsync(admission.Client, "/filter", $$"""{"Pod": {{BadFractionPod}}, "NodeNames": ["gpu-node-01", "cpu-node-01"]}""");
        Assert.Equal(HttpStatusCode.OK, filter.Status);
        var unresolvable = JsonShape.StringMap(filter.Json.GetProperty("FailedAndUnresolvableNodes"));
        Assert.Equal(message, unresolvable["gpu-node-01"]);
        Assert.Equal(message, unresolvable["cpu-node-01"]);
    }

    [Fact]
    public async Task Mutate_CpuPod_AllowsWithoutPatch()
    {
        var uid = "3f5b9d21-7e84-4c0a-b6d2-1a8c5e7f9b04";
        var pod = BadFractionPod.Replace("\"annotations\": {\"kaiwo.ai/gpu-fraction\": \"abc\"}", "\"annotations\": {\"team\": \"web\"}", StringComparison.Ordinal);

        var answer = await Fixtures.PostAsync(admission.Client, Path, Review(uid, pod, userName: "kubernetes-admin", name: "bad-fraction"));

        var response = AssertReview(answer, uid);
        Assert.True(response.GetProperty("allowed").GetBoolean());
        Assert.Equal(AllowedKeys, JsonShape.PropertyNames(response));
    }

    [Fact]
    public async Task Mutate_UpdateOfAGpuPod_AllowsWithoutPatch()
    {
        // The webhook is registered for CREATE; whatever else it is sent, it lets through unchanged.
        var uid = "c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f";
        var review = Review(uid, ReplicaSetPod, userName: "kubernetes-admin", name: "train-7c9f6d8b5d-abcde", operation: "UPDATE");

        var answer = await Fixtures.PostAsync(admission.Client, Path, review);

        var response = AssertReview(answer, uid);
        Assert.True(response.GetProperty("allowed").GetBoolean());
        Assert.False(response.TryGetProperty("patch", out _));
    }

    public static TheoryData<string, string> MalformedBodies() => new()
    {
        { """{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": """, "AdmissionReview" },
        { "null", "null" },
        { "[]", "AdmissionReview" },
        { """{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "u"}}""", "admission.k8s.io/v1" },
        { """{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}""", "request" },
        { """{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"operation": "CREATE"}}""", "uid" },
        { """{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "object": "a pod"}}""", "not a Pod" },
        { """{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE"}}""", "object" },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task Mutate_MalformedBody_Returns400WithJsonError(string body, string mentioned)
    {
        var answer = await Fixtures.PostAsync(admission.Client, Path, body);

        Assert.True(answer.Status == HttpStatusCode.BadRequest, $"{body}: {answer}");
        Assert.Equal("application/json", answer.MediaType);
        Assert.Equal(ErrorKeys, JsonShape.PropertyNames(answer.Json));
        Assert.Contains(mentioned, answer.Json.GetProperty("Error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mutate_WebhookDisabledByDefault_Returns404()
    {
        var review = Review("1b2c3d4e-5f60-4718-9a0b-c1d2e3f4a5b6", ReplicaSetPod, userName: "kubernetes-admin", name: string.Empty);

        var answer = await Fixtures.PostAsync(disabled.Client, Path, review);

        Assert.Equal(HttpStatusCode.NotFound, answer.Status);
    }

    [Fact]
    public void Start_BadAdmissionSchedulerName_StopsTheStartListingItWithTheOtherProblems()
    {
        using var factory = ExtenderFactory.ForMode("names", new Dictionary<string, string?>
        {
            ["Admission:SchedulerName"] = "Kaiwo_Scheduler",
            ["Scheduling:MinimumGpuFraction"] = "0",
        });

        var ex = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains("Admission:SchedulerName", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Kaiwo_Scheduler", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Scheduling:MinimumGpuFraction", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, ex.Failures.Count());
    }

    /// <summary>An AdmissionReview v1 request as the API server sends it for a pod CREATE in team-a.</summary>
    private static string Review(string uid, string pod, string userName, string name, string operation = "CREATE") => $$"""
        {
          "kind": "AdmissionReview",
          "apiVersion": "admission.k8s.io/v1",
          "request": {
            "uid": "{{uid}}",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            {{(name.Length == 0 ? string.Empty : $"\"name\": \"{name}\",")}}
            "namespace": "team-a",
            "operation": "{{operation}}",
            "userInfo": {
              "username": "{{userName}}",
              "uid": "6e0b1f7a-2c94-4d38-a5e1-8f3b7c2d9e40",
              "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]
            },
            "object": {{pod}},
            "oldObject": {{(operation == "UPDATE" ? pod : "null")}},
            "dryRun": false,
            "options": {"kind": "{{(operation == "UPDATE" ? "UpdateOptions" : "CreateOptions")}}", "apiVersion": "meta.k8s.io/v1"}
          }
        }
        """;

    /// <summary>Checks the envelope of an answer (200, AdmissionReview v1, the request's uid) and returns its response.</summary>
    private static JsonElement AssertReview(HttpAnswer answer, string uid)
    {
        Assert.True(answer.Status == HttpStatusCode.OK, answer.ToString());
        Assert.Equal("application/json", answer.MediaType);
        var json = answer.Json;
        Assert.Equal(ReviewKeys, JsonShape.PropertyNames(json));
        Assert.Equal("admission.k8s.io/v1", json.GetProperty("apiVersion").GetString());
        Assert.Equal("AdmissionReview", json.GetProperty("kind").GetString());
        var response = json.GetProperty("response");
        Assert.Equal(uid, response.GetProperty("uid").GetString());
        return response;
    }

    private static JsonArray DeviceEnv() =>
        [.. DeviceVariables.Select(name => (JsonNode)new JsonObject
        {
            ["name"] = name,
            ["valueFrom"] = new JsonObject { ["fieldRef"] = new JsonObject { ["apiVersion"] = "v1", ["fieldPath"] = FieldPath } },
        })];
}

using System.Text.Json;
using Kaiwo.Scheduling.Queues;

namespace Kaiwo.Scheduling.Tests.Queues;

public sealed class QueueSpecReaderTests
{
    /// <summary>The example of SPEC §6, as JSON.</summary>
    private const string SpecExample = """
        {"apiVersion":"kaiwo.ai/v1alpha2","kind":"KaiwoQueue","metadata":{"name":"research-queue"},
         "spec":{"displayName":"Research Queue","parentQueue":"ai-department","priority":100,
          "resources":{"gpu":{"quota":10,"overQuotaWeight":50,"limit":20},
                       "cpu":{"quota":100,"overQuotaWeight":30,"limit":200},
                       "memory":{"quota":512,"overQuotaWeight":1,"limit":-1}},
          "fairness":{"policy":"DRF","reclaimStrategy":"aggressive"}}}
        """;

    /// <summary>The object a real kube-apiserver returned for the create of capture 6d (and listed in 6e).</summary>
    private const string CapturedObject = """
        {"apiVersion":"kaiwo.ai/v1alpha2","kind":"KaiwoQueue","metadata":{"creationTimestamp":"2026-11-23T13:45:18Z","generation":1,"managedFields":[{"apiVersion":"kaiwo.ai/v1alpha2","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{".":{},"f:clusterQueues":{}}},"manager":"kaiwo-apicapture","operation":"Update","time":"2026-11-23T13:45:18Z"}],"name":"kaiwo","resourceVersion":"244","uid":"c2c0ea77-05b8-49db-89da-a18a76a46ecf"},"spec":{"clusterQueues":[{"name":"team-a","namespaces":["team-a"],"resources":[{"name":"amd.com/gpu","nominalQuota":16}]}]}}
        """;

    [Fact]
    public void TryRead_SpecExample_ReadsToTheExactCoreUnits()
    {
        var spec = ReadOk(SpecExample);

        Assert.Equal("research-queue", spec.Name);
        Assert.Equal("Research Queue", spec.DisplayName);
        Assert.Equal("ai-department", spec.Parent);
        Assert.Equal(100, spec.Priority);
        Assert.Equal(new QueueResourceSpec(10_000, 50, 20_000), spec.Gpu);
        Assert.Equal(new QueueResourceSpec(100_000, 30, 200_000), spec.Cpu);
        Assert.Equal(new QueueResourceSpec(524_288, 1, -1), spec.Memory);
        Assert.False(spec.Memory.HasLimit);
        Assert.True(spec.Gpu.HasLimit);
        Assert.Equal(ReclaimStrategy.Aggressive, spec.Reclaim);
    }

    [Fact]
    public void TryRead_ObjectFromTheRealApiServer_ReadsItsNameAndIgnoresFieldsOfAnotherShape()
    {
        var spec = ReadOk(CapturedObject);

        Assert.Equal("kaiwo", spec.Name);
        Assert.Null(spec.Parent);
        Assert.Equal(new QueueSpec { Name = "kaiwo" }, spec);
    }

    [Fact]
    public void TryRead_ItemOfTheRealList_ReadsLikeTheObject()
    {
        var list = $$$"""{"apiVersion":"kaiwo.ai/v1alpha2","items":[{{{CapturedObject}}}],"kind":"KaiwoQueueList","metadata":{"continue":"","resourceVersion":"244"}}""";
        using var doc = JsonDocument.Parse(list);

        var item = Assert.Single(doc.RootElement.GetProperty("items").EnumerateArray());

        Assert.True(QueueSpecReader.TryRead(item, out var spec, out var errors), string.Join("\n", errors));
        Assert.Equal("kaiwo", spec!.Name);
    }

    [Theory]
    [InlineData("""{"metadata":{"name":"q"}}""")]
    [InlineData("""{"metadata":{"name":"q"},"spec":{}}""")]
    [InlineData("""{"metadata":{"name":"q"},"spec":{"resources":{}}}""")]
    [InlineData("""{"metadata":{"name":"q"},"spec":{"resources":{"gpu":{},"cpu":{},"memory":{}}}}""")]
    [InlineData("""{"metadata":{"name":"q"},"spec":{"priority":null,"resources":{"gpu":{"quota":null,"limit":null}},"fairness":null}}""")]
    public void TryRead_ResourcesAbsent_TakesTheDefaults(string json)
    {
        var spec = ReadOk(json);

        Assert.Equal(0, spec.Priority);
        Assert.Null(spec.Parent);
        Assert.Null(spec.DisplayName);
        Assert.All(ResourceVector.All, r => Assert.Equal(new QueueResourceSpec(0, 1, -1), spec[r]));
        Assert.Equal(ReclaimStrategy.Aggressive, spec.Reclaim);
    }

    [Theory]
    [InlineData("0.5", 500)]
    [InlineData("0.125", 125)]
    [InlineData("2.25", 2250)]
    [InlineData("1.500", 1500)]
    [InlineData("1e1", 10_000)]
    [InlineData("0", 0)]
    public void TryRead_FractionalGpus_AreThousandths(string quota, long expected)
    {
        var spec = ReadOk(Queue(Resource("gpu", $"\"quota\":{quota},\"limit\":{quota}")));

        Assert.Equal(expected, spec.Gpu.Quota);
        Assert.Equal(expected, spec.Gpu.Limit);
    }

    [Theory]
    [InlineData("\"500m\"", 500)]
    [InlineData("\"100\"", 100_000)]
    [InlineData("\"1.5\"", 1500)]
    [InlineData("\"2k\"", 2_000_000)]
    [InlineData("0.25", 250)]
    [InlineData("16", 16_000)]
    public void TryRead_CpuAsNumberOrQuantity_IsMillicores(string quota, long expected)
    {
        var spec = ReadOk(Queue(Resource("cpu", $"\"quota\":{quota}")));

        Assert.Equal(expected, spec.Cpu.Quota);
    }

    [Theory]
    [InlineData("\"512Gi\"", 524_288)]
    [InlineData("\"1Ti\"", 1_048_576)]
    [InlineData("\"100Mi\"", 100)]
    [InlineData("\"1G\"", 954)]
    [InlineData("\"1500Ki\"", 2)]
    [InlineData("0.5", 512)]
    [InlineData("1.0001", 1025)]
    [InlineData("512", 524_288)]
    public void TryRead_MemoryAsGibOrQuantity_IsMibRoundedUp(string quota, long expected)
    {
        var spec = ReadOk(Queue(Resource("memory", $"\"quota\":{quota}")));

        Assert.Equal(expected, spec.Memory.Quota);
    }

    [Theory]
    [InlineData("\"conservative\"", ReclaimStrategy.Conservative)]
    [InlineData("\"aggressive\"", ReclaimStrategy.Aggressive)]
    public void TryRead_ReclaimStrategy_IsRead(string strategy, ReclaimStrategy expected)
    {
        var spec = ReadOk(Queue($$$"""{"fairness":{"policy":"DRF","reclaimStrategy":{{{strategy}}}}}"""));

        Assert.Equal(expected, spec.Reclaim);
    }

    [Theory]
    [InlineData("-5", -5)]
    [InlineData("0", 0)]
    [InlineData("2.0", 2)]
    [InlineData("2147483647", int.MaxValue)]
    public void TryRead_WholePriority_IsRead(string priority, int expected)
    {
        Assert.Equal(expected, ReadOk(Queue($$$"""{"priority":{{{priority}}}}""")).Priority);
    }

    [Fact]
    public void TryRead_LimitEqualToQuotaAndZeroWeight_AreAccepted()
    {
        var spec = ReadOk(Queue("""{"resources":{"gpu":{"quota":4,"overQuotaWeight":0,"limit":4},"cpu":{"quota":"500m","limit":0.5}}}"""));

        Assert.Equal(new QueueResourceSpec(4000, 0, 4000), spec.Gpu);
        Assert.Equal(new QueueResourceSpec(500, 1, 500), spec.Cpu);
    }

    [Fact]
    public void TryRead_UnknownFields_AreIgnored()
    {
        var spec = ReadOk(Queue("""{"future":{"x":1},"resources":{"gpu":{"quota":1,"burst":9},"tpu":{"quota":"x"}},"fairness":{"policy":"DRF","window":"5m"}}"""));

        Assert.Equal(1000, spec.Gpu.Quota);
    }

    [Theory]
    [InlineData("""{"resources":{"gpu":{"quota":10,"limit":5}}}""", "spec.resources.gpu.limit: 5 is below quota 10; accepted: -1 (no limit) or at least the quota")]
    [InlineData("""{"resources":{"cpu":{"quota":"2","limit":"1500m"}}}""", "spec.resources.cpu.limit: \"1500m\" is below quota \"2\"; accepted: -1 (no limit) or at least the quota")]
    [InlineData("""{"resources":{"memory":{"quota":512,"limit":"256Gi"}}}""", "spec.resources.memory.limit: \"256Gi\" is below quota 512; accepted: -1 (no limit) or at least the quota")]
    [InlineData("""{"resources":{"gpu":{"limit":-2}}}""", "spec.resources.gpu.limit: -2 is negative; accepted: -1 (no limit) or at least the quota")]
    [InlineData("""{"resources":{"gpu":{"limit":-0.5}}}""", "spec.resources.gpu.limit: -0.5 is negative; accepted: -1 (no limit) or at least the quota")]
    [InlineData("""{"resources":{"cpu":{"limit":"-1"}}}""", "spec.resources.cpu.limit: \"-1\" is negative; accepted: -1 (no limit) or at least the quota")]
    [InlineData("""{"resources":{"gpu":{"limit":"20"}}}""", "spec.resources.gpu.limit: \"20\" is a string; accepted: -1 (no limit) or a number of GPUs with at most 3 decimals, at least the quota")]
    [InlineData("""{"resources":{"gpu":{"quota":-1}}}""", "spec.resources.gpu.quota: -1 is negative; accepted: a number of GPUs with at most 3 decimals, at least 0")]
    [InlineData("""{"resources":{"cpu":{"quota":"-500m"}}}""", "spec.resources.cpu.quota: \"-500m\" is negative; accepted: a number of cores with at most 3 decimals or a quantity (\"500m\", \"100\"), at least 0")]
    [InlineData("""{"resources":{"memory":{"quota":-0.5}}}""", "spec.resources.memory.quota: -0.5 is negative; accepted: a number of GiB or a quantity with a unit (\"512Gi\", \"1Ti\"), at least 0")]
    [InlineData("""{"resources":{"gpu":{"quota":0.0005}}}""", "spec.resources.gpu.quota: 0.0005 has more than 3 decimals; accepted: a number of GPUs with at most 3 decimals, at least 0")]
    [InlineData("""{"resources":{"cpu":{"quota":1.2345}}}""", "spec.resources.cpu.quota: 1.2345 has more than 3 decimals; accepted: a number of cores with at most 3 decimals or a quantity (\"500m\", \"100\"), at least 0")]
    [InlineData("""{"resources":{"cpu":{"quota":"0.5m"}}}""", "spec.resources.cpu.quota: \"0.5m\" is finer than 1m; accepted: a number of cores with at most 3 decimals or a quantity (\"500m\", \"100\"), at least 0")]
    [InlineData("""{"resources":{"cpu":{"quota":"lots"}}}""", "spec.resources.cpu.quota: \"lots\" is not a quantity; accepted: a number of cores with at most 3 decimals or a quantity (\"500m\", \"100\"), at least 0")]
    [InlineData("""{"resources":{"memory":{"quota":"512"}}}""", "spec.resources.memory.quota: \"512\" has no unit; accepted: a number of GiB or a quantity with a unit (\"512Gi\", \"1Ti\"), at least 0")]
    [InlineData("""{"resources":{"memory":{"quota":"512Gb"}}}""", "spec.resources.memory.quota: \"512Gb\" is not a quantity; accepted: a number of GiB or a quantity with a unit (\"512Gi\", \"1Ti\"), at least 0")]
    [InlineData("""{"resources":{"gpu":{"quota":"4"}}}""", "spec.resources.gpu.quota: \"4\" is a string; accepted: a number of GPUs with at most 3 decimals, at least 0")]
    [InlineData("""{"resources":{"gpu":{"quota":true}}}""", "spec.resources.gpu.quota: true is a boolean; accepted: a number of GPUs with at most 3 decimals, at least 0")]
    [InlineData("""{"resources":{"gpu":{"quota":1e30}}}""", "spec.resources.gpu.quota: 1e30 is too large; accepted: a number of GPUs with at most 3 decimals, at least 0")]
    [InlineData("""{"resources":{"gpu":{"overQuotaWeight":-1}}}""", "spec.resources.gpu.overQuotaWeight: -1 is negative; accepted: a whole number from 0 to 2147483647")]
    [InlineData("""{"resources":{"cpu":{"overQuotaWeight":1.5}}}""", "spec.resources.cpu.overQuotaWeight: 1.5 is not an integer; accepted: a whole number from 0 to 2147483647")]
    [InlineData("""{"resources":{"memory":{"overQuotaWeight":"3"}}}""", "spec.resources.memory.overQuotaWeight: \"3\" is a string; accepted: a whole number from 0 to 2147483647")]
    [InlineData("""{"resources":{"gpu":{"overQuotaWeight":3000000000}}}""", "spec.resources.gpu.overQuotaWeight: 3000000000 is out of range; accepted: a whole number from 0 to 2147483647")]
    [InlineData("""{"priority":1.5}""", "spec.priority: 1.5 is not an integer; accepted: a whole number from -2147483648 to 2147483647")]
    [InlineData("""{"priority":"high"}""", "spec.priority: \"high\" is a string; accepted: a whole number from -2147483648 to 2147483647")]
    [InlineData("""{"priority":1e12}""", "spec.priority: 1e12 is out of range; accepted: a whole number from -2147483648 to 2147483647")]
    [InlineData("""{"fairness":{"policy":"WFQ"}}""", "spec.fairness.policy: \"WFQ\" is not a known policy; accepted: \"DRF\"")]
    [InlineData("""{"fairness":{"policy":"drf"}}""", "spec.fairness.policy: \"drf\" is not a known policy; accepted: \"DRF\"")]
    [InlineData("""{"fairness":{"policy":1}}""", "spec.fairness.policy: 1 is a number; accepted: \"DRF\"")]
    [InlineData("""{"fairness":{"reclaimStrategy":"gentle"}}""", "spec.fairness.reclaimStrategy: \"gentle\" is not a known strategy; accepted: \"aggressive\" or \"conservative\"")]
    [InlineData("""{"fairness":{"reclaimStrategy":["aggressive"]}}""", "spec.fairness.reclaimStrategy: [\"aggressive\"] is an array; accepted: \"aggressive\" or \"conservative\"")]
    [InlineData("""{"fairness":"DRF"}""", "spec.fairness: \"DRF\" is a string; accepted: an object with policy and reclaimStrategy")]
    [InlineData("""{"parentQueue":"q"}""", "spec.parentQueue: \"q\" names the queue itself; accepted: the name of another KaiwoQueue, or absent for a root queue")]
    [InlineData("""{"parentQueue":""}""", "spec.parentQueue: \"\" is empty; accepted: the name of another KaiwoQueue, or absent for a root queue")]
    [InlineData("""{"parentQueue":7}""", "spec.parentQueue: 7 is a number; accepted: the name of another KaiwoQueue, or absent for a root queue")]
    [InlineData("""{"displayName":{"en":"Q"}}""", "spec.displayName: {\"en\":\"Q\"} is an object; accepted: a string")]
    [InlineData("""{"resources":[]}""", "spec.resources: [] is an array; accepted: an object with gpu, cpu and memory")]
    [InlineData("""{"resources":{"gpu":8}}""", "spec.resources.gpu: 8 is a number; accepted: an object with quota, overQuotaWeight and limit")]
    public void TryRead_BadValue_IsRefusedWithFieldValueAndWhatIsAccepted(string spec, string expected)
    {
        using var doc = JsonDocument.Parse(Queue(spec));

        Assert.False(QueueSpecReader.TryRead(doc.RootElement, out var read, out var errors));

        Assert.Null(read);
        Assert.Equal([expected], errors);
    }

    [Fact]
    public void TryRead_SeveralBadValues_ListsEveryOne()
    {
        using var doc = JsonDocument.Parse(Queue("""
            {"parentQueue":"q","priority":"high",
             "resources":{"gpu":{"quota":-1,"overQuotaWeight":0.5},"cpu":{"quota":10,"limit":5},"memory":{"limit":-3}},
             "fairness":{"policy":"FIFO","reclaimStrategy":"polite"}}
            """));

        Assert.False(QueueSpecReader.TryRead(doc.RootElement, out var read, out var errors));

        Assert.Null(read);
        Assert.Equal(
            [
                "spec.parentQueue",
                "spec.priority",
                "spec.resources.gpu.quota",
                "spec.resources.gpu.overQuotaWeight",
                "spec.resources.cpu.limit",
                "spec.resources.memory.limit",
                "spec.fairness.policy",
                "spec.fairness.reclaimStrategy",
            ],
            errors.Select(e => e[..e.IndexOf(':', StringComparison.Ordinal)]));
    }

    [Fact]
    public void TryRead_InvalidQuota_DoesNotAlsoBlameTheLimit()
    {
        using var doc = JsonDocument.Parse(Queue("""{"resources":{"gpu":{"quota":"ten","limit":5}}}"""));

        Assert.False(QueueSpecReader.TryRead(doc.RootElement, out _, out var errors));

        Assert.StartsWith("spec.resources.gpu.quota:", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]", "queue: [] is an array; accepted: a KaiwoQueue object")]
    [InlineData("\"research-queue\"", "queue: \"research-queue\" is a string; accepted: a KaiwoQueue object")]
    [InlineData("null", "queue: null is null; accepted: a KaiwoQueue object")]
    [InlineData("{}", "metadata.name: is missing; accepted: a non-empty string")]
    [InlineData("""{"metadata":{}}""", "metadata.name: is missing; accepted: a non-empty string")]
    [InlineData("""{"metadata":{"name":""}}""", "metadata.name: \"\" is empty; accepted: a non-empty string")]
    [InlineData("""{"metadata":{"name":42}}""", "metadata.name: 42 is a number; accepted: a non-empty string")]
    [InlineData("""{"metadata":"q"}""", "metadata: \"q\" is a string; accepted: an object with a name")]
    [InlineData("""{"metadata":{"name":"q"},"spec":[1]}""", "spec: [1] is an array; accepted: an object")]
    [InlineData("""{"apiVersion":"kaiwo.ai/v1alpha1","metadata":{"name":"q"}}""", "apiVersion: \"kaiwo.ai/v1alpha1\" is not read here; accepted: \"kaiwo.ai/v1alpha2\"")]
    [InlineData("""{"kind":"ClusterQueue","metadata":{"name":"q"}}""", "kind: \"ClusterQueue\" is not read here; accepted: \"KaiwoQueue\"")]
    public void TryRead_NotAQueueObject_IsRefused(string json, string expected)
    {
        using var doc = JsonDocument.Parse(json);

        Assert.False(QueueSpecReader.TryRead(doc.RootElement, out var read, out var errors));

        Assert.Null(read);
        Assert.Equal([expected], errors);
    }

    [Fact]
    public void TryRead_DefaultElement_IsRefusedWithoutThrowing()
    {
        Assert.False(QueueSpecReader.TryRead(default, out var read, out var errors));

        Assert.Null(read);
        Assert.Single(errors);
    }

    [Fact]
    public void TryRead_LongBadValue_IsShortenedInTheMessage()
    {
        var padding = new string('x', 500);
        using var doc = JsonDocument.Parse(Queue($$$"""{"displayName":["{{{padding}}}"]}"""));

        Assert.False(QueueSpecReader.TryRead(doc.RootElement, out _, out var errors));

        Assert.True(Assert.Single(errors).Length < 150, errors[0]);
    }

    private static string Queue(string spec) =>
        $$$"""{"apiVersion":"kaiwo.ai/v1alpha2","kind":"KaiwoQueue","metadata":{"name":"q"},"spec":{{{spec}}}}""";

    /// <summary><c>{"resources":{"gpu":{FIELDS}}}</c>: one resource of a spec.</summary>
    private static string Resource(string resource, string fields) => $"{{\"resources\":{{\"{resource}\":{{{fields}}}}}}}";

    private static QueueSpec ReadOk(string json)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.True(QueueSpecReader.TryRead(doc.RootElement, out var spec, out var errors), string.Join("\n", errors));
        Assert.Empty(errors);
        return spec!;
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// The fake against the captures in /work/shared/apiserver: status codes, content types, headers, Status bodies
/// byte for byte where the capture fixes them, list paging, watch streams and their chunk framing.
/// </summary>
public sealed class FakeKubeApiServerTests : IAsyncLifetime, IDisposable
{
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(20));
    private FakeKubeApiServer _server = null!;
    private HttpClient _http = null!;

    private CancellationToken Ct => _timeout.Token;

    public async Task InitializeAsync()
    {
        _server = await FakeKubeApiServer.StartAsync(Ct);
        _http = _server.CreateHttpClient();
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    public void Dispose() => _timeout.Dispose();

    // ---- Object JSON ----

    [Fact]
    public async Task GetPod_PodStoredFromCapture2d_AnswersTheCapturedBytes()
    {
        var stored = _server.CreatePod(KubernetesJson.Deserialize<V1Pod>(CapturedBodies.CreatedPod));

        var answer = await SendAsync(HttpMethod.Get, "api/v1/namespaces/team-a/pods/pod-w1");

        var expected = CapturedBodies.CreatedPod.Replace("\"resourceVersion\":\"89\"", $"\"resourceVersion\":\"{stored.Metadata.ResourceVersion}\"", StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("application/json", answer.ContentType);
        Assert.Equal(expected, answer.Body);
        Assert.Equal(Encoding.UTF8.GetByteCount(expected), answer.ContentLength);
    }

    [Fact]
    public async Task GetNode_NodeStoredFromCapture9c_AnswersTheCapturedBytes()
    {
        var stored = _server.CreateNode(KubernetesJson.Deserialize<V1Node>(CapturedBodies.Node));

        var answer = await SendAsync(HttpMethod.Get, "api/v1/nodes/gpu-node-1");

        var expected = CapturedBodies.Node.Replace("\"resourceVersion\":\"83\"", $"\"resourceVersion\":\"{stored.Metadata.ResourceVersion}\"", StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(expected, answer.Body);
    }

    [Fact]
    public async Task CreatePod_RequestBodyOf2d_StoresThePodTheRealServerStored()
    {
        var answer = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods", CapturedBodies.CreatePodRequest, "application/json");

        // The real server also wrote managedFields (the fake does not) and its own uid, time and resourceVersion.
        Assert.Equal(HttpStatusCode.Created, answer.Status);
        var created = answer.Json["metadata"]!;
        var expected = JsonNode.Parse(CapturedBodies.CreatedPod)!.AsObject();
        var metadata = expected["metadata"]!.AsObject();
        metadata.Remove("managedFields");
        foreach (var field in new[] { "uid", "resourceVersion", "creationTimestamp" })
        {
            metadata[field] = created[field]!.DeepClone();
        }

        Assert.Equal(GoJson.EncodeString(expected) + "\n", answer.Body);
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", Str(created["uid"]));
    }

    [Fact]
    public async Task CreatePod_ExistingName_Returns409AlreadyExistsLikeCapture9e()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));

        var answer = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods", CapturedBodies.CreatePodRequest.Replace("pod-w1", "pod-a1", StringComparison.Ordinal), "application/json");

        Assert.Equal(HttpStatusCode.Conflict, answer.Status);
        Assert.Equal(CapturedBodies.PodAlreadyExists409, answer.Body);
    }

    [Fact]
    public async Task UpdatePod_ConditionWithFractionalTime_IsWrittenInWholeSecondsWithNullLastProbeTime()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));

        _server.UpdatePod("team-a", "pod-a1", pod => pod.Status.Conditions =
        [
            new V1PodCondition { Type = "Ready", Status = "True", LastTransitionTime = new DateTime(2026, 11, 23, 13, 45, 0, 789, DateTimeKind.Utc) },
        ]);
        var answer = await SendAsync(HttpMethod.Get, "api/v1/namespaces/team-a/pods/pod-a1");

        Assert.Contains("""
            "status":{"phase":"Pending","conditions":[{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-23T13:45:00Z"}],"qosClass":"Burstable"}
            """, answer.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetPod_Missing_Returns404LikeCapture9b()
    {
        var answer = await SendAsync(HttpMethod.Get, "api/v1/namespaces/team-a/pods/nope");

        Assert.Equal(HttpStatusCode.NotFound, answer.Status);
        Assert.Equal("application/json", answer.ContentType);
        Assert.Equal(CapturedBodies.PodMissing404, answer.Body);
        Assert.Equal(176, answer.ContentLength);
    }

    [Fact]
    public async Task AnyAnswer_CommonHeaders_AreTheCapturedOnes()
    {
        var answer = await SendAsync(HttpMethod.Get, "api/v1/namespaces/team-a/pods/nope");

        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", answer.Header("Audit-Id"));
        Assert.Equal("no-cache, private", answer.Header("Cache-Control"));
        Assert.Equal("a53dca19-0871-4b6d-a013-77a76cea6b0f", answer.Header("X-Kubernetes-Pf-Flowschema-Uid"));
        Assert.Equal("5d9089e9-df8b-48c1-a883-a3466469d105", answer.Header("X-Kubernetes-Pf-Prioritylevel-Uid"));
        Assert.NotNull(answer.Header("Date"));
        Assert.Null(answer.Header("Server"));
    }

    [Fact]
    public async Task UnknownPath_Returns404NotFoundStatus()
    {
        var answer = await SendAsync(HttpMethod.Get, "api/v1/namespaces/team-a/configmaps");

        Assert.Equal(HttpStatusCode.NotFound, answer.Status);
        Assert.Equal("NotFound", Str(answer.Json["reason"]));
        Assert.Equal(404, answer.Json["code"]!.GetValue<int>());
    }

    // ---- Lists ----

    [Fact]
    public async Task ListPods_LimitTwoOverFivePods_PagesInKeyOrderWithContinueAndRemainingItemCount()
    {
        foreach (var (ns, name) in new[] { ("team-b", "pod-b2"), ("team-a", "pod-a3"), ("team-a", "pod-a1"), ("team-b", "pod-b1"), ("team-a", "pod-a2") })
        {
            _server.CreatePod(CapturePod(ns, name));
        }

        var version = Text(_server.ResourceVersion);

        var page1 = await SendAsync(HttpMethod.Get, "api/v1/pods?limit=2");
        Assert.Equal(HttpStatusCode.OK, page1.Status);
        Assert.Equal("application/json", page1.ContentType);
        Assert.Equal("PodList", Str(page1.Json["kind"]));
        Assert.Equal("v1", Str(page1.Json["apiVersion"]));
        Assert.Equal(version, Str(page1.Json["metadata"]!["resourceVersion"]));
        Assert.Equal(3, page1.Json["metadata"]!["remainingItemCount"]!.GetValue<int>());
        var token = Str(page1.Json["metadata"]!["continue"]);
        Assert.Equal($$"""{"v":"meta.k8s.io/v1","rv":{{version}},"start":"team-a/pod-a2\u0000"}""", DecodeContinue(token));
        Assert.Equal(["pod-a1", "pod-a2"], Names(page1.Json));
        Assert.All(page1.Json["items"]!.AsArray(), item =>
        {
            Assert.Null(item!["kind"]);
            Assert.Null(item["apiVersion"]);
        });
        Assert.StartsWith($$"""{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"{{version}}","continue":""", page1.Body, StringComparison.Ordinal);
        Assert.True(page1.Chunked); // over 2048 bytes: chunked, as 1b
        Assert.Null(page1.ContentLength);

        // A pod created between pages is not in the snapshot the token lists.
        _server.CreatePod(CapturePod("team-b", "pod-b0"));

        var page2 = await SendAsync(HttpMethod.Get, $"api/v1/pods?limit=2&continue={Uri.EscapeDataString(token)}");
        Assert.Equal(version, Str(page2.Json["metadata"]!["resourceVersion"]));
        Assert.Equal(1, page2.Json["metadata"]!["remainingItemCount"]!.GetValue<int>());
        Assert.Equal(["pod-a3", "pod-b1"], Names(page2.Json));

        var page3 = await SendAsync(HttpMethod.Get, $"api/v1/pods?limit=2&continue={Uri.EscapeDataString(Str(page2.Json["metadata"]!["continue"]))}");
        Assert.Equal(["pod-b2"], Names(page3.Json));
        Assert.Equal($$"""{"resourceVersion":"{{version}}"}""", page3.Json["metadata"]!.ToJsonString());
        Assert.False(page3.Chunked); // under 2048 bytes: Content-Length, as 1d
        Assert.Equal(Encoding.UTF8.GetByteCount(page3.Body), page3.ContentLength);
    }

    [Fact]
    public async Task ListPods_NamespaceAndSelectors_ListOnlyMatchingPodsWithoutRemainingItemCount()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        _server.CreatePod(CapturePod("team-a", "pod-a2", node: "gpu-node-1"));
        _server.CreatePod(CapturePod("team-a", "pod-a3", scheduler: "default-scheduler"));
        _server.CreatePod(CapturePod("team-b", "pod-b1"));

        var unassigned = await SendAsync(HttpMethod.Get, "api/v1/namespaces/team-a/pods?fieldSelector=spec.schedulerName%3Dkaiwo-scheduler,spec.nodeName%3D&labelSelector=app%3Dtrain");
        var onNode = await SendAsync(HttpMethod.Get, "api/v1/pods?fieldSelector=spec.nodeName%3Dgpu-node-1");
        var paged = await SendAsync(HttpMethod.Get, "api/v1/pods?limit=1&labelSelector=kaiwo.ai%2Fqueue%20in%20(team-a,team-b)");
        var badField = await SendAsync(HttpMethod.Get, "api/v1/pods?fieldSelector=spec.foo%3Dbar");

        Assert.Equal(["pod-a1"], Names(unassigned.Json));
        Assert.Equal(["pod-a2"], Names(onNode.Json));
        Assert.Equal(["pod-a1"], Names(paged.Json));
        Assert.NotNull(paged.Json["metadata"]!["continue"]);
        Assert.Null(paged.Json["metadata"]!["remainingItemCount"]);
        Assert.Equal(HttpStatusCode.BadRequest, badField.Status);
        Assert.Equal("field label not supported: spec.foo", Str(badField.Json["message"]));
    }

    [Fact]
    public async Task ListPods_ContinueTokenFromBeforeCompact_Returns410WithInconsistentContinueLikeCapture3b()
    {
        for (var i = 1; i <= 3; i++)
        {
            _server.CreatePod(CapturePod("team-a", $"pod-a{i}"));
        }

        var page1 = await SendAsync(HttpMethod.Get, "api/v1/pods?limit=2");
        _server.UpdatePod("team-a", "pod-a3", pod => pod.Metadata.Annotations["kaiwo.ai/touch"] = "1");
        _server.Compact();

        var expired = await SendAsync(HttpMethod.Get, $"api/v1/pods?limit=2&continue={Uri.EscapeDataString(Str(page1.Json["metadata"]!["continue"]))}");

        Assert.Equal(HttpStatusCode.Gone, expired.Status);
        Assert.Equal("Expired", Str(expired.Json["reason"]));
        Assert.Equal(410, expired.Json["code"]!.GetValue<int>());
        Assert.StartsWith("The provided continue parameter is too old to display a consistent list result.", Str(expired.Json["message"]), StringComparison.Ordinal);
        var inconsistent = Str(expired.Json["metadata"]!["continue"]);
        Assert.Equal("""{"v":"meta.k8s.io/v1","rv":-1,"start":"team-a/pod-a2\u0000"}""", DecodeContinue(inconsistent));

        var rest = await SendAsync(HttpMethod.Get, $"api/v1/pods?limit=2&continue={Uri.EscapeDataString(inconsistent)}");
        Assert.Equal(["pod-a3"], Names(rest.Json));
        Assert.Equal("1", Str(rest.Json["items"]![0]!["metadata"]!["annotations"]!["kaiwo.ai/touch"]));
    }

    [Fact]
    public async Task ListNodes_ResourceVersionZeroWithLimit_IgnoresLimitAsTheWatchCacheDoes()
    {
        for (var i = 1; i <= 3; i++)
        {
            _server.CreateNode(GpuNode($"gpu-node-{i}"));
        }

        var answer = await SendAsync(HttpMethod.Get, "api/v1/nodes?resourceVersion=0&limit=1");

        Assert.Equal("NodeList", Str(answer.Json["kind"]));
        Assert.Equal(["gpu-node-1", "gpu-node-2", "gpu-node-3"], Names(answer.Json));
        Assert.Null(answer.Json["metadata"]!["continue"]);
    }

    // ---- Watches ----

    [Fact]
    public async Task WatchPods_FromListResourceVersion_StreamsAddedModifiedDeletedInOrderThenBookmark()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        var list = await SendAsync(HttpMethod.Get, "api/v1/pods");
        var from = Str(list.Json["metadata"]!["resourceVersion"]);
        await using var watch = await OpenWatchAsync($"api/v1/pods?watch=1&resourceVersion={from}&allowWatchBookmarks=true&timeoutSeconds=20");
        Assert.Equal(HttpStatusCode.OK, watch.Response.StatusCode);
        Assert.Equal("application/json", watch.Response.Content.Headers.ContentType?.ToString());
        Assert.True(watch.Response.Headers.TransferEncodingChunked);
        Assert.Null(watch.Response.Content.Headers.ContentLength);
        await _server.WaitForWatchesAsync(1, Ct);

        _server.CreatePod(CapturePod("team-a", "pod-w1"));
        _server.UpdatePod("team-a", "pod-w1", pod => pod.Metadata.Annotations["kaiwo.ai/assigned-gpu"] = "gpu-node-1/0");
        _server.DeletePod("team-a", "pod-w1");
        _server.SendBookmarks();

        var events = new List<JsonNode>();
        for (var i = 0; i < 3; i++)
        {
            events.Add(JsonNode.Parse(await watch.NextAsync(Ct) ?? throw new InvalidOperationException("the watch ended"))!);
        }

        var bookmark = await watch.NextAsync(Ct);
        Assert.Equal(["ADDED", "MODIFIED", "DELETED"], events.Select(e => Str(e["type"])));
        Assert.All(events, e =>
        {
            Assert.Equal("Pod", Str(e["object"]!["kind"]));
            Assert.Equal("v1", Str(e["object"]!["apiVersion"]));
            Assert.Equal("pod-w1", Str(e["object"]!["metadata"]!["name"]));
        });
        var versions = events.Select(e => long.Parse(Str(e["object"]!["metadata"]!["resourceVersion"]), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(versions.Order(), versions);
        Assert.Equal(versions.Distinct().Count(), versions.Count);
        Assert.Equal("gpu-node-1/0", Str(events[2]["object"]!["metadata"]!["annotations"]!["kaiwo.ai/assigned-gpu"]));
        Assert.Equal(
            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" + versions[2] + "\",\"creationTimestamp\":null},\"spec\":{\"containers\":null},\"status\":{}}}",
            bookmark);

        _server.EndWatches();
        Assert.Null(await watch.NextAsync(Ct));
        Assert.Equal(0, _server.OpenWatchCount);
    }

    [Fact]
    public async Task WatchPods_ResourceVersionZeroOrNone_StartsWithSyntheticAddedForEveryPodOfTheNamespace()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        _server.CreatePod(CapturePod("team-a", "pod-a2"));
        _server.CreatePod(CapturePod("team-b", "pod-b1"));

        foreach (var query in new[] { "watch=1&resourceVersion=0&allowWatchBookmarks=true", "watch=true" })
        {
            await using var watch = await OpenWatchAsync($"api/v1/namespaces/team-a/pods?{query}&timeoutSeconds=30");
            Assert.Equal(HttpStatusCode.OK, watch.Response.StatusCode);
            var first = JsonNode.Parse((await watch.NextAsync(Ct))!)!;
            var second = JsonNode.Parse((await watch.NextAsync(Ct))!)!;
            Assert.Equal(["ADDED", "ADDED"], new[] { Str(first["type"]), Str(second["type"]) });
            Assert.Equal(["pod-a1", "pod-a2"], new[] { Str(first["object"]!["metadata"]!["name"]), Str(second["object"]!["metadata"]!["name"]) });

            _server.EndWatches();
            Assert.Null(await watch.NextAsync(Ct));
        }
    }

    [Fact]
    public async Task WatchPods_FromResourceVersionBeforeCompact_SendsOneExpiredErrorLikeCapture3hAndEnds()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        var old = _server.ResourceVersion;
        _server.UpdatePod("team-a", "pod-a1", pod => pod.Metadata.Annotations["kaiwo.ai/touch"] = "1");
        _server.Compact();
        var compacted = _server.ResourceVersion;

        await using var watch = await OpenWatchAsync($"api/v1/pods?watch=1&resourceVersion={old}&allowWatchBookmarks=true&timeoutSeconds=5");

        Assert.Equal(HttpStatusCode.OK, watch.Response.StatusCode);
        Assert.True(watch.Response.Headers.TransferEncodingChunked);
        var expected = CapturedBodies.WatchTooOld410Line.Replace("88 (95)", $"{old} ({compacted})", StringComparison.Ordinal).TrimEnd('\n');
        Assert.Equal(expected, await watch.NextAsync(Ct));
        Assert.Null(await watch.NextAsync(Ct));
        Assert.Equal(0, _server.OpenWatchCount);

        // From the compaction's own resourceVersion the watch is fine (3g).
        await using var fine = await OpenWatchAsync($"api/v1/pods?watch=1&resourceVersion={compacted}&timeoutSeconds=5");
        await _server.WaitForWatchesAsync(1, Ct);
        _server.DeletePod("team-a", "pod-a1");
        Assert.StartsWith("""{"type":"DELETED","object":{"kind":"Pod",""", await fine.NextAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WatchPods_FutureResourceVersionAndTimeoutSeconds_SendsNothingAndEndsCleanlyLikeCapture2l()
    {
        var future = _server.ResourceVersion + 1000;
        await using var watch = await OpenWatchAsync($"api/v1/namespaces/team-a/pods?watch=1&resourceVersion={future}&timeoutSeconds=1");
        await _server.WaitForWatchesAsync(1, Ct);

        _server.CreatePod(CapturePod("team-a", "pod-a1"));

        Assert.Null(await watch.NextAsync(Ct));
        Assert.Equal(0, _server.OpenWatchCount);
    }

    [Fact]
    public async Task WatchPods_ReplayLiveEventAndEnd_AreChunkedAsGoNetHttpChunksThem()
    {
        for (var i = 1; i <= 4; i++)
        {
            _server.CreatePod(CapturePod("team-a", $"pod-a{i}"));
        }

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _server.BaseAddress.Port, Ct);
        var stream = tcp.GetStream();
        var request =
            "GET /api/v1/namespaces/team-a/pods?watch=1&resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=30 HTTP/1.1\r\n" +
            "Host: 127.0.0.1\r\nUser-Agent: kaiwo-apicapture/1.0\r\nAuthorization: Bearer fake-token\r\nAccept: application/json\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), Ct);
        var raw = new RawHttpReader(stream);

        var head = await raw.ReadHeadAsync(Ct);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", head, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Type: application/json\r\n", head, StringComparison.Ordinal);
        Assert.Contains("\r\nTransfer-Encoding: chunked\r\n", head, StringComparison.Ordinal);
        Assert.Contains("\r\nCache-Control: no-cache, private\r\n", head, StringComparison.Ordinal);
        Assert.Matches("\r\nAudit-Id: [0-9a-f-]{36}\r\n", head);
        Assert.DoesNotContain("Content-Length", head, StringComparison.Ordinal);

        // The replay is written at once: 2048-byte chunks cut through events (2j).
        var replay = new List<byte[]>();
        var payload = new List<byte>();
        while (payload.Count(b => b == '\n') < 4)
        {
            var chunk = await raw.ReadChunkAsync(Ct);
            replay.Add(chunk);
            payload.AddRange(chunk);
        }

        Assert.True(replay.Count >= 3, $"chunks: {string.Join(", ", replay.Select(c => c.Length))}");
        Assert.All(replay[..^1], chunk => Assert.Equal(2048, chunk.Length));
        Assert.InRange(replay[^1].Length, 1, 2048);
        var lines = Encoding.UTF8.GetString([.. payload]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.All(lines, line => Assert.StartsWith("""{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"pod-a""", line, StringComparison.Ordinal));

        // A live event is one chunk of its own (2b).
        _server.UpdatePod("team-a", "pod-a1", pod => pod.Metadata.Annotations["kaiwo.ai/assigned-gpu"] = "gpu-node-1/0");
        var live = Encoding.UTF8.GetString(await raw.ReadChunkAsync(Ct));
        Assert.StartsWith("""{"type":"MODIFIED",""", live, StringComparison.Ordinal);
        Assert.EndsWith("}}\n", live, StringComparison.Ordinal);
        Assert.Single(live.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // The end is only the final 0\r\n\r\n.
        _server.EndWatches();
        Assert.Empty(await raw.ReadChunkAsync(Ct));
        Assert.True(await raw.AtEndAsync(Ct));
    }

    [Fact]
    public async Task DropWatches_OpenWatch_AbortsTheConnectionWithoutTheFinalChunk()
    {
        await using var watch = await OpenWatchAsync("api/v1/nodes?watch=1&resourceVersion=0&allowWatchBookmarks=true");
        await _server.WaitForWatchesAsync(1, Ct);

        _server.DropWatches();

        Assert.Equal(0, _server.OpenWatchCount);
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            while (await watch.NextAsync(Ct) is not null)
            {
            }
        });
    }

    [Fact]
    public async Task SendBookmarks_QueueAndNodeWatches_SendTheShellOfTheirKind()
    {
        _server.CreateQueue(Queue("kaiwo"));
        await using var queues = await OpenWatchAsync("apis/kaiwo.ai/v1alpha2/kaiwoqueues?watch=1&resourceVersion=0&allowWatchBookmarks=true");
        await using var nodes = await OpenWatchAsync("api/v1/nodes?watch=1&resourceVersion=0&allowWatchBookmarks=true");
        Assert.StartsWith("""{"type":"ADDED","object":{"apiVersion":"kaiwo.ai/v1alpha2","kind":"KaiwoQueue","metadata":{""", await queues.NextAsync(Ct), StringComparison.Ordinal);
        await _server.WaitForWatchesAsync(2, Ct);

        _server.SendBookmarks();

        var version = Text(_server.ResourceVersion);
        Assert.Equal("{\"type\":\"BOOKMARK\",\"object\":{\"apiVersion\":\"kaiwo.ai/v1alpha2\",\"kind\":\"KaiwoQueue\",\"metadata\":{\"resourceVersion\":\"" + version + "\"}}}", await queues.NextAsync(Ct));
        Assert.Equal(
            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" + version + "\",\"creationTimestamp\":null},\"spec\":{},\"status\":{\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":0}},\"nodeInfo\":{\"machineID\":\"\",\"systemUUID\":\"\",\"bootID\":\"\",\"kernelVersion\":\"\",\"osImage\":\"\",\"containerRuntimeVersion\":\"\",\"kubeletVersion\":\"\",\"kubeProxyVersion\":\"\",\"operatingSystem\":\"\",\"architecture\":\"\"}}}}",
            await nodes.NextAsync(Ct));
    }

    // ---- PATCH ----

    [Fact]
    public async Task PatchPod_MergePatchOfAnnotations_AnswersThePatchedPodAndEmitsModified()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        var before = _server.ResourceVersion;
        await using var watch = await OpenWatchAsync($"api/v1/pods?watch=1&resourceVersion={before}");
        await _server.WaitForWatchesAsync(1, Ct);

        var answer = await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/pod-a1", """{"metadata":{"annotations":{"kaiwo.ai/gpu-fraction":"0.25","kaiwo.ai/assigned-gpu":"gpu-node-2/3"}}}""", "application/merge-patch+json");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("Pod", Str(answer.Json["kind"]));
        Assert.Contains("""
            "annotations":{"kaiwo.ai/assigned-gpu":"gpu-node-2/3","kaiwo.ai/gpu-fraction":"0.25"}
            """, answer.Body, StringComparison.Ordinal);
        Assert.Equal(Text(before + 1), Str(answer.Json["metadata"]!["resourceVersion"]));
        Assert.Equal(before + 1, _server.ResourceVersion);
        Assert.Equal("gpu-node-2/3", _server.GetPod("team-a", "pod-a1")!.Metadata.Annotations["kaiwo.ai/assigned-gpu"]);
        Assert.Equal("{\"type\":\"MODIFIED\",\"object\":" + answer.Body.TrimEnd('\n') + "}", await watch.NextAsync(Ct));
    }

    [Fact]
    public async Task PatchPod_StrategicMergePatchWithNull_RemovesTheAnnotation()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1", annotations: new() { ["kaiwo.ai/assigned-gpu"] = "gpu-node-2/3" }));

        var answer = await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/pod-a1", """{"metadata":{"annotations":{"kaiwo.ai/gpu-fraction":"0.5","kaiwo.ai/assigned-gpu":null}}}""", "application/strategic-merge-patch+json");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("""{"kaiwo.ai/gpu-fraction":"0.5"}""", answer.Json["metadata"]!["annotations"]!.ToJsonString());
        Assert.False(_server.GetPod("team-a", "pod-a1")!.Metadata.Annotations.ContainsKey("kaiwo.ai/assigned-gpu"));
    }

    [Fact]
    public async Task PatchPod_JsonPatchAddAndReplace_AppliesEscapedPaths()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));

        var answer = await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/pod-a1", """[{"op":"add","path":"/metadata/annotations/kaiwo.ai~1assigned-gpu","value":"gpu-node-3/1"},{"op":"replace","path":"/metadata/annotations/kaiwo.ai~1gpu-fraction","value":"0.75"}]""", "application/json-patch+json");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("""{"kaiwo.ai/assigned-gpu":"gpu-node-3/1","kaiwo.ai/gpu-fraction":"0.75"}""", answer.Json["metadata"]!["annotations"]!.ToJsonString());
    }

    [Theory]
    [InlineData("""[{"op":"test","path":"/metadata/annotations/kaiwo.ai~1gpu-fraction","value":"0.25"},{"op":"remove","path":"/metadata/annotations/kaiwo.ai~1gpu-fraction"}]""")]
    [InlineData("""[{"op":"remove","path":"/metadata/annotations/not-there"}]""")]
    public async Task PatchPod_JsonPatchFailedTestOrMissingRemovePath_Returns422LikeCaptures4fAnd4h(string patch)
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        var before = _server.ResourceVersion;

        var answer = await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/pod-a1", patch, "application/json-patch+json");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, answer.Status);
        Assert.Equal(CapturedBodies.JsonPatchTestFailed422, answer.Body);
        Assert.Equal(before, _server.ResourceVersion);
    }

    [Fact]
    public async Task PatchPod_ContentTypeApplicationJson_Returns415LikeCapture4g()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));

        var answer = await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/pod-a1", """{"metadata":{"annotations":{"kaiwo.ai/gpu-fraction":"0.25"}}}""", "application/json");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, answer.Status);
        Assert.Equal(CapturedBodies.PatchWrongContentType415, answer.Body);
        Assert.Equal(165, answer.ContentLength);
    }

    [Fact]
    public async Task PatchPod_StaleResourceVersionInBody_Returns409ConflictLikeCapture4e()
    {
        var created = _server.CreatePod(CapturePod("team-a", "pod-a1"));
        _server.UpdatePod("team-a", "pod-a1", pod => pod.Metadata.Annotations["kaiwo.ai/touch"] = "1");

        var answer = await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/pod-a1", "{\"metadata\":{\"resourceVersion\":\"" + created.Metadata.ResourceVersion + "\",\"annotations\":{\"kaiwo.ai/gpu-fraction\":\"0.5\"}}}", "application/merge-patch+json");

        Assert.Equal(HttpStatusCode.Conflict, answer.Status);
        Assert.Equal(CapturedBodies.PatchStaleResourceVersion409, answer.Body);
    }

    [Fact]
    public async Task PatchPod_MissingPod_Returns404LikeCapture4d()
    {
        var answer = await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/does-not-exist", """{"metadata":{"annotations":{"kaiwo.ai/gpu-fraction":"0.25"}}}""", "application/merge-patch+json");

        Assert.Equal(HttpStatusCode.NotFound, answer.Status);
        Assert.Equal(CapturedBodies.PatchMissingPod404, answer.Body);
    }

    [Fact]
    public async Task PatchPod_NothingChanges_NoWriteAndNoNewResourceVersion()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        var before = _server.ResourceVersion;

        var answer = await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/pod-a1", """{"metadata":{"annotations":{"kaiwo.ai/gpu-fraction":"0.5"}}}""", "application/merge-patch+json");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(Text(before), Str(answer.Json["metadata"]!["resourceVersion"]));
        Assert.Equal(before, _server.ResourceVersion);
    }

    // ---- Bindings ----

    [Fact]
    public async Task BindPod_TwiceToAnyNode_Returns201ThenConflictLikeCaptures5aTo5c()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a2"));

        var bound = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-a2/binding", Binding("pod-a2", "gpu-node-2"), "application/json");
        var other = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-a2/binding", Binding("pod-a2", "gpu-node-3"), "application/json");
        var same = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-a2/binding", Binding("pod-a2", "gpu-node-2"), "application/json");

        Assert.Equal(HttpStatusCode.Created, bound.Status);
        Assert.Equal(CapturedBodies.BindingCreated201, bound.Body);
        Assert.Equal(80, bound.ContentLength);
        Assert.Equal(HttpStatusCode.Conflict, other.Status);
        Assert.Equal(CapturedBodies.BindingAlreadyAssigned409, other.Body);
        Assert.Equal(CapturedBodies.BindingAlreadyAssigned409, same.Body);
        var pod = _server.GetPod("team-a", "pod-a2")!;
        Assert.Equal("gpu-node-2", pod.Spec.NodeName);
        var scheduled = Assert.Single(pod.Status.Conditions);
        Assert.Equal(("PodScheduled", "True"), (scheduled.Type, scheduled.Status));
    }

    [Fact]
    public async Task BindPod_WithAnnotations_CopiesThemOntoThePodLikeTheRealServer()
    {
        // As kube-apiserver's pod storage (setPodHostAndAnnotations; RealBindingTests prove it on v1.26.1).
        _server.CreatePod(CapturePod("team-a", "pod-r1"));
        var record = new Dictionary<string, string> { ["kaiwo.ai/gpu-allocation"] = "{\"node\":\"gpu-node-2\"}", ["kaiwo.ai/visible-devices"] = "5" };
        var uid = _server.GetPod("team-a", "pod-r1")!.Metadata.Uid;

        var bound = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-r1/binding", Kaiwo.Extender.Live.KubernetesApi.BindingJson("team-a", "pod-r1", uid, "gpu-node-2", record), "application/json");

        Assert.Equal(HttpStatusCode.Created, bound.Status);
        var pod = _server.GetPod("team-a", "pod-r1")!;
        Assert.Equal("gpu-node-2", pod.Spec.NodeName);
        Assert.Equal("{\"node\":\"gpu-node-2\"}", pod.Metadata.Annotations["kaiwo.ai/gpu-allocation"]);
        Assert.Equal("5", pod.Metadata.Annotations["kaiwo.ai/visible-devices"]);
    }

    [Fact]
    public async Task BindPod_WithAnnotationsToAnAssignedPod_Returns409AndWritesNoAnnotation()
    {
        _server.CreatePod(CapturePod("team-a", "pod-r2"));
        await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-r2/binding", Binding("pod-r2", "gpu-node-3"), "application/json");
        var uid = _server.GetPod("team-a", "pod-r2")!.Metadata.Uid;

        var refused = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-r2/binding", Kaiwo.Extender.Live.KubernetesApi.BindingJson("team-a", "pod-r2", uid, "gpu-node-2", new Dictionary<string, string> { ["kaiwo.ai/visible-devices"] = "5" }), "application/json");

        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
        var pod = _server.GetPod("team-a", "pod-r2")!;
        Assert.Equal("gpu-node-3", pod.Spec.NodeName);
        Assert.False(pod.Metadata.Annotations?.ContainsKey("kaiwo.ai/visible-devices") ?? false);
    }

    [Fact]
    public async Task BindPod_ReplacesUnschedulableConditionAndEmitsModifiedWithNullLastProbeTime()
    {
        _server.CreatePod(CapturePod("team-a", "pod-w1"));
        _server.UpdatePod("team-a", "pod-w1", pod => pod.Status.Conditions =
        [
            new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "0/3 nodes are available: 3 Insufficient amd.com/gpu.", LastTransitionTime = new DateTime(2026, 11, 23, 13, 45, 0, DateTimeKind.Utc) },
        ]);
        await using var watch = await OpenWatchAsync($"api/v1/namespaces/team-a/pods?watch=1&resourceVersion={_server.ResourceVersion}");
        await _server.WaitForWatchesAsync(1, Ct);

        await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-w1/binding", Binding("pod-w1", "gpu-node-1"), "application/json");

        var modified = await watch.NextAsync(Ct);
        Assert.StartsWith("""{"type":"MODIFIED",""", modified, StringComparison.Ordinal);
        Assert.Contains("\"dnsPolicy\":\"ClusterFirst\",\"nodeName\":\"gpu-node-1\",\"securityContext\":{}", modified, StringComparison.Ordinal);
        Assert.Matches("""
            "conditions":\[\{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}\]
            """, modified);
    }

    [Fact]
    public async Task BindPod_MissingPodMismatchedNamesAndMissingNode_AnswerAsCaptures5dTo5g()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        _server.CreatePod(CapturePod("team-a", "pod-a3"));
        _server.CreatePod(CapturePod("team-a", "pod-a4"));

        var missingPod = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/no-such-pod/binding", Binding("no-such-pod", "gpu-node-2"), "application/json");
        var missingNode = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-a3/binding", Binding("pod-a3", "no-such-node"), "application/json");
        var mismatch = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-a1/binding", Binding("pod-a4", "gpu-node-3"), "application/json");
        var collection = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/bindings", Binding("pod-a4", "gpu-node-3"), "application/json");

        Assert.Equal(HttpStatusCode.NotFound, missingPod.Status);
        Assert.Equal(CapturedBodies.BindingMissingPod404, missingPod.Body);
        Assert.Equal(HttpStatusCode.Created, missingNode.Status);
        Assert.Equal("no-such-node", _server.GetPod("team-a", "pod-a3")!.Spec.NodeName);
        Assert.Equal(HttpStatusCode.BadRequest, mismatch.Status);
        Assert.Equal(CapturedBodies.BindingNameMismatch400, mismatch.Body);
        Assert.Null(_server.GetPod("team-a", "pod-a1")!.Spec.NodeName);
        Assert.Equal(HttpStatusCode.Created, collection.Status);
        Assert.Equal(CapturedBodies.BindingCreated201, collection.Body);
        Assert.Equal("gpu-node-3", _server.GetPod("team-a", "pod-a4")!.Spec.NodeName);
    }

    [Fact]
    public async Task BindPod_UidOfAnotherPod_BindsLikeTheRealServer()
    {
        // As kube-apiserver v1.26.1 (RealBindingTests): the Binding's metadata.uid is not checked against the pod.
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        var binding = Binding("pod-a1", "gpu-node-1").Replace("\"namespace\":\"team-a\"", "\"namespace\":\"team-a\",\"uid\":\"00000000-0000-0000-0000-000000000000\"", StringComparison.Ordinal);

        var answer = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-a1/binding", binding, "application/json");

        Assert.Equal(HttpStatusCode.Created, answer.Status);
        Assert.Equal("gpu-node-1", _server.GetPod("team-a", "pod-a1")!.Spec.NodeName);
    }

    // ---- Faults ----

    [Fact]
    public async Task ListPods_TooManyRequestsFault_Returns429PlainTextWithRetryAfterLikeCapture8aOnce()
    {
        _server.InjectFault(FakeRoute.ListPods, Fault.TooManyRequests(1));

        var rejected = await SendAsync(HttpMethod.Get, "api/v1/pods");
        var next = await SendAsync(HttpMethod.Get, "api/v1/pods");

        Assert.Equal(HttpStatusCode.TooManyRequests, rejected.Status);
        Assert.Equal("text/plain; charset=utf-8", rejected.ContentType);
        Assert.Equal("1", rejected.Header("Retry-After"));
        Assert.Equal("nosniff", rejected.Header("X-Content-Type-Options"));
        Assert.Equal(CapturedBodies.TooManyRequests429, rejected.Body);
        Assert.Equal(43, rejected.ContentLength);
        Assert.Equal("ee79533a-f862-4485-a39e-de940ea88bdb", rejected.Header("X-Kubernetes-Pf-Flowschema-Uid"));
        Assert.Equal(HttpStatusCode.OK, next.Status);
    }

    [Fact]
    public async Task InjectFault_ServerErrorConflictAndDelay_AnswerOnTheirRouteOnly()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        _server.InjectFault(FakeRoute.WatchNodes, Fault.ServerError());
        _server.InjectFault(FakeRoute.BindPod, Fault.Conflict());
        _server.InjectFault(FakeRoute.PatchPod, Fault.Delay(TimeSpan.FromMilliseconds(50)));

        var list = await SendAsync(HttpMethod.Get, "api/v1/nodes");
        var watch = await SendAsync(HttpMethod.Get, "api/v1/nodes?watch=1");
        var bind = await SendAsync(HttpMethod.Post, "api/v1/namespaces/team-a/pods/pod-a1/binding", Binding("pod-a1", "gpu-node-1"), "application/json");
        var patch = await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/pod-a1", """{"metadata":{"labels":{"x":"y"}}}""", "application/merge-patch+json");

        Assert.Equal(HttpStatusCode.OK, list.Status);
        Assert.Equal(HttpStatusCode.InternalServerError, watch.Status);
        Assert.Equal("InternalError", Str(watch.Json["reason"]));
        Assert.Equal(HttpStatusCode.Conflict, bind.Status);
        Assert.Equal("Conflict", Str(bind.Json["reason"]));
        Assert.Null(_server.GetPod("team-a", "pod-a1")!.Spec.NodeName);
        Assert.Equal(HttpStatusCode.OK, patch.Status);
        Assert.Equal("y", _server.GetPod("team-a", "pod-a1")!.Metadata.Labels["x"]);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer not-a-valid-token")]
    public async Task AnyRequest_WithoutTheToken_Returns401StatusLikeCapture9d(string? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_server.BaseAddress, "api/v1/nodes"));
        request.Headers.Authorization = authorization is null ? null : AuthenticationHeaderValue.Parse(authorization);
        using var client = new HttpClient();

        var answer = await Answer.ReadAsync(await client.SendAsync(request, Ct), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Equal("application/json", answer.ContentType);
        Assert.Equal(CapturedBodies.Unauthorized401, answer.Body);
        Assert.Null(answer.Header("X-Kubernetes-Pf-Flowschema-Uid"));
        Assert.Equal(["GET"], _server.Requests.Select(r => r.Method));
    }

    [Fact]
    public async Task Requests_RecordMethodPathQueryContentTypeBodyAndRoute()
    {
        _server.CreatePod(CapturePod("team-a", "pod-a1"));

        await SendAsync(HttpMethod.Get, "api/v1/pods?limit=500");
        await SendAsync(HttpMethod.Patch, "api/v1/namespaces/team-a/pods/pod-a1", """{"metadata":{"labels":{"x":"y"}}}""", "application/merge-patch+json");

        var requests = _server.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Equal(("GET", "/api/v1/pods", "limit=500", FakeRoute.ListPods), (requests[0].Method, requests[0].Path, requests[0].Query, requests[0].Route));
        Assert.Equal("500", requests[0].QueryValue("limit"));
        Assert.Equal(("PATCH", "application/merge-patch+json", """{"metadata":{"labels":{"x":"y"}}}""", FakeRoute.PatchPod), (requests[1].Method, requests[1].ContentType, requests[1].Body, requests[1].Route));
    }

    // ---- KaiwoQueues ----

    [Theory]
    [InlineData("apis/kaiwo.ai/v1alpha2/kaiwoqueues")]
    [InlineData("apis/kaiwo.ai/v1alpha2")]
    [InlineData("apis/kaiwo.ai/v1alpha2/kaiwoqueues?watch=1&allowWatchBookmarks=true&timeoutSeconds=5")]
    public async Task Queues_CrdNotInstalled_Answer404PageNotFoundPlainTextLikeCaptures6a(string path)
    {
        _server.CrdInstalled = false;

        var answer = await SendAsync(HttpMethod.Get, path);

        Assert.Equal(HttpStatusCode.NotFound, answer.Status);
        Assert.Equal("text/plain; charset=utf-8", answer.ContentType);
        Assert.Equal("nosniff", answer.Header("X-Content-Type-Options"));
        Assert.Equal(CapturedBodies.PageNotFound404, answer.Body);
        Assert.Equal(19, answer.ContentLength);
    }

    [Fact]
    public async Task ListQueues_OneQueue_SortedKeysItemsWithKindAndEmptyContinueLikeCapture6e()
    {
        var created = _server.CreateQueue(Queue("kaiwo"));

        var answer = await SendAsync(HttpMethod.Get, "apis/kaiwo.ai/v1alpha2/kaiwoqueues");
        var missing = await SendAsync(HttpMethod.Get, "apis/kaiwo.ai/v1alpha2/kaiwoqueues/nope");

        var meta = created["metadata"]!;
        Assert.Equal(
            $$$"""{"apiVersion":"kaiwo.ai/v1alpha2","items":[{"apiVersion":"kaiwo.ai/v1alpha2","kind":"KaiwoQueue","metadata":{"creationTimestamp":"{{{Str(meta["creationTimestamp"])}}}","generation":1,"name":"kaiwo","resourceVersion":"{{{Str(meta["resourceVersion"])}}}","uid":"{{{Str(meta["uid"])}}}"},"spec":{"clusterQueues":[{"name":"team-a","namespaces":["team-a"],"resources":[{"name":"amd.com/gpu","nominalQuota":16}]}]}}],"kind":"KaiwoQueueList","metadata":{"continue":"","resourceVersion":"{{{Text(_server.ResourceVersion)}}}"}}""" + "\n",
            answer.Body);
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal(CapturedBodies.QueueMissing404, missing.Body);
    }

    [Fact]
    public async Task PutQueueStatus_CurrentThenStaleResourceVersion_Returns200Then409LikeCaptures6hAnd6k()
    {
        _server.CreateQueue(Queue("kaiwo"));
        var current = (await SendAsync(HttpMethod.Get, "apis/kaiwo.ai/v1alpha2/kaiwoqueues/kaiwo")).Json.AsObject();
        current["spec"]!["ignored"] = "spec changes are ignored by PUT /status";
        current["status"] = JsonNode.Parse("""{"clusterQueues":[{"name":"team-a","admittedWorkloads":1,"usedGPUs":"0.5"}]}""");
        var stale = current.ToJsonString();

        var put = await SendAsync(HttpMethod.Put, "apis/kaiwo.ai/v1alpha2/kaiwoqueues/kaiwo/status", stale, "application/json");
        var again = await SendAsync(HttpMethod.Put, "apis/kaiwo.ai/v1alpha2/kaiwoqueues/kaiwo/status", stale, "application/json");

        Assert.Equal(HttpStatusCode.OK, put.Status);
        Assert.Contains("""
            "status":{"clusterQueues":[{"admittedWorkloads":1,"name":"team-a","usedGPUs":"0.5"}]}
            """, put.Body, StringComparison.Ordinal);
        Assert.Null(put.Json["spec"]!["ignored"]);
        Assert.Equal(1, put.Json["metadata"]!["generation"]!.GetValue<long>());
        Assert.Equal(Text(_server.ResourceVersion), Str(put.Json["metadata"]!["resourceVersion"]));
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Equal(CapturedBodies.QueueStatusStale409, again.Body);
    }

    [Fact]
    public async Task PatchQueue_StatusMergeSpecMergeAndStrategic_AnswerAsCaptures6iTo6l()
    {
        _server.CreateQueue(Queue("kaiwo"));

        var status = await SendAsync(HttpMethod.Patch, "apis/kaiwo.ai/v1alpha2/kaiwoqueues/kaiwo/status", """{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Reconciled","lastTransitionTime":"2026-11-23T13:46:00Z"}]}}""", "application/merge-patch+json");
        var strategic = await SendAsync(HttpMethod.Patch, "apis/kaiwo.ai/v1alpha2/kaiwoqueues/kaiwo/status", """{"status":{}}""", "application/strategic-merge-patch+json");
        var spec = await SendAsync(HttpMethod.Patch, "apis/kaiwo.ai/v1alpha2/kaiwoqueues/kaiwo", """{"spec":{"clusterQueues":[{"name":"team-a","namespaces":["team-a"],"resources":[{"name":"amd.com/gpu","nominalQuota":24}]}]}}""", "application/merge-patch+json");

        Assert.Equal(HttpStatusCode.OK, status.Status);
        Assert.Contains("""
            "status":{"conditions":[{"lastTransitionTime":"2026-11-23T13:46:00Z","reason":"Reconciled","status":"True","type":"Ready"}]}
            """, status.Body, StringComparison.Ordinal);
        Assert.Equal(1, status.Json["metadata"]!["generation"]!.GetValue<long>());
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, strategic.Status);
        Assert.Equal(CapturedBodies.QueueStrategicMergePatch415, strategic.Body);
        Assert.Equal(2, spec.Json["metadata"]!["generation"]!.GetValue<long>());
        Assert.Equal(24, spec.Json["spec"]!["clusterQueues"]![0]!["resources"]![0]!["nominalQuota"]!.GetValue<int>());
        Assert.Equal("Ready", Str(spec.Json["status"]!["conditions"]![0]!["type"]));
    }

    // ---- KubernetesClient ----

    [Fact]
    public async Task KubernetesClient_ListWatchAndBind_ParsesTheFakesWireFormat()
    {
        _server.CreateNode(GpuNode("gpu-node-1"));
        _server.CreatePod(CapturePod("team-a", "pod-a1"));
        _server.CreatePod(CapturePod("team-b", "pod-b1"));
        using var client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = _server.BaseAddress.ToString(), AccessToken = FakeKubeApiServer.Token });

        var pods = await client.CoreV1.ListPodForAllNamespacesAsync(cancellationToken: Ct);
        Assert.Equal(["pod-a1", "pod-b1"], pods.Items.Select(p => p.Metadata.Name));
        Assert.Equal(Text(_server.ResourceVersion), pods.Metadata.ResourceVersion);
        Assert.Equal("1Gi", pods.Items[0].Spec.Containers[0].Resources.Requests["memory"].ToString());

        var events = new List<(WatchEventType Type, V1Pod Pod)>();
        var watching = Task.Run(async () =>
        {
            var stream = client.CoreV1.WatchListNamespacedPodAsync("team-a", allowWatchBookmarks: true, resourceVersion: pods.Metadata.ResourceVersion, cancellationToken: Ct);
            await foreach (var (type, pod) in stream)
            {
                events.Add((type, pod));
            }
        });
        await _server.WaitForWatchesAsync(1, Ct);

        await client.CoreV1.CreateNamespacedPodBindingAsync(
            new V1Binding { Metadata = new V1ObjectMeta { Name = "pod-a1", NamespaceProperty = "team-a" }, Target = new V1ObjectReference { ApiVersion = "v1", Kind = "Node", Name = "gpu-node-1" } },
            "pod-a1",
            "team-a",
            cancellationToken: Ct);
        var conflict = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedPodBindingAsync(
            new V1Binding { Metadata = new V1ObjectMeta { Name = "pod-a1", NamespaceProperty = "team-a" }, Target = new V1ObjectReference { ApiVersion = "v1", Kind = "Node", Name = "gpu-node-2" } },
            "pod-a1",
            "team-a",
            cancellationToken: Ct));
        _server.SendBookmarks();
        _server.EndWatches();
        await watching.WaitAsync(Ct);

        Assert.Equal("gpu-node-1", _server.GetPod("team-a", "pod-a1")!.Spec.NodeName);
        Assert.Equal(HttpStatusCode.Conflict, conflict.Response.StatusCode);
        Assert.Contains("is already assigned to node \\\"gpu-node-1\\\"", conflict.Response.Content, StringComparison.Ordinal);
        Assert.Equal([WatchEventType.Modified, WatchEventType.Bookmark], events.Select(e => e.Type));
        Assert.Equal("gpu-node-1", events[0].Pod.Spec.NodeName);
        Assert.Equal(Text(_server.ResourceVersion), events[1].Pod.Metadata.ResourceVersion);
    }

    // ---- Helpers ----

    private static string Text(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Str(JsonNode? node) => node?.GetValue<string>() ?? throw new InvalidOperationException("missing string");

    private static string[] Names(JsonNode list) => [.. list["items"]!.AsArray().Select(i => Str(i!["metadata"]!["name"]))];

    private static string DecodeContinue(string token)
    {
        var base64 = token.Replace('-', '+').Replace('_', '/');
        return Encoding.UTF8.GetString(Convert.FromBase64String(base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=')));
    }

    /// <summary>A pod like the captures' (2d): kaiwo-scheduler, half a GPU, one busybox container.</summary>
    private static V1Pod CapturePod(string ns, string name, string? node = null, string scheduler = "kaiwo-scheduler", Dictionary<string, string>? annotations = null)
    {
        var pod = KubernetesJson.Deserialize<V1Pod>(CapturedBodies.CreatePodRequest);
        pod.Metadata.Name = name;
        pod.Metadata.NamespaceProperty = ns;
        pod.Metadata.Labels["kaiwo.ai/queue"] = ns;
        foreach (var (key, value) in annotations ?? [])
        {
            pod.Metadata.Annotations[key] = value;
        }

        pod.Spec.SchedulerName = scheduler;
        pod.Spec.NodeName = node;
        return pod;
    }

    private static V1Node GpuNode(string name) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            Labels = new Dictionary<string, string> { ["amd.com/gpu.count"] = "8", ["amd.com/gpu.product-name"] = "AMD_Instinct_MI300X_OAM" },
        },
        Status = new V1NodeStatus
        {
            Capacity = new Dictionary<string, ResourceQuantity> { ["amd.com/gpu"] = new("8"), ["cpu"] = new("96") },
            Allocatable = new Dictionary<string, ResourceQuantity> { ["amd.com/gpu"] = new("8"), ["cpu"] = new("95") },
        },
    };

    private static JsonObject Queue(string name) => JsonNode.Parse($$$"""
        {"apiVersion":"kaiwo.ai/v1alpha2","kind":"KaiwoQueue","metadata":{"name":"{{{name}}}"},"spec":{"clusterQueues":[{"name":"team-a","namespaces":["team-a"],"resources":[{"name":"amd.com/gpu","nominalQuota":16}]}]}}
        """)!.AsObject();

    private static string Binding(string pod, string node) =>
        $$$"""{"apiVersion":"v1","kind":"Binding","metadata":{"name":"{{{pod}}}","namespace":"team-a"},"target":{"apiVersion":"v1","kind":"Node","name":"{{{node}}}"}}""";

    private async Task<Answer> SendAsync(HttpMethod method, string path, string? body = null, string? contentType = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType ?? "application/json");
        }

        return await Answer.ReadAsync(await _http.SendAsync(request, Ct), Ct);
    }

    private async Task<WatchStream> OpenWatchAsync(string path)
    {
        var response = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative)), HttpCompletionOption.ResponseHeadersRead, Ct);
        return new WatchStream(response, new StreamReader(await response.Content.ReadAsStreamAsync(Ct), Encoding.UTF8));
    }

    /// <summary>An answer read whole: status, Content-Type, Content-Length, headers, body text.</summary>
    private sealed class Answer
    {
        private readonly Dictionary<string, string> _headers;
        private JsonNode? _json;

        private Answer(HttpStatusCode status, string? contentType, long? contentLength, bool chunked, Dictionary<string, string> headers, string body)
        {
            Chunked = chunked;
            Status = status;
            ContentType = contentType;
            ContentLength = contentLength;
            _headers = headers;
            Body = body;
        }

        public HttpStatusCode Status { get; }

        public string? ContentType { get; }

        /// <summary>The Content-Length header (read before the body, which HttpClient would measure otherwise).</summary>
        public long? ContentLength { get; }

        public bool Chunked { get; }

        public string Body { get; }

        public JsonNode Json => _json ??= JsonNode.Parse(Body) ?? throw new InvalidOperationException("null body");

        public static async Task<Answer> ReadAsync(HttpResponseMessage response, CancellationToken ct)
        {
            using (response)
            {
                var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
                {
                    headers[name] = string.Join(", ", values);
                }

                long? contentLength = response.Content.Headers.NonValidated.TryGetValues("Content-Length", out var length) ? long.Parse(length.ToString(), System.Globalization.CultureInfo.InvariantCulture) : null;
                var body = await response.Content.ReadAsStringAsync(ct);
                return new Answer(response.StatusCode, response.Content.Headers.ContentType?.ToString(), contentLength, response.Headers.TransferEncodingChunked == true, headers, body);
            }
        }

        public string? Header(string name) => _headers.TryGetValue(name, out var value) ? value : null;
    }

    /// <summary>A watch response read line by line (chunk boundaries do not follow events).</summary>
    private sealed class WatchStream(HttpResponseMessage response, StreamReader reader) : IAsyncDisposable
    {
        public HttpResponseMessage Response { get; } = response;

        public async Task<string?> NextAsync(CancellationToken ct) => await reader.ReadLineAsync(ct);

        public ValueTask DisposeAsync()
        {
            reader.Dispose();
            Response.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>HTTP/1.1 read off the socket, chunk framing kept: to check it is the framing of the captures.</summary>
    private sealed class RawHttpReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[1 << 16];
        private int _start;
        private int _end;

        public async Task<string> ReadHeadAsync(CancellationToken ct)
        {
            var head = new StringBuilder();
            while (await ReadLineAsync(ct) is { Length: > 0 } line)
            {
                head.Append(line).Append("\r\n");
            }

            return head.ToString();
        }

        /// <summary>One chunk's data; empty for the last chunk (whose trailing CRLF it reads too).</summary>
        public async Task<byte[]> ReadChunkAsync(CancellationToken ct)
        {
            var size = Convert.ToInt32(await ReadLineAsync(ct), 16);
            var data = new byte[size];
            for (var read = 0; read < size;)
            {
                if (_start == _end && !await FillAsync(ct))
                {
                    throw new EndOfStreamException();
                }

                var n = Math.Min(size - read, _end - _start);
                Array.Copy(_buffer, _start, data, read, n);
                _start += n;
                read += n;
            }

            Assert.Equal(string.Empty, await ReadLineAsync(ct));
            return data;
        }

        public async Task<bool> AtEndAsync(CancellationToken ct) => _start == _end && !await FillAsync(ct);

        private async Task<string> ReadLineAsync(CancellationToken ct)
        {
            var line = new StringBuilder();
            while (true)
            {
                while (_start < _end)
                {
                    var c = (char)_buffer[_start++];
                    if (c == '\n' && line.Length > 0 && line[^1] == '\r')
                    {
                        return line.ToString(0, line.Length - 1);
                    }

                    line.Append(c);
                }

                if (!await FillAsync(ct))
                {
                    throw new EndOfStreamException();
                }
            }
        }

        private async Task<bool> FillAsync(CancellationToken ct)
        {
            if (_start == _end)
            {
                _start = _end = 0;
            }

            var n = await stream.ReadAsync(_buffer.AsMemory(_end), ct);
            _end += n;
            return n > 0;
        }
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Http;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>The HTTP side: authentication, faults, routing, and each endpoint's answers as captured.</summary>
public sealed partial class FakeKubeApiServer
{
    // The API Priority and Fairness UIDs of the captures: the default flow schema, and the one that rejected 8a.
    private const string FlowSchemaUid = "a53dca19-0871-4b6d-a013-77a76cea6b0f";
    private const string PriorityLevelUid = "5d9089e9-df8b-48c1-a883-a3466469d105";
    private const string RejectingFlowSchemaUid = "ee79533a-f862-4485-a39e-de940ea88bdb";
    private const string RejectingPriorityLevelUid = "c96f5e47-a63c-4a97-a216-e2df83175238";

    private const string MergePatchType = "application/merge-patch+json";
    private const string StrategicMergePatchType = "application/strategic-merge-patch+json";
    private const string JsonPatchType = "application/json-patch+json";

    private static readonly byte[] PageNotFoundBody = "404 page not found\n"u8.ToArray();
    private static readonly byte[] TooManyRequestsBody = "Too many requests, please try again later.\n"u8.ToArray();

    /// <summary>Every request; a bug of the fake answers 500 with the exception in the Status message.</summary>
    private async Task HandleAsync(HttpContext context)
    {
        try
        {
            await HandleRequestAsync(context);
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            context.Response.Clear();
            await WriteStatusAsync(context, KubeStatus.InternalError($"fake kube-apiserver: {ex}"));
        }
    }

    private async Task HandleRequestAsync(HttpContext context)
    {
        var request = context.Request;
        string body;
        using (var reader = new StreamReader(request.Body, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, leaveOpen: true))
        {
            body = await reader.ReadToEndAsync(context.RequestAborted);
        }

        var path = request.Path.Value ?? "/";
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var target = ParseTarget(segments);
        var watch = ParseBool(request.Query["watch"]);
        var route = IsEventsPath(segments, request.Method) ? FakeRoute.CreateEvent : RouteOf(request.Method, target, watch);
        var query = request.QueryString.Value is { Length: > 1 } q ? q[1..] : string.Empty;
        lock (_gate)
        {
            _requests.Add(new RecordedRequest(request.Method, path, query, request.ContentType, body, route));
        }

        if (!Authorized(request))
        {
            // Authentication comes before API Priority and Fairness: no X-Kubernetes-Pf-* headers (9d).
            await WriteStatusAsync(context, KubeStatus.Unauthorized(), priorityHeaders: false);
            return;
        }

        if (route is { } matched && TakeFault(matched) is { } fault && await AnswerFaultAsync(context, fault, target))
        {
            return;
        }

        if (segments is ["apis", "kaiwo.ai", ..] && !CrdInstalled)
        {
            await WritePageNotFoundAsync(context);
            return;
        }

        if (route == FakeRoute.CreateEvent)
        {
            await CreateEventAsync(context, segments[4], body);
            return;
        }

        if (target is null)
        {
            await WriteStatusAsync(context, KubeStatus.NoSuchPath());
            return;
        }

        await DispatchAsync(context, target, body, watch);
    }

    private static ApiTarget? ParseTarget(string[] segments) => segments switch
    {
        ["api", "v1", "nodes"] => new(ResourceInfo.Nodes, null, null, null),
        ["api", "v1", "nodes", var name] => new(ResourceInfo.Nodes, null, name, null),
        ["api", "v1", "nodes", var name, "status"] => new(ResourceInfo.Nodes, null, name, "status"),
        ["api", "v1", "pods"] => new(ResourceInfo.Pods, null, null, null),
        ["api", "v1", "namespaces", var ns, "pods"] => new(ResourceInfo.Pods, ns, null, null),
        ["api", "v1", "namespaces", var ns, "pods", var name] => new(ResourceInfo.Pods, ns, name, null),
        ["api", "v1", "namespaces", var ns, "pods", var name, "status" or "binding"] => new(ResourceInfo.Pods, ns, name, segments[^1]),
        ["api", "v1", "namespaces", var ns, "bindings"] => new(ResourceInfo.Pods, ns, null, "binding", BindingsCollection: true),
        ["apis", "kaiwo.ai", "v1alpha2", "kaiwoqueues"] => new(ResourceInfo.Queues, null, null, null),
        ["apis", "kaiwo.ai", "v1alpha2", "kaiwoqueues", var name] => new(ResourceInfo.Queues, null, name, null),
        ["apis", "kaiwo.ai", "v1alpha2", "kaiwoqueues", var name, "status"] => new(ResourceInfo.Queues, null, name, "status"),
        _ => null,
    };

    private static FakeRoute? RouteOf(string method, ApiTarget? target, bool watch)
    {
        if (target is null)
        {
            return null;
        }

        if (target.Subresource == "binding")
        {
            return method == HttpMethods.Post ? FakeRoute.BindPod : null;
        }

        if (target.Name is null)
        {
            return method != HttpMethods.Get ? null : target.Resource.Kind switch
            {
                ResourceKind.Pod => watch ? FakeRoute.WatchPods : FakeRoute.ListPods,
                ResourceKind.Node => watch ? FakeRoute.WatchNodes : FakeRoute.ListNodes,
                _ => watch ? FakeRoute.WatchQueues : FakeRoute.ListQueues,
            };
        }

        return (target.Resource.Kind, target.Subresource, method) switch
        {
            (ResourceKind.Pod, null, "PATCH") => FakeRoute.PatchPod,
            (ResourceKind.Queue, "status", "PUT") => FakeRoute.PutQueueStatus,
            (ResourceKind.Queue, "status", "PATCH") => FakeRoute.PatchQueueStatus,
            _ => null,
        };
    }

    /// <summary>Go's bearer token authenticator: scheme case-insensitive, token exact.</summary>
    private static bool Authorized(HttpRequest request)
    {
        var parts = ((string?)request.Headers.Authorization ?? string.Empty).Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length == 2 && parts[0].Equals("Bearer", StringComparison.OrdinalIgnoreCase) && parts[1] == Token;
    }

    private static string MediaType(string? contentType) =>
        (contentType ?? string.Empty).Split(';', 2)[0].Trim().ToLowerInvariant();

    private static string Key(ApiTarget target) => target.Resource.Key(target.Namespace, target.Name ?? string.Empty);

    private static void SetOrRemove(JsonObject obj, string name, JsonNode? value)
    {
        if (value is null)
        {
            obj.Remove(name);
        }
        else
        {
            obj[name] = value.DeepClone();
        }
    }

    private static bool TryParseObject(string body, out JsonObject obj, out string error)
    {
        try
        {
            if (JsonNode.Parse(body) is JsonObject parsed)
            {
                obj = parsed;
                error = string.Empty;
                return true;
            }

            error = "the body is not a JSON object";
        }
        catch (JsonException ex)
        {
            error = ex.Message;
        }

        obj = [];
        return false;
    }

    private static void SetCommonHeaders(HttpResponse response, bool priorityHeaders, bool rejected = false)
    {
        response.Headers["Audit-Id"] = Guid.NewGuid().ToString();
        response.Headers.CacheControl = "no-cache, private";
        if (priorityHeaders)
        {
            response.Headers["X-Kubernetes-Pf-Flowschema-Uid"] = rejected ? RejectingFlowSchemaUid : FlowSchemaUid;
            response.Headers["X-Kubernetes-Pf-Prioritylevel-Uid"] = rejected ? RejectingPriorityLevelUid : PriorityLevelUid;
        }
    }

    /// <summary>
    /// A JSON answer: compact, Go-escaped, ending in a newline. Up to 2048 bytes it carries Content-Length; a larger
    /// one is chunked, as Go's net/http does once its 2048-byte buffer overflows (1b, 2f, 2h).
    /// </summary>
    private static async Task WriteJsonAsync(HttpContext context, int status, JsonNode body, bool priorityHeaders = true)
    {
        var bytes = GoJson.Encode(body, newline: true);
        var response = context.Response;
        response.StatusCode = status;
        SetCommonHeaders(response, priorityHeaders);
        response.ContentType = "application/json";
        if (bytes.Length <= GoChunkWriter.BufferSize)
        {
            response.ContentLength = bytes.Length;
        }

        await response.Body.WriteAsync(bytes, context.RequestAborted);
    }

    private static Task WriteStatusAsync(HttpContext context, StatusAnswer answer, bool priorityHeaders = true) =>
        WriteJsonAsync(context, answer.Code, answer.Body, priorityHeaders);

    private static Task WriteTextAsync(HttpContext context, int status, byte[] body, bool rejected, int? retryAfterSeconds = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        SetCommonHeaders(response, priorityHeaders: true, rejected);
        response.ContentType = "text/plain; charset=utf-8";
        if (retryAfterSeconds is { } seconds)
        {
            response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        response.Headers.XContentTypeOptions = "nosniff";
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    /// <summary>An unknown group or resource (6a): Go's http.NotFound, not a Status.</summary>
    private static Task WritePageNotFoundAsync(HttpContext context) =>
        WriteTextAsync(context, StatusCodes.Status404NotFound, PageNotFoundBody, rejected: false);

    private Fault? TakeFault(FakeRoute route)
    {
        lock (_gate)
        {
            return _faults.TryGetValue(route, out var queue) && queue.TryDequeue(out var fault) ? fault : null;
        }
    }

    /// <summary>Answers with the fault; false when the request goes on to its normal answer (a delay).</summary>
    private async Task<bool> AnswerFaultAsync(HttpContext context, Fault fault, ApiTarget? target)
    {
        switch (fault.Kind)
        {
            case FaultKind.TooManyRequests:
                await WriteTextAsync(context, StatusCodes.Status429TooManyRequests, TooManyRequestsBody, rejected: true, fault.RetryAfterSeconds);
                return true;
            case FaultKind.ServerError:
                await WriteStatusAsync(context, KubeStatus.InternalError("fault injected by the test"));
                return true;
            case FaultKind.Conflict:
                await WriteStatusAsync(context, KubeStatus.Conflict(target?.Resource ?? ResourceInfo.Pods, target?.Name ?? string.Empty));
                return true;
            default:
                using (var wait = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token))
                {
                    try
                    {
                        await Task.Delay(fault.Duration, TimeProvider, wait.Token);
                        return false;
                    }
                    catch (OperationCanceledException)
                    {
                        return true;
                    }
                }
        }
    }

    private Task DispatchAsync(HttpContext context, ApiTarget target, string body, bool watch)
    {
        var method = context.Request.Method;
        if (target.BindingsCollection)
        {
            return method == HttpMethods.Post ? BindAsync(context, target, body) : WriteStatusAsync(context, KubeStatus.MethodNotAllowed());
        }

        if (target.Name is null)
        {
            return method switch
            {
                "GET" => ListOrWatchAsync(context, target, watch),
                "POST" when !target.Resource.Namespaced || target.Namespace is not null => CreateAsync(context, target, body),
                _ => WriteStatusAsync(context, KubeStatus.MethodNotAllowed()),
            };
        }

        return (target.Subresource, method) switch
        {
            (null or "status", "GET") => GetAsync(context, target),
            (null, "PATCH") => PatchAsync(context, target, body, statusOnly: false),
            ("status", "PATCH") => PatchAsync(context, target, body, statusOnly: true),
            ("status", "PUT") => PutStatusAsync(context, target, body),
            (null, "DELETE") => DeleteAsync(context, target, body),
            ("binding", "POST") => BindAsync(context, target, body),
            _ => WriteStatusAsync(context, KubeStatus.MethodNotAllowed()),
        };
    }

    private async Task ListOrWatchAsync(HttpContext context, ApiTarget target, bool watch)
    {
        var query = context.Request.Query;
        ObjectFilter filter;
        try
        {
            filter = ObjectFilter.Parse(target.Resource, query["labelSelector"], query["fieldSelector"]);
        }
        catch (SelectorException ex)
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest(ex.Message));
            return;
        }

        if (watch)
        {
            await WatchAsync(context, target.Resource, target.Namespace, filter);
        }
        else
        {
            await ListAsync(context, target, filter);
        }
    }

    /// <summary>
    /// A list in etcd key order. <c>limit</c> pages with a continue token that remembers the snapshot's
    /// resourceVersion and the last key (<c>{"v":"meta.k8s.io/v1","rv":88,"start":"team-a/pod-a2\u0000"}</c>, 1b)
    /// and <c>remainingItemCount</c> when there is no selector. resourceVersion=0 is served from the watch cache,
    /// which ignores limit; an exact or paged resourceVersion lists that snapshot, 410 when it is compacted.
    /// </summary>
    private async Task ListAsync(HttpContext context, ApiTarget target, ObjectFilter filter)
    {
        var query = context.Request.Query;
        var resource = target.Resource;
        var limit = int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out var l) && l > 0 ? l : 0;
        var continueToken = (string?)query["continue"];
        var version = (string?)query["resourceVersion"];
        var exact = (string?)query["resourceVersionMatch"] == "Exact";
        var start = string.Empty;
        long? tokenVersion = null;
        if (continueToken is { Length: > 0 })
        {
            if (!ContinueToken.TryDecode(continueToken, out var decoded, out start))
            {
                await WriteStatusAsync(context, KubeStatus.BadRequest($"continue key is not valid: {continueToken}"));
                return;
            }

            tokenVersion = decoded;
        }

        long? requested = null;
        if (version is { Length: > 0 } and not "0")
        {
            if (!long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                await WriteStatusAsync(context, KubeStatus.BadRequest($"invalid resource version: {version}"));
                return;
            }

            requested = parsed;
        }

        var paged = limit > 0 && !(version == "0" && tokenVersion is null);
        var prefix = target.Namespace is null ? string.Empty : target.Namespace + "/";
        StatusAnswer? error = null;
        JsonObject? list = null;
        lock (_gate)
        {
            var at = _resourceVersion;
            if (tokenVersion is { } fromToken)
            {
                if (fromToken != -1 && fromToken < _compactedRevision)
                {
                    error = KubeStatus.ContinueExpired(ContinueToken.Encode(-1, start));
                }
                else if (fromToken != -1)
                {
                    at = fromToken;
                }
            }
            else if (requested is { } exactVersion && (paged || exact))
            {
                if (exactVersion < _compactedRevision)
                {
                    error = KubeStatus.ListExpired();
                }
                else
                {
                    at = Math.Min(exactVersion, _resourceVersion);
                }
            }

            if (error is null)
            {
                var items = ItemsLocked(resource, at)
                    .Where(i => i.Key.StartsWith(prefix, StringComparison.Ordinal))
                    .Select(i => (Relative: i.Key[prefix.Length..], i.Object))
                    .Where(i => string.CompareOrdinal(i.Relative, start) >= 0 && filter.Matches(i.Object))
                    .ToList();
                var page = paged ? items.Take(limit).ToList() : items;
                string? next = null;
                long? remaining = null;
                if (page.Count < items.Count)
                {
                    next = ContinueToken.Encode(at, page[^1].Relative + "\0");
                    remaining = filter.IsEmpty ? items.Count - page.Count : null;
                }

                list = BuildList(resource, at, page.Select(p => p.Object), next, remaining);
            }
        }

        if (error is not null)
        {
            await WriteStatusAsync(context, error);
        }
        else
        {
            await WriteJsonAsync(context, StatusCodes.Status200OK, list!);
        }
    }

    /// <summary>
    /// A built-in list: kind, apiVersion, metadata {resourceVersion, continue, remainingItemCount}, items without
    /// kind/apiVersion. A custom resource list: sorted keys, items with apiVersion/kind, metadata.continue always (6e).
    /// </summary>
    private static JsonObject BuildList(ResourceInfo resource, long at, IEnumerable<JsonObject> items, string? next, long? remaining)
    {
        if (resource.IsCustom)
        {
            var meta = new JsonObject { ["continue"] = next ?? string.Empty };
            if (remaining is { } count)
            {
                meta["remainingItemCount"] = count;
            }

            meta["resourceVersion"] = Text(at);
            return new JsonObject
            {
                ["apiVersion"] = resource.ApiVersion,
                ["items"] = new JsonArray([.. items.Select(i => i.DeepClone())]),
                ["kind"] = resource.ListKind,
                ["metadata"] = meta,
            };
        }

        var metadata = new JsonObject { ["resourceVersion"] = Text(at) };
        if (next is not null)
        {
            metadata["continue"] = next;
            if (remaining is { } count)
            {
                metadata["remainingItemCount"] = count;
            }
        }

        var array = new JsonArray();
        foreach (var item in items)
        {
            var copy = (JsonObject)item.DeepClone();
            copy.Remove("kind");
            copy.Remove("apiVersion");
            array.Add(copy);
        }

        return new JsonObject { ["kind"] = resource.ListKind, ["apiVersion"] = resource.ApiVersion, ["metadata"] = metadata, ["items"] = array };
    }

    private async Task GetAsync(HttpContext context, ApiTarget target)
    {
        JsonObject? obj;
        lock (_gate)
        {
            obj = CurrentLocked(target.Resource, Key(target));
        }

        if (obj is null)
        {
            await WriteStatusAsync(context, KubeStatus.NotFound(target.Resource, target.Name!));
        }
        else
        {
            await WriteJsonAsync(context, StatusCodes.Status200OK, obj);
        }
    }

    /// <summary>POST on a collection: 201 with the object as stored, 409 AlreadyExists (9e).</summary>
    private async Task CreateAsync(HttpContext context, ApiTarget target, string body)
    {
        var resource = target.Resource;
        if (!TryParseObject(body, out var json, out var parseError))
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest(parseError));
            return;
        }

        var meta = json["metadata"] as JsonObject ?? [];
        json["metadata"] = meta;
        if (resource.Namespaced)
        {
            if (StringAt(meta["namespace"]) is { Length: > 0 } ns && ns != target.Namespace)
            {
                await WriteStatusAsync(context, KubeStatus.BadRequest("the namespace of the provided object does not match the namespace sent on the request"));
                return;
            }

            meta["namespace"] = target.Namespace;
        }

        if (StringAt(meta["name"]) is not { Length: > 0 })
        {
            if (StringAt(meta["generateName"]) is not { Length: > 0 } generateName)
            {
                await WriteStatusAsync(context, KubeStatus.Invalid(resource.KindName, string.Empty, "metadata.name", "FieldValueRequired", "Required value: name or generateName is required"));
                return;
            }

            meta["name"] = generateName + RandomSuffix();
        }

        foreach (var serverField in new[] { "uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds" })
        {
            meta.Remove(serverField);
        }

        JsonObject wire;
        try
        {
            if (resource.Kind == ResourceKind.Pod)
            {
                var pod = KubernetesJson.Deserialize<V1Pod>(json.ToJsonString());
                PodDefaults.Apply(pod);
                wire = ToWire(resource, pod);
            }
            else
            {
                wire = Normalize(resource, json);
            }
        }
        catch (JsonException ex)
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest(ex.Message));
            return;
        }

        FillCreateMetadata(resource, wire, target.Namespace);
        JsonObject? created;
        lock (_gate)
        {
            created = CreateLocked(resource, wire);
        }

        if (created is null)
        {
            await WriteStatusAsync(context, KubeStatus.AlreadyExists(resource, NameOf(wire)));
        }
        else
        {
            await WriteJsonAsync(context, StatusCodes.Status201Created, created);
        }
    }

    /// <summary>
    /// PATCH: 415 for another content type (4g; 6j for a strategic merge patch on a custom resource), 404 for a missing
    /// object (4d), 422 for a JSON patch that does not apply (4f, 4h), 409 for a stale metadata.resourceVersion (4e).
    /// The main resource keeps its status and a status patch keeps the rest, as with the status subresource.
    /// </summary>
    private async Task PatchAsync(HttpContext context, ApiTarget target, string body, bool statusOnly)
    {
        var resource = target.Resource;
        Func<JsonNode?, JsonNode?, JsonNode?>? apply = MediaType(context.Request.ContentType) switch
        {
            MergePatchType => JsonPatches.MergePatch,
            StrategicMergePatchType when !resource.IsCustom => JsonPatches.StrategicMergePatch,
            JsonPatchType => (document, patch) => patch is JsonArray operations
                ? JsonPatches.JsonPatch(document, operations)
                : throw new PatchFailedException("a JSON patch is a list of operations"),
            _ => null,
        };
        if (apply is null)
        {
            await WriteStatusAsync(context, resource.IsCustom ? KubeStatus.UnsupportedCustomResourcePatchType() : KubeStatus.UnsupportedPatchType());
            return;
        }

        JsonNode? patch;
        try
        {
            patch = JsonNode.Parse(body);
        }
        catch (JsonException ex)
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest($"error decoding patch: {ex.Message}"));
            return;
        }

        StatusAnswer? error;
        JsonObject? result = null;
        lock (_gate)
        {
            var key = Key(target);
            var current = CurrentLocked(resource, key);
            error = current is null
                ? KubeStatus.NotFound(resource, target.Name!)
                : PatchLocked(resource, key, target.Name!, current, apply, patch, statusOnly, out result);
        }

        if (error is not null)
        {
            await WriteStatusAsync(context, error);
        }
        else
        {
            await WriteJsonAsync(context, StatusCodes.Status200OK, result!);
        }
    }

    private StatusAnswer? PatchLocked(
        ResourceInfo resource,
        string key,
        string name,
        JsonObject current,
        Func<JsonNode?, JsonNode?, JsonNode?> apply,
        JsonNode? patch,
        bool statusOnly,
        out JsonObject? result)
    {
        result = null;
        JsonNode? patched;
        try
        {
            patched = apply(current, patch);
        }
        catch (Exception ex) when (ex is PatchFailedException or InvalidOperationException or FormatException)
        {
            return KubeStatus.InvalidPatch();
        }

        if (patched is not JsonObject obj)
        {
            return KubeStatus.InvalidPatch();
        }

        if (StringAt(obj["metadata"]?["resourceVersion"]) is { Length: > 0 } version && version != ResourceVersionOf(current))
        {
            return KubeStatus.Conflict(resource, name);
        }

        if (StringAt(obj["metadata"]?["name"]) is { } patchedName && patchedName != name)
        {
            return KubeStatus.BadRequest($"the name of the object ({patchedName}) does not match the name on the URL ({name})");
        }

        return UpdateFromLocked(resource, key, current, obj, statusOnly, out result);
    }

    /// <summary>PUT on /status (6h): only status changes; a stale resourceVersion is 409 (6k); none is unconditional.</summary>
    private async Task PutStatusAsync(HttpContext context, ApiTarget target, string body)
    {
        var resource = target.Resource;
        var name = target.Name!;
        if (!TryParseObject(body, out var json, out var parseError))
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest(parseError));
            return;
        }

        if (StringAt(json["metadata"]?["name"]) is var bodyName && bodyName != name)
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})"));
            return;
        }

        StatusAnswer? error;
        JsonObject? result = null;
        lock (_gate)
        {
            var key = Key(target);
            var current = CurrentLocked(resource, key);
            if (current is null)
            {
                error = KubeStatus.NotFound(resource, name);
            }
            else if (StringAt(json["metadata"]?["resourceVersion"]) is { Length: > 0 } version && version != ResourceVersionOf(current))
            {
                error = KubeStatus.Conflict(resource, name);
            }
            else
            {
                error = UpdateFromLocked(resource, key, current, json, statusOnly: true, out result);
            }
        }

        if (error is not null)
        {
            await WriteStatusAsync(context, error);
        }
        else
        {
            await WriteJsonAsync(context, StatusCodes.Status200OK, result!);
        }
    }

    /// <summary>Stores <paramref name="json"/> over <paramref name="current"/>: the status only, or everything but the status.</summary>
    private StatusAnswer? UpdateFromLocked(ResourceInfo resource, string key, JsonObject current, JsonObject json, bool statusOnly, out JsonObject? result)
    {
        result = null;
        JsonObject normalized;
        try
        {
            normalized = Normalize(resource, json);
        }
        catch (JsonException ex)
        {
            return KubeStatus.BadRequest(ex.Message);
        }

        JsonObject next;
        if (statusOnly)
        {
            next = (JsonObject)current.DeepClone();
            SetOrRemove(next, "status", normalized["status"]);
        }
        else
        {
            next = normalized;
            SetOrRemove(next, "status", current["status"]);
            KeepServerMetadata(next, current);
            if (resource.IsCustom)
            {
                BumpGenerationIfSpecChanged(next, current);
            }
        }

        result = UpdateLocked(resource, key, current, next);
        return null;
    }

    /// <summary>
    /// DELETE. A pod is deleted gracefully as the real server does (2h, 2i): MODIFIED with deletionTimestamp and
    /// deletionGracePeriodSeconds (0 for an unbound pod), then DELETED when the grace period is 0; the answer is the
    /// pod. Nodes and queues go at once; the answer is a Success Status with details (6m).
    /// </summary>
    private async Task DeleteAsync(HttpContext context, ApiTarget target, string body)
    {
        var resource = target.Resource;
        long? requested = null;
        if (long.TryParse(context.Request.Query["gracePeriodSeconds"], NumberStyles.None, CultureInfo.InvariantCulture, out var fromQuery))
        {
            requested = fromQuery;
        }
        else if (body.Length > 0 && TryParseObject(body, out var options, out _) && options["gracePeriodSeconds"] is JsonValue g && g.TryGetValue<long>(out var fromBody))
        {
            requested = fromBody;
        }

        StatusAnswer? answer = null;
        JsonObject? result = null;
        lock (_gate)
        {
            var key = Key(target);
            var current = CurrentLocked(resource, key);
            if (current is null)
            {
                answer = KubeStatus.NotFound(resource, target.Name!);
            }
            else if (resource.Kind == ResourceKind.Pod)
            {
                result = DeletePodGracefullyLocked(key, current, requested);
            }
            else
            {
                var deleted = DeleteLocked(resource, key);
                answer = KubeStatus.Deleted(resource, target.Name!, StringAt(deleted["metadata"]?["uid"]));
            }
        }

        if (answer is not null)
        {
            await WriteStatusAsync(context, answer);
        }
        else
        {
            await WriteJsonAsync(context, StatusCodes.Status200OK, result!);
        }
    }

    private JsonObject DeletePodGracefullyLocked(string key, JsonObject current, long? requested)
    {
        var meta = Metadata(current);
        var now = TimeProvider.GetUtcNow().UtcDateTime;
        long period;
        DateTime deleteAt;
        if (StringAt(meta["deletionTimestamp"]) is { } existing)
        {
            var existingPeriod = meta["deletionGracePeriodSeconds"] is JsonValue p && p.TryGetValue<long>(out var e) ? e : 0;
            if (existingPeriod == 0)
            {
                DeleteLocked(ResourceInfo.Pods, key);
                return current;
            }

            if (requested is not { } shorter || shorter >= existingPeriod)
            {
                // Graceful deletion is pending: nothing changes.
                return current;
            }

            period = shorter;
            deleteAt = DateTime.Parse(existing, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal)
                .AddSeconds(shorter - existingPeriod);
        }
        else
        {
            period = requested ?? (current["spec"]?["terminationGracePeriodSeconds"] is JsonValue t && t.TryGetValue<long>(out var s) ? s : 30);
            var phase = StringAt(current["status"]?["phase"]);
            if (StringAt(current["spec"]?["nodeName"]) is not { Length: > 0 } || phase is "Succeeded" or "Failed")
            {
                period = 0;
            }

            deleteAt = now.AddSeconds(period);
        }

        var next = (JsonObject)current.DeepClone();
        var nextMeta = Metadata(next);
        nextMeta["deletionTimestamp"] = deleteAt.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", CultureInfo.InvariantCulture);
        nextMeta["deletionGracePeriodSeconds"] = period;
        var modified = UpdateLocked(ResourceInfo.Pods, key, current, next);
        if (period == 0)
        {
            DeleteLocked(ResourceInfo.Pods, key);
        }

        return modified;
    }

    /// <summary>
    /// POST .../pods/{name}/binding or .../bindings (5a-5g): 201 Success; 409 when the pod is bound already (to
    /// any node), is being deleted, or fails the binding's resourceVersion precondition (its uid is not one); 404 for a missing pod;
    /// 400 when the names differ; a missing node is fine. Sets spec.nodeName, copies the binding's annotations, and
    /// sets the PodScheduled condition True.
    /// </summary>
    private async Task BindAsync(HttpContext context, ApiTarget target, string body)
    {
        V1Binding? binding = null;
        try
        {
            binding = KubernetesJson.Deserialize<V1Binding>(body);
        }
        catch (JsonException)
        {
            // answered below
        }

        if (binding is null)
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest("the body of the request was in an unknown format"));
            return;
        }

        var bodyName = binding.Metadata?.Name ?? string.Empty;
        if (!target.BindingsCollection && bodyName != target.Name)
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest("name in URL does not match name in Binding object"));
            return;
        }

        if (binding.Metadata?.NamespaceProperty is { Length: > 0 } bodyNamespace && bodyNamespace != target.Namespace)
        {
            await WriteStatusAsync(context, KubeStatus.BadRequest("the namespace of the provided object does not match the namespace sent on the request"));
            return;
        }

        if (bodyName.Length == 0)
        {
            await WriteStatusAsync(context, KubeStatus.Invalid("Binding", bodyName, "metadata.name", "FieldValueRequired", "Required value: name or generateName is required"));
            return;
        }

        var node = binding.Target?.Name ?? string.Empty;
        if (node.Length == 0)
        {
            await WriteStatusAsync(context, KubeStatus.Invalid("Binding", bodyName, "target.name", "FieldValueRequired", "Required value"));
            return;
        }

        if (binding.Target?.Kind is { Length: > 0 } kind && kind != "Node")
        {
            await WriteStatusAsync(context, KubeStatus.Invalid("Binding", bodyName, "target.kind", "FieldValueNotSupported", $"Unsupported value: \"{kind}\": supported values: \"Node\""));
            return;
        }

        StatusAnswer answer;
        lock (_gate)
        {
            answer = BindLocked(target.Namespace!, bodyName, binding, node);
        }

        await WriteStatusAsync(context, answer);
    }

    private StatusAnswer BindLocked(string ns, string name, V1Binding binding, string node)
    {
        var key = ResourceInfo.Pods.Key(ns, name);
        if (CurrentLocked(ResourceInfo.Pods, key) is not { } current)
        {
            return KubeStatus.NotFound(ResourceInfo.Pods, name);
        }

        var meta = Metadata(current);
        var version = ResourceVersionOf(current);
        // metadata.uid is no precondition: kube-apiserver v1.26.1 gives the created Binding a uid of its own and binds
        // whatever uid was sent (RealBindingTests.BindPodAsync_UidOfAnotherPod_TheServerDoesNotCheckItAndBinds).
        if (binding.Metadata?.ResourceVersion is { Length: > 0 } wantVersion && wantVersion != version)
        {
            return PreconditionFailed(ns, name, $"ResourceVersion in precondition: {wantVersion}, ResourceVersion in object meta: {version}");
        }

        if (meta["deletionTimestamp"] is not null)
        {
            return KubeStatus.BindingConflict(name, $"pod {name} is being deleted, cannot be assigned to a host");
        }

        if (StringAt(current["spec"]?["nodeName"]) is { Length: > 0 } assigned)
        {
            return KubeStatus.AlreadyAssigned(name, assigned);
        }

        var next = (JsonObject)current.DeepClone();
        var spec = next["spec"] as JsonObject ?? [];
        next["spec"] = spec;
        spec["nodeName"] = node;
        if (binding.Metadata?.Annotations is { Count: > 0 } annotations)
        {
            var nextMeta = Metadata(next);
            var target = nextMeta["annotations"] as JsonObject ?? [];
            nextMeta["annotations"] = target;
            foreach (var (annotation, value) in annotations)
            {
                target[annotation] = value;
            }
        }

        var status = next["status"] as JsonObject ?? [];
        next["status"] = status;
        var conditions = status["conditions"] as JsonArray ?? [];
        status["conditions"] = conditions;
        var scheduled = new JsonObject { ["type"] = "PodScheduled", ["status"] = "True", ["lastProbeTime"] = null, ["lastTransitionTime"] = NowText() };
        var index = conditions.ToList().FindIndex(c => StringAt(c?["type"]) == "PodScheduled");
        if (index >= 0)
        {
            conditions[index] = scheduled;
        }
        else
        {
            conditions.Add(scheduled);
        }

        UpdateLocked(ResourceInfo.Pods, key, current, next);
        return KubeStatus.BindingCreated();
    }

    /// <summary>A failed storage precondition, as storeerr.InterpretUpdateError turns it into a Conflict on pods.</summary>
    private static StatusAnswer PreconditionFailed(string ns, string name, string what) =>
        KubeStatus.Conflict(
            ResourceInfo.Pods,
            name,
            $"StorageError: invalid object, Code: 4, Key: /registry/pods/{ns}/{name}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: {what}");

    /// <summary>generateName's five random characters, from the alphabet without vowels Kubernetes uses.</summary>
    private static string RandomSuffix()
    {
        const string alphabet = "bcdfghjklmnpqrstvwxz2456789";
        return string.Create(5, alphabet, static (span, chars) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = chars[Random.Shared.Next(chars.Length)];
            }
        });
    }

    private sealed record ApiTarget(ResourceInfo Resource, string? Namespace, string? Name, string? Subresource, bool BindingsCollection = false);
}

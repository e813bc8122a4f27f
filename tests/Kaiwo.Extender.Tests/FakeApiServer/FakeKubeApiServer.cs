using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// An in-process kube-apiserver for the extender's informer, patch and bind tests: a real Kestrel server on a random
/// loopback port that answers the requests of /work/shared/apiserver's captures the way the real server did
/// (status codes, headers, metav1.Status bodies, list paging, chunked watch streams with bookmarks, 410s, 429s).
/// <para>
/// One resourceVersion counter serves every kind, as etcd's revision does. Every write bumps it and tells the open
/// watches. Everything that would need a timer on the real server (bookmarks, the end of a watch, compaction,
/// a network drop) is a method here, so tests stay deterministic.
/// </para>
/// </summary>
public sealed partial class FakeKubeApiServer : IAsyncDisposable
{
    /// <summary>The bearer token requests need; anything else gets the 401 Status of 9d.</summary>
    public const string Token = "fake-token";

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private WebApplication? _app;
    private bool _crdInstalled = true;
    private bool _disposed;

    private FakeKubeApiServer()
    {
        foreach (var kind in Enum.GetValues<ResourceKind>())
        {
            _objects[kind] = new SortedDictionary<string, List<StoredVersion>>(StringComparer.Ordinal);
        }
    }

    /// <summary><c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>The clock of creationTimestamp, deletionTimestamp and condition times (whole seconds, as the server writes them).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>The store's current resourceVersion: the last write's, for every kind.</summary>
    public long ResourceVersion
    {
        get
        {
            lock (_gate)
            {
                return _resourceVersion;
            }
        }
    }

    /// <summary>
    /// Whether the KaiwoQueue CRD is installed (the default). When false, every kaiwo.ai URL answers
    /// <c>404 text/plain "404 page not found\n"</c> (6a, 6a2, 6a3); the queues stored stay for when it is back.
    /// </summary>
    public bool CrdInstalled
    {
        get
        {
            lock (_gate)
            {
                return _crdInstalled;
            }
        }

        set
        {
            lock (_gate)
            {
                _crdInstalled = value;
            }
        }
    }

    /// <summary>Starts the server on <c>127.0.0.1:0</c>; its port is in <see cref="BaseAddress"/>.</summary>
    public static async Task<FakeKubeApiServer> StartAsync(CancellationToken ct = default)
    {
        var server = new FakeKubeApiServer();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });

        // The test output holds the extender's appsettings.json (Urls and more): none of it applies here.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1);
        });

        var app = builder.Build();
        app.Run(server.HandleAsync);
        await app.StartAsync(ct);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no address");
        server._app = app;
        server.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return server;
    }

    /// <summary>An HttpClient for <see cref="BaseAddress"/> that sends the bearer token (the caller disposes it).</summary>
    public HttpClient CreateHttpClient()
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return client;
    }

    /// <summary>A KubernetesClient client for this server (the caller disposes it).</summary>
    public k8s.Kubernetes CreateKubernetesClient() =>
        new(new KubernetesClientConfiguration { Host = BaseAddress.ToString(), AccessToken = Token });

    // ---- Nodes ----

    /// <summary>Stores a new node (ADDED); uid and creationTimestamp are filled in when missing.</summary>
    public V1Node CreateNode(V1Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var wire = ToWire(ResourceInfo.Nodes, node);
        FillCreateMetadata(ResourceInfo.Nodes, wire, null);
        lock (_gate)
        {
            return ToModel<V1Node>(CreateLocked(ResourceInfo.Nodes, wire) ?? throw new InvalidOperationException($"node {NameOf(wire)} already exists"));
        }
    }

    /// <summary>Replaces a node as a PUT does (MODIFIED); no write and no event when nothing changed.</summary>
    public V1Node ReplaceNode(V1Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var wire = ToWire(ResourceInfo.Nodes, node);
        lock (_gate)
        {
            var key = NameOf(wire);
            var current = CurrentLocked(ResourceInfo.Nodes, key) ?? throw new InvalidOperationException($"node {key} does not exist");
            KeepServerMetadata(wire, current);
            return ToModel<V1Node>(UpdateLocked(ResourceInfo.Nodes, key, current, wire));
        }
    }

    public void DeleteNode(string name)
    {
        lock (_gate)
        {
            DeleteLocked(ResourceInfo.Nodes, name);
        }
    }

    public V1Node? GetNode(string name)
    {
        lock (_gate)
        {
            return CurrentLocked(ResourceInfo.Nodes, name) is { } node ? ToModel<V1Node>(node) : null;
        }
    }

    public IReadOnlyList<V1Node> Nodes
    {
        get
        {
            lock (_gate)
            {
                return [.. ItemsLocked(ResourceInfo.Nodes, _resourceVersion).Select(i => ToModel<V1Node>(i.Object))];
            }
        }
    }

    // ---- Pods ----

    /// <summary>
    /// Stores a new pod (ADDED) with the defaults the real server adds (namespace "default", restartPolicy,
    /// dnsPolicy, schedulerName "default-scheduler", the not-ready/unreachable tolerations, phase Pending, qosClass, ...).
    /// uid, creationTimestamp and managedFields given are kept, so a captured pod reads back as it was captured.
    /// </summary>
    public V1Pod CreatePod(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var model = ToModel<V1Pod>(ToWire(ResourceInfo.Pods, pod));
        model.Metadata ??= new V1ObjectMeta();
        model.Metadata.NamespaceProperty ??= "default";
        PodDefaults.Apply(model);
        var wire = ToWire(ResourceInfo.Pods, model);
        FillCreateMetadata(ResourceInfo.Pods, wire, model.Metadata.NamespaceProperty);
        lock (_gate)
        {
            return ToModel<V1Pod>(CreateLocked(ResourceInfo.Pods, wire) ?? throw new InvalidOperationException($"pod {KeyOf(ResourceInfo.Pods, wire)} already exists"));
        }
    }

    /// <summary>
    /// Changes a pod in place (MODIFIED), as an update through the API would; no write and no event when nothing
    /// changed. <paramref name="change"/> runs under the store's lock: it must not call the server.
    /// </summary>
    public V1Pod UpdatePod(string ns, string name, Action<V1Pod> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_gate)
        {
            var key = ResourceInfo.Pods.Key(ns, name);
            var current = CurrentLocked(ResourceInfo.Pods, key) ?? throw new InvalidOperationException($"pod {key} does not exist");
            var model = ToModel<V1Pod>(current);
            change(model);
            var wire = ToWire(ResourceInfo.Pods, model);
            KeepServerMetadata(wire, current);
            return ToModel<V1Pod>(UpdateLocked(ResourceInfo.Pods, key, current, wire));
        }
    }

    /// <summary>Removes a pod at once (DELETED, with a new resourceVersion), as a delete with gracePeriodSeconds=0 of an unbound pod.</summary>
    public void DeletePod(string ns, string name)
    {
        lock (_gate)
        {
            DeleteLocked(ResourceInfo.Pods, ResourceInfo.Pods.Key(ns, name));
        }
    }

    public V1Pod? GetPod(string ns, string name)
    {
        lock (_gate)
        {
            return CurrentLocked(ResourceInfo.Pods, ResourceInfo.Pods.Key(ns, name)) is { } pod ? ToModel<V1Pod>(pod) : null;
        }
    }

    /// <summary>Every pod, in etcd key order (namespace/name).</summary>
    public IReadOnlyList<V1Pod> Pods
    {
        get
        {
            lock (_gate)
            {
                return [.. ItemsLocked(ResourceInfo.Pods, _resourceVersion).Select(i => ToModel<V1Pod>(i.Object))];
            }
        }
    }

    // ---- KaiwoQueues (kaiwo.ai/v1alpha2, cluster-scoped) ----

    /// <summary>Stores a new KaiwoQueue (ADDED): apiVersion, kind, uid, creationTimestamp and generation 1 are filled in; keys are sorted.</summary>
    public JsonObject CreateQueue(JsonObject queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var wire = Normalize(ResourceInfo.Queues, queue);
        FillCreateMetadata(ResourceInfo.Queues, wire, null);
        lock (_gate)
        {
            var created = CreateLocked(ResourceInfo.Queues, wire) ?? throw new InvalidOperationException($"kaiwoqueue {NameOf(wire)} already exists");
            return (JsonObject)created.DeepClone();
        }
    }

    /// <summary>
    /// Changes a KaiwoQueue in place (MODIFIED); generation goes up when spec changes, as on the real server.
    /// <paramref name="change"/> runs under the store's lock: it must not call the server.
    /// </summary>
    public JsonObject UpdateQueue(string name, Action<JsonObject> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_gate)
        {
            var current = CurrentLocked(ResourceInfo.Queues, name) ?? throw new InvalidOperationException($"kaiwoqueue {name} does not exist");
            var next = (JsonObject)current.DeepClone();
            change(next);
            next = Normalize(ResourceInfo.Queues, next);
            KeepServerMetadata(next, current);
            BumpGenerationIfSpecChanged(next, current);
            return (JsonObject)UpdateLocked(ResourceInfo.Queues, name, current, next).DeepClone();
        }
    }

    public void DeleteQueue(string name)
    {
        lock (_gate)
        {
            DeleteLocked(ResourceInfo.Queues, name);
        }
    }

    public JsonObject? GetQueue(string name)
    {
        lock (_gate)
        {
            return CurrentLocked(ResourceInfo.Queues, name)?.DeepClone() as JsonObject;
        }
    }

    public IReadOnlyList<JsonObject> Queues
    {
        get
        {
            lock (_gate)
            {
                return [.. ItemsLocked(ResourceInfo.Queues, _resourceVersion).Select(i => (JsonObject)i.Object.DeepClone())];
            }
        }
    }

    // ---- Faults and requests ----

    /// <summary>Queues a fault for the next request of <paramref name="route"/> (after authentication, as APF comes after it).</summary>
    public void InjectFault(FakeRoute route, Fault fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        lock (_gate)
        {
            if (!_faults.TryGetValue(route, out var queue))
            {
                _faults[route] = queue = new Queue<Fault>();
            }

            queue.Enqueue(fault);
        }
    }

    /// <summary>Every request received, in arrival order (unauthorized ones too).</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        EndWatches();
        await _stopping.CancelAsync();
        if (_app is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _app.StopAsync(timeout.Token);
            await _app.DisposeAsync();
        }

        _stopping.Dispose();
    }
}

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>The requests a <see cref="Fault"/> can be queued for.</summary>
public enum FakeRoute
{
    /// <summary>GET /api/v1/pods or /api/v1/namespaces/{ns}/pods without watch.</summary>
    ListPods,

    /// <summary>GET on a pods collection with watch=true or watch=1.</summary>
    WatchPods,

    /// <summary>GET /api/v1/nodes without watch.</summary>
    ListNodes,

    /// <summary>GET /api/v1/nodes with watch.</summary>
    WatchNodes,

    /// <summary>GET /apis/kaiwo.ai/v1alpha2/kaiwoqueues without watch.</summary>
    ListQueues,

    /// <summary>GET /apis/kaiwo.ai/v1alpha2/kaiwoqueues with watch.</summary>
    WatchQueues,

    /// <summary>PATCH /api/v1/namespaces/{ns}/pods/{name}.</summary>
    PatchPod,

    /// <summary>POST /api/v1/namespaces/{ns}/pods/{name}/binding or /api/v1/namespaces/{ns}/bindings.</summary>
    BindPod,

    /// <summary>PUT /apis/kaiwo.ai/v1alpha2/kaiwoqueues/{name}/status.</summary>
    PutQueueStatus,

    /// <summary>PATCH /apis/kaiwo.ai/v1alpha2/kaiwoqueues/{name}/status.</summary>
    PatchQueueStatus,

    /// <summary>POST /apis/events.k8s.io/v1/namespaces/{ns}/events.</summary>
    CreateEvent,
}

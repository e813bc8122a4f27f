namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// Bodies from /work/shared/apiserver, byte for byte (each ends with the newline the server sent), to compare the
/// fake's answers with.
/// </summary>
internal static class CapturedBodies
{
    /// <summary>2d: the pod the server stored from 2d's request (the POST body in <see cref="CreatePodRequest"/>).</summary>
    public const string CreatedPod = """
        {"kind":"Pod","apiVersion":"v1","metadata":{"name":"pod-w1","namespace":"team-a","uid":"cf562363-7945-4d21-8928-873e92ce8351","resourceVersion":"89","creationTimestamp":"2026-11-23T13:40:59Z","labels":{"app":"train","kaiwo.ai/queue":"team-a"},"annotations":{"kaiwo.ai/gpu-fraction":"0.5"},"managedFields":[{"manager":"kaiwo-apicapture","operation":"Update","apiVersion":"v1","time":"2026-11-23T13:40:59Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:kaiwo.ai/gpu-fraction":{}},"f:labels":{".":{},"f:app":{},"f:kaiwo.ai/queue":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"main\"}":{".":{},"f:command":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{".":{},"f:limits":{".":{},"f:amd.com/gpu":{}},"f:requests":{".":{},"f:amd.com/gpu":{},"f:cpu":{},"f:memory":{}}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}]},"spec":{"containers":[{"name":"main","image":"busybox:1.36","command":["sleep","3600"],"resources":{"limits":{"amd.com/gpu":"1"},"requests":{"amd.com/gpu":"1","cpu":"1","memory":"1Gi"}},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Never","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"kaiwo-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":{"phase":"Pending","qosClass":"Burstable"}}
        """ + "\n";

    /// <summary>2d: the POST body that created <see cref="CreatedPod"/>.</summary>
    public const string CreatePodRequest = """
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"pod-w1","namespace":"team-a","labels":{"app":"train","kaiwo.ai/queue":"team-a"},"annotations":{"kaiwo.ai/gpu-fraction":"0.5"}},"spec":{"schedulerName":"kaiwo-scheduler","restartPolicy":"Never","containers":[{"name":"main","image":"busybox:1.36","command":["sleep","3600"],"resources":{"requests":{"cpu":"1","memory":"1Gi","amd.com/gpu":"1"},"limits":{"amd.com/gpu":"1"}}}]}}
        """ + "\n";

    /// <summary>9c: GET /api/v1/nodes/gpu-node-1.</summary>
    public const string Node = """
        {"kind":"Node","apiVersion":"v1","metadata":{"name":"gpu-node-1","uid":"b0206c75-ff8d-49cb-9024-e97292210d39","resourceVersion":"83","creationTimestamp":"2026-11-23T13:40:17Z","labels":{"amd.com/gpu.count":"8","amd.com/gpu.product-name":"AMD_Instinct_MI300X_OAM","amd.com/gpu.vram":"192G","kubernetes.io/hostname":"gpu-node-1"},"managedFields":[{"manager":"kaiwo-apicapture","operation":"Update","apiVersion":"v1","time":"2026-11-23T13:40:17Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:amd.com/gpu.count":{},"f:amd.com/gpu.product-name":{},"f:amd.com/gpu.vram":{},"f:kubernetes.io/hostname":{}}}}},{"manager":"kaiwo-apicapture","operation":"Update","apiVersion":"v1","time":"2026-11-23T13:40:17Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:allocatable":{".":{},"f:amd.com/gpu":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:capacity":{".":{},"f:amd.com/gpu":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:conditions":{".":{},"k:{\"type\":\"Ready\"}":{".":{},"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"subresource":"status"}]},"spec":{},"status":{"capacity":{"amd.com/gpu":"8","cpu":"96","memory":"1056Gi","pods":"110"},"allocatable":{"amd.com/gpu":"8","cpu":"95","memory":"1040Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"2024-01-01T00:00:00Z","lastTransitionTime":"2024-01-01T00:00:00Z","reason":"KubeletReady","message":"kubelet is posting ready status"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}
        """ + "\n";

    /// <summary>4d: PATCH of a missing pod.</summary>
    public const string PatchMissingPod404 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"does-not-exist\" not found","reason":"NotFound","details":{"name":"does-not-exist","kind":"pods"},"code":404}
        """ + "\n";

    /// <summary>4e: merge patch with metadata.resourceVersion 84 of pod-a1.</summary>
    public const string PatchStaleResourceVersion409 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on pods \"pod-a1\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"pod-a1","kind":"pods"},"code":409}
        """ + "\n";

    /// <summary>4f: JSON patch whose test op fails.</summary>
    public const string JsonPatchTestFailed422 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server rejected our request due to an error in our request","reason":"Invalid","details":{},"code":422}
        """ + "\n";

    /// <summary>4g: PATCH with Content-Type application/json.</summary>
    public const string PatchWrongContentType415 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"415: Unsupported Media Type","reason":"UnsupportedMediaType","details":{},"code":415}
        """ + "\n";

    /// <summary>5a: a binding that succeeds.</summary>
    public const string BindingCreated201 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}
        """ + "\n";

    /// <summary>5b: pod-a2 bound again (it is on gpu-node-2).</summary>
    public const string BindingAlreadyAssigned409 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on pods/binding \"pod-a2\": pod pod-a2 is already assigned to node \"gpu-node-2\"","reason":"Conflict","details":{"name":"pod-a2","kind":"pods/binding"},"code":409}
        """ + "\n";

    /// <summary>5d: binding no-such-pod.</summary>
    public const string BindingMissingPod404 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"no-such-pod\" not found","reason":"NotFound","details":{"name":"no-such-pod","kind":"pods"},"code":404}
        """ + "\n";

    /// <summary>5g: URL pod-a1, body pod-a4.</summary>
    public const string BindingNameMismatch400 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"name in URL does not match name in Binding object","reason":"BadRequest","code":400}
        """ + "\n";

    /// <summary>6f: GET kaiwoqueues/nope.</summary>
    public const string QueueMissing404 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"kaiwoqueues.kaiwo.ai \"nope\" not found","reason":"NotFound","details":{"name":"nope","group":"kaiwo.ai","kind":"kaiwoqueues"},"code":404}
        """ + "\n";

    /// <summary>6j: strategic merge patch on kaiwoqueues/kaiwo/status.</summary>
    public const string QueueStrategicMergePatch415 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml","reason":"UnsupportedMediaType","code":415}
        """ + "\n";

    /// <summary>6k: PUT kaiwoqueues/kaiwo/status with resourceVersion 244 after 246.</summary>
    public const string QueueStatusStale409 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on kaiwoqueues.kaiwo.ai \"kaiwo\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"kaiwo","group":"kaiwo.ai","kind":"kaiwoqueues"},"code":409}
        """ + "\n";

    /// <summary>9b: GET pods/nope in team-a.</summary>
    public const string PodMissing404 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"nope\" not found","reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}
        """ + "\n";

    /// <summary>9d: a bad token.</summary>
    public const string Unauthorized401 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}
        """ + "\n";

    /// <summary>9e: POST of pod-a1 again.</summary>
    public const string PodAlreadyExists409 = """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"pod-a1\" already exists","reason":"AlreadyExists","details":{"name":"pod-a1","kind":"pods"},"code":409}
        """ + "\n";

    /// <summary>8a: an API Priority and Fairness rejection (text/plain).</summary>
    public const string TooManyRequests429 = """
        Too many requests, please try again later.
        """ + "\n";

    /// <summary>6a: a kaiwo.ai URL before the CRD exists (text/plain).</summary>
    public const string PageNotFound404 = """
        404 page not found
        """ + "\n";

    /// <summary>3h: the single event of a watch from a resourceVersion older than the watch cache.</summary>
    public const string WatchTooOld410Line = """
        {"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 88 (95)","reason":"Expired","code":410}}
        """ + "\n";
}

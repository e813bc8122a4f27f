using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Kaiwo.Extender.Tests.FakeApiServer;
using Kaiwo.Extender.Tests.Live;
using static Kaiwo.Extender.Tests.Deployment.DeploymentFiles;
using static Kaiwo.Extender.Tests.Live.LiveObjects;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>One RBAC permission: an API group, a resource (or resource/subresource) and a verb.</summary>
internal sealed record Permission(string Group, string Resource, string Verb)
{
    public override string ToString() => $"{(Group.Length == 0 ? "core" : Group)} {Resource} {Verb}";
}

/// <summary>A permission the extender needs, the feature that needs it, and whether the code calls it today.</summary>
internal sealed record Need(Permission Permission, string NeededBy, bool CalledToday);

/// <summary>
/// The extender's ClusterRole against the API calls its code makes: exactly those (and the ones of features that
/// are coming, each named), nothing missing, nothing more, no wildcard; and kube-scheduler's own bindings.
/// </summary>
public sealed class RbacTests
{
    private static readonly string[] RuleLists = ["apiGroups", "resources", "verbs", "resourceNames"];

    /// <summary>What the extender needs from the API server, once, with who needs it.</summary>
    private static readonly Need[] ExtenderNeeds =
    [
        new(new("", "nodes", "list"), "node informer: the first list, and a list again after 410 Expired or a dropped watch", true),
        new(new("", "nodes", "watch"), "node informer: watch from the list's resourceVersion", true),
        new(new("", "pods", "list"), "pod informer, all namespaces (any pod may hold GPUs)", true),
        new(new("", "pods", "watch"), "pod informer", true),
        new(new("", "pods", "patch"), "bind: the allocation record patched onto a pod found bound here without it (the Binding carries it otherwise)", true),
        new(new("", "pods", "get"), "bind: reading the pod back after a 409 on its Binding (bound here already, or elsewhere)", true),
        new(new("", "pods/binding", "create"), "bind: the Binding", true),
        new(new("kaiwo.ai", "kaiwoqueues", "list"), "KaiwoQueue informer", true),
        new(new("kaiwo.ai", "kaiwoqueues", "watch"), "KaiwoQueue informer", true),
        new(new("kaiwo.ai", "kaiwoqueues/status", "update"), "queue status: allocated, requested and fair share per queue (coming)", false),
        new(new("kaiwo.ai", "kaiwoqueues/status", "patch"), "queue status (coming)", false),
        new(new("events.k8s.io", "events", "create"), "events on pods at bind (GpuAllocated and the warnings), events.k8s.io/v1", true),
    ];

    [Fact]
    public void ExtenderClusterRole_Rules_GrantExactlyWhatTheExtenderNeeds()
    {
        var granted = Grants(Single("ClusterRole", "kaiwo-scheduler-extender").Root);
        var needed = ExtenderNeeds.Select(n => n.Permission).ToHashSet();

        var missing = needed.Except(granted).Select(p => $"{p} ({ExtenderNeeds.Single(n => n.Permission == p).NeededBy})").ToList();
        var extra = granted.Except(needed).ToList();

        Assert.True(missing.Count == 0, $"rbac.yaml does not grant: {string.Join("; ", missing)}");
        Assert.True(extra.Count == 0, $"rbac.yaml grants what no feature needs: {string.Join("; ", extra)}");
    }

    [Fact]
    public void EveryRole_OfTheManifests_HasNoWildcardAndNoNonResourceUrl()
    {
        var roles = All.Where(d => d.Kind is "ClusterRole" or "Role").ToList();

        Assert.NotEmpty(roles);
        Assert.All(roles, role => Assert.All(role.Root["rules"]!.AsArray(), rule =>
        {
            Assert.Null(rule!["nonResourceURLs"]);
            foreach (var key in RuleLists)
            {
                Assert.All(rule[key]?.AsArray() ?? [], value => Assert.DoesNotContain("*", (string?)value, StringComparison.Ordinal));
            }
        }));
    }

    [Fact]
    public void KubeSchedulerContainer_IsBoundToTheBuiltInSchedulerRolesAndItsLeaseAndAuthReader()
    {
        var clusterRoles = All.Where(d => d.Kind == "ClusterRoleBinding").Select(b => (string?)b.Root["roleRef"]!["name"]).ToHashSet();
        var kubeSystemRoles = All.Where(d => d.Kind == "RoleBinding" && d.Namespace == "kube-system").Select(b => (string?)b.Root["roleRef"]!["name"]).ToHashSet();
        var leaseRole = Grants(Single("Role", "kaiwo-scheduler-leader-election").Root);

        Assert.Superset(new HashSet<string?> { "system:kube-scheduler", "system:volume-scheduler", "kaiwo-scheduler-extender" }, clusterRoles);
        Assert.Superset(new HashSet<string?> { "kaiwo-scheduler-leader-election", "extension-apiserver-authentication-reader" }, kubeSystemRoles);
        Assert.Equal(
            new HashSet<Permission> { new("coordination.k8s.io", "leases", "create"), new("coordination.k8s.io", "leases", "get"), new("coordination.k8s.io", "leases", "update") },
            leaseRole);
    }

    [Fact]
    public async Task LiveExtender_CallsOfSyncAndBind_AreExactlyTheNeedsMarkedCalledAndAllGranted()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        server.CreateNode(Mi300X("gpu-node-1"));
        var pod = server.CreatePod(Fraction("first", "0.25"));
        await using var extender = await LiveExtender.StartAsync(server);

        // A pod bound to this node by another before the informer saw it: the Binding's 409 makes the binder read the
        // pod back and patch the record on: binding, get and patch in one bind.
        server.InjectFault(FakeRoute.WatchPods, Fault.Delay(TimeSpan.FromSeconds(3)));
        server.DropWatches();
        using (var api = server.CreateKubernetesClient())
        {
            await api.CoreV1.CreateNamespacedPodBindingAsync(
                new V1Binding { Metadata = new V1ObjectMeta { Name = "first" }, Target = new V1ObjectReference { Kind = "Node", Name = "gpu-node-1" } },
                "first",
                pod.Metadata.NamespaceProperty);
        }

        await extender.BindAsync(pod, "gpu-node-1");
        await LiveExtender.Eventually(
            () => server.Requests.Count(r => r.QueryValue("watch") is "true" or "1") >= 3,
            "the three informers watching");
        await LiveExtender.Eventually(() => server.Events.Count >= 1, "the bind's event on the pod");

        var called = server.Requests.Select(ToPermission).ToHashSet();
        var granted = Grants(Single("ClusterRole", "kaiwo-scheduler-extender").Root);
        var marked = ExtenderNeeds.Where(n => n.CalledToday).Select(n => n.Permission).ToHashSet();

        Assert.True(called.IsSubsetOf(granted), $"called but not granted: {string.Join("; ", called.Except(granted))}");
        Assert.True(marked.SetEquals(called), $"called, not marked: {string.Join("; ", called.Except(marked))}; marked, not called: {string.Join("; ", marked.Except(called))}");
    }

    /// <summary>The permissions a Role or ClusterRole grants, one per group, resource and verb.</summary>
    private static HashSet<Permission> Grants(JsonObject role)
    {
        var grants = new HashSet<Permission>();
        foreach (var rule in role["rules"]!.AsArray())
        {
            foreach (var group in rule!["apiGroups"]!.AsArray())
            {
                foreach (var resource in rule["resources"]!.AsArray())
                {
                    foreach (var verb in rule["verbs"]!.AsArray())
                    {
                        grants.Add(new Permission((string)group!, (string)resource!, (string)verb!));
                    }
                }
            }
        }

        return grants;
    }

    /// <summary>The permission the API server's authorizer checks for a request, as it derives it from the URL.</summary>
    private static Permission ToPermission(RecordedRequest request)
    {
        var segments = request.Path.Trim('/').Split('/');
        var (group, rest) = segments[0] switch
        {
            "api" => (string.Empty, segments[2..]),
            "apis" => (segments[1], segments[3..]),
            _ => throw new InvalidOperationException($"not a resource request: {request}"),
        };
        if (rest.Length >= 3 && rest[0] == "namespaces")
        {
            rest = rest[2..];
        }

        var resource = rest.Length >= 3 ? $"{rest[0]}/{rest[2]}" : rest[0];
        var named = rest.Length >= 2;
        var verb = request.Method switch
        {
            "GET" when request.QueryValue("watch") is "true" or "1" => "watch",
            "GET" => named ? "get" : "list",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => named ? "delete" : "deletecollection",
            _ => throw new InvalidOperationException($"unexpected method: {request}"),
        };
        return new Permission(group, resource, verb);
    }
}

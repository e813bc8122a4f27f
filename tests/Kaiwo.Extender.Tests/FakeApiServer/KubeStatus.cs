using System.Text.Json.Nodes;

namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>An HTTP status code and the metav1.Status body the real server sends with it.</summary>
internal sealed record StatusAnswer(int Code, JsonObject Body);

/// <summary>
/// The metav1.Status bodies of the captures, field for field in Go's order
/// (kind, apiVersion, metadata, status, message, reason, details, code).
/// </summary>
internal static class KubeStatus
{
    public const string GenericInvalidMessage = "the server rejected our request due to an error in our request";

    private const string ModifiedMessage = "the object has been modified; please apply your changes to the latest version and try again";

    /// <summary>201 from a binding (5a).</summary>
    public static StatusAnswer BindingCreated() => new(201, Build("Success", null, null, null, 201));

    /// <summary>401 with a bad or missing token (9d).</summary>
    public static StatusAnswer Unauthorized() => new(401, Failure("Unauthorized", "Unauthorized", null, 401));

    /// <summary>404 for a missing object (4d, 5d, 9b, 6f).</summary>
    public static StatusAnswer NotFound(ResourceInfo resource, string name) =>
        new(404, Failure($"{resource.QualifiedResource} \"{name}\" not found", "NotFound", Details(name, resource.Group, resource.Plural), 404));

    /// <summary>404 for a path no resource answers.</summary>
    public static StatusAnswer NoSuchPath() =>
        new(404, Failure("the server could not find the requested resource", "NotFound", new JsonObject(), 404));

    public static StatusAnswer MethodNotAllowed() =>
        new(405, Failure("the server does not allow this method on the requested resource", "MethodNotAllowed", new JsonObject(), 405));

    /// <summary>409 for a stale resourceVersion (4e, 6k).</summary>
    public static StatusAnswer Conflict(ResourceInfo resource, string name) => Conflict(resource, name, ModifiedMessage);

    /// <summary>409 "Operation cannot be fulfilled on {resource} "{name}": {why}".</summary>
    public static StatusAnswer Conflict(ResourceInfo resource, string name, string why) =>
        new(409, Failure($"Operation cannot be fulfilled on {resource.QualifiedResource} \"{name}\": {why}", "Conflict", Details(name, resource.Group, resource.Plural), 409));

    /// <summary>409 for a second binding (5b, 5c).</summary>
    public static StatusAnswer AlreadyAssigned(string name, string node) => BindingConflict(name, $"pod {name} is already assigned to node \"{node}\"");

    /// <summary>409 on pods/binding (the kind is "pods/binding").</summary>
    public static StatusAnswer BindingConflict(string name, string why) =>
        new(409, Failure($"Operation cannot be fulfilled on pods/binding \"{name}\": {why}", "Conflict", Details(name, null, "pods/binding"), 409));

    /// <summary>409 on create of an existing object (9e).</summary>
    public static StatusAnswer AlreadyExists(ResourceInfo resource, string name) =>
        new(409, Failure($"{resource.QualifiedResource} \"{name}\" already exists", "AlreadyExists", Details(name, resource.Group, resource.Plural), 409));

    /// <summary>422 for a JSON patch whose test fails or whose remove path is missing (4f, 4h).</summary>
    public static StatusAnswer InvalidPatch() => new(422, Failure(GenericInvalidMessage, "Invalid", new JsonObject(), 422));

    /// <summary>422 for an object that fails validation: "{Kind} "{name}" is invalid: {field}: {message}".</summary>
    public static StatusAnswer Invalid(string kind, string name, string field, string causeReason, string causeMessage)
    {
        var details = Details(name, null, kind);
        details["causes"] = new JsonArray(new JsonObject { ["reason"] = causeReason, ["message"] = causeMessage, ["field"] = field });
        return new(422, Failure($"{kind} \"{name}\" is invalid: {field}: {causeMessage}", "Invalid", details, 422));
    }

    /// <summary>415 for a PATCH with Content-Type application/json (4g).</summary>
    public static StatusAnswer UnsupportedPatchType() =>
        new(415, Failure("415: Unsupported Media Type", "UnsupportedMediaType", new JsonObject(), 415));

    /// <summary>415 for a strategic merge patch on a custom resource (6j).</summary>
    public static StatusAnswer UnsupportedCustomResourcePatchType() =>
        new(415, Failure(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            "UnsupportedMediaType", null, 415));

    /// <summary>400 without details (5g).</summary>
    public static StatusAnswer BadRequest(string message) => new(400, Failure(message, "BadRequest", null, 400));

    /// <summary>410 for a continue token older than the last compaction (3b): carries a token to continue inconsistently.</summary>
    public static StatusAnswer ContinueExpired(string inconsistentContinue)
    {
        var body = Failure(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
            "Expired", null, 410);
        body["metadata"] = new JsonObject { ["continue"] = inconsistentContinue };
        return new(410, body);
    }

    /// <summary>410 for a list at a resourceVersion older than the last compaction (3c, 3e).</summary>
    public static StatusAnswer ListExpired() =>
        new(410, Failure("The resourceVersion for the provided list is too old.", "Expired", null, 410));

    /// <summary>The object of the single ERROR event of a watch from a compacted resourceVersion (3h).</summary>
    public static JsonObject WatchExpired(long requested, long oldest) =>
        Failure($"too old resource version: {requested} ({oldest})", "Expired", null, 410);

    /// <summary>500 as apierrors.NewInternalError writes it.</summary>
    public static StatusAnswer InternalError(string message)
    {
        var details = new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["message"] = message }) };
        return new(500, Failure($"Internal error occurred: {message}", "InternalError", details, 500));
    }

    /// <summary>200 from a custom resource DELETE (6m).</summary>
    public static StatusAnswer Deleted(ResourceInfo resource, string name, string? uid)
    {
        var details = Details(name, resource.Group, resource.Plural);
        if (uid is not null)
        {
            details["uid"] = uid;
        }

        return new(200, Build("Success", null, null, details, null));
    }

    private static JsonObject Failure(string message, string reason, JsonObject? details, int code) =>
        Build("Failure", message, reason, details, code);

    private static JsonObject Build(string status, string? message, string? reason, JsonObject? details, int? code)
    {
        var body = new JsonObject { ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = status };
        if (message is not null)
        {
            body["message"] = message;
        }

        if (reason is not null)
        {
            body["reason"] = reason;
        }

        if (details is not null)
        {
            body["details"] = details;
        }

        if (code is not null)
        {
            body["code"] = code.Value;
        }

        return body;
    }

    /// <summary>StatusDetails in Go order: name, group, kind (uid, causes, retryAfterSeconds follow).</summary>
    private static JsonObject Details(string name, string? group, string kind)
    {
        var details = new JsonObject { ["name"] = name };
        if (!string.IsNullOrEmpty(group))
        {
            details["group"] = group;
        }

        details["kind"] = kind;
        return details;
    }
}

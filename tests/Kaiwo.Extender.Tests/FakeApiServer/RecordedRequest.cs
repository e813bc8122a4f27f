namespace Kaiwo.Extender.Tests.FakeApiServer;

/// <summary>
/// One request the fake received, in arrival order: method, path (decoded, e.g. <c>/api/v1/pods</c>), the query
/// string without its <c>?</c>, the Content-Type, the body text (empty without one), and the route a fault would match.
/// </summary>
public sealed record RecordedRequest(string Method, string Path, string Query, string? ContentType, string Body, FakeRoute? Route)
{
    /// <summary>One query parameter's value, or null (the first one when it repeats).</summary>
    public string? QueryValue(string name) =>
        Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(Query).TryGetValue(name, out var values) && values.Count > 0
            ? values[0]
            : null;

    public override string ToString() => Query.Length == 0 ? $"{Method} {Path}" : $"{Method} {Path}?{Query}";
}

namespace Kaiwo.Extender.Hosting;

/// <summary>Whether the state has been loaded: /readyz answers from here.</summary>
internal sealed class Readiness
{
    private volatile string? _notReadyReason = "cluster state not loaded yet";

    public bool IsReady => _notReadyReason is null;

    public string? NotReadyReason => _notReadyReason;

    public void MarkReady() => _notReadyReason = null;

    public void MarkNotReady(string reason) => _notReadyReason = reason;
}

using Kaiwo.Scheduling.Fits;

namespace Kaiwo.Scheduling.Pipeline;

/// <summary>Request reading: a pod with a bad annotation or resource value fits nowhere, and every node says why.</summary>
public sealed class RequestCheck : IPodCheck
{
    public string Name => "request";

    public FitResult? Check(PodContext pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return pod.Request.IsValid ? null : FitResult.Never("invalid-request", string.Join("; ", pod.Request.Errors));
    }
}

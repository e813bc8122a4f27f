using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// Validates every options section before anything uses one, so that a bad start lists every problem of every
/// section at once (services that read options while they are built would otherwise stop at the first section).
/// </summary>
internal static class StartupValidation
{
    public static void ValidateAll(IServiceProvider services)
    {
        var failures = new List<string>();
        Check<ExtenderOptions>(services, failures);
        Check<SchedulingOptions>(services, failures);
        Check<Live.KubernetesOptions>(services, failures);
        Check<ListenerOptions>(services, failures);
        Check<TlsOptions>(services, failures);
        Check<Admission.AdmissionOptions>(services, failures);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException("kaiwo", typeof(ExtenderOptions), failures);
        }
    }

    private static void Check<T>(IServiceProvider services, List<string> failures)
        where T : class
    {
        try
        {
            _ = services.GetRequiredService<IOptions<T>>().Value;
        }
        catch (OptionsValidationException ex)
        {
            failures.AddRange(ex.Failures);
        }
    }
}

using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Admission;

/// <summary>Section <c>Admission</c>: the mutating admission webhook for pods, off unless asked for.</summary>
internal sealed class AdmissionOptions
{
    public const string Section = "Admission";

    /// <summary>Whether <c>POST /admission/mutate-pods</c> is served at all.</summary>
    public bool Enabled { get; set; }

    /// <summary>The <c>spec.schedulerName</c> the webhook gives GPU pods: the dedicated kube-scheduler's name.</summary>
    public string SchedulerName { get; set; } = "kaiwo-scheduler";
}

/// <summary>Validates <see cref="AdmissionOptions"/> at start, whether or not the webhook is enabled.</summary>
internal sealed partial class AdmissionOptionsValidator : IValidateOptions<AdmissionOptions>
{
    public ValidateOptionsResult Validate(string? name, AdmissionOptions options)
    {
        var problems = new List<string>();

        // Kubernetes validates spec.schedulerName as a DNS-1123 subdomain; a patch with anything else would make
        // the API server refuse every GPU pod the webhook touches.
        if (string.IsNullOrEmpty(options.SchedulerName) || options.SchedulerName.Length > 253 || !Dns1123Subdomain().IsMatch(options.SchedulerName))
        {
            problems.Add($"{AdmissionOptions.Section}:SchedulerName is \"{options.SchedulerName}\"; it must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253 characters), e.g. kaiwo-scheduler");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex Dns1123Subdomain();
}

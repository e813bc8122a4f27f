using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// Section <c>Tls</c>: optional HTTPS for the verbs on an extra port, beside the plain HTTP of <c>Urls</c>, with a
/// PEM certificate and key read from files and reloaded when they change (a mounted Secret that cert-manager renews).
/// </summary>
internal sealed class TlsOptions
{
    public const string Section = "Tls";

    /// <summary>Serve HTTPS on <see cref="Port"/> as well. Off by default: the scheduler calls the sidecar on loopback.</summary>
    public bool Enabled { get; set; }

    /// <summary>The PEM certificate (the leaf first), e.g. <c>/etc/kaiwo/tls/tls.crt</c>.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>The PEM private key of <see cref="CertificateFile"/>, e.g. <c>/etc/kaiwo/tls/tls.key</c>.</summary>
    public string? KeyFile { get; set; }

    /// <summary>The HTTPS port, on every interface. 0 lets the system pick a free port (tests).</summary>
    public int Port { get; set; } = 8443;

    /// <summary>How often the files' last-write time and size are compared with the loaded pair's.</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Validates the <c>Tls</c> section at start: when enabled, both files must exist and load as a pair.</summary>
internal sealed class TlsOptionsValidator : IValidateOptions<TlsOptions>
{
    public ValidateOptionsResult Validate(string? name, TlsOptions options)
    {
        var problems = new List<string>();
        if (options.Port is < 0 or > 65535)
        {
            problems.Add($"{TlsOptions.Section}:Port is {options.Port}; it must be from 1 to 65535 (0 picks a free port)");
        }

        if (options.ReloadInterval <= TimeSpan.Zero)
        {
            problems.Add($"{TlsOptions.Section}:ReloadInterval is {options.ReloadInterval}; it must be positive");
        }

        if (options.Enabled)
        {
            var certificate = RequireFile(nameof(options.CertificateFile), options.CertificateFile, "the PEM certificate", problems);
            var key = RequireFile(nameof(options.KeyFile), options.KeyFile, "the PEM private key", problems);
            if (certificate is not null && key is not null)
            {
                try
                {
                    using var loaded = TlsCertificates.Load(certificate, key);
                }
                catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
                {
                    problems.Add($"{TlsOptions.Section}:CertificateFile \"{certificate}\" and {TlsOptions.Section}:KeyFile \"{key}\" do not load as a PEM certificate and its private key: {ex.Message}");
                }
            }
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static string? RequireFile(string key, string? path, string what, List<string> problems)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            problems.Add($"{TlsOptions.Section}:{key} is not set; with {TlsOptions.Section}:Enabled it must name {what} file");
            return null;
        }

        if (!File.Exists(path))
        {
            problems.Add($"{TlsOptions.Section}:{key} is \"{path}\", which does not exist");
            return null;
        }

        return path;
    }
}

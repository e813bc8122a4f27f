using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// Section <c>Tls</c>: the serving certificate of every <c>https://</c> listener (a PEM certificate and key read from
/// files) and the CA of the clients the verbs accept, all reloaded when the files change (a mounted Secret that
/// cert-manager renews). Which listeners are HTTPS is their URL's to say (<see cref="ListenerOptions"/>).
/// </summary>
internal sealed class TlsOptions
{
    public const string Section = "Tls";

    /// <summary>The PEM certificate (the leaf first), e.g. <c>/etc/kaiwo/tls/tls.crt</c>.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>The PEM private key of <see cref="CertificateFile"/>, e.g. <c>/etc/kaiwo/tls/tls.key</c>.</summary>
    public string? KeyFile { get; set; }

    /// <summary>
    /// PEM CA certificates: when set, the verbs listener asks every client for a certificate and refuses the TLS
    /// handshake of a client without one issued by these CAs (for client authentication, valid now).
    /// </summary>
    public string? ClientCaFile { get; set; }

    /// <summary>How often the files' last-write time and size are compared with the loaded ones'.</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Validates what the <c>Tls</c> section holds by itself: the reload interval, and no setting of the single-HTTPS-port
/// design that came before the listeners. The files are checked where it is known whether a listener needs them
/// (<see cref="ListenerOptionsValidator"/>): a Deployment may name the files of an optional Secret that is not there.
/// </summary>
internal sealed class TlsOptionsValidator(IConfiguration configuration) : IValidateOptions<TlsOptions>
{
    private static readonly (string Key, string Instead)[] Retired =
    [
        ("Enabled", "a listener is HTTPS when its URL is, e.g. Listeners:Verbs:Url https://127.0.0.1:8888"),
        ("Port", "each listener names its port in its URL (Listeners:Verbs:Url, Listeners:Webhook:Url)"),
    ];

    public ValidateOptionsResult Validate(string? name, TlsOptions options)
    {
        var problems = new List<string>();
        foreach (var (key, instead) in Retired)
        {
            if (configuration[$"{TlsOptions.Section}:{key}"] is { } value)
            {
                problems.Add($"{TlsOptions.Section}:{key} is \"{value}\", a setting that is no longer read: {instead}");
            }
        }

        if (options.ReloadInterval <= TimeSpan.Zero)
        {
            problems.Add($"{TlsOptions.Section}:ReloadInterval is {options.ReloadInterval}; it must be positive");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

/// <summary>CA certificates as one disposable value, so that a reload can swap them whole.</summary>
internal sealed class CertificateAuthorities(X509Certificate2Collection certificates) : IDisposable
{
    public X509Certificate2Collection Certificates { get; } = certificates;

    /// <summary>Each CA's subject and thumbprint, for the log.</summary>
    public override string ToString() => string.Join(", ", Certificates.Select(c => $"{c.Subject} ({c.Thumbprint})"));

    public void Dispose()
    {
        foreach (var certificate in Certificates)
        {
            certificate.Dispose();
        }
    }
}

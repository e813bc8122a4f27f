using System.Net;
using System.Security.Cryptography;
using Kaiwo.Extender.Admission;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>The three listeners of the extender; every endpoint is served on exactly one of them.</summary>
internal enum Listener
{
    /// <summary>The extender verbs and <c>/inspect</c>: kube-scheduler and operators, on loopback unless authenticated by client certificate.</summary>
    Verbs,

    /// <summary><c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c>: Prometheus and the kubelet, over the network.</summary>
    Metrics,

    /// <summary>The admission webhook, when enabled: the API server, over the network, HTTPS only.</summary>
    Webhook,
}

/// <summary>Where one listener binds and how many connections it holds at once.</summary>
internal sealed class ListenerSettings
{
    /// <summary><c>http://</c> or <c>https://</c>, an IP address (<c>0.0.0.0</c>, <c>[::]</c>, <c>*</c> for all) or <c>localhost</c>, and a port.</summary>
    public string Url { get; set; } = string.Empty;

    /// <summary>Connections open at once on this listener; one more is closed as soon as it is accepted.</summary>
    public int MaxConnections { get; set; }
}

/// <summary>
/// Section <c>Listeners</c>: the three listeners and the Kestrel limits they share. Each listener counts its own
/// connections, so that clients of the network-facing metrics port can never use up the connections kube-scheduler
/// needs on the verbs port.
/// </summary>
internal sealed class ListenerOptions
{
    public const string Section = "Listeners";

    public ListenerSettings Verbs { get; set; } = new() { Url = "http://127.0.0.1:8888", MaxConnections = 128 };

    public ListenerSettings Metrics { get; set; } = new() { Url = "http://0.0.0.0:9090", MaxConnections = 16 };

    public ListenerSettings Webhook { get; set; } = new() { Url = "https://0.0.0.0:8443", MaxConnections = 64 };

    /// <summary>How long a client may take to send a request's headers, and the TLS handshake before them.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an idle connection stays open. Above the 90 s idle timeout of Go's default HTTP transport, so that a Go client normally closes first rather than post on a connection being closed.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The largest request line and headers, together.</summary>
    public int MaxRequestHeadersBytes { get; set; } = 32 * 1024;

    /// <summary>The slowest a request body may arrive, and a response be read, after <see cref="MinDataRateGracePeriod"/>.</summary>
    public double MinDataRateBytesPerSecond { get; set; } = 240;

    public TimeSpan MinDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    public ListenerSettings Settings(Listener listener) => listener switch
    {
        Listener.Verbs => Verbs,
        Listener.Metrics => Metrics,
        Listener.Webhook => Webhook,
        _ => throw new ArgumentOutOfRangeException(nameof(listener), listener, "not a listener"),
    };

    /// <summary>The listeners that run: the webhook's only when the admission webhook is enabled.</summary>
    public static IReadOnlyList<Listener> Active(bool admissionEnabled) =>
        admissionEnabled ? [Listener.Verbs, Listener.Metrics, Listener.Webhook] : [Listener.Verbs, Listener.Metrics];

    /// <summary>Whether a listener that runs is HTTPS, and so needs the serving certificate.</summary>
    public bool AnyHttps(bool admissionEnabled) =>
        Active(admissionEnabled).Any(l => ListenerAddress.TryParse(Settings(l).Url, out _)?.Https == true);

    /// <summary>Whether the verbs are served over HTTPS, where client certificates can be asked for.</summary>
    public bool VerbsHttps => ListenerAddress.TryParse(Verbs.Url, out _)?.Https == true;
}

/// <summary>A listener URL taken apart: its scheme, the address to bind (null with <see cref="Localhost"/>) and its port.</summary>
internal sealed record ListenerAddress(bool Https, IPAddress? Address, bool Localhost, int Port)
{
    /// <summary>Loopback only: reachable from inside the pod (kube-scheduler, <c>kubectl port-forward</c>) and nowhere else.</summary>
    public bool IsLoopback => Localhost || IPAddress.IsLoopback(Address!);

    /// <summary>Parses <paramref name="url"/>, or says why it is not a listener URL.</summary>
    public static ListenerAddress? TryParse(string? url, out string? problem)
    {
        problem = null;
        if (string.IsNullOrWhiteSpace(url))
        {
            problem = "is not set";
            return null;
        }

        // Kestrel's wildcards are not valid URI hosts: read them as the IPv6 any address, which Kestrel binds dual-stack.
        var normalized = url.Replace("://*:", "://[::]:", StringComparison.Ordinal).Replace("://+:", "://[::]:", StringComparison.Ordinal);
        if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            problem = "is not an http:// or https:// URL with a port from 0 to 65535 (0 picks a free port)";
            return null;
        }

        if (uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
        {
            problem = "has a path, query or user; a listener is a scheme, an address and a port only";
            return null;
        }

        if (uri.IsDefaultPort && !url.Contains($":{uri.Port}", StringComparison.Ordinal))
        {
            problem = "has no port; name one, e.g. :8888";
            return null;
        }

        var localhost = string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase);
        IPAddress? address = null;
        if (!localhost && !IPAddress.TryParse(uri.Host, out address))
        {
            problem = $"names the host \"{uri.Host}\"; a listener binds an IP address (127.0.0.1, 0.0.0.0, [::]) or localhost";
            return null;
        }

        if (localhost && uri.Port == 0)
        {
            problem = "is localhost with port 0; Kestrel picks a free port only for an IP address, e.g. 127.0.0.1:0";
            return null;
        }

        return new ListenerAddress(uri.Scheme == "https", address, localhost, uri.Port);
    }
}

/// <summary>
/// Validates the <c>Listeners</c> section at start, with what it depends on in <c>Tls</c> and <c>Admission</c> (read
/// from configuration, not from their options, so that each section's own problems are listed once, by its own
/// validator): URLs that parse, distinct ports, verbs that leave loopback only behind client-certificate
/// authentication, and, when a listener is HTTPS, certificate files that exist and load.
/// </summary>
internal sealed class ListenerOptionsValidator(IConfiguration configuration) : IValidateOptions<ListenerOptions>
{
    public ValidateOptionsResult Validate(string? name, ListenerOptions options)
    {
        var problems = new List<string>();
        var tls = Bind<TlsOptions>(TlsOptions.Section);
        var admission = Bind<AdmissionOptions>(AdmissionOptions.Section);
        var hasCertificate = !string.IsNullOrWhiteSpace(tls.CertificateFile) && !string.IsNullOrWhiteSpace(tls.KeyFile);
        var clientCa = !string.IsNullOrWhiteSpace(tls.ClientCaFile);
        var ports = new Dictionary<int, Listener>();
        foreach (var listener in ListenerOptions.Active(admission.Enabled))
        {
            var settings = options.Settings(listener);
            var key = $"{ListenerOptions.Section}:{listener}";
            if (settings.MaxConnections is < 1 or > 100_000)
            {
                problems.Add($"{key}:MaxConnections is {settings.MaxConnections}; it must be from 1 to 100000");
            }

            if (ListenerAddress.TryParse(settings.Url, out var problem) is not { } address)
            {
                problems.Add($"{key}:Url \"{settings.Url}\" {problem}");
                continue;
            }

            if (address.Port != 0 && !ports.TryAdd(address.Port, listener))
            {
                problems.Add($"{key}:Url \"{settings.Url}\" has port {address.Port}, the port of {ListenerOptions.Section}:{ports[address.Port]}; every listener needs its own port");
            }

            if (address.Https && !hasCertificate)
            {
                problems.Add($"{key}:Url \"{settings.Url}\" is HTTPS; it needs {TlsOptions.Section}:CertificateFile and {TlsOptions.Section}:KeyFile");
            }

            switch (listener)
            {
                case Listener.Verbs when !address.IsLoopback && !(address.Https && clientCa):
                    problems.Add($"{key}:Url \"{settings.Url}\" is not loopback; the verbs bind pods, so off loopback they need https:// and {TlsOptions.Section}:ClientCaFile (only clients with a certificate of that CA get through)");
                    break;
                case Listener.Metrics when address.Https:
                    problems.Add($"{key}:Url \"{settings.Url}\" is HTTPS; the metrics listener serves plain HTTP (health and metrics only, no verbs), e.g. http://0.0.0.0:9090");
                    break;
                case Listener.Webhook when !address.Https:
                    problems.Add($"{key}:Url \"{settings.Url}\" is plain HTTP; the API server calls webhooks over HTTPS only, e.g. https://0.0.0.0:8443");
                    break;
            }
        }

        if (clientCa && ListenerAddress.TryParse(options.Verbs.Url, out _) is { Https: false })
        {
            problems.Add($"{TlsOptions.Section}:ClientCaFile is set but {ListenerOptions.Section}:Verbs:Url \"{options.Verbs.Url}\" is plain HTTP; client certificates need https://");
        }

        if (hasCertificate && options.AnyHttps(admission.Enabled)
            && Existing(nameof(tls.CertificateFile), tls.CertificateFile!, problems) is { } certificate
            && Existing(nameof(tls.KeyFile), tls.KeyFile!, problems) is { } keyFile)
        {
            Loads(() => TlsCertificates.Load(certificate, keyFile), $"{TlsOptions.Section}:CertificateFile \"{certificate}\" and {TlsOptions.Section}:KeyFile \"{keyFile}\" do not load as a PEM certificate and its private key", problems);
        }

        if (clientCa && options.VerbsHttps && Existing(nameof(tls.ClientCaFile), tls.ClientCaFile!, problems) is { } ca)
        {
            Loads(() => TlsCertificates.LoadAuthorities(ca), $"{TlsOptions.Section}:ClientCaFile \"{ca}\" does not load as PEM CA certificates", problems);
        }

        Within(nameof(options.RequestHeadersTimeout), options.RequestHeadersTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), problems);
        Within(nameof(options.KeepAliveTimeout), options.KeepAliveTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1), problems);

        // Kestrel checks data rates on a one-second heartbeat: a shorter grace period would never apply.
        Within(nameof(options.MinDataRateGracePeriod), options.MinDataRateGracePeriod, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(5), problems);
        if (options.MaxRequestHeadersBytes is < 4096 or > 1024 * 1024)
        {
            problems.Add($"{ListenerOptions.Section}:MaxRequestHeadersBytes is {options.MaxRequestHeadersBytes}; it must be from 4096 to 1048576");
        }

        if (!(options.MinDataRateBytesPerSecond is >= 1 and <= 1_000_000_000))
        {
            problems.Add($"{ListenerOptions.Section}:MinDataRateBytesPerSecond is {options.MinDataRateBytesPerSecond}; it must be from 1 to 1000000000");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static string? Existing(string key, string path, List<string> problems)
    {
        if (File.Exists(path))
        {
            return path;
        }

        problems.Add($"{TlsOptions.Section}:{key} is \"{path}\", which does not exist");
        return null;
    }

    private static void Loads(Func<IDisposable> load, string failure, List<string> problems)
    {
        try
        {
            using var loaded = load();
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            problems.Add($"{failure}: {ex.Message}");
        }
    }

    private static void Within(string key, TimeSpan value, TimeSpan min, TimeSpan max, List<string> problems)
    {
        if (value < min || value > max)
        {
            problems.Add($"{ListenerOptions.Section}:{key} is {value}; it must be from {min} to {max}");
        }
    }

    /// <summary>Another section as configured; one that does not bind is that section's validator's to report.</summary>
    private T Bind<T>(string section)
        where T : class, new()
    {
        try
        {
            return configuration.GetSection(section).Get<T>() ?? new T();
        }
        catch (InvalidOperationException)
        {
            return new T();
        }
    }
}

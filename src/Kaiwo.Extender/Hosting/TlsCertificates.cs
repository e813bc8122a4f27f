using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// The certificates of the HTTPS listeners: the serving PEM pair of <see cref="TlsOptions"/> and, when set, the client
/// CA file, loaded at start and loaded again when a file's last-write time or size changes (checked every
/// <see cref="TlsOptions.ReloadInterval"/> on the injected clock). Each swap is atomic: a handshake gets the old or the
/// new certificate, whole; connections already open keep theirs, new ones get the new one, without a restart. Files
/// that do not load (a rotation caught half-written) keep the old ones and are tried again.
/// </summary>
internal sealed partial class TlsCertificates : IHostedService, IDisposable
{
    /// <summary>The extended key usage a client certificate must allow, when it names any: TLS client authentication.</summary>
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private readonly TlsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<TlsCertificates> _log;
    private readonly ReloadingFiles<X509Certificate2>? _serving;
    private readonly ReloadingFiles<CertificateAuthorities>? _clientAuthorities;
    private ITimer? _timer;

    public TlsCertificates(
        IOptions<TlsOptions> options,
        IOptions<ListenerOptions> listeners,
        IOptions<Admission.AdmissionOptions> admission,
        TimeProvider time,
        ILogger<TlsCertificates> log)
    {
        _options = options.Value;
        _time = time;
        _log = log;

        // Only what an HTTPS listener uses is loaded. The validator has loaded these files already: a failure here is a
        // file changed in between, and stops the start.
        if (listeners.Value.AnyHttps(admission.Value.Enabled) && !string.IsNullOrWhiteSpace(_options.CertificateFile) && !string.IsNullOrWhiteSpace(_options.KeyFile))
        {
            var (certificate, key) = (_options.CertificateFile, _options.KeyFile);
            _serving = new ReloadingFiles<X509Certificate2>([certificate, key], () => Load(certificate, key));
            LogLoaded(_log, _serving.Current.Subject, _serving.Current.Thumbprint, _serving.Current.NotAfter);
        }

        if (listeners.Value.VerbsHttps && !string.IsNullOrWhiteSpace(_options.ClientCaFile))
        {
            var ca = _options.ClientCaFile;
            _clientAuthorities = new ReloadingFiles<CertificateAuthorities>([ca], () => LoadAuthorities(ca));
            LogClientCaLoaded(_log, ca, _clientAuthorities.Current);
        }
    }

    /// <summary>The certificate new connections get; null when no pair is configured.</summary>
    public X509Certificate2? Current => _serving?.Current;

    /// <summary>Whether the verbs ask clients for a certificate of <see cref="TlsOptions.ClientCaFile"/>.</summary>
    public bool RequiresClientCertificates => _clientAuthorities is not null;

    /// <summary>Serving certificates loaded after the first one.</summary>
    public long Reloads => _serving?.Reloads ?? 0;

    /// <summary>Client CA files loaded after the first one.</summary>
    public long ClientCaReloads => _clientAuthorities?.Reloads ?? 0;

    /// <summary>The PEM certificate and its PEM private key (PKCS#8, PKCS#1 or SEC1) as one certificate with its key.</summary>
    public static X509Certificate2 Load(string certificateFile, string keyFile)
    {
        var certificate = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        if (!OperatingSystem.IsWindows())
        {
            return certificate;
        }

        // SChannel does not serve an ephemeral key: give it one through PKCS#12.
        using (certificate)
        {
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        }
    }

    /// <summary>Every PEM certificate of <paramref name="caFile"/>; a file without one is an error, not an empty trust.</summary>
    public static CertificateAuthorities LoadAuthorities(string caFile)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(caFile);
        if (certificates.Count == 0)
        {
            throw new CryptographicException($"{caFile} holds no PEM CERTIFICATE block");
        }

        return new CertificateAuthorities(certificates);
    }

    /// <summary>
    /// Kestrel's client-certificate check for the verbs listener: the certificate must chain to a certificate of the
    /// client CA file as loaded now (intermediates from the client's own chain may be used), be valid at the injected
    /// clock's time, and allow client authentication. Revocation is not checked: no CRL or OCSP responder is assumed
    /// reachable from the pod; keep client certificates short-lived instead.
    /// </summary>
    public bool IsTrustedClient(X509Certificate2 certificate, X509Chain? presented)
    {
        if (_clientAuthorities is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_clientAuthorities.Current.Certificates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuthentication);
        foreach (var element in presented?.ChainElements ?? Enumerable.Empty<X509ChainElement>())
        {
            if (!element.Certificate.Equals(certificate))
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        if (chain.Build(certificate))
        {
            return true;
        }

        var reasons = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        LogClientRefused(_log, certificate.Subject, certificate.Issuer, certificate.Thumbprint, reasons);
        return false;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_serving is not null || _clientAuthorities is not null)
        {
            _timer = _time.CreateTimer(_ => ReloadIfChanged(), null, _options.ReloadInterval, _options.ReloadInterval);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _timer?.Dispose();

    /// <summary>Loads again whatever files changed since their last load; true when a new certificate or CA is in use.</summary>
    public bool ReloadIfChanged()
    {
        var changed = false;
        if (_serving is not null)
        {
            switch (_serving.ReloadIfChanged(out var failure))
            {
                case true:
                    LogReloaded(_log, _serving.Current.Subject, _serving.Current.Thumbprint, _serving.Current.NotAfter);
                    changed = true;
                    break;
                case null:
                    LogReloadFailed(_log, _options.CertificateFile!, _options.KeyFile!, failure!);
                    break;
            }
        }

        if (_clientAuthorities is not null)
        {
            switch (_clientAuthorities.ReloadIfChanged(out var failure))
            {
                case true:
                    LogClientCaReloaded(_log, _options.ClientCaFile!, _clientAuthorities.Current);
                    changed = true;
                    break;
                case null:
                    LogClientCaReloadFailed(_log, _options.ClientCaFile!, failure!);
                    break;
            }
        }

        return changed;
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "TLS certificate {Subject} ({Thumbprint}) loaded, valid until {NotAfter:O}")]
    private static partial void LogLoaded(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(EventId = 61, Level = LogLevel.Information, Message = "TLS certificate reloaded: {Subject} ({Thumbprint}), valid until {NotAfter:O}; new connections get it")]
    private static partial void LogReloaded(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(EventId = 62, Level = LogLevel.Warning, Message = "TLS files {CertificateFile} and {KeyFile} changed but do not load, keeping the current certificate: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string certificateFile, string keyFile, string reason);

    [LoggerMessage(EventId = 63, Level = LogLevel.Information, Message = "Client CA file {File} loaded: the verbs accept client certificates of {Authorities}")]
    private static partial void LogClientCaLoaded(ILogger logger, string file, CertificateAuthorities authorities);

    [LoggerMessage(EventId = 64, Level = LogLevel.Information, Message = "Client CA file {File} reloaded: new connections are checked against {Authorities}")]
    private static partial void LogClientCaReloaded(ILogger logger, string file, CertificateAuthorities authorities);

    [LoggerMessage(EventId = 65, Level = LogLevel.Warning, Message = "Client CA file {File} changed but does not load, keeping the current CAs: {Reason}")]
    private static partial void LogClientCaReloadFailed(ILogger logger, string file, string reason);

    [LoggerMessage(EventId = 66, Level = LogLevel.Warning, Message = "TLS handshake refused: client certificate {Subject} (issuer {Issuer}, {Thumbprint}) is not trusted by Tls:ClientCaFile: {Reasons}")]
    private static partial void LogClientRefused(ILogger logger, LogText subject, LogText issuer, string thumbprint, string reasons);
}

/// <summary>
/// A value loaded from files, loaded again when one of them changes. The previous value is not disposed: a handshake
/// in flight may still be using it.
/// </summary>
internal sealed class ReloadingFiles<T>
    where T : class
{
    private readonly string[] _paths;
    private readonly Func<T> _load;
    private readonly Lock _gate = new();
    private T _current;
    private string _stamp;
    private long _reloads;

    public ReloadingFiles(string[] paths, Func<T> load)
    {
        _paths = paths;
        _load = load;
        _stamp = Stamp(paths);
        _current = load();
    }

    public T Current => Volatile.Read(ref _current);

    public long Reloads => Interlocked.Read(ref _reloads);

    /// <summary>False when nothing changed, true when the new files are in use, null (with the reason) when they do not load.</summary>
    public bool? ReloadIfChanged(out string? failure)
    {
        failure = null;
        lock (_gate)
        {
            try
            {
                var stamp = Stamp(_paths);
                if (stamp == _stamp)
                {
                    return false;
                }

                Volatile.Write(ref _current, _load());
                _stamp = stamp;
                Interlocked.Increment(ref _reloads);
                return true;
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                failure = ex.Message;
                return null;
            }
        }
    }

    /// <summary>
    /// What identifies the files' content: for each file, where its symbolic links end (a mounted Secret is a link
    /// into a directory that is replaced whole), its last-write time and its size.
    /// </summary>
    private static string Stamp(string[] paths) => string.Join('\n', paths.Select(Describe));

    private static string Describe(string path)
    {
        var info = new FileInfo(path);
        var target = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
        target.Refresh();
        if (!target.Exists)
        {
            throw new FileNotFoundException($"{path} does not exist", path);
        }

        return $"{target.FullName}|{target.LastWriteTimeUtc.Ticks}|{target.Length}";
    }
}


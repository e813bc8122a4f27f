using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>
/// The serving certificate of the HTTPS endpoint: the PEM pair of <see cref="TlsOptions"/>, loaded at start and
/// loaded again when either file's last-write time or size changes (checked every
/// <see cref="TlsOptions.ReloadInterval"/> on the injected clock). The swap is atomic: a handshake gets the old or
/// the new certificate, whole; connections already open keep theirs, new ones get the new one, without a restart.
/// A pair that does not load (a rotation caught half-written) keeps the old certificate and is tried again.
/// </summary>
internal sealed partial class TlsCertificates : IHostedService, IDisposable
{
    private readonly TlsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<TlsCertificates> _log;
    private readonly Lock _reloadGate = new();
    private X509Certificate2? _current;
    private FileStamp _stamp;
    private ITimer? _timer;
    private long _reloads;

    public TlsCertificates(IOptions<TlsOptions> options, TimeProvider time, ILogger<TlsCertificates> log)
    {
        _options = options.Value;
        _time = time;
        _log = log;
        if (_options.Enabled)
        {
            // The validator has loaded this pair already: a failure here is a file changed in between, and stops the start.
            _stamp = FileStamp.Of(_options.CertificateFile!, _options.KeyFile!);
            _current = Load(_options.CertificateFile!, _options.KeyFile!);
            LogLoaded(_log, _current.Subject, _current.Thumbprint, _current.NotAfter);
        }
    }

    public bool Enabled => _options.Enabled;

    /// <summary>The certificate new connections get; null when TLS is off.</summary>
    public X509Certificate2? Current => Volatile.Read(ref _current);

    /// <summary>Certificates loaded after the first one.</summary>
    public long Reloads => Interlocked.Read(ref _reloads);

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

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Enabled)
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

    /// <summary>Loads the pair again if a file changed since the last load; true when a new certificate is in use.</summary>
    public bool ReloadIfChanged()
    {
        if (!Enabled)
        {
            return false;
        }

        lock (_reloadGate)
        {
            try
            {
                var stamp = FileStamp.Of(_options.CertificateFile!, _options.KeyFile!);
                if (stamp == _stamp)
                {
                    return false;
                }

                var next = Load(_options.CertificateFile!, _options.KeyFile!);

                // The previous certificate is not disposed: a handshake in flight may still be using it.
                var previous = Interlocked.Exchange(ref _current, next);
                _stamp = stamp;
                Interlocked.Increment(ref _reloads);
                LogReloaded(_log, next.Subject, next.Thumbprint, previous?.Thumbprint ?? "none", next.NotAfter);
                return true;
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                LogReloadFailed(_log, _options.CertificateFile!, _options.KeyFile!, ex.Message);
                return false;
            }
        }
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "TLS certificate {Subject} ({Thumbprint}) loaded, valid until {NotAfter:O}")]
    private static partial void LogLoaded(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(EventId = 61, Level = LogLevel.Information, Message = "TLS certificate reloaded: {Subject} ({Thumbprint}, was {Previous}), valid until {NotAfter:O}; new connections get it")]
    private static partial void LogReloaded(ILogger logger, string subject, string thumbprint, string previous, DateTime notAfter);

    [LoggerMessage(EventId = 62, Level = LogLevel.Warning, Message = "TLS files {CertificateFile} and {KeyFile} changed but do not load, keeping the current certificate: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string certificateFile, string keyFile, string reason);

    /// <summary>
    /// What identifies the files' content: for each file, where its symbolic links end (a mounted Secret is a link
    /// into a directory that is replaced whole), its last-write time and its size.
    /// </summary>
    private readonly record struct FileStamp(string Certificate, string Key)
    {
        public static FileStamp Of(string certificateFile, string keyFile) => new(Describe(certificateFile), Describe(keyFile));

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
}

/// <summary>Wires <see cref="TlsOptions"/>, <see cref="TlsCertificates"/> and the HTTPS endpoint into the host.</summary>
internal static class TlsHosting
{
    /// <summary>
    /// Section <c>Tls</c>, validated at start; when enabled, an HTTPS endpoint on <c>Tls:Port</c> beside the
    /// configured <c>Urls</c> (which stay as they are), served with <see cref="TlsCertificates.Current"/> through
    /// Kestrel's <c>ServerCertificateSelector</c> so that a reloaded certificate needs no restart.
    /// </summary>
    public static WebApplicationBuilder AddTls(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TlsOptions>().Bind(builder.Configuration.GetSection(TlsOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<TlsOptions>, TlsOptionsValidator>();
        builder.Services.AddSingleton<TlsCertificates>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TlsCertificates>());
        builder.Services.AddTransient<IStartupFilter, TlsEndpoint>();
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IServiceProvider>((kestrel, services) =>
        {
            if (services.GetRequiredService<IOptions<TlsOptions>>().Value.Enabled)
            {
                kestrel.ConfigureHttpsDefaults(https =>
                    https.ServerCertificateSelector = (_, _) => services.GetRequiredService<TlsCertificates>().Current);
            }
        });
        return builder;
    }

    /// <summary>
    /// Adds <c>https://*:{Tls:Port}</c> to the server's addresses once the host has put the configured <c>Urls</c>
    /// there and before the server binds: one more endpoint, where listening in code would replace the Urls.
    /// </summary>
    private sealed class TlsEndpoint(IOptions<TlsOptions> options) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            var tls = options.Value;
            if (tls.Enabled && app.ServerFeatures.Get<IServerAddressesFeature>() is { Addresses.IsReadOnly: false } server)
            {
                server.Addresses.Add($"https://*:{tls.Port}");
            }

            next(app);
        };
    }
}

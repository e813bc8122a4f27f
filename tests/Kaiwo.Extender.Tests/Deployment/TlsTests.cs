using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kaiwo.Extender.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>
/// The verbs over HTTPS on a real Kestrel server: a certificate from PEM files, the metrics listener still plain HTTP
/// beside it, files replaced under it reloaded on the clock for new connections, and bad settings stopping the start.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private static readonly TimeSpan ReloadInterval = TimeSpan.FromSeconds(30);
    private readonly string _folder = Directory.CreateTempSubdirectory("kaiwo-tls-").FullName;

    private string CertificateFile => Path.Combine(_folder, "tls.crt");

    private string KeyFile => Path.Combine(_folder, "tls.key");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Https_VerbsUrlHttps_ServesTheVerbsWithTheCertificateOfTheFilesAndMetricsStayPlainHttp()
    {
        var first = WritePair("kaiwo-first");
        await using var factory = Start();

        var https = await GetAsync(factory, "https", "/inspect/gpu-node-01");
        var http = await GetAsync(factory, "http", "/healthz");

        Assert.Equal((HttpStatusCode.OK, first), (https.Status, https.Thumbprint));
        Assert.Equal((HttpStatusCode.OK, "ok", null), (http.Status, http.Body, http.Thumbprint));
    }

    [Fact]
    public async Task Https_FilesReplaced_NewConnectionsGetTheNewCertificateAfterTheReloadInterval()
    {
        var first = WritePair("kaiwo-first");
        await using var factory = Start();
        var certificates = factory.Services.GetRequiredService<TlsCertificates>();
        Assert.Equal(first, (await GetAsync(factory, "https", "/inspect/gpu-node-01")).Thumbprint);

        var second = WritePair("kaiwo-second", later: TimeSpan.FromMinutes(1));
        var beforeTheInterval = await GetAsync(factory, "https", "/inspect/gpu-node-01");
        factory.Time.Advance(ReloadInterval);
        var after = await GetAsync(factory, "https", "/inspect/gpu-node-01");

        Assert.NotEqual(first, second);
        Assert.Equal(first, beforeTheInterval.Thumbprint);
        Assert.Equal((HttpStatusCode.OK, second), (after.Status, after.Thumbprint));
        Assert.Equal(1, certificates.Reloads);
    }

    [Fact]
    public async Task Https_RotationCaughtHalfWritten_KeepsTheOldCertificateUntilThePairLoads()
    {
        var first = WritePair("kaiwo-first");
        await using var factory = Start();
        var (certificate, key) = MakePair("kaiwo-second");

        // The new certificate is there, its key not yet: the pair does not load.
        await File.WriteAllTextAsync(CertificateFile, certificate);
        File.SetLastWriteTimeUtc(CertificateFile, DateTime.UtcNow.AddMinutes(1));
        factory.Time.Advance(ReloadInterval);
        var halfway = await GetAsync(factory, "https", "/inspect/gpu-node-01");
        await File.WriteAllTextAsync(KeyFile, key);
        File.SetLastWriteTimeUtc(KeyFile, DateTime.UtcNow.AddMinutes(1));
        factory.Time.Advance(ReloadInterval);
        var done = await GetAsync(factory, "https", "/inspect/gpu-node-01");

        Assert.Equal((HttpStatusCode.OK, first), (halfway.Status, halfway.Thumbprint));
        Assert.Equal(Thumbprint(certificate), done.Thumbprint);
    }

    [Fact]
    public async Task Https_NoListenerHttps_StartsWithoutLoadingTheNamedFiles()
    {
        // As deployed without the optional Secret: the files are named and absent, and nothing needs them.
        var settings = Settings();
        settings["Listeners:Verbs:Url"] = "http://127.0.0.1:0";
        await using var factory = new ExtenderFactory(settings, kestrel: true);

        var answer = await GetAsync(factory, "http", "/healthz");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Null(factory.Services.GetRequiredService<TlsCertificates>().Current);
    }

    [Fact]
    public void Start_VerbsHttpsWithAMissingKeyFile_StopsWithAMessageNamingTheSetting()
    {
        WritePair("kaiwo-first");
        File.Delete(KeyFile);
        using var factory = new ExtenderFactory(Settings());

        var ex = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains($"Tls:KeyFile is \"{KeyFile}\", which does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_VerbsHttpsWithAKeyOfAnotherCertificate_StopsWithAMessageNamingBothSettings()
    {
        WritePair("kaiwo-first");
        File.WriteAllText(KeyFile, MakePair("kaiwo-other").Key);
        using var factory = new ExtenderFactory(Settings());

        var ex = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("Tls:CertificateFile", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Tls:KeyFile", ex.Message, StringComparison.Ordinal);
        Assert.Contains("do not load", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_HttpsListenersWithoutFiles_NamesEachListenerAndTheSettingsItNeeds()
    {
        using var factory = new ExtenderFactory(new Dictionary<string, string?>
        {
            ["Extender:ClusterFile"] = Fixtures.ClusterFile("names"),
            ["Listeners:Verbs:Url"] = "https://127.0.0.1:8888",
            ["Admission:Enabled"] = "true",
        });

        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains("Listeners:Verbs:Url \"https://127.0.0.1:8888\" is HTTPS; it needs Tls:CertificateFile and Tls:KeyFile", ex.Failures);
        Assert.Contains("Listeners:Webhook:Url \"https://0.0.0.0:8443\" is HTTPS; it needs Tls:CertificateFile and Tls:KeyFile", ex.Failures);
    }

    [Fact]
    public void Start_RetiredTlsEnabledAndPort_StopsWithWhatReplacedThem()
    {
        using var factory = new ExtenderFactory(new Dictionary<string, string?>
        {
            ["Extender:ClusterFile"] = Fixtures.ClusterFile("names"),
            ["Tls:Enabled"] = "true",
            ["Tls:Port"] = "8443",
        });

        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains(ex.Failures, f => f.StartsWith("Tls:Enabled is \"true\", a setting that is no longer read: a listener is HTTPS when its URL is", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("Tls:Port is \"8443\", a setting that is no longer read", StringComparison.Ordinal));
    }

    private Dictionary<string, string?> Settings() => new()
    {
        ["Extender:ClusterFile"] = Fixtures.ClusterFile("names"),
        ["Listeners:Verbs:Url"] = "https://127.0.0.1:0",
        ["Tls:CertificateFile"] = CertificateFile,
        ["Tls:KeyFile"] = KeyFile,
        ["Tls:ReloadInterval"] = ReloadInterval.ToString(),
    };

    private ExtenderFactory Start()
    {
        var factory = new ExtenderFactory(Settings(), kestrel: true);
        factory.StartServer();
        return factory;
    }

    /// <summary>Writes a new self-signed pair as PEM, optionally dated later so that the change shows whatever the clock's resolution; returns its thumbprint.</summary>
    private string WritePair(string name, TimeSpan? later = null)
    {
        var (certificate, key) = MakePair(name);
        File.WriteAllText(CertificateFile, certificate);
        File.WriteAllText(KeyFile, key);
        if (later is { } delta)
        {
            File.SetLastWriteTimeUtc(CertificateFile, DateTime.UtcNow + delta);
            File.SetLastWriteTimeUtc(KeyFile, DateTime.UtcNow + delta);
        }

        return Thumbprint(certificate);
    }

    private static (string Certificate, string Key) MakePair(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    private static string Thumbprint(string certificatePem)
    {
        using var certificate = X509Certificate2.CreateFromPem(certificatePem);
        return certificate.Thumbprint;
    }

    /// <summary>A GET on a new connection: over https to the verbs listener, over http to the metrics listener; and the certificate it showed.</summary>
    private static async Task<(HttpStatusCode Status, string Body, string? Thumbprint)> GetAsync(ExtenderFactory factory, string scheme, string path)
    {
        var address = factory.Address(scheme == "https" ? Listener.Verbs : Listener.Metrics, scheme);
        string? seen = null;
        using var handler = new SocketsHttpHandler
        {
            SslOptions =
            {
                // Trust is not the point here (the certificates are self-signed): which certificate came is.
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    seen = certificate?.GetCertHashString();
                    return certificate is not null;
                },
            },
        };
        using var client = new HttpClient(handler) { BaseAddress = address };
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), seen);
    }
}

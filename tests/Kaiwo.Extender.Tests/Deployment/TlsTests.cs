using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kaiwo.Extender.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>
/// Optional HTTPS on a real Kestrel server: a certificate from PEM files, the configured plain HTTP kept beside it,
/// files replaced under it reloaded on the clock for new connections, and bad settings stopping the start.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private static readonly TimeSpan ReloadInterval = TimeSpan.FromSeconds(30);
    private readonly string _folder = Directory.CreateTempSubdirectory("kaiwo-tls-").FullName;

    private string CertificateFile => Path.Combine(_folder, "tls.crt");

    private string KeyFile => Path.Combine(_folder, "tls.key");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Https_TlsEnabled_ServesHealthzWithTheCertificateOfTheFilesAndKeepsPlainHttp()
    {
        var first = WritePair("kaiwo-first");
        await using var factory = Start();

        var https = await GetAsync(factory, "https", "/healthz");
        var http = await GetAsync(factory, "http", "/healthz");

        Assert.Equal((HttpStatusCode.OK, "ok", first), (https.Status, https.Body, https.Thumbprint));
        Assert.Equal((HttpStatusCode.OK, "ok"), (http.Status, http.Body));
    }

    [Fact]
    public async Task Https_FilesReplaced_NewConnectionsGetTheNewCertificateAfterTheReloadInterval()
    {
        var first = WritePair("kaiwo-first");
        await using var factory = Start();
        var certificates = factory.Services.GetRequiredService<TlsCertificates>();
        Assert.Equal(first, (await GetAsync(factory, "https", "/healthz")).Thumbprint);

        var second = WritePair("kaiwo-second", later: TimeSpan.FromMinutes(1));
        var beforeTheInterval = await GetAsync(factory, "https", "/healthz");
        factory.Time.Advance(ReloadInterval);
        var after = await GetAsync(factory, "https", "/healthz");

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
        var halfway = await GetAsync(factory, "https", "/healthz");
        await File.WriteAllTextAsync(KeyFile, key);
        File.SetLastWriteTimeUtc(KeyFile, DateTime.UtcNow.AddMinutes(1));
        factory.Time.Advance(ReloadInterval);
        var done = await GetAsync(factory, "https", "/healthz");

        Assert.Equal((HttpStatusCode.OK, first), (halfway.Status, halfway.Thumbprint));
        Assert.Equal(Thumbprint(certificate), done.Thumbprint);
    }

    [Fact]
    public async Task Https_TlsDisabled_ServesNoHttpsEndpoint()
    {
        await using var factory = ExtenderFactory.ForMode("names", kestrel: true);
        factory.StartServer();

        Assert.DoesNotContain(Addresses(factory), a => a.StartsWith("https:", StringComparison.Ordinal));
    }

    [Fact]
    public void Start_TlsEnabledWithAMissingKeyFile_StopsWithAMessageNamingTheSetting()
    {
        WritePair("kaiwo-first");
        File.Delete(KeyFile);
        using var factory = new ExtenderFactory(Settings());

        var ex = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains($"Tls:KeyFile is \"{KeyFile}\", which does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_TlsEnabledWithAKeyOfAnotherCertificate_StopsWithAMessageNamingBothSettings()
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
    public void Start_TlsEnabledWithoutFiles_ListsBothSettings()
    {
        using var factory = new ExtenderFactory(new Dictionary<string, string?>
        {
            ["Extender:ClusterFile"] = Fixtures.ClusterFile("names"),
            ["Tls:Enabled"] = "true",
        });

        var ex = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("Tls:CertificateFile is not set", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Tls:KeyFile is not set", ex.Message, StringComparison.Ordinal);
    }

    private Dictionary<string, string?> Settings() => new()
    {
        ["Extender:ClusterFile"] = Fixtures.ClusterFile("names"),
        ["Tls:Enabled"] = "true",
        ["Tls:CertificateFile"] = CertificateFile,
        ["Tls:KeyFile"] = KeyFile,
        ["Tls:Port"] = "0",
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

    private static IReadOnlyList<string> Addresses(ExtenderFactory factory) =>
        [.. factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses];

    /// <summary>A GET on a new connection to the server's <paramref name="scheme"/> endpoint, and the certificate it showed.</summary>
    private static async Task<(HttpStatusCode Status, string Body, string? Thumbprint)> GetAsync(ExtenderFactory factory, string scheme, string path)
    {
        var address = new Uri(Addresses(factory).Single(a => a.StartsWith(scheme + ":", StringComparison.Ordinal)));
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
        using var client = new HttpClient(handler) { BaseAddress = new UriBuilder(scheme, "127.0.0.1", address.Port).Uri };
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), seen);
    }
}

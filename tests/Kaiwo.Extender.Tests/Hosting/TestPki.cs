using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>
/// Certificates made for one test in a temporary folder, never committed: a CA, a server certificate it issues (for
/// 127.0.0.1, localhost and the Services' DNS names), a client certificate it issues, and a client of another CA.
/// Valid from a day before <c>now</c> for 30 days, so that both the real clock and the tests' fixed clock are inside.
/// </summary>
internal sealed class TestPki : IDisposable
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private TestPki(string folder, DateTimeOffset now)
    {
        Folder = folder;
        NotBefore = now.AddDays(-1);
        NotAfter = now.AddDays(30);
        Ca = CreateCa("kaiwo-test-ca");
        OtherCa = CreateCa("kaiwo-other-ca");
        Server = Issue(Ca, "kaiwo-scheduler-extender", ServerAuthentication, server: true);
        Client = Issue(Ca, "kaiwo-scheduler", ClientAuthentication, server: false);
        OtherClient = Issue(OtherCa, "kaiwo-scheduler", ClientAuthentication, server: false);
        Write(CaFile, Ca.ExportCertificatePem());
        Write(OtherCaFile, OtherCa.ExportCertificatePem());
        WritePair(Server, CertificateFile, KeyFile);
        WritePair(Client, ClientCertificateFile, ClientKeyFile);
    }

    public string Folder { get; }

    public DateTimeOffset NotBefore { get; }

    public DateTimeOffset NotAfter { get; }

    public X509Certificate2 Ca { get; }

    public X509Certificate2 OtherCa { get; }

    /// <summary>The server certificate with its key.</summary>
    public X509Certificate2 Server { get; }

    /// <summary>A client certificate of <see cref="Ca"/>, with its key.</summary>
    public X509Certificate2 Client { get; }

    /// <summary>A client certificate of <see cref="OtherCa"/>, with its key.</summary>
    public X509Certificate2 OtherClient { get; }

    public string CaFile => Path.Combine(Folder, "ca.crt");

    public string OtherCaFile => Path.Combine(Folder, "other-ca.crt");

    public string CertificateFile => Path.Combine(Folder, "tls.crt");

    public string KeyFile => Path.Combine(Folder, "tls.key");

    public string ClientCertificateFile => Path.Combine(Folder, "client.crt");

    public string ClientKeyFile => Path.Combine(Folder, "client.key");

    /// <summary>The server's settings: its certificate, and the client CA when <paramref name="clientCa"/>.</summary>
    public Dictionary<string, string?> Settings(bool clientCa) => new()
    {
        ["Tls:CertificateFile"] = CertificateFile,
        ["Tls:KeyFile"] = KeyFile,
        ["Tls:ClientCaFile"] = clientCa ? CaFile : null,
    };

    public static TestPki Create(DateTimeOffset now) => new(Directory.CreateTempSubdirectory("kaiwo-pki-").FullName, now);

    /// <summary>An HTTPS client that trusts <see cref="Ca"/> only and presents <paramref name="certificate"/>, if any, on a new connection per client.</summary>
    public HttpClient HttpsClient(Uri address, X509Certificate2? certificate)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented is X509Certificate2 server && IssuedByCa(server),
                ClientCertificates = certificate is null ? null : [certificate],
                LocalCertificateSelectionCallback = certificate is null ? null : (_, _, _, _, _) => certificate,
            },
        };
        return new HttpClient(handler) { BaseAddress = address };
    }

    public void Dispose()
    {
        foreach (var certificate in new[] { Ca, OtherCa, Server, Client, OtherClient })
        {
            certificate.Dispose();
        }

        Directory.Delete(Folder, recursive: true);
    }

    private bool IssuedByCa(X509Certificate2 server)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(server);
    }

    private X509Certificate2 CreateCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request.CreateSelfSigned(NotBefore, NotAfter);
    }

    private X509Certificate2 Issue(X509Certificate2 ca, string name, Oid usage, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            names.AddDnsName("kaiwo-scheduler-extender.kaiwo-system.svc");
            names.AddDnsName("kaiwo-scheduler-webhook.kaiwo-system.svc");
            request.CertificateExtensions.Add(names.Build());
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(ca, NotBefore, NotAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    private static void WritePair(X509Certificate2 certificate, string certificateFile, string keyFile)
    {
        Write(certificateFile, certificate.ExportCertificatePem());
        Write(keyFile, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
    }

    private static void Write(string path, string text) => File.WriteAllText(path, text);
}

/// <summary>What a client without an acceptable certificate gets: no HTTP answer at all, the TLS handshake fails.</summary>
internal static class HandshakeRefusal
{
    public static bool IsRefused(HttpRequestException ex) =>
        ex.HttpRequestError is HttpRequestError.SecureConnectionError or HttpRequestError.ConnectionError or HttpRequestError.ResponseEnded
        || ex.InnerException is IOException or AuthenticationException;
}

/// <summary>An extender on the names cluster with a <see cref="TestPki"/> server certificate, deleted with the fixture.</summary>
public abstract class CertifiedExtenderFixture : ExtenderFixture
{
    private protected CertifiedExtenderFixture(TestPki pki, IReadOnlyDictionary<string, string?> more, bool kestrel)
        : base(ExtenderFactory.ForMode("names", WithCertificate(pki, more), kestrel)) => Pki = pki;

    internal TestPki Pki { get; }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Pki.Dispose();
    }

    private static Dictionary<string, string?> WithCertificate(TestPki pki, IReadOnlyDictionary<string, string?> more)
    {
        var settings = pki.Settings(clientCa: false);
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }
}

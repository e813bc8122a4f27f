using System.Net;
using Kaiwo.Extender.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>
/// The HTTPS service mode on a real Kestrel server: the verbs on all interfaces, over HTTPS, for clients with a
/// certificate of <c>Tls:ClientCaFile</c> only. A client without one, or with one of another CA, does not complete
/// the TLS handshake and gets no HTTP answer at all; the metrics listener is unaffected.
/// </summary>
public sealed class ClientCertificateTests : IDisposable
{
    private static readonly TimeSpan ReloadInterval = TimeSpan.FromSeconds(30);
    private readonly TestPki _pki = TestPki.Create(ExtenderFactory.Now);

    public ClientCertificateTests()
    {
        var settings = _pki.Settings(clientCa: true);
        settings["Extender:ClusterFile"] = Fixtures.ClusterFile("names");
        settings["Listeners:Verbs:Url"] = "https://0.0.0.0:0";
        settings["Tls:ReloadInterval"] = ReloadInterval.ToString();
        Factory = new ExtenderFactory(settings, kestrel: true);
        Factory.StartServer();
    }

    private ExtenderFactory Factory { get; }

    public void Dispose()
    {
        Factory.Dispose();
        _pki.Dispose();
    }

    [Fact]
    public async Task Verbs_ClientCertificateOfTheClientCa_AreServed()
    {
        using var client = _pki.HttpsClient(VerbsAddress(), _pki.Client);

        var filter = await Fixtures.PostPayloadAsync(client, "names", "filter-frac-quarter-xcd.json");
        var inspect = await Fixtures.GetAsync(client, "/inspect/gpu-node-01");

        Assert.Equal(HttpStatusCode.OK, filter.Status);
        Assert.Equal(HttpStatusCode.OK, inspect.Status);
    }

    [Fact]
    public async Task Verbs_NoClientCertificate_TlsHandshakeRefusedWithoutAnHttpAnswer()
    {
        using var client = _pki.HttpsClient(VerbsAddress(), certificate: null);

        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("/inspect", UriKind.Relative)));

        Assert.True(HandshakeRefusal.IsRefused(ex), $"{ex.HttpRequestError}: {ex}");
        Assert.Null(ex.StatusCode);
    }

    [Fact]
    public async Task Verbs_ClientCertificateOfAnotherCa_TlsHandshakeRefusedWithoutAnHttpAnswer()
    {
        using var client = _pki.HttpsClient(VerbsAddress(), _pki.OtherClient);

        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.PostAsync(new Uri("/bind", UriKind.Relative), new StringContent("{}")));

        Assert.True(HandshakeRefusal.IsRefused(ex), $"{ex.HttpRequestError}: {ex}");
        Assert.Null(ex.StatusCode);
    }

    [Fact]
    public async Task Verbs_CertificateOfTheClientCaForServersOnly_TlsHandshakeRefused()
    {
        // Issued by the right CA, but its extended key usage is server authentication only.
        using var client = _pki.HttpsClient(VerbsAddress(), _pki.Server);

        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("/inspect", UriKind.Relative)));

        Assert.True(HandshakeRefusal.IsRefused(ex), $"{ex.HttpRequestError}: {ex}");
    }

    [Fact]
    public async Task Verbs_ClientCertificateExpiredOnTheServersClock_TlsHandshakeRefused()
    {
        Factory.Time.SetUtcNow(_pki.NotAfter.AddMinutes(1));
        using var client = _pki.HttpsClient(VerbsAddress(), _pki.Client);

        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("/inspect", UriKind.Relative)));

        Assert.True(HandshakeRefusal.IsRefused(ex), $"{ex.HttpRequestError}: {ex}");
    }

    [Fact]
    public async Task Metrics_ClientCaConfigured_StillPlainHttpForEveryone()
    {
        using var client = Factory.CreateClient(Listener.Metrics);

        var answer = await Fixtures.GetAsync(client, "/healthz");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
    }

    [Fact]
    public async Task ClientCaFile_ReplacedByAnotherCa_NewConnectionsAreCheckedAgainstItAfterTheReloadInterval()
    {
        var certificates = Factory.Services.GetRequiredService<TlsCertificates>();
        File.Copy(_pki.OtherCaFile, _pki.CaFile, overwrite: true);
        File.SetLastWriteTimeUtc(_pki.CaFile, DateTime.UtcNow.AddMinutes(1));

        using (var before = _pki.HttpsClient(VerbsAddress(), _pki.Client))
        {
            Assert.Equal(HttpStatusCode.OK, (await Fixtures.GetAsync(before, "/inspect/gpu-node-01")).Status);
        }

        Factory.Time.Advance(ReloadInterval);
        using var old = _pki.HttpsClient(VerbsAddress(), _pki.Client);
        using var other = _pki.HttpsClient(VerbsAddress(), _pki.OtherClient);

        await Assert.ThrowsAsync<HttpRequestException>(() => old.GetAsync(new Uri("/inspect", UriKind.Relative)));
        Assert.Equal(HttpStatusCode.OK, (await Fixtures.GetAsync(other, "/inspect/gpu-node-01")).Status);
        Assert.Equal(1, certificates.ClientCaReloads);
    }

    private Uri VerbsAddress() => Factory.Address(Listener.Verbs, "https");
}

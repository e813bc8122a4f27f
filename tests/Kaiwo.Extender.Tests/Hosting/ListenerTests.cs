using System.Net;
using System.Text;
using Kaiwo.Extender.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>The names cluster on real Kestrel with all three listeners: verbs, metrics, and the admission webhook over HTTPS.</summary>
public sealed class ThreeListeners() : CertifiedExtenderFixture(
    TestPki.Create(ExtenderFactory.Now), new Dictionary<string, string?> { ["Admission:Enabled"] = "true" }, kestrel: true);

/// <summary>
/// Every endpoint on every listener of a real Kestrel server: each answers on its own listener, and anywhere else gets
/// the empty 404 of a path that does not exist.
/// </summary>
public sealed class ListenerTests(ThreeListeners server) : IClassFixture<ThreeListeners>
{
    /// <summary>A body no verb and no webhook accepts: an endpoint that is there answers 400, one that is not, 404.</summary>
    private const string Malformed = "{";

    public static TheoryData<string, string, string, int> Matrix()
    {
        var data = new TheoryData<string, string, string, int>();
        (string Method, string Path, string Home, int Status)[] endpoints =
        [
            ("POST", "/filter", "Verbs", 400),
            ("POST", "/prioritize", "Verbs", 400),
            ("POST", "/bind", "Verbs", 400),
            ("POST", "/preempt", "Verbs", 400),
            ("GET", "/inspect", "Verbs", 200),
            ("GET", "/inspect/gpu-node-01", "Verbs", 200),
            ("GET", "/metrics", "Metrics", 200),
            ("GET", "/healthz", "Metrics", 200),
            ("GET", "/readyz", "Metrics", 200),
            ("POST", "/admission/mutate-pods", "Webhook", 400),
        ];
        foreach (var (method, path, home, status) in endpoints)
        {
            foreach (var listener in new[] { "Verbs", "Metrics", "Webhook" })
            {
                data.Add(listener, method, path, listener == home ? status : 404);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Endpoint_OnEachListener_AnswersOnItsOwnAndIs404Elsewhere(string listener, string method, string path, int expected)
    {
        var on = Enum.Parse<Listener>(listener);
        using var client = on == Listener.Webhook
            ? server.Pki.HttpsClient(server.Factory.Address(on, "https"), certificate: null)
            : server.Factory.CreateClient(on);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = new StringContent(Malformed, Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(expected, (int)response.StatusCode);
        if (expected == 404 && !path.StartsWith("/inspect/", StringComparison.Ordinal))
        {
            // Nothing that tells the endpoint is there.
            Assert.Equal(string.Empty, body);
        }
    }

    [Fact]
    public async Task Verbs_HostHeaderOfTheMetricsPort_StillOnlyTheListenerDecides()
    {
        using var client = server.Factory.CreateClient(Listener.Metrics);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/bind") { Content = new StringContent(Malformed, Encoding.UTF8, "application/json") };
        request.Headers.Host = $"127.0.0.1:{server.Factory.Address(Listener.Verbs).Port}";

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public void EveryEndpoint_OfTheService_NamesTheListenerItIsServedOn()
    {
        var endpoints = server.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();

        Assert.NotEmpty(endpoints);
        Assert.All(endpoints, e => Assert.True(e.Metadata.GetMetadata<ServedOnMetadata>() is not null, $"{e.RoutePattern.RawText} names no listener"));
    }

    [Fact]
    public void Listeners_OnKestrel_EachOnItsOwnPort()
    {
        var ports = new[] { Listener.Verbs, Listener.Metrics, Listener.Webhook }.Select(l => server.Factory.Address(l).Port).ToList();

        Assert.Equal(3, ports.Distinct().Count());
        Assert.All(ports, p => Assert.NotEqual(0, p));
    }
}

/// <summary>The <c>Listeners</c> settings are validated at start: each problem names the setting, its value and what is accepted.</summary>
public sealed class ListenerSettingsTests
{
    public static TheoryData<string, string, string> BadUrls() => new()
    {
        { "Listeners:Verbs:Url", "127.0.0.1:8888", "Listeners:Verbs:Url \"127.0.0.1:8888\" is not an http:// or https:// URL" },
        { "Listeners:Verbs:Url", "ftp://127.0.0.1:21", "Listeners:Verbs:Url \"ftp://127.0.0.1:21\" is not an http:// or https:// URL" },
        { "Listeners:Verbs:Url", "http://127.0.0.1", "Listeners:Verbs:Url \"http://127.0.0.1\" has no port" },
        { "Listeners:Verbs:Url", "http://127.0.0.1:8888/extender", "Listeners:Verbs:Url \"http://127.0.0.1:8888/extender\" has a path" },
        { "Listeners:Verbs:Url", "http://extender.local:8888", "Listeners:Verbs:Url \"http://extender.local:8888\" names the host \"extender.local\"" },
        { "Listeners:Verbs:Url", "http://127.0.0.1:99999", "Listeners:Verbs:Url \"http://127.0.0.1:99999\" is not an http:// or https:// URL with a port from 0 to 65535" },
        { "Listeners:Verbs:Url", "http://0.0.0.0:8888", "Listeners:Verbs:Url \"http://0.0.0.0:8888\" is not loopback; the verbs bind pods, so off loopback they need https:// and Tls:ClientCaFile" },
        { "Listeners:Verbs:Url", "http://*:8888", "Listeners:Verbs:Url \"http://*:8888\" is not loopback" },
        { "Listeners:Metrics:Url", "http://0.0.0.0:8888", "Listeners:Metrics:Url \"http://0.0.0.0:8888\" has port 8888, the port of Listeners:Verbs; every listener needs its own port" },
        { "Listeners:Metrics:Url", "", "Listeners:Metrics:Url \"\" is not set" },
        { "Listeners:Verbs:MaxConnections", "0", "Listeners:Verbs:MaxConnections is 0; it must be from 1 to 100000" },
        { "Listeners:RequestHeadersTimeout", "00:00:00", "Listeners:RequestHeadersTimeout is 00:00:00; it must be from 00:00:01 to 00:05:00" },
        { "Listeners:KeepAliveTimeout", "-00:00:01", "Listeners:KeepAliveTimeout is -00:00:01; it must be from 00:00:01 to 01:00:00" },
        { "Listeners:MinDataRateGracePeriod", "00:00:01", "Listeners:MinDataRateGracePeriod is 00:00:01; it must be from 00:00:02 to 00:05:00" },
        { "Listeners:MaxRequestHeadersBytes", "100", "Listeners:MaxRequestHeadersBytes is 100; it must be from 4096 to 1048576" },
        { "Listeners:MinDataRateBytesPerSecond", "0", "Listeners:MinDataRateBytesPerSecond is 0; it must be from 1 to 1000000000" },
    };

    [Theory]
    [MemberData(nameof(BadUrls))]
    public void Start_BadListenerSetting_StopsWithAMessageNamingItsValueAndWhatIsAccepted(string key, string value, string expected)
    {
        using var factory = ExtenderFactory.ForMode("names", new Dictionary<string, string?> { [key] = value });

        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains(ex.Failures, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Start_MetricsOverHttpsOrWebhookOverHttp_StopsNamingEach()
    {
        using var pki = TestPki.Create(ExtenderFactory.Now);
        var settings = pki.Settings(clientCa: false);
        settings["Listeners:Metrics:Url"] = "https://0.0.0.0:9090";
        settings["Listeners:Webhook:Url"] = "http://0.0.0.0:8443";
        settings["Admission:Enabled"] = "true";
        using var factory = ExtenderFactory.ForMode("names", settings);

        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains(ex.Failures, f => f.StartsWith("Listeners:Metrics:Url \"https://0.0.0.0:9090\" is HTTPS; the metrics listener serves plain HTTP", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("Listeners:Webhook:Url \"http://0.0.0.0:8443\" is plain HTTP; the API server calls webhooks over HTTPS only", StringComparison.Ordinal));
    }

    [Fact]
    public void Start_ClientCaWithPlainHttpVerbs_StopsSayingClientCertificatesNeedHttps()
    {
        using var pki = TestPki.Create(ExtenderFactory.Now);
        using var factory = ExtenderFactory.ForMode("names", pki.Settings(clientCa: true));

        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains(ex.Failures, f => f.StartsWith("Tls:ClientCaFile is set but Listeners:Verbs:Url \"http://127.0.0.1:8888\" is plain HTTP", StringComparison.Ordinal));
    }

    [Fact]
    public void Start_ClientCaFileWithoutCertificates_StopsNamingTheFile()
    {
        using var pki = TestPki.Create(ExtenderFactory.Now);
        var settings = pki.Settings(clientCa: true);
        settings["Listeners:Verbs:Url"] = "https://0.0.0.0:8888";
        File.WriteAllText(pki.CaFile, "not a certificate\n");
        using var factory = ExtenderFactory.ForMode("names", settings);

        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains(ex.Failures, f => f.StartsWith($"Tls:ClientCaFile \"{pki.CaFile}\" does not load as PEM CA certificates", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_WebhookDisabled_ItsUrlIsNotChecked()
    {
        await using var factory = ExtenderFactory.ForMode("names", new Dictionary<string, string?> { ["Listeners:Webhook:Url"] = "http://0.0.0.0:8888" });
        using var client = factory.CreateClient();

        var answer = await Fixtures.GetAsync(client, "/healthz");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
    }
}

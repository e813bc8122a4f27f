using Kaiwo.Extender.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace Kaiwo.Extender.Tests;

/// <summary>
/// The real extender (Program) in memory, configured through its own settings keys, with a fixed clock. In memory
/// there are no listeners: every request counts as arriving on each of them. With <c>kestrel</c> it runs on a real
/// Kestrel server, its listeners on free loopback ports unless the settings name others, for what only the server
/// enforces (listeners, TLS, limits); <see cref="Address"/> says where each one is, and <c>port</c> picks the
/// verbs listener's port beforehand (0: any free one), for a caller that must know it before the start.
/// </summary>
public sealed class ExtenderFactory : WebApplicationFactory<Program>
{
    /// <summary>The time the fake clock shows: after every timestamp in the fixtures.</summary>
    public static readonly DateTimeOffset Now = new(2026, 11, 23, 14, 0, 0, TimeSpan.Zero);

    private readonly IReadOnlyDictionary<string, string?> _settings;
    private readonly bool _fakeTime;
    private readonly bool _kestrel;

    public ExtenderFactory(IReadOnlyDictionary<string, string?> settings, bool kestrel = false, bool fakeTime = true, int port = 0)
    {
        _fakeTime = fakeTime;
        _kestrel = kestrel;
        if (kestrel)
        {
            var listeners = new Dictionary<string, string?>(StringComparer.Ordinal)
            {
                ["Listeners:Verbs:Url"] = $"http://127.0.0.1:{port}",
                ["Listeners:Metrics:Url"] = "http://127.0.0.1:0",
                ["Listeners:Webhook:Url"] = "https://127.0.0.1:0",
            };
            foreach (var (key, value) in settings)
            {
                listeners[key] = value;
            }

            settings = listeners;
            UseKestrel();
        }

        _settings = settings;
    }

    public FakeTimeProvider Time { get; } = new(Now);

    public bool IsKestrel => _kestrel;

    /// <summary>Where <paramref name="listener"/> of the started Kestrel server listens, as <paramref name="scheme"/>://127.0.0.1:port.</summary>
    internal Uri Address(Listener listener, string scheme = "http")
    {
        StartServer();
        var bound = Services.GetRequiredService<ListenerEndpoints>().Bound(listener);
        var endpoint = bound.Count > 0 ? bound[0] : throw new InvalidOperationException($"listener {listener} is not bound");
        return new UriBuilder(scheme, "127.0.0.1", endpoint.Port).Uri;
    }

    /// <summary>A client of <paramref name="listener"/> (plain HTTP) on the Kestrel server.</summary>
    internal HttpClient CreateClient(Listener listener) => new() { BaseAddress = Address(listener) };

    /// <summary>The standalone cluster of a payload mode: the nodes that mode's payloads name.</summary>
    public static ExtenderFactory ForMode(string mode, IReadOnlyDictionary<string, string?>? more = null, bool kestrel = false)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal) { ["Extender:ClusterFile"] = Fixtures.ClusterFile(mode) };
        foreach (var (key, value) in more ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return new ExtenderFactory(settings, kestrel);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // Decisions are logged at Information: keep the test output to warnings.
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        if (!_kestrel)
        {
            builder.ConfigureTestServices(services => services.AddTransient<IStartupFilter, EveryListener>());
        }

        if (_fakeTime)
        {
            builder.ConfigureTestServices(services =>
            {
                services.RemoveAll<TimeProvider>();
                services.AddSingleton<TimeProvider>(Time);
            });
        }
    }
}

/// <summary>In memory, a request arrives on no listener: let it count as arriving on each, ahead of the gate.</summary>
internal sealed class EveryListener : IStartupFilter, IListenerFeature
{
    public bool Serves(Listener listener) => true;

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, then) =>
        {
            context.Features.Set<IListenerFeature>(this);
            return then(context);
        });
        next(app);
    };
}

/// <summary>A started extender and a client, shared by the tests of one class.</summary>
public abstract class ExtenderFixture : IAsyncLifetime
{
    private HttpClient? _client;

    protected ExtenderFixture(ExtenderFactory factory) => Factory = factory;

    public ExtenderFactory Factory { get; }

    public HttpClient Client => _client ?? throw new InvalidOperationException("the fixture is not initialized");

    /// <summary>On Kestrel, the client of the verbs listener.</summary>
    public virtual Task InitializeAsync()
    {
        _client = Factory.IsKestrel ? Factory.CreateClient(Listener.Verbs) : Factory.CreateClient();
        return Task.CompletedTask;
    }

    public virtual async Task DisposeAsync()
    {
        _client?.Dispose();
        await Factory.DisposeAsync();
    }
}

/// <summary>The cluster of the nodeCacheCapable payloads (payloads/cluster/names-nodes.yaml).</summary>
public sealed class NamesCluster() : ExtenderFixture(ExtenderFactory.ForMode("names"));

/// <summary>The cluster of the full-NodeList payloads (payloads/cluster/full-nodes.yaml).</summary>
public sealed class FullCluster() : ExtenderFixture(ExtenderFactory.ForMode("full"));

/// <summary>The names cluster again, for replaying every captured call without disturbing the scenarios on <see cref="NamesCluster"/>.</summary>
public sealed class NamesReplayCluster() : ExtenderFixture(ExtenderFactory.ForMode("names"));

/// <summary>The full cluster again, for replaying every captured call without disturbing the scenarios on <see cref="FullCluster"/>.</summary>
public sealed class FullReplayCluster() : ExtenderFixture(ExtenderFactory.ForMode("full"));

/// <summary>No cluster file configured: the example cluster that ships with the service.</summary>
public sealed class ExampleCluster() : ExtenderFixture(new ExtenderFactory(new Dictionary<string, string?>()));

/// <summary>The names cluster on a real Kestrel server with the smallest body limit the settings allow.</summary>
public sealed class SmallBodyLimitCluster() : ExtenderFixture(
    ExtenderFactory.ForMode("names", new Dictionary<string, string?> { ["Extender:MaxRequestBodyBytes"] = "65536" }, kestrel: true))
{
    public const int Limit = 65536;
}

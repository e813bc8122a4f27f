using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Hosting;

/// <summary>Which listeners a request arrived on, set on every connection by the listener that accepted it.</summary>
internal interface IListenerFeature
{
    bool Serves(Listener listener);
}

/// <summary>A connection accepted by one of the extender's Kestrel listeners.</summary>
internal sealed record ListenerFeature(Listener Listener) : IListenerFeature
{
    public bool Serves(Listener listener) => listener == Listener;
}

/// <summary>Endpoint metadata: the one listener an endpoint answers on; anywhere else it is a 404.</summary>
internal sealed record ServedOnMetadata(Listener Listener);

/// <summary>
/// The extender's Kestrel: one endpoint per listener of <see cref="ListenerOptions"/> (HTTP/1.1 only, so that a
/// connection carries one request at a time and the connection limits bound the work in flight), each with its own
/// connection limit, HTTPS where its URL says so, and the shared request limits; and the gate that answers 404 to a
/// request for an endpoint of another listener.
/// </summary>
internal static class ListenerHosting
{
    /// <summary>Registers the options of <c>Listeners</c> and <c>Tls</c> (validated at start), the certificates, and Kestrel's endpoints and limits.</summary>
    public static WebApplicationBuilder AddListeners(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ListenerOptions>().Bind(builder.Configuration.GetSection(ListenerOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ListenerOptions>, ListenerOptionsValidator>();
        builder.Services.AddOptions<TlsOptions>().Bind(builder.Configuration.GetSection(TlsOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<TlsOptions>, TlsOptionsValidator>();
        builder.Services.AddSingleton<TlsCertificates>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TlsCertificates>());
        builder.Services.AddSingleton<ListenerEndpoints>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ListenerEndpoints>());
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IServiceProvider>(Configure);
        return builder;
    }

    /// <summary>Marks the endpoint as served on <paramref name="listener"/> only.</summary>
    public static TBuilder ServedOn<TBuilder>(this TBuilder endpoint, Listener listener)
        where TBuilder : IEndpointConventionBuilder =>
        endpoint.WithMetadata(new ServedOnMetadata(listener));

    /// <summary>
    /// Routing, then the gate: a request reaches an endpoint only on the listener the endpoint is served on. Anything
    /// else (another listener, an endpoint that names none, a connection that came through no listener of ours) gets
    /// the same empty 404 as a path that does not exist, so that one port does not even tell what the other serves.
    /// </summary>
    public static WebApplication UseListenerGate(this WebApplication app)
    {
        app.UseRouting();
        app.Use((context, next) =>
        {
            if (context.GetEndpoint() is { } endpoint
                && !(endpoint.Metadata.GetMetadata<ServedOnMetadata>() is { } servedOn
                    && context.Features.Get<IListenerFeature>()?.Serves(servedOn.Listener) == true))
            {
                context.SetEndpoint(null);
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
        return app;
    }

    private static void Configure(KestrelServerOptions kestrel, IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<ListenerOptions>>().Value;
        var admission = services.GetRequiredService<IOptions<Admission.AdmissionOptions>>().Value;
        var endpoints = services.GetRequiredService<ListenerEndpoints>();
        var certificates = services.GetRequiredService<TlsCertificates>();

        var limits = kestrel.Limits;
        limits.MaxRequestBodySize = services.GetRequiredService<IOptions<ExtenderOptions>>().Value.MaxRequestBodyBytes;
        limits.MaxRequestHeadersTotalSize = options.MaxRequestHeadersBytes;
        limits.RequestHeadersTimeout = options.RequestHeadersTimeout;
        limits.KeepAliveTimeout = options.KeepAliveTimeout;
        limits.MinRequestBodyDataRate = new MinDataRate(options.MinDataRateBytesPerSecond, options.MinDataRateGracePeriod);
        limits.MinResponseDataRate = new MinDataRate(options.MinDataRateBytesPerSecond, options.MinDataRateGracePeriod);

        // Connections are limited per listener (below), not for the whole server: a full metrics port must not refuse kube-scheduler.
        limits.MaxConcurrentConnections = null;
        kestrel.AddServerHeader = false;

        foreach (var listener in ListenerOptions.Active(admission.Enabled))
        {
            var settings = options.Settings(listener);
            var address = ListenerAddress.TryParse(settings.Url, out _)!;
            void Endpoint(ListenOptions listen)
            {
                listen.Protocols = HttpProtocols.Http1;
                endpoints.Add(listener, settings, address.Https, listen);
                if (address.Https)
                {
                    listen.UseHttps(Https(listener, options, certificates));
                }
            }

            if (address.Localhost)
            {
                kestrel.ListenLocalhost(address.Port, Endpoint);
            }
            else if (address.Address!.Equals(IPAddress.IPv6Any))
            {
                kestrel.ListenAnyIP(address.Port, Endpoint);
            }
            else
            {
                kestrel.Listen(address.Address, address.Port, Endpoint);
            }
        }
    }

    private static HttpsConnectionAdapterOptions Https(Listener listener, ListenerOptions options, TlsCertificates certificates)
    {
        var https = new HttpsConnectionAdapterOptions
        {
            ServerCertificateSelector = (_, _) => certificates.Current,
            HandshakeTimeout = options.RequestHeadersTimeout,
            CheckCertificateRevocation = false,
        };

        // Only the verbs authenticate their clients. A client without a certificate of the client CA does not complete
        // the handshake: it never reaches the HTTP parser, the request limits or the verbs.
        if (listener == Listener.Verbs && certificates.RequiresClientCertificates)
        {
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.ClientCertificateValidation = (certificate, chain, _) => certificates.IsTrustedClient(certificate, chain);
        }

        return https;
    }
}

/// <summary>
/// The endpoints Kestrel bound for each listener and their connection limits: a connection beyond
/// <see cref="ListenerSettings.MaxConnections"/> is closed as soon as it is accepted, before TLS, and the connections
/// already open go on. Logs where each listener is once the server has started, and when a listener fills up and has
/// room again (not every refused connection: a flood would flood the log too).
/// </summary>
internal sealed partial class ListenerEndpoints(IHostApplicationLifetime lifetime, ILogger<ListenerEndpoints> log) : IHostedService
{
    private readonly Lock _gate = new();
    private readonly List<(Listener Listener, string Scheme, ListenOptions Options)> _bound = [];
    private readonly Dictionary<Listener, ConnectionLimit> _limits = [];

    /// <summary>Where <paramref name="listener"/> listens: the bound addresses and ports (a port 0 resolved) once the server has started.</summary>
    public IReadOnlyList<IPEndPoint> Bound(Listener listener)
    {
        lock (_gate)
        {
            return [.. _bound.Where(b => b.Listener == listener).Select(b => b.Options.IPEndPoint).OfType<IPEndPoint>()];
        }
    }

    /// <summary>Connections refused because <paramref name="listener"/> was full, since the start.</summary>
    public long Refused(Listener listener)
    {
        lock (_gate)
        {
            return _limits.TryGetValue(listener, out var limit) ? limit.Refused : 0;
        }
    }

    /// <summary>Every listener with its refused connections, for the metrics.</summary>
    public IReadOnlyList<(Listener Listener, long Refused)> RefusedByListener()
    {
        lock (_gate)
        {
            return [.. _limits.Select(kv => (kv.Key, kv.Value.Refused))];
        }
    }

    public void Add(Listener listener, ListenerSettings settings, bool https, ListenOptions options)
    {
        ConnectionLimit limit;
        lock (_gate)
        {
            _bound.Add((listener, https ? "https" : "http", options));
            if (!_limits.TryGetValue(listener, out limit!))
            {
                limit = new ConnectionLimit(listener, settings.MaxConnections, log);
                _limits.Add(listener, limit);
            }
        }

        var feature = new ListenerFeature(listener);
        options.Use(next => connection =>
        {
            connection.Features.Set<IListenerFeature>(feature);
            return limit.RunAsync(connection, next);
        });
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            lock (_gate)
            {
                foreach (var (listener, scheme, options) in _bound)
                {
                    LogListening(log, listener, scheme, options.EndPoint, _limits[listener].Max);
                }
            }
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 70, Level = LogLevel.Information, Message = "Listener {Listener}: {Scheme}://{EndPoint}, at most {MaxConnections} connections")]
    private static partial void LogListening(ILogger logger, Listener listener, string scheme, EndPoint endPoint, int maxConnections);

    [LoggerMessage(EventId = 71, Level = LogLevel.Warning, Message = "Listener {Listener} is full ({MaxConnections} connections open): new connections are closed until one ends")]
    private static partial void LogFull(ILogger logger, Listener listener, int maxConnections);

    [LoggerMessage(EventId = 72, Level = LogLevel.Information, Message = "Listener {Listener} accepts connections again; {Refused} refused since the start")]
    private static partial void LogRoomAgain(ILogger logger, Listener listener, long refused);

    /// <summary>One listener's count of open connections, shared by its bound addresses.</summary>
    private sealed class ConnectionLimit(Listener listener, int max, ILogger log)
    {
        private int _open;
        private int _full;
        private long _refused;

        public int Max => max;

        public long Refused => Interlocked.Read(ref _refused);

        public async Task RunAsync(ConnectionContext connection, ConnectionDelegate next)
        {
            if (Interlocked.Increment(ref _open) > max)
            {
                Interlocked.Decrement(ref _open);
                Interlocked.Increment(ref _refused);
                if (Interlocked.Exchange(ref _full, 1) == 0)
                {
                    LogFull(log, listener, max);
                }

                // Returning closes the connection: nothing of it is read.
                return;
            }

            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                if (Interlocked.Decrement(ref _open) < max && Interlocked.Exchange(ref _full, 0) == 1)
                {
                    LogRoomAgain(log, listener, Refused);
                }
            }
        }
    }
}

using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Live;
using Kaiwo.Extender.Standalone;
using Kaiwo.Extender.Verbs;
using Kaiwo.Scheduling.Gangs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

// Commands of the same program run before any web host is built.
if (args.Length > 0 && args[0] == "simulate")
{
    return Kaiwo.Extender.Simulation.SimulateCommand.Run(args[1..], Console.Out, Console.Error);
}

// `inspect [--url U] [NODE]`: a client of a running extender, not a server; no web host is built for it.
if (args is ["inspect", ..])
{
    return await Kaiwo.Extender.Inspect.InspectCommand.RunAsync(args[1..], Console.Out, Console.Error);
}

var builder = WebApplication.CreateBuilder(args);

// `--cluster-file F` is the documented flag; the rest of the command line binds as usual (--Section:Key value).
builder.Configuration.AddCommandLine(args, new Dictionary<string, string> { ["--cluster-file"] = "Extender:ClusterFile" });

builder.Services.AddOptions<ExtenderOptions>().Bind(builder.Configuration.GetSection(ExtenderOptions.Section)).ValidateOnStart();
builder.Services.AddOptions<SchedulingOptions>().Bind(builder.Configuration.GetSection(SchedulingOptions.Section)).ValidateOnStart();
builder.Services.AddOptions<KubernetesOptions>().Bind(builder.Configuration.GetSection(KubernetesOptions.Section)).ValidateOnStart();
builder.Services.AddSingleton<IValidateOptions<ExtenderOptions>, ExtenderOptionsValidator>();
builder.Services.AddSingleton<IValidateOptions<SchedulingOptions>, ExtenderOptionsValidator>();
builder.Services.AddSingleton<IValidateOptions<KubernetesOptions>, ExtenderOptionsValidator>();

builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<SchedulingOptions>>().Value.ToPipelineOptions());
builder.Services.AddSingleton(sp => new SchedulingPipeline(sp.GetRequiredService<PipelineOptions>()));
builder.Services.AddSingleton(sp => new ClusterState(sp.GetRequiredService<PipelineOptions>().Requests, sp.GetRequiredService<PipelineOptions>().Placement));
builder.Services.AddSingleton(sp => new PendingPods(sp.GetRequiredService<IOptions<ExtenderOptions>>().Value.PendingPodCapacity));
builder.Services.AddSingleton<Readiness>();
builder.Services.AddSingleton<QueueCatalog>();
builder.Services.AddSingleton<QueueState>();
builder.Services.AddSingleton(sp => new GangReconciler(
    sp.GetRequiredService<ClusterState>(),
    sp.GetRequiredService<SchedulingPipeline>(),
    new GangOptions(
        sp.GetRequiredService<IOptions<SchedulingOptions>>().Value.GangReservationTtl,
        sp.GetRequiredService<IOptions<ExtenderOptions>>().Value.EffectiveSchedulerNames,
        sp.GetRequiredService<IOptions<SchedulingOptions>>().Value.SchedulerName)));
builder.Services.AddSingleton<IReservationStep>(sp => sp.GetRequiredService<GangReconciler>());
builder.Services.AddSingleton<ExtenderVerbs>();
builder.Services.AddSingleton<ExtenderMetrics>();
builder.Services.AddOpenTelemetry()
    .ConfigureResource(resource => resource.AddService("kaiwo-scheduler-extender"))
    .WithMetrics(metrics => metrics.AddMeter(ExtenderMetrics.MeterName).AddPrometheusExporter());

// The cluster comes from a file (standalone) or from the API server (live): the adapters plug in here.
var mode = ClusterMode.Resolve(
    builder.Configuration.GetSection(ExtenderOptions.Section).Get<ExtenderOptions>() ?? new ExtenderOptions(),
    builder.Configuration.GetSection(KubernetesOptions.Section).Get<KubernetesOptions>() ?? new KubernetesOptions());
builder.Services.AddSingleton(mode);
if (mode.Kind == ClusterModeKind.Live)
{
    builder.Services.AddSingleton<IKubernetesApi>(_ => new KubernetesApi(new k8s.Kubernetes(mode.Kubernetes!)));
    builder.Services.AddSingleton<PodTarget>();
    builder.Services.AddSingleton<LiveBinder>();
    builder.Services.AddPodEvents(builder.Configuration);
    builder.Services.AddSingleton<IPodBinder>(sp => sp.GetRequiredService<LiveBinder>());
    builder.Services.AddSingleton<LiveCluster>();
    builder.Services.AddHostedService(sp => sp.GetRequiredService<LiveCluster>());
    builder.Services.AddHostedService<QueueStatusWriter>();
    builder.Services.AddSingleton<IPodNudger, AnnotationNudger>();
}
else
{
    builder.Services.AddSingleton<IPodBinder, InMemoryBinder>();
    builder.Services.AddHostedService<StandaloneCluster>();
    builder.Services.AddSingleton<IPodNudger, NoNudger>();
}

// Reservations (gangs, starving pods): the steps hold the rules, the loop runs them after state changes.
builder.Services.AddSingleton<ReservationLoop>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<ReservationLoop>());

builder.AddAdmissionWebhook();
builder.AddListeners();

var app = builder.Build();
StartupValidation.ValidateAll(app.Services);
_ = app.Services.GetRequiredService<ExtenderMetrics>(); // its observable instruments exist from the first scrape
app.UseListenerGate();
ExtenderEndpoints.Map(app);
app.MapAdmissionWebhook();
app.Run();
return 0;

/// <summary>The entry point, public for the integration tests' WebApplicationFactory.</summary>
public partial class Program;

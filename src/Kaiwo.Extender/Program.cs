using Kaiwo.Extender.Hosting;
using Kaiwo.Extender.Standalone;
using Kaiwo.Extender.Verbs;
using Kaiwo.Scheduling.Pipeline;
using Kaiwo.Scheduling.State;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);

// `--cluster-file F` is the documented flag; the rest of the command line binds as usual (--Section:Key value).
builder.Configuration.AddCommandLine(args, new Dictionary<string, string> { ["--cluster-file"] = "Extender:ClusterFile" });

builder.Services.AddOptions<ExtenderOptions>().Bind(builder.Configuration.GetSection(ExtenderOptions.Section)).ValidateOnStart();
builder.Services.AddOptions<SchedulingOptions>().Bind(builder.Configuration.GetSection(SchedulingOptions.Section)).ValidateOnStart();
builder.Services.AddSingleton<IValidateOptions<ExtenderOptions>, ExtenderOptionsValidator>();
builder.Services.AddSingleton<IValidateOptions<SchedulingOptions>, ExtenderOptionsValidator>();

builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<SchedulingOptions>>().Value.ToPipelineOptions());
builder.Services.AddSingleton(sp => new SchedulingPipeline(sp.GetRequiredService<PipelineOptions>()));
builder.Services.AddSingleton(sp => new ClusterState(sp.GetRequiredService<PipelineOptions>().Requests));
builder.Services.AddSingleton(sp => new PendingPods(sp.GetRequiredService<IOptions<ExtenderOptions>>().Value.PendingPodCapacity));
builder.Services.AddSingleton<Readiness>();
builder.Services.AddSingleton<ExtenderVerbs>();

// Standalone mode serves a cluster file (the example cluster by default); the live API server adapter plugs in here.
builder.Services.AddSingleton<IPodBinder, InMemoryBinder>();
builder.Services.AddHostedService<StandaloneCluster>();

builder.WebHost.ConfigureKestrel((context, kestrel) =>
    kestrel.Limits.MaxRequestBodySize = context.Configuration.GetSection(ExtenderOptions.Section).Get<ExtenderOptions>()?.MaxRequestBodyBytes
        ?? new ExtenderOptions().MaxRequestBodyBytes);

var app = builder.Build();
StartupValidation.ValidateAll(app.Services);
ExtenderEndpoints.Map(app);
app.Run();

/// <summary>The entry point, public for the integration tests' WebApplicationFactory.</summary>
public partial class Program;

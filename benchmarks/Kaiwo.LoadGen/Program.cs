using System.Text;
using Kaiwo.LoadGen;

// Two runs against the extender as its own process (see benchmarks/README.md):
//   http:  standalone on a generated busy cluster; N keep-alive connections in a closed loop on /filter (or
//          /prioritize), then on /healthz; calls/s and latency percentiles against the targets of issue 9.
//   scale: live mode against a minimal kube-apiserver serving 20,000 nodes and 200,000 pods; time to the first list
//          applied, resident memory, and filter latency there against a 5,000-node cluster.
//   apiserver: the scale run's minimal kube-apiserver alone (prints a kubeconfig), to profile an extender by hand.
LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(LoadOptions.Usage);
    return 2;
}

if (!File.Exists(options.ExtenderAssembly))
{
    Console.Error.WriteLine($"--extender {options.ExtenderAssembly}: no such file; build it first (dotnet build -c Release src/Kaiwo.Extender)");
    return 1;
}

var work = Directory.CreateTempSubdirectory("kaiwo-loadgen-");
if (options.Command == "apiserver")
{
    // The scale run's kube-apiserver alone, for profiling an extender started by hand against it.
    await using var server = await MinimalApiServer.StartAsync(new SyntheticCluster(options.Nodes, options.Pods), TimeSpan.FromSeconds(10));
    var kubeconfig = server.WriteKubeconfig(Path.Combine(work.FullName, "kubeconfig"));
    Console.WriteLine($"serving {options.Nodes} nodes and {options.Pods} pods at {server.BaseAddress}; kubeconfig: {kubeconfig}; Ctrl+C or SIGTERM ends it");
    await server.WaitForShutdownAsync();
    return 0;
}

Console.Error.WriteLine($"work folder (cluster file, extender logs): {work.FullName}");
var (report, passed) = options.Command == "http"
    ? await HttpRun.RunAsync(options, work.FullName)
    : await ScaleRun.RunAsync(options, work.FullName);

Console.WriteLine(report);
if (options.Output is { } output)
{
    await File.WriteAllTextAsync(output, report, Encoding.UTF8);
    Console.Error.WriteLine($"report written to {output}");
}

return passed ? 0 : 1;

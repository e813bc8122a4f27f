using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Kaiwo.Benchmarks.ExtenderArgsBenchmarks).Assembly).Run(args);

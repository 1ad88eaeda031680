using BenchmarkDotNet.Running;

namespace GupSim.Benchmarks;

/// <summary>Runs the benchmarks; pass BenchmarkDotNet's own arguments, e.g. <c>--filter *PfnToPage*</c>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
#if DEBUG
        Console.Error.WriteLine("warning: benchmarks built in Debug; run with -c Release");
#endif
        if (args.Length > 0 && args[0] == "probe-churn") return ChurnProbe.Run(args.Length > 1 ? args[1] : "1G");
        if (args.Length > 0 && args[0] == "probe-checkpoint") return CheckpointProbe.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 31);
        if (args.Length > 0 && args[0] == "probe") return RecordSubpagesProbe.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200);
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        foreach (var s in summaries)
            if (s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) return 1;
        return 0;
    }
}

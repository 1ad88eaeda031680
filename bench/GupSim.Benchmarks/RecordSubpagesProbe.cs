using System.Diagnostics;
using GupSim.Arch;

namespace GupSim.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project bench/GupSim.Benchmarks -- probe [reps]</c>: the RecordSubpages benchmarks'
/// Fill, page++ and section-run timed with a Stopwatch <em>interleaved</em> (one pass of each in turn, order
/// alternating, <c>reps</c> rounds after warm-up), so load from other processes hits all three alike; prints the
/// median and minimum ns per subpage and section-run / page++ for each model. A cross-check for BenchmarkDotNet's
/// sequential runs on a shared machine, not a test: nothing is asserted.
/// </summary>
internal static class RecordSubpagesProbe
{
    public static int Run(int reps)
    {
        Console.WriteLine($"{"model",-28} {"Fill med",9} {"page++ med",11} {"s-run med",10} {"s-run/page++ med",17} {"min",6} {"page++/Fill med",16}");
        foreach (var model in new[] { MemoryModel.SparsememVmemmap, MemoryModel.Sparsemem })
        {
            var b = new RecordSubpagesBenchmarks { Model = model };
            b.Setup();
            Report($"x86_64 1G {model.ToName()}", reps, [() => b.Fill(), () => b.PagePlusPlus(), () => b.SectionRun()]);
        }
        foreach (var model in new[] { MemoryModel.Flatmem, MemoryModel.Discontigmem, MemoryModel.Sparsemem })
        {
            var b = new RecordSubpages32Benchmarks { Model = model };
            b.Setup();
            Report($"i386 4M {model.ToName()}", reps, [() => b.Fill(), () => b.PagePlusPlus(), () => b.SectionRun()]);
        }
        return 0;
    }

    private static void Report(string name, int reps, Func<ulong>[] runs)
    {
        const double Ops = 4194304;
        var t = new List<double>[runs.Length];
        for (int k = 0; k < runs.Length; k++) t[k] = [];
        for (int w = 0; w < 30; w++) foreach (var r in runs) r();
        for (int rep = 0; rep < reps; rep++)
            for (int j = 0; j < runs.Length; j++)
            {
                int k = rep % 2 == 0 ? j : runs.Length - 1 - j;
                long start = Stopwatch.GetTimestamp();
                runs[k]();
                t[k].Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds / Ops);
            }
        double Med(List<double> l) { var c = l.Order().ToList(); return c[c.Count / 2]; }
        double fill = Med(t[0]), pp = Med(t[1]), sr = Med(t[2]);
        Console.WriteLine($"{name,-28} {fill,9:F3} {pp,11:F3} {sr,10:F3} {sr / pp,17:F3} {t[2].Min() / t[1].Min(),6:F3} {pp / fill,16:F3}");
    }
}

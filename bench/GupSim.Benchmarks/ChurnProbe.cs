using System.Diagnostics;
using System.Globalization;
using GupSim.Config;
using GupSim.Mm;

namespace GupSim.Benchmarks;

/// <summary>
/// <c>probe-churn [SIZE]</c>: boots the default machine and times <c>--churn SIZE</c> (default 1G) as a whole and
/// kind by kind (docs/performance.md, "A machine that has lived"). Best of five of min(wall clock, process CPU time):
/// on a loaded machine the CPU time is the fairer figure.
/// </summary>
internal static class ChurnProbe
{
    public static int Run(string size)
    {
        ulong bytes = Core.ByteSize.Parse(size);
        var inv = CultureInfo.InvariantCulture;
        double Best(Func<Machine, IReadOnlyList<IChurnKind>?> kinds)
        {
            double best = double.MaxValue;
            for (int r = 0; r < 5; r++)
            {
                var m = new MachineOptions().Boot();
                var k = kinds(m);
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                Churn.Execute(m, bytes, m.Spec.Seed, 0, "churn", afterBoot: true, k);
                double wall = sw.Elapsed.TotalMilliseconds;
                double used = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
                best = Math.Min(best, Math.Min(wall, used));
            }
            return best;
        }
        Console.WriteLine(string.Create(inv, $"churn {size} (all kinds): {Best(_ => null):0.0} ms"));
        var names = Churn.DefaultKinds(new MachineOptions().Boot()).Select(k => k.Name).ToList();
        for (int i = 0; i < names.Count; i++)
        {
            int j = i;
            Console.WriteLine(string.Create(inv, $"churn {size} ({names[j]} only): {Best(m => [Churn.DefaultKinds(m)[j]]):0.0} ms"));
        }
        return 0;
    }
}

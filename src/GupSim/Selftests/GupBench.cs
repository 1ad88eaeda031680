using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using GupSim.Gup;
using GupSim.Pages;

namespace GupSim.Selftests;

/// <summary>One contender of a benchmark: the GUP code (a strategy, or null for the version's own) on a machine.</summary>
/// <param name="Name">How the row is labelled.</param>
/// <param name="Machine">The machine (subjects on the same machine share one gup_test process).</param>
/// <param name="Strategy">The code to run; null for the machine's kernel version's own.</param>
public sealed record GupBenchSubject(string Name, Machine Machine, GupStrategy? Strategy);

/// <summary>One row of a benchmark: times over the measured rounds, ratios, and the deterministic counters of one ioctl.</summary>
public sealed record GupBenchRow(
    string Name,
    double GetMinUs,
    double GetMedianUs,
    double PutMinUs,
    double PutMedianUs,
    double GetPerPagePlusPlus,
    double GetPerFill,
    double PutPerPagePlusPlus,
    long Pages,
    bool Verified,
    string? VerifyFailure,
    GupCounterValues Counters);

/// <summary>A performance target of issue 5, evaluated on the rows it names.</summary>
public sealed record GupBenchTarget(string Name, double Value, double Limit, bool AtMost, bool Met);

/// <summary>What <see cref="GupBench.Run"/> measured.</summary>
public sealed record GupBenchResult(
    string Workload,
    GupTestCmd Cmd,
    long Pages,
    int Rounds,
    double FillMinUs,
    double FillMedianUs,
    IReadOnlyList<GupBenchRow> Rows,
    IReadOnlyList<GupBenchTarget> Targets,
    long PeakWorkingSetBytes);

/// <summary>
/// `gupsim bench`: GUP codes side by side on one workload (gup_test flags, default the 2021 seed command), in one
/// process, interleaved A B A B over several rounds after a verified warm-up round, each round also timing the
/// memory-fill limit — a vectorised store of the same number of pages[] entries, the least any recorder must do.
/// Not a test: nothing here asserts a time.
/// </summary>
public static class GupBench
{
    /// <summary>The seed command's flags.</summary>
    public static IReadOnlyList<string> SeedWorkload { get; } = ["-f", "/mnt/huge/file", "-m", "16384", "-r", "1", "-L", "-S", "-n", "512", "-w"];

    /// <summary>Runs the benchmark.</summary>
    /// <param name="subjects">The contenders; a "page++" one is expected for the ratios (its absence gives NaN ratios).</param>
    /// <param name="workload">gup_test flags.</param>
    /// <param name="rounds">Measured rounds (each runs every subject once).</param>
    /// <param name="stderr">Where setup errors go.</param>
    /// <exception cref="Core.GupSimException">Thrown when the workload cannot be set up on a subject's machine.</exception>
    public static GupBenchResult Run(IReadOnlyList<GupBenchSubject> subjects, IReadOnlyList<string> workload, int rounds, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(subjects);
        ArgumentNullException.ThrowIfNull(workload);
        if (subjects.Count == 0) throw new Core.GupSimException("bench: nothing to compare");
        if (rounds < 1) throw new Core.GupSimException("bench: --rounds must be at least 1");
        var processes = new Dictionary<Machine, GupTestProcess>();
        try
        {
            foreach (var s in subjects)
            {
                if (processes.ContainsKey(s.Machine)) continue;
                var selftest = new GupTestSelftest(s.Machine, new GupTestModule(s.Machine));
                var p = selftest.Prepare(workload, stderr, out int exit)
                    ?? throw new Core.GupSimException($"bench: gup_test {string.Join(' ', workload)} exited with {exit} during setup on {s.Name}'s machine");
                processes.Add(s.Machine, p);
            }
            var first = processes[subjects[0].Machine];
            long pages = (long)(first.Size >> subjects[0].Machine.Arch.PageShift);
            var verifying = subjects.Select(s => new GupTestModule(s.Machine, s.Strategy, verify: true)).ToArray();
            var timing = subjects.Select(s => new GupTestModule(s.Machine, s.Strategy, verify: false)).ToArray();

            // Warm-up round, verified: JIT, caches, and GupSim's oracle on every entry.
            var warm = new GupTestIoctlReport[subjects.Count];
            for (int i = 0; i < subjects.Count; i++) warm[i] = Ioctl(verifying[i], processes[subjects[i].Machine]);
            var fillArray = new PagePtr[pages];
            var fillFirst = FirstStructPage(subjects[0].Machine);
            MeasureFill(fillArray, fillFirst, subjects[0].Machine.StructPageSize);

            var get = new double[subjects.Count][];
            var put = new double[subjects.Count][];
            for (int i = 0; i < subjects.Count; i++)
            {
                get[i] = new double[rounds];
                put[i] = new double[rounds];
            }
            var fill = new double[rounds];
            for (int r = 0; r < rounds; r++)
            {
                fill[r] = MeasureFill(fillArray, fillFirst, subjects[0].Machine.StructPageSize);
                for (int i = 0; i < subjects.Count; i++)
                {
                    var rep = Ioctl(timing[i], processes[subjects[i].Machine]);
                    get[i][r] = rep.GetMicroseconds;
                    put[i][r] = rep.PutMicroseconds;
                }
            }

            int baseline = -1;
            for (int i = 0; i < subjects.Count; i++) if (subjects[i].Name == "page++") baseline = i;
            double baseGet = baseline >= 0 ? Median(get[baseline]) : double.NaN, basePut = baseline >= 0 ? Median(put[baseline]) : double.NaN;
            double fillMedian = Median(fill);
            var rows = new List<GupBenchRow>();
            for (int i = 0; i < subjects.Count; i++)
            {
                double gm = Median(get[i]), pm = Median(put[i]);
                var o = warm[i].Oracle;
                string? failure = warm[i].Verified ? null
                    : o is { AllCorrect: false } ? $"{o.Wrong} wrong entries; first {o.FirstWrongText}" : string.Join("; ", warm[i].Imbalances);
                rows.Add(new GupBenchRow(subjects[i].Name, get[i].Min(), gm, put[i].Min(), pm, gm / baseGet, gm / fillMedian, pm / basePut,
                    warm[i].NrPages, warm[i].Verified, failure, warm[i].GetCounters));
            }
            var cmd = first.Cmd;
            return new GupBenchResult(string.Join(' ', workload), cmd, pages, rounds, fill.Min(), fillMedian, rows, Targets(cmd, rows, subjects, fillMedian),
                Process.GetCurrentProcess().PeakWorkingSet64);
        }
        finally
        {
            foreach (var p in processes.Values) p.Dispose();
        }
    }

    /// <summary>One ioctl of the prepared process's command, with the size it was set up with; an oops in the put loop is rethrown.</summary>
    internal static GupTestIoctlReport Ioctl(GupTestModule module, GupTestProcess p)
    {
        var args = p.Args;
        args.Size = p.Size;
        int rc = module.Ioctl(p.Mm, p.Cmd, ref args, out var report, checkBalance: module.Verify);
        if (rc != 0 || report is null) throw new Core.GupSimException($"bench: the gup_test ioctl failed ({Core.ErrnoText.Strerror(rc)})");
        if (report.PutOops is { } oops) throw oops;
        return report;
    }

    /// <summary>
    /// Where the fill limit's progression starts: the struct page of the machine's first RAM pfn, as its arch and
    /// memory model place it (x86_64 VMEMMAP: 0xffffea0000000000 + pfn × 64; arm64: VMEMMAP_START for the first RAM
    /// page; classic SPARSEMEM: the first section's memmap).
    /// </summary>
    public static PagePtr FirstStructPage(Machine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        return machine.PfnToPage(Core.Pfn.FromUInt64(machine.MinPfn));
    }

    /// <summary>
    /// The memory-fill limit: stores an arithmetic progression of struct page pointers, from <paramref name="first"/>,
    /// into every entry, with the widest vectors the CPU has — what a perfect recorder would cost. Returns microseconds.
    /// </summary>
    public static double MeasureFill(Span<PagePtr> pages, PagePtr first, int structPageSize)
    {
        var words = MemoryMarshal.Cast<PagePtr, ulong>(pages);
        long start = Stopwatch.GetTimestamp();
        FillProgression(words, first.Address, (ulong)structPageSize);
        long stop = Stopwatch.GetTimestamp();
        return (stop - start) * 1e6 / Stopwatch.Frequency;
    }

    /// <summary>words[i] = first + i × step, vectorised.</summary>
    public static void FillProgression(Span<ulong> words, ulong first, ulong step)
    {
        int n = words.Length, lanes = Vector<ulong>.Count, i = 0;
        if (Vector.IsHardwareAccelerated && n >= lanes)
        {
            Span<ulong> init = stackalloc ulong[lanes];
            for (int k = 0; k < lanes; k++) init[k] = first + (ulong)k * step;
            var v = new Vector<ulong>(init);
            var inc = new Vector<ulong>((ulong)lanes * step);
            for (; i <= n - lanes; i += lanes)
            {
                v.CopyTo(words[i..]);
                v += inc;
            }
        }
        for (; i < n; i++) words[i] = first + (ulong)i * step;
    }

    private static double Median(double[] values)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /// <summary>
    /// Issue 5's targets that the rows allow to evaluate, and issue 11's release target: the put of every version's
    /// own code from v5.12 (whose unpin_user_pages() and put_page() loops drop one reference per run of entries with
    /// the same compound head; v5.11 puts each entry) within 4× the fill limit.
    /// </summary>
    private static List<GupBenchTarget> Targets(GupTestCmd cmd, List<GupBenchRow> rows, IReadOnlyList<GupBenchSubject> subjects, double fillMedianUs)
    {
        var t = new List<GupBenchTarget>();
        for (int i = 0; i < rows.Count; i++)
        {
            if (subjects[i].Strategy is not null || subjects[i].Machine.Version < Arch.KernelVersion.V5_12) continue;
            double putPerFill = rows[i].PutMedianUs / fillMedianUs;
            t.Add(new("put / fill limit (" + rows[i].Name + ")", putPerFill, 4.0, true, putPerFill <= 4.0));
        }
        GupBenchRow? Row(string name) => rows.FirstOrDefault(r => r.Name == name);
        var own = rows.FirstOrDefault(r => r.Name.EndsWith("(own)", StringComparison.Ordinal));
        if (own is not null && cmd == GupTestCmd.PinLongtermBenchmark)
            t.Add(new("PIN_LONGTERM get / fill limit (" + own.Name + ")", own.GetPerFill, 3.0, true, own.GetPerFill <= 3.0));
        if (own is not null && cmd == GupTestCmd.PinFastBenchmark)
            t.Add(new("PIN_FAST get / fill limit (" + own.Name + ")", own.GetPerFill, 2.0, true, own.GetPerFill <= 2.0));
        if (Row("section-run") is { } sr)
            t.Add(new("section-run get / page++ get", sr.GetPerPagePlusPlus, 1.10, true, sr.GetPerPagePlusPlus <= 1.10));
        if (Row("v5.11") is { } v511 && Row("patch1") is { } p1)
            t.Add(new("v5.11 get / patch1 get", v511.GetMedianUs / p1.GetMedianUs, 4.0, false, v511.GetMedianUs / p1.GetMedianUs >= 4.0));
        if (Row("patch1") is { } p1b && Row("merged") is { } merged)
            t.Add(new("patch1 get / merged get", p1b.GetMedianUs / merged.GetMedianUs, 1.5, false, p1b.GetMedianUs / merged.GetMedianUs >= 1.5));
        return t;
    }
}

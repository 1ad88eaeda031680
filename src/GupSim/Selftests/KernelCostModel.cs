using GupSim.Config;
using GupSim.Gup;

namespace GupSim.Selftests;

/// <summary>
/// Per-operation kernel costs in nanoseconds: an atomic read-modify-write on a struct page counter, a
/// pfn_to_page()/page_to_pfn() conversion, and one pages[] entry written (with the loop around it).
/// </summary>
public sealed record CostTable(double AtomicNs, double LookupNs, double EntryNs)
{
    /// <summary>The modelled kernel time of a get loop with counters <paramref name="c"/>, in microseconds.</summary>
    public double PredictUs(GupCounterValues c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return (AtomicNs * c.Atomics + LookupNs * (c.PfnToPageCalls + c.PageToPfnCalls) + EntryNs * c.PagesWrites) / 1000;
    }
}

/// <summary>A published figure, what the model predicts for it, and whether the table was fitted on it.</summary>
/// <param name="Label">Which code and workload.</param>
/// <param name="Source">Where the number was published (the patch or mail of the 2021 series, or a later one).</param>
/// <param name="PublishedUs">The published get time.</param>
/// <param name="PredictedUs">The model's prediction from GupSim's deterministic counters.</param>
/// <param name="Fitted">Whether the table was fitted on this figure.</param>
/// <param name="Note">What the counters do not see, where that explains a gap.</param>
public sealed record CostModelCheck(string Label, string Source, double PublishedUs, double PredictedUs, bool Fitted, string? Note)
{
    /// <summary>(predicted − published) / published.</summary>
    public double Error => (PredictedUs - PublishedUs) / PublishedUs;
}

/// <summary>
/// `--cost-model`: predicts the kernel's microseconds from GupSim's deterministic counters and a three-entry cost
/// table (docs/performance.md, "Modelled kernel time"). The table is solved exactly from the three published
/// PIN_LONGTERM figures of the 2021 series that differ in one kind of operation each — v5.11 (~87.6k us: one grab
/// per subpage), patch 1 0fa5bc4023c1 (~12.8k us: one grab per huge page, mem_map_offset() per subpage) and the
/// posted v1 with page++ (~4.4k us) — on the seed workload, and then checked against the published figures it was
/// not fitted on.
/// </summary>
public static class KernelCostModel
{
    /// <summary>The three figures the table is fitted on: v5.11 and patch 1 from 0fa5bc4023c1's message, v1 page++ from Joao Martins' v1 2/2 (2021-01-25).</summary>
    public const double V511Us = 87_600, Patch1Us = 12_800, V1PagePlusPlusUs = 4_400;

    /// <summary>
    /// Solves a·atomics + l·lookups + e·entries = published for the three fitting runs (Cramer's rule).
    /// </summary>
    /// <exception cref="Core.GupSimException">Thrown when the counters do not determine the three costs.</exception>
    public static CostTable Fit(GupCounterValues v511, GupCounterValues patch1, GupCounterValues pagePlusPlus)
    {
        ArgumentNullException.ThrowIfNull(v511);
        ArgumentNullException.ThrowIfNull(patch1);
        ArgumentNullException.ThrowIfNull(pagePlusPlus);
        double[,] m =
        {
            { v511.Atomics, v511.PfnToPageCalls + v511.PageToPfnCalls, v511.PagesWrites },
            { patch1.Atomics, patch1.PfnToPageCalls + patch1.PageToPfnCalls, patch1.PagesWrites },
            { pagePlusPlus.Atomics, pagePlusPlus.PfnToPageCalls + pagePlusPlus.PageToPfnCalls, pagePlusPlus.PagesWrites },
        };
        double[] y = [V511Us * 1000, Patch1Us * 1000, V1PagePlusPlusUs * 1000];
        double det = Det(m);
        if (Math.Abs(det) < 1e-9) throw new Core.GupSimException("cost model: the fitting runs' counters do not determine the costs");
        var x = new double[3];
        for (int col = 0; col < 3; col++)
        {
            var mc = (double[,])m.Clone();
            for (int row = 0; row < 3; row++) mc[row, col] = y[row];
            x[col] = Det(mc) / det;
        }
        return new CostTable(x[0], x[1], x[2]);
    }

    private static double Det(double[,] a) =>
        a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
        - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
        + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]);

    /// <summary>
    /// Fits the table on the seed workload of the machine <paramref name="options"/> describes (by default the seed
    /// machine) and checks it against every published figure the model can run: the merged
    /// 82e5d378b0e4 (~5.8k), per-element nth_page (~7.8k), PIN_FAST (~3.7k) and the 2 MiB hugetlb rows (Li Zhe 2025,
    /// `-HL -m 8192 -n 512`: ~14391 before a03db236aebf and ~4867 after, on v6.15). Runs 1/16 of each workload and
    /// scales the counters (see <see cref="FitAndCheck(MachineOptions, int)"/>): the same figures, 16 times faster.
    /// </summary>
    public static (CostTable Table, IReadOnlyList<CostModelCheck> Checks) FitAndCheck(MachineOptions options) => FitAndCheck(options, 16);

    /// <summary>
    /// <see cref="FitAndCheck(MachineOptions)"/> on 1/<paramref name="divisor"/> of each workload, its counters
    /// multiplied back by <paramref name="divisor"/>. The counters are linear in the size: every call of -n 512 pages
    /// lies inside one huge page (1 GiB for the seed runs, 2 MiB for the 2 MiB rows), so a smaller run repeats the
    /// same calls fewer times, and the figures come out the same. 16 runs the seed workload on one 1 GiB page.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Thrown unless <paramref name="divisor"/> is 1, 2, 4, 8 or 16.</exception>
    public static (CostTable Table, IReadOnlyList<CostModelCheck> Checks) FitAndCheck(MachineOptions options, int divisor)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (divisor is not (1 or 2 or 4 or 8 or 16)) throw new ArgumentOutOfRangeException(nameof(divisor), divisor, "1, 2, 4, 8 or 16");
        var m = GupTestMachine.Boot(options with { Kernel = options.Kernel ?? "5.12" });
        string seedMb = (16384 / divisor).ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] seed = [.. GupBench.SeedWorkload];
        seed[Array.IndexOf(seed, "-m") + 1] = seedMb;
        var v511 = Counters(m, GupStrategy.Named("v5.11", m.Version), seed, divisor);
        var patch1 = Counters(m, GupStrategy.Named("patch1", m.Version), seed, divisor);
        var pagePlusPlus = Counters(m, GupStrategy.Named("v1-page++", m.Version), seed, divisor);
        var table = Fit(v511, patch1, pagePlusPlus);
        var merged = Counters(m, GupStrategy.Named("merged", m.Version), seed, divisor);
        var nth = Counters(m, GupStrategy.Named("nth_page", m.Version), seed, divisor);
        string[] fast = ["-f", "/mnt/huge/file", "-m", seedMb, "-a", "-S", "-n", "512", "-w"];
        var pinFast = Counters(m, GupStrategy.Named("v1-page++", m.Version), fast, divisor);
        var checks = new List<CostModelCheck>
        {
            new("v5.11 PIN_LONGTERM", "v1 1/2 mail, 2021-01-25", V511Us, table.PredictUs(v511), true, null),
            new("patch 1 (0fa5bc4023c1) PIN_LONGTERM", "0fa5bc4023c1 message", Patch1Us, table.PredictUs(patch1), true, null),
            new("v1 page++ PIN_LONGTERM", "v1 2/2 mail", V1PagePlusPlusUs, table.PredictUs(pagePlusPlus), true, null),
            new("merged 82e5d378b0e4 PIN_LONGTERM", "82e5d378b0e4 message", 5_800, table.PredictUs(merged), false,
                "mem_map_offset()'s per-entry compare and the record_subpages_vmas() bookkeeping"),
            new("nth_page per element PIN_LONGTERM", "Joao Martins' reply, 2021-01-26", 7_800, table.PredictUs(nth), false, null),
            new("PIN_FAST (gup-fast, page++)", "v1 2/2 and 82e5d378b0e4", 3_700, table.PredictUs(pinFast), false, null),
        };
        // The 2 MiB rows: v6.15, 8 GiB of 2 MiB hugetlb pages (4096 of them), -HL -m 8192 -n 512.
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var m2 = GupTestMachine.Boot(options with { Kernel = "6.15", Hugepages = "hugepagesz=2M hugepages=" + (4096 / divisor).ToString(inv), Mem = options.Mem ?? "12G" });
        var twoMeg = Counters(m2, null, ["-H", "-L", "-m", (8192 / divisor).ToString(inv), "-n", "512"], divisor);
        double predicted = table.PredictUs(twoMeg);
        checks.Add(new("v6.15 hugetlb 2 MiB PIN_LONGTERM, before a03db236aebf", "a03db236aebf message", 14_391, predicted, false,
            "the per-page folio lookups of collect_longterm_unpinnable_folios() (what a03db236aebf removed)"));
        checks.Add(new("v6.15 hugetlb 2 MiB PIN_LONGTERM, after a03db236aebf", "a03db236aebf message", 4_867, predicted, false, null));
        return (table, checks);
    }

    /// <summary>The get loop's counters of one unverified gup_test ioctl of <paramref name="workload"/>, times <paramref name="scale"/>.</summary>
    internal static GupCounterValues Counters(Machine m, GupStrategy? strategy, IReadOnlyList<string> workload, int scale = 1)
    {
        var selftest = new GupTestSelftest(m, new GupTestModule(m));
        using var p = selftest.Prepare(workload, TextWriter.Null, out int exit)
            ?? throw new Core.GupSimException($"cost model: gup_test {string.Join(' ', workload)} exited with {exit} during setup");
        var c = GupBench.Ioctl(new GupTestModule(m, strategy, verify: false), p).GetCounters;
        return new GupCounterValues(c.Atomics * scale, c.StructPagesTouched * scale, c.PfnToPageCalls * scale, c.PageToPfnCalls * scale,
            c.SectionLookups * scale, c.PageTableEntriesRead * scale, c.PagesWrites * scale);
    }
}

using GupSim.Config;
using GupSim.Gup;
using GupSim.Selftests;

namespace GupSim.Tests.Selftests;

/// <summary>The modelled kernel time: counters worked out by hand, the fit, and its predictions for the figures it was not fitted on.</summary>
public sealed class KernelCostModelTests
{
    private static GupCounterValues C(long atomics, long lookups, long writes) => new(atomics, 0, lookups, 0, 0, 0, writes);

    [Fact]
    public void Fit_SolvesTheThreeFiguresExactly()
    {
        // Synthetic counters with known costs 10 ns / 1 ns / 1 ns.
        var a = C(8_000_000, 8_000_000, 4_000_000);
        var b = C(16_000, 8_000_000, 4_000_000);
        var c = C(16_000, 16_000, 4_000_000);
        var t = KernelCostModel.Fit(a, b, c);
        Assert.Equal(KernelCostModel.V511Us, t.PredictUs(a), 6);
        Assert.Equal(KernelCostModel.Patch1Us, t.PredictUs(b), 6);
        Assert.Equal(KernelCostModel.V1PagePlusPlusUs, t.PredictUs(c), 6);
    }

    [Fact]
    public void Fit_RefusesCountersThatDoNotDetermineTheCosts()
    {
        var a = C(1, 1, 1);
        Assert.Throws<Core.GupSimException>(() => KernelCostModel.Fit(a, a, a));
    }

    /// <summary>
    /// The seed workload's counters on one 1 GiB page (x86_64 v5.12 VMEMMAP, PIN_LONGTERM in 512 calls of 512 pages),
    /// worked out from each code's loop: pte_page() is one pfn_to_page per call; mem_map_offset(page, n) is a pfn round
    /// trip (page_to_pfn + pfn_to_page) for n ≥ MAX_ORDER_NR_PAGES = 1024, plain page + n below; FOLL_PIN on a
    /// compound page is two atomics (_refcount and the compound pincount) per grab.
    /// </summary>
    [Fact]
    public void SeedCounters_OnOneGigabytePage_AreTheHandCount()
    {
        // One machine, as FitAndCheck uses one: each run prepares its own gup_test process (mmap, fault) on it.
        var m = GupTestMachine.Boot(new MachineOptions { Kernel = "5.12" });
        string[] seed = ["-f", "/mnt/huge/file", "-m", "1024", "-r", "1", "-L", "-S", "-n", "512", "-w"];
        (string Strategy, long Atomics, long PfnToPage, long PageToPfn)[] hand =
        [
            ("v5.11", 524288, 261632, 261120),  // a grab per subpage; mem_map_offset per subpage, round trip for 262144 − 1024
            ("patch1", 1024, 261632, 261120),   // a grab per call; the same mem_map_offset per subpage
            ("v1-page++", 1024, 512, 0),        // a grab per call; pte_page once, then page++
            ("merged", 1024, 1022, 510),        // base = mem_map_offset(page, off): a round trip for the 510 calls at off ≥ 1024
            ("nth_page", 1024, 263168, 262656), // base = nth_page(page, off) per call, then nth_page(base, j) per entry
        ];
        foreach (var h in hand)
        {
            var c = KernelCostModel.Counters(m, GupStrategy.Named(h.Strategy, m.Version), seed);
            Assert.Equal((h.Strategy, h.Atomics, h.PfnToPage, h.PageToPfn, 262144L), (h.Strategy, c.Atomics, c.PfnToPageCalls, c.PageToPfnCalls, c.PagesWrites));
        }
        // gup-fast's PUD leaf (v1 page++): one grab (2 atomics) and one pud_page() per call, page++ for the rest.
        string[] fast = ["-f", "/mnt/huge/file", "-m", "1024", "-a", "-S", "-n", "512", "-w"];
        var f = KernelCostModel.Counters(m, GupStrategy.Named("v1-page++", m.Version), fast);
        Assert.Equal((1024L, 512L, 0L, 262144L), (f.Atomics, f.PfnToPageCalls, f.PageToPfnCalls, f.PagesWrites));
    }

    /// <summary>
    /// The fit and its predictions, by hand from the counters above ×16 (16 GiB). Subtracting the fitted rows:
    /// patch1 − page++ gives l · (522752 − 512) · 16 = 8 400 000 ns, so l = 8 400 000 / 8 355 840 ns; v5.11 − patch1
    /// gives a · (524288 − 1024) · 16 = 74 800 000 ns. Then merged = page++ + l · (1532 − 512) · 16 / 1000
    /// = 4400 + 16.40625 µs; nth_page = patch1 + l · 3072 · 16 / 1000; PIN_FAST has page++'s costed counters, 4400 µs;
    /// the 2 MiB row (v6.15, 4096 calls of one folio: 4 atomics, no lookups, 512 entries each) = (16 384 a + 2 097 152 e) / 1000
    /// with e from page++'s row = 2200 + 8.192 a − 4.096 l.
    /// </summary>
    [Fact]
    public void FitAndCheck_PredictsTheUnfittedFiguresFromTheCounters()
    {
        var (table, checks) = KernelCostModel.FitAndCheck(new MachineOptions(), divisor: 16);
        double l = 8_400_000.0 / 8_355_840, a = 74_800_000.0 / 8_372_224;
        double e = (4_400_000 - 16_384 * a - 8_192 * l) / 4_194_304;
        Assert.Equal(a, table.AtomicNs, 9);
        Assert.Equal(l, table.LookupNs, 9);
        Assert.Equal(e, table.EntryNs, 9);
        Assert.Equal(8, checks.Count);
        Assert.Equal([true, true, true, false, false, false, false, false], checks.Select(c => c.Fitted));
        Assert.Equal([87_600, 12_800, 4_400, 5_800, 7_800, 3_700, 14_391, 4_867], checks.Select(c => c.PublishedUs));
        Assert.Equal(87_600, checks[0].PredictedUs, 6);
        Assert.Equal(12_800, checks[1].PredictedUs, 6);
        Assert.Equal(4_400, checks[2].PredictedUs, 6);
        Assert.Equal(4_416.40625, checks[3].PredictedUs, 6);                  // merged
        Assert.Equal(12_800 + l * 3072 * 16 / 1000, checks[4].PredictedUs, 6); // nth_page: 12849.411765
        Assert.Equal(12_849.411765, checks[4].PredictedUs, 5);
        Assert.Equal(4_400, checks[5].PredictedUs, 6);                         // PIN_FAST
        Assert.Equal(2_200 + 8.192 * a - 4.096 * l, checks[6].PredictedUs, 6); // 2269.072177
        Assert.Equal(2_269.072177, checks[7].PredictedUs, 5);
    }

    [Fact]
    public void FitAndCheck_RefusesADivisorThatDoesNotSplitTheWorkload()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelCostModel.FitAndCheck(new MachineOptions(), 3));
    }
}

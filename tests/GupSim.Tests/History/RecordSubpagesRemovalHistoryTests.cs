using GupSim.History;

namespace GupSim.Tests.History;

/// <summary>
/// The `gupsim history record-subpages-removal` entry (history.md §7): the September 2025 mm tree's gup-fast PMD leaf
/// filled pages[] from the call's own start instead of pages + *nr. Both sides are v6.18; the buggy one runs
/// --strategy mm-unstable-2025-09. Figures worked out by hand from the walk: one call over 4 MiB of 2 MiB hugetlb
/// meets two PMD leaves; the second leaf's 512 subpages land in pages[0 … 511] and pages[512 … 1023] stay NULL.
/// </summary>
public sealed class RecordSubpagesRemovalHistoryTests
{
    private const ulong Vmemmap = 0xffffea0000000000UL; // x86_64 VMEMMAP_START, 4-level
    private const ulong SizeofPage = 64;

    private static HistoryCase Case(string name)
    {
        foreach (var c in HistoryEntries.Find("record-subpages-removal").Cases)
            if (c.Name == name) return c;
        throw new ArgumentException(name);
    }

    private static HistoryHead HeadOf(HistoryOutcome o, ulong pfn)
    {
        foreach (var h in o.Heads)
            if (h.Pfn == pfn) return h;
        throw new ArgumentException($"no head 0x{pfn:x}");
    }

    /// <summary>The pool's two boot pages in free-list order: the first fault of A takes the first (dequeue from the list head).</summary>
    private static ulong[] PoolPfns(HistoryCase c)
    {
        var r = new Scenario.ScenarioRunner(TextWriter.Null);
        r.Run(c.ScriptFor("6.18", "sparsemem-vmemmap")[0], "test");
        var h = r.Machine!.Hugetlb.Find(2UL << 20)!;
        return [.. h.FreeList(0)];
    }

    [Fact]
    public void Entry_BothSidesV618_BuggySideRunsTheMmTreeStrategy()
    {
        var e = HistoryEntries.Find("record-subpages-removal");
        Assert.Equal(("6.18", "6.18"), (e.BuggyKernel, e.FixedKernel));
        Assert.Equal("mm-unstable-2025-09", e.BuggyStrategy);
        Assert.Null(e.FixedStrategy);
        Assert.Equal("pin A fast write strategy=mm-unstable-2025-09", Case("one-call").ScriptFor("6.18", "sparsemem-vmemmap", e.BuggyStrategy)[3]);
        Assert.Equal("pin A fast write", Case("one-call").ScriptFor("6.18", "sparsemem-vmemmap")[3]);
    }

    [Fact]
    public void OneCall_MmTree_EveryEntryWrong_UnpinOopsesOnTheFirstNull_Release_Right()
    {
        var c = Case("one-call");
        var pfns = PoolPfns(c);
        Assert.Equal(2, pfns.Length);
        ulong first = pfns[0], second = pfns[1];
        var result = HistoryRunner.Run(HistoryEntries.Find("record-subpages-removal"));
        var r = result.Cases[0];
        Assert.True(r.Differs);
        var buggy = r.Buggy;

        var g = Assert.Single(buggy.Gups);
        // 1024 pages taken; pages[0 … 511] = the second folio's subpages (want the first's), pages[512 … 1023] = NULL.
        Assert.Equal((1024L, 1024L, 1024L, "ok"), (g.Pages, g.Total, g.Wrong, g.Result));
        Assert.Equal(0L, g.FirstWrongIndex);
        Assert.Contains($"pages[0] = 0x{Vmemmap + second * SizeofPage:x}", g.FirstWrong, StringComparison.Ordinal);
        Assert.Contains($"expected the struct page of pfn 0x{first:x}", g.FirstWrong, StringComparison.Ordinal);
        // unpin_user_pages(): gup_folio_next() reads page_folio(pages[512]) = NULL->compound_head (offset 8).
        Assert.Equal("BUG: unable to handle page fault for address: 0000000000000008 (reading page->compound_head)", buggy.Oops);
        Assert.Equal("unpin A", buggy.OopsLine);
        // try_grab_folio(folio, 512, FOLL_PIN) per leaf: refcount 1 → 513, _pincount 0 → 512, never put back.
        foreach (ulong pfn in pfns)
        {
            var h = HeadOf(buggy, pfn);
            Assert.Equal((1, 0, 513, 512), (h.RefcountBefore, h.PincountBefore, h.RefcountAfter, h.PincountAfter));
        }

        var fixd = r.Fixed;
        var f = Assert.Single(fixd.Gups);
        Assert.Equal((1024L, 1024L, 0L, "ok"), (f.Pages, f.Total, f.Wrong, f.Result));
        Assert.Null(fixd.Oops);
        Assert.All(fixd.Heads, h => Assert.True(h.Balanced));
        Assert.Equal(0UL, fixd.StrayWrites.N);

        // -n 1: each call meets one leaf and is filled from its own pages[0]: the mm tree is right there.
        var one = result.Cases[1];
        Assert.False(one.Differs);
        Assert.Equal((1024L, 0L), (Assert.Single(one.Buggy.Gups).Pages, Assert.Single(one.Buggy.Gups).Wrong));
        Assert.Null(one.Buggy.Oops);
        Assert.All(one.Buggy.Heads, h => Assert.True(h.Balanced));
    }
}

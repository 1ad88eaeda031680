using System.Globalization;
using GupSim.History;
using GupSim.Memory;
using GupSim.Scenario;

namespace GupSim.Tests.History;

/// <summary>
/// `gupsim history` (issue 12 §2): each entry's buggy side differs from its fixed side, with exact figures. Every
/// expected value is worked out by hand from the kernel's rules and from the placement (where boot or the allocators
/// put each section's memmap: <see cref="KnownAddresses.StructPageVa"/> and <see cref="KnownAddresses.OwnerPfn"/>,
/// from the memblock record through the literal linear map), never by calling the GUP or hugetlb code under test.
/// </summary>
public sealed class HistoryTests
{
    private const ulong S = 32768;            // x86_64 PAGES_PER_SECTION (SECTION_SIZE_BITS 27, PAGE_SHIFT 12)
    private const ulong Pphp = 262144;        // 4 KiB subpages of a 1 GiB page
    private const ulong SizeofPage = 64;      // sizeof(struct page), 64-bit
    private const ulong Head = 0x280000;      // the 1 GiB boot page of the scattered machine (below)
    // The scattered machine's one 1 GiB boot page: memblock allocates top-down, [11G, 12G) holds the memmaps and the
    // other boot allocations, so the highest naturally aligned free GiB is [10G, 11G): pfn 0x280000, section 80.

    // v5.x unpin of an order-0 page whose pin went elsewhere (put_compound_head(page, 1, FOLL_PIN), mm/gup.c): no
    // pincount field, so refs *= GUP_PIN_COUNTING_BIAS (1024); page_ref_sub(page, 1023) then put_page()'s
    // page_ref_dec_and_test(): two stores. On a free page (refcount 0): 0 → −1023 (0xfffffc01: 23 bits set), then
    // −1023 → −1024 (0xfffffc00: 1 bit changed) — 24 bits per wrong entry.
    private const ulong StoresPerWrongUnpin = 2;
    private const ulong BitsPerWrongUnpin = 23 + 1;

    private static HistoryCase Case(string entry, string name)
    {
        foreach (var c in HistoryEntries.Find(entry).Cases)
            if (c.Name == name) return c;
        throw new ArgumentException(name);
    }

    /// <summary>The machine of a case's first lines, booted on its own to read the placement.</summary>
    private static ScenarioRunner Boot(IReadOnlyList<string> lines, int count)
    {
        var r = new ScenarioRunner(TextWriter.Null);
        for (int i = 0; i < count; i++) r.Run(lines[i], "test");
        return r;
    }

    private static HistoryHead HeadOf(HistoryOutcome o, ulong pfn)
    {
        foreach (var h in o.Heads)
            if (h.Pfn == pfn) return h;
        throw new ArgumentException($"no head 0x{pfn:x}");
    }

    [Fact]
    public void Catalogue_HasTheIssuesEntries_WithUniqueNames_AndFindRefusesAnUnknownOne()
    {
        var names = HistoryEntries.All.Select(e => e.Name).ToList();
        Assert.Equal(["update-and-free-page", "copy-huge-page-from-user", "gup-fast-pud", "compound-range-next", "merged-odd-batch", "refs-zero", "cma-step", "follow-page-mask", "max-folio-order", "record-subpages-removal"], names);
        Assert.All(HistoryEntries.All, e => Assert.NotEmpty(e.Cases));
        Assert.Equal("dbfee5aee7e5", HistoryEntries.Find("update-and-free-page").FixCommit);
        Assert.Equal("c228afb11ac6", HistoryEntries.Find("GUP-FAST-PUD").FixCommit);
        Assert.Equal("d08af0a59684", HistoryEntries.Find("refs-zero").FixCommit);
        Assert.Equal("426056efe835", HistoryEntries.Find("follow-page-mask").FixCommit);
        var e = Assert.Throws<Core.GupSimException>(() => HistoryEntries.Find("nope"));
        Assert.StartsWith("history: no entry 'nope': use one of update-and-free-page, copy-huge-page-from-user, gup-fast-pud,", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GupFastPud_V5_17_RecordsPagePlusPlusPastTheFirstSection_V5_18_IsRight()
    {
        var c = Case("gup-fast-pud", "scattered");
        var buggy = HistoryRunner.RunSide(c, "5.17", "sparsemem");
        var fixd = HistoryRunner.RunSide(c, "5.18", "sparsemem");
        var m = Boot(c.ScriptFor("5.17", "sparsemem"), 1).Machine!;

        // Placement: each section's memmap lies right below the previous one's, so page++ off section 80's end walks
        // down through sections 79 … 73, never back into the 1 GiB page (sections 80 … 87).
        ulong head = KnownAddresses.StructPageVa(m, Head);
        for (ulong q = 1; q <= 7; q++)
            Assert.Equal(KnownAddresses.StructPageVa(m, Head - q * S), head + q * S * SizeofPage);
        ulong firstWrong = head + S * SizeofPage;
        Assert.Equal(0x278000UL, KnownAddresses.OwnerPfn(m, firstWrong));

        var g = Assert.Single(buggy.Gups);
        Assert.Equal((long)Pphp, g.Pages);
        Assert.Equal((long)(Pphp - S), g.Wrong);              // every subpage from offset 32768 on: 229376
        Assert.Equal((long)S, g.FirstWrongIndex);
        Assert.Contains($"0x{firstWrong:x}", g.FirstWrong, StringComparison.Ordinal);
        Assert.Contains("pfn 0x278000", g.FirstWrong, StringComparison.Ordinal);
        // try_grab_compound_head(head, 262144, FOLL_PIN) took refcount +262144 and pincount +262144; the unpin found
        // the head only through the 32768 right entries.
        var h = HeadOf(buggy, Head);
        Assert.Equal((1, 0), (h.RefcountBefore, h.PincountBefore));
        Assert.Equal((1 + (int)(Pphp - S), (int)(Pphp - S)), (h.RefcountAfter, h.PincountAfter)); // 229377, 229376
        // The 229376 wrong entries are free order-0 pages (pfns 0x248000 … 0x27ffff, below the boot page, never allocated).
        Assert.Equal(StoresPerWrongUnpin * (Pphp - S), buggy.StrayWrites.N);
        Assert.Equal(StoresPerWrongUnpin * (Pphp - S), buggy.StrayWrites.Free);
        Assert.Equal(BitsPerWrongUnpin * (Pphp - S), buggy.StrayWrites.BitsChanged);

        var f = Assert.Single(fixd.Gups);
        Assert.Equal(((long)Pphp, 0L), (f.Pages, f.Wrong));
        Assert.True(HeadOf(fixd, Head).Balanced);
        Assert.Equal(0UL, fixd.StrayWrites.N);
    }

    [Fact]
    public void CompoundRangeNext_V5_17_LeaksTheSecondPagesPins_OnFreeStructPages_V5_18_IsRight()
    {
        var c = Case("compound-range-next", "scattered");
        var buggy = HistoryRunner.RunSide(c, "5.17", "sparsemem");
        var fixd = HistoryRunner.RunSide(c, "5.18", "sparsemem");
        var m = Boot(c.ScriptFor("5.17", "sparsemem"), 1).Machine!;
        const ulong first = 0x240000, second = 0x280000;

        // The two boot pages lie back to back, so pages[] is one pfn-contiguous range; the second step's
        // head + 262144 struct pages lands, by placement, on the struct page of pfn 0x200000 (not the second head).
        ulong next = KnownAddresses.StructPageVa(m, first) + (Pphp * SizeofPage);
        Assert.NotEqual(KnownAddresses.StructPageVa(m, second), next);
        Assert.Equal(0x200000UL, KnownAddresses.OwnerPfn(m, next));

        var g = Assert.Single(buggy.Gups);
        Assert.Equal(((long)(2 * Pphp), 0L), (g.Pages, g.Wrong));   // pages[] right: the release goes wrong
        Assert.True(HeadOf(buggy, first).Balanced);
        var h = HeadOf(buggy, second);
        Assert.Equal((1, 0), (h.RefcountBefore, h.PincountBefore));
        Assert.Equal((1 + (int)Pphp, (int)Pphp), (h.RefcountAfter, h.PincountAfter)); // all 262144 pins kept
        // Instead 262144 free order-0 struct pages from pfn 0x200000 each took one unpin of a base page.
        Assert.Equal(StoresPerWrongUnpin * Pphp, buggy.StrayWrites.N);
        Assert.Equal(StoresPerWrongUnpin * Pphp, buggy.StrayWrites.Free);
        Assert.Equal(BitsPerWrongUnpin * Pphp, buggy.StrayWrites.BitsChanged);

        var f = Assert.Single(fixd.Gups);
        Assert.Equal(((long)(2 * Pphp), 0L), (f.Pages, f.Wrong));
        Assert.True(HeadOf(fixd, first).Balanced);
        Assert.True(HeadOf(fixd, second).Balanced);
        Assert.Equal(0UL, fixd.StrayWrites.N);
    }

    [Fact]
    public void MergedOddBatch_V5_12_With123PageCalls_Gets445WrongEntries_V6_1_None()
    {
        var c = Case("merged-odd-batch", "scattered");
        var buggy = HistoryRunner.RunSide(c, "5.12", "sparsemem");
        var fixd = HistoryRunner.RunSide(c, "6.1", "sparsemem");
        var m = Boot(c.ScriptFor("5.12", "sparsemem"), 1).Machine!;

        // The kernel's rule (kernel-facts §8 trap 2): the call starting at pfn_offset o records o + nr as base + nr,
        // wrong iff nr < MAX_ORDER_NR_PAGES (1024) and (o mod S) + nr >= S.
        const ulong n = 123;
        ulong wrong = 0, firstBoundaryWrong = 0;
        for (ulong o = 0; o < Pphp; o += n)
        {
            ulong refs = Math.Min(n, Pphp - o);
            for (ulong nr = 0; nr < refs; nr++)
                if (nr < 1024 && (o % S) + nr >= S) wrong++;
            if (o < S && o + refs > S) firstBoundaryWrong = o + refs - S;
        }
        Assert.Equal(445UL, wrong);                 // 73 + 23 + 96 + 46 + 119 + 69 + 19
        Assert.Equal(73UL, firstBoundaryWrong);     // 123 − (32768 mod 123)

        // Where they land: past boundary 1 on section 79's struct pages (outside the huge page); past boundary j ≥ 2 on
        // section 80 + j − 2's, a tail of the same compound page, so only boundary 1's 73 entries miss the head.
        ulong head = KnownAddresses.StructPageVa(m, Head);
        Assert.Equal(0x278000UL, KnownAddresses.OwnerPfn(m, head + S * SizeofPage));
        for (ulong j = 2; j <= 7; j++)
        {
            ulong? lands = KnownAddresses.OwnerPfn(m, KnownAddresses.StructPageVa(m, Head + (j - 1) * S) + S * SizeofPage);
            Assert.Equal(Head + (j - 2) * S, lands);
        }

        var g = Assert.Single(buggy.Gups);
        Assert.Equal(((long)Pphp, (long)wrong, (long?)S), (g.Pages, g.Wrong, g.FirstWrongIndex));
        var h = HeadOf(buggy, Head);
        Assert.Equal((1 + (int)firstBoundaryWrong, (int)firstBoundaryWrong), (h.RefcountAfter, h.PincountAfter)); // 74, 73
        Assert.Equal(StoresPerWrongUnpin * firstBoundaryWrong, buggy.StrayWrites.N);       // 146
        Assert.Equal(StoresPerWrongUnpin * firstBoundaryWrong, buggy.StrayWrites.Free);
        Assert.Equal(BitsPerWrongUnpin * firstBoundaryWrong, buggy.StrayWrites.BitsChanged); // 1752

        var f = Assert.Single(fixd.Gups);
        Assert.Equal(((long)Pphp, 0L), (f.Pages, f.Wrong));
        Assert.True(HeadOf(fixd, Head).Balanced);
        Assert.Equal(0UL, fixd.StrayWrites.N);
    }

    [Fact]
    public void RefsZero_V5_12_OopsesOnTheNullEntry_V5_14_PinsThePage()
    {
        var c = Case("refs-zero", "vmemmap");
        var buggy = HistoryRunner.RunSide(c, "5.12", "sparsemem-vmemmap");
        var fixd = HistoryRunner.RunSide(c, "5.14", "sparsemem-vmemmap");

        // refs = min3(512 − 511, (vm_end − vaddr) >> 12 = 0x80 >> 12 = 0, 1) = 0: pages[0] stays NULL (gup_test's
        // kvcalloc) and try_grab_compound_head(NULL, 0) reads NULL->compound_head, the second word: address 0x8.
        Assert.Equal("BUG: unable to handle page fault for address: 0000000000000008 (reading page->compound_head)", buggy.Oops);
        Assert.Equal("pin A write offset=0x1fff80 pages=1", buggy.OopsLine);
        Assert.Equal("oops", Assert.Single(buggy.Gups).Result);
        Assert.Equal(["unpin A"], buggy.Skipped);

        var f = Assert.Single(fixd.Gups);
        Assert.Equal((1L, 1L, 0L, "ok"), (f.Pages, f.Total, f.Wrong, f.Result));
        Assert.Null(fixd.Oops);
        var h = Assert.Single(fixd.Heads);
        Assert.True(h.Balanced);
    }

    [Fact]
    public void FollowPageMask_V6_6_GrabsAFreeStructPage_AndStopsWithEnomem_V6_7_TakesAll()
    {
        var c = Case("follow-page-mask", "scattered");
        var buggy = HistoryRunner.RunSide(c, "6.6", "sparsemem");
        var fixd = HistoryRunner.RunSide(c, "6.7", "sparsemem");
        var m = Boot(c.ScriptFor("6.6", "sparsemem"), 1).Machine!;

        // 123-page calls start at 123k; the first past section 80's end starts at 267 × 123 = 32841. page += 32841 is
        // base[80] + 32841 × 64 = base[79] + 73 × 64: the struct page of pfn 0x278049, free, so try_grab_page() fails.
        const ulong start = 267 * 123;
        Assert.True(start - 123 < S && start >= S);
        ulong wrongPage = KnownAddresses.StructPageVa(m, Head) + start * SizeofPage;
        Assert.Equal(0x278000UL + (start - S), KnownAddresses.OwnerPfn(m, wrongPage));

        var g = Assert.Single(buggy.Gups);
        Assert.Equal(((long)start, (long)Pphp, 0L, "ENOMEM"), (g.Pages, g.Total, g.Wrong, g.Result));
        Assert.Contains($"WARNING: try_grab_page: refcount 0 on 0x{wrongPage:x}", buggy.Warnings);
        Assert.True(HeadOf(buggy, Head).Balanced); // what was taken is released
        Assert.Equal(0UL, buggy.StrayWrites.N);

        var f = Assert.Single(fixd.Gups);
        Assert.Equal(((long)Pphp, 0L, "ok"), (f.Pages, f.Wrong, f.Result));
        Assert.Empty(fixd.Warnings);
    }

    [Fact]
    public void MaxFolioOrder_V6_17_SpansSectionsRightly_V6_18_CannotBuildTheMachine()
    {
        var c = Case("max-folio-order", "x86_64");
        var buggy = HistoryRunner.RunSide(c, "6.17", "sparsemem");
        var fixd = HistoryRunner.RunSide(c, "6.18", "sparsemem");
        var g = Assert.Single(buggy.Gups);
        Assert.Equal(((long)Pphp, 0L), (g.Pages, g.Wrong));
        Assert.True(HeadOf(buggy, Head).Balanced);
        Assert.Null(buggy.Refused);
        Assert.Equal("x86_64 in v6.18 cannot build sparsemem: use one of sparsemem-vmemmap", fixd.Refused);
        Assert.StartsWith("refused: ", fixd.Summary(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The wrong page[i] of update_and_free_page() from the placement: for each pool page, each of its sections 1 … 7
    /// whose memmap is not right after the previous section's (base[s0 + q] ≠ base[s0] + q × S × 64) makes S wrong
    /// stores (one <c>page[i].flags &amp;= ~…</c> per subpage).
    /// </summary>
    private static ulong WrongPageIFromPlacement(IReadOnlyList<string> script)
    {
        var r = Boot(script, 3); // machine, hotplug, hugepages 1G=12
        var m = r.Machine!;
        var h = m.Hugetlb.Find(1UL << 30)!;
        ulong wrong = 0;
        foreach (ulong head in h.FreeList(0))
        {
            ulong b = KnownAddresses.StructPageVa(m, head);
            for (ulong q = 1; q < Pphp / S; q++)
                if (KnownAddresses.StructPageVa(m, head + q * S) != b + q * S * SizeofPage) wrong += S;
        }
        return wrong;
    }

    [Fact]
    public void UpdateAndFreePage_FreshBootIsLatent_LivedInV5_11WritesThroughWrongPageI_V5_12None()
    {
        var fresh = Case("update-and-free-page", "fresh");
        Assert.Equal(0UL, WrongPageIFromPlacement(fresh.ScriptFor("5.11", "sparsemem")));
        var fb = HistoryRunner.RunSide(fresh, "5.11", "sparsemem");
        Assert.Equal((0UL, 0UL), (fb.WrongSubpageWrites, fb.StrayWrites.N));

        var lived = Case("update-and-free-page", "lived-in");
        ulong expected = WrongPageIFromPlacement(lived.ScriptFor("5.11", "sparsemem"));
        Assert.Equal(6 * S, expected); // six sections' memmaps are not where page++ from the one before lands: 196608
        var buggy = HistoryRunner.RunSide(lived, "5.11", "sparsemem");
        var fixd = HistoryRunner.RunSide(lived, "5.12", "sparsemem");
        Assert.Equal(expected, buggy.WrongSubpageWrites);
        Assert.Equal(expected, buggy.StrayWrites.N);
        // They land on struct pages of other hot-added pool pages' subpages, in use, none with locked, error,
        // referenced, dirty, active, private or writeback set: the stores change no bit.
        Assert.Equal(expected, buggy.StrayWrites.InUse);
        Assert.Equal(0UL, buggy.StrayWrites.BitsChanged);
        Assert.Equal(0, buggy.BadPageStates);
        Assert.Equal((0UL, 0UL), (fixd.WrongSubpageWrites, fixd.StrayWrites.N));
    }

    [Fact]
    public void CopyHugePageFromUser_V5_11_CopiesIntoThePagesBelow_LivedInOnlyWhereMemmapsAreApart_V5_12Right()
    {
        var c = Case("copy-huge-page-from-user", "scattered");
        var script = c.ScriptFor("5.11", "sparsemem");
        var r = Boot(script, 3); // machine, mmap S, fill S
        var m = r.Machine!;
        Assert.True(r.TryGetMapping("S", out ulong src, out _));
        // Placement: section k + 1's memmap right below section k's, so dst_page + q·S (q = 1 … 7) is the struct page
        // of Head − q·S: subpage q·S + j's data goes to pfn Head − q·S + j, below the boot page.
        ulong head = KnownAddresses.StructPageVa(m, Head);
        for (ulong q = 1; q <= 7; q++)
            Assert.Equal(KnownAddresses.StructPageVa(m, Head - q * S), head + q * S * SizeofPage);

        var buggy = HistoryRunner.RunSide(c, "5.11", "sparsemem");
        var fixd = HistoryRunner.RunSide(c, "5.12", "sparsemem");
        Assert.Equal(Pphp - S, buggy.StrayWrites.N); // 229376
        Assert.Equal(Pphp - S, buggy.StrayWrites.Other); // the pages there are free pages and user pages: other data
        Assert.Equal(["verify A S (262144 pages): 229376 pages differ, the first at +0x8000000"], buggy.Verifies);
        Assert.Equal(0UL, fixd.StrayWrites.N);
        Assert.Equal(["verify A S (262144 pages): ok"], fixd.Verifies);

        var m2 = new ScenarioRunner(TextWriter.Null);
        m2.Run(string.Join('\n', script), "test");
        foreach (var (q, j) in new[] { (1UL, 0UL), (4UL, 12345UL), (7UL, S - 1) })
            Assert.Equal(PageContents.UserPattern(src + ((q * S) + j) * 4096), m2.Machine!.Memory.Contents.Read(Head - (q * S) + j));

        // Lived in: only the sections whose memmap is not where dst_page + i lands from the section before (worked out
        // from the placement as for update-and-free-page): 6 · S = 196608 subpages, all of one pool page.
        var lived = Case("copy-huge-page-from-user", "lived-in");
        ulong expected = WrongPageIFromPlacement(lived.ScriptFor("5.11", "sparsemem"));
        Assert.Equal(6 * S, expected);
        var lb = HistoryRunner.RunSide(lived, "5.11", "sparsemem");
        var lf = HistoryRunner.RunSide(lived, "5.12", "sparsemem");
        Assert.Equal(expected, lb.StrayWrites.N);
        Assert.Equal((long)expected, lb.Verifies.Sum(v => v.EndsWith(": ok", StringComparison.Ordinal) ? 0L : long.Parse(v.Split(": ")[1].Split(' ')[0], CultureInfo.InvariantCulture)));
        Assert.Equal((0UL, 11), (lf.StrayWrites.N, lf.Verifies.Count(v => v.EndsWith(": ok", StringComparison.Ordinal))));
    }

    [Fact]
    public void CmaStep_LivedInV5_11_LeavesTheCmaPagePinned_VmemmapMigratesIt()
    {
        var c = Case("cma-step", "lived-in-seed-1");
        var script = c.ScriptFor("5.11", "sparsemem");
        var r = Boot(script, 8); // up to the pin
        var m = r.Machine!;
        Assert.True(r.TryGetMapping("M", out ulong addr, out _));
        ulong a = r.Process!.WalkLeaf(addr)!.Value.Entry.Pfn.Value;
        ulong b = r.Process!.WalkLeaf(addr + (1UL << 30))!.Value.Entry.Pfn.Value;
        Assert.True(m.IsCmaPfn(b));
        Assert.False(m.IsCmaPfn(a));
        // The third 100000-page call starts at subpage 200000 of A: i = 0 gives head A and
        // step = 262144 − (pages[0] − head) with the pointer difference of two sections' memmaps (200000 is in A's
        // section 6). On this machine the difference is not 200000, so i does not land on 62144 (B's head, in CMA).
        ulong diff = unchecked((KnownAddresses.StructPageVa(m, a + 200000) - KnownAddresses.StructPageVa(m, a)) / SizeofPage);
        Assert.NotEqual(200000UL, diff);
        ulong next = unchecked(Pphp - diff);
        Assert.NotEqual(62144UL, next);

        var buggy = HistoryRunner.RunSide(c, "5.11", "sparsemem");
        var fixd = HistoryRunner.RunSide(c, "5.11", "sparsemem-vmemmap");
        var g = Assert.Single(buggy.Gups);
        Assert.Equal((524288L, 0L, 0L, 1L), (g.Pages, g.Wrong, g.Migrated, g.Unpinnable));
        var f = Assert.Single(fixd.Gups);
        Assert.Equal((524288L, 0L, 1L, 0L), (f.Pages, f.Wrong, f.Migrated, f.Unpinnable));
    }
}

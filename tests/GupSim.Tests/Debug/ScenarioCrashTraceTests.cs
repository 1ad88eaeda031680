using GupSim.Core;
using GupSim.Debug;
using GupSim.Scenario;

namespace GupSim.Tests.Debug;

/// <summary>
/// A scenario's <c>crash WORDS</c> step (crash's kmem on the scenario's machine as it is at that line) and
/// <c>gupsim scenario --trace page_ref</c> (each step's page_ref events after its output).
/// </summary>
public class ScenarioCrashTraceTests
{
    private const string Boot = "machine --arch x86_64 --kernel 5.11 --model sparsemem-vmemmap --ram 0-1G\n";

    /// <summary>The output of the step at <paramref name="line"/> of the runner's last script (steps of earlier scripts come first).</summary>
    private static List<string> StepOutput(ScenarioResult r, int line) => [.. r.Steps.Last(s => s.Line == line).Output];

    [Fact]
    public void CrashStep_KmemP_Pfn0_IsCrashsRow()
    {
        var r = new ScenarioRunner(TextWriter.Null).Run(Boot + "crash \"kmem -p 0\"\ncrash kmem -p 0xffffea0000000000\n", "t.scenario");
        // As CrashKmemTests works it out for this machine: PHYSICAL 8 wide (highest address 0x40000000), pfn 0
        // memblock-reserved (PG_reserved 0x1000), refcount 1, no mapping; both spellings of the address name it.
        string[] expected =
        [
            "      PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS",
            "ffffea0000000000        0                0        0  1 1000 reserved",
        ];
        Assert.Equal(expected, StepOutput(r, 2));
        Assert.Equal(expected, StepOutput(r, 3));
    }

    [Fact]
    public void CrashStep_SeesThePinsCount_AndTraceLinesFollowEachStep()
    {
        var runner = new ScenarioRunner(TextWriter.Null) { TracePageRef = true };
        runner.Run(Boot + "mmap A 4K\ntouch A write\n", "t.scenario");
        Assert.True(runner.TryGetMapping("A", out ulong addr, out _));
        ulong pfn = runner.Process!.WalkLeaf(addr)!.Value.Entry.Pfn.Value;
        string phys = $"0x{pfn << 12:x}";
        var r = runner.Run($"pin A\ncrash kmem -p {phys}\nunpin A\ncrash kmem -p {phys}\n", "t.scenario");
        // _refcount: 1 (the fault's) + GUP_PIN_COUNTING_BIAS = 1025 while pinned, 1 after; CNT is crash's 5th column.
        Assert.Equal("1025", StepOutput(r, 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[4]);
        Assert.Equal("1", StepOutput(r, 4)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[4]);
        // v5.11 slow GUP: follow_page_pte() → try_grab_page() → page_ref_add(1024); unpin_user_pages() →
        // put_compound_head(): page_ref_sub(1023), put_page() → page_ref_dec_and_test(). The crash steps change nothing.
        Assert.Equal([$"page_ref_mod: pfn=0x{pfn:x} count=1025 val=1024"], TraceLines(StepOutput(r, 1)));
        Assert.Empty(TraceLines(StepOutput(r, 2)));
        Assert.Equal(
            [$"page_ref_mod: pfn=0x{pfn:x} count=2 val=-1023", $"page_ref_mod_and_test: pfn=0x{pfn:x} count=1 val=-1 ret=0"],
            TraceLines(StepOutput(r, 3)));
    }

    /// <summary>A step's "  trace: " lines, keeping the event, pfn, count, val and ret fields.</summary>
    private static List<string> TraceLines(List<string> output)
    {
        var lines = new List<string>();
        foreach (string l in output)
        {
            if (!l.StartsWith("  trace: ", StringComparison.Ordinal)) continue;
            lines.Add(string.Join(' ', l["  trace: ".Length..].Split(' ').Where(w =>
                w.EndsWith(':') || w.StartsWith("pfn=", StringComparison.Ordinal) || w.StartsWith("count=", StringComparison.Ordinal)
                || w.StartsWith("val=", StringComparison.Ordinal) || w.StartsWith("ret=", StringComparison.Ordinal))));
        }
        return lines;
    }

    [Fact]
    public void CrashStep_BadWords_IsAMalformedLine()
    {
        var e = Assert.Throws<GupSimException>(() => new ScenarioRunner(TextWriter.Null).Run(Boot + "crash kmem -x\n", "t.scenario"));
        Assert.Equal("t.scenario:2: crash: kmem: give -n or -p: use 'kmem -n' or 'kmem -p [ADDR]'", e.Message);
    }

    /// <summary>
    /// examples/page-ref-trace-v6.1.scenario under --trace page_ref: gup-fast grabs the huge page's head once for both
    /// subpages (try_get_folio(): page_ref_mod_unless val=2, 1 + 2 = 3; it has a pincount, so no folio_ref_add), and
    /// unpin_user_pages() drops the run in one folio_put_refs(2) (page_ref_mod_and_test val=-2, back to 1).
    /// </summary>
    [Fact]
    public void Example_PageRefTraceV61_OneGrabOnePut()
    {
        const string Name = "page-ref-trace-v6.1.scenario";
        var r = new ScenarioRunner(TextWriter.Null) { TracePageRef = true }
            .Run(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", Name)), Name);
        Assert.Equal((2, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
        var pin = r.Steps.Single(s => s.Op == "pin");
        var unpin = r.Steps.Single(s => s.Op == "unpin");
        string pfn = TraceLines([.. pin.Output]).Single().Split(' ')[1];
        Assert.Equal([$"page_ref_mod_unless: {pfn} count=3 val=2 ret=1"], TraceLines([.. pin.Output]));
        Assert.Equal([$"page_ref_mod_and_test: {pfn} count=1 val=-2 ret=0"], TraceLines([.. unpin.Output]));
    }

    /// <summary>
    /// Slow GUP (pin_user_pages()) of three subpages of a 2 MiB hugetlb page (refcount 1, exact pincount) and the
    /// unpin, per version: v5.11's follow_hugetlb_page() grabs each subpage with try_grab_page() (page_ref_add(1)) and
    /// unpins entry by entry (put_page()); v5.12 grabs the run with try_grab_compound_head(3) (page_ref_add_unless)
    /// and puts it with page_ref_sub(2) + put_page(); v6.6's __get_user_pages() takes the first from
    /// hugetlb_follow_page_mask()'s try_grab_page() and the other page_increm − 1 = 2 with try_grab_folio() (still
    /// try_get_folio()), and gup_put_folio() drops 3 at once; from v6.10 that second grab is folio_ref_add(2).
    /// </summary>
    [Theory]
    [InlineData("5.11", "page_ref_mod count=2 val=1|page_ref_mod count=3 val=1|page_ref_mod count=4 val=1",
        "page_ref_mod_and_test count=3 val=-1 ret=0|page_ref_mod_and_test count=2 val=-1 ret=0|page_ref_mod_and_test count=1 val=-1 ret=0")]
    [InlineData("5.12", "page_ref_mod_unless count=4 val=3 ret=1", "page_ref_mod count=2 val=-2|page_ref_mod_and_test count=1 val=-1 ret=0")]
    [InlineData("6.6", "page_ref_mod count=2 val=1|page_ref_mod_unless count=4 val=2 ret=1", "page_ref_mod_and_test count=1 val=-3 ret=0")]
    [InlineData("6.18", "page_ref_mod count=2 val=1|page_ref_mod count=4 val=2", "page_ref_mod_and_test count=1 val=-3 ret=0")]
    public void SlowHugetlbPin_EventsPerVersion(string kernel, string pin, string unpin)
    {
        string script = $"machine --arch x86_64 --kernel {kernel} --model sparsemem-vmemmap --ram 0-1G --hugepages \"hugepagesz=2M hugepages=1\"\n"
            + "mmap A 2M hugetlb=2M\ntouch A write\npin A pages=3\nunpin A\n";
        var r = new ScenarioRunner(TextWriter.Null) { TracePageRef = true }.Run(script, "t.scenario");
        Assert.Equal(pin, Events(StepOutput(r, 4)));
        Assert.Equal(unpin, Events(StepOutput(r, 5)));
    }

    /// <summary>
    /// A slow-GUP pin of two subpages of the second 2 MiB page of a shared hugetlbfs mapping nothing has touched:
    /// GUP faults the page in (hugetlb_fault() → huge_pte_alloc(), then hugetlb_no_page()), and the trace shows the
    /// pool and the page cache as the version's code changes the count, then the pin's grab. Worked out from the
    /// kernels' code: the dequeue gives the free page (count 0) its reference — set_page_refcounted() (page_ref_set)
    /// before v6.3, folio_ref_unfreeze(folio, 1) (page_ref_unfreeze) from a36f1e902474 (v6.3); the page cache's add
    /// runs with PG_locked set (__SetPageLocked() before add_to_page_cache(), __folio_set_locked() before
    /// __filemap_add_folio()) and no mapping yet, taking one reference (get_page(), folio_ref_add(folio, 1)) before
    /// v6.7 and folio_nr_pages() = 512 from a08c7193e4f1 (v6.7); set_page_dirty() then marks the head, so the grab's
    /// lines show uptodate|dirty|head (bits 2, 3, 16), mapped once (page_mapcount() 1) by the inode's address_space.
    /// The grab: v5.10's follow_hugetlb_page() try_grab_page() per subpage (page_ref_add(1): the huge page has an
    /// exact pincount), v6.3's one try_grab_folio(2) (page_ref_add_unless), v6.7's hugetlb_follow_page_mask()
    /// try_grab_page() then try_grab_folio(page_increm − 1 = 1). mt=1: the pool's pages are GFP_HIGHUSER_MOVABLE,
    /// from MIGRATE_MOVABLE pageblocks.
    /// </summary>
    [Theory]
    [InlineData("5.10", "page_ref_set", 1, "page_ref_mod count=3 val=1|page_ref_mod count=4 val=1")]
    [InlineData("6.3", "page_ref_unfreeze", 1, "page_ref_mod_unless count=4 val=2 ret=1")]
    [InlineData("6.7", "page_ref_unfreeze", 512, "page_ref_mod count=514 val=1|page_ref_mod_unless count=515 val=1 ret=1")]
    public void SlowPin_FaultsASharedHugetlbfsPage_PoolAndPageCacheLines(string kernel, string dequeueEvent, int cacheRefs, string grab)
    {
        string script = $"machine --arch x86_64 --kernel {kernel} --model sparsemem-vmemmap --ram 0-4G --hugepages \"hugepagesz=2M hugepages=2\"\n"
            + "mount /mnt/huge pagesize=2M\nopen F /mnt/huge/f\nmmap A 4M file=F shared\npin A pages=2 offset=0x200000\n";
        var runner = new ScenarioRunner(TextWriter.Null) { TracePageRef = true };
        var r = runner.Run(script, "t.scenario");
        Assert.True(runner.TryGetMapping("A", out ulong addr, out _));
        ulong head = runner.Process!.WalkLeaf(addr + (2UL << 20))!.Value.Entry.Pfn.Value;
        var m = runner.Machine!;
        string mapping = DumpPage.Pointer(m, m.StructPages.Mapping(m.PfnToPage(GupSim.Core.Pfn.FromUInt64(head))));
        var lines = StepOutput(r, 5).Where(l => l.StartsWith("  trace: ", StringComparison.Ordinal) && l.Contains($" pfn=0x{head:x} ", StringComparison.Ordinal))
            .Select(l => l["  trace: ".Length..]).ToList();
        string p = $"pfn=0x{head:x}";
        Assert.Equal($"{dequeueEvent}: {p} flags=head count=1 mapcount=0 mapping=0000000000000000 mt=1 val=1", lines[0]);
        Assert.Equal($"page_ref_mod: {p} flags=locked|uptodate|head count={1 + cacheRefs} mapcount=0 mapping=0000000000000000 mt=1 val={cacheRefs}", lines[1]);
        // The grab's lines: the page is mapped (page_mapcount() 1) by the inode's address_space; counts go on from
        // 1 (the mapping's) + the cache's.
        var grabLines = lines.Skip(2).ToList();
        string[] want = grab.Split('|');
        Assert.Equal(want.Length, grabLines.Count);
        for (int i = 0; i < want.Length; i++)
        {
            string[] w = want[i].Split(' ');
            string tail = w.Length > 3 ? " " + w[3] : "";
            Assert.Equal($"{w[0]}: {p} flags=uptodate|dirty|head {w[1]} mapcount=1 mapping={mapping} mt=1 {w[2]}{tail}", grabLines[i]);
        }
    }

    /// <summary>
    /// A FOLL_LONGTERM pin of a shared hugetlbfs 1 GiB page in hugetlb_cma on v6.7 migrates it to the free pool page
    /// outside CMA, and the trace shows every reference move. Worked out by hand from v6.7's code: the mapped page
    /// holds 1 (the mapping) + 262144 (the page cache: folio_nr_pages(), a08c7193e4f1) = 262145. hugetlb_follow_page_mask()
    /// grabs it (try_grab_page(): +1); collect_longterm_unpinnable_folios() isolates it (isolate_hugetlb()'s
    /// get_page_unless_zero(): +1) and unpins it (−1); the target is dequeued (folio_ref_unfreeze(1)); try_to_migrate()
    /// removes the mapping (page_remove_rmap() first: mapcount 0, then put: 262145); migrate_huge_page_move_mapping()
    /// freezes the old page at folio_expected_refs() = 1 + 262144, gives the new one the cache's 262144 and unfreezes
    /// the old one at 262145 − 262144 = 1; remove_migration_ptes() takes the new page's mapping reference before its
    /// rmap (folio_migrate_flags() has copied PG_uptodate and PG_dirty by then); the old page's putback frees it
    /// (ret=1) and the new page's drops the allocation reference: 262145, mapped once. Then the retry pins the new page.
    /// mt: 4 (MIGRATE_CMA) for the old page, 1 (MIGRATE_MOVABLE) for the contiguous allocation outside CMA.
    /// </summary>
    [Fact]
    public void LongtermPin_MigratesAHugetlbfsPageOutOfCma_EveryReferenceMoveTraced()
    {
        const string Script = """
            machine --kernel 6.7 --model sparsemem-vmemmap --ram 0-3G,4G-6G --hugetlb-cma 1G
            hugepages 1G=1
            mount /mnt/huge pagesize=1G
            open F /mnt/huge/f
            mmap A 1G file=F shared
            touch A write
            hugepages 1G=2
            pin A longterm write pages=1
            expect migrated 1
            """;
        var runner = new ScenarioRunner(TextWriter.Null) { TracePageRef = true };
        var r = runner.Run(Script, "t.scenario");
        Assert.Equal(0, r.ExpectationsFailed);
        var m = runner.Machine!;
        Assert.True(runner.TryGetMapping("A", out ulong addr, out _));
        ulong now = runner.Process!.WalkLeaf(addr)!.Value.Entry.Pfn.Value;
        string mapping = DumpPage.Pointer(m, m.StructPages.Mapping(m.PfnToPage(Pfn.FromUInt64(now))));
        // Placement addresses: the first pool page is the hugetlb_cma area's (at 4 GiB), the second
        // alloc_contig_pages()'s (the first free 1 GiB-aligned range, at 1 GiB); the page table names the new one.
        const string Old = "pfn=0x100000", New = "pfn=0x40000";
        Assert.Equal(0x40000UL, now);
        string M(string pfn, string flags, long count, int mapcount, string map, int mt, string tail) =>
            $"{pfn} flags={flags} count={count} mapcount={mapcount} mapping={map} mt={mt} {tail}";
        const string Ud = "uptodate|dirty|head";
        const string Null = "0000000000000000";
        Assert.Equal(
            [
                "page_ref_mod: " + M(Old, Ud, 262146, 1, mapping, 4, "val=1"),
                "page_ref_mod_unless: " + M(Old, Ud, 262147, 1, mapping, 4, "val=1 ret=1"),
                "page_ref_mod_and_test: " + M(Old, Ud, 262146, 1, mapping, 4, "val=-1 ret=0"),
                "page_ref_unfreeze: " + M(New, "head", 1, 0, Null, 1, "val=1"),
                "page_ref_mod_and_test: " + M(Old, Ud, 262145, 0, mapping, 4, "val=-1 ret=0"),
                "page_ref_freeze: " + M(Old, Ud, 0, 0, mapping, 4, "val=262145 ret=1"),
                "page_ref_mod: " + M(New, "head", 262145, 0, mapping, 1, "val=262144"),
                "page_ref_unfreeze: " + M(Old, Ud, 1, 0, mapping, 4, "val=1"),
                "page_ref_mod: " + M(New, Ud, 262146, 0, mapping, 1, "val=1"),
                "page_ref_mod_and_test: " + M(Old, Ud, 0, 0, mapping, 4, "val=-1 ret=1"),
                "page_ref_mod_and_test: " + M(New, Ud, 262145, 1, mapping, 1, "val=-1 ret=0"),
                "page_ref_mod: " + M(New, Ud, 262146, 1, mapping, 1, "val=1"),
            ],
            StepOutput(r, 8).Where(l => l.StartsWith("  trace: ", StringComparison.Ordinal)).Select(l => l["  trace: ".Length..]));
    }

    /// <summary>
    /// A FOLL_WRITE pin of a private mapping of a hugetlbfs page that a shared mapping wrote and the private one only
    /// read: GUP finds the entry read-only and faults (hugetlb_fault() on a present entry → hugetlb_cow(), named
    /// hugetlb_wp() from v6.1), which copies the page-cache page P to a pool page Q, then pins Q. Worked out by hand
    /// from v6.1's mm/hugetlb.c (linux-source-6.1): P holds 1 (the page cache) + 1 (the shared mapping) + 1 (the
    /// private one) = 3, mapped twice. find_lock_page() takes the lookup reference (4) and then locks P; P is the
    /// page-cache page, so hugetlb_fault() does not trylock it again and takes get_page() (5); hugetlb_wp() takes its
    /// own get_page(old_page) (6) before alloc_huge_page() dequeues Q (set_page_refcounted(), before v6.3);
    /// page_remove_rmap() leaves P mapped once, and the two puts of hugetlb_wp() (the private mapping's reference,
    /// then the get) and hugetlb_fault()'s put_page(page) run with P still locked (5, 4, 3); unlock_page() and
    /// put_page() of the page-cache page bring it back to 2. The anon_vma_prepare() of the copy allocates the
    /// anon_vma slab's page (the one page_ref_set line of a pfn other than P's and Q's). Then follow_hugetlb_page()
    /// retries and pins Q, now anonymous (mapping = anon_vma | PAGE_MAPPING_ANON), with try_grab_folio(1).
    /// </summary>
    [Fact]
    public void WritePin_OfAPrivateHugetlbfsPage_CowTracedV61()
    {
        var (runner, r) = RunCow("6.1");
        var (p, q, mapP, mapQ) = CowPages(runner);
        const string Ud = "uptodate|dirty|head", L = "locked|uptodate|dirty|head";
        Assert.Equal(
            [
                $"page_ref_mod_unless: {p} flags={Ud} count=4 mapcount=2 mapping={mapP} mt=1 val=1 ret=1",
                $"page_ref_mod: {p} flags={L} count=5 mapcount=2 mapping={mapP} mt=1 val=1",
                $"page_ref_mod: {p} flags={L} count=6 mapcount=2 mapping={mapP} mt=1 val=1",
                $"page_ref_set: {q} flags=head count=1 mapcount=0 mapping=0000000000000000 mt=1 val=1",
                $"page_ref_mod_and_test: {p} flags={L} count=5 mapcount=1 mapping={mapP} mt=1 val=-1 ret=0",
                $"page_ref_mod_and_test: {p} flags={L} count=4 mapcount=1 mapping={mapP} mt=1 val=-1 ret=0",
                $"page_ref_mod_and_test: {p} flags={L} count=3 mapcount=1 mapping={mapP} mt=1 val=-1 ret=0",
                $"page_ref_mod_and_test: {p} flags={Ud} count=2 mapcount=1 mapping={mapP} mt=1 val=-1 ret=0",
                $"page_ref_mod_unless: {q} flags=uptodate|head count=2 mapcount=1 mapping={mapQ} mt=1 val=1 ret=1",
            ],
            PinLinesOf(r, p, q));
    }

    /// <summary>
    /// The same pin on v6.17, after Oscar Salvador's 2025 series ("mm,hugetlb: change mechanism to detect a COW on
    /// private mapping", "sort out folio locking in the faulting path"): hugetlb_fault() no longer looks the page-cache
    /// folio up, and takes folio_get() (515: 512 for the page cache from v6.7, 1 + 1 for the mappings, + 1) only to call
    /// hugetlb_wp(), without locking a page-cache folio; hugetlb_wp()'s folio_get() (516), Q's dequeue
    /// (folio_ref_unfreeze(), from v6.3), the two puts (515, 514) and hugetlb_fault()'s folio_put() (513). From v6.10
    /// the tracepoint records the raw _mapcount, which a hugetlb head's page type overlays from v6.12:
    /// PGTY_hugetlb (0xf4) &lt;&lt; 24 = 0xf4000000, −201326592 as an int, whatever the mappings. v6.10's slow GUP pins Q
    /// with folio_ref_add() (page_ref_mod).
    /// </summary>
    [Fact]
    public void WritePin_OfAPrivateHugetlbfsPage_CowTracedV617()
    {
        var (runner, r) = RunCow("6.17");
        var (p, q, mapP, mapQ) = CowPages(runner);
        const string Ud = "uptodate|dirty|head";
        const int Type = unchecked((int)0xf4000000);
        Assert.Equal(
            [
                $"page_ref_mod: {p} flags={Ud} count=515 mapcount={Type} mapping={mapP} mt=1 val=1",
                $"page_ref_mod: {p} flags={Ud} count=516 mapcount={Type} mapping={mapP} mt=1 val=1",
                $"page_ref_unfreeze: {q} flags=head count=1 mapcount={Type} mapping=0000000000000000 mt=1 val=1",
                $"page_ref_mod_and_test: {p} flags={Ud} count=515 mapcount={Type} mapping={mapP} mt=1 val=-1 ret=0",
                $"page_ref_mod_and_test: {p} flags={Ud} count=514 mapcount={Type} mapping={mapP} mt=1 val=-1 ret=0",
                $"page_ref_mod_and_test: {p} flags={Ud} count=513 mapcount={Type} mapping={mapP} mt=1 val=-1 ret=0",
                $"page_ref_mod: {q} flags=uptodate|head count=2 mapcount={Type} mapping={mapQ} mt=1 val=1",
            ],
            PinLinesOf(r, p, q));
    }

    private static (ScenarioRunner Runner, ScenarioResult Result) RunCow(string kernel)
    {
        string script = $"machine --arch x86_64 --kernel {kernel} --model sparsemem-vmemmap --ram 0-4G --hugepages \"hugepagesz=2M hugepages=2\"\n"
            + "mount /mnt/huge pagesize=2M\nopen F /mnt/huge/f\nmmap S 2M file=F shared\ntouch S write\nmmap A 2M file=F\ntouch A\n"
            + "pin A write pages=1\n";
        var runner = new ScenarioRunner(TextWriter.Null) { TracePageRef = true };
        return (runner, runner.Run(script, "t.scenario"));
    }

    /// <summary>P (the page-cache page the shared mapping still maps) and Q (the private copy), as pfn= fields, with their mappings.</summary>
    private static (string P, string Q, string MapP, string MapQ) CowPages(ScenarioRunner runner)
    {
        var m = runner.Machine!;
        Assert.True(runner.TryGetMapping("S", out ulong s, out _));
        Assert.True(runner.TryGetMapping("A", out ulong a, out _));
        ulong p = runner.Process!.WalkLeaf(s)!.Value.Entry.Pfn.Value, q = runner.Process!.WalkLeaf(a)!.Value.Entry.Pfn.Value;
        Assert.NotEqual(p, q);
        // %p of page->mapping on a 64-bit kernel with no_hash_pointers: 16 hex digits.
        string Map(ulong pfn) => m.StructPages.Mapping(m.PfnToPage(Pfn.FromUInt64(pfn))).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
        return ($"pfn=0x{p:x}", $"pfn=0x{q:x}", Map(p), Map(q));
    }

    /// <summary>The pin step's (line 8) trace lines for the pfns <paramref name="p"/> and <paramref name="q"/>.</summary>
    private static List<string> PinLinesOf(ScenarioResult r, string p, string q) =>
        [.. StepOutput(r, 8).Where(l => l.StartsWith("  trace: ", StringComparison.Ordinal)).Select(l => l["  trace: ".Length..])
            .Where(l => l.Contains($" {p} ", StringComparison.Ordinal) || l.Contains($" {q} ", StringComparison.Ordinal))];

    /// <summary>
    /// A FOLL_WRITE pin of a private anonymous hugetlb page that was only read (mapped read-only, make_huge_pte()'s
    /// writable = VM_WRITE &amp;&amp; VM_SHARED): hugetlb_wp() reuses it (page_mapcount() 1, PageAnon()), so the fault's
    /// only reference change is hugetlb_fault()'s own pair — before v6.17 get_page() after trylock_page() (the line shows
    /// PG_locked) and put_page() after unlock_page(); from v6.17 folio_get() before folio_lock() and folio_put() after
    /// folio_unlock(), so neither line shows it — then the pin's grab.
    /// </summary>
    [Theory]
    [InlineData("6.1", "page_ref_mod flags=locked|uptodate|head count=2 val=1|page_ref_mod_and_test flags=uptodate|head count=1 val=-1 ret=0|page_ref_mod_unless flags=uptodate|head count=2 val=1 ret=1")]
    [InlineData("6.17", "page_ref_mod flags=uptodate|head count=2 val=1|page_ref_mod_and_test flags=uptodate|head count=1 val=-1 ret=0|page_ref_mod flags=uptodate|head count=2 val=1")]
    public void WritePin_OfAReadOnlyAnonymousHugetlbPage_ReusedAfterTheFaultsPair(string kernel, string expected)
    {
        string script = $"machine --arch x86_64 --kernel {kernel} --model sparsemem-vmemmap --ram 0-1G --hugepages \"hugepagesz=2M hugepages=1\"\n"
            + "mmap A 2M hugetlb=2M\ntouch A\npin A write pages=1\n";
        var r = new ScenarioRunner(TextWriter.Null) { TracePageRef = true }.Run(script, "t.scenario");
        var lines = StepOutput(r, 4).Where(l => l.StartsWith("  trace: ", StringComparison.Ordinal)).Select(l =>
            string.Join(' ', l["  trace: ".Length..].Split(' ').Where(w => w.EndsWith(':') || w.StartsWith("flags=", StringComparison.Ordinal)
                || w.StartsWith("count=", StringComparison.Ordinal) || w.StartsWith("val=", StringComparison.Ordinal) || w.StartsWith("ret=", StringComparison.Ordinal)))
            .Replace(":", "", StringComparison.Ordinal));
        Assert.Equal(expected, string.Join('|', lines));
    }

    /// <summary>
    /// A tmpfs page through fallocate, a shared read fault, a private write fault and munmap, on v6.1, worked out from
    /// mm/filemap.c, mm/shmem.c and mm/memory.c's reference rules: shmem_fallocate() allocates it (set_page_refcounted():
    /// 1, the caller's), shmem_add_to_page_cache() takes the cache's (folio_ref_add(): 2, PG_locked and PG_swapbacked
    /// already set, no mapping yet), and fallocate's folio_put() leaves the cache's (1). The shared read fault's lookup
    /// (folio_try_get(): 2, not mapped yet) becomes the mapping's. The private write fault's do_cow_fault() allocates
    /// the copy first, then __do_fault()'s lookup takes a reference (3, mapped once) that put_page(vmf->page) drops
    /// after the copy (2). munmap of the shared mapping drops its reference (1, unmapped). The page tables of the
    /// first fault (PUD, PMD and PTE tables: three page_ref_set lines of other pfns) come before the lookup.
    /// </summary>
    [Fact]
    public void ShmemPage_FallocateFaultsAndMunmap_ReferenceByReference()
    {
        const string Script = """
            machine --arch x86_64 --kernel 6.1 --model sparsemem-vmemmap --ram 0-1G
            open F /dev/shm/f
            fallocate F 0 4K
            mmap A 4K file=F shared
            touch A
            mmap B 4K file=F
            touch B write
            munmap A
            """;
        var runner = new ScenarioRunner(TextWriter.Null) { TracePageRef = true };
        var r = runner.Run(Script, "t.scenario");
        var inode = runner.Machine!.Vfs.LiveInodes.Single(i => i.Path == "/dev/shm/f");
        string p = $"pfn=0x{inode.Pages.Single().Value:x}";
        List<string> Of(int line) => [.. TraceLines(StepOutput(r, line)).Where(l => l.Contains($" {p} ", StringComparison.Ordinal))];
        Assert.Equal([$"page_ref_set: {p} count=1 val=1", $"page_ref_mod: {p} count=2 val=1", $"page_ref_mod_and_test: {p} count=1 val=-1 ret=0"], Of(3));
        Assert.Equal([$"page_ref_mod_unless: {p} count=2 val=1 ret=1"], Of(5));
        Assert.Equal([$"page_ref_mod_unless: {p} count=3 val=1 ret=1", $"page_ref_mod_and_test: {p} count=2 val=-1 ret=0"], Of(7));
        Assert.Equal([$"page_ref_mod_and_test: {p} count=1 val=-1 ret=0"], Of(8));
        // The first fault's tables come from the buddy before the lookup; the add's line shows PG_locked and
        // PG_swapbacked (bits 0 and 19) and no mapping.
        var touchA = StepOutput(r, 5).Where(l => l.StartsWith("  trace: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, touchA.Count);
        Assert.All(touchA.Take(3), l => Assert.StartsWith("  trace: page_ref_set: ", l));
        Assert.Contains($"page_ref_mod: {p} flags=locked|swapbacked count=2 mapcount=0 mapping=0000000000000000 mt=1 val=1",
            StepOutput(r, 3).Select(l => l.Replace("  trace: ", "", StringComparison.Ordinal)));
    }

    /// <summary>A step's trace lines as <c>EVENT count=… val=… [ret=…]</c>, joined by '|' (the pfn is the pool page's).</summary>
    private static string Events(List<string> output) =>
        string.Join('|', TraceLines(output).Select(l => string.Join(' ', l.Split(' ').Where(w => !w.StartsWith("pfn=", StringComparison.Ordinal))).Replace(":", "", StringComparison.Ordinal)));

    [Fact]
    public void Cli_ScenarioTraceOtherGroup_IsOneLine()
    {
        var r = GupSim.Tests.Cli.CliRun.Run(["scenario", "--trace", "sched", "-"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Equal("gupsim: scenario: --trace sched: GupSim models the page_ref trace events only: use --trace page_ref", Assert.Single(r.StderrLines));
    }
}

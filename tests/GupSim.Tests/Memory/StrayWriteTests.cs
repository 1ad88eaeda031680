using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using GupSim.Scenario;
using System.Text.Json;
using GupSim.Tests.Cli;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>What a store through a wrong pointer hits (docs/architecture.md, "What a stray write hits").</summary>
public class StrayWriteTests
{
    private const int Sps = 64; // sizeof(struct page), x86_64
    private const ulong PageOffset = 0xffff888000000000; // x86_64 direct map (4-level)
    private const PteFlags Ro = PteFlags.Present | PteFlags.User | PteFlags.Young;

    /// <summary>
    /// x86_64 v5.11 classic SPARSEMEM with the per-section fallback (<c>--placement scattered</c>), RAM [0, 4G) on one
    /// node, two 1 GiB pages. Worked out by hand from the placement rules (docs/architecture.md "memblock and
    /// sparse_init"), not by asking the code:
    /// <list type="bullet">
    /// <item>Before the memmaps, memblock (top-down) gave NODE_DATA its 0x2a000 bytes at the top of the node,
    /// [0xfffd6000, 4G), and sparse_init() the 32 usemaps right below it: all inside the top 2 MiB. Each section's
    /// fallback memblock_alloc_try_nid_raw(2 MiB, align 2 MiB) then takes the highest free 2 MiB-aligned block: section
    /// 0 gets [4G − 4M, 4G − 2M) = phys 0xffc00000, and section k the block right below section k − 1's, phys
    /// 0xffc00000 − k × 2 MiB (nothing else is reserved down there: no initrd, no crashkernel). The 64 MiB of memmaps
    /// end at 4G − 66M, above 3G.</item>
    /// <item>ZONE_DMA32 is [16M, 4G) and there is no ZONE_NORMAL. alloc_contig_pages() tries ALIGN(zone_start_pfn
    /// 0x1000, 0x40000) = 0x40000 first, then 0x80000: both GiBs are free buddy memory on a fresh boot (the low 1 MiB
    /// set, the kernel image and brk lie below 64 MiB, NODE_DATA, usemaps and memmaps above 4G − 66M), so the pool is A = [1G, 2G) (head pfn
    /// 0x40000, section 8) and B = [2G, 3G) (head pfn 0x80000, section 16), taken in that order; nothing else comes
    /// from the buddy in between.</item>
    /// <item>enqueue_huge_page() list_move()s to the head of hugepage_freelists[nid] and free_pool_huge_page() takes
    /// <c>.next</c> (the head): LIFO, so nr_hugepages 2 → 1 frees B, then 1 → 0 frees A.</item>
    /// </list>
    /// </summary>
    private static (Machine M, GupSim.Hugetlb.Hstate H) ScatteredGigantic()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 4 * G)), MemmapPlacement.Scattered);
        // The placement this accounting is worked out from (a changed allocator changes these first).
        for (ulong k = 0; k < 32; k++)
            Assert.Equal(PageOffset + 0xffc00000UL - k * 2 * M, m.PresentSections.Single(s => s.Nr == k).MemmapVa);
        var h = m.Hugetlb.Find(G)!;
        ulong free0 = m.FreePagesTotal;
        Assert.Equal(2UL, m.Hugetlb.SetMaxHugePages(h, 2));
        Assert.Equal(free0 - 2 * 262144, m.FreePagesTotal); // the two GiBs and nothing else
        Assert.True(m.Hugetlb.IsHugetlbHead(0x40000));
        Assert.True(m.Hugetlb.IsHugetlbHead(0x80000));
        return (m, h);
    }

    [Fact]
    public void UpdateAndFreePage_V511_ScatteredMemmaps_PageIndexPastTheHeadSection_HitsLowerSections_ExactAccounting()
    {
        var (m, h) = ScatteredGigantic();
        var sp = m.StructPages;
        // Freeing B (head section 16, memmap at phys 0xffc00000 − 16 × 2 MiB = 0xfdc00000): page[i] = __va(0xfdc00000) +
        // 64·i. Subpages 0–32767 are section 16's own. Subpage 32768·j + t (j = 1..7, t < 32768) is at __va(0xfdc00000
        // + j × 2 MiB) + 64·t = section (16 − j)'s memmap + 64·t: the flags word of the struct page of pfn
        // 32768·(16 − j) + t, sections 15..9 = pfns [0x48000, 0x80000). Those are tails of A, still in the pool: in
        // use. 7 × 32768 = 229376 stray stores, all in use.
        // Freeing A next (head section 8, memmap 0xfec00000): subpage 32768·j + t lands on section (8 − j)'s struct
        // page t, sections 7..1 = pfns [0x8000, 0x40000): 128 MiB – 1 GiB, free buddy memory since boot (nothing was
        // allocated from the buddy, and B went back to the buddy above them). 229376 stray stores, all free.
        // Bits: v5.11 clears locked|error|referenced|dirty|active|private|writeback; a hugetlb tail (alloc_contig_range
        // + prep_compound_gigantic_page: refcount 0, compound_head) and a free page have none set, so set three by
        // hand: active on pfn 0x49000 (A's tail in section 9, hit by B's subpage 7·32768 + 0x1000) and referenced +
        // dirty on pfn 0x8010 (free, section 1, hit by A's subpage 7·32768 + 0x10).
        var tailA = m.PfnToPage(Pfn.FromUInt64(0x49000));
        var free8010 = m.PfnToPage(Pfn.FromUInt64(0x8010));
        Assert.Equal(PageOffset + 0xfea00000UL + 0x1000 * Sps, tailA.Address); // section 9's memmap + 64 × 0x1000
        Assert.Equal(PageOffset + 0xfdc00000UL + (7UL * 32768 + 0x1000) * Sps, tailA.Address); // B's page[7·32768 + 0x1000]
        Assert.Equal(PageOffset + 0xffa00000UL + 0x10 * Sps, free8010.Address); // section 1's memmap + 64 × 0x10
        Assert.Equal(PageOffset + 0xfec00000UL + (7UL * 32768 + 0x10) * Sps, free8010.Address); // A's page[7·32768 + 0x10]
        sp.SetFlag(tailA, PageFlagBits.Active);
        sp.SetFlag(free8010, PageFlagBits.Referenced);
        sp.SetFlag(free8010, PageFlagBits.Dirty);
        ulong tailFlags = sp.Flags(tailA) & ~(1UL << PageFlagBits.Active);
        ulong freeFlags = sp.Flags(free8010) & ~(1UL << PageFlagBits.Referenced | 1UL << PageFlagBits.Dirty);

        var before = m.StrayWrites;
        Assert.Equal(1UL, m.Hugetlb.SetMaxHugePages(h, 1));
        var madeB = m.StrayWrites - before;
        Assert.Equal(new StrayWrites(N: 229376, InUse: 229376, Free: 0, PageTables: 0, Slab: 0, Other: 0, Unmapped: 0, BitsChanged: 1), madeB);
        Assert.False(m.Hugetlb.IsHugetlbHead(0x80000)); // B went, A stayed
        Assert.True(m.Hugetlb.IsHugetlbHead(0x40000));
        Assert.Equal(tailFlags, sp.Flags(tailA));

        before = m.StrayWrites;
        Assert.Equal(0UL, m.Hugetlb.SetMaxHugePages(h, 0));
        var madeA = m.StrayWrites - before;
        Assert.Equal(new StrayWrites(N: 229376, InUse: 0, Free: 229376, PageTables: 0, Slab: 0, Other: 0, Unmapped: 0, BitsChanged: 2), madeA);
        Assert.Equal(2UL * 229376, m.Hugetlb.WrongSubpageWritesTotal);
        // The stores changed what was there: silent corruption of two other pages' flags (nothing reads them here).
        Assert.Equal(freeFlags, sp.Flags(free8010));
        Assert.Equal("stray writes: 229376 (struct pages in use 0, free struct pages 229376, page tables 0, slab 0, other kernel data 0, unmapped 0), bits changed 2", madeA.ToLine());
    }

    [Fact]
    public void UpdateAndFreePage_V512_WalksWithMemMapNext_NoStrayWrites()
    {
        var m = Boot("x86_64", KernelVersion.V5_12, MemoryModel.Sparsemem, Ram((0, 2 * G)));
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(4 * G, 5 * G), 0));
        var h = m.Hugetlb.Find(G)!;
        Assert.Equal(1UL, m.Hugetlb.SetMaxHugePages(h, 1));
        Assert.Equal(0UL, m.Hugetlb.SetMaxHugePages(h, 0));
        Assert.Equal(default, m.StrayWrites);
    }

    private static Machine X86() => Boot("x86_64", KernelVersion.V5_11, MemoryModel.SparsememVmemmap, Ram((0, G)));

    private static EntryRef Pte(PageTable pt, ulong a) =>
        pt.PteOffsetMap(pt.PmdOffset(pt.PudOffset(pt.P4dOffset(pt.PgdOffset(a), a), a), a), a);

    [Fact]
    public void PageTablePage_DirectMapAddress_IsTheEntryTheWalkerReads()
    {
        var m = X86();
        Assert.True(PageTable.TryCreate(m, 0, out var pt));
        const ulong a = 0x7f1234567000;
        Assert.Equal(0, pt.SetLeaf(a, null, Pfn.FromUInt64(0x12345), Ro));
        var slot = Pte(pt, a);
        Assert.Equal(359, slot.Index); // (a >> 12) & 511, by hand
        Assert.Equal(KernelPageUse.PageTable, m.KernelPageUseOf(slot.TablePfn.Value));
        ulong va = PageOffset + (slot.TablePfn.Value << 12) + 359 * 8;
        Assert.Equal(va, m.Memory.PhysToVirt(slot.TablePfn.Value << 12) + 359 * 8);
        // The entry as stored: pfn 0x12345 << 12 | Present | User | Young = 0x12345025; the high half is 0.
        Assert.Equal(0x12345025u, m.Memory.ReadU32(va, "test"));
        Assert.Equal(0u, m.Memory.ReadU32(va + 4, "test"));
        // The PGD's slot 254 (by hand from a) holds the PUD table's entry: its pfn, table flags.
        var pgd = pt.PgdOffset(a);
        ulong pgdVa = PageOffset + (pt.PgdPfn.Value << 12) + 254 * 8;
        Assert.Equal(pt.Read(pgd).Value, m.Memory.ReadWord(pgdVa, "test"));
    }

    [Fact]
    public void StrayStore_ClearsPresent_NextWalkAndZapSeeIt()
    {
        var m = X86();
        Assert.True(PageTable.TryCreate(m, 0, out var pt));
        const ulong a = 0x7f1234567000;
        Assert.Equal(0, pt.SetLeaf(a, null, Pfn.FromUInt64(0x12345), Ro));
        var slot = Pte(pt, a);
        ulong va = PageOffset + (slot.TablePfn.Value << 12) + (ulong)slot.Index * 8;
        using (m.Memory.BeginStrayWrites()) m.Memory.WriteU32(va, 0x12345024, "page[i].flags &= ~mask"); // Present cleared
        Assert.Equal(new StrayWrites(1, 0, 0, 1, 0, 0, 0, 1), m.StrayWrites);
        var e = pt.Read(Pte(pt, a));
        Assert.False(e.IsPresent);
        Assert.Equal(0x12345024UL, e.Value);
        // The zap (zap_pte_range via ClearRange) finds the entry non-present and not none: what it would treat as a swap entry.
        var cleared = pt.ClearRange(a, a + 4096);
        Assert.Single(cleared);
        Assert.Equal(0x12345024UL, cleared[0].Old.Value);
        Assert.Equal(0UL, pt.Read(Pte(pt, a)).Value);
    }

    [Fact]
    public void StrayStore_SetsWrite_OnAReadOnlyPte_NextWalkSeesIt()
    {
        var m = X86();
        Assert.True(PageTable.TryCreate(m, 0, out var pt));
        const ulong a = 0x7f1234567000;
        Assert.Equal(0, pt.SetLeaf(a, null, Pfn.FromUInt64(0x12345), Ro));
        var slot = Pte(pt, a);
        ulong va = PageOffset + (slot.TablePfn.Value << 12) + (ulong)slot.Index * 8;
        // An atomic add of 2 (a stray atomic_inc-style store through a wrong pointer): 0x...25 + 2 = 0x...27, _PAGE_RW set.
        using (m.Memory.BeginStrayWrites()) Assert.Equal(0x12345027, m.Memory.AtomicAdd32(va, 2, "atomic_add"));
        Assert.Equal(new StrayWrites(1, 0, 0, 1, 0, 0, 0, 1), m.StrayWrites);
        Assert.True(pt.Read(Pte(pt, a)).IsWrite);
    }

    [Fact]
    public void FreedTablePage_IsPlainMemoryAgain()
    {
        var m = X86();
        Assert.True(PageTable.TryCreate(m, 0, out var pt));
        const ulong a = 0x7f1234567000;
        Assert.Equal(0, pt.SetLeaf(a, null, Pfn.FromUInt64(0x12345), Ro));
        ulong ptePfn = Pte(pt, a).TablePfn.Value;
        pt.UnmapRange(a, a + 4096);
        Assert.False(m.Memory.IsPageTablePage(ptePfn));
        Assert.Equal(KernelPageUse.None, m.KernelPageUseOf(ptePfn));
        ulong va = PageOffset + (ptePfn << 12);
        using (m.Memory.BeginStrayWrites()) m.Memory.WriteU32(va, 0, "stray");
        Assert.Equal(1UL, m.StrayWrites.N);
        Assert.Equal(1UL, m.StrayWrites.Other);
    }

    [Fact]
    public void StrayStore_Unmapped_CountsThenOopses()
    {
        // RAM [0, 3G) and [4G, 9G): the direct map of 3G–4G is a hole.
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G);
        ulong hole = PageOffset + 3 * G + 0x40;
        var scope = m.Memory.BeginStrayWrites();
        try
        {
            Assert.Throws<KernelOops>(() => m.Memory.WriteWord(hole, 0, "writing page->flags"));
        }
        finally
        {
            scope.Dispose();
        }
        Assert.Equal(new StrayWrites(1, 0, 0, 0, 0, 0, 1, 0), m.StrayWrites);
        // Outside a scope the same oops counts nothing.
        Assert.Throws<KernelOops>(() => m.Memory.WriteWord(hole, 0, "writing page->flags"));
        Assert.Equal(1UL, m.StrayWrites.N);
    }

    [Fact]
    public void StrayStore_ThatWritesBackWhatWasThere_ChangesZeroBits()
    {
        var m = X86();
        var page = m.PfnToPage(Pfn.FromUInt64(0x20000)); // a free page of ZONE_DMA32's buddy
        ulong flags = m.StructPages.Flags(page);
        using (m.Memory.BeginStrayWrites()) m.StructPages.SetFlags(page, flags);
        Assert.Equal(new StrayWrites(1, 0, 1, 0, 0, 0, 0, 0), m.StrayWrites);
    }

    [Fact]
    public void Scenario_PrintsTheLine_AndExpectStrayWritesChecksFields()
    {
        // The machine of ScatteredGigantic(), worked out there by hand: freeing B = [2G, 3G) writes 229376 flags words
        // through page[i] onto A's tails (sections 15..9, in use), freeing A = [1G, 2G) 229376 onto the free struct
        // pages of sections 7..1; no masked bit is set on either, so 0 bits. Each expect counts since the last one.
        const string script = """
            machine --arch x86_64 --kernel 5.11 --model sparsemem --ram 0-4G --placement scattered
            hugepages 1G=2
            hugepages 1G=1
            expect stray-writes 229376 in-use=229376 free=0 page-tables=0 slab=0 other=0 unmapped=0 bits=0
            hugepages 1G=0
            expect stray-writes 229376 in-use=0 free=229376 page-tables=0 slab=0 other=0 unmapped=0 bits=0
            expect no-stray-writes
            expect wrong-subpage-writes
            """;
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(script, "t");
        Assert.True(r.ExpectationsFailed == 0, sw.ToString());
        Assert.Equal(4, r.ExpectationsPassed);
        var freeB = r.Steps.Single(s => s.Line == 3);
        var freeA = r.Steps.Single(s => s.Line == 5);
        Assert.Contains("  stray writes: 229376 (struct pages in use 229376, free struct pages 0, page tables 0, slab 0, other kernel data 0, unmapped 0), bits changed 0", freeB.Output);
        Assert.Contains("  stray writes: 229376 (struct pages in use 0, free struct pages 229376, page tables 0, slab 0, other kernel data 0, unmapped 0), bits changed 0", freeA.Output);
        Assert.Equal(new StrayWrites(229376, 229376, 0, 0, 0, 0, 0, 0), freeB.StrayWrites);
        Assert.Equal(new StrayWrites(229376, 0, 229376, 0, 0, 0, 0, 0), freeA.StrayWrites);
        Assert.Null(r.Steps.Single(s => s.Line == 2).StrayWrites);
    }

    [Fact]
    public void Scenario_ExpectStrayWrites_WrongCountFails()
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run("machine --ram 0-4G\nexpect stray-writes 1\nexpect stray-writes\n", "t");
        Assert.Equal(2, r.ExpectationsFailed);
        Assert.Contains("expect stray-writes 1: FAILED (stray writes: 0 (struct pages in use 0", sw.ToString());
    }

    [Fact]
    public void ScenarioJson_StepCarriesTheStrayWriteFields()
    {
        string path = Path.Combine(Path.GetTempPath(), $"gupsim-stray-{Environment.ProcessId}-{Guid.NewGuid():N}.scenario");
        // ScatteredGigantic()'s machine with one pool page: A = [1G, 2G) (head section 8); freeing it writes through
        // page[32768·j + t] onto the struct pages of sections 8 − j = 7..1, pfns [0x8000, 0x40000), free since boot
        // (RAM [0, 3G): the memmaps sit at 0xbfc00000 − k × 2 MiB, above 2G, so [1G, 2G) is still the first candidate).
        File.WriteAllText(path, "machine --arch x86_64 --kernel 5.11 --model sparsemem --ram 0-3G --placement scattered\nhugepages 1G=1\nhugepages 1G=0\n");
        try
        {
            var r = CliRun.Run("scenario", path, "--json");
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            using var doc = JsonDocument.Parse(r.Stdout);
            var steps = doc.RootElement.GetProperty("steps").EnumerateArray().ToList();
            Assert.Equal(JsonValueKind.Null, steps[1].GetProperty("strayWrites").ValueKind);
            var w = steps[2].GetProperty("strayWrites");
            Assert.Equal(229376UL, w.GetProperty("n").GetUInt64());
            Assert.Equal(0UL, w.GetProperty("inUse").GetUInt64());
            Assert.Equal(229376UL, w.GetProperty("free").GetUInt64());
            Assert.Equal(0UL, w.GetProperty("pageTables").GetUInt64());
            Assert.Equal(0UL, w.GetProperty("slab").GetUInt64());
            Assert.Equal(0UL, w.GetProperty("other").GetUInt64());
            Assert.Equal(0UL, w.GetProperty("unmapped").GetUInt64());
            Assert.Equal(0UL, w.GetProperty("bitsChanged").GetUInt64());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Unpin_WrongEntries_ArePutThroughStrayPointers_ThenOops()
    {
        // Trap 1: v5.11 gup-fast fills pages[] with head + i across scattered section memmaps, while the pin itself
        // grabbed the right head; unpin_user_page() on pages[32768] and on puts through compound_head() of whatever is
        // there. Every field sums to N, and the step oopsed iff it counted its one unmapped access (where these
        // entries point is the placement's business: see docs/scenarios.md).
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(File.ReadAllText("../../../../../examples/trap1-gup-fast-pud-v5.11.scenario"), "trap1");
        var unpin = r.Steps.Single(s => s.Op == "unpin");
        var w = Assert.NotNull(unpin.StrayWrites);
        Assert.True(w.N > 0);
        Assert.Equal(unpin.Oops is null ? 0UL : 1UL, w.Unmapped);
        Assert.Equal(w.N, w.InUse + w.Free + w.PageTables + w.Slab + w.Other + w.Unmapped);
        Assert.Contains("  " + w.ToLine(), unpin.Output);
        Assert.Null(r.Steps.Single(s => s.Op == "pin").StrayWrites); // gup-fast grabs the head it read from the PUD
        // The same unpin with a correct pages[] (v5.18, nth_page) makes none.
        var r18 = new ScenarioRunner(new StringWriter()).Run(File.ReadAllText("../../../../../examples/trap1-gup-fast-pud-v5.18.scenario"), "trap1");
        Assert.Null(r18.Steps.Single(s => s.Op == "unpin").StrayWrites);
    }
}

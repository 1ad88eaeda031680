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
    /// x86_64 v5.11 classic SPARSEMEM, RAM [0, 2G) and one hot-added GiB [4G, 5G) (sections 32–39). The 2G boot memmap
    /// is one sparsemap_buf whose section 0 starts at 0xffff88807de00000; the hot-added sections take their order-9
    /// memmaps from the buddy: section 32 at 0xffff88807dc00000 (the block right below the boot buffer), sections
    /// 33–39 at 0xffff888004000000 + (k − 1) × 2 MiB. The only ZONE_NORMAL is the hot-added GiB, so the 1 GiB page is
    /// exactly [4G, 5G).
    /// </summary>
    private static (Machine M, GupSim.Hugetlb.Hstate H) HotplugGigantic()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 2 * G)));
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(4 * G, 5 * G), 0));
        // The placement this accounting is worked out from (a changed allocator changes these first).
        Assert.Equal(0xffff88807de00000UL, m.PresentSections.Single(s => s.Nr == 0).MemmapVa);
        Assert.Equal(0xffff88807dc00000UL, m.PresentSections.Single(s => s.Nr == 32).MemmapVa);
        for (ulong k = 1; k < 8; k++)
            Assert.Equal(0xffff888004000000UL + (k - 1) * 2 * M, m.PresentSections.Single(s => s.Nr == 32 + k).MemmapVa);
        var h = m.Hugetlb.Find(G)!;
        Assert.Equal(1UL, m.Hugetlb.SetMaxHugePages(h, 1));
        return (m, h);
    }

    [Fact(Skip = "issue 10 follow-up: on this machine hot-added memmaps now come out adjacent (fresh-boot kmalloc_large pairs), so page[i] makes no stray writes; the exact accounting needs a machine where they arise from the mechanism, re-derived by hand")]
    public void UpdateAndFreePage_V511_PageIndexPastSection32_HitsTheBootMemmap_ExactAccounting()
    {
        var (m, h) = HotplugGigantic();
        var sp = m.StructPages;
        // page[i] = 0xffff88807dc00000 + 64·i. Subpages 0–32767 are section 32's own; subpage 32768·k + j (k = 1..7)
        // lands on 0xffff88807de00000 + (k − 1)·2 MiB + 64·j = the boot memmap's struct page of pfn 32768·(k − 1) + j:
        // 7 × 32768 = 229376 stray stores, all on struct pages of pfns [0, 0x38000).
        // In use there (not on the buddy's free lists): the kernel image, 48 MiB at 16 MiB = pfns 0x1000–0x3fff
        // (12288), and the memmaps of sections 33–39, 7 × 2 MiB at phys 64 MiB = pfns 0x4000–0x4dff (3584): 15872.
        // Free: 229376 − 15872 = 213504.
        // Bits: v5.11 clears locked|error|referenced|dirty|active|private|writeback; none is set on those pages, so
        // set three by hand: referenced + dirty on pfn 0x10 (free, hit by subpage 32768 + 0x10) and active on pfn 0x1000
        // (the kernel image's first page, hit by subpage 32768 + 0x1000).
        var free10 = m.PfnToPage(Pfn.FromUInt64(0x10));
        var image = m.PfnToPage(Pfn.FromUInt64(0x1000));
        Assert.Equal(0xffff88807de00000UL + 0x10 * Sps, free10.Address);
        Assert.Equal(0xffff88807dc00000UL + (32768UL + 0x10) * Sps, free10.Address);
        sp.SetFlag(free10, PageFlagBits.Referenced);
        sp.SetFlag(free10, PageFlagBits.Dirty);
        sp.SetFlag(image, PageFlagBits.Active);
        ulong imageFlags = sp.Flags(image) & ~(1UL << PageFlagBits.Active);
        var before = m.StrayWrites;

        Assert.Equal(0UL, m.Hugetlb.SetMaxHugePages(h, 0));

        var made = m.StrayWrites - before;
        Assert.Equal(new StrayWrites(N: 229376, InUse: 15872, Free: 213504, PageTables: 0, Slab: 0, Other: 0, Unmapped: 0, BitsChanged: 3), made);
        Assert.Equal(229376UL, m.Hugetlb.WrongSubpageWritesTotal);
        // The stores changed what was there: silent corruption of two other pages' flags (nothing reads them here).
        Assert.False(sp.TestFlag(free10, PageFlagBits.Dirty));
        Assert.False(sp.TestFlag(free10, PageFlagBits.Referenced));
        Assert.Equal(imageFlags, sp.Flags(image));
        Assert.Equal("stray writes: 229376 (struct pages in use 15872, free struct pages 213504, page tables 0, slab 0, other kernel data 0, unmapped 0), bits changed 3", made.ToLine());
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

    [Fact(Skip = "issue 10 follow-up: on this machine hot-added memmaps now come out adjacent (fresh-boot kmalloc_large pairs), so page[i] makes no stray writes; the exact accounting needs a machine where they arise from the mechanism, re-derived by hand")]
    public void Scenario_PrintsTheLine_AndExpectStrayWritesChecksFields()
    {
        const string script = """
            machine --arch x86_64 --kernel 5.11 --model sparsemem --ram 0-2G
            hotplug 4G-5G
            hugepages 1G=1
            hugepages 1G=0
            expect stray-writes 229376 in-use=15872 free=213504 page-tables=0 slab=0 other=0 unmapped=0 bits=0
            expect no-stray-writes
            expect wrong-subpage-writes
            """;
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(script, "t");
        Assert.Equal(3, r.ExpectationsPassed);
        Assert.Equal(0, r.ExpectationsFailed);
        var free = r.Steps.Single(s => s.Line == 4);
        Assert.Contains("  stray writes: 229376 (struct pages in use 15872, free struct pages 213504, page tables 0, slab 0, other kernel data 0, unmapped 0), bits changed 0", free.Output);
        Assert.Equal(new StrayWrites(229376, 15872, 213504, 0, 0, 0, 0, 0), free.StrayWrites);
        Assert.Null(r.Steps.Single(s => s.Line == 3).StrayWrites);
    }

    [Fact]
    public void Scenario_ExpectStrayWrites_WrongCountFails()
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run("machine --ram 0-4G\nexpect stray-writes 1\nexpect stray-writes\n", "t");
        Assert.Equal(2, r.ExpectationsFailed);
        Assert.Contains("expect stray-writes 1: FAILED (stray writes: 0 (struct pages in use 0", sw.ToString());
    }

    [Fact(Skip = "issue 10 follow-up: on this machine hot-added memmaps now come out adjacent (fresh-boot kmalloc_large pairs), so page[i] makes no stray writes; the exact accounting needs a machine where they arise from the mechanism, re-derived by hand")]
    public void ScenarioJson_StepCarriesTheStrayWriteFields()
    {
        string path = Path.Combine(Path.GetTempPath(), $"gupsim-stray-{Environment.ProcessId}-{Guid.NewGuid():N}.scenario");
        File.WriteAllText(path, "machine --arch x86_64 --kernel 5.11 --model sparsemem --ram 0-2G\nhotplug 4G-5G\nhugepages 1G=1\nhugepages 1G=0\n");
        try
        {
            var r = CliRun.Run("scenario", path, "--json");
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            using var doc = JsonDocument.Parse(r.Stdout);
            var steps = doc.RootElement.GetProperty("steps").EnumerateArray().ToList();
            Assert.Equal(JsonValueKind.Null, steps[2].GetProperty("strayWrites").ValueKind);
            var w = steps[3].GetProperty("strayWrites");
            Assert.Equal(229376UL, w.GetProperty("n").GetUInt64());
            Assert.Equal(15872UL, w.GetProperty("inUse").GetUInt64());
            Assert.Equal(213504UL, w.GetProperty("free").GetUInt64());
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

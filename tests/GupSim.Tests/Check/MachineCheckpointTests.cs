using CsCheck;
using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Check;

/// <summary>
/// Machine.Checkpoint() / Machine.Rollback(): a configuration runs on the booted, touched machine and leaves it as it
/// found it — struct pages, stray writes, counters, log and pools — or Rollback says it cannot.
/// </summary>
public class MachineCheckpointTests
{
    private const int Pphp = 262144; // 1 GiB / 4 KiB
    private const int SectionPages = 32768; // 128 MiB / 4 KiB

    /// <summary>examples/trap1-gup-fast-pud-v5.11.scenario's machine: one 1 GiB page mapped and written.</summary>
    private static (Machine M, MmStruct Mm, ulong Addr, ulong HeadPfn) OneGig(bool debugVm = false)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.V5_11),
            Model = MemoryModel.Sparsemem,
            Placement = MemmapPlacement.Scattered,
            Seed = 3,
            Ram = Ram((0, 3 * G), (4 * G, 12 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=1G hugepages=1", null),
            DebugVm = debugVm,
        });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, G, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(G));
        Assert.True(a > 0);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.Write));
        return (m, mm, (ulong)a, mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value);
    }

    /// <summary>A small machine with four 2 MiB pages mapped and written.</summary>
    private static (Machine M, MmStruct Mm, ulong Addr) TwoMeg(string model = "sparsemem")
    {
        var m = new MachineOptions { Kernel = "5.11", Model = model, RamSpec = "0-512M", Hugepages = "hugepagesz=2M hugepages=6" }.Boot();
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 8 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(2 * M));
        Assert.True(a > 0);
        for (ulong off = 0; off < 8 * M; off += 2 * M) Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a + off, FaultFlags.Write));
        return (m, mm, (ulong)a);
    }

    private static PagePtr PageOf(Machine m, ulong pfn) => PagePtr.FromAddress(KnownAddresses.StructPageVa(m, pfn));

    /// <summary>pin_user_pages_fast() then unpin_user_pages() with the oracle's right pages (the scenario's pin/unpin).</summary>
    private static PagePtr[] PinFastAndUnpin(Machine m, MmStruct mm, ulong addr, int n)
    {
        var pages = new PagePtr[n];
        Assert.Equal(n, new GetUserPages(m).PinUserPagesFast(mm, addr, n, FollFlags.Write, pages));
        var right = new PagePtr[n];
        PagesOracle.RightPages(mm, addr, right);
        m.Grab.UnpinUserPages(pages, right);
        return pages;
    }

    [Fact]
    public void Trap1_PinFastUnpin_Rollback_PutsHeadWrongPagesStrayWritesAndCountersBack()
    {
        var (m, mm, addr, head) = OneGig();
        var sp = m.StructPages;
        var headPage = PageOf(m, head);
        // page++ off section 80's memmap (the head's section: 0x280000 / 32768) runs into sections 79, 78, ... 73:
        // pages[32768 + k] is the struct page of pfn 0x278000 + k for k < 32768, and so on down.
        Assert.Equal(0x280000UL, head);
        ulong[] wrongPfns = [0x278000, 0x278001, 0x27ffff, 0x270000, 0x248000];
        foreach (ulong p in wrongPfns) Assert.True(m.IsPfnFreeInBuddy(p)); // free on this fresh boot: _refcount 0
        var stray0 = m.StrayWrites;
        var counters0 = m.Grab.Counters.Snapshot();
        long acquired0 = m.Grab.FollPinAcquired, released0 = m.Grab.FollPinReleased;
        int log0 = m.KernelLog.Count;
        Assert.False(mm.HasPinned); // nothing pinned in this address space yet
        var cp = m.Checkpoint();

        var pages = PinFastAndUnpin(m, mm, addr, Pphp);
        Assert.True(mm.HasPinned); // FOLL_PIN set mm->has_pinned (sticky in the kernel)
        Assert.Equal(PageOf(m, 0x278000), pages[SectionPages]);
        Assert.Equal(PageOf(m, 0x248000), pages[7 * SectionPages]);
        // Pinned: 1 (the mapping) + 262144 references, exact pincount 262144. Unpinned through the 32768 right
        // entries only: 229377 and 229376. Each wrong (order-0, free) page lost GUP_PIN_COUNTING_BIAS: 0 → −1024.
        Assert.Equal((229377, 229376), (sp.Refcount(headPage), sp.CompoundPincount(headPage)));
        foreach (ulong p in wrongPfns) Assert.Equal(-1024, sp.Refcount(PageOf(m, p)));
        // Two stores per wrong entry (refcount −1023, then put_page's −1): 0 → 0xfffffc01 changes 23 bits, → 0xfffffc00 one.
        var made = m.StrayWrites - stray0;
        Assert.Equal(new StrayWrites(2 * 229376, 0, 2 * 229376, 0, 0, 0, 0, 24 * 229376), made);
        Assert.Equal(acquired0 + Pphp, m.Grab.FollPinAcquired);
        Assert.Equal(released0 + Pphp, m.Grab.FollPinReleased);

        Assert.True(m.Rollback(cp));
        Assert.False(mm.HasPinned); // as at the checkpoint
        Assert.Equal((1, 0), (sp.Refcount(headPage), sp.CompoundPincount(headPage)));
        foreach (ulong p in wrongPfns) Assert.Equal(0, sp.Refcount(PageOf(m, p)));
        Assert.Equal(stray0, m.StrayWrites);
        Assert.Equal(counters0, m.Grab.Counters.Snapshot());
        Assert.Equal((acquired0, released0), (m.Grab.FollPinAcquired, m.Grab.FollPinReleased));
        Assert.Equal(log0, m.KernelLog.Count);
        Assert.Null(cp.Refusal);
        cp.Dispose();
        Assert.Null(m.OpenCheckpoint);
    }

    [Fact]
    public void Trap1_SecondRunAfterRollback_GivesIdenticalResults()
    {
        var (m, mm, addr, head) = OneGig();
        var sp = m.StructPages;
        using var cp = m.Checkpoint();
        var results = new List<(PagePtr[] Pages, StrayWrites Stray, GupCounterValues Counters, int Ref, int Pin, int Wrong)>();
        for (int run = 0; run < 2; run++)
        {
            var stray0 = m.StrayWrites;
            var c0 = m.Grab.Counters.Snapshot();
            var pages = PinFastAndUnpin(m, mm, addr, Pphp);
            results.Add((pages, m.StrayWrites - stray0, m.Grab.Counters.Snapshot() - c0, sp.Refcount(PageOf(m, head)), sp.CompoundPincount(PageOf(m, head)), sp.Refcount(PageOf(m, 0x278000))));
            Assert.True(m.Rollback(cp));
        }
        Assert.True(results[0].Pages.AsSpan().SequenceEqual(results[1].Pages)); // the same pointers, entry by entry
        Assert.Equal(results[0].Stray, results[1].Stray);
        Assert.Equal(results[0].Counters, results[1].Counters);
        Assert.Equal((229377, 229376, -1024), (results[0].Ref, results[0].Pin, results[0].Wrong));
        Assert.Equal((results[0].Ref, results[0].Pin, results[0].Wrong), (results[1].Ref, results[1].Pin, results[1].Wrong));
        Assert.Equal(2, cp.Rollbacks);
    }

    [Fact]
    public void Trap1_GetFastPut_WithDebugVm_Oopses_RollbackTakesTheLogAndCountsBack()
    {
        var (m, mm, addr, head) = OneGig(debugVm: true);
        var sp = m.StructPages;
        int log0 = m.KernelLog.Count;
        using var cp = m.Checkpoint();
        var pages = new PagePtr[Pphp];
        Assert.Equal(Pphp, new GetUserPages(m).GetUserPagesFast(mm, addr, Pphp, FollFlags.Write, pages));
        Assert.Equal(1 + Pphp, sp.Refcount(PageOf(m, head)));
        // put_page() on pages[32768], the free struct page of pfn 0x278000 (_refcount 0): VM_BUG_ON_PAGE.
        var oops = Assert.Throws<KernelOops>(() => m.Grab.PutPages(pages));
        Assert.Contains("VM_BUG_ON_PAGE(page_ref_count(page) == 0)", oops.Message, StringComparison.Ordinal);
        Assert.Equal(1 + Pphp - SectionPages, sp.Refcount(PageOf(m, head))); // the 32768 right puts went through
        Assert.True(m.KernelLog.Count > log0); // dump_page()
        Assert.True(m.Rollback(cp));
        Assert.Equal(1, sp.Refcount(PageOf(m, head)));
        Assert.Equal(0, sp.Refcount(PageOf(m, 0x278000)));
        Assert.Equal(log0, m.KernelLog.Count);
    }

    [Fact]
    public void ExtraPut_FreesTheHugePageToThePool_RollbackPutsItBackMapped()
    {
        var (m, mm, addr) = TwoMeg();
        var h = m.Hugetlb.Find(2 * M)!;
        ulong headPfn = mm.WalkLeaf(addr)!.Value.Entry.Pfn.Value;
        var head = PageOf(m, headPfn);
        var sp = m.StructPages;
        // Six in the pool, four mapped: two free.
        Assert.Equal((6UL, 2UL), (h.NrHugePages, h.FreeHugePages));
        var free0 = h.FreeList(0).ToArray();
        Assert.Equal(1, sp.Refcount(head));
        using var cp = m.Checkpoint();
        var pages = new PagePtr[512];
        Assert.Equal(512, new GetUserPages(m).GetUserPagesFast(mm, addr, 512, FollFlags.Write, pages));
        Assert.Equal(513, sp.Refcount(head));
        m.Grab.PutPages(pages);
        m.Grab.PutPage(pages[0]); // one put too many: the mapping's reference goes, free_huge_page() enqueues it
        Assert.Equal(0, sp.Refcount(head));
        Assert.Equal(3UL, h.FreeHugePages);
        Assert.Equal(headPfn, h.FreeList(0).First());
        Assert.True(m.Rollback(cp));
        Assert.Equal(1, sp.Refcount(head));
        Assert.Equal((6UL, 2UL), (h.NrHugePages, h.FreeHugePages));
        Assert.Equal(free0, h.FreeList(0).ToArray());
    }

    [Fact]
    public void StrayStores_IntoOtherKernelDataAndAPageTable_AreUndone()
    {
        var (m, mm, addr) = TwoMeg();
        ulong headPfn = mm.WalkLeaf(addr)!.Value.Entry.Pfn.Value;
        // The kernel image at 16 MiB through the direct map (x86_64: PAGE_OFFSET 0xffff888000000000 + phys): other kernel data.
        ulong other = 0xffff888000000000UL + 0x1000000;
        Assert.Equal(AddressKind.Other, m.Describe(other).Kind);
        uint before = m.Memory.ReadU32(other, "test");
        Assert.Equal(m.Memory.Garbage(other), before); // nobody wrote it yet: the machine's deterministic contents
        // The PGD slot of the mapping, through the direct map of the PGD page: pgd + pgd_index(addr) × 8.
        var slot = mm.PageTable.PgdOffset(addr);
        ulong pgdSlotPhys = (mm.PageTable.PgdPfn.Value << 12) + ((addr >> 39) & 511) * 8;
        Assert.Equal(pgdSlotPhys, slot.SlotAddress);
        ulong pgdVa = 0xffff888000000000UL + pgdSlotPhys;
        ulong pgdEntry = mm.PageTable.Read(slot).Value;
        Assert.NotEqual(0UL, pgdEntry);
        Assert.Equal(pgdEntry, m.Memory.ReadWord(pgdVa, "test"));
        var stray0 = m.StrayWrites;
        using var cp = m.Checkpoint();
        using (m.Memory.BeginStrayWrites())
        {
            m.Memory.WriteU32(other, ~before, "test");
            m.Memory.WriteWord(pgdVa, 0, "test");
        }
        Assert.Equal(~before, m.Memory.ReadU32(other, "test"));
        Assert.Null(mm.WalkLeaf(addr)); // the walk finds no PGD entry now
        var made = m.StrayWrites - stray0;
        Assert.Equal((2UL, 1UL, 1UL), (made.N, made.Other, made.PageTables));
        Assert.Equal(32UL + (ulong)System.Numerics.BitOperations.PopCount(pgdEntry), made.BitsChanged);
        Assert.True(m.Rollback(cp));
        Assert.Equal(before, m.Memory.ReadU32(other, "test"));
        Assert.Equal(pgdEntry, mm.PageTable.Read(slot).Value);
        Assert.Equal(headPfn, mm.WalkLeaf(addr)!.Value.Entry.Pfn.Value);
        Assert.Equal(stray0, m.StrayWrites);
    }

    [Fact]
    public void LongtermMigration_MakesRollbackReturnFalse()
    {
        var m = new MachineOptions { Kernel = "5.13", Model = "sparsemem-vmemmap", RamSpec = "0-3G,4G-6G", Cma = "1G" }.Boot();
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 16 << 12, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        for (int i = 0; i < 16; i++) Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a + ((ulong)i << 12), FaultFlags.Write));
        ulong pfn0 = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value;
        Assert.True(m.IsCmaPfn(pfn0)); // movable anon faults take CMA pages first here
        using var cp = m.Checkpoint();
        // Without FOLL_LONGTERM nothing moves: the rollback holds.
        var pages = new PagePtr[16];
        Assert.Equal(16, new GetUserPages(m).PinUserPagesRemote(mm, (ulong)a, 16, FollFlags.Write, pages));
        m.Grab.UnpinUserPages(pages);
        Assert.True(m.Rollback(cp));
        // FOLL_LONGTERM migrates the CMA pages out: page allocator and page tables changed, not journaled.
        var gup = new GetUserPages(m);
        Assert.Equal(16, gup.PinUserPagesRemote(mm, (ulong)a, 16, FollFlags.Write | FollFlags.Longterm, pages));
        Assert.Equal(16, gup.Migrated.Count);
        Assert.False(m.Rollback(cp));
        Assert.Equal("the page allocator changed (a page was allocated or freed)", cp.Refusal);
        Assert.False(m.Rollback(cp)); // and it stays refused
    }

    [Fact]
    public void AHeadLeftIsolatedForMigration_MakesRollbackReturnFalse()
    {
        var (m, _, _, head) = OneGig();
        using var cp = m.Checkpoint();
        // isolate_hugetlb() without its putback (an oops between the two): the isolation list is not journaled,
        // so the machine cannot be the checkpoint's again.
        Assert.True(m.Migrator.IsolateHugePage(PageOf(m, head), []));
        Assert.False(m.Rollback(cp));
        Assert.Equal("a page is still isolated for migration (an oops between isolate and putback)", cp.Refusal);
    }

    [Fact]
    public void Checkpoint_Misuse_IsRefused()
    {
        var (m, _, _) = TwoMeg();
        var cp = m.Checkpoint();
        Assert.Throws<InvalidOperationException>(() => m.Checkpoint());
        Exception? fromOther = null;
        var t = new Thread(() => fromOther = Record.Exception(() => m.Rollback(cp)));
        t.Start();
        t.Join();
        Assert.IsType<InvalidOperationException>(fromOther);
        cp.Dispose();
        Assert.Throws<ArgumentException>(() => m.Rollback(cp));
        using var cp2 = m.Checkpoint();
        Assert.True(m.Rollback(cp2));
    }

    /// <summary>Every unit of every struct page of [first, end), read one by one.</summary>
    private static uint[] ReadAllWords(Machine m, ulong first, ulong end)
    {
        int upp = m.Store.UnitsPerPage;
        var words = new uint[(int)(end - first) * upp];
        for (ulong p = first; p < end; p++)
            for (int u = 0; u < upp; u++) words[(int)(p - first) * upp + u] = m.Store.ReadUnit(p, u);
        return words;
    }

    /// <summary>
    /// Random pin/unpin/get/put sequences (fast and slow, on random ranges, releases matched or not) on the 2 MiB
    /// machine; after each rollback that succeeds, every struct page word of the machine equals the snapshot read
    /// before the first run, and so do the pools, the log and the stray-write totals.
    /// </summary>
    [Fact]
    public void RandomGupSequences_Rollback_EveryStructPageWordAsBefore_TwoMeg()
    {
        var (m, mm, addr) = TwoMeg();
        ulong first = m.MinPfn, end = m.MaxPfn;
        var snapshot = ReadAllWords(m, first, end);
        var h = m.Hugetlb.Find(2 * M)!;
        var pool0 = (h.NrHugePages, h.FreeHugePages, h.ResvHugePages, h.SurplusHugePages);
        var freeList0 = h.FreeList(0).ToArray();
        int log0 = m.KernelLog.Count;
        var stray0 = m.StrayWrites;
        var cp = m.Checkpoint();
        long restored = 0;
        var op = Gen.Select(Gen.Int[0, 5], Gen.Int[0, 2047], Gen.Int[1, 1200]);
        op.Array[1, 8].Sample(ops =>
        {
            RunOps(m, mm, addr, 2048, ops);
            if (!m.Rollback(cp))
            {
                // Not journaled state changed: the caller's answer is a fresh machine, which must match the snapshot too.
                (m, mm, addr) = TwoMeg();
                Assert.Equal(snapshot, ReadAllWords(m, first, end));
                h = m.Hugetlb.Find(2 * M)!;
                cp = m.Checkpoint();
                return;
            }
            restored++;
            Assert.Equal(snapshot, ReadAllWords(m, first, end));
            Assert.Equal(pool0, (h.NrHugePages, h.FreeHugePages, h.ResvHugePages, h.SurplusHugePages));
            Assert.Equal(freeList0, h.FreeList(0).ToArray());
            Assert.Equal(log0, m.KernelLog.Count);
            Assert.Equal(stray0, m.StrayWrites);
        }, iter: 40, threads: 1);
        Assert.True(restored >= 30); // nothing here normally frees or faults
        cp.Dispose();
    }

    /// <summary>The same property on trap1's machine, where unpins go through wrong pages; words of sections 72–88 compared.</summary>
    [Fact]
    public void RandomGupSequences_Rollback_EveryStructPageWordAsBefore_OneGigTrap1()
    {
        var (m, mm, addr, head) = OneGig();
        ulong first = head - 8 * SectionPages, end = head + 8 * SectionPages;
        var snapshot = ReadAllWords(m, first, end);
        var stray0 = m.StrayWrites;
        using var cp = m.Checkpoint();
        var op = Gen.Select(Gen.Int[0, 5], Gen.Int[0, Pphp - 1], Gen.Int[1, 3 * SectionPages]);
        op.Array[1, 4].Sample(ops =>
        {
            RunOps(m, mm, addr, Pphp, ops);
            Assert.True(m.Rollback(cp)); // nothing here frees or faults: every run can be undone
            Assert.Equal(snapshot, ReadAllWords(m, first, end));
            Assert.Equal(stray0, m.StrayWrites);
        }, iter: 12, threads: 1);
    }

    /// <summary>
    /// Runs ops: 0 pin fast, 1 pin slow, 2 get fast, 3 get slow (each keeps what it took), 4 unpin, 5 put the
    /// entries of the last take — whatever it was (a put after a pin, an unpin after a get: releases that do not match).
    /// </summary>
    private static void RunOps(Machine m, MmStruct mm, ulong addr, int total, (int Kind, int Start, int Length)[] ops)
    {
        var gup = new GetUserPages(m);
        PagePtr[]? last = null;
        PagePtr[]? lastRight = null;
        foreach (var (kind, start, length) in ops)
        {
            int n = Math.Min(length, total - start);
            ulong va = addr + ((ulong)start << m.Arch.PageShift);
            try
            {
                if (kind <= 3)
                {
                    var pages = new PagePtr[n];
                    long got = kind switch
                    {
                        0 => gup.PinUserPagesFast(mm, va, n, FollFlags.Write, pages),
                        1 => gup.PinUserPagesRemote(mm, va, n, FollFlags.Write, pages),
                        2 => gup.GetUserPagesFast(mm, va, n, FollFlags.Write, pages),
                        _ => gup.GetUserPagesRemote(mm, va, n, FollFlags.Write, pages),
                    };
                    if (got <= 0) continue;
                    last = pages[..(int)got];
                    lastRight = new PagePtr[got];
                    PagesOracle.RightPages(mm, va, lastRight);
                }
                else if (last is not null)
                {
                    if (kind == 4) m.Grab.UnpinUserPages(last, lastRight);
                    else m.Grab.PutPages(last, lastRight);
                    last = null;
                }
            }
            catch (KernelOops)
            {
                last = null; // the run oopsed: the machine goes back all the same
            }
        }
    }

    [Fact]
    public void ARollback_ForgetsTheWarnOnceSitesThatFiredAfterIt()
    {
        // WARN_ON_ONCE's __warned is per booted kernel: a configuration rolled back never ran, so the next one on the
        // same machine prints the WARNING again; a site that fired before the checkpoint stays silent.
        var m = new MachineOptions { Kernel = "5.11", RamSpec = "0-512M" }.Boot();
        m.WarnOnce("before", "WARNING: before");
        int log0 = m.KernelLog.Count;
        var cp = m.Checkpoint();
        m.WarnOnce("site", "WARNING: site");
        m.WarnOnce("site", "WARNING: site");
        m.WarnOnce("before", "WARNING: before");
        Assert.Equal(["WARNING: site"], m.KernelLog.Skip(log0));
        Assert.True(m.Rollback(cp));
        Assert.Equal(log0, m.KernelLog.Count);
        m.WarnOnce("site", "WARNING: site");
        m.WarnOnce("before", "WARNING: before");
        Assert.Equal(["WARNING: site"], m.KernelLog.Skip(log0));
    }
}

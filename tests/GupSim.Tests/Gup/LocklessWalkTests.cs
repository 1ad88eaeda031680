using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>
/// gup-fast's lockless walk against a munmap that frees a table between the walker's read of the upper entry and its
/// descent (issue 9 §1), forced deterministically through <see cref="PageTable.LocklessDescendHook"/>.
/// </summary>
public class LocklessWalkTests
{
    /// <summary>x86_64 vmemmap base (VMEMMAP_START, Documentation/x86/x86_64/mm.rst, 4-level), sizeof(struct page) 64.</summary>
    private const ulong X86Vmemmap = 0xffffea0000000000UL;

    private static Machine Boot(KernelVersion v) => Machine.Boot(new MachineSpec
    {
        Arch = ArchProfiles.Get("x86_64", v),
        Ram = Ram((0, 3 * G), (4 * G, 6 * G)),
        Hugepages = HugepagesCmdline.Parse("hugepagesz=2M hugepages=8", null),
    });

    private static Pfn TableBelow(PageTable t, ulong addr, PgLevel upper)
    {
        var pgd = t.PgdOffset(addr);
        var p4d = t.P4dOffset(pgd, addr);
        var pud = t.PudOffset(p4d, addr);
        if (upper == PgLevel.Pud) return t.Read(pud).Pfn;
        return t.Read(t.PmdOffset(pud, addr)).Pfn;
    }

    // Back with the page allocator: in a buddy block, or (an order-0 table page) on cpu 0's pcp list.
    private static bool InBuddy(Machine m, Pfn pfn)
    {
        var z = m.ZoneOfPfn(pfn.Value)!;
        return z.TryFindFreeBlock(pfn.Value, out _, out _) || m.PageAlloc.IsOnPcpList(z, pfn.Value);
    }

    /// <summary>
    /// Four 2 MiB hugetlb pages at [1 GiB − 4 MiB, 1 GiB + 4 MiB): two in the PMD table of the first GiB, two in the
    /// next one's. The walker has read and checked the second PUD entry when munmap removes [1 GiB, 1 GiB + 4 MiB):
    /// that PMD table is emptied and freed. Descending from the value read, the walker finds the (still readable,
    /// cleared) table: its first PMD is none, gup-fast stops with the first two huge pages = 1024 subpages, and the
    /// slow path finds no VMA at 1 GiB (−EFAULT), so pin_user_pages_fast() returns the 1024 it has.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PmdTableFreedBetweenPudReadAndDescent_ReturnsWhatWasPinned(bool fastOnly)
    {
        var m = Boot(KernelVersion.V5_12);
        var mm = MmStruct.Create(m)!;
        const ulong a = G - 4 * M;
        Assert.Equal((long)a, mm.Mmap(a, 8 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapFlags.Fixed));
        for (ulong off = 0; off < 8 * M; off += 2 * M) Assert.Equal(VmFault.None, mm.HandleMmFault(a + off, FaultFlags.Write) & VmFault.Error);
        var t = mm.PageTable;
        Pfn pfn0 = mm.WalkLeaf(a)!.Value.Entry.Pfn, pfn1 = mm.WalkLeaf(a + 2 * M)!.Value.Entry.Pfn;
        Pfn doomed = TableBelow(t, G, PgLevel.Pud);
        Assert.Equal(PgLevel.Pmd, t.TableLevel(doomed));
        ulong free0 = m.FreePagesTotal;
        int fired = 0;
        t.LocklessDescendHook = (level, addr) =>
        {
            if (level != PgLevel.Pmd || addr != G || fired++ != 0) return;
            Assert.Equal(0, mm.Munmap(G, 4 * M));
            // Removed from the tree, but a walker is inside: not back in the buddy yet.
            Assert.Null(t.TableLevel(doomed));
            Assert.Equal(1, t.PendingTableFrees);
            Assert.Equal(1, t.LocklessWalkers);
            Assert.False(InBuddy(m, doomed));
            Assert.Equal(free0, m.FreePagesTotal);
        };
        var gup = new GetUserPages(m);
        var pages = new PagePtr[2048];
        long n = gup.PinUserPagesFast(mm, a, 2048, FollFlags.Write | (fastOnly ? FollFlags.FastOnly : 0), pages);
        t.LocklessDescendHook = null;

        Assert.Equal(1, fired);
        Assert.Equal(1024, n);
        // The walker has left: the table page is reclaimed.
        Assert.Equal((0, 0), (t.PendingTableFrees, t.LocklessWalkers));
        Assert.True(InBuddy(m, doomed));
        Assert.Equal(free0 + 1, m.FreePagesTotal);
        for (int i = 0; i < 512; i++)
        {
            Assert.Equal(X86Vmemmap + (pfn0.Value + (ulong)i) * 64, pages[i].Address);
            Assert.Equal(X86Vmemmap + (pfn1.Value + (ulong)i) * 64, pages[512 + i].Address);
        }
        var head0 = PagePtr.FromAddress(X86Vmemmap + pfn0.Value * 64);
        var head1 = PagePtr.FromAddress(X86Vmemmap + pfn1.Value * 64);
        // v5.12, order 9: exact pincount; refcount 1 (the mapping) + 512 pins each.
        Assert.Equal((513, 512), (m.StructPages.Refcount(head0), m.StructPages.CompoundPincount(head0)));
        Assert.Equal((513, 512), (m.StructPages.Refcount(head1), m.StructPages.CompoundPincount(head1)));
        Assert.Equal(1024, m.Grab.FollPinAcquired);
        m.Grab.UnpinUserPages(pages.AsSpan(0, (int)n));
        Assert.Equal(m.Grab.FollPinAcquired, m.Grab.FollPinReleased);
        Assert.Equal((1, 0), (m.StructPages.Refcount(head0), m.StructPages.CompoundPincount(head0)));
        Assert.Equal((1, 0), (m.StructPages.Refcount(head1), m.StructPages.CompoundPincount(head1)));
        Assert.DoesNotContain(m.KernelLog, l => l.StartsWith("BUG", StringComparison.Ordinal) || l.StartsWith("WARNING", StringComparison.Ordinal));
        mm.Destroy();
    }

    /// <summary>
    /// Four 4 KiB anonymous pages at [2 MiB·k − 8 KiB, 2 MiB·k + 8 KiB): two in one PTE table, two in the next. The
    /// walker has read and checked the PMD entry of the second when munmap removes [2 MiB·k, 2 MiB·k + 8 KiB) and
    /// frees that PTE table. pte_offset_map() on the walker's copy reaches the cleared table: 2 pages, each pinned
    /// with GUP_PIN_COUNTING_BIAS (order-0, no exact pincount in v5.12): refcount 1 + 1024.
    /// </summary>
    [Fact]
    public void PteTableFreedBetweenPmdReadAndDescent_ReturnsWhatWasPinned()
    {
        var m = Boot(KernelVersion.V5_12);
        var mm = MmStruct.Create(m)!;
        const ulong boundary = 0x7f0000200000UL; // 2 MiB aligned, not 1 GiB: one PMD table, two PTE tables
        const ulong a = boundary - 8192;
        Assert.Equal((long)a, mm.Mmap(a, 16384, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Fixed));
        for (ulong off = 0; off < 16384; off += 4096) Assert.Equal(VmFault.None, mm.HandleMmFault(a + off, FaultFlags.Write) & VmFault.Error);
        var t = mm.PageTable;
        Pfn p0 = mm.WalkLeaf(a)!.Value.Entry.Pfn, p1 = mm.WalkLeaf(a + 4096)!.Value.Entry.Pfn;
        Pfn doomed = TableBelow(t, boundary, PgLevel.Pmd);
        Assert.Equal(PgLevel.Pte, t.TableLevel(doomed));
        ulong free0 = m.FreePagesTotal;
        int fired = 0;
        t.LocklessDescendHook = (level, addr) =>
        {
            if (level != PgLevel.Pte || addr != boundary || fired++ != 0) return;
            Assert.Equal(0, mm.Munmap(boundary, 8192));
            Assert.Null(t.TableLevel(doomed));
            Assert.Equal(1, t.PendingTableFrees);
            Assert.False(InBuddy(m, doomed));
            // The two anonymous pages went back (refcount 0 after the zap); the table page did not.
            Assert.Equal(free0 + 2, m.FreePagesTotal);
        };
        var pages = new PagePtr[4];
        long n = new GetUserPages(m).PinUserPagesFast(mm, a, 4, FollFlags.Write, pages);
        t.LocklessDescendHook = null;

        Assert.Equal(1, fired);
        Assert.Equal(2, n);
        Assert.Equal(0, t.PendingTableFrees);
        Assert.True(InBuddy(m, doomed));
        Assert.Equal(free0 + 3, m.FreePagesTotal);
        Assert.Equal(X86Vmemmap + p0.Value * 64, pages[0].Address);
        Assert.Equal(X86Vmemmap + p1.Value * 64, pages[1].Address);
        Assert.Equal((1025, 1025), (m.StructPages.Refcount(pages[0]), m.StructPages.Refcount(pages[1])));
        Assert.Equal(2, m.Grab.FollPinAcquired);
        m.Grab.UnpinUserPages(pages.AsSpan(0, 2));
        Assert.Equal((2L, 2L), (m.Grab.FollPinAcquired, m.Grab.FollPinReleased));
        Assert.Equal((1, 1), (m.StructPages.Refcount(pages[0]), m.StructPages.Refcount(pages[1])));
        mm.Destroy();
    }

    /// <summary>
    /// tlb_remove_table(): with a lockless walker inside its irq-off section, munmap's freed tables wait; the last
    /// walker out reclaims them, and the buddy balance after exit is what it was before the mm existed.
    /// </summary>
    [Fact]
    public void TablesFreedUnderAWalker_WaitForItAndComeBackWhenItLeaves()
    {
        var m = Boot(KernelVersion.V6_6);
        ulong free0 = m.FreePagesTotal;
        var mm = MmStruct.Create(m)!;
        const ulong a = 0x7f0000000000UL;
        Assert.Equal((long)a, mm.Mmap(a, 4096, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Fixed));
        Assert.Equal(VmFault.None, mm.HandleMmFault(a, FaultFlags.Write) & VmFault.Error);
        var t = mm.PageTable;
        // PGD + PUD + PMD + PTE tables, the data page, and the anon_vma cache's first slab (order 0).
        Assert.Equal(4, t.TotalTables);
        Assert.Equal(free0 - 6, m.FreePagesTotal);
        var outer = t.LocalIrqSave();
        var inner = t.LocalIrqSave();
        Assert.Equal(0, mm.Munmap(a, 4096));
        // The data page is back; PUD, PMD and PTE tables wait for the two walkers.
        Assert.Equal((1, 3), (t.TotalTables, t.PendingTableFrees));
        Assert.Equal(free0 - 5, m.FreePagesTotal);
        inner.Dispose();
        Assert.Equal(3, t.PendingTableFrees);
        outer.Dispose();
        Assert.Equal(0, t.PendingTableFrees);
        Assert.Equal(free0 - 2, m.FreePagesTotal);
        mm.Destroy();
        Assert.Equal(free0 - 1, m.FreePagesTotal); // the anon_vma slab stays with its cache
    }
}

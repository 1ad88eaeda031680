using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

public class BuddyTests
{
    // x86_64 v5.11 VMEMMAP, RAM [0, 1G). Boot reservations (worked out from setup_arch()/sparse_init() as
    // docs/architecture.md "memblock and sparse_init" lists them, not read from the tool): page 0 and the low 64 KiB
    // [0, 0x10); trampoline + EBDA [0x99000, 1M) = pfns [0x99, 0x100); kernel image [16M, 64M) = [0x1000, 0x4000);
    // brk 12 pages right after it [0x4000, 0x400c) (the 1 GiB direct map needs 3 of them, so no memblock page
    // table); NODE_DATA 0x2a000 bytes at the top [0x3ffd6000, 1G); the 8 usemaps (8 × 40 = 320 B) right below it,
    // in pfn 0x3ffd5; the vmemmap buffer 8 × 2 MiB, 2 MiB aligned, top-down below them: round_down(0x3ffd5ec0 − 16M,
    // 2M) = 1G − 18M → [0x3ee00, 0x3fe00). memblock_free_all() frees whole pages, ascending, blocks of
    // min(10, __ffs(pfn)) shrunk to fit; no buddy is free yet when a block is freed, so nothing merges:
    //   DMA   [0x10, 0x99): 0x10 o4, 0x20 o5, 0x40 o6, 0x80 o4, 0x90 o3, 0x98 o0 = 137 pages;
    //         [0x100, 0x1000): 0x100 o8, 0x200 o9, 0x400/0x800/0xc00 o10 = 3840 pages → 3977.
    //   DMA32 [0x400c, 0x3ee00): 0x400c o2, 0x4010 o4, 0x4020 o5, 0x4040 o6, 0x4080 o7, 0x4100 o8, 0x4200 o9,
    //         0x4400 … 0x3e800 o10 (234 blocks), 0x3ec00 o9 = 241140 pages;
    //         [0x3fe00, 0x3ffd5): 0x3fe00 o8, 0x3ff00 o7, 0x3ff80 o6, 0x3ffc0 o4, 0x3ffd0 o2, 0x3ffd4 o0 = 469 → 241609.
    private static Machine OneGig(bool debugVm = false) => Machine.Boot(new MachineSpec
    {
        Arch = ArchProfiles.Get("x86_64", KernelVersion.V5_11),
        Model = MemoryModel.SparsememVmemmap,
        Ram = Ram((0, G)),
        DebugVm = debugVm,
    });

    [Fact]
    public void Boot_FreeCounts_AreRamMinusMemblockReservations()
    {
        var m = OneGig();
        var zones = m.Nodes[0].Zones;
        Assert.Equal(["DMA", "DMA32"], zones.Select(z => z.Name));
        // Was 4096 / [0,0,0,0,0,0,0,0,0,0,4] and 241663 / [1,1,1,1,1,1,1,1,1,1,235] before the boot reservations
        // below 1 MiB, the brk, NODE_DATA and the usemaps' own page were modelled; the blocks are listed above.
        Assert.Equal(3977UL, zones[0].FreePages);
        Assert.Equal([1UL, 0, 0, 1, 2, 1, 1, 0, 1, 1, 3], zones[0].FreeCounts());
        Assert.Equal(241609UL, zones[1].FreePages);
        Assert.Equal([1UL, 0, 2, 0, 2, 1, 2, 2, 2, 2, 234], zones[1].FreeCounts());
    }

    [Fact]
    public void AllocPages_MovableTakesTheSmallestOrderFirst_AndFreeMergesBack()
    {
        // GFP_HIGHUSER_MOVABLE order 1 (v5.11: no pcp above order 0): MOVABLE order 1 is empty; order 2 holds
        // 0x400c, 0x3ffd0 (freed ascending with FPI_TO_TAIL), so __rmqueue_smallest() takes the head 0x400c and
        // expand() puts 0x400e on order 1 (was 0x3fffc from the old 511-page tail). Freeing it: buddy 0x400e is
        // free at order 1 → merge to 0x400c order 2; its buddy 0x4008 is brk (not free) → stop; buddy_merge_likely():
        // combined 0x4008, its order-3 buddy 0x4000 is not free → head of order 2, every count as at boot.
        var m = OneGig();
        var dma32 = m.Nodes[0].Zones[1];
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn pfn, movable: true));
        Assert.Equal(0x400cUL, pfn.Value);
        Assert.Equal(1, m.StructPages.Refcount(m.PfnToPage(pfn)));
        Assert.Equal(241607UL, dma32.FreePages); // 241609 − 2 (was 241661)
        m.StructPages.SetRefcount(m.PfnToPage(pfn), 0);
        Assert.Empty(m.FreePages(pfn, 1));
        Assert.Equal(241609UL, dma32.FreePages); // was 241663
        Assert.Equal([1UL, 0, 2, 0, 2, 1, 2, 2, 2, 2, 234], dma32.FreeCounts());
    }

    [Fact]
    public void AllocPages_UnmovableOrder0_RefillsThePcpFromAStolenBlock()
    {
        // GFP_KERNEL order 0: rmqueue_bulk() of batch 63, UNMOVABLE lists empty, no ALLOC_NOFRAGMENT (the preferred
        // zone is DMA32, not NORMAL): __rmqueue_fallback() from order 10 finds the MOVABLE head 0x4400 (the first
        // order-10 block now that the brk sits at [0x4000, 0x400c)), retypes both pageblocks UNMOVABLE, and the
        // retries take 0x4400…0x443e in ascending order (expand() leaves +1, +2, … at the UNMOVABLE heads);
        // list_add_tail() keeps that order and the head 0x4400 is returned (was 0x4000). Free goes to the pcp.
        var m = OneGig();
        var dma32 = m.Nodes[0].Zones[1];
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn pfn));
        Assert.Equal(0x4400UL, pfn.Value);
        Assert.Equal(241609UL - 63, dma32.FreePages); // was 241663 − 63
        m.StructPages.SetRefcount(m.PfnToPage(pfn), 0);
        Assert.Empty(m.FreePages(pfn, 0));
        Assert.Equal(241609UL - 63, dma32.FreePages);
        Assert.Equal(63UL, dma32.PcpPages);
    }

    [Fact]
    public void FreePages_WithAReference_ReportsBadPageState_AndKeepsTheCounts()
    {
        // CONFIG_DEBUG_VM: free_pcp_prepare() checks an order-0 page at free time. The page is 0x4400 (pcp refill,
        // see AllocPages_UnmovableOrder0_RefillsThePcpFromAStolenBlock): vmemmap + 0x4400 × 64 = 0xffffea0000110000
        // (was pfn 0x4000, 0xffffea0000100000).
        var m = OneGig(debugVm: true);
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn pfn));
        var reports = m.FreePages(pfn, 0);
        string report = Assert.Single(reports);
        Assert.Equal(
            "BUG: Bad page state in process gupsim  pfn:04400\n" +
            // dump_page() as v5.11 prints it: %p without 0x (no_hash_pointers), mapcount = _mapcount (−1) + 1 = 0, and
            // %pGp with the flag names only (no zone/node fields before v5.13): no low flag bit is set, so "()".
            "page:ffffea0000110000 refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x4400\n" +
            "flags: 0x100000000000000()\n" +
            "raw: 0100000000000000 0000000000000000 0000000000000000 0000000000000000\n" +
            "raw: 0000000000000000 0000000000000000 00000001ffffffff 0000000000000000\n" +
            "page dumped because: nonzero _refcount", report);
        Assert.Equal(241609UL - 63, m.Nodes[0].Zones[1].FreePages); // was 241663 − 63
        Assert.Equal(62UL, m.Nodes[0].Zones[1].PcpPages);
        Assert.Contains("page dumped because: nonzero _refcount", m.KernelLog);
    }

    [Fact]
    public void FreePages_CompoundBlock_ChecksTails()
    {
        // free_tail_pages_check() gives a verdict only with CONFIG_DEBUG_VM (PageAllocTests has the "off" case).
        var m = OneGig(debugVm: true);
        var sp = m.StructPages;
        Assert.True(m.TryAllocPages(2, 0, "test", out Pfn pfn));
        var head = m.PfnToPage(pfn);
        PrepCompound(m, head, 2);
        sp.SetRefcount(head, 0);
        Assert.Empty(m.FreePages(pfn, 2));
        Assert.False(sp.PageTail(m.PageAdd(head, 1)));

        Assert.True(m.TryAllocPages(2, 0, "test", out pfn));
        head = m.PfnToPage(pfn);
        PrepCompound(m, head, 2);
        sp.SetCompoundMapcount(head, 0); // mapped once, never unmapped
        sp.SetRefcount(head, 0);
        var r = Assert.Single(m.FreePages(pfn, 2));
        Assert.EndsWith("page dumped because: nonzero compound_mapcount", r);
    }

    /// <summary>prep_compound_page() by hand, as a test fixture.</summary>
    private static void PrepCompound(Machine m, PagePtr head, int order)
    {
        var sp = m.StructPages;
        sp.SetFlag(head, PageFlagBits.Head);
        for (int i = 1; i < 1 << order; i++)
        {
            var t = m.PageAdd(head, i);
            sp.SetMapping(t, m.Arch.TailMapping);
            sp.SetCompoundHead(t, head, order);
        }
        sp.SetCompoundOrder(head, order);
        sp.SetCompoundMapcount(head, -1);
    }

    [Fact]
    public void AllocContigPages_OneGigAcrossEightSections_AndFreeRestoresEveryCount()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G);
        var normal = m.Nodes[0].Zones.Single(z => z.Type == ZoneType.Normal);
        ulong before = normal.FreePages;
        var counts = normal.FreeCounts();
        Assert.True(m.TryAllocContigPages(262144, 0, out Pfn pfn));
        Assert.Equal(0x100000UL, pfn.Value); // ALIGN(zone_start_pfn = 0x100000, 262144)
        Assert.Equal(before - 262144, normal.FreePages);
        Assert.Equal(1, m.StructPages.Refcount(m.PfnToPage(pfn + 200000)));
        Assert.Empty(m.FreeContigRange(pfn, 262144));
        // free_contig_range() frees page by page through the pcp (batch 63, high 378): the first 378 frees reach
        // high and drain 63 (315 left); each further 63 frees drain 63 again. 262144 − 378 = 261766 = 63 × 4155 + 1,
        // so 316 pages are still on the pcp; draining them merges everything back into the same blocks.
        Assert.Equal(316UL, normal.PcpPages);
        Assert.Equal(before - 316, normal.FreePages);
        m.PageAlloc.DrainZone(normal);
        Assert.Equal(before, normal.FreePages);
        Assert.Equal(counts, normal.FreeCounts());
    }

    [Fact]
    public void AllocContigRange_OverTheKernelImage_IsEbusy_AndChangesNothing()
    {
        var m = OneGig();
        var dma32 = m.Nodes[0].Zones[1];
        var counts = dma32.FreeCounts();
        Assert.Equal(-(int)Errno.EBUSY, m.AllocContigRange(0x3c00, 0x4400)); // [60M, 68M) overlaps the image's end
        Assert.Equal(counts, dma32.FreeCounts());
        Assert.Equal(-(int)Errno.EINVAL, m.AllocContigRange(0xf00, 0x1100)); // crosses DMA → DMA32
        // [0x4000, 0x4400) now starts with the brk's 12 reserved pages [0x4000, 0x400c): EBUSY too, nothing changed.
        Assert.Equal(-(int)Errno.EBUSY, m.AllocContigRange(0x4000, 0x4400));
        Assert.Equal(counts, dma32.FreeCounts());
        // [0x4400, 0x4800) is the free order-10 block at the head of MOVABLE order 10 (was [0x4000, 0x4400)).
        Assert.Equal(0, m.AllocContigRange(0x4400, 0x4800));
        Assert.Equal(241609UL - 0x400, dma32.FreePages); // was 241663 − 0x400
    }

    [Fact]
    public void HotRemove_BusyIsEbusy_FreeRemovesSectionsAndMemmaps()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 8 * G)), hotplug: PhysRange.FromStartEnd(8 * G, 9 * G));
        var range = PhysRange.FromStartEnd(8 * G, 9 * G);
        ulong freeBefore = m.FreePagesTotal;
        Assert.Equal(0, m.AllocContigRange(0x200010, 0x200011));
        Assert.Equal(-(int)Errno.EBUSY, m.HotRemove(range));
        Assert.Equal(8, m.PresentSections.Count(s => s.Placement == MemmapPlacement.Hotplug));
        Assert.Empty(m.FreeContigRange(Pfn.FromUInt64(0x200010), 1));
        Assert.Equal(freeBefore, m.FreePagesTotal);
        var memmapVa = m.PresentSections.First(s => s.Nr == 64).MemmapVa;
        Assert.Equal(0, m.HotRemove(range));
        Assert.Equal(64, m.PresentSections.Count);
        Assert.False(m.Sections!.IsPresent(64));
        Assert.NotEqual(AddressKind.Page, m.Describe(memmapVa).Kind);
        // Removing gives back the 8 memmaps (order-9 kmalloc_large blocks) and drops 1 GiB. The usage objects,
        // memory_block objects and the struct resource go back to their slabs (kmalloc-32, -1k, -64), each the
        // cache's current slab, which stays; 8G-9G was a 1 GiB direct-map leaf, so no page table comes back.
        Assert.Equal(freeBefore - 262144 + 8 * 512, m.FreePagesTotal);
    }

    [Fact]
    public void HotAdd_BadRanges_AreEinval_AndChangeNothing()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 8 * G)));
        ulong free = m.FreePagesTotal;
        Assert.Equal(-(int)Errno.EINVAL, m.HotAdd(PhysRange.FromStartEnd(8 * G + 4096, 9 * G), 0));
        Assert.Equal(-(int)Errno.EEXIST, m.HotAdd(PhysRange.FromStartEnd(7 * G, 9 * G), 0));
        Assert.Equal(-(int)Errno.EINVAL, m.HotAdd(PhysRange.FromStartEnd(8 * G, 9 * G), 5));
        Assert.Equal(free, m.FreePagesTotal);
        Assert.Equal(64, m.PresentSections.Count);
        var flat = Boot("i386", KernelVersion.V5_11, MemoryModel.Flatmem, Ram((0, 512 * M)));
        Assert.Equal(-(int)Errno.EINVAL, flat.HotAdd(PhysRange.FromStartEnd(512 * M, 576 * M), 0));
    }
}

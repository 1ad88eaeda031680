using GupSim.Arch;
using GupSim.Memory;
using GupSim.Core;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>
/// mm/page_alloc.c rules with exact pfns. Every expected value below is worked out by hand from the kernel's rules
/// (the working is in the comments), on x86_64 (MAX_ORDER 11, pageblock_order 9) with RAM [0, 1G):
/// boot reserves the kernel image [16M, 64M) and, at the top, the vmemmap backing and mem_section_usage, so ZONE_DMA
/// holds [0, 0x1000) free and ZONE_DMA32 [0x4000, 0x3ee00) plus the 511-page tail [0x3fe00, 0x3ffff).
/// memblock_free_all() frees ascending blocks of min(10, __ffs(pfn)) with FPI_TO_TAIL into MOVABLE pageblocks:
/// MOVABLE order 10 of DMA32 = 0x4000, 0x4400, … 0x3e800 (235 blocks) in that order; an order-9 block at 0x3ec00;
/// the tail gives order 8 at 0x3fe00, order 7 at 0x3ff00, … order 0 at 0x3fffe.
/// </summary>
public class PageAllocTests
{
    private static Machine OneGig(KernelVersion v, bool debugVm = false, CmaSpec? cma = null) => Machine.Boot(new MachineSpec
    {
        Arch = ArchProfiles.Get("x86_64", v),
        Model = MemoryModel.SparsememVmemmap,
        Ram = Ram((0, G)),
        DebugVm = debugVm,
        Cma = cma,
    });

    private static Zone Dma32(Machine m) => m.Nodes[0].Zones.Single(z => z.Type == ZoneType.Dma32);
    private static Zone Dma(Machine m) => m.Nodes[0].Zones.Single(z => z.Type == ZoneType.Dma);

    private static void Free(Machine m, Pfn pfn, int order)
    {
        m.StructPages.SetRefcount(m.PfnToPage(pfn), 0);
        Assert.Empty(m.FreePages(pfn, order));
    }

    [Fact]
    public void Boot_FreesToTheTail_InAscendingOrder()
    {
        var z = Dma32(OneGig(KernelVersion.V5_11));
        var o10 = z.FreeListPfns(10, MigrateType.Movable).ToList();
        Assert.Equal(235, o10.Count);
        Assert.Equal(0x4000UL, o10[0]);      // list head: the lowest block (FPI_TO_TAIL, ascending)
        Assert.Equal(0x4400UL, o10[1]);
        Assert.Equal(0x3e800UL, o10[^1]);    // 0x4000 + 234 × 0x400
        Assert.Equal([0x3ec00UL], z.FreeListPfns(9, MigrateType.Movable));
        Assert.Equal([0x3fe00UL], z.FreeListPfns(8, MigrateType.Movable));
        Assert.Equal([0x3fffeUL], z.FreeListPfns(0, MigrateType.Movable));
        Assert.Empty(z.FreeListPfns(10, MigrateType.Unmovable));
        Assert.Equal(MigrateType.Movable, z.GetPageblockMigratetype(0x4000));
    }

    [Fact]
    public void RmqueueSmallest_Expand_LeavesTheUpperHalvesAtTheListHeads()
    {
        // ZONE_DMA: MOVABLE order 10 = 0x0, 0x400, 0x800, 0xc00. An order-0 request takes the head 0x0 and expand()
        // puts +512 on order 9, +256 on order 8, … +1 on order 0, each at its list head.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma(m);
        Assert.True(PageAlloc.RmqueueSmallest(z, 0, MigrateType.Movable, out ulong pfn));
        Assert.Equal(0UL, pfn);
        for (int o = 0; o <= 9; o++) Assert.Equal(1UL << o, z.FreeListPfns(o, MigrateType.Movable).First());
        Assert.Equal([0x400UL, 0x800, 0xc00], z.FreeListPfns(10, MigrateType.Movable));
        Assert.Equal(4095UL, z.FreePages);
    }

    [Fact]
    public void FreeOnePage_HeadUnlessBuddyMergeLikely()
    {
        // ZONE_DMA, five order-2 requests: a = 0x0 (splits 0x0's order 10: o2 head 0x4, o3 0x8, o4 0x10 …),
        // b = 0x4, c = 0x8 (splits o3 0x8: o2 gets 0xc), d = 0xc, e = 0x10 (splits o4 0x10: o3 0x18, o2 0x14).
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma(m);
        var pa = m.PageAlloc;
        var got = new ulong[5];
        for (int i = 0; i < 5; i++) Assert.True(PageAlloc.RmqueueSmallest(z, 2, MigrateType.Movable, out got[i]));
        Assert.Equal([0UL, 0x4, 0x8, 0xc, 0x10], got);
        Assert.Equal([0x14UL], z.FreeListPfns(2, MigrateType.Movable));
        // free a (0x0): buddy 0x4 (b) busy, no merge; higher buddy 0x8 at order 3 busy (c) → not likely → head.
        pa.FreeOnePage(z, 0x0, 2, MigrateType.Movable, toTail: false);
        Assert.Equal([0x0UL, 0x14], z.FreeListPfns(2, MigrateType.Movable));
        // free b (0x4): merges with 0x0 → 0x0 order 3; buddy 0x8 busy; higher buddy 0x10 at order 4 busy (e) → head.
        pa.FreeOnePage(z, 0x4, 2, MigrateType.Movable, toTail: false);
        Assert.Equal([0x14UL], z.FreeListPfns(2, MigrateType.Movable));
        Assert.Equal([0x0UL, 0x18], z.FreeListPfns(3, MigrateType.Movable));
        // free c (0x8): buddy 0xc busy (d); higher buddy of the pair, 0x0 at order 3, is free → buddy_merge_likely → tail.
        pa.FreeOnePage(z, 0x8, 2, MigrateType.Movable, toTail: false);
        Assert.Equal([0x14UL, 0x8], z.FreeListPfns(2, MigrateType.Movable));
        // free d (0xc) with FPI_TO_TAIL: merges with 0x8 (order 3) and 0x0 (order 4); buddy 0x10 busy (e) → tail of order 4.
        pa.FreeOnePage(z, 0xc, 2, MigrateType.Movable, toTail: true);
        Assert.Equal([0x18UL], z.FreeListPfns(3, MigrateType.Movable));
        Assert.Equal([0x0UL], z.FreeListPfns(4, MigrateType.Movable));
    }

    [Fact]
    public void Fallback_UnmovableOrder9_StealsAFreshMovableOrder10_NextGetsTheUpperHalf()
    {
        // GFP_KERNEL order 9 (no pcp in v5.11): UNMOVABLE lists are empty; __rmqueue_fallback() searches from order
        // 10 down, fallbacks[UNMOVABLE] = RECLAIMABLE (empty), MOVABLE: head 0x4000. Order 10 ≥ pageblock_order:
        // both pageblocks become UNMOVABLE and the block moves to the UNMOVABLE order-10 list; the retry splits it:
        // 0x4000 returned, 0x4200 to the head of UNMOVABLE order 9 — the next request gets it; the third steals 0x4400.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        Assert.True(m.TryAllocPages(9, 0, "test", out Pfn a, Gfp.Kernel));
        Assert.Equal(0x4000UL, a.Value);
        Assert.Equal(MigrateType.Unmovable, z.GetPageblockMigratetype(0x4000));
        Assert.Equal(MigrateType.Unmovable, z.GetPageblockMigratetype(0x4200));
        Assert.Equal([0x4200UL], z.FreeListPfns(9, MigrateType.Unmovable));
        Assert.True(m.TryAllocPages(9, 0, "test", out Pfn b, Gfp.Kernel));
        Assert.Equal(0x4200UL, b.Value);
        Assert.True(m.TryAllocPages(9, 0, "test", out Pfn c, Gfp.Kernel));
        Assert.Equal(0x4400UL, c.Value);
        Assert.Equal(0x4800UL, z.FreeListPfns(10, MigrateType.Movable).First());
    }

    [Fact]
    public void Fallback_SmallUnmovable_ExpandsTheStolenBlockOnUnmovableLists()
    {
        // GFP_KERNEL order 1 (no pcp in v5.11): steal MOVABLE 0x4000 (order 10, both pageblocks retyped), split:
        // 0x4000 returned, UNMOVABLE heads +512 (o9) … +2 (o1). The MOVABLE order-1 list (0x3fffc) is not touched.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn a, Gfp.Kernel));
        Assert.Equal(0x4000UL, a.Value);
        for (int o = 1; o <= 9; o++) Assert.Equal([0x4000UL + (1UL << o)], z.FreeListPfns(o, MigrateType.Unmovable));
        Assert.Equal([0x3fffcUL], z.FreeListPfns(1, MigrateType.Movable));
    }

    [Fact]
    public void MovableRequest_TakesTheMovableListHead_SmallestOrderFirst()
    {
        // GFP_HIGHUSER_MOVABLE order 1: MOVABLE order 1 has 0x3fffc (the boot tail) → that block.
        var m = OneGig(KernelVersion.V5_11);
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn a, Gfp.HighUserMovable));
        Assert.Equal(0x3fffcUL, a.Value);
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn b, Gfp.HighUserMovable));
        Assert.Equal(0x3fff8UL, b.Value); // order 2 0x3fff8 split: low half returned, 0x3fffa to order 1
    }

    [Fact]
    public void Pcp_V511_BatchRefill_AndLifo()
    {
        // zone_batchsize(DMA32, managed 241663): 241663/1024 = 235 (< 256), /4 = 58, rounddown_pow_of_two(58 + 29) − 1
        // = 63; high = 6 × 63 = 378. ZONE_DMA (4096): 4/4 = 1, rounddown_pow_of_two(1) − 1 = 0 → batch 1, high 0.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        Assert.Equal((63, 378), m.PageAlloc.PcpLimits(z));
        Assert.Equal((1, 0), m.PageAlloc.PcpLimits(Dma(m)));
        // Order 0 GFP_KERNEL: the empty UNMOVABLE pcp list is refilled with 63 __rmqueue() pages: the first steals
        // MOVABLE 0x4000 and splits it, the rest follow ascending (0x4001 from o0, 0x4002 from o1, …) → 0x4000…0x403e
        // appended to the tail; the head is returned.
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p0, Gfp.Kernel));
        Assert.Equal(0x4000UL, p0.Value);
        Assert.Equal(241663UL - 63, z.FreePages);
        Assert.Equal(62UL, z.PcpPages);
        var pcp = m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 0);
        Assert.Equal(0x4001UL, pcp[0]);
        Assert.Equal(0x403eUL, pcp[^1]);
        // What the split left on the buddy: o0 0x403f, o6 0x4040, o7 0x4080, o8 0x4100, o9 0x4200.
        Assert.Equal([0x403fUL], z.FreeListPfns(0, MigrateType.Unmovable));
        Assert.Equal([0x4040UL], z.FreeListPfns(6, MigrateType.Unmovable));
        Assert.Equal([0x4200UL], z.FreeListPfns(9, MigrateType.Unmovable));
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p1, Gfp.Kernel));
        Assert.Equal(0x4001UL, p1.Value);
        // Freed to the head (LIFO): the next allocation gets it back.
        Free(m, p0, 0);
        Assert.Equal(0x4000UL, m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 0)[0]);
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p2, Gfp.Kernel));
        Assert.Equal(0x4000UL, p2.Value);
    }

    [Fact]
    public void Pcp_V511_DrainsBatchFromTheTail_AtHigh()
    {
        // 400 order-0 GFP_KERNEL pages: 7 refills of 63 from the stolen block, ascending: 0x4000 + i for i < 400, with
        // 441 pages taken and 0x4190…0x41b8 (41) left on the list. Freeing i = 0, 1, … puts each at the head; at
        // i = 336 the count reaches 41 + 337 = 378 = high and 63 go from the tail: the 41 (0x41b8 … 0x4190), then
        // 0x4000 … 0x4015; count 315. The last 63 frees (i = 337 … 399) reach 378 again: 0x4016 … 0x4054 drained.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        var pfns = new Pfn[400];
        for (int i = 0; i < 400; i++)
        {
            Assert.True(m.TryAllocPages(0, 0, "test", out pfns[i], Gfp.Kernel));
            Assert.Equal(0x4000UL + (ulong)i, pfns[i].Value);
        }
        Assert.Equal(41UL, z.PcpPages);
        Assert.Equal(241663UL - 441, z.FreePages);
        for (int i = 0; i < 400; i++) Free(m, pfns[i], 0);
        Assert.Equal(315UL, z.PcpPages);
        Assert.Equal(241663UL - 441 + 126, z.FreePages);
        var pcp = m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 0);
        Assert.Equal(0x418fUL, pcp[0]);   // i = 399, freed last
        Assert.Equal(0x4055UL, pcp[^1]);  // i = 85
        Assert.True(z.TryFindFreeBlock(0x4000, out _, out _));
        Assert.False(z.TryFindFreeBlock(0x4055, out _, out _));
    }

    [Fact]
    public void Pcp_V514_Order3_RefillsMaxBatchShiftedOr2()
    {
        // v5.14: order 3 uses the pcp; refill max(63 >> 3, 2) = 7 blocks: the first steals 0x4000 (split down to
        // order 3: o3 head 0x4008), then 0x4008, 0x4010 (o4 split: 0x4018 to o3), 0x4018, 0x4020, 0x4028, 0x4030.
        var m = OneGig(KernelVersion.V5_14);
        var z = Dma32(m);
        ulong before = z.FreePages;
        Assert.True(m.TryAllocPages(3, 0, "test", out Pfn a, Gfp.Kernel));
        Assert.Equal(0x4000UL, a.Value);
        Assert.Equal(before - 7 * 8, z.FreePages);
        Assert.Equal(48UL, z.PcpPages);
        Assert.Equal([0x4008UL, 0x4010, 0x4018, 0x4020, 0x4028, 0x4030], m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 3));
        Free(m, a, 3);
        Assert.Equal(0x4000UL, m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 3)[0]);
    }

    [Fact]
    public void Cma_MovableComesFromCmaFirst_WhenMoreThanHalfIsCma()
    {
        // 768 MiB of CMA on 1 GiB: more than half the zone's free pages are CMA, so a MOVABLE request (ALLOC_CMA)
        // takes __rmqueue_cma_fallback() first. cma_activate_area() freed each pageblock with __free_pages(order 9),
        // no FPI_TO_TAIL: the second pageblock of each pair merges to order 10 and goes to the head, so the CMA
        // order-10 head is the last pair: area end − 1024. Order 1 splits it: that block is returned.
        var m = OneGig(KernelVersion.V5_11, cma: new CmaSpec(768 * M, null));
        var z = Dma32(m);
        var (start, end) = Assert.Single(z.CmaRanges);
        Assert.True(z.FreeCmaPages > z.FreePages / 2);
        Assert.Equal(end - 1024, z.FreeListPfns(10, MigrateType.Cma).First());
        Assert.Equal(start, z.FreeListPfns(10, MigrateType.Cma).Last());
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn a, Gfp.HighUserMovable));
        Assert.Equal(end - 1024, a.Value);
        // GFP_KERNEL never gets CMA.
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn k, Gfp.Kernel));
        Assert.False(z.IsCma(k.Value));
    }

    [Fact]
    public void DebugVm_Off_V511_Order0_CheckedOnlyWhenDrained()
    {
        // Without CONFIG_DEBUG_VM free_pcp_prepare() does not check; bulkfree_pcp_prepare() does, at the drain.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p, Gfp.Kernel));
        Assert.Empty(m.FreePages(p, 0)); // _refcount still 1: not looked at
        var reports = new List<string>();
        m.PageAlloc.DrainZone(z, reports);
        string r = Assert.Single(reports);
        Assert.StartsWith("BUG: Bad page state in process gupsim  pfn:04000", r);
        Assert.EndsWith("page dumped because: nonzero _refcount", r);
        Assert.False(z.TryFindFreeBlock(0x4000, out _, out _)); // leaked
    }

    [Fact]
    public void DebugVm_On_V511_Order0_CheckedAtFree()
    {
        var m = OneGig(KernelVersion.V5_11, debugVm: true);
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p, Gfp.Kernel));
        Assert.EndsWith("page dumped because: nonzero _refcount", Assert.Single(m.FreePages(p, 0)));
    }

    [Fact]
    public void DebugVm_V64_NoFreeTimeChecksWithoutIt()
    {
        // v6.4 (700d2e9a36b9): check_pages_enabled is off without DEBUG_VM: an order-4 block (not a pcp order)
        // with a reference is freed.
        var m = OneGig(KernelVersion.FromNumbers(6, 4));
        var z = Dma32(m);
        Assert.True(m.TryAllocPages(4, 0, "test", out Pfn p, Gfp.Kernel));
        Assert.Empty(m.FreePages(p, 4));
        Assert.True(z.TryFindFreeBlock(p.Value, out _, out _));
        var on = OneGig(KernelVersion.FromNumbers(6, 4), debugVm: true);
        Assert.True(on.TryAllocPages(4, 0, "test", out Pfn q, Gfp.Kernel));
        Assert.EndsWith("page dumped because: nonzero _refcount", Assert.Single(on.FreePages(q, 4)));
    }

    [Fact]
    public void DebugVm_Off_V511_TailCheckVerdictIgnored()
    {
        // free_tail_pages_check() only checks with DEBUG_VM: a compound order-2 block with compound_mapcount 0 is
        // freed without a report (the head's own check still runs: it is clean).
        var m = OneGig(KernelVersion.V5_11);
        var sp = m.StructPages;
        Assert.True(m.TryAllocPages(2, 0, "test", out Pfn pfn, Gfp.Kernel));
        var head = m.PfnToPage(pfn);
        sp.SetFlag(head, PageFlagBits.Head);
        for (int i = 1; i < 4; i++)
        {
            var t = m.PageAdd(head, i);
            sp.SetMapping(t, m.Arch.TailMapping);
            sp.SetCompoundHead(t, head);
        }
        sp.SetCompoundOrder(head, 2);
        sp.SetCompoundMapcount(head, 0);
        sp.SetRefcount(head, 0);
        Assert.Empty(m.FreePages(pfn, 2));
        Assert.False(sp.PageTail(m.PageAdd(head, 1)));
    }

    [Fact]
    public void Online_IsolateThenMovableTail_Ascending()
    {
        // online_pages(): pageblocks ISOLATE, order-10 chunks to the ISOLATE tail, then undo_isolate_page_range()
        // moves each to the tail of MOVABLE order 10: the hot-added blocks follow the boot blocks, ascending.
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.V5_11),
            Model = MemoryModel.SparsememVmemmap,
            Ram = Ram((0, 8 * G)),
            Hotplug = [PhysRange.FromStartEnd(8 * G, 8 * G + 256 * M)],
        });
        var normal = m.Nodes[0].Zones.Single(z => z.Type == ZoneType.Normal);
        var o10 = normal.FreeListPfns(10, MigrateType.Movable).ToList();
        int i = o10.IndexOf(0x200000);
        Assert.True(i > 0);
        for (int k = 0; k < 64; k++) Assert.Equal(0x200000UL + (ulong)k * 1024, o10[i + k]);
        Assert.Equal(MigrateType.Movable, normal.GetPageblockMigratetype(0x200000));
        Assert.Empty(normal.FreeListPfns(10, MigrateType.Isolate));
    }
}

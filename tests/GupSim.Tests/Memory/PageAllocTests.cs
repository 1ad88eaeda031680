using GupSim.Arch;
using GupSim.Memory;
using GupSim.Core;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>
/// mm/page_alloc.c rules with exact pfns. Every expected value below is worked out by hand from the kernel's rules
/// (the working is in the comments), on x86_64 v5.11 (MAX_ORDER 11, pageblock_order 9) with RAM [0, 1G).
/// setup_arch() reservations (docs/architecture.md "memblock and sparse_init", MemblockSparseTests' figures), in pfns:
/// page 0 and the low 64 KiB [0, 0x10); trampoline + EBDA to 1 MiB [0x99, 0x100); kernel image [0x1000, 0x4000) and
/// brk (12 pages) [0x4000, 0x400c); NODE_DATA 1G − 0x2a000 = 0x3ffd6000 to the top; 8 usemaps × 40 B = 0x140 below
/// it, 64-byte aligned, at 0x3ffd5ec0 (page 0x3ffd5); the vmemmap buffer 8 × 2 MiB at
/// round_down(0x3ffd5ec0 − 16M, 2M) = 0x3ee00000 → [0x3ee00, 0x3fe00). Free ranges (PFN_UP/PFN_DOWN): ZONE_DMA
/// [0x10, 0x99), [0x100, 0x1000); ZONE_DMA32 [0x400c, 0x3ee00), [0x3fe00, 0x3ffd5).
/// memblock_free_all() → __free_pages_memory() frees ascending blocks of min(10, __ffs(pfn)), lowered until the block
/// fits the range, with FPI_TO_TAIL into MOVABLE pageblocks (no block finds a free buddy: each one's buddy is
/// reserved or freed later), so every list is in freeing order:
/// ZONE_DMA (3977 pages): o4 0x10, o5 0x20, o6 0x40, o4 0x80, o3 0x90, o0 0x98 | o8 0x100, o9 0x200, o10 0x400,
/// 0x800, 0xc00. ZONE_DMA32 (241609 pages): o2 0x400c, o4 0x4010, o5 0x4020, o6 0x4040, o7 0x4080, o8 0x4100,
/// o9 0x4200, o10 0x4400 … 0x3e800 (234 blocks), o9 0x3ec00 | o8 0x3fe00, o7 0x3ff00, o6 0x3ff80, o4 0x3ffc0,
/// o2 0x3ffd0, o0 0x3ffd4.
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

    /// <summary>
    /// Takes ZONE_DMA's boot leftovers below the first order-10 block with __rmqueue_smallest() at their own orders
    /// (the head of each list, see the class comment), leaving MOVABLE order 10 = 0x400, 0x800, 0xc00 and nothing else:
    /// 3977 − (1 + 8 + 16 + 16 + 32 + 64 + 256 + 512) = 3072 = 3 × 1024 pages.
    /// </summary>
    private static void TakeDmaBootLeftovers(Zone z)
    {
        (int Order, ulong Pfn)[] leftovers = [(0, 0x98), (3, 0x90), (4, 0x10), (4, 0x80), (5, 0x20), (6, 0x40), (8, 0x100), (9, 0x200)];
        foreach (var (order, expected) in leftovers)
        {
            Assert.True(PageAlloc.RmqueueSmallest(z, order, MigrateType.Movable, out ulong pfn));
            Assert.Equal(expected, pfn);
        }
        Assert.Equal(3072UL, z.FreePages);
    }

    [Fact]
    public void Boot_FreesToTheTail_InAscendingOrder()
    {
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        var o10 = z.FreeListPfns(10, MigrateType.Movable).ToList();
        Assert.Equal(234, o10.Count);        // (0x3e800 − 0x4400) / 0x400 + 1: brk's end 0x400c leaves 0x4000 short
        Assert.Equal(0x4400UL, o10[0]);      // list head: the lowest block (FPI_TO_TAIL, ascending)
        Assert.Equal(0x4800UL, o10[1]);
        Assert.Equal(0x3e800UL, o10[^1]);    // 0x4400 + 233 × 0x400; 0x3ec00 + 0x400 would pass the buffer at 0x3ee00
        // The lower orders hold the range heads' pieces first, then the pieces of the tail below the usemaps.
        Assert.Equal([0x4200UL, 0x3ec00], z.FreeListPfns(9, MigrateType.Movable));
        Assert.Equal([0x4100UL, 0x3fe00], z.FreeListPfns(8, MigrateType.Movable));
        Assert.Equal([0x4080UL, 0x3ff00], z.FreeListPfns(7, MigrateType.Movable));
        Assert.Equal([0x4040UL, 0x3ff80], z.FreeListPfns(6, MigrateType.Movable));
        Assert.Equal([0x4020UL], z.FreeListPfns(5, MigrateType.Movable));
        Assert.Equal([0x4010UL, 0x3ffc0], z.FreeListPfns(4, MigrateType.Movable));
        Assert.Empty(z.FreeListPfns(3, MigrateType.Movable));
        Assert.Equal([0x400cUL, 0x3ffd0], z.FreeListPfns(2, MigrateType.Movable));
        Assert.Empty(z.FreeListPfns(1, MigrateType.Movable));
        Assert.Equal([0x3ffd4UL], z.FreeListPfns(0, MigrateType.Movable));
        Assert.Equal(241609UL, z.FreePages); // (0x3ee00 − 0x400c) + (0x3ffd5 − 0x3fe00) = 241140 + 469
        Assert.Empty(z.FreeListPfns(10, MigrateType.Unmovable));
        Assert.Equal(MigrateType.Movable, z.GetPageblockMigratetype(0x4400));
        // ZONE_DMA: the pieces of [0x10, 0x99) in freeing order, then [0x100, 0x1000).
        var dma = Dma(m);
        Assert.Equal([0x10UL, 0x80], dma.FreeListPfns(4, MigrateType.Movable));
        Assert.Equal([0x90UL], dma.FreeListPfns(3, MigrateType.Movable));
        Assert.Equal([0x98UL], dma.FreeListPfns(0, MigrateType.Movable));
        Assert.Equal([0x400UL, 0x800, 0xc00], dma.FreeListPfns(10, MigrateType.Movable));
        Assert.Equal(3977UL, dma.FreePages); // (0x99 − 0x10) + (0x1000 − 0x100) = 137 + 3840
    }

    [Fact]
    public void RmqueueSmallest_Expand_LeavesTheUpperHalvesAtTheListHeads()
    {
        // ZONE_DMA after its boot leftovers below 1 MiB and the o8/o9 pieces of [0x100, 0x400) are taken (an order-0
        // request would otherwise get o0 0x98, with nothing to split): MOVABLE order 10 = 0x400, 0x800, 0xc00 and
        // every lower list empty. An order-0 request takes the head 0x400 and expand() puts +512 on order 9, +256 on
        // order 8, … +1 on order 0, each at its list head.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma(m);
        TakeDmaBootLeftovers(z);
        Assert.True(PageAlloc.RmqueueSmallest(z, 0, MigrateType.Movable, out ulong pfn));
        Assert.Equal(0x400UL, pfn);
        for (int o = 0; o <= 9; o++) Assert.Equal([0x400UL + (1UL << o)], z.FreeListPfns(o, MigrateType.Movable));
        Assert.Equal([0x800UL, 0xc00], z.FreeListPfns(10, MigrateType.Movable));
        Assert.Equal(3071UL, z.FreePages);
    }

    [Fact]
    public void FreeOnePage_HeadUnlessBuddyMergeLikely()
    {
        // ZONE_DMA with its boot leftovers taken (TakeDmaBootLeftovers: on the fresh zone the requests would be served
        // by o3 0x90 and o4 0x10, whose buddies 0x98 and 0x0 are a lone page and reserved, which hides the head/tail
        // choice), so the five order-2 requests split a whole order-10 block: a = 0x400 (splits 0x400's order 10:
        // o2 head 0x404, o3 0x408, o4 0x410 …), b = 0x404, c = 0x408 (splits o3 0x408: o2 gets 0x40c), d = 0x40c,
        // e = 0x410 (splits o4 0x410: o3 0x418, o2 0x414).
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma(m);
        var pa = m.PageAlloc;
        TakeDmaBootLeftovers(z);
        var got = new ulong[5];
        for (int i = 0; i < 5; i++) Assert.True(PageAlloc.RmqueueSmallest(z, 2, MigrateType.Movable, out got[i]));
        Assert.Equal([0x400UL, 0x404, 0x408, 0x40c, 0x410], got);
        Assert.Equal([0x414UL], z.FreeListPfns(2, MigrateType.Movable));
        // free a (0x400): buddy 0x404 (b) busy, no merge; higher buddy 0x408 at order 3 busy (c) → not likely → head.
        pa.FreeOnePage(z, 0x400, 2, MigrateType.Movable, toTail: false);
        Assert.Equal([0x400UL, 0x414], z.FreeListPfns(2, MigrateType.Movable));
        // free b (0x404): merges with 0x400 → 0x400 order 3; buddy 0x408 busy; higher buddy 0x410 at order 4 busy (e) → head.
        pa.FreeOnePage(z, 0x404, 2, MigrateType.Movable, toTail: false);
        Assert.Equal([0x414UL], z.FreeListPfns(2, MigrateType.Movable));
        Assert.Equal([0x400UL, 0x418], z.FreeListPfns(3, MigrateType.Movable));
        // free c (0x408): buddy 0x40c busy (d); higher buddy of the pair, 0x400 at order 3, is free → buddy_merge_likely → tail.
        pa.FreeOnePage(z, 0x408, 2, MigrateType.Movable, toTail: false);
        Assert.Equal([0x414UL, 0x408], z.FreeListPfns(2, MigrateType.Movable));
        // free d (0x40c) with FPI_TO_TAIL: merges with 0x408 (order 3) and 0x400 (order 4); buddy 0x410 busy (e) → tail of order 4.
        pa.FreeOnePage(z, 0x40c, 2, MigrateType.Movable, toTail: true);
        Assert.Equal([0x418UL], z.FreeListPfns(3, MigrateType.Movable));
        Assert.Equal([0x400UL], z.FreeListPfns(4, MigrateType.Movable));
    }

    [Fact]
    public void Fallback_UnmovableOrder9_StealsAFreshMovableOrder10_NextGetsTheUpperHalf()
    {
        // GFP_KERNEL order 9 (no pcp in v5.11): UNMOVABLE lists are empty; __rmqueue_fallback() searches from order
        // 10 down (no ALLOC_NOFRAGMENT: the preferred zone is DMA32, not NORMAL), fallbacks[UNMOVABLE] = RECLAIMABLE
        // (empty), MOVABLE: head 0x4400. Order 10 ≥ pageblock_order: both pageblocks become UNMOVABLE and the block
        // moves to the UNMOVABLE order-10 list; the retry splits it: 0x4400 returned, 0x4600 to the head of UNMOVABLE
        // order 9 — the next request gets it; the third steals 0x4800. The boot's MOVABLE order-9 leftovers (0x4200,
        // 0x3ec00, exactly the request's size) are never looked at: the fallback search is largest first.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        Assert.True(m.TryAllocPages(9, 0, "test", out Pfn a, Gfp.Kernel));
        Assert.Equal(0x4400UL, a.Value);
        Assert.Equal(MigrateType.Unmovable, z.GetPageblockMigratetype(0x4400));
        Assert.Equal(MigrateType.Unmovable, z.GetPageblockMigratetype(0x4600));
        Assert.Equal([0x4600UL], z.FreeListPfns(9, MigrateType.Unmovable));
        Assert.True(m.TryAllocPages(9, 0, "test", out Pfn b, Gfp.Kernel));
        Assert.Equal(0x4600UL, b.Value);
        Assert.True(m.TryAllocPages(9, 0, "test", out Pfn c, Gfp.Kernel));
        Assert.Equal(0x4800UL, c.Value);
        Assert.Equal(0x4c00UL, z.FreeListPfns(10, MigrateType.Movable).First());
        Assert.Equal([0x4200UL, 0x3ec00], z.FreeListPfns(9, MigrateType.Movable));
        Assert.Equal(MigrateType.Movable, z.GetPageblockMigratetype(0x4200));
    }

    [Fact]
    public void Fallback_SmallUnmovable_ExpandsTheStolenBlockOnUnmovableLists()
    {
        // GFP_KERNEL order 1 (no pcp in v5.11): steal MOVABLE 0x4400 (order 10, largest first; both pageblocks
        // retyped), split: 0x4400 returned, UNMOVABLE heads +512 (o9) … +2 (o1). The small MOVABLE blocks that would
        // have served the request without splitting anything (o2 0x400c, 0x3ffd0) are not touched.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn a, Gfp.Kernel));
        Assert.Equal(0x4400UL, a.Value);
        for (int o = 1; o <= 9; o++) Assert.Equal([0x4400UL + (1UL << o)], z.FreeListPfns(o, MigrateType.Unmovable));
        Assert.Equal([0x400cUL, 0x3ffd0], z.FreeListPfns(2, MigrateType.Movable));
        Assert.Empty(z.FreeListPfns(1, MigrateType.Movable));
    }

    [Fact]
    public void MovableRequest_TakesTheMovableListHead_SmallestOrderFirst()
    {
        // GFP_HIGHUSER_MOVABLE order 1 (DMA32 is the highest zone): MOVABLE order 1 is empty, order 2 is
        // [0x400c (after brk), 0x3ffd0 (below the usemaps)] → the head 0x400c, split: low half returned, 0x400e to
        // order 1. The second request takes that half; the third finds order 1 empty again and takes the next order-2
        // block, 0x3ffd0.
        var m = OneGig(KernelVersion.V5_11);
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn a, Gfp.HighUserMovable));
        Assert.Equal(0x400cUL, a.Value);
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn b, Gfp.HighUserMovable));
        Assert.Equal(0x400eUL, b.Value);
        Assert.True(m.TryAllocPages(1, 0, "test", out Pfn c, Gfp.HighUserMovable));
        Assert.Equal(0x3ffd0UL, c.Value);
    }

    [Fact]
    public void Pcp_V511_BatchRefill_AndLifo()
    {
        // zone_batchsize(DMA32, managed 241609): 241609/1024 = 235 (< 256), /4 = 58, rounddown_pow_of_two(58 + 29) − 1
        // = 63; high = 6 × 63 = 378. ZONE_DMA (3977): 3/4 = 0 → 1, rounddown_pow_of_two(1) − 1 = 0 → high 6 × 0 = 0,
        // batch max(1, 0) = 1.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        Assert.Equal((63, 378), m.PageAlloc.PcpLimits(z));
        Assert.Equal((1, 0), m.PageAlloc.PcpLimits(Dma(m)));
        // Order 0 GFP_KERNEL: the empty UNMOVABLE pcp list is refilled with 63 __rmqueue() pages: the first steals
        // MOVABLE 0x4400 (largest first; the MOVABLE o0 page 0x3ffd4 is not a candidate) and splits it, the rest
        // follow ascending (0x4401 from o0, 0x4402 from o1, …) → 0x4400…0x443e appended to the tail; the head is
        // returned.
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p0, Gfp.Kernel));
        Assert.Equal(0x4400UL, p0.Value);
        Assert.Equal(241609UL - 63, z.FreePages);
        Assert.Equal(62UL, z.PcpPages);
        var pcp = m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 0);
        Assert.Equal(0x4401UL, pcp[0]);
        Assert.Equal(0x443eUL, pcp[^1]);
        // What the split left on the buddy: o0 0x443f, o6 0x4440, o7 0x4480, o8 0x4500, o9 0x4600.
        Assert.Equal([0x443fUL], z.FreeListPfns(0, MigrateType.Unmovable));
        Assert.Equal([0x4440UL], z.FreeListPfns(6, MigrateType.Unmovable));
        Assert.Equal([0x4600UL], z.FreeListPfns(9, MigrateType.Unmovable));
        Assert.Equal([0x3ffd4UL], z.FreeListPfns(0, MigrateType.Movable));
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p1, Gfp.Kernel));
        Assert.Equal(0x4401UL, p1.Value);
        // Freed to the head (LIFO): the next allocation gets it back.
        Free(m, p0, 0);
        Assert.Equal(0x4400UL, m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 0)[0]);
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p2, Gfp.Kernel));
        Assert.Equal(0x4400UL, p2.Value);
    }

    [Fact]
    public void Pcp_V511_DrainsBatchFromTheTail_AtHigh()
    {
        // 400 order-0 GFP_KERNEL pages: 7 refills of 63 from the stolen block 0x4400 (441 ≤ 1024 pages, so all from
        // it), ascending: 0x4400 + i for i < 400, with 441 pages taken and 0x4590…0x45b8 (41) left on the list.
        // Freeing i = 0, 1, … puts each at the head; at i = 336 the count reaches 41 + 337 = 378 = high and 63 go
        // from the tail (only the UNMOVABLE list is non-empty, so batch_free takes them all from it): the 41
        // (0x45b8 … 0x4590), then 0x4400 … 0x4415; count 315. The last 63 frees (i = 337 … 399) reach 378 again:
        // 0x4416 … 0x4454 drained.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        var pfns = new Pfn[400];
        for (int i = 0; i < 400; i++)
        {
            Assert.True(m.TryAllocPages(0, 0, "test", out pfns[i], Gfp.Kernel));
            Assert.Equal(0x4400UL + (ulong)i, pfns[i].Value);
        }
        Assert.Equal(41UL, z.PcpPages);
        Assert.Equal(241609UL - 441, z.FreePages);
        for (int i = 0; i < 400; i++) Free(m, pfns[i], 0);
        Assert.Equal(315UL, z.PcpPages);
        Assert.Equal(241609UL - 441 + 126, z.FreePages);
        var pcp = m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 0);
        Assert.Equal(0x458fUL, pcp[0]);   // i = 399, freed last
        Assert.Equal(0x4455UL, pcp[^1]);  // i = 85
        Assert.True(z.TryFindFreeBlock(0x4400, out _, out _));
        Assert.False(z.TryFindFreeBlock(0x4455, out _, out _));
    }

    [Fact]
    public void Pcp_V514_Order3_RefillsMaxBatchShiftedOr2()
    {
        // v5.14: ZONE_DMA32 is laid out as on v5.11 (the v5.13 first-1-MiB reservation only touches ZONE_DMA):
        // MOVABLE order 10 starts at 0x4400, UNMOVABLE is empty. Order 3 uses the pcp; batch 63 (managed 241609);
        // refill max(63 >> 3, 2) = 7 blocks: the first steals 0x4400 (largest first, not the MOVABLE order-4 block
        // 0x4010; split down to order 3: o3 head 0x4408), then 0x4408, 0x4410 (o4 split: 0x4418 to o3), 0x4418,
        // 0x4420 (o5 split: 0x4430 to o4, 0x4428 to o3), 0x4428, 0x4430.
        var m = OneGig(KernelVersion.V5_14);
        var z = Dma32(m);
        ulong before = z.FreePages;
        Assert.Equal(241609UL, before);
        Assert.True(m.TryAllocPages(3, 0, "test", out Pfn a, Gfp.Kernel));
        Assert.Equal(0x4400UL, a.Value);
        Assert.Equal(before - 7 * 8, z.FreePages);
        Assert.Equal(48UL, z.PcpPages);
        Assert.Equal([0x4408UL, 0x4410, 0x4418, 0x4420, 0x4428, 0x4430], m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 3));
        Free(m, a, 3);
        Assert.Equal(0x4400UL, m.PageAlloc.PcpListPfns(z, MigrateType.Unmovable, 3)[0]);
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
        // The page is the head of the first pcp refill: 0x4400, the stolen MOVABLE order-10 list head (see
        // Pcp_V511_BatchRefill_AndLifo); bad_page() prints it as %05lx.
        var m = OneGig(KernelVersion.V5_11);
        var z = Dma32(m);
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p, Gfp.Kernel));
        Assert.Equal(0x4400UL, p.Value);
        Assert.Empty(m.FreePages(p, 0)); // _refcount still 1: not looked at
        var reports = new List<string>();
        m.PageAlloc.DrainZone(z, reports);
        string r = Assert.Single(reports);
        Assert.StartsWith("BUG: Bad page state in process gupsim  pfn:04400", r);
        Assert.EndsWith("page dumped because: nonzero _refcount", r);
        Assert.False(z.TryFindFreeBlock(0x4400, out _, out _)); // leaked
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
            sp.SetCompoundHead(t, head, 2);
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

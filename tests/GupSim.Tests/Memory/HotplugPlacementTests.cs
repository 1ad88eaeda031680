using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using Xunit;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>
/// Where v5.11's add_memory() puts what it allocates, worked out by hand from the kernel's rules (allocator-facts §1,
/// §4, §7) — neither the hot-plug code nor the allocator is asked. The common start, for RAM [0, 8G) on x86_64
/// (ZONE_DMA [0, 16M), DMA32 [16M, 4G), NORMAL [4G, 8G)):
/// <list type="bullet">
/// <item>memblock took NODE_DATA, the usemaps and the 128 MiB memmap buffer (or vmemmap backing) top-down from the top
/// of the node; nothing else lies in ZONE_NORMAL, and nothing comes from the buddy between boot and the test
/// (`gupsim layout` of this machine: Normal managed = free). memblock_free_all() freed [4G, top) ascending in order-10
/// chunks with FPI_TO_TAIL: the MOVABLE order-10 list of ZONE_NORMAL is 0x100000, 0x100400, 0x100800, … and every
/// UNMOVABLE list is empty.</item>
/// <item>GFP_KERNEL / GFP_ATOMIC on node 0 prefer ZONE_NORMAL, with ALLOC_NOFRAGMENT (DMA32 is populated):
/// __rmqueue_fallback() looks from order 10 down to pageblock_order 9 and finds the MOVABLE order-10 head; as
/// order ≥ pageblock_order, steal_suitable_fallback() retypes the whole block UNMOVABLE and the retry of
/// __rmqueue_smallest() splits it: expand() keeps the low part and lists each upper half at the head of the UNMOVABLE
/// list one order down.</item>
/// <item>Order 0 goes through the pcp (5.11: order 0 only): the first UNMOVABLE order-0 request refills batch = 63
/// pages (zone_batchsize(): 4 GiB / 1024 → capped 256, /4 = 64, rounddown_pow_of_two(96) − 1) by 63 __rmqueue()
/// calls. The first steals 0x100000 and takes it, listing 0x100200 (o9), 0x100100 (o8), 0x100080 (o7), 0x100040 (o6),
/// 0x100020 (o5) … 0x100001 (o0); each next call takes the smallest listed piece (splitting it the same way), so the
/// refill is 0x100000 … 0x10003e ascending, appended to the pcp list's tail; left listed: 0x10003f (o0), 0x100040
/// (o6), 0x100080 (o7), 0x100100 (o8), 0x100200 (o9). Order-0 allocations then take the pcp head: 0x100000, 0x100001,
/// 0x100002, …</item>
/// <item>Order ≥ 1 (kmalloc_large, slab orders 1–3, the order-9 memmaps) bypasses the pcp: __rmqueue_smallest()
/// takes the head of the smallest non-empty UNMOVABLE order ≥ the request, else steals the next MOVABLE order-10
/// head.</item>
/// <item>Slab (allocator-facts §4, 4 CPUs): kmalloc-32 and kmalloc-64 slabs are order 0, kmalloc-1k order 2,
/// kmalloc-4k order 3; a cache takes a new slab only when it has none with room; objects are carved in address
/// order.</item>
/// </list>
/// </summary>
public class HotplugPlacementTests
{
    private const ulong PageOffset = 0xffff888000000000UL;
    private const ulong VmemmapStart = 0xffffea0000000000UL;

    private static Machine Boot8G(MemoryModel model) => Boot("x86_64", KernelVersion.V5_11, model, Ram((0, 8 * G)));

    private static ulong Va(ulong pfn) => PageOffset + (pfn << 12);

    [Fact]
    public void Sparsemem_HalfGiB_UsageFirstThenOrder9Memmaps_InTheKernelsOrder()
    {
        var m = Boot8G(MemoryModel.Sparsemem);
        ulong free0 = m.FreePagesTotal;
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(8 * G, 8 * G + 512 * M), 0));
        // By hand (class comment for the start), in add_memory()'s order:
        // 1. struct resource, kzalloc(64): kmalloc-64 has no slab → order 0 → the pcp refill 0x100000–0x10003e; the
        //    head 0x100000.
        // 2. The direct-map PMD table of GiB 8 (RAM ended at 8G: no entry yet; 512 MiB is not the whole GiB, so 2 MiB
        //    leaves in a new table): alloc_low_pages(), GFP_ATOMIC | __GFP_ZERO order 0 → pcp head 0x100001.
        // 3. Section 64's usage (32 B: 256 pageblock-flag bits; classic SPARSEMEM has no subsection map):
        //    kmalloc-32 has no slab → pcp head 0x100002, object 0. Its memmap, kmalloc_large order 9: UNMOVABLE o9
        //    head 0x100200.
        // 4. Section 65: usage object 1 of the same slab; memmap: UNMOVABLE o9 and o10 empty → steal MOVABLE head
        //    0x100400, keep its low half, list 0x100600 at o9. Section 66: usage 2, memmap 0x100600. Section 67:
        //    usage 3, memmap: steal 0x100800, low half (0x100a00 listed).
        // 5. Four struct memory_block (776 B → kmalloc-1k, order 2, objects of 1 KiB): UNMOVABLE o2–o5 empty, o6 head
        //    0x100040 → split, the low order-2 part 0x100040.
        const ulong res = 0x100000, pmdTable = 0x100001, usage = 0x100002, blocks = 0x100040;
        ulong[] memmaps = [0x100200, 0x100400, 0x100600, 0x100800];

        var hp = m.MemoryHotplug;
        Assert.Equal(Va(res), hp.ResourceOf(8 * G));
        Assert.Equal(pmdTable, hp.DirectMapPmdTables[8]);
        Assert.Equal(KernelPageUse.PageTable, m.KernelPageUseOf(pmdTable));
        for (int i = 0; i < 4; i++)
        {
            ulong nr = 64 + (ulong)i;
            Assert.Equal(Va(usage) + (ulong)i * 32, hp.Sparse.UsageOf(nr));
            Assert.Equal(Va(memmaps[i]), m.PresentSections.Single(s => s.Nr == nr).MemmapVa);
            Assert.Equal(Va(memmaps[i]), m.Sections!.DecodeMemMap(nr, 64));
            Assert.Equal(KernelPageUse.Memmap, m.KernelPageUseOf(memmaps[i] + 511));
            Assert.Equal(Va(blocks) + (ulong)i * 1024, hp.MemoryBlockOf(nr));
        }
        Assert.Equal(KernelPageUse.Slab, m.KernelPageUseOf(usage));
        // No bookkeeping page of its own any more: 3 slab pages (1 + 1 + 4 with kmalloc-1k's order 2 → 6 pages),
        // the PMD table and 4 × 512 memmap pages came from boot memory; 131072 new pages were onlined.
        Assert.Equal(free0 + 131072 - (1 + 1 + 1 + 4 * 512 + 4), m.FreePagesTotal);
    }

    [Fact]
    public void Sparsemem_RemoveGivesBackUsageMemmapsAndTheTable_SlabPagesStayWithTheirCaches()
    {
        var m = Boot8G(MemoryModel.Sparsemem);
        var range = PhysRange.FromStartEnd(8 * G, 8 * G + 512 * M);
        Assert.Equal(0, m.HotAdd(range, 0));
        ulong free1 = m.FreePagesTotal;
        ulong table = m.MemoryHotplug.DirectMapPmdTables[8];
        Assert.Equal(0, m.HotRemove(range));
        Assert.False(m.MemoryHotplug.DirectMapPmdTables.ContainsKey(8));
        Assert.Equal(KernelPageUse.None, m.KernelPageUseOf(table));
        // −131072 offlined pages, +4 × 512 memmap pages (kvfree → order 9 back to the buddy), +1 PMD table; the
        // kmalloc-32/-64/-1k slabs are each their cache's current slab, so they stay.
        Assert.Equal(free1 - 131072 + 4 * 512 + 1, m.FreePagesTotal);
        Assert.Equal(0UL, m.MemoryHotplug.Sparse.UsageOf(64));
    }

    [Fact]
    public void WholeGiB_IsOneGigabyteLeaf_NoPageTable()
    {
        var m = Boot8G(MemoryModel.Sparsemem);
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(8 * G, 9 * G), 0));
        Assert.Equal(0UL, m.MemoryHotplug.DirectMapPmdTables[8]);
        // By hand (class comment): the resource's kmalloc-64 slab is the pcp refill's head 0x100000; no table; the
        // usage's kmalloc-32 slab the next pcp page 0x100001; section 64's memmap the UNMOVABLE o9 head 0x100200.
        Assert.Equal(KernelPageUse.Slab, m.KernelPageUseOf(0x100000));
        Assert.Equal(Va(0x100000), m.MemoryHotplug.ResourceOf(8 * G));
        Assert.Equal(Va(0x100001), m.MemoryHotplug.Sparse.UsageOf(64));
        Assert.Equal(Va(0x100200), m.PresentSections.Single(s => s.Nr == 64).MemmapVa);
    }

    [Fact]
    public void Vmemmap_SliceAtVmemmapPlusPfn_BackedByOrder9Blocks_UsageInKmalloc64()
    {
        var m = Boot8G(MemoryModel.SparsememVmemmap);
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(8 * G, 8 * G + 256 * M), 0));
        // By hand (class comment): the resource's kmalloc-64 slab is the pcp refill's head 0x100000, the PMD table of
        // GiB 8 the next pcp page 0x100001; section 64's usage (40 B: 8 B subsection map + 32 B pageblock flags →
        // kmalloc-64) is object 1 of the resource's slab, 65's object 2; the vmemmap PMD table exists (vmemmap +
        // pfn × 64: one GiB of vmemmap covers 64 GiB of pfns, and boot populated it); the order-9 backing of 64
        // (GFP_KERNEL | __GFP_RETRY_MAYFAIL | __GFP_NOWARN, UNMOVABLE) is the UNMOVABLE o9 head 0x100200, that of 65
        // the low half of the next stolen MOVABLE block 0x100400.
        const ulong res = 0x100000, b64 = 0x100200, b65 = 0x100400;
        Assert.Equal(0x100001UL, m.MemoryHotplug.DirectMapPmdTables[8]);
        var sp = m.MemoryHotplug.Sparse;
        Assert.Equal(Va(res) + 64, sp.UsageOf(64));
        Assert.Equal(Va(res) + 128, sp.UsageOf(65));
        // vmemmap + pfn × 64: pfn 0x200000 → +0x8000000.
        Assert.Equal(VmemmapStart + 0x8000000, m.PresentSections.Single(s => s.Nr == 64).MemmapVa);
        Assert.Equal(VmemmapStart + 0x8200000, m.PresentSections.Single(s => s.Nr == 65).MemmapVa);
        Assert.Equal([(b64, 9)], sp.VmemmapBlocksOf(64));
        Assert.Equal([(b65, 9)], sp.VmemmapBlocksOf(65));
    }

    [Fact]
    public void MemSectionUsageSize_PerVersionAndModel()
    {
        Assert.Equal(32UL, SparseHotplug.MemSectionUsageSize(ArchProfiles.Get("x86_64", KernelVersion.V5_11), vmemmap: false));
        Assert.Equal(40UL, SparseHotplug.MemSectionUsageSize(ArchProfiles.Get("x86_64", KernelVersion.V5_11), vmemmap: true));
        Assert.Equal(56UL, SparseHotplug.MemSectionUsageSize(ArchProfiles.Get("x86_64", KernelVersion.V6_6), vmemmap: true));
        Assert.Equal(88UL, SparseHotplug.MemSectionUsageSize(ArchProfiles.Get("x86_64", KernelVersion.V6_18), vmemmap: true));
    }

    [Fact]
    public void NewSectionRoot_IsAKzallocOfAPage_FromKmalloc4k()
    {
        var m = Boot8G(MemoryModel.Sparsemem);
        // Section 256 (32 GiB) is the first of root 1 (256 sections per 4 KiB root of 16-byte mem_sections).
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(32 * G, 32 * G + 128 * M), 0));
        // By hand (class comment): the resource's kmalloc-64 slab is the pcp refill's head 0x100000; GiB 32 of the
        // direct map has no entry and 128 MiB is not the whole GiB → a PMD table, pcp head 0x100001; the root:
        // kzalloc_node(4096) → kmalloc-4k, a new order-3 slab (8 objects of 4 KiB), no pcp for order 3 in 5.11:
        // UNMOVABLE o3–o5 empty, o6 head 0x100040 split → 0x100040 (0x100060 o5, 0x100050 o4, 0x100048 o3 listed);
        // the usage's kmalloc-32 slab pcp head 0x100002; the memmap the UNMOVABLE o9 head 0x100200.
        const ulong root = 0x100040, memmap = 0x100200;
        Assert.Equal(0x100001UL, m.MemoryHotplug.DirectMapPmdTables[32]);
        Assert.Equal(Va(0x100002), m.MemoryHotplug.Sparse.UsageOf(256));
        Assert.Equal(Va(root), m.MemoryHotplug.Sparse.Roots[1]);
        Assert.Equal(Va(memmap), m.PresentSections.Single(s => s.Nr == 256).MemmapVa);
    }

    [Fact]
    public void Vmemmap_WithoutAnOrder9Block_FallsBackToBasePages()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.SparsememVmemmap, Ram((0, 2 * G)));
        var big = new List<ulong>();
        while (m.TryAllocPages(9, 0, "hog", out Pfn p, Gfp.Kernel)) big.Add(p.Value);
        for (int i = 0; i < 6; i++)
        {
            m.StructPages.SetRefcount(m.PfnToPage(Pfn.FromUInt64(big[i])), 0);
            Assert.Empty(m.FreePages(Pfn.FromUInt64(big[i]), 8));
        }
        ulong free0 = m.FreePagesTotal;
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(2 * G, 2 * G + 128 * M), 0));
        var blocks = m.MemoryHotplug.Sparse.VmemmapBlocksOf(16);
        Assert.Equal(512, blocks.Count);
        Assert.All(blocks, b => Assert.Equal(0, b.Order));
        ulong va = m.PresentSections.Single(s => s.Nr == 16).MemmapVa;
        Assert.Equal(VmemmapStart + 0x80000UL * 64, va);
        Assert.Equal(AddressKind.Page, m.Describe(va + 32767 * 64).Kind);
        // Taken: the kmalloc-64 slab (resource and usage), the direct-map PMD table of GiB 2, the vmemmap PTE table,
        // 512 base pages, the kmalloc-1k slab (order 2); onlined: 32768 pages.
        Assert.Equal(free0 + 32768 - (1 + 1 + 1 + 512 + 4), m.FreePagesTotal);
    }

    /// <summary>
    /// Worked out by hand from the kernel's rules (allocator-facts §7), not by replaying the allocator: x86_64 v5.11
    /// classic SPARSEMEM, RAM [0, 3G) + [4G, 8G), hot-add [8G, 15G) = sections 64–119. memblock_free_all() freed
    /// ZONE_NORMAL (pfn 0x100000 up) ascending to the tail of the MOVABLE order-10 list, so its head is 0x100000 and
    /// the UNMOVABLE lists of ZONE_NORMAL are empty. The first UNMOVABLE request of the hot-add (the kmalloc slab page
    /// that the resource / usage kzallocs need, refilled through the order-0 pcp) steals that block: its pageblocks
    /// become UNMOVABLE, the pcp keeps pages of the low half, and the high half 0x100200 goes to the head of UNMOVABLE
    /// order 9. Section 64's memmap (kvmalloc_node → kmalloc_large, GFP_KERNEL order 9) takes 0x100200; section 65's
    /// finds UNMOVABLE empty at orders 9–10, steals the next MOVABLE head 0x100400, keeps its low half and lists the high
    /// half 0x100600, which section 66 takes; and so on: the usage kzallocs in between fit the slab page already there.
    /// So section 64 + k's memmap is at __va(0x100200000 + k × 2 MiB) = 0xffff888100200000 + k × 2 MiB, each right
    /// after the previous one — v5.11's page[i] across these sections is latently right on a fresh boot.
    /// </summary>
    [Fact]
    public void FreshBoot_HotAddedSectionMemmaps_AreBackToBack_FromTheFirstStolenMovableBlock()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 3 * G), (4 * G, 8 * G)),
            hotplug: PhysRange.FromStartEnd(8 * G, 15 * G));
        for (ulong nr = 64; nr <= 119; nr++)
        {
            var info = Assert.Single(m.PresentSections, s => s.Nr == nr);
            Assert.Equal(0xffff888100200000UL + (nr - 64) * (2UL << 20), info.MemmapVa);
        }
    }
}

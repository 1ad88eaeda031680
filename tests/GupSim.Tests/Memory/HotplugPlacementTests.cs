using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using Xunit;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>
/// Where v5.11's add_memory() puts what it allocates. The expected pfns are worked out by replaying, by hand, the
/// kernel's allocation order (register_memory_resource's struct resource, init_memory_mapping's PMD table, per
/// section the usage kzalloc then the memmap, then the memory_block objects) as plain buddy allocations of the same
/// order and gfp on a twin machine booted from the same spec; slab object offsets are worked out from the caches'
/// sizes. The hot-plug code is never asked for them.
/// </summary>
public class HotplugPlacementTests
{
    private const ulong PageOffset = 0xffff888000000000UL;
    private const ulong VmemmapStart = 0xffffea0000000000UL;

    private static Machine Boot8G(MemoryModel model) => Boot("x86_64", KernelVersion.V5_11, model, Ram((0, 8 * G)));

    private static ulong Take(Machine twin, int order, Gfp gfp)
    {
        Assert.True(twin.TryAllocPages(order, 0, "replay", out Pfn p, gfp));
        return p.Value;
    }

    private static ulong Va(ulong pfn) => PageOffset + (pfn << 12);

    [Fact]
    public void Sparsemem_HalfGiB_UsageFirstThenOrder9Memmaps_InTheKernelsOrder()
    {
        var m = Boot8G(MemoryModel.Sparsemem);
        var twin = Boot8G(MemoryModel.Sparsemem);
        ulong free0 = m.FreePagesTotal;
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(8 * G, 8 * G + 512 * M), 0));
        // Replay: kmalloc-64 slab for the struct resource (order 0), the direct-map PMD table of GiB 8 (RAM ended at
        // 8G: no entry yet; 512 MiB is not the whole GiB, so 2 MiB leaves in a new table: order 0, GFP_ATOMIC),
        // kmalloc-32 slab for section 64's usage (32 B: 256 pageblock-flag bits; classic SPARSEMEM has no subsection
        // map), the order-9 memmap of 64, then 65, 66, 67 (their usages fit the same kmalloc-32 slab), then the
        // kmalloc-1k slab (order 2) for the four memory_block objects.
        ulong res = Take(twin, 0, Gfp.Kernel);
        ulong pmdTable = Take(twin, 0, Gfp.GfpAtomic | Gfp.Zero);
        ulong usage = Take(twin, 0, Gfp.Kernel);
        var memmaps = new ulong[4];
        for (int i = 0; i < 4; i++) memmaps[i] = Take(twin, 9, Gfp.Kernel | Gfp.Nowarn | Gfp.Noretry | Gfp.Comp);
        ulong blocks = Take(twin, 2, Gfp.Kernel | Gfp.Comp);

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
        var twin = Boot8G(MemoryModel.Sparsemem);
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(8 * G, 9 * G), 0));
        Assert.Equal(0UL, m.MemoryHotplug.DirectMapPmdTables[8]);
        // resource slab, usage slab, then section 64's memmap: no table between.
        Take(twin, 0, Gfp.Kernel);
        Take(twin, 0, Gfp.Kernel);
        ulong memmap64 = Take(twin, 9, Gfp.Kernel);
        Assert.Equal(Va(memmap64), m.PresentSections.Single(s => s.Nr == 64).MemmapVa);
    }

    [Fact]
    public void Vmemmap_SliceAtVmemmapPlusPfn_BackedByOrder9Blocks_UsageInKmalloc64()
    {
        var m = Boot8G(MemoryModel.SparsememVmemmap);
        var twin = Boot8G(MemoryModel.SparsememVmemmap);
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(8 * G, 8 * G + 256 * M), 0));
        // Replay: kmalloc-64 slab (resource), PMD table of GiB 8; section 64's usage (40 B: 8 B subsection map +
        // 32 B pageblock flags → kmalloc-64) fits the resource's slab; the vmemmap PMD table exists (sections 0–63
        // share the first GiB of vmemmap); the order-9 backing of 64, then of 65 (GFP_KERNEL|RETRY_MAYFAIL|NOWARN).
        ulong res = Take(twin, 0, Gfp.Kernel);
        Take(twin, 0, Gfp.GfpAtomic | Gfp.Zero);
        ulong b64 = Take(twin, 9, Gfp.Kernel | Gfp.RetryMayfail | Gfp.Nowarn);
        ulong b65 = Take(twin, 9, Gfp.Kernel | Gfp.RetryMayfail | Gfp.Nowarn);
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
        var twin = Boot8G(MemoryModel.Sparsemem);
        // Section 256 (32 GiB) is the first of root 1 (256 sections per 4 KiB root of 16-byte mem_sections).
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(32 * G, 32 * G + 128 * M), 0));
        // Replay: resource slab (order 0), the PUD slot of GiB 32 needs a PMD table (order 0), the root: kmalloc-4k,
        // a new order-3 slab (8 objects of 4 KiB); then the usage slab and the memmap.
        Take(twin, 0, Gfp.Kernel);
        Take(twin, 0, Gfp.GfpAtomic | Gfp.Zero);
        ulong root = Take(twin, 3, Gfp.Kernel | Gfp.Comp | Gfp.Nowarn | Gfp.Noretry);
        Take(twin, 0, Gfp.Kernel);
        ulong memmap = Take(twin, 9, Gfp.Kernel);
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

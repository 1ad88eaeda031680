using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using Xunit;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>
/// mm/slub.c, mm/slab_common.c, mm/util.c and mm/vmalloc.c as GupSim models them. Expected pfns, object addresses and
/// orders are worked out by hand from the kernel's rules, never asked of the slab code or the buddy. The buddy's
/// start on <see cref="X86"/> (x86_64 v5.11, RAM [0, 8G)), as in HotplugPlacementTests: memblock's boot allocations
/// are at the top of the node and nothing comes from the buddy after boot, so ZONE_NORMAL's MOVABLE order-10 list is
/// 0x100000, 0x100400, … ascending (memblock_free_all(), FPI_TO_TAIL) and its UNMOVABLE lists are empty. A GFP_KERNEL
/// request prefers ZONE_NORMAL with ALLOC_NOFRAGMENT, so the first UNMOVABLE allocation steals the whole block
/// 0x100000 (order ≥ pageblock_order: retyped UNMOVABLE), and expand() keeps the low part and lists the upper halves
/// at the UNMOVABLE heads one order down. Order 0 goes through the pcp: the first refill is batch = 63 pages,
/// 0x100000 … 0x10003e in that order (each __rmqueue() takes the smallest listed piece), and allocations take its head.
/// </summary>
public class SlubTests
{
    private const ulong PageOffset = 0xffff888000000000UL; // x86_64 4-level __PAGE_OFFSET_BASE
    private const ulong VmallocStart = 0xffffc90000000000UL;

    private static Machine X86(ulong ramEnd = 8 * G) => Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, ramEnd)));

    [Theory]
    // calculate_order() at 4 CPUs: min_objects = 4 × (fls(4) + 1) = 16, leftover ≤ 1/16.
    [InlineData(8, 0, 512)]
    [InlineData(64, 0, 64)]
    [InlineData(96, 0, 42)]   // get_order(16 × 96 = 1536) = 0; 4096 % 96 = 64 ≤ 256
    [InlineData(192, 0, 21)]  // 3072 → order 0; 4096 % 192 = 64 ≤ 256
    [InlineData(256, 0, 16)]
    [InlineData(512, 1, 16)]  // 16 × 512 = 8 KiB → order 1
    [InlineData(1024, 2, 16)]
    [InlineData(2048, 3, 16)]
    [InlineData(4096, 3, 8)]  // order_objects(3, 4096) = 8 caps min_objects
    [InlineData(8192, 3, 4)]
    public void CalculateOrder_KmallocSizesAtFourCpus(int size, int order, int objects)
    {
        Assert.Equal(order, Slub.CalculateOrder(size, 4096));
        Assert.Equal(objects, (4096 << order) / size);
    }

    [Theory]
    // A 1-CPU x86_64 /proc/slabinfo (4.19): objsize, objperslab, pagesperslab. min_objects = 4 × (fls(1) + 1) = 8.
    [InlineData(704, 11, 2)]  // shmem_inode_cache: 8 × 704 = 5632 → order 1; 8192 % 704 = 448 ≤ 512
    [InlineData(1088, 15, 4)] // ext4_inode_cache: 8704 → order 2; 16384 % 1088 = 64
    [InlineData(624, 13, 2)]  // hugetlbfs_inode_cache: 4992 → order 1; 8192 % 624 = 80
    [InlineData(600, 13, 2)]  // inode_cache
    [InlineData(672, 12, 2)]  // proc_inode_cache
    [InlineData(192, 21, 1)]  // dentry
    public void CalculateOrder_MatchesARealSlabinfoAtOneCpu(int size, int objPerSlab, int pagesPerSlab)
    {
        int order = Slub.CalculateOrder(size, 4096, nrCpus: 1);
        Assert.Equal(pagesPerSlab, 1 << order);
        Assert.Equal(objPerSlab, (4096 << order) / size);
    }

    [Theory]
    [InlineData(1UL, 3)]
    [InlineData(8UL, 3)]
    [InlineData(9UL, 4)]
    [InlineData(64UL, 6)]
    [InlineData(65UL, 1)]   // kmalloc-96
    [InlineData(97UL, 7)]
    [InlineData(129UL, 2)]  // kmalloc-192
    [InlineData(193UL, 8)]
    [InlineData(8192UL, 13)]
    [InlineData(8193UL, -1)] // kmalloc_large
    public void KmallocIndex_AsSlabH(ulong size, int index) => Assert.Equal(index, X86(1 * G).Slub.KmallocIndex(size));

    [Fact]
    public void Kmalloc64_CarvesOnePageInOrder_The65thTakesASecondPage()
    {
        var m = X86();
        ulong free0 = m.FreePagesTotal;
        // kmalloc-64 has no slab: new_slab() order 0, GFP_KERNEL → the pcp refill's head 0x100000 (class comment). The
        // 63 refilled pages stay free (pcp), so the free count drops by the one taken.
        const ulong p1 = 0x100000;
        var addrs = new ulong[64];
        for (int i = 0; i < 64; i++) addrs[i] = m.Slub.Kmalloc(64, Gfp.Kernel);
        for (int i = 0; i < 64; i++) Assert.Equal(PageOffset + (p1 << 12) + (ulong)i * 64, addrs[i]);
        Assert.Equal(free0 - 1, m.FreePagesTotal);
        Assert.Equal(KernelPageUse.Slab, m.KernelPageUseOf(p1));
        Assert.True(m.StructPages.TestFlag(m.PfnToPage(Pfn.FromUInt64(p1)), GupSim.Pages.PageFlagBits.Slab));
        var cache = m.Slub.KmallocSlab(64, Gfp.Kernel);
        Assert.Equal("kmalloc-64", cache.Name);
        Assert.Equal(1, cache.Slabs);
        const ulong p2 = 0x100001; // 64 objects fill the slab; the 65th takes a new one, the next pcp page
        Assert.Equal(PageOffset + (p2 << 12), m.Slub.Kmalloc(64, Gfp.Kernel));
        Assert.Equal(free0 - 2, m.FreePagesTotal);
        Assert.Equal(2, cache.Slabs);
        Assert.Equal(65, cache.ObjectsInUse);
    }

    [Fact]
    public void Kfree_IsLifo_AndAnEmptySlabIsDiscardedOnceMinPartialSlabsWait()
    {
        var m = X86();
        var cache = m.Slub.KmallocSlab(64, Gfp.Kernel);
        Assert.Equal(5, cache.MinPartial); // clamp(ilog2(64) / 2 = 3, 5, 10)
        var objs = new ulong[7 * 64];
        for (int i = 0; i < objs.Length; i++) objs[i] = m.Slub.Kmalloc(64, Gfp.Kernel);
        Assert.Equal(7, cache.Slabs);
        ulong free0 = m.FreePagesTotal;
        // Empty slabs 1..6 (slab 7 is the one being allocated from) one after the other: each goes on the partial
        // list at its first free; the first four stay there when empty; the fifth and sixth find 5 partial slabs
        // (themselves included) and go back to the buddy.
        for (int s = 0; s < 6; s++)
            for (int i = 0; i < 64; i++) m.Slub.Kfree(objs[s * 64 + i]);
        Assert.Equal(5, cache.Slabs);
        Assert.Equal(free0 + 2, m.FreePagesTotal);
        Assert.Equal(64, cache.ObjectsInUse);
        // LIFO: the object freed last is the next one handed out (slab 7 is still the current slab).
        m.Slub.Kfree(objs[6 * 64 + 10]);
        Assert.Equal(objs[6 * 64 + 10], m.Slub.Kmalloc(64, Gfp.Kernel));
    }

    [Fact]
    public void ReclaimableGfp_UsesTheRclCache_WithReclaimableSlabPages()
    {
        var m = X86();
        var cache = m.Slub.KmallocSlab(100, Gfp.Kernel | Gfp.Reclaimable);
        Assert.Equal("kmalloc-rcl-128", cache.Name);
        Assert.Equal(Gfp.Reclaimable, cache.AllocFlags);
        Assert.Equal("kmalloc-1k", m.Slub.KmallocSlab(1000, Gfp.Kernel).Name);
        Assert.Equal(Gfp.Comp, m.Slub.KmallocSlab(1000, Gfp.Kernel).AllocFlags);
        Assert.Equal("kmalloc-96", m.Slub.KmallocSlab(96, Gfp.Kernel).Name);
        Assert.Equal("kmalloc-192", m.Slub.KmallocSlab(150, Gfp.Kernel).Name);
    }

    [Fact]
    public void KmallocAboveEightKiB_IsKmallocLarge_OfGetOrder()
    {
        var m = X86();
        ulong free0 = m.FreePagesTotal;
        // kmalloc_large, GFP_KERNEL | __GFP_COMP order 2, no pcp: UNMOVABLE empty → steal 0x100000, keep its low order-2
        // part (0x100200 o9 … 0x100004 o2 listed); the kfree merges it all back to the order-10 block.
        const ulong p = 0x100000;
        ulong a = m.Slub.Kmalloc(8193, Gfp.Kernel); // 3 pages → order 2
        Assert.Equal(PageOffset + (p << 12), a);
        Assert.Equal(free0 - 4, m.FreePagesTotal);
        Assert.Equal(KernelPageUse.OtherKernelData, m.KernelPageUseOf(p + 3));
        Assert.True(m.Slub.IsKmallocLarge(a));
        m.Slub.Kfree(a);
        Assert.Equal(free0, m.FreePagesTotal);
        Assert.Equal(KernelPageUse.None, m.KernelPageUseOf(p));
    }

    [Fact]
    public void Kvmalloc_TwoMiB_IsAnOrder9Block_WhenTheBuddyHasOne()
    {
        var m = X86();
        // kmalloc_large order 9 (GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY | __GFP_COMP): UNMOVABLE empty → steal
        // 0x100000 and keep its low half (0x100200 listed at UNMOVABLE o9).
        const ulong p = 0x100000;
        ulong a = m.MmUtil.KvmallocNode(2 * M, Gfp.Kernel, 0, "test", KernelPageUse.Memmap);
        Assert.Equal(PageOffset + (p << 12), a);
        Assert.Equal(KernelPageUse.Memmap, m.KernelPageUseOf(p + 511));
    }

    [Fact]
    public void Kvmalloc_FallsBackToVmalloc_WithoutAnOrder9Block_AreasFirstFitWithGuardPages()
    {
        var m = X86(1 * G);
        // Take every block of order ≥ 9, then give back the low halves (order 8) of six of them: 1536 free pages
        // in blocks that cannot merge to order 9.
        var big = new List<ulong>();
        while (m.TryAllocPages(9, 0, "hog", out Pfn p, Gfp.Kernel)) big.Add(p.Value);
        Assert.True(big.Count >= 6);
        for (int i = 0; i < 6; i++)
        {
            m.StructPages.SetRefcount(m.PfnToPage(Pfn.FromUInt64(big[i])), 0);
            Assert.Empty(m.FreePages(Pfn.FromUInt64(big[i]), 8));
        }
        ulong a = m.MmUtil.KvmallocNode(2 * M, Gfp.Kernel, 0, "memmap", KernelPageUse.Memmap);
        Assert.Equal(VmallocStart, a);
        var pages = m.Vmalloc.PagesOf(a);
        Assert.Equal(512, pages.Count);
        Assert.Equal(KernelPageUse.Memmap, m.KernelPageUseOf(pages[0]));
        Assert.Equal(AddressKind.Unmapped, m.Describe(a + 2 * M).Kind); // the guard page
        Assert.Equal(AddressKind.Other, m.Describe(a + 2 * M - 4096).Kind);
        // The next area starts after the guard page.
        ulong b = m.MmUtil.KvmallocNode(2 * M, Gfp.Kernel, 0, "second");
        Assert.Equal(VmallocStart + 2 * M + 4096, b);
        // vfree() does not hand the range back before the lazy purge (fls(4) × 32 MiB = 96 MiB waiting).
        m.MmUtil.Kvfree(a);
        Assert.Equal(AddressKind.Unmapped, m.Describe(a).Kind);
        Assert.Equal(KernelPageUse.None, m.KernelPageUseOf(pages[0]));
        ulong c = m.MmUtil.KvmallocNode(2 * M, Gfp.Kernel, 0, "third");
        Assert.Equal(VmallocStart + 2 * (2 * M + 4096), c);
    }

    [Fact]
    public void Kvmalloc_VmallocFailure_GivesEverythingBack()
    {
        var m = X86(1 * G);
        while (m.TryAllocPages(9, 0, "hog", out _, Gfp.Kernel)) { }
        // The boot fragments below order 9 (memblock reservations leave odd ranges; the pcp holds some) are more
        // than 512 pages: take order-0 pages until 256 are left, so __vmalloc_node() gets 256 of its 512 and fails
        // part-way.
        while (m.FreePagesTotal > 256) Assert.True(m.TryAllocPages(0, 0, "hog", out _, Gfp.Kernel));
        ulong free0 = m.FreePagesTotal;
        Assert.Equal(256UL, free0);
        var slabBefore = m.Slub.SlabPages;
        ulong a = m.MmUtil.KvmallocNode(2 * M, Gfp.Kernel, 0, "memmap");
        Assert.Equal(0UL, a);
        // Slab pages taken for vm_struct, vmap_area and the pages array stay with their caches (as in the kernel);
        // every vmalloc page went back.
        Assert.Equal(free0, m.FreePagesTotal + (m.Slub.SlabPages - slabBefore));
    }
}

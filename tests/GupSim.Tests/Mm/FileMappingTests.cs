using GupSim.Arch;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Hugetlb;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Mm;

/// <summary>Shared helpers for the file tests: a small x86_64 machine with 2 MiB and 1 GiB pools.</summary>
internal static class FileMachines
{
    public static Machine X86(KernelVersion v, string hugepages = "hugepagesz=2M hugepages=4 hugepagesz=1G hugepages=2") => Machine.Boot(new MachineSpec
    {
        Arch = ArchProfiles.Get("x86_64", v),
        Model = MemoryModel.SparsememVmemmap,
        Ram = Ram((0, 3 * G), (4 * G, 6 * G)),
        Hugepages = HugepagesCmdline.Parse(hugepages, 2 * M),
    });

    public static PagePtr Page(this Machine m, ulong pfn) => m.PfnToPage(Pfn.FromUInt64(pfn));

    public static ulong PteOf(this MmStruct mm, ulong va, out PageTableEntry e)
    {
        e = mm.WalkLeaf(va)!.Value.Entry;
        return e.Pfn.Value;
    }
}

/// <summary>
/// The "Fresh" machine (x86_64 v6.1 VMEMMAP, RAM [0, 3G) + [4G, 6G), no hugetlb pages), worked out by hand from the
/// boot rules (docs/architecture.md "memblock and sparse_init"): NODE_DATA 0x2a000 B at the top [6G − 0x2a000, 6G)
/// (pfns from 0x17ffd6); the 40 usemaps (40 sections × 40 B, 6.1 has no rcu_head in mem_section_usage) right below
/// it, in pfn 0x17ffd5; the vmemmap buffer 40 × 2 MiB, 2 MiB aligned, top-down below them: [6G − 82M, 6G − 2M).
/// ZONE_NORMAL's free tail is [0x17fe00, 0x17ffd5) = 469 pages, freed ascending: 0x17fe00 o8, 0x17ff00 o7,
/// 0x17ff80 o6, 0x17ffc0 o4, 0x17ffd0 o2, 0x17ffd4 o0 (MOVABLE). The first GFP_HIGHUSER_MOVABLE order-0 page
/// (preferred zone NORMAL) refills the empty MOVABLE order-0 pcp list with rmqueue_bulk(batch 63 >> 0):
/// __rmqueue_smallest() smallest order first, list_add_tail() in that order: 0x17ffd4 (o0), 0x17ffd0 (o2 split:
/// 0x17ffd2 → o1, 0x17ffd1 → o0), 0x17ffd1, 0x17ffd2 (o1 split: 0x17ffd3 → o0), 0x17ffd3, 0x17ffc0…0x17ffcf (o4),
/// 0x17ff80…; the pcp hands out its head: 0x17ffd4, then 0x17ffd0, 0x17ffd1, … Page tables, anon_vma and inode
/// slabs are UNMOVABLE and come from a stolen MOVABLE order-10 block in ZONE_NORMAL, not from these lists.
/// Slab pages stay after their objects are freed: an emptied slab that is its cache's current slab is kept (SLUB),
/// so a test's first shmem inode leaves shmem_inode_cache's order-2 slab (704 B, 23 objects, 4 pages at 4 CPUs) and
/// its first anonymous write leaves the anon_vma cache's order-0 slab (1 page) allocated.
/// </summary>
public class FileMappingTests
{
    private static readonly Machine Shared = FileMachines.X86(KernelVersion.V6_1);

    private static (Machine M, MmStruct Mm) Fresh()
    {
        var m = FileMachines.X86(KernelVersion.V6_1, "hugepages=0");
        return (m, MmStruct.Create(m)!);
    }

    [Fact]
    public void Memfd_SharedReadThenWrite_PageCacheRefcountsMapcountsAndDirty()
    {
        var (m, mm) = Fresh();
        var sp = m.StructPages;
        ulong free0 = m.FreePagesTotal;
        Assert.Equal(0, m.Vfs.MemfdCreate("test", out var f));
        var inode = Assert.IsType<PageCacheInode>(f!.Inode);
        Assert.Equal((FsType.Tmpfs, 0, 1), (inode.FsType, inode.Nlink, inode.References));
        Assert.Equal(0x01021994L, f.FsMagic);
        Assert.Equal(0, f.Ftruncate(3 * 4096));
        long a = mm.Mmap(0, 3 * 4096, Prot.Read | Prot.Write, MapFlags.Shared, inode);
        Assert.True(a > 0);
        Assert.Equal(2, inode.References);
        ulong va = (ulong)a;
        Assert.Equal(VmFault.None, mm.HandleMmFault(va, FaultFlags.None));
        ulong p0 = Assert.Single(inode.Pages).Value;
        // GFP_HIGHUSER_MOVABLE order 0: the MOVABLE pcp list is refilled from the MOVABLE lists, smallest order first:
        // the boot tail's order-0 block 0x17ffd4 is the head (class comment; was 0x17fffe before NODE_DATA and the
        // usemaps' page were reserved at the top).
        Assert.Equal(0x17ffd4UL, p0);
        Assert.Equal(p0, mm.PteOf(va, out var e0));
        Assert.True(e0.IsWrite); // tmpfs: no write notification, so vm_page_prot is writable
        Assert.False(e0.IsDirty);
        var page0 = m.Page(p0);
        Assert.Equal((2, 0), (sp.Refcount(page0), sp.MapcountRaw(page0)));
        Assert.Equal((inode.MappingAddress, 0UL), (sp.Mapping(page0), sp.Index(page0)));
        Assert.True(sp.TestFlag(page0, PageFlagBits.Uptodate) && sp.TestFlag(page0, PageFlagBits.SwapBacked));
        Assert.False(sp.TestFlag(page0, PageFlagBits.Dirty));
        Assert.Equal(VmFault.None, mm.HandleMmFault(va + 4096 + 7, FaultFlags.Write));
        Assert.True(inode.TryGetPage(1, out ulong p1));
        Assert.Equal(p1, mm.PteOf(va + 4096, out var e1));
        Assert.True(e1.IsWrite && e1.IsDirty);
        Assert.True(sp.TestFlag(m.Page(p1), PageFlagBits.Dirty));
        Assert.Equal(1UL, sp.Index(m.Page(p1)));
        Assert.Equal((2L, 0L, 0L), (mm.ShmemPages, mm.FilePages, mm.AnonPages));
        // Beyond i_size: SIGBUS, nothing allocated.
        Assert.Equal(0, f.Ftruncate(2 * 4096));
        Assert.Equal(VmFault.SigBus, mm.HandleMmFault(va + 2 * 4096, FaultFlags.None));
        Assert.Equal(2, inode.CachedPages);
        Assert.Equal(0, mm.Munmap(va, 3 * 4096));
        Assert.Equal((1, -1), (sp.Refcount(page0), sp.MapcountRaw(page0)));
        Assert.Equal((1, 0L), (inode.References, mm.ShmemPages));
        Assert.Equal(2, inode.CachedPages); // the page cache keeps them while the file lives
        Assert.Equal(0, f.Close());
        Assert.True(inode.Evicted);
        Assert.Equal(0, sp.Refcount(page0));
        Assert.Equal(0UL, sp.Mapping(page0));
        Assert.Equal(-(int)Errno.EBADF, f.Close());
        // The memfd's inode was shmem_inode_cache's first object: its order-2 slab (4 pages) stays as the cache's
        // current slab (was free0, from before inodes came from slab pages).
        Assert.Equal(free0 - 4, m.FreePagesTotal);
        Assert.Equal(0, m.Vfs.Objects.InUse);
    }

    [Fact]
    public void Ext4Shared_ReadFaultIsReadOnly_WriteGoesThroughWpPageShared()
    {
        var (m, mm) = Fresh();
        var sp = m.StructPages;
        m.Vfs.Mount(FsType.Ext4, "/data");
        var f = m.Vfs.Open("/data/file");
        Assert.Equal((FsType.Ext4, 1), (f.Inode.FsType, f.Inode.Nlink));
        Assert.Equal(0, f.Ftruncate(8192));
        Assert.Equal(0, f.Fallocate(0, 8192)); // ext4: blocks only, no page cache
        Assert.Equal(0, f.Inode.CachedPages);
        ulong va = (ulong)mm.Mmap(0, 8192, Prot.Read | Prot.Write, MapFlags.Shared, f.Inode);
        Assert.Equal(VmFault.None, mm.HandleMmFault(va, FaultFlags.None));
        ulong pfn = mm.PteOf(va, out var e);
        Assert.False(e.IsWrite); // write notification: the first write must fault
        Assert.Equal(VmFault.Write, mm.HandleMmFault(va, FaultFlags.Write));
        Assert.Equal(pfn, mm.PteOf(va, out e));
        Assert.True(e.IsWrite && e.IsDirty);
        Assert.True(sp.TestFlag(m.Page(pfn), PageFlagBits.Dirty));
        Assert.False(sp.TestFlag(m.Page(pfn), PageFlagBits.SwapBacked));
        Assert.Equal((1L, 0L), (mm.FilePages, mm.ShmemPages));
        // mprotect(PROT_READ) write-protects the entry; the page stays mapped.
        Assert.Equal(0, mm.Mprotect(va, 8192, Prot.Read));
        Assert.Equal(pfn, mm.PteOf(va, out e));
        Assert.False(e.IsWrite);
        Assert.Equal(VmFault.SigSegv, mm.HandleMmFault(va, FaultFlags.Write));
        mm.Destroy();
        Assert.Equal(0, f.Close());
        Assert.False(f.Inode.Evicted); // still linked
        Assert.Equal(0, m.Vfs.Unlink("/data/file"));
        Assert.True(f.Inode.Evicted);
        Assert.Equal(-(int)Errno.ENOENT, m.Vfs.Unlink("/data/file"));
    }

    [Fact]
    public void PrivateFile_ReadMapsCachePage_WriteCopiesIntoAnonymousPage()
    {
        var (m, mm) = Fresh();
        var sp = m.StructPages;
        ulong free0 = m.FreePagesTotal;
        var f = m.Vfs.Open("/dev/shm/p");
        Assert.Equal(0, f.Ftruncate(2 * 4096));
        var inode = (PageCacheInode)f.Inode;
        ulong va = (ulong)mm.Mmap(0, 2 * 4096, Prot.Read | Prot.Write, MapFlags.Private, inode);
        // Read of a hole: shmem allocates the page cache page and maps it read-only.
        Assert.Equal(VmFault.None, mm.HandleMmFault(va, FaultFlags.None));
        ulong cache0 = mm.PteOf(va, out var e);
        Assert.False(e.IsWrite);
        Assert.True(inode.TryGetPage(0, out ulong c0) && c0 == cache0);
        Assert.Equal((2, 0), (sp.Refcount(m.Page(cache0)), sp.MapcountRaw(m.Page(cache0))));
        // Write: wp_page_copy() into an anonymous page; the cache page loses the mapping.
        Assert.Equal(VmFault.Write, mm.HandleMmFault(va, FaultFlags.Write));
        ulong anon0 = mm.PteOf(va, out e);
        // Both GFP_HIGHUSER_MOVABLE from the MOVABLE pcp list, refilled by rmqueue_bulk() in split order (class
        // comment): 0x17ffd4 (order-0 head), 0x17ffd0 (order-2 head split: 0x17ffd2 to order 1, 0x17ffd1 to order 0),
        // 0x17ffd1, … (was 0x17fffe, 0x17fffc). The anon_vma slab page between them is UNMOVABLE, from another list.
        Assert.Equal((0x17ffd4UL, 0x17ffd0UL), (cache0, anon0));
        Assert.NotEqual(cache0, anon0);
        Assert.True(e.IsWrite && e.IsDirty);
        Assert.Equal((1, -1), (sp.Refcount(m.Page(cache0)), sp.MapcountRaw(m.Page(cache0))));
        Assert.Equal((1, 0), (sp.Refcount(m.Page(anon0)), sp.MapcountRaw(m.Page(anon0))));
        Assert.True(sp.PageAnon(m.Page(anon0)));
        Assert.False(sp.PageAnon(m.Page(cache0)));
        Assert.False(sp.TestFlag(m.Page(cache0), PageFlagBits.Dirty)); // a private write never dirties the file
        // Write of a hole: do_cow_fault() — the cache gets its page, the mapping an anonymous copy.
        Assert.Equal(VmFault.None, mm.HandleMmFault(va + 4096, FaultFlags.Write));
        Assert.True(inode.TryGetPage(1, out ulong cache1));
        ulong anon1 = mm.PteOf(va + 4096, out _);
        Assert.NotEqual(cache1, anon1);
        Assert.Equal((1, -1), (sp.Refcount(m.Page(cache1)), sp.MapcountRaw(m.Page(cache1))));
        Assert.Equal((2L, 0L), (mm.AnonPages, mm.ShmemPages));
        // A second write to the anonymous page reuses it.
        Assert.Equal(VmFault.None, mm.HandleMmFault(va, FaultFlags.Write));
        Assert.Equal(anon0, mm.PteOf(va, out _));
        Assert.Equal(0, mm.Munmap(va, 2 * 4096));
        Assert.Equal(0, sp.Refcount(m.Page(anon0)));
        Assert.Equal(0UL, sp.Mapping(m.Page(anon0))); // free_pages_prepare() cleared the anon_vma pointer
        Assert.Equal(0L, mm.AnonPages);
        Assert.Equal(0, m.Vfs.Unlink("/dev/shm/p"));
        Assert.False(inode.Evicted); // still open
        Assert.Equal(0, f.Close());
        Assert.True(inode.Evicted);
        mm.Destroy();
        // + the PGD mm_alloc took before free0 was read, − shmem_inode_cache's order-2 slab (4 pages) and − the
        // anon_vma cache's order-0 slab (1 page), both kept as their caches' current slabs (was free0 + 1).
        Assert.Equal(free0 + 1 - 4 - 1, m.FreePagesTotal);
    }

    [Fact]
    public void SharedAnonymousAndDevZero_AreShmemObjectsOrAnonymousMemory()
    {
        var (m, mm) = Fresh();
        ulong free0 = m.FreePagesTotal;
        ulong va = (ulong)mm.Mmap(0, 5 * 4096, Prot.Read | Prot.Write, MapFlags.Shared | MapFlags.Anonymous);
        var vma = mm.VmaAt(va)!;
        var obj = Assert.IsType<PageCacheInode>(vma.File);
        Assert.Equal((FsType.Tmpfs, 0, 1, 5UL * 4096), (obj.FsType, obj.Nlink, obj.References, obj.Size));
        Assert.False(vma.IsAnonymous);
        Assert.Equal(VmFault.None, mm.HandleMmFault(va + 3 * 4096, FaultFlags.Write));
        Assert.Equal(1L, mm.ShmemPages);
        var zero = m.Vfs.Open("/dev/zero");
        ulong priv = (ulong)mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Private, zero.Inode);
        Assert.True(mm.VmaAt(priv)!.IsAnonymous);
        ulong shared = (ulong)mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Shared, zero.Inode);
        Assert.IsType<PageCacheInode>(mm.VmaAt(shared)!.File);
        Assert.Equal(VmFault.None, mm.HandleMmFault(priv, FaultFlags.None));
        Assert.Equal((ulong)m.ZeroPfn, mm.PteOf(priv, out _)); // anonymous: the zero page
        // Splitting the shared object's VMA gives each piece a reference; the object goes with the last one.
        Assert.Equal(0, mm.Munmap(va + 4096, 4096));
        Assert.Equal(2, obj.References);
        Assert.Equal(0, mm.Munmap(va, 5 * 4096));
        Assert.True(obj.Evicted);
        Assert.Equal(0L, mm.ShmemPages);
        Assert.Equal(0, mm.Munmap(priv, 4096));
        Assert.Equal(0, mm.Munmap(shared, 4096));
        Assert.Equal(0, zero.Close());
        // shmem_zero_setup() gave the MAP_SHARED|MAP_ANONYMOUS mapping and the MAP_SHARED /dev/zero mapping each a
        // shmem inode, both in shmem_inode_cache's first order-2 slab (4 pages), which stays as its current slab; the
        // private /dev/zero read mapped the zero page, so no anon_vma (was free0).
        Assert.Equal(free0 - 4, m.FreePagesTotal);
        Assert.Equal(0, m.Vfs.Objects.InUse);
    }

    [Fact]
    public void Ftruncate_UnmapsSharedAndPrivateCopies_PinnedPageOutlivesTheCache()
    {
        var (m, mm) = Fresh();
        var sp = m.StructPages;
        ulong free0 = m.FreePagesTotal;
        Assert.Equal(0, m.Vfs.MemfdCreate("t", out var f));
        var inode = (PageCacheInode)f!.Inode;
        Assert.Equal(0, f.Ftruncate(4 * 4096));
        Assert.Equal(0, f.Fallocate(0, 4 * 4096));
        Assert.Equal(4, inode.CachedPages);
        ulong s = (ulong)mm.Mmap(0, 4 * 4096, Prot.Read | Prot.Write, MapFlags.Shared, inode);
        ulong p = (ulong)mm.Mmap(0, 4 * 4096, Prot.Read | Prot.Write, MapFlags.Private, inode);
        for (ulong i = 0; i < 4; i++)
        {
            Assert.Equal(VmFault.None, mm.HandleMmFault(s + i * 4096, FaultFlags.Write));
            Assert.Equal(VmFault.None, mm.HandleMmFault(p + i * 4096, FaultFlags.Write));
        }
        Assert.True(inode.TryGetPage(3, out ulong last));
        var gup = new GupSim.Gup.GetUserPages(m);
        var pages = new PagePtr[1];
        Assert.Equal(1L, gup.PinUserPagesFast(mm, s + 3 * 4096, 1, GupSim.Gup.FollFlags.Write, pages));
        Assert.Equal(m.Page(last), pages[0]);
        Assert.Equal(2 + 1024, sp.Refcount(m.Page(last)));
        Assert.Equal(0, f.Ftruncate(4096 + 1)); // keeps pages 0 and 1
        Assert.Equal(2, inode.CachedPages);
        Assert.False(Mapped(mm, s + 2 * 4096));
        Assert.False(Mapped(mm, p + 3 * 4096)); // private copies go too
        Assert.True(Mapped(mm, p + 4096));
        Assert.Equal((2L, 2L), (mm.ShmemPages, mm.AnonPages));
        // The pinned page left the cache (mapping NULL) but is still allocated until unpinned.
        Assert.Equal((1024, 0UL), (sp.Refcount(m.Page(last)), sp.Mapping(m.Page(last))));
        m.Grab.UnpinUserPages(pages);
        Assert.Equal(0, sp.Refcount(m.Page(last)));
        mm.Destroy();
        Assert.Equal(0, f.Close());
        // + the PGD, − shmem_inode_cache's order-2 slab (4 pages), − the anon_vma order-0 slab of the private
        // mapping's copies (1 page), both kept as their caches' current slabs (was free0 + 1).
        Assert.Equal(free0 + 1 - 4 - 1, m.FreePagesTotal);
    }

    private static bool Mapped(MmStruct mm, ulong va) => mm.WalkLeaf(va) is { } l && l.Entry.IsPresent;

    [Fact]
    public void BadInput_LeavesEverythingAsItWas()
    {
        var (m, mm) = Fresh();
        var f = m.Vfs.Open("/dev/shm/x");
        ulong free0 = m.FreePagesTotal;
        Assert.Equal(-(int)Errno.EINVAL, mm.Mmap(0, 4096, Prot.Read, MapFlags.Shared, f.Inode, offset: 100));
        Assert.Equal(-(int)Errno.EINVAL, mm.Mmap(0, 4096, Prot.Read, MapFlags.Shared | MapFlags.Hugetlb, f.Inode));
        Assert.Equal(1, f.Inode.References);
        Assert.Empty(mm.Vmas);
        Assert.Equal(-(int)Errno.EINVAL, f.Fallocate(0, 0));
        Assert.Equal(free0, m.FreePagesTotal);
        Assert.Throws<GupSimException>(() => m.Vfs.Open("relative/path"));
        Assert.Throws<GupSimException>(() => m.Vfs.Open("/dev/shm/missing", create: false));
        Assert.Throws<GupSimException>(() => m.Vfs.Mount(FsType.Tmpfs, "/dev/shm")); // has a file
        Assert.Throws<GupSimException>(() => FsTypes.Parse("ntfs"));
        Assert.Equal(-(int)Errno.EINVAL, m.Vfs.MemfdCreate("h", out _, hugetlb: true, hugePageSize: 4 * M));
        Assert.Equal(-(int)Errno.EINVAL, m.Vfs.Open("/dev/zero").Ftruncate(0));
    }

    [Fact]
    public void SharedAnonymousHugetlb_LastMunmapEvictsTheUnlinkedInode()
    {
        var m = Shared;
        lock (m)
        {
            var h = m.Hugetlb.Find(2 * M)!;
            var mm = MmStruct.Create(m)!;
            ulong free0 = h.FreeHugePages;
            ulong va = (ulong)mm.Mmap(0, 4 * M, Prot.Read | Prot.Write, MapFlags.Shared | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(2 * M));
            var inode = Assert.IsType<HugetlbfsInode>(mm.VmaAt(va)!.File);
            Assert.Equal((0, 1), (inode.Nlink, inode.References));
            Assert.Equal(VmFault.None, mm.HandleMmFault(va, FaultFlags.Write));
            Assert.Equal((free0 - 1, 1UL), (h.FreeHugePages, h.ResvHugePages));
            Assert.Equal(0, mm.Munmap(va + 2 * M, 2 * M)); // a split keeps the inode
            Assert.False(inode.Evicted);
            Assert.Equal(0, mm.Munmap(va, 2 * M));
            Assert.True(inode.Evicted); // the page cache page and the reservation go back
            Assert.Equal((free0, 0UL), (h.FreeHugePages, h.ResvHugePages));
            mm.Destroy();
        }
    }

    [Fact]
    public void HugetlbMemfd_FallocateTakesPoolPages_CloseGivesThemBack()
    {
        var m = Shared;
        lock (m)
        {
            var h = m.Hugetlb.Find(2 * M)!;
            ulong free0 = h.FreeHugePages;
            Assert.Equal(0, m.Vfs.MemfdCreate("test", out var f, hugetlb: true, hugePageSize: 2 * M));
            var hi = Assert.IsType<HugetlbfsInode>(f!.Inode);
            Assert.Equal((FsType.Hugetlbfs, 0x958458f6L), (hi.FsType, f.FsMagic));
            Assert.Equal(-(int)Errno.EINVAL, f.Ftruncate(4096));
            Assert.Equal(0, f.Ftruncate(2 * M));
            Assert.Equal(0, f.Fallocate(0, 2 * M));
            Assert.Equal(free0 - 1, h.FreeHugePages);
            Assert.Single(hi.PageCache);
            Assert.Equal(-(int)Errno.ENOSPC, f.Fallocate(0, (free0 + 2) * 2 * M)); // more than the pool: nothing kept
            Assert.Equal(free0 - 1, h.FreeHugePages);
            Assert.Single(hi.PageCache);
            Assert.Equal(0, f.Close());
            Assert.True(hi.Evicted);
            Assert.Equal(free0, h.FreeHugePages);
        }
    }
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Hugetlb;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Mm;

public class MmapFaultTests
{
    private static Machine X86(string hugepages, MemoryModel model = MemoryModel.SparsememVmemmap) => Machine.Boot(new MachineSpec
    {
        Arch = ArchProfiles.Get("x86_64", KernelVersion.V5_12),
        Model = model,
        Ram = Ram((0, 3 * G), (4 * G, 13 * G)),
        Hugepages = HugepagesCmdline.Parse(hugepages, 2 * M),
    });

    [Fact]
    public void SharedHugetlbFile_ReserveFaultUnmapUnlink_PoolCountsBalance()
    {
        var m = X86("hugepagesz=1G hugepages=4");
        var h = m.Hugetlb.Find(G)!;
        var mount = m.Hugetlb.Mounts.Mount("/mnt/huge", G);
        var file = m.Hugetlb.Mounts.OpenOrCreate("/mnt/huge/file");
        var mm = MmStruct.Create(m)!;
        long addr = mm.Mmap(0, 3 * G, Prot.Read | Prot.Write, MapFlags.Shared, file);
        Assert.True(addr > 0);
        Assert.Equal(0UL, (ulong)addr % G);
        Assert.Equal((4UL, 4UL, 3UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)addr + 5, FaultFlags.Write));
        Assert.Equal((4UL, 3UL, 2UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        // The page is mapped once (compound_mapcount 0) and held by the mapping and the page cache.
        ulong head = file.PageCache[0];
        var headPage = m.PfnToPage(Pfn.FromUInt64(head));
        Assert.Equal(2, m.StructPages.Refcount(headPage));
        Assert.Equal(0, m.StructPages.CompoundMapcount(headPage));
        var leaf = mm.WalkLeaf((ulong)addr + 12345)!.Value;
        Assert.Equal(PgLevel.Pud, leaf.Level);
        Assert.Equal(head, leaf.Entry.Pfn.Value);
        Assert.True(leaf.Entry.IsWrite && leaf.Entry.IsDirty && leaf.Entry.IsHuge);
        // A second shared mapping of the file sees the same page.
        long addr2 = mm.Mmap(0, G, Prot.Read, MapFlags.Shared, file);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)addr2, FaultFlags.None));
        Assert.Equal(head, mm.WalkLeaf((ulong)addr2)!.Value.Entry.Pfn.Value);
        Assert.Equal(3, m.StructPages.Refcount(headPage));
        Assert.Equal(1, m.StructPages.CompoundMapcount(headPage));
        Assert.Equal(0, mm.Munmap((ulong)addr, 3 * G));
        Assert.Equal(0, mm.Munmap((ulong)addr2, G));
        Assert.Equal(1, m.StructPages.Refcount(headPage)); // the page cache's
        Assert.Equal((4UL, 3UL, 2UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        m.Hugetlb.RemoveInodePages(file);
        Assert.Equal((4UL, 4UL, 0UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        mm.Destroy();
    }

    [Fact]
    public void PrivateAnonHugetlb_ReadThenWrite_UnmapReturnsPagesAndReservations()
    {
        var m = X86("hugepages=8");
        var h = m.Hugetlb.Find(2 * M)!;
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 3 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(2 * M));
        Assert.True(a > 0);
        Assert.Equal(2UL, h.ResvHugePages); // 3 MiB rounds up to two 2 MiB pages
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.None));
        Assert.Equal((8UL, 7UL, 1UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        var leaf = mm.WalkLeaf((ulong)a)!.Value;
        Assert.Equal(PgLevel.Pmd, leaf.Level);
        Assert.False(leaf.Entry.IsWrite); // make_huge_pte(): writable only for VM_WRITE && VM_SHARED
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.Write)); // hugetlb_cow() reuses it
        var after = mm.WalkLeaf((ulong)a)!.Value;
        Assert.True(after.Entry.IsWrite);
        Assert.Equal(leaf.Entry.Pfn, after.Entry.Pfn);
        Assert.Equal(0, mm.Munmap((ulong)a, 4 * M));
        Assert.Equal((8UL, 8UL, 0UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        Assert.Equal(0L, mm.HugetlbPages);
    }

    [Fact]
    public void HugetlbErrors_AsTheKernelGivesThem_AndCountsUntouched()
    {
        var m = X86("hugepagesz=1G hugepages=2");
        var h = m.Hugetlb.Find(G)!;
        m.Hugetlb.Mounts.Mount("/mnt/huge", G);
        var file = m.Hugetlb.Mounts.OpenOrCreate("/mnt/huge/f");
        var mm = MmStruct.Create(m)!;
        Assert.Equal(-(long)Errno.EINVAL, mm.Mmap(0, G, Prot.Read, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(4 * M)));
        Assert.Equal(-(long)Errno.ENOMEM, mm.Mmap(0, 3 * G, Prot.Read, MapFlags.Shared, file));
        Assert.Equal(-(long)Errno.EINVAL, mm.Mmap(0, G + 4096, Prot.Read, MapFlags.Shared, file));
        Assert.Equal((2UL, 2UL, 0UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        Assert.Empty(mm.Vmas);
        long a = mm.Mmap(0, 2 * G, Prot.Read | Prot.Write, MapFlags.Shared, file);
        Assert.Equal(-(int)Errno.EINVAL, mm.Munmap((ulong)a, 4096 * 2)); // not a huge page boundary
        Assert.Single(mm.Vmas);
        Assert.Equal(VmFault.SigSegv, mm.HandleMmFault(0x1000, FaultFlags.None));
    }

    [Fact]
    public void NoReserve_FaultBeyondThePool_IsSigbus()
    {
        var m = X86("hugepages=1");
        var h = m.Hugetlb.Find(2 * M)!;
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 4 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapFlags.NoReserve);
        Assert.Equal(0UL, h.ResvHugePages);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.Write));
        Assert.Equal(VmFault.SigBus, mm.HandleMmFault((ulong)a + 2 * M, FaultFlags.Write));
        Assert.Equal(0UL, h.FreeHugePages);
    }

    [Fact]
    public void Anonymous4K_ReadMapsZeroPage_WriteAllocates_UnmapFrees()
    {
        var m = X86("");
        ulong free0 = m.FreePagesTotal;
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 64 * 1024, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.None));
        Assert.Equal(m.ZeroPfn, mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value);
        Assert.Equal(VmFault.Write, mm.HandleMmFault((ulong)a, FaultFlags.Write));
        var leaf = mm.WalkLeaf((ulong)a)!.Value;
        Assert.NotEqual(m.ZeroPfn, leaf.Entry.Pfn.Value);
        var page = m.PfnToPage(leaf.Entry.Pfn);
        Assert.Equal(1, m.StructPages.Refcount(page));
        Assert.Equal(0, m.StructPages.MapcountRaw(page));
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a + 8192, FaultFlags.Write));
        Assert.Equal(2L, mm.AnonPages);
        Assert.Equal(0, mm.Munmap((ulong)a, 64 * 1024));
        Assert.Equal(0L, mm.AnonPages);
        mm.Destroy();
        // Pages and page tables (PGD included) all back; the anon_vma cache keeps its first slab (order 0: 46 × 88 B).
        Assert.Equal(free0 - 1, m.FreePagesTotal);
    }

    [Fact]
    public void Thp_UnderMadvHugepage_MapsAPmdLeafCompoundPage()
    {
        var m = X86("");
        ulong free0 = m.FreePagesTotal;
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 8 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        ulong aligned = ((ulong)a + 2 * M - 1) & ~(2 * M - 1);
        Assert.Equal(0, mm.Madvise((ulong)a, 8 * M, Madvise.HugePage));
        Assert.Equal(VmFault.None, mm.HandleMmFault(aligned + 4096, FaultFlags.Write));
        var leaf = mm.WalkLeaf(aligned)!.Value;
        Assert.Equal(PgLevel.Pmd, leaf.Level);
        var head = m.PfnToPage(leaf.Entry.Pfn);
        Assert.Equal(9, m.StructPages.CompoundOrder(head));
        Assert.Equal(MmStruct.TranshugePageDtor, m.Hugetlb.Compound.CompoundPageDtor(head));
        Assert.Equal(512L, mm.AnonPages);
        Assert.Equal(0, mm.Madvise((ulong)a, 8 * M, Madvise.NoHugePage));
        Assert.Equal(VmFault.None, mm.HandleMmFault(aligned + 2 * M, FaultFlags.Write));
        Assert.Equal(PgLevel.Pte, mm.WalkLeaf(aligned + 2 * M)!.Value.Level);
        mm.Destroy();
        Assert.Equal(free0 - 1, m.FreePagesTotal); // the anon_vma slab (order 0) stays with its cache
        Assert.DoesNotContain(m.KernelLog, l => l.StartsWith("BUG", StringComparison.Ordinal));
    }

    [Fact]
    public void PinnedPageOutlivesItsMapping()
    {
        var m = X86("hugepages=2");
        var h = m.Hugetlb.Find(2 * M)!;
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 2 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb);
        mm.HandleMmFault((ulong)a, FaultFlags.Write);
        ulong head = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value;
        m.StructPages.RefAddReturn(m.PfnToPage(Pfn.FromUInt64(head)), 1); // an extra reference (a GUP pin's)
        Assert.Equal(0, mm.Munmap((ulong)a, 2 * M));
        Assert.Equal(1UL, h.FreeHugePages);
        m.Hugetlb.PutHugePage(head);
        Assert.Equal(2UL, h.FreeHugePages);
    }

    [Theory]
    [InlineData(5, 12)]
    [InlineData(6, 6)]
    [InlineData(6, 18)]
    public void PrivateThp_FreedAtMunmap_GoesBackToTheBuddyWithoutBadPageState(int major, int minor)
    {
        // v6.6 keeps the folio order in page[1].flags; free_pages_prepare() clears PAGE_FLAGS_SECOND before checking
        // the tails, so the THP is not reported as "PAGE_FLAGS_CHECK_AT_FREE flag(s) set" and leaked.
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.FromNumbers(major, minor)),
            Model = MemoryModel.SparsememVmemmap,
            Ram = Ram((0, 3 * G), (4 * G, 5 * G)),
        });
        ulong free = m.FreePagesTotal;
        var mm = MmStruct.Create(m)!;
        long addr = mm.Mmap(0, 8 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous, null);
        Assert.True(addr > 0);
        Assert.Equal(0, mm.Madvise((ulong)addr, 8 * M, Madvise.HugePage));
        for (ulong va = (ulong)addr; va < (ulong)addr + 8 * M; va += 4096)
            Assert.Equal(VmFault.None, mm.UserAccess(va, write: true, out _) & VmFault.Error);
        Assert.Equal(PgLevel.Pmd, mm.WalkLeaf((ulong)addr + (2 * M))!.Value.Level);
        Assert.Equal(0, mm.Munmap((ulong)addr, 8 * M));
        mm.Destroy();
        Assert.DoesNotContain(m.KernelLog, l => l.StartsWith("BUG: Bad page state", StringComparison.Ordinal));
        Assert.Equal(free - 1, m.FreePagesTotal); // the anon_vma slab (order 0) stays with its cache
    }
}

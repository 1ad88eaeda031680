using GupSim.Arch;
using GupSim.Core;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Mm;

/// <summary>
/// UFFDIO_COPY into hugetlb mappings (mm/userfaultfd.c __mcopy_atomic_hugetlb(), mm/hugetlb.c
/// hugetlb_mcopy_atomic_pte(), mm/memory.c copy_huge_page_from_user()) and the page contents it moves. Expected
/// values come from the kernel's rules and the placement: x86_64 SECTION_SIZE_BITS 27 gives S = 2^(27 − 12) = 32768
/// struct pages per section memmap, so a 1 GiB page's <c>dst_page + i</c> leaves the head's section memmap at
/// i = 32768, and 262144 − 32768 = 229376 subpages are copied through a struct page that is not theirs.
/// </summary>
public class UserfaultfdTests
{
    private const ulong PageSize = 4096;

    private static Machine X86(string kernel, MemoryModel model, MemmapPlacement placement, string hugepages) => Machine.Boot(new MachineSpec
    {
        Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(kernel)),
        Model = model,
        Placement = placement,
        Ram = Ram((0, 4 * G)),
        Hugepages = HugepagesCmdline.Parse(hugepages, 2 * M),
    });

    // A source buffer of len bytes of 4 KiB anonymous pages, each written by the user with its own pattern.
    private static ulong Source(MmStruct mm, ulong len)
    {
        long src = mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous, null);
        Assert.True(src > 0);
        for (ulong a = (ulong)src; a < (ulong)src + len; a += PageSize)
            Assert.Equal(VmFault.None, mm.UserWritePage(a, PageContents.UserPattern(a)));
        return (ulong)src;
    }

    private static ulong HugeMapping(Machine m, MmStruct mm, ulong len, ulong size)
    {
        var file = m.Hugetlb.Mounts.Mount("/mnt/huge", size).OpenOrCreate("uffd");
        long dst = mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Private, file);
        Assert.True(dst > 0);
        return (ulong)dst;
    }

    [Fact]
    public void v5_11_Scattered1G_CopiesEverySubpagePastTheFirstSectionIntoThePageItsWrongStructPageStandsFor()
    {
        var m = X86("5.11", MemoryModel.Sparsemem, MemmapPlacement.Scattered, "hugepagesz=1G hugepages=1");
        var mm = MmStruct.Create(m)!;
        ulong src = Source(mm, G);
        ulong dst = HugeMapping(m, mm, G, G);
        Assert.Equal(0, mm.UffdRegister(dst, G));
        var stray0 = m.StrayWrites;
        Assert.Equal(new UffdCopyResult(0, (long)G), mm.UffdioCopy(dst, src, G));
        var stray = m.StrayWrites - stray0;
        Assert.Equal(229376UL, stray.N);
        ulong head = mm.WalkLeaf(dst)!.Value.Entry.Pfn.Value;
        // Subpage 32767 is the last in the head's section memmap: its own page holds its data.
        Assert.Equal(PageContents.UserPattern(src + (32767 * PageSize)), m.Memory.Contents.Read(head + 32767));
        // dst_page + 32768 is 32768 × 64 bytes past the head's struct page, computed from the placement: the struct
        // page of some other pfn P (another section's memmap lies there). kmap() gives P's page, which takes the data.
        ulong wrongVa = KnownAddresses.StructPageVa(m, head) + (32768 * 64);
        Assert.NotEqual(KnownAddresses.StructPageVa(m, head + 32768), wrongVa);
        ulong? p = KnownAddresses.OwnerPfn(m, wrongVa);
        Assert.NotNull(p);
        Assert.NotInRange(p!.Value, head, head + 262143);
        Assert.Equal(PageContents.UserPattern(src + (32768 * PageSize)), m.Memory.Contents.Read(p.Value));
        // Subpage 32768's own page was never written: the pool page still holds what it held at boot.
        Assert.Equal(PageContents.Unwritten, m.Memory.Contents.Read(head + 32768));
        // The page is installed as any copied page: mapped once, held by the mapping, the pool one page down.
        var h = m.Hugetlb.Find(G)!;
        var headPage = m.PfnToPage(Pfn.FromUInt64(head));
        Assert.Equal((1, 0, 0UL), (m.StructPages.Refcount(headPage), m.StructPages.CompoundMapcount(headPage), h.FreeHugePages));
    }

    [Theory]
    [InlineData("5.11", MemmapPlacement.BootBuffer)] // the node's sparse buffer: adjacent memmaps, dst_page + i right by accident (latent)
    [InlineData("5.12", MemmapPlacement.Scattered)] // 3272cfc2525b: mem_map_next()
    [InlineData("6.1", MemmapPlacement.Scattered)] // nth_page()
    public void CopiesEachSubpageIntoItsOwnPage_WhereTheWalkIsRight(string kernel, MemmapPlacement placement)
    {
        var m = X86(kernel, MemoryModel.Sparsemem, placement, "hugepagesz=1G hugepages=1");
        var mm = MmStruct.Create(m)!;
        ulong src = Source(mm, G);
        ulong dst = HugeMapping(m, mm, G, G);
        Assert.Equal(0, mm.UffdRegister(dst, G));
        var stray0 = m.StrayWrites;
        Assert.Equal(new UffdCopyResult(0, (long)G), mm.UffdioCopy(dst, src, G));
        Assert.Equal(0UL, (m.StrayWrites - stray0).N);
        ulong head = mm.WalkLeaf(dst)!.Value.Entry.Pfn.Value;
        foreach (ulong i in new ulong[] { 0, 32767, 32768, 131072, 262143 })
        {
            Assert.Equal(PageContents.UserPattern(src + (i * PageSize)), m.Memory.Contents.Read(head + i));
            Assert.Equal(VmFault.None, mm.UserReadPage(dst + (i * PageSize), out ulong token, out bool patched));
            Assert.Equal((PageContents.UserPattern(src + (i * PageSize)), false), (token, patched));
        }
    }

    [Fact]
    public void Errors_AreTheIoctlsAndLeaveThePoolAsItWas()
    {
        var m = X86("6.1", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer, "hugepagesz=2M hugepages=4");
        var h = m.Hugetlb.Find(2 * M)!;
        var mm = MmStruct.Create(m)!;
        ulong src = Source(mm, 4 * M);
        ulong dst = HugeMapping(m, mm, 4 * M, 2 * M);
        // Not registered: find_dst_vma() finds no userfaultfd context.
        Assert.Equal(-(int)Errno.ENOENT, mm.UffdioCopy(dst, src, 2 * M).Result);
        // Registration of a hugetlb VMA in whole huge pages only.
        Assert.Equal(-(int)Errno.EINVAL, mm.UffdRegister(dst, 2 * M + PageSize));
        Assert.Equal(0, mm.UffdRegister(dst, 4 * M));
        (ulong, ulong, ulong) pool = (h.NrHugePages, h.FreeHugePages, h.ResvHugePages);
        Assert.Equal((4UL, 4UL, 2UL), pool); // the private mapping reserved its two pages
        // validate_range(): page alignment; __mcopy_atomic_hugetlb(): whole huge pages; a source range that wraps.
        Assert.Equal(new UffdCopyResult(-(int)Errno.EINVAL, -(int)Errno.EINVAL), mm.UffdioCopy(dst + 1, src, 2 * M));
        Assert.Equal(new UffdCopyResult(-(int)Errno.EINVAL, -(int)Errno.EINVAL), mm.UffdioCopy(dst, src, PageSize));
        Assert.Equal(new UffdCopyResult(-(int)Errno.EINVAL, -(int)Errno.EINVAL), mm.UffdioCopy(dst, ulong.MaxValue - PageSize + 1, 2 * M));
        Assert.Equal(pool, (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        // The second huge page first, then both: the copy stops at the one already mapped, having copied nothing.
        Assert.Equal(new UffdCopyResult(0, (long)(2 * M)), mm.UffdioCopy(dst + (2 * M), src + (2 * M), 2 * M));
        Assert.Equal((4UL, 3UL, 1UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        Assert.Equal(new UffdCopyResult(-(int)Errno.EAGAIN, (long)(2 * M)), mm.UffdioCopy(dst, src, 4 * M));
        Assert.Equal((4UL, 2UL, 0UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        Assert.Equal(new UffdCopyResult(-(int)Errno.EEXIST, -(int)Errno.EEXIST), mm.UffdioCopy(dst, src, 2 * M));
        Assert.Equal((4UL, 2UL, 0UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        Assert.Equal(2 * 512L, mm.HugetlbPages);
    }

    [Fact]
    public void ACopiedPrivatePage_IsWritableAndAnonymous_ASharedOneIsInThePageCache()
    {
        var m = X86("6.1", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer, "hugepagesz=2M hugepages=2");
        var mm = MmStruct.Create(m)!;
        ulong src = Source(mm, 2 * M);
        ulong priv = HugeMapping(m, mm, 2 * M, 2 * M);
        var file = m.Hugetlb.Mounts.OpenOrCreate("/mnt/huge/shared");
        long shared = mm.Mmap(0, 2 * M, Prot.Read | Prot.Write, MapFlags.Shared, file);
        Assert.True(shared > 0);
        Assert.Equal(0, mm.UffdRegister(priv, 2 * M));
        Assert.Equal(0, mm.UffdRegister((ulong)shared, 2 * M));
        Assert.Equal(0, mm.UffdioCopy(priv, src, 2 * M).Result);
        Assert.Equal(0, mm.UffdioCopy((ulong)shared, src, 2 * M).Result);
        var pl = mm.WalkLeaf(priv)!.Value;
        var sl = mm.WalkLeaf((ulong)shared)!.Value;
        // make_huge_pte(vma, page, vm_flags & VM_WRITE), huge_pte_mkdirty(), pte_mkyoung(): writable for both.
        Assert.True(pl.Entry.IsWrite && pl.Entry.IsDirty && sl.Entry.IsWrite && sl.Entry.IsDirty);
        var pp = m.PfnToPage(pl.Entry.Pfn);
        var sp = m.PfnToPage(sl.Entry.Pfn);
        // Private: hugepage_add_new_anon_rmap() (the anon_vma's address | PAGE_MAPPING_ANON), one reference.
        Assert.Equal(StructPages.PageMappingAnon, m.StructPages.Mapping(pp) & 3);
        Assert.Equal((1, 0), (m.StructPages.Refcount(pp), m.StructPages.CompoundMapcount(pp)));
        // Shared: huge_add_to_page_cache() at index 0 (its reference), page_dup_rmap() for the mapping.
        Assert.Equal(sl.Entry.Pfn.Value, file.PageCache[0]);
        Assert.Equal((2, 0), (m.StructPages.Refcount(sp), m.StructPages.CompoundMapcount(sp)));
        Assert.True(m.StructPages.TestFlag(sp, PageFlagBits.Uptodate));
        Assert.Equal(PageContents.UserPattern(src + (511 * PageSize)), m.Memory.Contents.Read(sl.Entry.Pfn.Value + 511));
    }
    [Fact]
    public void FaultedPages_AreZeroedAndUptodate_ACowCopyTakesTheData()
    {
        var m = X86("6.1", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer, "hugepagesz=2M hugepages=2");
        var mm = MmStruct.Create(m)!;
        // hugetlb_no_page(): clear_huge_page(), __SetPageUptodate().
        ulong huge = HugeMapping(m, mm, 2 * M, 2 * M);
        Assert.Equal(VmFault.None, mm.HandleMmFault(huge, FaultFlags.Write));
        ulong head = mm.WalkLeaf(huge)!.Value.Entry.Pfn.Value;
        Assert.Equal((PageContents.Zero, PageContents.Zero), (m.Memory.Contents.Read(head), m.Memory.Contents.Read(head + 511)));
        Assert.True(m.StructPages.TestFlag(m.PfnToPage(Pfn.FromUInt64(head)), PageFlagBits.Uptodate));
        // do_anonymous_page(): a read maps the zero page (all zero bytes); a write then copies it to a zeroed page.
        long anon = mm.Mmap(0, PageSize, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous, null);
        Assert.Equal(VmFault.None, mm.UserReadPage((ulong)anon, out ulong zero, out _));
        Assert.Equal((PageContents.Zero, m.ZeroPfn), (zero, mm.WalkLeaf((ulong)anon)!.Value.Entry.Pfn.Value));
        Assert.Equal(VmFault.None, mm.UserWritePage((ulong)anon, 77));
        ulong pfn = mm.WalkLeaf((ulong)anon)!.Value.Entry.Pfn.Value;
        Assert.NotEqual(m.ZeroPfn, pfn);
        Assert.Equal((77UL, PageContents.Zero), (m.Memory.Contents.Read(pfn), m.Memory.Contents.Read(m.ZeroPfn)));
        Assert.True(m.StructPages.TestFlag(m.PfnToPage(Pfn.FromUInt64(pfn)), PageFlagBits.Uptodate));
    }
}

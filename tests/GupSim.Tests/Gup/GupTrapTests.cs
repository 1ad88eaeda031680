using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>The 2021 memmap-contiguity bugs (gup_huge_pud() page++, 82e5d378b0e4, check_and_migrate_cma_pages(), d08af0a59684's refs = 0), reproduced from the modelled addresses, and the configurations that are never wrong.</summary>
public class GupTrapTests
{
    private const int Pphp = 262144; // 1 GiB / 4 KiB

    private static (Machine M, MmStruct Mm, ulong Addr, ulong HeadPfn) OneGigMapped(string version, MemoryModel model, MemmapPlacement placement)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
            Model = model,
            Placement = placement,
            Seed = 3,
            Ram = Ram((0, 3 * G), (4 * G, 12 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=1G hugepages=1", null),
        });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, G, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(G));
        Assert.True(a > 0);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.Write));
        ulong head = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value;
        return (m, mm, (ulong)a, head);
    }

    /// <summary>
    /// The independent oracle: the struct page of <paramref name="pfn"/> as the placement puts it (the section
    /// memmap's memblock address through the literal linear map, or the literal vmemmap base), never pfn_to_page.
    /// </summary>
    internal static PagePtr Expected(Machine m, ulong pfn) => PagePtr.FromAddress(KnownAddresses.StructPageVa(m, pfn));

    /// <summary>What lives at <paramref name="addr"/>, from the placement alone: the pfn of the struct page there, or null.</summary>
    private static ulong? OwnerPfn(Machine m, ulong addr) => KnownAddresses.OwnerPfn(m, addr);

    [Fact]
    public void Trap1_GupFastPudLeaf_PagePlusPlus_WrongPastTheFirstSection_OnScatteredClassicSparse()
    {
        var (m, mm, addr, head) = OneGigMapped("5.11", MemoryModel.Sparsemem, MemmapPlacement.Scattered);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[Pphp];
        Assert.Equal(Pphp, gup.PinUserPagesFast(mm, addr, Pphp, FollFlags.Write | FollFlags.Longterm, pages));
        var headPage = Expected(m, head);
        int wrong = 0;
        for (int i = 0; i < Pphp; i++)
        {
            var right = Expected(m, head + (ulong)i);
            if (i < 32768) Assert.Equal(right, pages[i]);
            // page++: pages[i] is head + i × 64 as an address; what lives there decides the answer.
            Assert.Equal(headPage.Address + (ulong)i * 64, pages[i].Address);
            if (pages[i] != right)
            {
                wrong++;
                Assert.NotEqual(head + (ulong)i, OwnerPfn(m, pages[i].Address));
            }
        }
        Assert.Equal(Pphp - 32768, wrong); // every subpage past the first section, with scattered memmaps
        // The head was grabbed right: order 18 keeps an exact pincount (page[2] in v5.11).
        Assert.Equal(Pphp, m.StructPages.CompoundPincount(headPage));
    }

    [Theory]
    [InlineData("5.11", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer)]
    [InlineData("5.18", MemoryModel.Sparsemem, MemmapPlacement.Scattered)] // c228afb11ac6: nth_page
    [InlineData("6.1", MemoryModel.Sparsemem, MemmapPlacement.Scattered)]
    public void GupFast_NeverWrong_AndUnpinBalances(string version, MemoryModel model, MemmapPlacement placement)
    {
        var (m, mm, addr, head) = OneGigMapped(version, model, placement);
        var headPage = Expected(m, head);
        if (model == MemoryModel.SparsememVmemmap) Assert.Equal(KnownAddresses.X86_64Vmemmap + head * 64, headPage.Address); // the literal, spelled out
        int ref0 = m.StructPages.Refcount(headPage);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[Pphp];
        Assert.Equal(Pphp, gup.PinUserPagesFast(mm, addr, Pphp, FollFlags.Write, pages));
        for (int i = 0; i < Pphp; i += 997) Assert.Equal(Expected(m, head + (ulong)i), pages[i]);
        Assert.Equal(Expected(m, head + Pphp - 1), pages[Pphp - 1]);
        Assert.Equal(ref0 + Pphp, m.StructPages.Refcount(headPage));
        m.Grab.UnpinUserPages(pages);
        Assert.Equal(ref0, m.StructPages.Refcount(headPage));
        Assert.Equal(0, m.StructPages.CompoundPincount(headPage));
        Assert.Equal(m.Grab.FollPinAcquired, m.Grab.FollPinReleased);
    }

    [Theory]
    [InlineData("5.12", true)]  // 82e5d378b0e4 as merged: mem_map_offset(base, nr) on an unaligned base
    [InlineData("5.14", true)]  // d08af0a59684 fixed refs, not this
    [InlineData("6.1", false)]  // nth_page (Cheng Li)
    [InlineData("5.11", false)] // pre-series: mem_map_offset from the aligned head
    public void Trap2_MergedSlowPath_Batch1000_WrongOnlyPastTheBoundaryInsideTheWindow(string version, bool buggy)
    {
        var (m, mm, addr, head) = OneGigMapped(version, MemoryModel.Sparsemem, MemmapPlacement.Scattered);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[1000];
        var wrongByChunk = new List<(int Chunk, int From, int To)>();
        // gup_test's loop: calls of 1000 pages; call k starts at subpage k × 1000.
        for (int k = 0; k * 1000 < Pphp; k++)
        {
            int n = Math.Min(1000, Pphp - k * 1000);
            var span = pages.AsSpan(0, n);
            Assert.Equal(n, gup.PinUserPagesRemote(mm, addr + (ulong)k * 1000 * 4096, n, FollFlags.Write, span));
            int first = -1, last = -1;
            for (int nr = 0; nr < n; nr++)
            {
                if (span[nr] == Expected(m, head + (ulong)(k * 1000 + nr))) continue;
                if (first < 0) first = nr;
                last = nr;
            }
            if (first >= 0) wrongByChunk.Add((k, first, last));
            if (!buggy) m.Grab.UnpinUserPages(span); // with wrong entries, release would act on whatever they point at
        }
        if (!buggy)
        {
            Assert.Empty(wrongByChunk);
            Assert.Equal(m.Grab.FollPinAcquired, m.Grab.FollPinReleased);
            return;
        }
        // 82e5d378b0e4 (mm/hugetlb.c, v5.12) records mem_map_offset(base + pfn_offset, nr): wrong iff (pfn_offset mod S) + nr ≥ S with 1 ≤ nr < M (S = 32768, M = 1024).
        // Chunk 32 starts at 32000: nr 768…999 are wrong; likewise for every chunk straddling a boundary.
        Assert.Contains((32, 768, 999), wrongByChunk);
        var expected = new List<(int, int, int)>();
        for (int k = 0; k * 1000 < Pphp; k++)
        {
            int start = k * 1000, n = Math.Min(1000, Pphp - start);
            int toBoundary = 32768 - start % 32768;
            if (toBoundary < n) expected.Add((k, toBoundary, n - 1)); // n ≤ 1000 < M, so every nr past the boundary
        }
        Assert.Equal(expected, wrongByChunk);
    }

    [Fact]
    public void SlowPath_ErrorCases()
    {
        var (m, mm, addr, head) = OneGigMapped("5.12", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[4];
        Assert.Equal(-(long)Errno.EFAULT, gup.PinUserPagesRemote(mm, 0x1000, 4, FollFlags.None, pages));
        Assert.Equal(-(long)Errno.EINVAL, gup.PinUserPagesRemote(mm, addr, 4, FollFlags.Get, pages));
        Assert.Equal(-(long)Errno.EINVAL, gup.GetUserPagesRemote(mm, addr, 4, FollFlags.Pin, pages));
        Assert.Equal(-(long)Errno.EINVAL, gup.GetUserPagesRemote(mm, addr, 4, FollFlags.Longterm, pages)); // is_valid_gup_flags()
        Assert.Equal(-(long)Errno.EINVAL, gup.PinUserPagesFast(mm, addr, 4, FollFlags.Touch, pages));
        Assert.All(pages, p => Assert.True(p.IsNull)); // every refused call wrote nothing
        Assert.Equal((0L, 0L), (m.Grab.FollPinAcquired, m.Grab.FollPinReleased));
        long ro = mm.Mmap(0, 2 * M, Prot.Read, MapFlags.Private | MapFlags.Anonymous);
        // check_vma_flags(): FOLL_WRITE on a VMA without VM_WRITE (and no FOLL_FORCE) is -EFAULT.
        Assert.Equal(-(long)Errno.EFAULT, gup.PinUserPagesRemote(mm, (ulong)ro, 1, FollFlags.Write, pages));
        // Partial progress: 2 pages at the end of the mapping, then a hole: the two last subpages of the 1 GiB page.
        Assert.Equal(2, gup.PinUserPagesRemote(mm, addr + G - 2 * 4096, 4, FollFlags.Write, pages));
        Assert.Equal(KnownAddresses.X86_64Vmemmap + (head + Pphp - 2) * 64, pages[0].Address);
        Assert.Equal(KnownAddresses.X86_64Vmemmap + (head + Pphp - 1) * 64, pages[1].Address);
        Assert.True(pages[2].IsNull && pages[3].IsNull);
        var headPage = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + head * 64);
        Assert.Equal((1 + 2, 2), (m.StructPages.Refcount(headPage), m.StructPages.CompoundPincount(headPage))); // the mapping + 2 pins
        m.Grab.UnpinUserPages(pages.AsSpan(0, 2));
        Assert.Equal((1, 0), (m.StructPages.Refcount(headPage), m.StructPages.CompoundPincount(headPage)));
        Assert.Equal((2L, 2L), (m.Grab.FollPinAcquired, m.Grab.FollPinReleased));
    }
}

public class UnpinRangeTests
{
    private const int Pphp = 262144;

    private static (Machine M, ulong Head, PagePtr[] Pages) PinnedOneGig(string version)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
            Model = MemoryModel.Sparsemem,
            Placement = MemmapPlacement.Scattered,
            Seed = 3,
            Ram = Ram((0, 3 * G), (4 * G, 12 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=1G hugepages=1", null),
        });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, G, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(G));
        mm.HandleMmFault((ulong)a, FaultFlags.Write);
        var gup = new GetUserPages(m, GupStrategy.Named("section-run", m.Version));
        var pages = new PagePtr[Pphp];
        Assert.Equal(Pphp, gup.PinUserPagesFast(mm, (ulong)a, Pphp, FollFlags.Write, pages));
        return (m, mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value, pages);
    }

    [Fact]
    public void RangeUnpin_V5_18_ReleasesEveryPinOnTheRightHead()
    {
        var (m, head, pages) = PinnedOneGig("5.18");
        var headPage = GupTrapTests.Expected(m, head);
        Assert.Equal(Pphp, m.StructPages.CompoundPincount(headPage));
        m.Grab.UnpinUserPageRangeDirtyLock(pages[0], Pphp, makeDirty: true);
        Assert.Equal(0, m.StructPages.CompoundPincount(headPage));
        Assert.True(m.StructPages.TestFlag(headPage, PageFlagBits.Dirty));
    }

    [Fact]
    public void RangeUnpin_V5_12_GroupSizeComesFromAPointerDifferenceAcrossMemmaps()
    {
        // compound_range_next() (v5.12): ntails = min_t(unsigned int, head + compound_nr(head) − next, npages − i).
        // Starting at subpage 40000 (section 1), head + 262144 and next lie in separately placed memmaps, so the
        // "tails left" is a pointer difference between unrelated allocations — computed here from the placement.
        var (m, head, pages) = PinnedOneGig("5.12");
        var headPage = GupTrapTests.Expected(m, head);
        ulong sec0 = KnownAddresses.StructPageVa(m, head);
        ulong sec1 = KnownAddresses.StructPageVa(m, head + 32768);
        long left = (long)((sec0 + Pphp * 64UL) - (sec1 + (40000 - 32768) * 64UL)) / 64;
        // The same difference straight from the memblock allocations of the two section memmaps (physical addresses:
        // the linear map's offset cancels).
        ulong nr0 = head / 32768;
        ulong Phys(ulong nr) => m.Memblock.Allocations.Single(x => x.Name == $"section memmap (section {nr})").Base;
        long fromMemblock = (long)((Phys(nr0) + Pphp * 64UL) - (Phys(nr0 + 1) + (40000 - 32768) * 64UL)) / 64;
        Assert.Equal(fromMemblock, left);
        Assert.NotEqual(Pphp - 40000L, left); // the kernel meant 222144
        uint firstGroup = Math.Min((uint)left, 1000u);
        m.Grab.UnpinUserPageRangeDirtyLock(pages[40000], firstGroup, makeDirty: false);
        Assert.Equal(Pphp - (int)firstGroup, m.StructPages.CompoundPincount(headPage));
    }
}

public class Trap4Tests
{
    // d08af0a59684 "mm/hugetlb: fix refs calculation from unaligned @vaddr" (v5.14): an unaligned vaddr inside the last page of the VMA gives refs = 0 before the
    // fix; nothing is recorded and try_grab_compound_head(pages[i] = NULL, 0) dereferences NULL.
    [Theory]
    [InlineData("5.12", true)]
    [InlineData("5.14", false)]
    public void UnalignedVaddrInTheLastPage(string version, bool oops)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
            Ram = Ram((0, 4 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=2M hugepages=1", null),
        });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 2 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb);
        mm.HandleMmFault((ulong)a, FaultFlags.Write);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[1];
        ulong vaddr = (ulong)a + 2 * M - 100;
        if (oops)
        {
            var e = Assert.Throws<KernelOops>(() => gup.PinUserPagesRemote(mm, vaddr, 1, FollFlags.None, pages));
            Assert.StartsWith("BUG: unable to handle page fault for address: 0000000000000008", e.Message);
            return;
        }
        Assert.Equal(1, gup.PinUserPagesRemote(mm, vaddr, 1, FollFlags.None, pages));
        ulong head = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value;
        // VMEMMAP (x86_64 default): the literal vmemmap base + (head + 511) × 64.
        Assert.Equal(KnownAddresses.X86_64Vmemmap + (head + 511) * 64, pages[0].Address);
    }
}

public class FollowPageMaskTests
{
    // v6.6 (4849807114b8): hugetlb through follow_page_mask(); hugetlb_follow_page_mask() did page += offset until
    // 426056efe835 (merged for v6.7), then nth_page(). v6.5 still ran follow_hugetlb_page() with
    // record_subpages(nth_page(page, pfn_offset), …). A call starting at subpage 40000 (section 1 of the 1 GiB page)
    // shows the difference.
    [Theory]
    [InlineData("6.5", HugetlbSlowVariant.RecordSubpages, false)]
    [InlineData("6.6", HugetlbSlowVariant.FollowPageMask, true)]
    [InlineData("6.7", HugetlbSlowVariant.FollowPageMask, false)]
    [InlineData("6.17", HugetlbSlowVariant.FollowPageMask, false)]
    public void HugetlbFollowPageMask_PointerBaseVsNthPage(string version, HugetlbSlowVariant slow, bool pointerBase)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
            Model = MemoryModel.Sparsemem,
            Placement = MemmapPlacement.Scattered,
            Seed = 3,
            Ram = Ram((0, 3 * G), (4 * G, 12 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=1G hugepages=1", null),
        });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, G, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(G));
        mm.HandleMmFault((ulong)a, FaultFlags.Write);
        ulong head = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value;
        var headPage = GupTrapTests.Expected(m, head);
        var gup = new GetUserPages(m);
        Assert.Equal(slow, gup.Strategy.Slow);
        var pages = new PagePtr[16];
        if (pointerBase)
        {
            // page += offset runs past the head section's memmap; the per-section fallback put the section below's
            // memmap right above it (top-down, nothing between), so page lands 40000 − 32768 = 7232 struct pages
            // into it: the struct page of pfn (head section − 1) × 32768 + 7232. nth_page(page, j) then round-trips
            // through that valid struct page's own pfn.
            ulong wrongVa = headPage.Address + 40000UL * 64;
            ulong wrongPfn = ((head >> 15) - 1) * 32768 + 7232;
            Assert.Equal(wrongPfn, m.Describe(wrongVa).Pfn);
            long got = gup.PinUserPagesRemote(mm, (ulong)a + 40000UL * 4096, 16, FollFlags.Write, pages);
            Assert.True(got < 0 || GupTrapTests.Expected(m, wrongPfn) == pages[0], $"got {got}");
            return;
        }
        Assert.Equal(16, gup.PinUserPagesRemote(mm, (ulong)a + 40000UL * 4096, 16, FollFlags.Write, pages));
        for (int j = 0; j < 16; j++) Assert.Equal(GupTrapTests.Expected(m, head + 40000 + (ulong)j), pages[j]);
    }
}

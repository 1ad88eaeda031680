using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using GupSim.Scenario;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>
/// Trap 3's compound_range_next() (kernel-facts §8): unpin_user_page_range_dirty_lock(page, npages, dirty) as an
/// RDMA-style caller uses it, once over a range of pfn-contiguous pages (one scatterlist entry), here two 1 GiB pages
/// back to back (pfn 0x240000 and 0x280000: memblock allocates top-down, [11G, 12G) holds the memmaps and other boot
/// allocations, so the two highest naturally aligned free GiBs are [10G, 11G) and [9G, 10G)). v5.12 steps with
/// <c>next = page + i</c> and <c>ntails = head + compound_nr(head) − next</c>: the first step covers the first huge
/// page exactly (next is its head, in its own memmap); the second computes head + 262144 struct pages by pointer
/// arithmetic from the first page's section memmap. Where the memmaps lie back to back (classic SPARSEMEM's boot
/// buffer, section order on a fresh boot) that is the second head and nothing goes wrong (latent); with per-section
/// memblock placement (top-down) it is whatever the placement put 16 MiB above — worked out here from the placement
/// addresses alone (<see cref="KnownAddresses.OwnerPfn"/>) — and c228afb11ac6 (v5.18, nth_page()) is right on both.
/// Expected counts by hand: a pinned hugetlb page holds its baseline + 262144 references and compound_pincount 262144
/// (hpage_pinned_refcount); unpinning a page that is not compound subtracts GUP_PIN_COUNTING_BIAS (1024).
/// </summary>
public class CompoundRangeNextTests
{
    private const int Pphp = 262144;   // 1 GiB / 4 KiB
    private const int Bias = 1024;     // GUP_PIN_COUNTING_BIAS
    private const ulong H1 = 0x240000, H2 = 0x280000;

    private static (Machine M, PagePtr[] Pages, int Ref0) PinTwoGig(string version, MemmapPlacement placement)
    {
        var (m, mm, a, h1, h2) = ReleaseRunTests.TwoGigMapped(version, MemoryModel.Sparsemem, placement);
        Assert.Equal((H1, H2), (h1, h2));
        var sp = m.StructPages;
        int ref0 = sp.Refcount(P(m, H1));
        Assert.Equal(ref0, sp.Refcount(P(m, H2)));
        var pages = new PagePtr[2 * Pphp];
        Assert.Equal(pages.Length, new GetUserPages(m).PinUserPagesRemote(mm, a, pages.Length, FollFlags.Write, pages));
        // pages[] itself is right (one slow call over both pages): what goes wrong below is the release's own arithmetic.
        for (int i = 0; i < pages.Length; i++) Assert.Equal(P(m, H1 + (ulong)i), pages[i]);
        Assert.Equal((ref0 + Pphp, Pphp), (sp.Refcount(P(m, H1)), sp.CompoundPincount(P(m, H1))));
        Assert.Equal((ref0 + Pphp, Pphp), (sp.Refcount(P(m, H2)), sp.CompoundPincount(P(m, H2))));
        return (m, pages, ref0);
    }

    private static PagePtr P(Machine m, ulong pfn) => GupTrapTests.Expected(m, pfn);

    [Fact]
    public void V5_12_ScatteredMemmaps_SecondStepLandsOnAnotherSectionsStructPages_LeaksTheSecondPagesPins()
    {
        var (m, pages, ref0) = PinTwoGig("5.12", MemmapPlacement.Scattered);
        var sp = m.StructPages;
        // head + 262144 struct pages, from the first page's section memmap: by placement, the struct page of pfn
        // 0x200000 (a free page of the buddy: refcount 0, not compound).
        ulong next = P(m, H1).Address + ((ulong)Pphp * (ulong)m.StructPageSize);
        Assert.NotEqual(P(m, H2).Address, next);
        Assert.Equal(0x200000UL, KnownAddresses.OwnerPfn(m, next));
        Assert.Equal(P(m, 0x200000).Address, next);
        Assert.Equal((0, false), (sp.Refcount(P(m, 0x200000)), sp.PageCompound(P(m, 0x200000))));

        m.Grab.UnpinUserPageRangeDirtyLock(pages[0], pages.Length, makeDirty: false);

        // The first page's 262144 pins in one step; the second page's never: its refcount and pincount stay.
        Assert.Equal((ref0, 0), (sp.Refcount(P(m, H1)), sp.CompoundPincount(P(m, H1))));
        Assert.Equal((ref0 + Pphp, Pphp), (sp.Refcount(P(m, H2)), sp.CompoundPincount(P(m, H2))));
        // Instead each of the next 262144 struct pages from there took one unpin of a base page: −1024 on a free page.
        Assert.Equal(-Bias, sp.Refcount(P(m, 0x200000)));
        Assert.Equal(-Bias, sp.Refcount(P(m, 0x200001)));
    }

    [Fact]
    public void V5_12_BootBufferMemmaps_BackToBack_TheSameArithmeticIsRight_Latent()
    {
        var (m, pages, ref0) = PinTwoGig("5.12", MemmapPlacement.BootBuffer);
        var sp = m.StructPages;
        // Carved in section order from one buffer: head + 262144 struct pages is the second head.
        Assert.Equal(P(m, H2).Address, P(m, H1).Address + ((ulong)Pphp * (ulong)m.StructPageSize));

        m.Grab.UnpinUserPageRangeDirtyLock(pages[0], pages.Length, makeDirty: false);

        Assert.Equal((ref0, 0), (sp.Refcount(P(m, H1)), sp.CompoundPincount(P(m, H1))));
        Assert.Equal((ref0, 0), (sp.Refcount(P(m, H2)), sp.CompoundPincount(P(m, H2))));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void V5_18_NthPage_ScatteredMemmaps_ReleasesBothPages(bool dirty)
    {
        var (m, pages, ref0) = PinTwoGig("5.18", MemmapPlacement.Scattered);
        var sp = m.StructPages;
        Assert.NotEqual(P(m, H2).Address, P(m, H1).Address + ((ulong)Pphp * (ulong)m.StructPageSize));

        m.Grab.UnpinUserPageRangeDirtyLock(pages[0], pages.Length, makeDirty: dirty);

        Assert.Equal((ref0, 0), (sp.Refcount(P(m, H1)), sp.CompoundPincount(P(m, H1))));
        Assert.Equal((ref0, 0), (sp.Refcount(P(m, H2)), sp.CompoundPincount(P(m, H2))));
        Assert.Equal(0, sp.Refcount(P(m, 0x200000)));
        // set_page_dirty_lock() on each head when asked.
        Assert.Equal(dirty, sp.TestFlag(P(m, H1), PageFlagBits.Dirty));
        Assert.Equal(dirty, sp.TestFlag(P(m, H2), PageFlagBits.Dirty));
    }

    [Fact]
    public void Scenario_UnpinRange_CutsPagesAtPfnDiscontinuities_AndRefusesGets()
    {
        // Two 2 MiB pages faulted in the mapping's order; boot-time pages come top-down, so the mapping's second page
        // is the lower pfn: pages[] is two pfn-contiguous runs, one per huge page.
        const string script = "machine --arch x86_64 --kernel 5.12 --model sparsemem --mem 4G --hugepages \"hugepagesz=2M hugepages=2\"\n"
            + "mmap A 4M hugetlb=2M\ntouch A write\npin A write\nunpin A range\n";
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(script, "t");
        Assert.Equal(0, r.ExpectationsFailed);
        string text = sw.ToString();
        Assert.Contains("pin A (v5.12, batch 1024): 1024 of 1024 pages, 0 wrong", text, StringComparison.Ordinal);
        Assert.Contains("unpin A (1024 pages, 2 pfn-contiguous range(s) by unpin_user_page_range_dirty_lock()): ok", text, StringComparison.Ordinal);
        Assert.DoesNotContain("(not back)", text, StringComparison.Ordinal);

        var e = Assert.Throws<GupSimException>(() => new ScenarioRunner(new StringWriter()).Run(
            "machine --mem 4G --hugepages \"hugepagesz=2M hugepages=1\"\nmmap A 2M hugetlb=2M\ntouch A write\nget A\nunpin A range\n", "s.txt"));
        Assert.Equal("s.txt:5: 'A' was got (FOLL_GET), not pinned: 'unpin A range' releases pins only; put it", e.Message);
        var e2 = Assert.Throws<GupSimException>(() => new ScenarioRunner(new StringWriter()).Run(
            "machine --mem 4G --hugepages \"hugepagesz=2M hugepages=1\"\nmmap A 2M hugetlb=2M\ntouch A write\npin A\nunpin A all\n", "s.txt"));
        Assert.Equal("s.txt:5: usage: unpin NAME [range]", e2.Message);
        // v5.11 has no range variant: ib_umem_release() unpins the scatterlist page by page.
        var old = new StringWriter();
        new ScenarioRunner(old).Run("machine --kernel 5.11 --mem 4G --hugepages \"hugepagesz=2M hugepages=1\"\nmmap A 2M hugetlb=2M\ntouch A write\npin A\nunpin A range\n", "s.txt");
        Assert.Contains("unpin A (512 pages, page by page: v5.11 has no unpin_user_page_range_dirty_lock()): ok", old.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("(not back)", old.ToString(), StringComparison.Ordinal);
    }
}

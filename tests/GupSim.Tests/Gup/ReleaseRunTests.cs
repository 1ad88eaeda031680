using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>
/// The release side read in runs (<see cref="StructPages.CountCompoundHead(ReadOnlySpan{PagePtr}, PagePtr)"/>, the
/// compound_next() loop of unpin_user_pages() from v5.12, and the FOLL_GET put_page() loop): entries that are
/// consecutive struct pages in one store chunk are read with one call, every other entry the plain way. Every case
/// here has runs that take the batch read and entries that take the plain one; the expected counts are worked out by
/// hand from the kernel's rules (put_compound_head(): pincount − refs and refcount − refs with an exact pincount,
/// else refcount − refs × GUP_PIN_COUNTING_BIAS; one atomic for the pincount, one for page_ref_sub() when refs &gt; 1,
/// one for put_page()), and the expected struct page addresses from the placement (<see cref="KnownAddresses"/>).
/// </summary>
public class ReleaseRunTests
{
    private const int Pphp = 262144;   // 1 GiB / 4 KiB
    private const int Bias = 1024;     // GUP_PIN_COUNTING_BIAS

    /// <summary>x86_64, 11 GiB at seed 3, two boot-time 1 GiB pages mapped (MAP_PRIVATE) and faulted in; their head pfns.</summary>
    internal static (Machine M, MmStruct Mm, ulong Addr, ulong H1, ulong H2) TwoGigMapped(string version, MemoryModel model, MemmapPlacement placement, bool debugVm = false)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
            Model = model,
            Placement = placement,
            Seed = 3,
            Ram = Ram((0, 3 * G), (4 * G, 12 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=1G hugepages=2", null),
            DebugVm = debugVm,
        });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 2 * G, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(G));
        Assert.True(a > 0);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.Write));
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a + G, FaultFlags.Write));
        ulong h1 = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value, h2 = mm.WalkLeaf((ulong)a + G)!.Value.Entry.Pfn.Value;
        Assert.Equal(0UL, h1 % Pphp);
        Assert.Equal(0UL, h2 % Pphp);
        return (m, mm, (ulong)a, h1, h2);
    }

    private static PagePtr P(Machine m, ulong pfn) => GupTrapTests.Expected(m, pfn);

    /// <summary>pin_user_pages_fast() (<paramref name="pin"/>) or get_user_pages_fast() of every entry.</summary>
    private static void Take(Machine m, MmStruct mm, ulong addr, bool pin, FollFlags flags, PagePtr[] pages)
    {
        var gup = new GetUserPages(m);
        long got = pin
            ? gup.PinUserPagesFast(mm, addr, pages.Length, flags, pages)
            : gup.GetUserPagesFast(mm, addr, pages.Length, flags, pages);
        Assert.Equal(pages.Length, got);
    }

    [Fact]
    public void Vmemmap_CountCompoundHead_RunsAcrossStoreChunks_HeadItself_StopsAtTheOtherHead()
    {
        var (m, _, _, h1, h2) = TwoGigMapped("5.12", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        // vmemmap + pfn × 64, spelled out: the fast read must find the same struct pages.
        Assert.Equal(KnownAddresses.X86_64Vmemmap + h1 * 64, P(m, h1).Address);
        // 12 tails h1+4090 … h1+4101 cross the 4096-pfn chunk boundary at h1+4096; then h1's head itself (its
        // compound_head is itself), a tail, a tail of h2 (stop), a tail of h1 (never read).
        var list = new List<PagePtr>();
        for (ulong k = 4090; k < 4102; k++) list.Add(P(m, h1 + k));
        list.Add(P(m, h1));
        list.Add(P(m, h1 + 7));
        list.Add(P(m, h2 + 5));
        list.Add(P(m, h1 + 9));
        var pages = list.ToArray();
        var sp = m.StructPages;
        Assert.Equal(13, sp.CountCompoundHead(pages.AsSpan(1), P(m, h1)));   // 11 tails, the head, h1+7
        Assert.Equal(11, sp.CountCompoundHead(pages.AsSpan(1), P(m, h1), ulong.MaxValue, runsOnly: true)); // stops before the head
        Assert.Equal(1, sp.CountCompoundHead(pages.AsSpan(14), P(m, h2)));
        Assert.Equal(0, sp.CountCompoundHead(pages.AsSpan(0, 12), P(m, h2)));
        Assert.Equal(0, sp.CountCompoundHead([], P(m, h1)));
    }

    [Fact]
    public void Vmemmap_UnpinUserPages_MixedRuns_ExactCounts()
    {
        var (m, mm, addr, h1, h2) = TwoGigMapped("5.12", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        var sp = m.StructPages;
        var head1 = P(m, h1);
        var head2 = P(m, h2);
        Assert.Equal(1, sp.Refcount(head1)); // the mapping's reference
        Take(m, mm, addr, pin: true, FollFlags.Write, new PagePtr[2 * Pphp]);
        // Order 18: exact pincount in page[2] (v5.12): refs on the refcount and refs on the pincount.
        Assert.Equal(1 + Pphp, sp.Refcount(head1));
        Assert.Equal(Pphp, sp.CompoundPincount(head1));
        Assert.Equal(Pphp, sp.CompoundPincount(head2));

        var list = new List<PagePtr>();
        for (ulong k = 4090; k < 4102; k++) list.Add(P(m, h1 + k));
        list.Add(head1);
        list.Add(P(m, h1 + 7));
        list.Add(P(m, h2 + 5));
        list.Add(P(m, h1 + 9));
        long released0 = m.Grab.FollPinReleased;
        var c0 = m.Grab.Counters.Snapshot();
        m.Grab.UnpinUserPages(list.ToArray());
        var d = m.Grab.Counters.Snapshot() - c0;
        // Runs: 14 on h1 (pincount, page_ref_sub(13), put_page: 3 atomics), 1 on h2 (pincount, put_page: 2), 1 on h1 (2).
        Assert.Equal(7, d.Atomics);
        Assert.Equal(0, d.StructPagesTouched);
        Assert.Equal(16, m.Grab.FollPinReleased - released0);
        Assert.Equal(1 + Pphp - 15, sp.Refcount(head1));
        Assert.Equal(Pphp - 15, sp.CompoundPincount(head1));
        Assert.Equal(1 + Pphp - 1, sp.Refcount(head2));
        Assert.Equal(Pphp - 1, sp.CompoundPincount(head2));
    }

    [Theory]
    [InlineData("5.12")]
    [InlineData("6.1")]
    public void Vmemmap_UnpinUserPages_WholeGigantic_OneRunOverAllChunks(string version)
    {
        var (m, mm, addr, h1, _) = TwoGigMapped(version, MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        var sp = m.StructPages;
        var head1 = P(m, h1);
        var pages = new PagePtr[Pphp];
        Take(m, mm, addr, pin: true, FollFlags.Write | FollFlags.Longterm, pages);
        Assert.Equal(1 + Pphp, sp.Refcount(head1));
        Assert.Equal(Pphp - 1, sp.CountCompoundHead(pages.AsSpan(1), head1));
        var c0 = m.Grab.Counters.Snapshot();
        m.Grab.UnpinUserPages(pages);
        var d = m.Grab.Counters.Snapshot() - c0;
        // One put_compound_head(head, 262144, FOLL_PIN): the pincount, page_ref_sub(262143), put_page() — 3 atomics; from
        // v5.18 gup_put_folio(): the pincount and one folio_put_refs() — 2.
        Assert.Equal(version == "5.12" ? 3 : 2, d.Atomics);
        Assert.Equal(1, sp.Refcount(head1));
        Assert.Equal(0, sp.CompoundPincount(head1));
        Assert.Equal(m.Grab.FollPinAcquired, m.Grab.FollPinReleased);
    }

    /// <summary>
    /// Classic SPARSEMEM, scattered memmaps (seed 3): page++ from h1's head past its first section (32768 pfns,
    /// 128 MiB) leaves section 0x48's memmap and lands at the start of the memmap placed after it in memory — the one
    /// of section 0x47 (pfn 0x238000), as the placement says. So entries h1 + 32760 … 32767 are right tails, and
    /// entries 32768 … 32771 are the struct pages of pfns 0x238000 … 0x238003: not compound, refcount 0, each its own
    /// head. unpin_user_pages() then does one put_compound_head() of 8 on h1 and one of 1 on each wrong page, with no
    /// pincount there: refcount − 1024 (page_ref_sub(1023), then put_page()).
    /// </summary>
    [Fact]
    public void ClassicSparse_Scattered_PagePlusPlusAcrossTheSectionBoundary_WrongEntries_ExactCountsAndStrayStores()
    {
        var (m, mm, addr, h1, _) = TwoGigMapped("5.12", MemoryModel.Sparsemem, MemmapPlacement.Scattered);
        var sp = m.StructPages;
        var head1 = P(m, h1);
        Assert.Equal(0x240000UL, h1);
        Take(m, mm, addr, pin: true, FollFlags.Write, new PagePtr[Pphp]);
        Assert.Equal(1 + Pphp, sp.Refcount(head1));

        var pages = new PagePtr[12];
        var right = new PagePtr[12];
        for (int k = 0; k < 12; k++)
        {
            pages[k] = PagePtr.FromAddress(head1.Address + (ulong)(32760 + k) * 64); // page++
            right[k] = P(m, h1 + 32760 + (ulong)k);
        }
        for (int k = 0; k < 8; k++) Assert.Equal(right[k], pages[k]);
        for (int k = 8; k < 12; k++)
        {
            Assert.Equal(0x238000UL + (ulong)(k - 8), KnownAddresses.OwnerPfn(m, pages[k].Address));
            Assert.Equal(0, sp.Refcount(pages[k]));
        }
        Assert.Equal(7, sp.CountCompoundHead(pages.AsSpan(1), head1));
        Assert.Equal(0, sp.CountCompoundHead(pages.AsSpan(9), pages[8])); // 0x238001 is its own head, not 0x238000
        Assert.Equal(1, sp.CountCompoundHead(pages.AsSpan(9), pages[9]));

        long released0 = m.Grab.FollPinReleased;
        var c0 = m.Grab.Counters.Snapshot();
        var s0 = m.StrayWrites;
        m.Grab.UnpinUserPages(pages, right);
        var d = m.Grab.Counters.Snapshot() - c0;
        var s = m.StrayWrites - s0;
        // h1: pincount, page_ref_sub(7), put_page = 3; each wrong page: page_ref_sub(1023), put_page = 2.
        Assert.Equal(3 + 4 * 2, d.Atomics);
        Assert.Equal(12, m.Grab.FollPinReleased - released0);
        Assert.Equal(1 + Pphp - 8, sp.Refcount(head1));
        Assert.Equal(Pphp - 8, sp.CompoundPincount(head1));
        for (int k = 8; k < 12; k++) Assert.Equal(-Bias, sp.Refcount(pages[k]));
        // The four wrong runs are stray: two stores each, 0 → 0xfffffc01 (23 bits), then → 0xfffffc00 (1 bit).
        Assert.Equal(8UL, s.N);
        Assert.Equal(8UL, s.InUse + s.Free);
        Assert.Equal(4UL * 24, s.BitsChanged);
    }

    [Fact]
    public void CountCompoundHead_StopsBeforeTheEntryWhoseCompoundHeadWordMeetsTheStore()
    {
        var (m, _, _, h1, _) = TwoGigMapped("5.12", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        var sp = m.StructPages;
        var head1 = P(m, h1);
        var pages = new PagePtr[100];
        for (int k = 0; k < 100; k++) pages[k] = P(m, h1 + 100 + (ulong)k);
        ulong w40 = pages[40].Address + 8; // compound_head (lru.next) is the word at +8 on 64-bit
        Assert.Equal(100, sp.CountCompoundHead(pages, head1, ulong.MaxValue, runsOnly: true));
        Assert.Equal(40, sp.CountCompoundHead(pages, head1, w40, runsOnly: true));       // its low half
        Assert.Equal(40, sp.CountCompoundHead(pages, head1, w40 + 4, runsOnly: true));   // its high half
        Assert.Equal(40, sp.CountCompoundHead(pages, head1, w40 - 3, runsOnly: true));   // [w − 3, w + 1) meets it
        Assert.Equal(100, sp.CountCompoundHead(pages, head1, w40 - 4, runsOnly: true));  // [w − 4, w) does not
        Assert.Equal(100, sp.CountCompoundHead(pages, head1, w40 + 8, runsOnly: true));  // lru.prev
        Assert.Equal(100, sp.CountCompoundHead(pages, head1, pages[40].Address + 52, runsOnly: true)); // a _refcount
        Assert.Equal(0, sp.CountCompoundHead(pages, head1, pages[0].Address + 8, runsOnly: false));
        Assert.Equal(99, sp.CountCompoundHead(pages, head1, pages[99].Address + 12, runsOnly: false));
    }

    [Fact]
    public void CountCompoundHead_VmemmapHole_PlainReadOopsAsBefore_RunsOnlyStopsThere()
    {
        var (m, _, _, h1, _) = TwoGigMapped("5.12", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        // [3 GiB, 4 GiB) is a hole: pfn 0xe0000's vmemmap slice (section 0x1c) is not populated.
        var hole = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + 0xe0000UL * 64);
        PagePtr[] pages = [P(m, h1 + 1), P(m, h1 + 2), hole, P(m, h1 + 3)];
        Assert.Equal(2, m.StructPages.CountCompoundHead(pages, P(m, h1), ulong.MaxValue, runsOnly: true));
        Assert.Throws<KernelOops>(() => m.StructPages.CountCompoundHead(pages, P(m, h1)));
    }

    [Fact]
    public void PutPages_FollGet_WholeGigantic_OneMergedDrop_CountsEveryAtomic()
    {
        var (m, mm, addr, h1, _) = TwoGigMapped("5.12", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        var sp = m.StructPages;
        var head1 = P(m, h1);
        var pages = new PagePtr[Pphp];
        Take(m, mm, addr, pin: false, FollFlags.Write, pages);
        Assert.Equal(1 + Pphp, sp.Refcount(head1));
        Assert.Equal(0, sp.CompoundPincount(head1));
        var c0 = m.Grab.Counters.Snapshot();
        m.Grab.PutPages(pages);
        var d = m.Grab.Counters.Snapshot() - c0;
        Assert.Equal(Pphp, d.Atomics); // put_page() per entry
        Assert.Equal(1, sp.Refcount(head1));
        Assert.Equal(0UL, m.StrayWrites.N);
    }

    [Fact]
    public void PutPages_FollGet_InsideAStrayScope_EveryDecrementIsOneStore()
    {
        var (m, mm, addr, h1, _) = TwoGigMapped("5.12", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        var pages = new PagePtr[1000];
        Take(m, mm, addr, pin: false, FollFlags.Write, pages);
        Assert.Equal(1001, m.StructPages.Refcount(P(m, h1)));
        var s0 = m.StrayWrites;
        using (m.Memory.BeginStrayWrites()) m.Grab.PutPages(pages);
        var s = m.StrayWrites - s0;
        // 1000 decrements, 1001 → 1: each a store to an in-use struct page changing popcount(c ^ (c − 1)) bits.
        ulong bits = 0;
        for (uint c = 1001; c >= 2; c--) bits += (ulong)System.Numerics.BitOperations.PopCount(c ^ (c - 1));
        Assert.Equal(new StrayWrites(1000, 1000, 0, 0, 0, 0, 0, bits), s);
        Assert.Equal(1, m.StructPages.Refcount(P(m, h1)));
    }

    [Fact]
    public void PutPages_FollGet_LastReference_FreesOnTheLastEntry_OneMoreIsTheVmBugWithDebugVm()
    {
        // 1000 gets + the mapping's reference = 1001; 1001 put_page()s: the drop cannot be merged (it reaches 0),
        // so each runs on its own and the last frees the gigantic page to its pool.
        var (m, mm, addr, h1, _) = TwoGigMapped("5.12", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        var h = m.Hugetlb.Find(G)!;
        ulong free0 = h.FreeHugePages;
        var got = new PagePtr[1000];
        Take(m, mm, addr, pin: false, FollFlags.Write, got);
        PagePtr[] pages = [.. got, P(m, h1 + 5)];
        var c0 = m.Grab.Counters.Snapshot();
        m.Grab.PutPages(pages);
        Assert.Equal(1001, (m.Grab.Counters.Snapshot() - c0).Atomics);
        Assert.Equal(0, m.StructPages.Refcount(P(m, h1)));
        Assert.Equal(free0 + 1, h.FreeHugePages);

        var (d, dmm, daddr, dh1, _) = TwoGigMapped("5.12", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer, debugVm: true);
        var dgot = new PagePtr[1000];
        Take(d, dmm, daddr, pin: false, FollFlags.Write, dgot);
        PagePtr[] dpages = [.. dgot, P(d, dh1 + 5), P(d, dh1 + 6)];
        var e = Assert.Throws<KernelOops>(() => d.Grab.PutPages(dpages));
        Assert.Equal("kernel BUG at include/linux/mm.h! (VM_BUG_ON_PAGE(page_ref_count(page) == 0))", e.Message);
        Assert.Equal(0, d.StructPages.Refcount(P(d, dh1)));
    }

    [Fact]
    public void I386_Flatmem_4M_UnpinAndPut_32BitCompoundHeadWord()
    {
        // 32-bit struct page (32 bytes, compound_head a 4-byte word at +4): the run read compares one unit per page.
        var s = GupMatrix.BootAndFault("i386", "4M", "5.12", MemoryModel.Flatmem, MemmapPlacement.BootBuffer, 512UL << 20);
        var m = s.M;
        var sp = m.StructPages;
        var head = GupMatrix.Page(m, s.HeadPfn);
        Assert.Equal(1024, s.Pages);
        var pages = new PagePtr[1024];
        Take(m, s.Mm, s.Addr, pin: true, FollFlags.Write, pages);
        Assert.Equal(1 + 1024, sp.Refcount(head));
        Assert.Equal(1024, sp.CompoundPincount(head)); // order 10: exact pincount
        Assert.Equal(1023, sp.CountCompoundHead(pages.AsSpan(1), head));
        var c0 = m.Grab.Counters.Snapshot();
        m.Grab.UnpinUserPages(pages);
        Assert.Equal(3, (m.Grab.Counters.Snapshot() - c0).Atomics);
        Assert.Equal(1, sp.Refcount(head));
        Assert.Equal(0, sp.CompoundPincount(head));
        Take(m, s.Mm, s.Addr, pin: false, FollFlags.Write, pages);
        Assert.Equal(1 + 1024, sp.Refcount(head));
        m.Grab.PutPages(pages);
        Assert.Equal(1, sp.Refcount(head));
    }
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>
/// put_page() on a pointer that is not a struct page (mm/swap.c __put_page(), v5.11): the atomic decrement hits the
/// word at the _refcount offset (+52 on 64-bit), and when it reaches 0 the kernel goes on with what the bytes hold.
/// The "page" here lies in the kernel image (memblock-reserved [16M, 64M) on this machine, BuddyTests), 4 KiB in:
/// direct map 0xffff888000000000 + 16M + 4096. The tests write the words they want there (or read what is there)
/// through the simulated memory, then check the outcome the kernel's rules give for those words.
/// </summary>
public class PutPageGarbageTests
{
    private const ulong Va = KnownAddresses.X86_64PageOffset + 16 * M + 4096;

    private static Machine Boot(bool debugVm) => Machine.Boot(new MachineSpec
    {
        Arch = ArchProfiles.Get("x86_64", KernelVersion.V5_11),
        Model = MemoryModel.SparsememVmemmap,
        Ram = Ram((0, G)),
        DebugVm = debugVm,
    });

    /// <summary>Writes the 8 words of a 64-bit "struct page" at <paramref name="va"/> (v5.11 offsets, kernel-facts.md §3.1).</summary>
    private static void Words(Machine m, ulong va, ulong flags, ulong compoundHead, ulong lruPrev, ulong mapping, ulong index, ulong priv, uint mapcount, uint refcount, ulong memcg)
    {
        var mem = m.Memory;
        mem.WriteWord(va + 0, flags, "test");
        mem.WriteWord(va + 8, compoundHead, "test");
        mem.WriteWord(va + 16, lruPrev, "test");
        mem.WriteWord(va + 24, mapping, "test");
        mem.WriteWord(va + 32, index, "test");
        mem.WriteWord(va + 40, priv, "test");
        mem.WriteU32(va + 48, mapcount, "test");
        mem.WriteU32(va + 52, refcount, "test");
        mem.WriteWord(va + 56, memcg, "test");
    }

    [Fact]
    public void Address_IsKernelImage_NotAStructPage()
    {
        var m = Boot(false);
        Assert.Equal(AddressKind.Other, m.Describe(Va).Kind);
    }

    [Fact]
    public void PutPage_UntouchedGarbage_DecrementsTheRefcountWordOnly()
    {
        var m = Boot(false);
        // Whatever the word at +52 holds (the test reads it, it does not compute it): put_page() subtracts 1.
        uint before = m.Memory.ReadU32(Va + 52, "test");
        ulong flags = m.Memory.ReadWord(Va, "test"), ch = m.Memory.ReadWord(Va + 8, "test");
        Assert.True(before != 1 && (ch & 1) == 0, "the seed's garbage is a different case; pick another address");
        m.Grab.PutPage(PagePtr.FromAddress(Va));
        Assert.Equal(unchecked(before - 1), m.Memory.ReadU32(Va + 52, "test"));
        Assert.Equal(flags, m.Memory.ReadWord(Va, "test"));
        Assert.DoesNotContain(m.KernelLog, l => l.Contains("not a struct page", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PutPage_LastReference_SinglePage_BadPageFromItsMapcount(bool debugVm)
    {
        var m = Boot(debugVm);
        // Not compound (no PG_head, compound_head bit 0 clear), no PG_lru, memcg_data NULL: __put_single_page() →
        // free_unref_page(); check_free_page() sees _mapcount 4 (not −1) first: "nonzero mapcount".
        Words(m, Va, flags: 0, compoundHead: 0, lruPrev: 0, mapping: 0, index: 0, priv: 0, mapcount: 4, refcount: 1, memcg: 0);
        m.Grab.PutPage(PagePtr.FromAddress(Va));
        Assert.Equal(0U, m.Memory.ReadU32(Va + 52, "test"));
        Assert.Contains(m.KernelLog, l => l.StartsWith("BUG: Bad page state in process gupsim", StringComparison.Ordinal));
        Assert.Contains("page dumped because: nonzero mapcount", m.KernelLog);
        Assert.DoesNotContain(m.KernelLog, l => l.Contains("which is not a struct page", StringComparison.Ordinal));
    }

    [Fact]
    public void PutPage_LastReference_DirtyFlags_ReportedBeforeTheClearOnlyWithDebugVm()
    {
        // PG_active (bit 5) is in PAGE_FLAGS_CHECK_AT_FREE. With DEBUG_VM free_pcp_prepare() checks first:
        // "PAGE_FLAGS_CHECK_AT_FREE flag(s) set". Without it the flags are cleared (~PAGE_FLAGS_CHECK_AT_PREP) before
        // the drain-time check, which then finds nothing: the bytes pass.
        var on = Boot(true);
        Words(on, Va, flags: 1UL << PageFlagBits.Active, 0, 0, 0, 0, 0, mapcount: uint.MaxValue, refcount: 1, memcg: 0);
        on.Grab.PutPage(PagePtr.FromAddress(Va));
        Assert.Contains("page dumped because: PAGE_FLAGS_CHECK_AT_FREE flag(s) set", on.KernelLog);

        var off = Boot(false);
        Words(off, Va, flags: 1UL << PageFlagBits.Active, 0, 0, 0, 0, 0, mapcount: uint.MaxValue, refcount: 1, memcg: 0);
        off.Grab.PutPage(PagePtr.FromAddress(Va));
        Assert.DoesNotContain(off.KernelLog, l => l.Contains("Bad page state", StringComparison.Ordinal));
        Assert.Equal(0UL, off.Memory.ReadWord(Va, "test")); // flags &= ~PAGE_FLAGS_CHECK_AT_PREP wrote through the pointer
        Assert.Contains($"gupsim: __put_page(0x{Va:x}): these bytes passed the free-time checks of v5.11 without CONFIG_DEBUG_VM, so the kernel would now list them as a free order-0 block; not modelled", off.KernelLog);
    }

    [Fact]
    public void PutPage_LastReference_CompoundDtorPastTheArray_GarbageCallOops_OrVmBugWithDebugVm()
    {
        // PG_head (bit 16) set: destroy_compound_page() reads page[1].compound_dtor at Va + 64 + 16.
        var off = Boot(false);
        Words(off, Va, flags: 1UL << PageFlagBits.Head, 0, 0, 0, 0, 0, mapcount: uint.MaxValue, refcount: 1, memcg: 0);
        off.Memory.WriteU32(Va + 64 + 16, 200, "test: compound_dtor 200, compound_order 0");
        var e = Assert.Throws<KernelOops>(() => off.Grab.PutPage(PagePtr.FromAddress(Va)));
        Assert.Equal($"BUG: unable to handle page fault: indirect call through a garbage function pointer (destroy_compound_page(0x{Va:x}): compound_page_dtors[200], past the array's 4 entries)", e.Message);

        var on = Boot(true);
        Words(on, Va, flags: 1UL << PageFlagBits.Head, 0, 0, 0, 0, 0, mapcount: uint.MaxValue, refcount: 1, memcg: 0);
        on.Memory.WriteU32(Va + 64 + 16, 200, "test");
        var bug = Assert.Throws<KernelOops>(() => on.Grab.PutPage(PagePtr.FromAddress(Va)));
        Assert.Equal("kernel BUG at mm/page_alloc.c! (VM_BUG_ON_PAGE(page[1].compound_dtor >= NR_COMPOUND_DTORS): compound_dtor 200)", bug.Message);
    }

    [Fact]
    public void PutPage_LastReference_NullCompoundDtor_NullCall()
    {
        var m = Boot(false);
        Words(m, Va, flags: 1UL << PageFlagBits.Head, 0, 0, 0, 0, 0, mapcount: uint.MaxValue, refcount: 1, memcg: 0);
        m.Memory.WriteU32(Va + 64 + 16, 0, "test: NULL_COMPOUND_DTOR");
        var e = Assert.Throws<KernelOops>(() => m.Grab.PutPage(PagePtr.FromAddress(Va)));
        Assert.Equal(0UL, e.Address.Value);
        Assert.Equal($"BUG: unable to handle page fault for address: 0000000000000000 (destroy_compound_page(0x{Va:x}): compound_page_dtors[NULL_COMPOUND_DTOR] is NULL)", e.Message);
    }

    [Fact]
    public void PutPage_LastReference_CompoundPageDtor_FreesOrder1_TailChecksFindGarbage()
    {
        // compound_dtor 1 (free_compound_page), compound_order 1: __free_pages_ok(page, 1). The tail (Va + 64) has
        // compound_head 0 — not PageTail — so with DEBUG_VM free_tail_pages_check() reports "PageTail not set"; its
        // _mapcount word is what the test wrote (−1, clean) and refcount 0.
        var m = Boot(true);
        Words(m, Va, flags: 1UL << PageFlagBits.Head, 0, 0, 0, 0, 0, mapcount: uint.MaxValue, refcount: 1, memcg: 0);
        Words(m, Va + 64, flags: 0, compoundHead: 0, lruPrev: 0, mapping: 0, index: 0, priv: 0, mapcount: uint.MaxValue, refcount: 0, memcg: 0);
        m.Memory.WriteU32(Va + 64 + 16, 0x0101, "test: compound_dtor 1, compound_order 1");
        m.Memory.WriteU32(Va + 64 + 20, uint.MaxValue, "test: compound_mapcount −1");
        m.Grab.PutPage(PagePtr.FromAddress(Va));
        Assert.Contains("page dumped because: PageTail not set", m.KernelLog);
    }

    [Fact]
    public void PutPage_LastReference_LruSet_StopsWhereTheKernelWouldFollowItsPointers()
    {
        var m = Boot(false);
        Words(m, Va, flags: 1UL << PageFlagBits.Lru, 0, 0, 0, 0, 0, mapcount: uint.MaxValue, refcount: 1, memcg: 0);
        m.Grab.PutPage(PagePtr.FromAddress(Va));
        Assert.Contains(m.KernelLog, l => l.StartsWith($"gupsim: __put_page(0x{Va:x}): PG_lru is set", StringComparison.Ordinal));
    }

    [Fact]
    public void PutPage_LastReference_MemcgPointerUnmapped_Oopses()
    {
        // memcg_data 0x10 (flag bits masked: 0x10): uncharge_page() dereferences it; nothing is mapped at 0x10.
        var m = Boot(false);
        Words(m, Va, 0, 0, 0, 0, 0, 0, mapcount: uint.MaxValue, refcount: 1, memcg: 0x13);
        var e = Assert.Throws<KernelOops>(() => m.Grab.PutPage(PagePtr.FromAddress(Va)));
        Assert.Equal(0x10UL, e.Address.Value);
    }

    [Fact]
    public void PutPage_DebugVm_RefcountAlreadyZero_VmBugOnPage()
    {
        var m = Boot(true);
        Words(m, Va, 0, 0, 0, 0, 0, 0, mapcount: uint.MaxValue, refcount: 0, memcg: 0);
        var e = Assert.Throws<KernelOops>(() => m.Grab.PutPage(PagePtr.FromAddress(Va)));
        Assert.Equal("kernel BUG at include/linux/mm.h! (VM_BUG_ON_PAGE(page_ref_count(page) == 0))", e.Message);
        Assert.Equal(0U, m.Memory.ReadU32(Va + 52, "test")); // BUG before the decrement
    }
}

using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Debug;
using GupSim.Gup;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Debug;

/// <summary>
/// One FOLL_PIN of a small anonymous page and its unpin, traced (include/trace/events/page_ref.h). v5.11's
/// try_grab_compound_head() pins an order-0 page with GUP_PIN_COUNTING_BIAS references through
/// page_cache_add_speculative() → page_ref_add_unless() (page_ref_mod_unless); put_compound_head() takes
/// page_ref_sub(1023) (page_ref_mod) then put_page() → page_ref_dec_and_test() (page_ref_mod_and_test).
/// </summary>
public class PageRefTraceTests
{
    [Fact]
    public void PinAndUnpin_SmallAnonPage_ThreeLinesExact()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.SparsememVmemmap, Ram((0, G)));
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn pfn, movable: true));
        var page = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn.Value * 64);
        var sp = m.StructPages;
        // A mapped anonymous page: refcount 1 (the allocation's), mapped once (_mapcount 0), an anon_vma mapping,
        // PG_uptodate | PG_lru | PG_swapbacked (bits 2, 4, 19) on top of its zone/node bits.
        sp.SetMapping(page, 0xffff888012345001);
        sp.AtomicMapcountSet(page, 0);
        sp.SetFlags(page, sp.Flags(page) | (1UL << PageFlagBits.Uptodate) | (1UL << PageFlagBits.Lru) | (1UL << PageFlagBits.SwapBacked));
        m.PageRefTrace = new PageRefTrace(m);
        Assert.Equal(page, m.Grab.TryGrabCompoundHead(page, 1, FollFlags.Pin));
        m.Grab.UnpinUserPage(page);
        // show_page_flags() names the low flags in bit order; mapcount is page_mapcount() = _mapcount + 1 = 1; mt is
        // the pageblock's MIGRATE_MOVABLE (1), where a movable allocation comes from. Counts: 1 + 1024 = 1025,
        // 1025 − 1023 = 2, 2 − 1 = 1 (not zero: ret=0).
        string f = $"pfn=0x{pfn.Value:x} flags=uptodate|lru|swapbacked";
        Assert.Equal(
            [
                $"page_ref_mod_unless: {f} count=1025 mapcount=1 mapping=ffff888012345001 mt=1 val=1024 ret=1",
                $"page_ref_mod: {f} count=2 mapcount=1 mapping=ffff888012345001 mt=1 val=-1023",
                $"page_ref_mod_and_test: {f} count=1 mapcount=1 mapping=ffff888012345001 mt=1 val=-1 ret=0",
            ],
            m.PageRefTrace.Lines);
        Assert.Equal(1, sp.Refcount(page));
    }

    [Fact]
    public void NoFlagsIsNone_AndFromV610TheRawMapcount()
    {
        // An unmapped page with no low flag set: show_page_flags() prints "none"; v6.10's tracepoint records
        // atomic_read(&page->_mapcount), -1 for an unmapped page, where v5.11's page_mapcount() gives 0.
        foreach (var (v, mapcount) in new[] { (KernelVersion.V5_11, 0), (KernelVersion.V6_18, -1) })
        {
            var m = Boot("x86_64", v, MemoryModel.SparsememVmemmap, Ram((0, G)));
            Assert.True(m.TryAllocPages(0, 0, "test", out Pfn pfn, movable: true));
            var page = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn.Value * 64);
            var sp = m.StructPages;
            sp.SetFlags(page, sp.Flags(page) & ~((1UL << PageFlagBits.NrPageFlagsFor(64)) - 1));
            Assert.Equal(-1, sp.MapcountRaw(page));
            m.PageRefTrace = new PageRefTrace(m);
            Assert.Equal(page, m.Grab.TryGrabCompoundHead(page, 1, FollFlags.Pin));
            // Only the fields here; which events each version fires: PinAndUnpin_ThroughPinUserPagesFast_PerVersion.
            Assert.Contains($" pfn=0x{pfn.Value:x} flags=none ", m.PageRefTrace.Lines[0], StringComparison.Ordinal);
            Assert.Contains($" mapcount={mapcount} ", m.PageRefTrace.Lines[0], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TracingOff_RecordsNothing_AndCountsAreTheSame()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.SparsememVmemmap, Ram((0, G)));
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn pfn, movable: true));
        var page = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn.Value * 64);
        Assert.Null(m.PageRefTrace);
        Assert.Equal(page, m.Grab.TryGrabCompoundHead(page, 1, FollFlags.Pin));
        Assert.Equal(1025, m.StructPages.Refcount(page));
        m.Grab.UnpinUserPage(page);
        Assert.Equal(1, m.StructPages.Refcount(page));
    }

    /// <summary>An anonymous private mapping of <paramref name="pages"/> 4 KiB pages, written (faulted in).</summary>
    private static (MmStruct Mm, ulong Addr) Anon(Machine m, int pages)
    {
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, (ulong)pages << 12, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        Assert.True(a > 0);
        for (int i = 0; i < pages; i++) Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a + ((ulong)i << 12), FaultFlags.Write));
        return (mm, (ulong)a);
    }

    /// <summary>
    /// The same workload on v5.11 and v6.1: pin_user_pages_fast() of one written anonymous page, then
    /// unpin_user_pages(). v5.11 (try_grab_compound_head(), put_compound_head()): one page_ref_add_unless(1024), then
    /// page_ref_sub(1023) and put_page()'s page_ref_dec_and_test(). v6.1 (try_grab_folio() after Jann Horn's v5.14
    /// split, gup_put_folio() from v5.18): folio_ref_try_add_rcu(1) → page_ref_add_unless(1), folio_ref_add(1023), and
    /// one folio_put_refs(1024) → page_ref_sub_and_test(1024).
    /// </summary>
    [Fact]
    public void PinAndUnpin_ThroughPinUserPagesFast_PerVersion()
    {
        var expected = new Dictionary<KernelVersion, string[]>
        {
            // 1 + 1024 = 1025; 1025 − 1023 = 2; 2 − 1 = 1 (ret=0: not zero).
            [KernelVersion.V5_11] =
            [
                "page_ref_mod_unless: {0} count=1025 {1} val=1024 ret=1",
                "page_ref_mod: {0} count=2 {1} val=-1023",
                "page_ref_mod_and_test: {0} count=1 {1} val=-1 ret=0",
            ],
            // 1 + 1 = 2; 2 + 1023 = 1025; 1025 − 1024 = 1.
            [KernelVersion.V6_1] =
            [
                "page_ref_mod_unless: {0} count=2 {1} val=1 ret=1",
                "page_ref_mod: {0} count=1025 {1} val=1023",
                "page_ref_mod_and_test: {0} count=1 {1} val=-1024 ret=0",
            ],
        };
        foreach (var (v, lines) in expected)
        {
            var m = Boot("x86_64", v, MemoryModel.SparsememVmemmap, Ram((0, G)));
            var (mm, addr) = Anon(m, 1);
            ulong pfn = mm.WalkLeaf(addr)!.Value.Entry.Pfn.Value;
            var page = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn * 64);
            var sp = m.StructPages;
            Assert.Equal(1, sp.Refcount(page));
            // Known fields, set by hand: mapped once, an anon_vma-style mapping, PG_uptodate | PG_lru | PG_swapbacked.
            sp.SetMapping(page, 0xffff888012345001);
            sp.AtomicMapcountSet(page, 0);
            sp.SetFlags(page, sp.Flags(page) | (1UL << PageFlagBits.Uptodate) | (1UL << PageFlagBits.Lru) | (1UL << PageFlagBits.SwapBacked));
            m.PageRefTrace = new PageRefTrace(m);
            var pages = new PagePtr[1];
            Assert.Equal(1, new GetUserPages(m).PinUserPagesFast(mm, addr, 1, FollFlags.Write, pages));
            Assert.Equal(page, pages[0]);
            m.Grab.UnpinUserPages(pages);
            // page_mapcount() = _mapcount + 1 = 1 on both (the raw value only from v6.10); mt=1: MIGRATE_MOVABLE,
            // where an anonymous fault's GFP_HIGHUSER_MOVABLE page comes from.
            string f = $"pfn=0x{pfn:x} flags=uptodate|lru|swapbacked", rest = "mapcount=1 mapping=ffff888012345001 mt=1";
            Assert.Equal([.. lines.Select(l => string.Format(System.Globalization.CultureInfo.InvariantCulture, l, f, rest))], m.PageRefTrace.Lines);
            Assert.Equal(1, sp.Refcount(page));
        }
    }

    /// <summary>
    /// A 2 MiB hugetlb page, two subpages pinned by gup-fast (gup_hugepte(): record_subpages() then one grab of refs=2
    /// on the head, which has an exact pincount) and unpinned. v5.11's unpin_user_pages() puts entry by entry:
    /// put_compound_head(head, 1) = put_page() twice. v6.1's batches the run: gup_put_folio(folio, 2) = one
    /// folio_put_refs(2). The pool's page has refcount 1 (the mapping's), so: 1 + 2 = 3, then 2, 1 / 1.
    /// </summary>
    [Fact]
    public void HugetlbPin_TwoSubpages_UnpinBatchedFromV518()
    {
        var expected = new Dictionary<KernelVersion, string[]>
        {
            [KernelVersion.V5_11] =
            [
                "page_ref_mod_unless: {0} count=3 val=2 ret=1",
                "page_ref_mod_and_test: {0} count=2 val=-1 ret=0",
                "page_ref_mod_and_test: {0} count=1 val=-1 ret=0",
            ],
            [KernelVersion.V6_1] =
            [
                "page_ref_mod_unless: {0} count=3 val=2 ret=1",
                "page_ref_mod_and_test: {0} count=1 val=-2 ret=0",
            ],
        };
        foreach (var (v, lines) in expected)
        {
            var m = new MachineOptions { Kernel = v.ToString(), Model = "sparsemem-vmemmap", RamSpec = "0-1G", Hugepages = "hugepagesz=2M hugepages=1" }.Boot();
            var mm = MmStruct.Create(m)!;
            long a = mm.Mmap(0, 2UL << 20, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(2 * M));
            Assert.True(a > 0);
            ulong addr = (ulong)a;
            Assert.Equal(VmFault.None, mm.HandleMmFault(addr, FaultFlags.Write));
            ulong pfn = mm.WalkLeaf(addr)!.Value.Entry.Pfn.Value;
            var head = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn * 64);
            m.PageRefTrace = new PageRefTrace(m);
            var pages = new PagePtr[2];
            Assert.Equal(2, new GetUserPages(m).PinUserPagesFast(mm, addr, 2, FollFlags.Write, pages));
            Assert.Equal(head.Add(1, 64), pages[1]);
            m.Grab.UnpinUserPages(pages);
            var got = m.PageRefTrace.Lines;
            Assert.Equal(lines.Length, got.Count);
            for (int i = 0; i < lines.Length; i++)
            {
                // The event, the head's pfn, count, val and ret exactly; flags, mapcount, mapping and mt are the pool page's.
                string want = string.Format(System.Globalization.CultureInfo.InvariantCulture, lines[i], $"pfn=0x{pfn:x}");
                string have = string.Join(' ', got[i].Split(' ').Where(w => !w.StartsWith("flags=", StringComparison.Ordinal)
                    && !w.StartsWith("mapcount=", StringComparison.Ordinal) && !w.StartsWith("mapping=", StringComparison.Ordinal)
                    && !w.StartsWith("mt=", StringComparison.Ordinal)));
                Assert.Equal(want, have);
            }
            Assert.Equal(0, m.StructPages.CompoundPincount(head));
        }
    }

    /// <summary>
    /// The page allocator's post_alloc_hook() → set_page_refcounted() → set_page_count(page, 1): one page_ref_set
    /// with val=1.
    /// </summary>
    [Fact]
    public void Allocation_FiresPageRefSet()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.SparsememVmemmap, Ram((0, G)));
        m.PageRefTrace = new PageRefTrace(m);
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn pfn, movable: true));
        // A page fresh from the buddy: no low flag (free_pages_prepare() cleared them), unmapped (page_mapcount() 0 on
        // v5.11), no mapping, in a MIGRATE_MOVABLE pageblock.
        string f = $"pfn=0x{pfn.Value:x} flags=none";
        Assert.Equal([$"page_ref_set: {f} count=1 mapcount=0 mapping=0000000000000000 mt=1 val=1"], m.PageRefTrace.Lines);
    }
}

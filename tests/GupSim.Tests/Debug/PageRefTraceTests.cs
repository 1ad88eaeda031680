using GupSim.Arch;
using GupSim.Core;
using GupSim.Debug;
using GupSim.Gup;
using GupSim.Memory;
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
            // Only the fields: which events a v6.x pin fires is not modelled yet (docs/cli.md, "--trace").
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
}

using System.Runtime.CompilerServices;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory.Models;

/// <summary>
/// One memory model's pfn ↔ struct page translation (include/asm-generic/memory_model.h) and the helpers built on
/// it (include/linux/mm.h, mm/internal.h), each as the machine's kernel version defines it. Nothing here checks that
/// a pointer is right: a wrong pointer gives the answer the kernel's arithmetic gives, read from the modelled memory.
/// </summary>
public abstract class MemMap
{
    private protected MemMap(ArchProfile arch, KernelMemory memory, PageFlagsLayout flagsLayout)
    {
        Arch = arch;
        Memory = memory;
        FlagsLayout = flagsLayout;
        StructPageSize = arch.StructPageSize;
        MaxOrderNrPages = arch.MaxOrderNrPages;
        _noNthPage = arch.Version.HasMaxFolioOrderInvariant;
        _nthPageIsAdd = arch.Version.NthPageIsPointerAddOnContiguousMemmap && this is not SparseMemMap;
    }

    // The version's nth_page() shape, fixed per machine: read once here, not per entry.
    private readonly bool _noNthPage;
    private readonly bool _nthPageIsAdd;

    /// <summary>
    /// pfn_to_page() called directly on the sealed model: the per-entry callers here (nth_page, mem_map_offset) test
    /// the model's class and call its override non-virtually, so it inlines without a runtime profile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private PagePtr PfnToPageDirect(Pfn pfn) => this switch
    {
        VmemmapMemMap v => v.PfnToPage(pfn),
        SparseMemMap s => s.PfnToPage(pfn),
        FlatMemMap f => f.PfnToPage(pfn),
        _ => PfnToPage(pfn),
    };

    /// <summary>page_to_pfn() called directly on the sealed model (see <see cref="PfnToPageDirect"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Pfn PageToPfnDirect(PagePtr page) => this switch
    {
        VmemmapMemMap v => v.PageToPfn(page),
        SparseMemMap s => s.PageToPfn(page),
        FlatMemMap f => f.PageToPfn(page),
        _ => PageToPfn(page),
    };

    /// <summary>The arch and version.</summary>
    public ArchProfile Arch { get; }
    /// <summary>The memory the struct pages live in.</summary>
    public KernelMemory Memory { get; }
    /// <summary>Where zone/node/section sit in page->flags.</summary>
    public PageFlagsLayout FlagsLayout { get; }
    /// <summary>sizeof(struct page).</summary>
    public int StructPageSize { get; }
    /// <summary>MAX_ORDER_NR_PAGES.</summary>
    public ulong MaxOrderNrPages { get; }
    /// <summary>Which model this is.</summary>
    public abstract MemoryModel Model { get; }

    /// <summary>pfn_to_page().</summary>
    public abstract PagePtr PfnToPage(Pfn pfn);

    /// <summary>page_to_pfn(); may read page->flags, so a pointer to nothing oopses (<see cref="KernelOops"/>).</summary>
    public abstract Pfn PageToPfn(PagePtr page);

    /// <summary>pfn_valid().</summary>
    public abstract bool PfnValid(Pfn pfn);

    /// <summary>The kernel's <c>page + n</c>.</summary>
    public PagePtr PageAdd(PagePtr page, long n) => page.Add(n, StructPageSize);

    /// <summary>
    /// Models nth_page() (include/linux/mm.h): v5.11–v5.13 always <c>pfn_to_page(page_to_pfn(page) + n)</c>;
    /// from v5.14 that round trip only on SPARSEMEM without VMEMMAP and <c>page + n</c> elsewhere; removed in v6.18.
    /// </summary>
    /// <exception cref="GupSimException">Thrown on v6.18+, which has no nth_page().</exception>
    public PagePtr NthPage(PagePtr page, ulong n)
    {
        if (_noNthPage) ThrowNoNthPage();
        if (_nthPageIsAdd) return PageAdd(page, (long)n);
        return PfnToPageDirect(PageToPfnDirect(page) + n);
    }

    private void ThrowNoNthPage() =>
        throw new GupSimException($"nth_page() does not exist in v{Arch.Version} (removed in the v6.18 cycle); use page + n");

    /// <summary>
    /// Models mem_map_offset() (mm/internal.h, until v6.1): <c>nth_page(base, offset)</c> when offset ≥
    /// MAX_ORDER_NR_PAGES, else <c>base + offset</c>. Documented for the maximally aligned base of a gigantic page.
    /// </summary>
    /// <exception cref="GupSimException">Thrown on v6.1+, where nth_page() replaced it.</exception>
    public PagePtr MemMapOffset(PagePtr basePage, int offset)
    {
        if (!Arch.Version.HasMemMapOffset)
            throw new GupSimException($"mem_map_offset() does not exist in v{Arch.Version} (replaced by nth_page() in v6.1)");
        return MemMapOffsetHistoric(basePage, (ulong)offset);
    }

    /// <summary>
    /// Models mem_map_next() (mm/internal.h, until v6.1): at every MAX_ORDER_NR_PAGES boundary re-derive the page
    /// from the pfn (NULL if !pfn_valid), elsewhere <c>iter + 1</c>.
    /// </summary>
    /// <exception cref="GupSimException">Thrown on v6.1+.</exception>
    public PagePtr MemMapNext(PagePtr iter, PagePtr basePage, int offset)
    {
        if (!Arch.Version.HasMemMapOffset)
            throw new GupSimException($"mem_map_next() does not exist in v{Arch.Version} (replaced by nth_page() in v6.1)");
        if (((ulong)offset & (MaxOrderNrPages - 1)) == 0)
        {
            Pfn pfn = PageToPfn(basePage) + (ulong)offset;
            if (!PfnValid(pfn)) return PagePtr.Null;
            return PfnToPage(pfn);
        }
        return PageAdd(iter, 1);
    }

    /// <summary>
    /// Models folio_page() (include/linux/page-flags.h): <c>nth_page(&amp;folio->page, n)</c> until v6.18, where
    /// folios never span a non-contiguous memmap and it is <c>&amp;folio->page + n</c>.
    /// </summary>
    public PagePtr FolioPage(PagePtr folio, ulong n) =>
        Arch.Version.HasMaxFolioOrderInvariant ? PageAdd(folio, (long)n) : NthPage(folio, n);

    /// <summary>
    /// nth_page() as this version defines it; on v6.18+, where it no longer exists, the pfn round trip it used to be.
    /// For historic recorders a strategy may run on a newer machine.
    /// </summary>
    public PagePtr NthPageOrPfnRoundTrip(PagePtr page, ulong n) =>
        NthPageRoundTrips ? PfnToPageDirect(PageToPfnDirect(page) + n) : PageAdd(page, (long)n);

    /// <summary>
    /// Whether <see cref="NthPageOrPfnRoundTrip"/> is the pfn round trip on this machine (nth_page() of v5.11–v5.13
    /// everywhere, of v5.14–v6.17 on classic SPARSEMEM, and the replayed one on v6.18+), so that a recorder counts one
    /// page_to_pfn(), one pfn_to_page() and one struct page read for it.
    /// </summary>
    public bool NthPageRoundTrips => _noNthPage || !_nthPageIsAdd;

    /// <summary>
    /// mem_map_offset() as v5.11 defined it (<c>nth_page</c> at or past MAX_ORDER_NR_PAGES, else <c>base + offset</c>),
    /// whatever the machine's version: historic strategies replay it on any machine.
    /// </summary>
    public PagePtr MemMapOffsetHistoric(PagePtr basePage, ulong offset) =>
        offset >= MaxOrderNrPages ? NthPageOrPfnRoundTrip(basePage, offset) : PageAdd(basePage, (long)offset);

    /// <summary>Reads page->flags (oopses where nothing is mapped).</summary>
    protected ulong ReadFlags(PagePtr page) => Memory.ReadWord(page.Address, "reading page->flags");
}

using System.Globalization;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Pages;

/// <summary>
/// __put_page() (mm/swap.c, v5.11) on whatever bytes a pointer that is not a struct page holds, after put_page()'s
/// atomic decrement of the word at its _refcount offset reached zero. Every decision reads the data at the pointer,
/// as the kernel does: PageCompound() from the flags word (PG_head) and bit 0 of compound_head; for a compound
/// "page", destroy_compound_page() calls <c>compound_page_dtors[page[1].compound_dtor]</c>; otherwise
/// __put_single_page() → __page_cache_release() → mem_cgroup_uncharge() → free_unref_page(), whose free-time checks
/// (gated by CONFIG_DEBUG_VM and version, <see cref="FreePagesPrepare"/>) find the garbage and bad_page() reports it.
/// </summary>
/// <remarks>
/// Where the kernel would go on through pointers read from the garbage (an LRU list, a memcg, a hugetlb subpool,
/// the pcp free list) GupSim stops with one "gupsim:" line in the kernel log saying what the kernel would do next;
/// it does not invent the outcome. Real struct pages take <see cref="Machine.ReleaseZeroRefPage"/> instead.
/// compound_page_dtors[] (v5.11, CONFIG_HUGETLB_PAGE and CONFIG_TRANSPARENT_HUGEPAGE): NULL_COMPOUND_DTOR 0 (NULL),
/// COMPOUND_PAGE_DTOR 1 (free_compound_page), HUGETLB_PAGE_DTOR 2 (free_huge_page), TRANSHUGE_PAGE_DTOR 3
/// (free_transhuge_page); NR_COMPOUND_DTORS 4. v6.1's destroy_large_folio() indexes the same array with
/// folio->_folio_dtor (the same byte). From v6.6 (9c5ccf2db04b) there is no dtor byte; that path is not modelled.
/// </remarks>
public static class PutPage
{
    /// <summary>NR_COMPOUND_DTORS with hugetlb and THP configured (include/linux/mm.h, v5.11).</summary>
    public const int NrCompoundDtors = 4;

    /// <summary>NULL_COMPOUND_DTOR, COMPOUND_PAGE_DTOR, TRANSHUGE_PAGE_DTOR (HUGETLB_PAGE_DTOR is <see cref="Hugetlb.CompoundPages.HugetlbPageDtor"/>).</summary>
    public const byte NullCompoundDtor = 0, CompoundPageDtor = 1, TranshugePageDtor = 3;

    /// <summary>
    /// __put_page() on <paramref name="page"/> (already compound_head()'s result, its _refcount word now zero).
    /// </summary>
    /// <returns>The "BUG: Bad page state" reports the checks produced (also in the kernel log).</returns>
    /// <exception cref="KernelOops">Thrown where the kernel oopses: a NULL or garbage destructor, a VM_BUG_ON_PAGE with
    /// CONFIG_DEBUG_VM, or a read of unmapped memory.</exception>
    public static IReadOnlyList<string> Release(Machine m, PagePtr page)
    {
        var sp = m.StructPages;
        // is_zone_device_page(): the zone bits of flags. GupSim models no ZONE_DEVICE, so the bits decide nothing here.
        return sp.PageCompound(page) ? PutCompoundPage(m, page) : PutSinglePage(m, page);
    }

    /// <summary>__put_compound_page(): !PageHuge → __page_cache_release(); then destroy_compound_page().</summary>
    private static IReadOnlyList<string> PutCompoundPage(Machine m, PagePtr page)
    {
        if (m.Layout.CompoundDtor < 0)
        {
            m.Log($"gupsim: __put_page({page}): a compound 'page' that is not a struct page on v{m.Version}, whose folios carry no compound_dtor (9c5ccf2db04b); destroy_large_folio() is not modelled there");
            return [];
        }
        if (!m.Hugetlb.PageHuge(page) && PageCacheRelease(m, page) is { } stop) return stop;
        return DestroyCompoundPage(m, page);
    }

    /// <summary>
    /// destroy_compound_page(): <c>VM_BUG_ON_PAGE(page[1].compound_dtor &gt;= NR_COMPOUND_DTORS, page)</c> (DEBUG_VM
    /// only), then the indirect call <c>compound_page_dtors[dtor](page)</c>.
    /// </summary>
    private static IReadOnlyList<string> DestroyCompoundPage(Machine m, PagePtr page)
    {
        byte dtor = m.Hugetlb.Compound.CompoundPageDtor(page);
        if (dtor >= NrCompoundDtors)
        {
            if (FreePagesPrepare.VmBugOnEnabled(m.Spec.DebugVm))
                throw VmBugOnPage(m, page, "mm/page_alloc.c", $"VM_BUG_ON_PAGE(page[1].compound_dtor >= NR_COMPOUND_DTORS): compound_dtor {dtor}");
            throw KernelOops.BadCall(string.Create(CultureInfo.InvariantCulture, $"destroy_compound_page({page}): compound_page_dtors[{dtor}], past the array's {NrCompoundDtors} entries"));
        }
        switch (dtor)
        {
            case NullCompoundDtor:
                throw new KernelOops(KernelVa.Null, $"destroy_compound_page({page}): compound_page_dtors[NULL_COMPOUND_DTOR] is NULL");
            case Hugetlb.CompoundPages.HugetlbPageDtor:
                m.Log($"gupsim: __put_page({page}): free_huge_page() on a 'page' that is not a struct page would look up page_hstate() and the subpool in page[1].private from these bytes; not modelled");
                return [];
            case TranshugePageDtor:
                // free_transhuge_page(): takes it off the deferred split queue if page[2].deferred_list is not empty.
                ulong deferred = page.Address + 2UL * (ulong)m.StructPageSize + (ulong)m.Layout.LruPrev;
                if (m.Memory.ReadWord(deferred, "reading page[2].deferred_list.next") != deferred)
                {
                    m.Log($"gupsim: __put_page({page}): free_transhuge_page() would list_del() page[2].deferred_list through the pointers in these bytes; not modelled");
                    return [];
                }
                return FreeCompoundPage(m, page);
            default:
                return FreeCompoundPage(m, page);
        }
    }

    /// <summary>free_compound_page(): mem_cgroup_uncharge(), then __free_pages_ok(page, compound_order(page)).</summary>
    private static IReadOnlyList<string> FreeCompoundPage(Machine m, PagePtr page)
    {
        if (MemCgroupUncharge(m, page) is { } stop) return stop;
        int order = m.StructPages.CompoundOrder(page);
        if (order >= m.Arch.MaxOrder)
        {
            m.Log(string.Create(CultureInfo.InvariantCulture, $"gupsim: __free_pages_ok({page}, order {order}): free_pages_prepare() would walk 2^{order} 'tail pages' from these bytes; not modelled past MAX_ORDER − 1"));
            return [];
        }
        return FreePagesPrepareOnData(m, page, order);
    }

    /// <summary>__put_single_page(): __page_cache_release(), mem_cgroup_uncharge(), free_unref_page().</summary>
    private static IReadOnlyList<string> PutSinglePage(Machine m, PagePtr page)
    {
        if (PageCacheRelease(m, page) is { } stop) return stop;
        if (MemCgroupUncharge(m, page) is { } stop2) return stop2;
        // free_unref_page() → free_unref_page_prepare(): page_to_pfn() (oopses on classic SPARSEMEM when the
        // "section" in these flags has no mem_section), then free_pcp_prepare(): the checks only with DEBUG_VM; without
        // it they run when the pcp list is drained (bulkfree_pcp_prepare), which GupSim does at once.
        m.PageToPfn(page);
        return FreePagesPrepareOnData(m, page, 0);
    }

    /// <summary>__page_cache_release(): with PG_lru set the kernel takes the lruvec from these bytes and list_del()s them.</summary>
    /// <returns>Null to go on; an empty list where GupSim stops.</returns>
    private static IReadOnlyList<string>? PageCacheRelease(Machine m, PagePtr page)
    {
        if (!m.StructPages.TestFlag(page, PageFlagBits.Lru)) return null;
        m.Log($"gupsim: __put_page({page}): PG_lru is set in these bytes, so __page_cache_release() would lock the lruvec named by their memcg_data and node bits and list_del() their lru pointers; not modelled");
        return [];
    }

    /// <summary>
    /// mem_cgroup_uncharge() (CONFIG_MEMCG, 64-bit layouts with memcg_data): nothing when page_memcg() — memcg_data
    /// with the low two flag bits masked — is NULL; else uncharge_page() takes a css reference through that pointer.
    /// </summary>
    /// <returns>Null to go on; an empty list where GupSim stops (the pointer is mapped); an oops when it is not.</returns>
    private static IReadOnlyList<string>? MemCgroupUncharge(Machine m, PagePtr page)
    {
        var l = m.Layout;
        int memcgOffset = l.Refcount + 4;
        if (memcgOffset + l.WordBytes > l.Size) return null; // no memcg_data word in this layout
        ulong memcg = m.Memory.ReadWord(page.Address + (ulong)memcgOffset, "reading page->memcg_data") & ~3UL;
        if (memcg == 0) return null;
        // css_get(&memcg->css): the first access through the pointer; unmapped → oops there.
        m.Memory.ReadWord(memcg, "mem_cgroup_uncharge: css_get(&page_memcg(page)->css)");
        m.Log($"gupsim: __put_page({page}): memcg_data points at 0x{memcg:x}, which uncharge_page() would take as a struct mem_cgroup; not modelled");
        return [];
    }

    /// <summary>
    /// free_pages_prepare() (mm/page_alloc.c, v5.11) on the bytes: an order-0 PG_hwpoison "page" is dropped silently;
    /// tails of an order &gt; 0 block get free_tail_pages_check() and check_free_page() (reached by <c>page + i</c>);
    /// <c>if (PageMappingFlags(page)) page->mapping = NULL</c>; check_free_page() on the head; then <c>page->flags &amp;= ~PAGE_FLAGS_CHECK_AT_PREP</c>. An order-0 free without
    /// DEBUG_VM before v6.4 passes check_free = false (free_pcp_prepare()) and checks when the pcp list is drained
    /// (bulkfree_pcp_prepare()), i.e. after the flags were cleared. A dirty block is reported by bad_page() and leaked;
    /// a clean one would be listed as free, which GupSim does not do for bytes that are not a struct page (it says so).
    /// </summary>
    private static IReadOnlyList<string> FreePagesPrepareOnData(Machine m, PagePtr page, int order)
    {
        var sp = m.StructPages;
        var prep = new FreePagesPrepare(sp, m.Version, m.Spec.DebugVm);
        var reports = new List<string>();
        if (order == 0 && sp.TestFlag(page, PageFlagBits.HwPoison)) return reports;
        ulong prepMask = PageFlagBits.CheckAtPrepFor(m.Arch.BitsPerLong);
        for (long i = 1; i < 1L << order; i++)
        {
            var tail = page.Add(i, m.StructPageSize);
            if (prep.FreeTailPagesCheck(page, tail, i, m.Arch.TailMapping) is { } tailReason) reports.Add(sp.BadPage(tail, tailReason));
            if (prep.CheckFreePage(tail) is { } reason) reports.Add(sp.BadPage(tail, reason));
            else sp.SetFlags(tail, sp.Flags(tail) & ~prepMask);
        }
        if ((sp.Mapping(page) & StructPages.PageMappingFlags) != 0) sp.SetMapping(page, 0);
        bool checkAtDrain = order == 0 && !m.Spec.DebugVm;
        if (!checkAtDrain && prep.CheckFreePage(page) is { } headReason) reports.Add(sp.BadPage(page, headReason));
        if (reports.Count > 0) return reports;
        sp.SetFlags(page, sp.Flags(page) & ~prepMask);
        if (checkAtDrain && prep.CheckFreePage(page) is { } drainReason)
        {
            reports.Add(sp.BadPage(page, drainReason));
            return reports;
        }
        m.Log(string.Create(CultureInfo.InvariantCulture, $"gupsim: __put_page({page}): these bytes passed the free-time checks of v{m.Version}{(m.Spec.DebugVm ? " with" : " without")} CONFIG_DEBUG_VM, so the kernel would now list them as a free order-{order} block; not modelled"));
        return reports;
    }

    private static KernelOops VmBugOnPage(Machine m, PagePtr page, string file, string what)
    {
        foreach (var line in m.StructPages.DumpPage(page, what)) m.Log(line);
        return KernelOops.Bug(file, what);
    }

    /// <summary>
    /// put_page_testzero()'s <c>VM_BUG_ON_PAGE(page_ref_count(page) == 0, page)</c> (include/linux/mm.h): with
    /// CONFIG_DEBUG_VM, dropping a reference from a page whose _refcount is already 0 is a BUG (dump, then oops).
    /// </summary>
    /// <exception cref="KernelOops">Thrown when it fires.</exception>
    public static void PutPageTestzeroCheck(Machine m, PagePtr page)
    {
        if (!FreePagesPrepare.VmBugOnEnabled(m.Spec.DebugVm) || m.StructPages.Refcount(page) != 0) return;
        throw VmBugOnPage(m, page, "include/linux/mm.h", "VM_BUG_ON_PAGE(page_ref_count(page) == 0)");
    }
}

using GupSim.Pages;

namespace GupSim.Gup;

/// <summary>
/// The pin side of an RDMA memory region as drivers/infiniband/core/umem.c keeps it: pins taken with
/// pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM), kept as a scatterlist, and released with one
/// unpin_user_page_range_dirty_lock() per scatterlist entry — the caller of that function, so of trap 3's
/// compound_range_next() (kernel-facts §8).
/// </summary>
public static class IbUmem
{
    /// <summary>
    /// __ib_umem_release() over the scatterlist that __sg_alloc_table_from_pages() makes of <paramref name="pages"/>:
    /// an entry ends where page_to_pfn() stops going up by one (no segment limit: drivers set their DMA max segment
    /// size to 2 GiB or more) and, from v6.18 on classic SPARSEMEM, where the next page is in another memory section
    /// (80e7bb74d4ff, "scatterlist: disallow non-contiguous page ranges in a single SG entry"); each entry is
    /// released with unpin_user_page_range_dirty_lock(first page, length, false). With <paramref name="judgeStrays"/>
    /// GupSim's oracle counts the stores of a step that walked to another struct page than the entry means — the
    /// entry's <paramref name="right"/> page when the oracle found pages[] wrong — as stray writes
    /// (<see cref="Grab.UnpinUserPageRangeDirtyLock(PagePtr, long, bool, bool, ReadOnlySpan{PagePtr})"/>). Returns the entries.
    /// </summary>
    /// <remarks>
    /// Before v5.12 (no unpin_user_page_range_dirty_lock()) __ib_umem_release() walks the entries page by page
    /// (for_each_sg_page(), sg_page_iter_page() = nth_page(sg_page(sg), n)) and unpins each: one
    /// unpin_user_pages_dirty_lock(&amp;page, 1) per page, here <see cref="Grab.UnpinUserPages(ReadOnlySpan{PagePtr}, ReadOnlySpan{PagePtr})"/>
    /// with <paramref name="right"/> for the oracle; the count returned is then the pages.
    /// </remarks>
    public static long Release(Machine m, ReadOnlySpan<PagePtr> pages, ReadOnlySpan<PagePtr> right, bool judgeStrays)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (m.Version < Arch.KernelVersion.V5_12)
        {
            m.Grab.UnpinUserPages(pages, judgeStrays ? right : []);
            return pages.Length;
        }
        bool cutAtSections = m.Version.HasMaxFolioOrderInvariant && m.Model == Arch.MemoryModel.Sparsemem;
        int sectionShift = m.Arch.SectionSizeBits - m.Arch.PageShift;
        long entries = 0;
        int start = 0;
        ulong prev = 0;
        for (int i = 0; i <= pages.Length; i++)
        {
            ulong pfn = i < pages.Length ? m.PageToPfn(pages[i]).Value : 0;
            bool sameSection = !cutAtSections || (pfn >> sectionShift) == (prev >> sectionShift);
            if (i > 0 && (i == pages.Length || pfn != prev + 1 || !sameSection))
            {
                var rightOfRun = right.IsEmpty ? right : right[start..i];
                m.Grab.UnpinUserPageRangeDirtyLock(pages[start], i - start, makeDirty: false, judgeStrays, rightOfRun);
                entries++;
                start = i;
            }
            prev = pfn;
        }
        return entries;
    }
}

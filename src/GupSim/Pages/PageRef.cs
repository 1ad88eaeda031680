namespace GupSim.Pages;

/// <summary>
/// The page reference helpers of include/linux/page_ref.h: each changes <c>page-&gt;_refcount</c> with one atomic
/// operation and then, when the machine traces page_ref (<see cref="Machine.PageRefTrace"/>), fires the tracepoint
/// the kernel's helper fires (<c>if (page_ref_tracepoint_active(…)) __page_ref_…()</c>, mm/debug_page_ref.c):
/// page_ref_set, page_ref_mod, page_ref_mod_and_test, page_ref_mod_unless, page_ref_freeze, page_ref_unfreeze (only the
/// helpers a modelled path calls are here: none calls the _return forms yet). The folio_ref_*() forms call the page form on <c>&amp;folio-&gt;page</c>, the
/// folio's head (GupSim passes the head <see cref="PagePtr"/>). Tracing off, each helper costs one null test.
/// </summary>
/// <remarks>The atomics are the ones <see cref="StructPages"/> performs on whatever memory the pointer reaches, so a
/// wrong pointer changes (and traces) whatever lives at its address.</remarks>
public static class PageRef
{
    /// <summary>set_page_count(): atomic_set(), then page_ref_set(v).</summary>
    public static void SetPageCount(Machine m, PagePtr page, int v)
    {
        m.StructPages.SetRefcount(page, v);
        m.PageRefTrace?.Set(page, v);
    }

    /// <summary>set_page_refcounted() (mm/internal.h): set_page_count(page, 1) on a page whose count is 0.</summary>
    public static void SetPageRefcounted(Machine m, PagePtr page) => SetPageCount(m, page, 1);

    /// <summary>
    /// page_ref_unfreeze(): atomic_set_release(&amp;page-&gt;_refcount, count) on a frozen (zero) count, then
    /// page_ref_unfreeze(count).
    /// </summary>
    public static void PageRefUnfreeze(Machine m, PagePtr page, int count)
    {
        m.StructPages.SetRefcount(page, count);
        m.PageRefTrace?.Unfreeze(page, count);
    }

    /// <summary>
    /// page_ref_freeze(): atomic_cmpxchg(&amp;page-&gt;_refcount, count, 0) — the count becomes 0 only if it was
    /// <paramref name="count"/> — then page_ref_freeze(count, ret). True when it froze.
    /// </summary>
    public static bool PageRefFreeze(Machine m, PagePtr page, int count)
    {
        bool ret = m.StructPages.RefCompareExchange(page, 0, count);
        m.PageRefTrace?.Freeze(page, count, ret);
        return ret;
    }

    /// <summary>folio_ref_freeze(): page_ref_freeze() on the folio's page.</summary>
    public static bool FolioRefFreeze(Machine m, PagePtr folio, int count) => PageRefFreeze(m, folio, count);

    /// <summary>folio_ref_unfreeze(): page_ref_unfreeze() on the folio's page.</summary>
    public static void FolioRefUnfreeze(Machine m, PagePtr folio, int count) => PageRefUnfreeze(m, folio, count);

    /// <summary>page_ref_add(): atomic_add(), then page_ref_mod(nr).</summary>
    public static void PageRefAdd(Machine m, PagePtr page, int nr)
    {
        m.StructPages.RefAddReturn(page, nr);
        m.PageRefTrace?.Mod(page, nr);
    }

    /// <summary>folio_ref_add(): page_ref_add() on the folio's page.</summary>
    public static void FolioRefAdd(Machine m, PagePtr folio, int nr) => PageRefAdd(m, folio, nr);

    /// <summary>page_ref_sub(): atomic_sub(), then page_ref_mod(−nr).</summary>
    public static void PageRefSub(Machine m, PagePtr page, int nr)
    {
        m.StructPages.RefAddReturn(page, -nr);
        m.PageRefTrace?.Mod(page, -nr);
    }

    /// <summary>page_ref_inc(): atomic_inc(), then page_ref_mod(1).</summary>
    public static void PageRefInc(Machine m, PagePtr page) => PageRefAdd(m, page, 1);

    /// <summary>page_ref_sub_and_test(): atomic_sub_and_test(), then page_ref_mod_and_test(−nr, ret); true when the count reached 0.</summary>
    public static bool PageRefSubAndTest(Machine m, PagePtr page, int nr)
    {
        bool ret = m.StructPages.RefAddReturn(page, -nr) == 0;
        m.PageRefTrace?.ModAndTest(page, -nr, ret);
        return ret;
    }

    /// <summary>folio_ref_sub_and_test(): page_ref_sub_and_test() on the folio's page.</summary>
    public static bool FolioRefSubAndTest(Machine m, PagePtr folio, int nr) => PageRefSubAndTest(m, folio, nr);

    /// <summary>
    /// folio_put_refs() (include/linux/mm.h) up to its test: folio_ref_sub_and_test(folio, refs); true when the
    /// count reached 0 and the caller frees the folio (__folio_put()). put_page() is the same with one reference
    /// (put_page_testzero(): page_ref_dec_and_test()).
    /// </summary>
    public static bool FolioPutRefsTestzero(Machine m, PagePtr folio, int refs) => FolioRefSubAndTest(m, folio, refs);

    /// <summary>page_ref_dec_and_test() (put_page_testzero(), folio_put_testzero()): page_ref_mod_and_test(−1, ret).</summary>
    public static bool PageRefDecAndTest(Machine m, PagePtr page) => PageRefSubAndTest(m, page, 1);

    /// <summary>
    /// page_ref_add_unless(): atomic_add_unless(&amp;page-&gt;_refcount, nr, u) — a compare-exchange loop that adds
    /// <paramref name="nr"/> unless the count is <paramref name="u"/> — then page_ref_mod_unless(nr, ret).
    /// </summary>
    public static bool PageRefAddUnless(Machine m, PagePtr page, int nr, int u)
    {
        var sp = m.StructPages;
        bool ret;
        while (true)
        {
            int count = sp.Refcount(page);
            if (count == u)
            {
                ret = false;
                break;
            }
            if (sp.RefCompareExchange(page, count + nr, count))
            {
                ret = true;
                break;
            }
        }
        m.PageRefTrace?.ModUnless(page, nr, ret);
        return ret;
    }

    /// <summary>
    /// folio_ref_try_add_rcu() without CONFIG_TINY_RCU (GupSim's kernels are SMP): folio_ref_add_unless(folio, count, 0).
    /// Before v5.18 the same call is page_cache_add_speculative() (include/linux/pagemap.h).
    /// </summary>
    public static bool FolioRefTryAddRcu(Machine m, PagePtr folio, int count) => PageRefAddUnless(m, folio, count, 0);
}

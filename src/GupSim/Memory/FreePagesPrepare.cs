using GupSim.Arch;
using GupSim.Pages;

namespace GupSim.Memory;

/// <summary>
/// Which struct page checks free_pages_prepare() (mm/page_alloc.c) runs, as each version gates them on
/// CONFIG_DEBUG_VM, and the two checks themselves with that gate applied.
/// <list type="bullet">
/// <item>v5.11–v6.3: check_free_page() (free_page_is_bad() from v6.4) on every page always runs — for order 0 either in
/// free_pcp_prepare() (with DEBUG_VM) or when the page is drained from the pcp list to the buddy
/// (bulkfree_pcp_prepare(), without it); free_tail_pages_check() does its real checks only with DEBUG_VM
/// (<c>if (!IS_ENABLED(CONFIG_DEBUG_VM)) { ret = 0; goto out; }</c>) and clears mapping and compound_head either way.</item>
/// <item>v6.4+ (700d2e9a36b9, "mm, page_alloc: reduce page alloc/free sanity checks"): both run only when the
/// check_pages_enabled static key is on, which is the default only with DEBUG_VM (also init_on_alloc/free, page
/// poisoning or debug_pagealloc, which GupSim does not model): a distribution kernel checks nothing at free time.</item>
/// </list>
/// VM_BUG_ON_PAGE() is compiled in only with DEBUG_VM in every version (include/linux/mmdebug.h).
/// </summary>
/// <remarks>
/// The page allocator (<see cref="PageAlloc"/>) applies these gates to real pages, including the drain-time check of
/// order-0 pages on a kernel without DEBUG_VM; this struct applies them where a "struct page" is whatever bytes a
/// pointer reached (put_page() on garbage, Pages/PutPage.cs). Immutable value type; default is v0.0 without
/// DEBUG_VM, which checks like v5.11 (every version before v6.4 does).
/// </remarks>
public readonly struct FreePagesPrepare
{
    private readonly StructPages _sp;
    private readonly bool _debugVm;
    private readonly bool _checkPages;

    /// <summary>The gate of <paramref name="v"/> with CONFIG_DEBUG_VM <paramref name="debugVm"/>, over the struct page store <paramref name="sp"/>.</summary>
    public FreePagesPrepare(StructPages sp, KernelVersion v, bool debugVm)
    {
        _sp = sp;
        _debugVm = debugVm;
        _checkPages = CheckPagesEnabled(v, debugVm);
    }

    /// <summary>v6.4's check_pages_enabled static key before it: true (always checked); from v6.4 only with DEBUG_VM.</summary>
    public static bool CheckPagesEnabled(KernelVersion v, bool debugVm) => debugVm || !v.HasCheckPagesStaticKey;

    /// <summary>
    /// Whether free_tail_pages_check() / free_tail_page_prepare() checks anything: only with DEBUG_VM before v6.4,
    /// only with check_pages_enabled (DEBUG_VM, in GupSim) from v6.4 — DEBUG_VM in every modelled version.
    /// </summary>
    public static bool TailChecksReal(bool debugVm) => debugVm;

    /// <summary>Whether VM_BUG_ON_PAGE() / VM_BUG_ON() fire: compiled in only with CONFIG_DEBUG_VM.</summary>
    public static bool VmBugOnEnabled(bool debugVm) => debugVm;

    /// <summary>
    /// free_tail_pages_check() for tail <paramref name="index"/> of <paramref name="head"/>, gated: without its real
    /// checks only the <c>out:</c> part runs (mapping and compound_head cleared) and nothing is reported.
    /// </summary>
    /// <returns>bad_page()'s reason, or null.</returns>
    public string? FreeTailPagesCheck(PagePtr head, PagePtr page, long index, ulong tailMapping)
    {
        if (TailChecksReal(_debugVm)) return _sp.FreeTailPagesCheck(head, page, index, tailMapping);
        _sp.SetMapping(page, 0);
        _sp.ClearCompoundHead(page);
        return null;
    }

    /// <summary>check_free_page() / free_page_is_bad(), gated: null (nothing seen) when the version does not check.</summary>
    /// <returns>bad_page()'s reason, or null.</returns>
    public string? CheckFreePage(PagePtr page) => _checkPages ? _sp.CheckFreePage(page) : null;
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim.Hugetlb;

/// <summary>
/// Preparing and destroying compound pages, with the struct page walk each kernel version used:
/// prep_compound_page() (mm/page_alloc.c) for buddy-sized pages, prep_compound_gigantic_page() /
/// destroy_compound_gigantic_page() (mm/hugetlb.c) for gigantic ones.
/// </summary>
public sealed class CompoundPages
{
    private readonly Machine _m;

    internal CompoundPages(Machine machine) => _m = machine;

    private StructPages Sp => _m.StructPages;

    /// <summary>
    /// The walk over a gigantic page's subpages: <c>mem_map_next()</c> until v6.1, <c>nth_page()</c> from v6.1
    /// (Cheng Li), <c>page + i</c> from v6.18 (folios never span a non-contiguous memmap).
    /// </summary>
    public PagePtr NextSubpage(PagePtr head, PagePtr previous, int i)
    {
        var v = _m.Version;
        if (v.HasMemMapOffset) return _m.MemMap.MemMapNext(previous, head, i);
        if (!v.HasMaxFolioOrderInvariant) return _m.NthPage(head, (ulong)i);
        return _m.PageAdd(head, i);
    }

    /// <summary>
    /// prep_compound_page() (v5.11): order in page[1], PG_head, and for every tail (reached by <c>page + i</c>, safe
    /// inside a buddy block) _refcount 0, mapping = TAIL_MAPPING, compound_head; compound_mapcount −1, pincount 0.
    /// </summary>
    public void PrepCompoundPage(PagePtr head, int order)
    {
        var sp = Sp;
        sp.SetFlag(head, PageFlagBits.Head); // __SetPageHead(): non-atomic, the page is not visible yet
        for (int i = 1; i < 1 << order; i++)
        {
            var p = _m.PageAdd(head, i);
            sp.SetRefcount(p, 0);
            sp.SetMapping(p, _m.Arch.TailMapping);
            sp.SetCompoundHead(p, head, order);
        }
        SetCompoundFields(head, order);
    }

    /// <summary>
    /// prep_compound_gigantic_page(): order, PG_reserved cleared and PG_head set on the head; each tail (walked with
    /// <see cref="NextSubpage"/>) loses PG_reserved, gets _refcount 0 and its compound_head; compound_mapcount −1,
    /// pincount 0 where the version keeps one.
    /// </summary>
    public void PrepCompoundGiganticPage(PagePtr head, int order)
    {
        var sp = Sp;
        // __ClearPageReserved() / __SetPageHead() / __ClearPageReserved(p): the kernel's non-atomic forms.
        sp.ClearFlag(head, PageFlagBits.Reserved);
        sp.SetFlag(head, PageFlagBits.Head);
        var p = _m.PageAdd(head, 1);
        ulong headPfn = WalkMayLeaveTheMemmap ? _m.PageToPfn(head).Value : 0;
        for (int i = 1; i < 1 << order; i++)
        {
            using (StrayScope(p, headPfn, i))
            {
                sp.ClearFlag(p, PageFlagBits.Reserved);
                sp.SetRefcount(p, 0);
                sp.SetCompoundHead(p, head, order);
            }
            if (i + 1 < 1 << order) p = NextSubpage(head, p, i + 1);
        }
        SetCompoundFields(head, order);
    }

    /// <summary>
    /// Whether <see cref="NextSubpage"/> is plain <c>page + i</c> (v6.18+), which leaves the head's section memmap
    /// where a folio crosses a section on classic SPARSEMEM (a .config v6.18's Kconfig forbids, or a boot-time
    /// gigantic page registered past 7b4f21f5e038's WARN). The earlier walks compute each subpage's own struct page.
    /// </summary>
    private bool WalkMayLeaveTheMemmap => _m.Version.HasMaxFolioOrderInvariant;

    /// <summary>
    /// The stores to subpage <paramref name="i"/> through <paramref name="p"/> as stray writes (counted by what they
    /// reach, KernelMemory.BeginStrayWrites) when p is not pfn_to_page(head pfn + i); an empty scope otherwise.
    /// </summary>
    private StrayWriteScope StrayScope(PagePtr p, ulong headPfn, int i) =>
        WalkMayLeaveTheMemmap && p != _m.PfnToPage(Pfn.FromUInt64(headPfn + (ulong)i)) ? _m.Memory.BeginStrayWrites() : default;

    private void SetCompoundFields(PagePtr head, int order)
    {
        var sp = Sp;
        sp.SetCompoundOrder(head, order);
        sp.SetCompoundMapcount(head, -1);
        if (sp.HpagePincountAvailable(head)) sp.SetCompoundPincount(head, 0);
    }

    /// <summary>
    /// destroy_compound_gigantic_page(): compound_mapcount and pincount to 0, each tail's compound_head cleared and
    /// _refcount set to 1 (walked with <see cref="NextSubpage"/>), order 0 and compound_nr 0, PG_head cleared.
    /// </summary>
    public void DestroyCompoundGiganticPage(PagePtr head, int order)
    {
        var sp = Sp;
        sp.SetCompoundMapcount(head, 0);
        if (sp.HpagePincountAvailable(head)) sp.SetCompoundPincount(head, 0);
        var p = _m.PageAdd(head, 1);
        ulong headPfn = WalkMayLeaveTheMemmap ? _m.PageToPfn(head).Value : 0;
        for (int i = 1; i < 1 << order; i++)
        {
            using (StrayScope(p, headPfn, i))
            {
                sp.ClearCompoundHead(p);
                sp.SetRefcount(p, 1);
            }
            if (i + 1 < 1 << order) p = NextSubpage(head, p, i + 1);
        }
        sp.SetCompoundOrder(head, 0);
        // page[1].compound_nr overlays page[1].mapping: clear it, or free_contig_range() sees a non-NULL mapping
        // (ba9c1201beaa "mm/hugetlb: clear compound_nr before freeing gigantic pages", v5.10).
        sp.SetCompoundNr(head, 0);
        sp.ClearFlag(head, PageFlagBits.Head); // __ClearPageHead(): non-atomic
    }

    /// <summary>The destructor id kept in page[1] (compound_dtor); HUGETLB_PAGE_DTOR = 2 in v5.11.</summary>
    public const byte HugetlbPageDtor = 2;

    /// <summary>set_compound_page_dtor() (no-op on layouts without a dtor byte: v6.6+ mark hugetlb folios otherwise).</summary>
    public void SetCompoundPageDtor(PagePtr head, byte dtor)
    {
        int off = _m.Layout.CompoundDtor;
        if (off < 0) return;
        _m.Memory.WriteU8(_m.PageAdd(head, 1).Address + (ulong)off, dtor, "set_compound_page_dtor");
    }

    /// <summary>The compound_dtor byte, or 0 where the version has none.</summary>
    public byte CompoundPageDtor(PagePtr head)
    {
        int off = _m.Layout.CompoundDtor;
        return off < 0 ? (byte)0 : _m.Memory.ReadU8(_m.PageAdd(head, 1).Address + (ulong)off, "reading compound_dtor");
    }

    /// <summary>True where <paramref name="v"/>'s update_and_free_page() clears flags with <c>page[i]</c> (before dbfee5aee7e5, v5.12).</summary>
    public static bool ClearsFlagsByPointerArithmetic(KernelVersion v) => v < KernelVersion.V5_12;
}

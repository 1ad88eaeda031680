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
        if (CanBatchTailStores) WalkTails(head, order, prep: true);
        else
        {
            var p = _m.PageAdd(head, 1);
            ulong headPfn = WalkMayLeaveTheMemmap ? _m.PageToPfn(head).Value : 0;
            for (int i = 1; i < 1 << order; i++)
            {
                using (StrayScope(p, headPfn, i)) PrepTail(p, head, order);
                if (i + 1 < 1 << order) p = NextSubpage(head, p, i + 1);
            }
        }
        SetCompoundFields(head, order);
    }

    /// <summary>prep_compound_gigantic_page()'s stores to one tail: PG_reserved cleared, _refcount 0, compound_head.</summary>
    private void PrepTail(PagePtr p, PagePtr head, int order)
    {
        var sp = Sp;
        sp.ClearFlag(p, PageFlagBits.Reserved);
        sp.SetRefcount(p, 0);
        sp.SetCompoundHead(p, head, order);
    }

    /// <summary>destroy_compound_gigantic_page()'s stores to one tail: compound_head cleared, _refcount 1.</summary>
    private void DestroyTail(PagePtr p)
    {
        var sp = Sp;
        sp.ClearCompoundHead(p);
        sp.SetRefcount(p, 1);
    }

    /// <summary>
    /// Whether the tails' stores may be made a run at a time (GupSim's speed-up, not a kernel change): only where no
    /// store can be stray — the walk computes each subpage's own struct page (before v6.18,
    /// <see cref="WalkMayLeaveTheMemmap"/>) and no stray-write scope of the caller is counting stores one by one —, and
    /// not while page_ref is traced, so the tails' reference stores stay one per page if they are ever traced.
    /// </summary>
    private bool CanBatchTailStores => !WalkMayLeaveTheMemmap && !_m.Memory.CountingStrayWrites && _m.PageRefTrace is null;

    /// <summary>
    /// The tails of the gigantic page at <paramref name="head"/>, walked from head + 1 with <see cref="NextSubpage"/> as
    /// the kernel walks them, given prep's (<paramref name="prep"/>) or destroy's stores in runs: subpages whose struct
    /// pages are adjacent (each the previous one + sizeof(struct page)) in one backing and one store chunk
    /// (<see cref="KernelMemory.LocateStructPageWordRun"/>) get each field's store as one
    /// <see cref="StructPageStore.UpdateUnitRun"/> — the values the per-page stores write, the field order within a
    /// page being immaterial (nothing reads a tail in between). A subpage whose struct page a plain store does not
    /// reach gets the per-page stores, which oops or write there as before; a walk step that oopses finds the tails
    /// before it already written, as the per-page loop leaves them.
    /// </summary>
    private void WalkTails(PagePtr head, int order, bool prep)
    {
        var mem = _m.Memory;
        var l = _m.Layout;
        int n = 1 << order;
        ulong sps = (ulong)l.Size;
        var p = _m.PageAdd(head, 1);
        int i = 1;
        while (i < n)
        {
            int run = mem.LocateStructPageWordRun(p.Address, out ulong pfn, out int unit0);
            if (run == 0 || unit0 != 0)
            {
                if (prep) PrepTail(p, head, order);
                else DestroyTail(p);
                if (++i < n) p = NextSubpage(head, p, i);
                continue;
            }
            int k = 1;
            var q = p;
            bool haveNext = false;
            PagePtr next = default;
            try
            {
                while (i + k < n)
                {
                    next = NextSubpage(head, q, i + k);
                    if (k == run || next.Address != q.Address + sps)
                    {
                        haveNext = true;
                        break;
                    }
                    q = next;
                    k++;
                }
            }
            finally
            {
                StoreTailRun(pfn, k, head, order, prep);
            }
            i += k;
            if (i < n) p = haveNext ? next : NextSubpage(head, q, i);
        }
    }

    /// <summary>The stores of <see cref="PrepTail"/> or <see cref="DestroyTail"/> to the struct pages of pfn … pfn + count − 1, one batch per field.</summary>
    private void StoreTailRun(ulong pfn, int count, PagePtr head, int order, bool prep)
    {
        var store = _m.Memory.Store;
        var l = _m.Layout;
        int refcount = l.Refcount >> 2, compoundHead = l.CompoundHead >> 2;
        bool wide = l.WordBytes == 8;
        if (prep)
        {
            // page->flags is an unsigned long stored little-endian: PG_reserved lives in unit bit / 32 of it.
            int bit = PageFlagBits.Reserved;
            store.UpdateUnitRun(pfn, count, (l.Flags >> 2) + bit / 32, ~(1u << (bit % 32)), 0);
            store.UpdateUnitRun(pfn, count, refcount, 0, 0);
            ulong info = Sp.CompoundInfo(head, order);
            store.UpdateUnitRun(pfn, count, compoundHead, 0, (uint)info);
            if (wide) store.UpdateUnitRun(pfn, count, compoundHead + 1, 0, (uint)(info >> 32));
        }
        else
        {
            store.UpdateUnitRun(pfn, count, compoundHead, 0, 0);
            if (wide) store.UpdateUnitRun(pfn, count, compoundHead + 1, 0, 0);
            store.UpdateUnitRun(pfn, count, refcount, 0, 1);
        }
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
        if (CanBatchTailStores) WalkTails(head, order, prep: false);
        else
        {
            var p = _m.PageAdd(head, 1);
            ulong headPfn = WalkMayLeaveTheMemmap ? _m.PageToPfn(head).Value : 0;
            for (int i = 1; i < 1 << order; i++)
            {
                using (StrayScope(p, headPfn, i)) DestroyTail(p);
                if (i + 1 < 1 << order) p = NextSubpage(head, p, i + 1);
            }
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

    /// <summary>
    /// PG_hugetlb's bit in page[1].flags on v6.6–v6.8: PG_active in the v6.6 numbering, bit 8. Matthew Wilcox's "mm:
    /// Rearrange page flags" (the same series as 9c5ccf2db04b) moved the flags a first tail page carries above bit 7,
    /// whose low byte holds the folio order (folio_order() from _flags_1, as <see cref="Pages.StructPageLayout"/> has
    /// it from v6.6); its merge into v6.6 is inferred from that, not read in the v6.6 tree. GupSim's own numbering
    /// (<see cref="PageFlagBits"/>) stays v5.11's elsewhere.
    /// </summary>
    public const int PgHugetlbV66 = 8;

    /// <summary>
    /// folio_set_hugetlb() as the version marks a hugetlb folio (<see cref="KernelVersion.HugetlbMark"/>): set_compound_page_dtor(HUGETLB_PAGE_DTOR)
    /// before v6.6 (prep_new_huge_page()), PG_hugetlb in page[1].flags on v6.6–v6.8, the head's page type from v6.9
    /// (__folio_set_hugetlb() in init_new_hugetlb_folio()).
    /// </summary>
    public void SetHugetlb(PagePtr head)
    {
        switch (_m.Version.HugetlbMark)
        {
            case HugetlbMark.CompoundDtor:
                SetCompoundPageDtor(head, HugetlbPageDtor);
                break;
            case HugetlbMark.SecondPageFlag:
                var second = _m.PageAdd(head, 1);
                Sp.SetFlags(second, Sp.Flags(second) | (1UL << PgHugetlbV66)); // PG_hugetlb = PG_active
                break;
            default:
                Sp.AtomicMapcountSet(head, (int)PageTypes.SetHugetlb((uint)Sp.MapcountRaw(head), _m.Version.PageTypeEncoding));
                break;
        }
    }

    /// <summary>
    /// The hugetlb mark taken off when the page leaves the pool: NULL_COMPOUND_DTOR before v6.6 (update_and_free_page()),
    /// folio_clear_hugetlb() on page[1] (v6.6–v6.8), __folio_clear_hugetlb() of the page type from v6.9 (both in
    /// __clear_hugetlb_destructor(), from __remove_hugetlb_folio()), which gives _mapcount back its −1.
    /// </summary>
    public void ClearHugetlb(PagePtr head)
    {
        switch (_m.Version.HugetlbMark)
        {
            case HugetlbMark.CompoundDtor:
                SetCompoundPageDtor(head, 0);
                break;
            case HugetlbMark.SecondPageFlag:
                var second = _m.PageAdd(head, 1);
                Sp.SetFlags(second, Sp.Flags(second) & ~(1UL << PgHugetlbV66));
                break;
            default:
                Sp.AtomicMapcountSet(head, (int)PageTypes.ClearHugetlb((uint)Sp.MapcountRaw(head), _m.Version.PageTypeEncoding));
                break;
        }
    }

    /// <summary>
    /// folio_test_hugetlb() of the folio whose head is <paramref name="head"/>, read from the struct pages at the
    /// pointer (so a wrong pointer answers from whatever lies there): page[1]'s dtor byte (before v6.6), page[1]'s
    /// PG_hugetlb (v6.6–v6.8), the head's page type (v6.9 on).
    /// </summary>
    public bool FolioTestHugetlb(PagePtr head) => _m.Version.HugetlbMark switch
    {
        HugetlbMark.CompoundDtor => CompoundPageDtor(head) == HugetlbPageDtor,
        HugetlbMark.SecondPageFlag => (Sp.Flags(_m.PageAdd(head, 1)) & (1UL << PgHugetlbV66)) != 0,
        _ => PageTypes.TestHugetlb((uint)Sp.MapcountRaw(head), _m.Version.PageTypeEncoding),
    };

    /// <summary>True where <paramref name="v"/>'s update_and_free_page() clears flags with <c>page[i]</c> (before dbfee5aee7e5, v5.12).</summary>
    public static bool ClearsFlagsByPointerArithmetic(KernelVersion v) => v < KernelVersion.V5_12;
}

using GupSim.Core;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Gup;

public sealed partial class GetUserPages
{
    /// <summary>get_user_pages_fast(): FOLL_GET; gup-fast, then the slow path for the rest.</summary>
    public long GetUserPagesFast(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        if ((flags & ~(FollFlags.Write | FollFlags.Longterm | FollFlags.Force)) != 0) return -(int)Errno.EINVAL;
        return InternalGetUserPagesFast(mm, start, nrPages, flags | FollFlags.Get, pages);
    }

    /// <summary>pin_user_pages_fast(): FOLL_PIN (FOLL_GET refused); gup-fast, then the slow path for the rest.</summary>
    public long PinUserPagesFast(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        if ((flags & FollFlags.Get) != 0) return -(int)Errno.EINVAL;
        return InternalGetUserPagesFast(mm, start, nrPages, flags | FollFlags.Pin, pages);
    }

    /// <summary>
    /// internal_get_user_pages_fast() (mm/gup.c, v5.11/v5.12): only WRITE|LONGTERM|FORCE|PIN|GET|FAST_ONLY allowed;
    /// start page aligned; the lockless walk; FOLL_FAST_ONLY stops there; the rest through the slow path.
    /// </summary>
    public long InternalGetUserPagesFast(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        const FollFlags allowed = FollFlags.Write | FollFlags.Longterm | FollFlags.Force | FollFlags.Pin | FollFlags.Get | FollFlags.FastOnly;
        if ((flags & ~allowed) != 0 || (flags & (FollFlags.Get | FollFlags.Pin)) == (FollFlags.Get | FollFlags.Pin)) return -(int)Errno.EINVAL;
        if ((flags & FollFlags.Pin) != 0) mm.HasPinned = true;
        start &= ~(PageSize - 1);
        if (nrPages <= 0) return 0;
        ulong len = (ulong)nrPages << PageShift;
        ulong end = start + len;
        if (end <= start) return 0;
        if (end > mm.TaskSize) return -(int)Errno.EFAULT; // !access_ok()
        int nr = 0;
        GupPgdRange(mm, start, end, flags, pages, ref nr);
        if (nr == nrPages || (flags & FollFlags.FastOnly) != 0) return nr;
        long ret = GupLongtermLocked(mm, start + ((ulong)nr << PageShift), nrPages - nr, flags & ~FollFlags.FastOnly,
            pages.Length > 0 ? pages[nr..] : pages);
        if (ret < 0) return nr > 0 ? nr : ret;
        return ret + nr;
    }

    /// <summary>gup_pgd_range() → p4d → pud → pmd → pte, without the mmap lock; stops at the first entry it cannot take.</summary>
    private void GupPgdRange(MmStruct mm, ulong addr, ulong end, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        var t = mm.PageTable;
        var geo = t.Geometry;
        while (addr < end)
        {
            ulong next = Math.Min(end, AddrEnd(addr, geo.EntrySpan(PgLevel.Pud)));
            var pgd = t.PgdOffset(addr);
            Grab.Counters.PteRead();
            if (t.PgdNone(t.Read(pgd))) return;
            var p4d = t.P4dOffset(pgd, addr);
            if (t.P4dNone(t.Read(p4d))) return;
            var pud = t.PudOffset(p4d, addr);
            var pudv = t.Read(pud);
            Grab.Counters.PteRead();
            if (!t.PudPresent(pudv)) return;
            if (t.PudHuge(pudv) || t.PudLeaf(pudv))
            {
                if (!GupHugeLeaf(t, pud, pudv, addr, next, geo.EntrySpan(PgLevel.Pud), flags, pages, ref nr)) return;
            }
            else if (!GupPmdRange(t, pud, addr, next, flags, pages, ref nr)) return;
            addr = next;
        }
    }

    private static ulong AddrEnd(ulong addr, ulong span)
    {
        ulong boundary = (addr + span) & ~(span - 1);
        return boundary == 0 ? ulong.MaxValue : boundary;
    }

    private bool GupPmdRange(PageTable t, EntryRef pud, ulong addr, ulong end, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        var geo = t.Geometry;
        while (addr < end)
        {
            ulong next = Math.Min(end, AddrEnd(addr, geo.EntrySpan(PgLevel.Pmd)));
            var pmd = t.PmdOffset(pud, addr);
            var pmdv = t.Read(pmd);
            Grab.Counters.PteRead();
            if (!t.PmdPresent(pmdv)) return false;
            if (t.PmdTransHuge(pmdv) || t.PmdHuge(pmdv) || t.PmdDevmap(pmdv))
            {
                if (t.PmdProtNone(pmdv)) return false; // NUMA hinting must go slow
                if (!GupHugeLeaf(t, pmd, pmdv, addr, next, geo.EntrySpan(PgLevel.Pmd), flags, pages, ref nr)) return false;
            }
            else if (!GupPteRange(t, pmd, addr, next, flags, pages, ref nr)) return false;
            addr = next;
        }
        return true;
    }

    /// <summary>gup_pte_range(): per PTE: access check, no special entries, grab one reference, re-check the entry.</summary>
    private bool GupPteRange(PageTable t, EntryRef pmd, ulong addr, ulong end, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        bool write = (flags & FollFlags.Write) != 0;
        while (addr < end)
        {
            var ptep = t.PteOffsetMap(pmd, addr);
            var pte = t.Read(ptep);
            Grab.Counters.PteRead();
            if (pte.IsProtNone || !pte.IsPresent) return false;
            if (write && !pte.IsWrite) return false;
            if (pte.IsSpecial || pte.IsDevmap) return false;
            // Each PTE of an arm64 contiguous run carries its own pfn and is taken on its own.
            var page = _m.PfnToPage(pte.Pfn);
            Grab.Counters.PfnToPage(1);
            var head = Grab.TryGrabCompoundHead(page, 1, flags);
            if (head is null) return false;
            if (t.Read(ptep) != pte || !FolioFastPinAllowed(head.Value, flags))
            {
                Grab.PutCompoundHead(head.Value, 1, flags);
                return false;
            }
            if (pages.Length > 0) pages[nr] = page;
            Grab.Counters.PagesWrite(1);
            nr++;
            addr += PageSize;
        }
        return true;
    }

    /// <summary>
    /// gup_huge_pmd() / gup_huge_pud(): the first subpage from the entry's page plus the offset (pointer arithmetic up
    /// to v5.17 and from v6.18, nth_page() from c228afb11ac6 in v5.18), record_subpages() with the strategy's
    /// recorder, one grab on the head, then re-read the entry and roll back if it changed.
    /// </summary>
    private bool GupHugeLeaf(PageTable t, EntryRef slot, PageTableEntry orig, ulong addr, ulong end, ulong span, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        if ((flags & FollFlags.Write) != 0 && !orig.IsWrite) return false; // pXd_access_permitted
        if (orig.IsDevmap) return false;
        ulong leafBase = addr & ~(span - 1);
        var head = _m.PfnToPage(orig.Pfn); // pXd_page(orig)
        Grab.Counters.PfnToPage(1);
        ulong offset = (addr - leafBase) >> PageShift;
        int refs = (int)((end - addr) >> PageShift);
        if (pages.Length > 0)
        {
            var ctx = new SubpageRecordContext(_m, head, orig.Pfn, offset, Grab.Counters);
            Strategy.FastRecorder.Record(ctx, pages.Slice(nr, refs));
            Grab.Counters.PagesWrite(refs);
        }
        var grabbed = Grab.TryGrabCompoundHead(head, refs, flags);
        if (grabbed is null) return false;
        if (t.Read(slot) != orig || !FolioFastPinAllowed(grabbed.Value, flags))
        {
            Grab.PutCompoundHead(grabbed.Value, refs, flags);
            return false;
        }
        nr += refs;
        _m.StructPages.SetFlag(grabbed.Value, PageFlagBits.Referenced);
        return true;
    }
}

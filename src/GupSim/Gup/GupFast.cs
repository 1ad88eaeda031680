using GupSim.Core;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Gup;

public sealed partial class GetUserPages
{
    /// <summary>
    /// get_user_pages_fast(): FOLL_GET; gup-fast, then the slow path for the rest. <paramref name="pages"/> must hold
    /// <paramref name="nrPages"/> entries: empty (NULL) or short is refused with −EINVAL before anything is taken
    /// (<see cref="CheckPagesArgument"/>: WARN_ON_ONCE from v6.3; the kernel would write past a short array).
    /// </summary>
    public long GetUserPagesFast(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        if (!GupFlagsValid("get_user_pages_fast", flags, FollFlags.Get)) return -(int)Errno.EINVAL;
        if (!CheckPagesArgument("get_user_pages_fast", nrPages, flags | FollFlags.Get, pages.Length, pin: false, out long bad)) return bad;
        return FastFlagsValid(flags | FollFlags.Get) ? LocklessThenSlow(mm, start, nrPages, flags | FollFlags.Get, pages) : -(int)Errno.EINVAL;
    }

    /// <summary>
    /// pin_user_pages_fast() (pin_user_pages_fast_only() with FOLL_FAST_ONLY): FOLL_PIN (FOLL_GET refused); gup-fast,
    /// then the slow path for the rest. Empty (NULL) or short <paramref name="pages"/>: −EINVAL before anything is
    /// taken, with WARN_ON_ONCE from v5.19 (<see cref="CheckPagesArgument"/>).
    /// </summary>
    public long PinUserPagesFast(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        string fn = (flags & FollFlags.FastOnly) != 0 ? "pin_user_pages_fast_only" : "pin_user_pages_fast";
        // pin_user_pages_fast_only() sets FOLL_FAST_ONLY itself: it is the entry point's, not the caller's.
        if (!GupFlagsValid(fn, flags & ~FollFlags.FastOnly, FollFlags.Pin | (flags & FollFlags.FastOnly))) return -(int)Errno.EINVAL;
        if (!CheckPagesArgument(fn, nrPages, flags | FollFlags.Pin, pages.Length, pin: true, out long bad)) return bad;
        return FastFlagsValid(flags | FollFlags.Pin) ? LocklessThenSlow(mm, start, nrPages, flags | FollFlags.Pin, pages) : -(int)Errno.EINVAL;
    }

    /// <summary>
    /// internal_get_user_pages_fast() (mm/gup.c, v5.11/v5.12): only WRITE|LONGTERM|FORCE|PIN|GET|FAST_ONLY allowed;
    /// start page aligned; the lockless walk; FOLL_FAST_ONLY stops there; the rest through the slow path.
    /// </summary>
    public long InternalGetUserPagesFast(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        if (!FastFlagsValid(flags)) return -(int)Errno.EINVAL;
        if (!CheckPagesArgument("internal_get_user_pages_fast", nrPages, flags, pages.Length, (flags & FollFlags.Pin) != 0, out long bad)) return bad;
        return LocklessThenSlow(mm, start, nrPages, flags, pages);
    }

    /// <summary>internal_get_user_pages_fast()'s flag check: only WRITE|LONGTERM|FORCE|PIN|GET|FAST_ONLY, and not GET with PIN.</summary>
    private bool FastFlagsValid(FollFlags flags)
    {
        const FollFlags allowed = FollFlags.Write | FollFlags.Longterm | FollFlags.Force | FollFlags.Pin | FollFlags.Get | FollFlags.FastOnly;
        bool ok = (flags & ~allowed) == 0 && (flags & (FollFlags.Get | FollFlags.Pin)) != (FollFlags.Get | FollFlags.Pin);
        if (!ok) WarnOnOnce("internal_get_user_pages_fast", "internal_get_user_pages_fast");
        return ok;
    }

    /// <summary>
    /// The body of internal_get_user_pages_fast() once the entry point has checked its flags and pages[] (each check
    /// made once): the lockless walk, then the slow path for the rest unless FOLL_FAST_ONLY.
    /// </summary>
    private long LocklessThenSlow(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        if ((flags & FollFlags.Pin) != 0) mm.SetHasPinned();
        start &= ~(PageSize - 1);
        if (nrPages <= 0) return 0;
        ulong len = (ulong)nrPages << PageShift;
        ulong end = start + len;
        if (end <= start) return 0;
        if (end > mm.TaskSize) return -(int)Errno.EFAULT; // !access_ok()
        int nr = 0;
        // lockless_pages_from_mm(): local_irq_save(); gup_pgd_range(); local_irq_restore().
        using (mm.PageTable.LocalIrqSave()) GupPgdRange(mm, start, end, flags, pages, ref nr);
        if (nr == nrPages || (flags & FollFlags.FastOnly) != 0) return nr;
        long ret = GupLongtermLocked(mm, start + ((ulong)nr << PageShift), nrPages - nr, flags & ~FollFlags.FastOnly,
            pages.Length > 0 ? pages[nr..] : pages);
        if (ret < 0) return nr > 0 ? nr : ret;
        return ret + nr;
    }

    /// <summary>
    /// gup_pgd_range() (mm/gup.c): READ_ONCE of each PGD entry, then gup_p4d_range() from the value read; stops at
    /// the first entry it cannot take. Runs inside the caller's irq-off section (<see cref="PageTable.LocalIrqSave"/>).
    /// </summary>
    private void GupPgdRange(MmStruct mm, ulong addr, ulong end, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        var t = mm.PageTable;
        ulong span = t.Geometry.EntrySpan(PgLevel.Pgd);
        while (true)
        {
            var pgdp = t.PgdOffset(addr);
            var pgd = t.Read(pgdp);
            Grab.Counters.PteRead();
            ulong next = AddrEnd(addr, end, span);
            if (t.PgdNone(pgd)) return;
            if (!GupP4dRange(t, pgdp, pgd, addr, next, flags, pages, ref nr)) return;
            addr = next;
            if (addr == end) return;
        }
    }

    /// <summary>
    /// gup_p4d_range(pgdp, pgd, ...): <c>p4dp = p4d_offset_lockless(pgdp, pgd, addr)</c>, each P4D entry read once.
    /// With P4D folded p4dp points at the walker's copy of the PGD value, which is then the P4D value.
    /// </summary>
    private bool GupP4dRange(PageTable t, EntryRef pgdp, PageTableEntry pgd, ulong addr, ulong end, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        if (!t.P4dOffsetLockless(pgdp, pgd, addr, out var p4dp)) return false;
        bool copy = t.Geometry.IsFolded(PgLevel.P4d);
        ulong span = t.Geometry.EntrySpan(PgLevel.P4d);
        while (true)
        {
            var p4d = copy ? pgd : t.Read(p4dp);
            if (!copy) Grab.Counters.PteRead();
            ulong next = AddrEnd(addr, end, span);
            if (t.P4dNone(p4d)) return false;
            if (!GupPudRange(t, p4dp, p4d, addr, next, flags, pages, ref nr)) return false;
            addr = next;
            if (addr == end) return true;
            p4dp = p4dp.Plus(1, t.Geometry.EntryBytes);
        }
    }

    /// <summary>
    /// gup_pud_range(p4dp, p4d, ...): <c>pudp = pud_offset_lockless(p4dp, p4d, addr)</c>; per entry: not present →
    /// stop; pud_huge/pud_leaf → gup_huge_pud(); else gup_pmd_range() from the value read.
    /// </summary>
    private bool GupPudRange(PageTable t, EntryRef p4dp, PageTableEntry p4d, ulong addr, ulong end, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        if (!t.PudOffsetLockless(p4dp, p4d, addr, out var pudp)) return false;
        bool copy = t.Geometry.IsFolded(PgLevel.Pud);
        ulong span = t.Geometry.EntrySpan(PgLevel.Pud);
        while (true)
        {
            var pud = copy ? p4d : t.Read(pudp);
            Grab.Counters.PteRead();
            ulong next = AddrEnd(addr, end, span);
            if (!t.PudPresent(pud)) return false;
            if (t.PudHuge(pud) || t.PudLeaf(pud))
            {
                if (!GupHugeLeaf(t, pudp, copy, pud, addr, next, span, flags, pages, ref nr)) return false;
            }
            else if (!GupPmdRange(t, pudp, pud, addr, next, flags, pages, ref nr)) return false;
            addr = next;
            if (addr == end) return true;
            pudp = pudp.Plus(1, t.Geometry.EntryBytes);
        }
    }

    /// <summary>gup's pXd_addr_end(addr, end): the next boundary of <paramref name="span"/>, or end if sooner.</summary>
    private static ulong AddrEnd(ulong addr, ulong end, ulong span)
    {
        ulong boundary = (addr + span) & ~(span - 1);
        return boundary - 1 < end - 1 ? boundary : end;
    }

    /// <summary>
    /// gup_pmd_range(pudp, pud, ...): <c>pmdp = pmd_offset_lockless(pudp, pud, addr)</c>; per entry
    /// (pmdp_get_lockless): not present → stop; THP/hugetlb/devmap leaf → gup_huge_pmd() (PROT_NONE must go slow);
    /// else gup_pte_range() on the value read.
    /// </summary>
    private bool GupPmdRange(PageTable t, EntryRef pudp, PageTableEntry pud, ulong addr, ulong end, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        if (!t.PmdOffsetLockless(pudp, pud, addr, out var pmdp)) return false;
        bool copy = t.Geometry.IsFolded(PgLevel.Pmd);
        ulong span = t.Geometry.EntrySpan(PgLevel.Pmd);
        while (true)
        {
            var pmd = copy ? pud : t.Read(pmdp);
            Grab.Counters.PteRead();
            ulong next = AddrEnd(addr, end, span);
            if (!t.PmdPresent(pmd)) return false;
            if (t.PmdTransHuge(pmd) || t.PmdHuge(pmd) || t.PmdDevmap(pmd))
            {
                if (t.PmdProtNone(pmd)) return false; // NUMA hinting must go slow
                if (!GupHugeLeaf(t, pmdp, copy, pmd, addr, next, span, flags, pages, ref nr)) return false;
            }
            else if (!GupPteRange(t, pmdp, pmd, addr, next, flags, pages, ref nr)) return false;
            addr = next;
            if (addr == end) return true;
            pmdp = pmdp.Plus(1, t.Geometry.EntryBytes);
        }
    }

    /// <summary>gup_pte_range(): per PTE: access check, no special entries, grab one reference, re-check the entry.</summary>
    private bool GupPteRange(PageTable t, EntryRef pmdp, PageTableEntry pmd, ulong addr, ulong end, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        bool write = (flags & FollFlags.Write) != 0;
        // pte_offset_map(&pmd, addr): the PTE table the walker's copy names; gone → nothing to take.
        if (!t.PteOffsetMapLockless(pmdp, pmd, addr, out var ptep)) return false;
        while (true)
        {
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
            if (addr == end) return true;
            ptep = ptep.Plus(1, t.Geometry.EntryBytes);
        }
    }

    /// <summary>
    /// gup_huge_pmd() / gup_huge_pud(): the first subpage from the entry's page plus the offset (pointer arithmetic up
    /// to v5.17 and from v6.18, nth_page() from c228afb11ac6 in v5.18), record_subpages() with the strategy's
    /// recorder, one grab on the head, then re-read the entry and roll back if it changed. When the level is folded
    /// (<paramref name="slotIsCopy"/>) the kernel's pXd pointer is the walker's own copy of the upper value
    /// (pXd_offset_lockless's default, <c>pmd_offset(&amp;pud, addr)</c>), so the re-check compares the copy with itself.
    /// v6.18 (gup_fast_pmd_leaf()/gup_fast_pud_leaf() after e3c05b6e370c "mm/gup: remove record_subpages()") grabs
    /// and re-checks first and fills <c>pages[*nr …]</c> only once every test passed; the strategy's
    /// <see cref="GupStrategy.FastLeafIgnoresNr"/> fills from <c>pages[0]</c> instead, as the mm tree did for four days.
    /// </summary>
    private bool GupHugeLeaf(PageTable t, EntryRef slot, bool slotIsCopy, PageTableEntry orig, ulong addr, ulong end, ulong span, FollFlags flags, Span<PagePtr> pages, ref int nr)
    {
        if ((flags & FollFlags.Write) != 0 && !orig.IsWrite) return false; // pXd_access_permitted
        if (orig.IsDevmap) return false;
        ulong leafBase = addr & ~(span - 1);
        var head = _m.PfnToPage(orig.Pfn); // pXd_page(orig)
        Grab.Counters.PfnToPage(1);
        ulong offset = (addr - leafBase) >> PageShift;
        int refs = (int)((end - addr) >> PageShift);
        bool recordAfterChecks = _m.Version.HasMaxFolioOrderInvariant || Strategy.FastLeafIgnoresNr;
        var ctx = new SubpageRecordContext(_m, head, orig.Pfn, offset, Grab.Counters, addr, RecordSite.Fast);
        if (pages.Length > 0 && !recordAfterChecks)
        {
            // refs = record_subpages(page, addr, end, pages + *nr): what it returns is what is grabbed and counted.
            // The recorder was given refs entries to fill (and fills them); what it returns is what is grabbed.
            Grab.Counters.PagesWrite(refs);
            refs = SubpageRecorders.RecordCounted(Strategy.FastRecorder, ctx, pages.Slice(nr, refs));
        }
        var grabbed = Grab.TryGrabCompoundHead(head, refs, flags);
        if (grabbed is null) return false;
        if ((!slotIsCopy && t.Read(slot) != orig) || !FolioFastPinAllowed(grabbed.Value, flags))
        {
            Grab.PutCompoundHead(grabbed.Value, refs, flags);
            return false;
        }
        if (pages.Length > 0 && recordAfterChecks)
        {
            // *nr += refs; for (; refs; refs--) *(pages++) = page++; — with the fixup's pages += *nr before it.
            SubpageRecorders.Record(Strategy.FastRecorder, ctx, pages.Slice(Strategy.FastLeafIgnoresNr ? 0 : nr, refs));
            Grab.Counters.PagesWrite(refs);
        }
        nr += refs;
        _m.StructPages.SetPageFlagAtomic(grabbed.Value, PageFlagBits.Referenced); // SetPageReferenced(head): set_bit
        return true;
    }
}

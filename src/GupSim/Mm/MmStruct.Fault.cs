using GupSim.Arch;
using GupSim.Core;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim.Mm;

public sealed partial class MmStruct
{
    /// <summary>TRANSHUGE_PAGE_DTOR (v5.11).</summary>
    public const byte TranshugePageDtor = 3;

    /// <summary>
    /// Walks the page table to the entry that maps <paramref name="addr"/>: a PUD or PMD leaf (pud_huge/pmd_huge),
    /// or the PTE. Null when an upper level is none.
    /// </summary>
    public LeafWalk? WalkLeaf(ulong addr)
    {
        var t = PageTable;
        var pgd = t.PgdOffset(addr);
        if (t.PgdNone(t.Read(pgd))) return null;
        var p4d = t.P4dOffset(pgd, addr);
        if (t.P4dNone(t.Read(p4d))) return null;
        var pud = t.PudOffset(p4d, addr);
        var pudv = t.Read(pud);
        if (t.PudNone(pudv)) return null;
        if (t.PudHuge(pudv) || t.PudLeaf(pudv)) return new LeafWalk(PgLevel.Pud, pud, pudv, _m.Arch.PudSize);
        var pmd = t.PmdOffset(pud, addr);
        var pmdv = t.Read(pmd);
        if (t.PmdNone(pmdv)) return null;
        if (t.PmdHuge(pmdv) || t.PmdLeaf(pmdv)) return new LeafWalk(PgLevel.Pmd, pmd, pmdv, _m.Arch.PmdSize);
        var pte = t.PteOffsetMap(pmd, addr);
        return new LeafWalk(PgLevel.Pte, pte, t.Read(pte), PageSize);
    }

    /// <summary>
    /// handle_mm_fault(): faults <paramref name="addr"/> in. No VMA, or an access the VMA does not allow, is
    /// VM_FAULT_SIGSEGV; hugetlb VMAs go to <see cref="HugetlbFault"/>; anonymous memory to do_anonymous_page(),
    /// do_huge_pmd_anonymous_page() (VM_HUGEPAGE, PMD-sized and aligned range inside the VMA) or do_wp_page().
    /// </summary>
    public VmFault HandleMmFault(ulong addr, FaultFlags flags)
    {
        var vma = VmaAt(addr);
        if (vma is null) return VmFault.SigSegv;
        bool write = (flags & FaultFlags.Write) != 0;
        if (write ? (vma.Flags & VmFlags.Write) == 0 : (vma.Flags & (VmFlags.Read | VmFlags.Write | VmFlags.Exec)) == 0) return VmFault.SigSegv;
        if (vma.IsHugetlb) return HugetlbFault(vma, addr, flags);
        if (vma.PageCacheFile is not null) return FileFault(vma, addr, write);
        return AnonFault(vma, addr, write);
    }

    private VmFault AnonFault(Vma vma, ulong addr, bool write)
    {
        var leaf = WalkLeaf(addr);
        if (leaf is { } l && !l.Entry.IsNone)
        {
            if (!write || l.Entry.IsWrite)
            {
                PageTable.Write(l.Slot, l.Entry.With(PteFlags.Young | (write ? PteFlags.Dirty : PteFlags.None)));
                return VmFault.None;
            }
            return l.Level == PgLevel.Pte ? DoWpPage(vma, addr, l) : DoHugePmdWpPage(vma, addr, l);
        }
        bool thpEligible = ThpEligible(vma, addr);
        if (PageTable.FaultTablesAlloc(addr, pte: !thpEligible) == -(int)Errno.ENOMEM) return VmFault.Oom;
        if (thpEligible && DoHugePmdAnonymousPage(vma, addr) is { } thp) return thp;
        return DoAnonymousPage(vma, addr, write);
    }

    private bool ThpEligible(Vma vma, ulong addr)
    {
        if ((vma.Flags & VmFlags.HugePage) == 0 || (vma.Flags & VmFlags.NoHugePage) != 0) return false;
        if (_m.Arch.FindHugePageSize(_m.Arch.PmdSize) is not { Mapping: HugeMapping.PmdLeaf }) return false;
        ulong haddr = addr & ~(_m.Arch.PmdSize - 1);
        return haddr >= vma.Start && haddr + _m.Arch.PmdSize <= vma.End;
    }

    /// <summary>do_anonymous_page(): a read maps the zero page read-only; a write maps a fresh page (_refcount 1, mapped once).</summary>
    private VmFault DoAnonymousPage(Vma vma, ulong addr, bool write)
    {
        ulong page = addr & ~(PageSize - 1);
        var user = PteFlags.Present | PteFlags.User | PteFlags.Young;
        if (!write)
        {
            int rc0 = PageTable.SetLeaf(page, null, Pfn.FromUInt64(_m.ZeroPfn), user);
            return rc0 == 0 ? VmFault.None : VmFault.Oom;
        }
        AnonVmaPrepare(vma); // do_anonymous_page(): anon_vma_prepare() before the allocation
        if (!_m.TryAllocPages(0, 0, "anonymous page", out Pfn pfn, Gfp.HighUserMovable, ZoneType.Dma32)) return VmFault.Oom;
        _m.Memory.FillPages(pfn.Value, 1, PageContents.Zero); // alloc_zeroed_user_highpage_movable(): __GFP_ZERO
        _m.StructPages.SetFlag(_m.PfnToPage(pfn), PageFlagBits.Uptodate); // __SetPageUptodate()
        int rc = PageTable.SetLeaf(page, null, pfn, user | PteFlags.Write | PteFlags.Dirty);
        if (rc != 0)
        {
            ReleaseFreshPage(pfn, 0);
            return VmFault.Oom;
        }
        _m.StructPages.AtomicMapcountSet(_m.PfnToPage(pfn), 0); // page_add_new_anon_rmap()
        SetAnonRmap(vma, _m.PfnToPage(pfn), page);
        AnonPages++;
        return VmFault.None;
    }

    /// <summary>do_wp_page(): the zero page or a shared page is copied to a fresh one; an exclusive anonymous page is made writable.</summary>
    private VmFault DoWpPage(Vma vma, ulong addr, LeafWalk l)
    {
        var sp = _m.StructPages;
        ulong oldPfn = l.Entry.Pfn.Value;
        if (oldPfn != _m.ZeroPfn && sp.MapcountRaw(_m.PfnToPage(Pfn.FromUInt64(oldPfn))) == 0)
        {
            PageTable.Write(l.Slot, l.Entry.With(PteFlags.Write | PteFlags.Dirty | PteFlags.Young));
            return VmFault.Write;
        }
        AnonVmaPrepare(vma); // wp_page_copy(): anon_vma_prepare() before the allocation
        if (!_m.TryAllocPages(0, 0, "anonymous page (COW)", out Pfn pfn, Gfp.HighUserMovable, ZoneType.Dma32)) return VmFault.Oom;
        // wp_page_copy(): a zeroed page for the zero page, else cow_user_page()'s copy_user_highpage().
        if (oldPfn == _m.ZeroPfn) _m.Memory.FillPages(pfn.Value, 1, PageContents.Zero);
        else _m.Memory.CopyPages(pfn.Value, oldPfn, 1);
        sp.SetFlag(_m.PfnToPage(pfn), PageFlagBits.Uptodate); // __SetPageUptodate()
        PageTable.Write(l.Slot, PageTableEntry.MakeLeaf(pfn, PteFlags.Present | PteFlags.User | PteFlags.Young | PteFlags.Write | PteFlags.Dirty, _m.Arch.PageShift));
        sp.AtomicMapcountSet(_m.PfnToPage(pfn), 0);
        SetAnonRmap(vma, _m.PfnToPage(pfn), addr & ~(PageSize - 1));
        AnonPages++;
        if (oldPfn != _m.ZeroPfn) DropPageMapping(Pfn.FromUInt64(oldPfn), 0);
        return VmFault.Write;
    }

    private VmFault DoHugePmdWpPage(Vma vma, ulong addr, LeafWalk l)
    {
        // An anonymous THP is mapped by one PMD only in GupSim (no fork): make it writable.
        PageTable.Write(l.Slot, l.Entry.With(PteFlags.Write | PteFlags.Dirty | PteFlags.Young));
        return VmFault.Write;
    }

    /// <summary>
    /// do_huge_pmd_anonymous_page(): a PMD-sized compound page from the buddy (prep_compound_page,
    /// TRANSHUGE_PAGE_DTOR) mapped by a PMD leaf; null (fall back to 4 KiB pages) when the buddy has no block.
    /// GupSim maps a real THP on read faults too (the kernel may map the huge zero page instead).
    /// </summary>
    private VmFault? DoHugePmdAnonymousPage(Vma vma, ulong addr)
    {
        int order = _m.Arch.PmdShift - _m.Arch.PageShift;
        ulong haddr = addr & ~(_m.Arch.PmdSize - 1);
        AnonVmaPrepare(vma); // do_huge_pmd_anonymous_page(): anon_vma_prepare() first
        if (!_m.TryAllocPages(order, 0, "transparent huge page", out Pfn pfn, Gfp.TransHuge, ZoneType.Dma32)) return null;
        var head = _m.PfnToPage(pfn);
        _m.Hugetlb.Compound.PrepCompoundPage(head, order);
        _m.Hugetlb.Compound.SetCompoundPageDtor(head, TranshugePageDtor);
        _m.Memory.FillPages(pfn.Value, 1UL << order, PageContents.Zero); // __do_huge_pmd_anonymous_page(): clear_huge_page()
        _m.StructPages.SetFlag(head, PageFlagBits.Uptodate); // __SetPageUptodate()
        var size = _m.Arch.FindHugePageSize(_m.Arch.PmdSize)!;
        int rc = PageTable.SetLeaf(haddr, size, pfn, PteFlags.Present | PteFlags.User | PteFlags.Young | PteFlags.Huge
            | ((vma.Flags & VmFlags.Write) != 0 ? PteFlags.Write | PteFlags.Dirty : PteFlags.None));
        if (rc != 0)
        {
            _m.StructPages.SetCompoundMapcount(head, -1);
            ReleaseFreshPage(pfn, order);
            return null;
        }
        _m.StructPages.SetCompoundMapcount(head, 0);
        SetAnonRmap(vma, head, haddr);
        AnonPages += 1L << order;
        return VmFault.None;
    }

    /// <summary>put_page() of a page the fault allocated and could not map: its only reference, so it goes back to the buddy.</summary>
    private void ReleaseFreshPage(Pfn pfn, int order)
    {
        bool last = PageRef.PageRefDecAndTest(_m, _m.PfnToPage(pfn));
        System.Diagnostics.Debug.Assert(last, "a fresh page holds only the allocation's reference");
        _m.FreePages(pfn, order);
    }

    /// <summary>
    /// hugetlb_fault(): a missing entry goes to hugetlb_no_page() (the page cache for shared mappings, else a page
    /// from the pool, consuming the mapping's reservation for that index); a write to a read-only entry to
    /// hugetlb_cow(). Pool exhausted → VM_FAULT_SIGBUS.
    /// </summary>
    public VmFault HugetlbFault(Vma vma, ulong addr, FaultFlags flags)
    {
        var h = vma.Hstate!;
        ulong haddr = addr & h.Mask;
        bool write = (flags & FaultFlags.Write) != 0;
        // huge_pte_alloc() before the entry is read: the tables down to the huge page's level come first, so their
        // pages are allocated (and traced) before hugetlb_no_page() takes a page from the pool.
        int alloc = PageTable.HugePteAlloc(haddr, h.Size.Bytes, out var allocated);
        if (alloc == -(int)Errno.ENOMEM) return VmFault.Oom;
        var slot = alloc == 0 ? allocated : PageTable.HugePteOffset(haddr, h.Size.Bytes);
        var entry = slot is { } s0 ? PageTable.Read(s0) : PageTableEntry.None(_m.Arch.PageShift);
        if (entry.IsNone) return HugetlbNoPage(vma, haddr, write);
        // A migration or hwpoison entry: hugetlb_fault() goes no further (the second fault finds the page).
        if (!entry.IsPresent) return VmFault.None;
        return _m.Version.HugetlbFaultRefsOnlyForWp
            ? HugetlbFaultPresentWp(vma, haddr, slot!.Value, entry, write)
            : HugetlbFaultPresent(vma, haddr, slot!.Value, entry, write);
    }

    /// <summary>
    /// hugetlb_fault() (mm/hugetlb.c) on a present entry before v6.17 (<see cref="KernelVersion.HugetlbFaultRefsOnlyForWp"/>):
    /// a private write to a read-only entry first looks the page-cache page up (find_lock_page(): its lookup
    /// reference, then PG_locked); the mapped page is locked (trylock_page(), unless it is that page-cache page) and
    /// referenced (get_page()) around hugetlb_cow() (hugetlb_wp() from v6.1) or the access-flag update, then unlocked
    /// and put (put_page()), and the page-cache page unlocked and put last.
    /// </summary>
    private VmFault HugetlbFaultPresent(Vma vma, ulong haddr, EntryRef slot, PageTableEntry entry, bool write)
    {
        var sp = _m.StructPages;
        var page = _m.PfnToPage(entry.Pfn);
        bool wp = write && !entry.IsWrite;
        ulong cached = 0;
        bool haveCached = wp && !vma.MayShare && vma.HugeFile.TryGetCachedPage(_m, vma.HugecacheIndex(haddr, PageShift), out cached);
        // find_lock_page(): lock_page() after the lookup (no struct page is looked up when the cache has none).
        if (haveCached) sp.SetFlag(_m.PfnToPage(Pfn.FromUInt64(cached)), PageFlagBits.Locked);
        bool same = haveCached && cached == entry.Pfn.Value;
        if (!same) sp.SetFlag(page, PageFlagBits.Locked); // trylock_page()
        PageRef.PageRefInc(_m, page); // get_page()
        var ret = wp ? HugetlbCow(vma, haddr, entry) : HugetlbMkyoung(slot, entry, write);
        if (!same) sp.ClearFlag(page, PageFlagBits.Locked); // unlock_page()
        _m.Hugetlb.PutHugePage(entry.Pfn.Value); // put_page()
        if (haveCached)
        {
            sp.ClearFlag(_m.PfnToPage(Pfn.FromUInt64(cached)), PageFlagBits.Locked);
            _m.Hugetlb.PutHugePage(cached); // put_page(pagecache_page)
        }
        return ret;
    }

    /// <summary>
    /// hugetlb_fault() on a present entry from v6.17 (<see cref="KernelVersion.HugetlbFaultRefsOnlyForWp"/>): only a
    /// write to a read-only entry references the mapped folio (folio_get()), locks it when it is anonymous
    /// (folio_lock(), for hugetlb_wp()'s reuse test) and puts it after hugetlb_wp() (folio_put()); any other fault
    /// on a present entry updates the access flags without touching the count.
    /// </summary>
    private VmFault HugetlbFaultPresentWp(Vma vma, ulong haddr, EntryRef slot, PageTableEntry entry, bool write)
    {
        if (!write || entry.IsWrite) return HugetlbMkyoung(slot, entry, write);
        var sp = _m.StructPages;
        var page = _m.PfnToPage(entry.Pfn);
        PageRef.PageRefInc(_m, page); // folio_get()
        bool anon = sp.PageAnon(page);
        if (anon) sp.SetFlag(page, PageFlagBits.Locked); // folio_lock()
        var ret = HugetlbCow(vma, haddr, entry);
        if (anon) sp.ClearFlag(page, PageFlagBits.Locked); // folio_unlock()
        _m.Hugetlb.PutHugePage(entry.Pfn.Value); // folio_put()
        return ret;
    }

    /// <summary>hugetlb_fault()'s huge_pte_mkdirty() (write) and pte_mkyoung(), then huge_ptep_set_access_flags().</summary>
    private VmFault HugetlbMkyoung(EntryRef slot, PageTableEntry entry, bool write)
    {
        var bits = PteFlags.Young | (write ? PteFlags.Dirty : PteFlags.None);
        if ((entry.Flags & bits) != bits) PageTable.Write(slot, entry.With(bits));
        return VmFault.None;
    }

    private PteFlags HugeLeafFlags(Vma vma, bool writable) =>
        PteFlags.Present | PteFlags.User | PteFlags.Young | PteFlags.Huge | (writable ? PteFlags.Write | PteFlags.Dirty : PteFlags.None);

    private VmFault HugetlbNoPage(Vma vma, ulong haddr, bool write)
    {
        var h = vma.Hstate!;
        var file = vma.HugeFile;
        ulong idx = vma.HugecacheIndex(haddr, PageShift);
        var sp = _m.StructPages;
        ulong head;
        bool anon = false;
        if (file.TryGetCachedPage(_m, idx, out head))
        {
            // find_lock_page() (filemap_lock_hugetlb_folio()): the lookup's reference becomes the mapping's; the page
            // stays locked to the end of the fault.
            sp.SetFlag(_m.PfnToPage(Pfn.FromUInt64(head)), PageFlagBits.Locked);
        }
        else
        {
            bool reserved = vma.MayShare ? file.Reservations.Contains(idx) : vma.PrivateReservations.Contains(idx);
            if (!_m.Hugetlb.TryAllocHugePage(h, reserved, out head)) return VmFault.SigBus;
            ClearHugePage(head, h);
            _m.StructPages.SetFlag(_m.PfnToPage(Pfn.FromUInt64(head)), PageFlagBits.Uptodate); // __SetPageUptodate()
            if (vma.MayShare)
            {
                file.Reservations.Remove(idx);
                file.AddToPageCache(_m, idx, head); // the allocation's reference becomes the mapping's
            }
            else
            {
                vma.PrivateReservations.Remove(idx);
                anon = true;
                sp.SetFlag(_m.PfnToPage(Pfn.FromUInt64(head)), PageFlagBits.Locked); // lock_page() of the new anonymous page
            }
        }
        var headPage = _m.PfnToPage(Pfn.FromUInt64(head));
        // make_huge_pte(vma, page, (vm_flags & VM_WRITE) && (vm_flags & VM_SHARED)): private pages start read-only.
        bool writable = (vma.Flags & VmFlags.Write) != 0 && (vma.Flags & VmFlags.Shared) != 0;
        int rc = PageTable.SetLeaf(haddr, h.Size, Pfn.FromUInt64(head), HugeLeafFlags(vma, writable));
        if (rc != 0)
        {
            sp.ClearFlag(headPage, PageFlagBits.Locked); // backout: unlock_page(), put_page()
            _m.Hugetlb.PutHugePage(head);
            return VmFault.Oom;
        }
        if (anon) HugepageAddNewAnonRmap(vma, headPage, haddr);
        else sp.SetCompoundMapcount(headPage, sp.CompoundMapcount(headPage) + 1); // page_dup_rmap(page, true)
        HugetlbPages += (long)h.PagesPerHugePage;
        // hugetlb_no_page(): a write fault on a private mapping goes straight on to hugetlb_cow() (which reuses an
        // anonymous page mapped only here, and copies a page-cache page) with the page still locked; from v6.17 a
        // page-cache page is unlocked first (only an anonymous one needs the lock for the reuse test).
        var ret = VmFault.None;
        if (write && (vma.Flags & VmFlags.Shared) == 0)
        {
            if (!anon && _m.Version.HugetlbFaultRefsOnlyForWp) sp.ClearFlag(headPage, PageFlagBits.Locked);
            ret = HugetlbCow(vma, haddr, PageTable.Read(PageTable.HugePteOffset(haddr, h.Size.Bytes)!.Value));
        }
        sp.ClearFlag(headPage, PageFlagBits.Locked); // unlock_page()
        return ret;
    }

    /// <summary>
    /// clear_huge_page() (mm/memory.c) on a fresh hugetlb page: every subpage zeroed through clear_user_highpage().
    /// A gigantic page's subpages are reached by clear_gigantic_page()'s mem_map_next() (v5.11), then nth_page() and
    /// folio_page(): the right struct page on every memory model, so each subpage's own page is cleared.
    /// </summary>
    private void ClearHugePage(ulong head, Hstate h) => _m.Memory.FillPages(head, h.PagesPerHugePage, PageContents.Zero);

    /// <summary>
    /// hugepage_add_new_anon_rmap() (mm/rmap.c): a new anonymous hugetlb page's compound mapcount starts at 0 (one
    /// mapping), and __page_set_anon_rmap() points its head's mapping at the VMA's anon_vma with PAGE_MAPPING_ANON and
    /// sets its index to linear_page_index(vma, address): in huge pages before v6.7 (linear_hugepage_index()), in
    /// base pages from v6.7 (<see cref="Arch.KernelVersion.HugetlbIndexInBasePages"/>). The anon_vma is the one
    /// anon_vma_prepare() gave the VMA (hugetlb_no_page() and hugetlb_cow() call it for a private mapping).
    /// </summary>
    private void HugepageAddNewAnonRmap(Vma vma, PagePtr head, ulong haddr)
    {
        var sp = _m.StructPages;
        sp.SetCompoundMapcount(head, 0);
        sp.SetMapping(head, AnonVmaPrepare(vma).Address | StructPages.PageMappingAnon);
        sp.SetIndex(head, vma.Hstate!.PageIndex(vma.HugecacheIndex(haddr, PageShift), _m.Version));
    }

    /// <summary>
    /// hugetlb_cow() (mm/hugetlb.c; hugetlb_wp() from v6.1) on a write to a read-only entry: a shared mapping's entry
    /// is made writable; an anonymous page mapped only here (page_mapcount() 1, PageAnon()) is reused; anything else
    /// (a page-cache page mapped privately) is copied: get_page(old) before alloc_huge_page() (put_page() again if the
    /// allocation fails), copy_user_huge_page(), then the entry swapped to the new page (page_remove_rmap() of the
    /// old, hugepage_add_new_anon_rmap() of the new), and the old page put twice: the mapping's reference
    /// (<c>new_page = old_page</c> "to be freed below") and the get. The caller holds the locks the version takes.
    /// </summary>
    private VmFault HugetlbCow(Vma vma, ulong haddr, PageTableEntry old)
    {
        var h = vma.Hstate!;
        var sp = _m.StructPages;
        ulong oldHead = old.Pfn.Value;
        var oldPage = _m.PfnToPage(old.Pfn);
        if (vma.MayShare)
        {
            PageTable.SetLeaf(haddr, h.Size, old.Pfn, HugeLeafFlags(vma, writable: true));
            return VmFault.None; // hugetlb_cow() returns 0 when it reused or copied
        }
        if (sp.CompoundMapcount(oldPage) == 0 && sp.PageAnon(oldPage))
        {
            PageTable.SetLeaf(haddr, h.Size, old.Pfn, HugeLeafFlags(vma, writable: true));
            return VmFault.None;
        }
        ulong idx = vma.HugecacheIndex(haddr, PageShift);
        bool reserved = vma.PrivateReservations.Contains(idx);
        PageRef.PageRefInc(_m, oldPage); // get_page(old_page) (folio_get(old_folio))
        if (!_m.Hugetlb.TryAllocHugePage(h, reserved, out ulong fresh))
        {
            _m.Hugetlb.PutHugePage(oldHead); // out_release_old: put_page(old_page)
            return VmFault.SigBus;
        }
        _m.Memory.CopyPages(fresh, oldHead, h.PagesPerHugePage); // copy_user_huge_page(): mem_map_next(), then nth_page(): right on every model
        sp.SetFlag(_m.PfnToPage(Pfn.FromUInt64(fresh)), PageFlagBits.Uptodate); // __SetPageUptodate()
        vma.PrivateReservations.Remove(idx);
        sp.SetCompoundMapcount(oldPage, sp.CompoundMapcount(oldPage) - 1); // page_remove_rmap(old, true)
        HugepageAddNewAnonRmap(vma, _m.PfnToPage(Pfn.FromUInt64(fresh)), haddr);
        PageTable.SetLeaf(haddr, h.Size, Pfn.FromUInt64(fresh), HugeLeafFlags(vma, writable: true));
        _m.Hugetlb.PutHugePage(oldHead); // put_page(new_page), which is old_page now: the mapping's reference
        _m.Hugetlb.PutHugePage(oldHead); // out_release_old: put_page(old_page), the get above
        return VmFault.None; // hugetlb_cow() returns 0 when it reused or copied
    }

    /// <summary>
    /// zap_page_range() for [s, e) of <paramref name="vma"/>: clears the entries, drops each page's map count and
    /// the mapping's reference (the last one frees the page to the pool or buddy).
    /// </summary>
    private void ZapRange(Vma vma, ulong s, ulong e)
    {
        var cleared = PageTable.ClearRange(s, e);
        var sp = _m.StructPages;
        var seenHuge = new HashSet<ulong>();
        foreach (var leaf in cleared)
        {
            if (leaf.Old.IsNone || !leaf.Old.IsPresent) continue;
            ulong pfn = leaf.Pfn.Value;
            if (vma.IsHugetlb)
            {
                var h = vma.Hstate!;
                ulong head = pfn & ~(h.PagesPerHugePage - 1);
                if (!seenHuge.Add(head)) continue;
                var headPage = _m.PfnToPage(Pfn.FromUInt64(head));
                sp.SetCompoundMapcount(headPage, sp.CompoundMapcount(headPage) - 1); // page_remove_rmap(page, true)
                HugetlbPages -= (long)h.PagesPerHugePage;
                _m.Hugetlb.PutHugePage(head);
                continue;
            }
            if (pfn == _m.ZeroPfn) continue;
            if (leaf.Level == PgLevel.Pte)
            {
                if (vma.IsAnonymous || sp.PageAnon(_m.PfnToPage(Pfn.FromUInt64(pfn))))
                {
                    DropPageMapping(Pfn.FromUInt64(pfn), 0);
                    AnonPages--;
                }
                else ZapFilePage(Pfn.FromUInt64(pfn));
            }
            else
            {
                int order = _m.Arch.PmdShift - _m.Arch.PageShift;
                var head = _m.PfnToPage(Pfn.FromUInt64(pfn));
                sp.SetCompoundMapcount(head, sp.CompoundMapcount(head) - 1);
                if (PageRef.PageRefDecAndTest(_m, head)) // the tlb batch's release: folio_put_refs() / put_page()
                {
                    _m.Hugetlb.Compound.SetCompoundPageDtor(head, 0);
                    _m.FreePages(Pfn.FromUInt64(pfn), order);
                }
                AnonPages -= 1L << order;
            }
        }
    }

    /// <summary>page_remove_rmap() then put_page() on an order-0 anonymous page.</summary>
    private void DropPageMapping(Pfn pfn, int order)
    {
        var sp = _m.StructPages;
        var page = _m.PfnToPage(pfn);
        sp.AtomicMapcountSet(page, sp.MapcountRaw(page) - 1);
        if (PageRef.PageRefDecAndTest(_m, page)) _m.FreePages(pfn, order);
    }

    private void WriteProtectRange(ulong s, ulong e)
    {
        for (ulong a = s; a < e;)
        {
            var leaf = WalkLeaf(a);
            ulong step = leaf?.Bytes ?? PageSize;
            if (leaf is { } l && l.Entry.IsPresent && l.Entry.IsWrite) PageTable.Write(l.Slot, l.Entry.Without(PteFlags.Write));
            a = (a & ~(step - 1)) + step;
        }
    }
}

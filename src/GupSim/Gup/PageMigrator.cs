using GupSim.Core;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Gup;

/// <summary>One page moved by FOLL_LONGTERM migration.</summary>
/// <param name="OldPfn">Head pfn before.</param>
/// <param name="NewPfn">Head pfn after.</param>
/// <param name="Order">Compound order (0 for a small page).</param>
/// <param name="NewRefcount">The new head's _refcount once the mappings moved, before GUP pins it again.</param>
/// <param name="NewPincount">Its compound pincount then (0 where there is none).</param>
public readonly record struct MigratedPage(ulong OldPfn, ulong NewPfn, int Order, int NewRefcount, int NewPincount);

/// <summary>
/// Page isolation and migration as FOLL_LONGTERM uses them (mm/migrate.c migrate_pages() with
/// alloc_migration_target(), isolate_lru_page(), isolate_huge_page(), putback_movable_pages()). GupSim does not model
/// page contents, per-CPU LRU caches or a full rmap: isolation takes a reference and marks the head isolated;
/// migration needs the page's references to be exactly its mappings (+ the page cache) + the isolation reference
/// (else −EAGAIN, as migrate_page_move_mapping() finds), finds the mappings in the pinning process's page table
/// (a page mapped by another process is not migrated), allocates the target as alloc_migration_target() does under
/// the task's memalloc scope, moves the mappings, page-cache slot and map counts, and frees the old page.
/// </summary>
internal sealed class PageMigrator
{
    private readonly Machine _m;
    private readonly HashSet<ulong> _isolated = [];

    /// <summary>Heads isolated for migration and not yet put back or migrated (0 whenever no migration is under way).</summary>
    internal int IsolatedCount
    {
        get
        {
            lock (_isolated) return _isolated.Count;
        }
    }

    public PageMigrator(Machine machine) => _m = machine;

    private StructPages Sp => _m.StructPages;

    /// <summary>Whether the head at <paramref name="pfn"/> is isolated now.</summary>
    public bool IsIsolated(ulong pfn)
    {
        lock (_isolated) return _isolated.Contains(pfn);
    }

    /// <summary>
    /// isolate_huge_page(): a hugetlb head in use (get_page_unless_zero) that is not already isolated goes on the
    /// list with one more reference.
    /// </summary>
    public bool IsolateHugePage(PagePtr head, List<PagePtr> list)
    {
        ulong pfn = _m.PageToPfn(head).Value;
        if (!_m.Hugetlb.IsHugetlbHead(pfn) || _m.PfnToPage(Pfn.FromUInt64(pfn)) != head) return false;
        return Isolate(head, pfn, list, tryGet: true); // isolate_huge_page(): get_page_unless_zero() (folio_try_get() in v6.x)
    }

    /// <summary>
    /// isolate_lru_page(): a mapped anonymous page or THP (what is on an LRU list in GupSim) that is not already
    /// isolated goes on the list with one more reference; anything else is −EBUSY.
    /// </summary>
    public bool IsolateLruPage(PagePtr head, List<PagePtr> list)
    {
        ulong pfn = _m.PageToPfn(head).Value;
        if (_m.PfnToPage(Pfn.FromUInt64(pfn)) != head || pfn == _m.ZeroPfn || _m.Hugetlb.IsHugetlbHead(pfn)) return false;
        bool mapped = Sp.PageHead(head) ? Sp.CompoundMapcount(head) >= 0 : Sp.MapcountRaw(head) >= 0;
        if (!mapped || Sp.PageReserved(head)) return false;
        return Isolate(head, pfn, list, tryGet: false); // get_page() (folio_get() in v6.x): page_ref_inc()
    }

    /// <summary>Takes the isolation reference: <see cref="PageRef.PageRefAddUnless"/>(1, 0) with <paramref name="tryGet"/>, else <see cref="PageRef.PageRefInc"/>.</summary>
    private bool Isolate(PagePtr head, ulong pfn, List<PagePtr> list, bool tryGet)
    {
        lock (_isolated)
        {
            if (_isolated.Contains(pfn)) return false;
            if (Sp.Refcount(head) <= 0) return false;
            if (tryGet)
            {
                if (!PageRef.PageRefAddUnless(_m, head, 1, 0)) return false;
            }
            else PageRef.PageRefInc(_m, head);
            _isolated.Add(pfn);
        }
        list.Add(head);
        return true;
    }

    /// <summary>putback_movable_pages() / putback_active_hugepage(): every page left on the list loses its isolation and that reference.</summary>
    public void Putback(List<PagePtr> list)
    {
        foreach (var head in list)
        {
            lock (_isolated) _isolated.Remove(_m.PageToPfn(head).Value);
            _m.Grab.PutPage(head);
        }
        list.Clear();
    }

    /// <summary>
    /// migrate_pages(list, alloc_migration_target, MIGRATE_SYNC): migrates each page; migrated pages leave the list,
    /// failed ones stay. Returns the number that failed (the kernel's "nr_failed"), 0 when all moved.
    /// </summary>
    public int MigratePages(MmStruct mm, List<PagePtr> list, List<MigratedPage> done)
    {
        if (list.Count == 0) return 0;
        var mappings = FindMappings(mm, list);
        int failed = 0;
        for (int k = 0; k < list.Count;)
        {
            if (TryMigrate(mm, list[k], mappings, done))
            {
                list.RemoveAt(k);
                continue;
            }
            failed++;
            k++;
        }
        return failed;
    }

    private readonly record struct Mapping(EntryRef Slot, PageTableEntry Entry, ulong Addr, Vma Vma);

    /// <summary>The rmap walk GupSim can do: every leaf of <paramref name="mm"/> that maps a pfn of a listed page.</summary>
    private Dictionary<ulong, List<Mapping>> FindMappings(MmStruct mm, List<PagePtr> list)
    {
        var heads = new List<(ulong Start, ulong End)>(list.Count);
        foreach (var h in list)
        {
            ulong pfn = _m.PageToPfn(h).Value;
            heads.Add((pfn, pfn + (1UL << PageOrder(h, pfn))));
        }
        heads.Sort((a, b) => a.Start.CompareTo(b.Start));
        var result = new Dictionary<ulong, List<Mapping>>();
        foreach (var vma in mm.Vmas)
        {
            for (ulong a = vma.Start; a < vma.End;)
            {
                var leaf = mm.WalkLeaf(a);
                ulong step = leaf?.Bytes ?? _m.Arch.PageSize;
                if (leaf is { } l && l.Entry.IsPresent && !l.Entry.IsNone)
                {
                    ulong pfn = l.Entry.Pfn.Value;
                    int lo = 0, hi = heads.Count - 1;
                    while (lo <= hi)
                    {
                        int mid = (lo + hi) >>> 1;
                        if (heads[mid].End <= pfn) lo = mid + 1;
                        else if (heads[mid].Start > pfn) hi = mid - 1;
                        else
                        {
                            if (!result.TryGetValue(heads[mid].Start, out var ms)) result[heads[mid].Start] = ms = [];
                            ms.Add(new Mapping(l.Slot, l.Entry, a & ~(step - 1), vma));
                            break;
                        }
                    }
                }
                a = (a & ~(step - 1)) + step;
            }
        }
        return result;
    }

    /// <summary>
    /// The move of a page that is not hugetlb (GupSim has no LRU, so the LRU pagevecs' references of
    /// putback_lru_page() are not modelled): the data, the page-table entries, the map counts and the flags that
    /// matter; the new page ends with the old one's references but the isolation one, the old one with none (set
    /// directly, untraced).
    /// </summary>
    private void MovePage(MmStruct mm, PagePtr head, PagePtr newHead, List<Mapping> maps, int order, bool compound, int expected)
    {
        ulong oldPfn = _m.PageToPfn(head).Value, newPfn = _m.PageToPfn(newHead).Value;
        // move_to_new_page() → migrate_page_copy(): the data (copy_highpage(), copy_huge_page() subpage by subpage).
        _m.Memory.CopyPages(newPfn, oldPfn, 1UL << order);
        foreach (var x in maps)
            mm.PageTable.Write(x.Slot, PageTableEntry.MakeLeaf(Pfn.FromUInt64(newPfn + (x.Entry.Pfn.Value - oldPfn)), x.Entry.Flags, _m.Arch.PageShift));
        // folio_migrate_mapping(): the new folio takes the old one's index and mapping (anon_vma or address_space);
        // the old one's is cleared when it is freed (free_pages_prepare()).
        Sp.SetIndex(newHead, Sp.Index(head));
        Sp.SetMapping(newHead, Sp.Mapping(head));
        if (compound)
        {
            Sp.SetCompoundMapcount(newHead, Sp.CompoundMapcount(head));
            Sp.SetCompoundMapcount(head, -1);
        }
        else
        {
            Sp.AtomicMapcountSet(newHead, Sp.MapcountRaw(head));
            Sp.AtomicMapcountSet(head, -1);
        }
        MigrateFlags(head, newHead);
        Sp.SetRefcount(newHead, expected - 1);
        // The old page keeps only the isolation reference; dropping it frees the page.
        Sp.SetRefcount(head, 0);
    }

    /// <summary>
    /// unmap_and_move_huge_page() (mm/migrate.c) after the target's allocation, each reference change through the
    /// page_ref helpers so a page_ref trace shows it: try_to_unmap() (try_to_migrate() from v5.16) removes each
    /// mapping — page_remove_rmap(), then put_page() of the mapping's reference —; move_to_new_page(): the data
    /// (copy_huge_page(), by mem_map_next() and later nth_page(): each subpage's own page on every model), then for a
    /// page-cache page hugetlbfs_migrate_page() → migrate_huge_page_move_mapping(): page_ref_freeze() of the old
    /// page at the isolation reference plus the cache's, the cache's references taken on the new page (get_page(),
    /// from v6.7 folio_ref_add(dst, folio_nr_pages())), the slot replaced, and page_ref_unfreeze() of the old page to
    /// the isolation reference; an anonymous page's migrate_page() moves no reference; the index, mapping and flags go
    /// across (folio_migrate_mapping(), folio_migrate_flags()); remove_migration_ptes() maps the new page — get_page(),
    /// then hugepage_add_anon_rmap() or page_dup_rmap() — at every address; putback_active_hugepage() drops the old
    /// page's isolation reference (its last: <see cref="Hugetlb.HugetlbPools.ReleaseAfterMigration"/> frees it) and then
    /// the new page's allocation reference.
    /// </summary>
    private void MoveHugetlbPage(MmStruct mm, PagePtr head, PagePtr newHead, List<Mapping> maps, Hugetlb.HugetlbfsInode? inode, ulong cacheIndex, int expected)
    {
        ulong oldPfn = _m.PageToPfn(head).Value, newPfn = _m.PageToPfn(newHead).Value;
        int order = Sp.CompoundOrder(head);
        var byAddress = new List<(Vma Vma, ulong Addr)>();
        foreach (var x in maps)
        {
            var key = (x.Vma, x.Addr & x.Vma.Hstate!.Mask);
            if (byAddress.Contains(key)) continue; // a contiguous-PTE mapping (arm64) is one mapping of several entries
            byAddress.Add(key);
            Sp.SetCompoundMapcount(head, Sp.CompoundMapcount(head) - 1); // page_remove_rmap(page, true)
            PageRef.PageRefDecAndTest(_m, head); // put_page(): the mapping's reference
        }
        _m.Memory.CopyPages(newPfn, oldPfn, 1UL << order);
        if (inode is not null)
        {
            int cacheRefs = inode.PageCacheRefs(_m.Version);
            bool frozen = PageRef.FolioRefFreeze(_m, head, 1 + cacheRefs);
            System.Diagnostics.Debug.Assert(frozen, "TryMigrate checked the count");
            Sp.SetIndex(newHead, Sp.Index(head));
            Sp.SetMapping(newHead, Sp.Mapping(head));
            PageRef.FolioRefAdd(_m, newHead, cacheRefs);
            inode.PageCache[cacheIndex] = newPfn;
            PageRef.FolioRefUnfreeze(_m, head, 1);
        }
        else
        {
            Sp.SetIndex(newHead, Sp.Index(head));
            Sp.SetMapping(newHead, Sp.Mapping(head));
        }
        // folio_migrate_flags(): PG_referenced, PG_uptodate and ("move dirty on pages not done by
        // folio_migrate_mapping()", which hugetlb's move does not) PG_dirty are set on the new page and left on the
        // old one (update_and_free_page() clears them if the page ever leaves the pool).
        const ulong copied = (1UL << PageFlagBits.Referenced) | (1UL << PageFlagBits.Uptodate) | (1UL << PageFlagBits.Dirty);
        Sp.SetFlags(newHead, Sp.Flags(newHead) | (Sp.Flags(head) & copied));
        foreach (var x in maps)
            mm.PageTable.Write(x.Slot, PageTableEntry.MakeLeaf(Pfn.FromUInt64(newPfn + (x.Entry.Pfn.Value - oldPfn)), x.Entry.Flags, _m.Arch.PageShift));
        foreach (var _ in byAddress)
        {
            PageRef.PageRefInc(_m, newHead); // get_page(new)
            Sp.SetCompoundMapcount(newHead, Sp.CompoundMapcount(newHead) + 1); // hugepage_add_anon_rmap() / page_dup_rmap()
        }
        bool freed = PageRef.PageRefDecAndTest(_m, head); // putback_active_hugepage(old): the isolation reference
        System.Diagnostics.Debug.Assert(freed, "the isolation reference is the old page's last");
        PageRef.PageRefDecAndTest(_m, newHead); // putback_active_hugepage(new): the allocation's reference
        System.Diagnostics.Debug.Assert(Sp.Refcount(newHead) == expected - 1, "the new page holds the old one's references but the isolation one");
    }

    /// <summary>folio_migrate_mapping() and folio_migrate_flags() as GupSim models them for a page that is not hugetlb: PG_dirty and PG_referenced move to the new page.</summary>
    private void MigrateFlags(PagePtr head, PagePtr newHead)
    {
        const ulong moved = (1UL << PageFlagBits.Dirty) | (1UL << PageFlagBits.Referenced);
        Sp.SetFlags(newHead, Sp.Flags(newHead) | (Sp.Flags(head) & moved));
        Sp.SetFlags(head, Sp.Flags(head) & ~moved);
    }

    private int PageOrder(PagePtr head, ulong pfn) =>
        _m.Hugetlb.IsHugetlbHead(pfn) ? _m.Hugetlb.HstateOfHead(head)!.Order : Sp.PageHead(head) ? Sp.CompoundOrder(head) : 0;

    private bool TryMigrate(MmStruct mm, PagePtr head, Dictionary<ulong, List<Mapping>> all, List<MigratedPage> done)
    {
        ulong oldPfn = _m.PageToPfn(head).Value;
        bool huge = _m.Hugetlb.IsHugetlbHead(oldPfn);
        var h = huge ? _m.Hugetlb.HstateOfHead(head) : null;
        int order = PageOrder(head, oldPfn);
        bool compound = order > 0;
        var maps = all.TryGetValue(oldPfn, out var ms) ? ms : [];
        // A hugetlb page mapped by contiguous PTEs (arm64) has several entries per mapping: count mappings by address.
        int nrMappings = huge ? maps.Select(x => (x.Vma, x.Addr & x.Vma.Hstate!.Mask)).Distinct().Count() : maps.Count;
        int mapcount = compound ? Sp.CompoundMapcount(head) + 1 : Sp.MapcountRaw(head) + 1;
        if (mapcount != nrMappings) return false; // mapped where GupSim's rmap walk does not see (another process)
        var inode = huge ? maps.Select(x => x.Vma.File as Hugetlb.HugetlbfsInode).FirstOrDefault(f => f is not null && f.PageCache.ContainsValue(oldPfn)) : null;
        ulong cacheIndex = inode?.PageCache.First(kv => kv.Value == oldPfn).Key ?? 0;
        // migrate_huge_page_move_mapping() / folio_expected_refs(): the isolation reference, one per mapping, and the page cache's.
        int expected = 1 + nrMappings + (inode?.PageCacheRefs(_m.Version) ?? 0);
        if (Sp.Refcount(head) != expected) return false; // migrate_page_move_mapping(): extra references → −EAGAIN
        int nid = _m.NodeOfPfn(oldPfn).Nid;
        ulong newPfn;
        bool temporary = false;
        if (huge)
        {
            if (!_m.Hugetlb.TryAllocMigrationTarget(h!, nid, out newPfn, out temporary)) return false;
        }
        else
        {
            // alloc_migration_target(): GFP_USER | __GFP_MOVABLE | __GFP_NOWARN (v5.9–v5.12) or GFP_USER |
            // __GFP_NOWARN (v5.13+), in the task's memalloc scope; a THP target adds GFP_TRANSHUGE.
            var gfp = (_m.Version.LongtermPinsMigrateMovable ? Memory.Gfp.User : Memory.Gfp.User | Memory.Gfp.Movable) | Memory.Gfp.Nowarn;
            if (compound) gfp |= Memory.Gfp.TransHuge;
            if (!_m.TryAllocPages(order, nid, compound ? "transparent huge page (migration target)" : "anonymous page (migration target)",
                    out Pfn p, gfp, Arch.ZoneType.Dma32)) return false;
            newPfn = p.Value;
            if (compound)
            {
                _m.Hugetlb.Compound.PrepCompoundPage(_m.PfnToPage(p), order);
                _m.Hugetlb.Compound.SetCompoundPageDtor(_m.PfnToPage(p), Sp.PageHead(head) ? _m.Hugetlb.Compound.CompoundPageDtor(head) : (byte)0);
            }
        }
        var newHead = _m.PfnToPage(Pfn.FromUInt64(newPfn));
        if (huge) MoveHugetlbPage(mm, head, newHead, maps, inode, cacheIndex, expected);
        else MovePage(mm, head, newHead, maps, order, compound, expected);
        done.Add(new MigratedPage(oldPfn, newPfn, order, expected - 1, Sp.HpagePincountAvailable(newHead) ? Sp.CompoundPincount(newHead) : 0));
        lock (_isolated) _isolated.Remove(oldPfn);
        if (huge) _m.Hugetlb.ReleaseAfterMigration(h!, oldPfn, temporary);
        else _m.ReleaseZeroRefPage(oldPfn);
        _m.Log(FormattableString.Invariant($"migrate: pfn 0x{oldPfn:x} -> 0x{newPfn:x} (order {order}, MR_{(_m.Version.LongtermPinsMigrateMovable ? "LONGTERM_PIN" : "CONTIG_RANGE")})"));
        return true;
    }
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim;

public sealed partial class Machine
{
    // Who allocated each block, by start pfn (a list per start: a stale entry may share its start with a newer one),
    // each with its allocation sequence so Describe() finds the oldest match as a list in allocation order would.
    // Keyed so that freeing is O(1): a 128 MiB process frees 32768 pages on exit.
    private readonly Dictionary<ulong, List<(ulong End, string Name, long Seq)>> _allocatedRanges = [];
    private long _allocatedSeq;

    private void AddAllocatedRange(ulong start, ulong end, string name)
    {
        lock (_allocatedRanges)
        {
            if (!_allocatedRanges.TryGetValue(start, out var list)) _allocatedRanges[start] = list = [];
            list.Add((end, name, _allocatedSeq++));
        }
    }

    private void RemoveAllocatedRanges(ulong start, string? name = null)
    {
        lock (_allocatedRanges)
        {
            if (!_allocatedRanges.TryGetValue(start, out var list)) return;
            if (name is null) list.Clear();
            else list.RemoveAll(a => a.Name == name);
            if (list.Count == 0) _allocatedRanges.Remove(start);
        }
    }

    /// <summary>The owner of the oldest recorded allocation that holds <paramref name="pfn"/>, or null.</summary>
    private string? AllocatedRangeName(ulong pfn)
    {
        lock (_allocatedRanges)
        {
            (string Name, long Seq)? best = null;
            foreach (var (start, list) in _allocatedRanges)
                foreach (var (end, name, seq) in list)
                    if (pfn >= start && pfn < end && (best is null || seq < best.Value.Seq)) best = (name, seq);
            return best?.Name;
        }
    }

    /// <summary>
    /// alloc_pages_node() with a gfp mask: as <see cref="TryAllocPages(int, int, string, out Pfn, ZoneType, bool)"/>,
    /// __GFP_MOVABLE in <paramref name="gfp"/> standing for <c>movable</c>.
    /// </summary>
    public bool TryAllocPages(int order, int nid, string owner, out Pfn pfn, Gfp gfp, ZoneType lowestZone = ZoneType.Dma) =>
        TryAllocPages(order, nid, owner, out pfn, lowestZone, movable: (gfp & Gfp.Movable) != 0);

    // What kernel allocations use their pages for, by pfn (only pages that have such a use are recorded).
    private readonly Dictionary<ulong, KernelPageUse> _kernelPageUse = [];

    /// <summary>Records what [<paramref name="pfn"/>, +<paramref name="count"/>) is used for (None forgets it).</summary>
    internal void MarkKernelPages(ulong pfn, ulong count, KernelPageUse use)
    {
        lock (_kernelPageUse)
            for (ulong i = 0; i < count; i++)
            {
                if (use == KernelPageUse.None) _kernelPageUse.Remove(pfn + i);
                else _kernelPageUse[pfn + i] = use;
            }
    }

    /// <summary>What the page at <paramref name="pfn"/> is used for, as its allocator recorded it.</summary>
    public KernelPageUse KernelPageUseOf(ulong pfn)
    {
        lock (_kernelPageUse) return _kernelPageUse.TryGetValue(pfn, out var u) ? u : KernelPageUse.None;
    }

    /// <summary>
    /// alloc_pages_node(): a block of 2^order pages from node <paramref name="nid"/>, trying its zones from the highest
    /// down to <paramref name="lowestZone"/> as the zonelist does; prep_new_page() gives the head _refcount 1.
    /// <paramref name="movable"/> is __GFP_MOVABLE (user pages, THP, migratable hugetlb pages): only such allocations
    /// may use ZONE_MOVABLE and CMA pageblocks, and not inside <see cref="MemallocPinSave"/> (see AllocPolicy).
    /// Returns false (ENOMEM) when no zone has a block.
    /// </summary>
    public bool TryAllocPages(int order, int nid, string owner, out Pfn pfn, ZoneType lowestZone = ZoneType.Dma, bool movable = false)
    {
        pfn = default;
        if (order < 0 || order >= Arch.MaxOrder) return false;
        var (movableZone, cma) = AllocPolicy(movable);
        foreach (var node in Nodes.OrderBy(n => n.Nid == nid ? 0 : 1).ThenBy(n => n.Nid))
        {
            for (int zi = node.Zones.Count - 1; zi >= 0; zi--)
            {
                var z = node.Zones[zi];
                if (z.Type < lowestZone || z.Type == ZoneType.HighMem || (z.Type == ZoneType.Movable && !movableZone)) continue;
                ulong p;
                lock (z)
                {
                    if (!z.TryAlloc(order, cma, out p)) continue;
                }
                pfn = Pfn.FromUInt64(p);
                StructPages.SetRefcount(PfnToPage(pfn), 1);
                AddAllocatedRange(p, p + (1UL << order), owner);
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// __free_pages_ok() for a block whose last reference is gone. free_pages_prepare() checks it as the version
    /// does with the machine's CONFIG_DEBUG_VM (<see cref="FreePagesPrepare"/>) — tails of a compound block with
    /// free_tail_pages_check() (reached by <c>page + i</c>: a buddy block never crosses a section), every page with
    /// check_free_page() — and a dirty block is reported with bad_page() and not freed; a clean one is merged back
    /// by __free_one_page().
    /// </summary>
    /// <returns>The "BUG: Bad page state" reports; empty when the block went back to the buddy.</returns>
    public IReadOnlyList<string> FreePages(Pfn pfn, int order)
    {
        var sp = StructPages;
        var reports = new List<string>();
        var head = PfnToPage(pfn);
        // free_pages_prepare(): "if (PageMappingFlags(page)) page->mapping = NULL" — an anonymous page's anon_vma pointer.
        if ((sp.Mapping(head) & Pages.StructPages.PageMappingFlags) != 0) sp.SetMapping(head, 0);
        bool compound = order > 0 && sp.PageCompound(head);
        // v6.6 (ebc1baf5c9b4) keeps the order in the low byte of page[1].flags (_flags_1), so free_pages_prepare()
        // clears PAGE_FLAGS_SECOND there before the tails are checked; else it trips PAGE_FLAGS_CHECK_AT_FREE.
        if (compound && Version >= KernelVersion.V6_6) sp.SetCompoundOrder(head, 0);
        var prep = new FreePagesPrepare(sp, Version, Spec.DebugVm); // which checks run: CONFIG_DEBUG_VM and version
        for (long i = 1; i < 1L << order; i++)
        {
            var page = PageAdd(head, i);
            if (compound && prep.FreeTailPagesCheck(head, page, i, Arch.TailMapping) is { } tailReason)
                reports.Add(sp.BadPage(page, tailReason));
            if (prep.CheckFreePage(page) is { } reason) reports.Add(sp.BadPage(page, reason));
            else sp.SetFlags(page, sp.Flags(page) & ~PageFlagBits.CheckAtPrepFor(Arch.BitsPerLong));
        }
        if (prep.CheckFreePage(head) is { } headReason) reports.Add(sp.BadPage(head, headReason));
        if (reports.Count > 0) return reports;
        sp.SetFlags(head, sp.Flags(head) & ~PageFlagBits.CheckAtPrepFor(Arch.BitsPerLong));
        var zone = ZoneOfPfn(pfn.Value) ?? throw new GupSimException($"free_pages: pfn {pfn} is in no zone");
        RemoveAllocatedRanges(pfn.Value);
        lock (zone) zone.Free(pfn.Value, order);
        return reports;
    }

    /// <summary>
    /// alloc_contig_range() for [<paramref name="startPfn"/>, <paramref name="endPfn"/>): any size, across sections.
    /// GupSim does not migrate, so every page must be free (−EBUSY otherwise) and in one zone (−EINVAL); on success
    /// each page has _refcount 1, as the kernel hands them out; on failure nothing changed. As MIGRATE_MOVABLE (the
    /// default) a range touching MIGRATE_CMA pageblocks is −EBUSY (has_unmovable_pages()); cma_alloc() passes
    /// MIGRATE_CMA (<paramref name="allowCma"/>).
    /// </summary>
    public int AllocContigRange(ulong startPfn, ulong endPfn, bool allowCma = false)
    {
        if (endPfn <= startPfn) return -(int)Errno.EINVAL;
        var zone = ZoneOfPfn(startPfn);
        if (zone is null || !zone.Spans(endPfn - 1)) return -(int)Errno.EINVAL;
        if (!allowCma && zone.OverlapsCma(startPfn, endPfn)) return -(int)Errno.EBUSY;
        lock (zone)
        {
            if (!zone.TryTakeRange(startPfn, endPfn)) return -(int)Errno.EBUSY;
        }
        var sp = StructPages;
        for (ulong p = startPfn; p < endPfn; p++) sp.SetRefcount(PfnToPage(Pfn.FromUInt64(p)), 1);
        AddAllocatedRange(startPfn, endPfn, "alloc_contig_range");
        return 0;
    }

    /// <summary>
    /// alloc_contig_pages(): the first free range of <paramref name="nrPages"/> naturally aligned to its size
    /// (candidates <c>ALIGN(zone_start_pfn, nr_pages)</c>, stepping by <paramref name="nrPages"/>), zones of the
    /// preferred node first, highest zone first; then alloc_contig_range() on it. The gfp of gigantic hugetlb pages
    /// has no __GFP_MOVABLE (hugepage_movable_supported() is false for them), so ZONE_MOVABLE is not tried.
    /// </summary>
    public bool TryAllocContigPages(ulong nrPages, int nid, out Pfn pfn)
    {
        pfn = default;
        if (nrPages == 0 || (nrPages & (nrPages - 1)) != 0) return false;
        foreach (var node in Nodes.OrderBy(n => n.Nid == nid ? 0 : 1).ThenBy(n => n.Nid))
        {
            for (int zi = node.Zones.Count - 1; zi >= 0; zi--)
            {
                var z = node.Zones[zi];
                if (z.Type == ZoneType.Movable) continue;
                for (ulong p = (z.StartPfn + nrPages - 1) & ~(nrPages - 1); p + nrPages <= z.EndPfn; p += nrPages)
                {
                    if (!z.IsRangeFree(p, p + nrPages)) continue;
                    if (AllocContigRange(p, p + nrPages) == 0)
                    {
                        pfn = Pfn.FromUInt64(p);
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /// <summary>free_contig_range(): drops one reference from each page and frees those that reach zero.</summary>
    /// <returns>"BUG: Bad page state" reports, if any page was dirty.</returns>
    public IReadOnlyList<string> FreeContigRange(Pfn start, ulong nrPages)
    {
        var reports = new List<string>();
        var sp = StructPages;
        for (ulong i = 0; i < nrPages; i++)
        {
            var pfn = start + i;
            if (sp.RefAddReturn(PfnToPage(pfn), -1) == 0) reports.AddRange(FreePages(pfn, 0));
        }
        RemoveAllocatedRanges(start.Value, "alloc_contig_range");
        return reports;
    }

    /// <summary>
    /// __put_page() for a page whose _refcount reached zero: a hugetlb page goes back to its pool (free_huge_page()),
    /// a compound page (THP) and an order-0 page to the buddy.
    /// </summary>
    public void ReleaseZeroRefPage(ulong pfn)
    {
        var page = PfnToPage(Pfn.FromUInt64(pfn));
        if (Hugetlb.IsHugetlbHead(pfn))
        {
            Hugetlb.FreeHugePageAfterLastReference(pfn);
            return;
        }
        int order = StructPages.CompoundOrder(page);
        if (order > 0) Hugetlb.Compound.SetCompoundPageDtor(page, 0);
        FreePages(Pfn.FromUInt64(pfn), order);
    }

    /// <summary>
    /// GUP's grab and release primitives for this machine's kernel version. Made on first use, once: racing first
    /// users (gup-fast from several threads) all get the one instance, so FOLL_PIN statistics are never split.
    /// </summary>
    public Gup.Grab Grab => Volatile.Read(ref _grab) ?? CreateGrab();
    private Gup.Grab? _grab;

    private Gup.Grab CreateGrab()
    {
        Interlocked.CompareExchange(ref _grab, new Gup.Grab(this), null);
        return _grab!;
    }

    /// <summary>Field access to struct pages at any pointer, as the modelled kernel reads and writes them.</summary>
    public StructPages StructPages => _structPages ??= new StructPages(this);
    private StructPages? _structPages;

    /// <summary>Total free pages over all zones.</summary>
    public ulong FreePagesTotal => Nodes.SelectMany(n => n.Zones).Aggregate(0UL, (a, z) => a + z.FreePages);
}

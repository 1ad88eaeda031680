using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim;

public sealed partial class Machine
{
    // Who allocated each block, by start pfn (AllocationOwners: several records per start, the oldest match wins).
    private readonly AllocationOwners _allocatedRanges = new();
    // Held over _allocatedRanges and _kernelPageUse.
    private readonly Lock _ownersLock = new();
    // Bumped when an allocation's owner or a kernel page's use is recorded or forgotten (not journaled by checkpoints).
    private long _allocationsStamp;

    private void AddAllocatedRange(ulong start, ulong end, string name)
    {
        lock (_ownersLock)
        {
            _allocationsStamp++;
            _allocatedRanges.Add(start, end, name);
        }
    }

    private void RemoveAllocatedRanges(ulong start, string? name = null)
    {
        lock (_ownersLock)
        {
            _allocationsStamp++;
            _allocatedRanges.Remove(start, name);
        }
    }

    /// <summary>The owner of the oldest recorded allocation that holds <paramref name="pfn"/>, or null.</summary>
    private string? AllocatedRangeName(ulong pfn)
    {
        lock (_ownersLock) return _allocatedRanges.OwnerOf(pfn);
    }

    /// <summary>The page allocator (mm/page_alloc.c) that owns the zones' free lists.</summary>
    public PageAlloc PageAlloc => _pageAlloc ??= new PageAlloc(this);
    private PageAlloc? _pageAlloc;

    /// <summary>
    /// alloc_pages_node() with a gfp mask: a block of 2^order pages from node <paramref name="nid"/> through the
    /// zonelist (zones from the highest down to <paramref name="lowestZone"/>, then other nodes) and the page
    /// allocator's rules for the gfp's migratetype (<see cref="Memory.PageAlloc"/>). __GFP_MOVABLE allows
    /// ZONE_MOVABLE; ALLOC_CMA is given to MOVABLE requests outside <see cref="MemallocPinSave"/>, which from v5.13
    /// also drops __GFP_MOVABLE (current_gfp_context()). prep_new_page() gives the head _refcount 1. Returns false
    /// (ENOMEM) when no zone has a block.
    /// </summary>
    public bool TryAllocPages(int order, int nid, string owner, out Pfn pfn, Gfp gfp, ZoneType lowestZone = ZoneType.Dma)
    {
        pfn = default;
        if (order < 0 || order >= Arch.MaxOrder) return false;
        bool movable = (gfp & Gfp.Movable) != 0;
        var (movableZone, cma) = AllocPolicy(movable);
        if (movable && !movableZone) gfp &= ~Gfp.Movable;
        if (!PageAlloc.TryAlloc(order, nid, gfp, lowestZone, cma && gfp.Migratetype() == MigrateType.Movable, out ulong p, out _)) return false;
        pfn = Pfn.FromUInt64(p);
        PageRef.SetPageCount(this, PfnToPage(pfn), 1); // post_alloc_hook() → set_page_refcounted() → set_page_count()
        AddAllocatedRange(p, p + (1UL << order), owner);
        return true;
    }

    // What kernel allocations use their pages for, by pfn (only pages that have such a use are recorded).
    private readonly KernelPageUseMap _kernelPageUse = new();

    /// <summary>Records what [<paramref name="pfn"/>, +<paramref name="count"/>) is used for (None forgets it).</summary>
    internal void MarkKernelPages(ulong pfn, ulong count, KernelPageUse use)
    {
        lock (_ownersLock)
        {
            _allocationsStamp++;
            _kernelPageUse.Set(pfn, count, use);
        }
    }

    /// <summary>What the page at <paramref name="pfn"/> is used for, as its allocator recorded it.</summary>
    public KernelPageUse KernelPageUseOf(ulong pfn)
    {
        lock (_ownersLock) return _kernelPageUse.Get(pfn);
    }

    /// <summary>
    /// alloc_pages_node() with the gfp of old call sites: <paramref name="movable"/> stands for GFP_HIGHUSER_MOVABLE,
    /// otherwise GFP_KERNEL (MIGRATE_UNMOVABLE).
    /// </summary>
    public bool TryAllocPages(int order, int nid, string owner, out Pfn pfn, ZoneType lowestZone = ZoneType.Dma, bool movable = false) =>
        TryAllocPages(order, nid, owner, out pfn, movable ? Gfp.HighUserMovable : Gfp.Kernel, lowestZone);

    /// <summary>
    /// free_the_page() for a block whose last reference is gone (<see cref="Memory.PageAlloc.FreePages"/>):
    /// free_pages_prepare()'s checks as the version and CONFIG_DEBUG_VM gate them, then the per-cpu list or
    /// __free_one_page(). A dirty block is reported with bad_page() and leaked.
    /// </summary>
    /// <returns>The "BUG: Bad page state" reports (also those of pages a pcp drain found dirty); empty when clean.</returns>
    public IReadOnlyList<string> FreePages(Pfn pfn, int order)
    {
        var zone = ZoneOfPfn(pfn.Value) ?? throw new GupSimException($"free_pages: pfn {pfn} is in no zone");
        var reports = PageAlloc.FreePages(zone, pfn.Value, order, out bool leaked);
        // A leaked (bad) block keeps its owner; a freed one has none and no kernel use.
        if (!leaked)
        {
            RemoveAllocatedRanges(pfn.Value);
            if (_kernelPageUse.Count != 0) MarkKernelPages(pfn.Value, 1UL << order, KernelPageUse.None);
        }
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
        lock (zone.Lock)
        {
            if (!zone.TryTakeRange(startPfn, endPfn)) return -(int)Errno.EBUSY;
        }
        for (ulong p = startPfn; p < endPfn; p++) PageRef.SetPageCount(this, PfnToPage(Pfn.FromUInt64(p)), 1); // set_page_refcounted()
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
                PageAlloc.DrainZone(z); // pcp pages have _refcount 0: pfn_range_valid_contig() takes them, alloc_contig_range() drains
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
        for (ulong i = 0; i < nrPages; i++)
        {
            var pfn = start + i;
            if (PageRef.PageRefDecAndTest(this, PfnToPage(pfn))) reports.AddRange(FreePages(pfn, 0)); // __free_page() → put_page_testzero()
        }
        RemoveAllocatedRanges(start.Value, "alloc_contig_range");
        return reports;
    }

    /// <summary>
    /// put_page() (include/linux/mm.h) of the page at <paramref name="pfn"/> by a path outside GUP's counted grab and
    /// release (<see cref="Gup.Grab.PutPage"/> is theirs): put_page_testzero() through <see cref="PageRef.PageRefDecAndTest"/>,
    /// then <see cref="ReleaseZeroRefPage"/> when it was the last reference.
    /// </summary>
    internal void PutPageRef(ulong pfn)
    {
        if (PageRef.PageRefDecAndTest(this, PfnToPage(Pfn.FromUInt64(pfn)))) ReleaseZeroRefPage(pfn);
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

    /// <summary>
    /// The page_ref tracepoints (include/trace/events/page_ref.h) when enabled, else null: GUP's reference changes
    /// record one line each; with tracing off the grab and release paths pay one null test.
    /// </summary>
    public Debug.PageRefTrace? PageRefTrace { get; set; }

    private Gup.Grab CreateGrab()
    {
        Interlocked.CompareExchange(ref _grab, new Gup.Grab(this), null);
        return _grab!;
    }

    /// <summary>Field access to struct pages at any pointer, as the modelled kernel reads and writes them.</summary>
    public StructPages StructPages => _structPages ??= new StructPages(this);
    private StructPages? _structPages;

    /// <summary>Free pages the page allocator holds over all zones: the buddy lists (NR_FREE_PAGES) plus cpu 0's per-cpu lists.</summary>
    public ulong FreePagesTotal => Nodes.SelectMany(n => n.Zones).Aggregate(0UL, (a, z) => a + z.FreePages + z.PcpPages);
}

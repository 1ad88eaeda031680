using GupSim.Arch;

namespace GupSim.Memory;

/// <summary>
/// A memory zone of one node (struct zone) with its buddy free lists (mm/page_alloc.c). Allocation takes the lowest
/// free block of the smallest order that fits and splits it (expand()), freeing merges with free buddies
/// (__free_one_page()). The lowest-pfn choice makes runs deterministic; the kernel takes the list head, which after
/// boot's in-order freeing is also the lowest block.
/// Pageblocks of MIGRATE_CMA (a CMA area, <see cref="MarkCma"/>) keep their free blocks on lists of their own
/// (free_area[order].free_list[MIGRATE_CMA]); every other migratetype shares one set of lists in GupSim. CMA areas are
/// aligned to MAX_ORDER_NR_PAGES (cma_init_reserved_mem()), so no buddy block is part CMA and part not.
/// </summary>
public sealed class Zone
{
    private readonly BlockRuns[] _free;
    private readonly BlockRuns[] _cmaFree;
    private readonly List<(ulong Start, ulong End)> _cma = [];

    internal Zone(int nid, ZoneType type, ulong startPfn, ulong endPfn, int maxOrder)
    {
        Nid = nid;
        Type = type;
        StartPfn = startPfn;
        EndPfn = endPfn;
        MaxOrder = maxOrder;
        _free = new BlockRuns[maxOrder];
        _cmaFree = new BlockRuns[maxOrder];
        for (int o = 0; o < maxOrder; o++)
        {
            _free[o] = new BlockRuns(o);
            _cmaFree[o] = new BlockRuns(o);
        }
    }

    /// <summary>The pfn ranges of MIGRATE_CMA pageblocks in this zone, in address order.</summary>
    public IReadOnlyList<(ulong Start, ulong End)> CmaRanges => _cma;

    /// <summary>is_migrate_cma(get_pageblock_migratetype()): whether <paramref name="pfn"/> lies in a MIGRATE_CMA pageblock.</summary>
    public bool IsCma(ulong pfn)
    {
        foreach (var (s, e) in _cma)
            if (pfn >= s && pfn < e) return true;
        return false;
    }

    /// <summary>Whether any pfn of [start, end) lies in a MIGRATE_CMA pageblock.</summary>
    public bool OverlapsCma(ulong start, ulong end)
    {
        foreach (var (s, e) in _cma)
            if (start < e && s < end) return true;
        return false;
    }

    /// <summary>
    /// init_cma_reserved_pageblock() for [start, end): the pageblocks become MIGRATE_CMA. Call before the pages are
    /// freed to the buddy (they then go to the CMA lists).
    /// </summary>
    internal void MarkCma(ulong start, ulong end)
    {
        _cma.Add((start, end));
        _cma.Sort((a, b) => a.Start.CompareTo(b.Start));
    }

    /// <summary>NR_FREE_CMA_PAGES.</summary>
    public ulong FreeCmaPages
    {
        get
        {
            ulong n = 0;
            for (int o = 0; o < MaxOrder; o++) n += _cmaFree[o].Count << o;
            return n;
        }
    }

    private BlockRuns[] ListsFor(ulong pfn) => _cma.Count != 0 && IsCma(pfn) ? _cmaFree : _free;

    /// <summary>Node id.</summary>
    public int Nid { get; }
    /// <summary>Zone type.</summary>
    public ZoneType Type { get; }
    /// <summary>zone_start_pfn.</summary>
    public ulong StartPfn { get; internal set; }
    /// <summary>zone_end_pfn (spanned).</summary>
    public ulong EndPfn { get; internal set; }
    /// <summary>MAX_ORDER (exclusive).</summary>
    public int MaxOrder { get; }
    /// <summary>present_pages: RAM pages in the span.</summary>
    public ulong PresentPages { get; internal set; }
    /// <summary>managed_pages: pages handed to the buddy allocator.</summary>
    public ulong ManagedPages { get; internal set; }

    /// <summary>"DMA", "DMA32", "Normal", "HighMem", "Movable" as /proc/zoneinfo prints them.</summary>
    public string Name => Type switch
    {
        ZoneType.Dma => "DMA",
        ZoneType.Dma32 => "DMA32",
        ZoneType.Normal => "Normal",
        ZoneType.HighMem => "HighMem",
        _ => "Movable",
    };

    /// <summary>nr_free per order, as one /proc/buddyinfo line.</summary>
    public ulong[] FreeCounts()
    {
        var counts = new ulong[MaxOrder];
        for (int o = 0; o < MaxOrder; o++) counts[o] = _free[o].Count + _cmaFree[o].Count;
        return counts;
    }

    /// <summary>NR_FREE_PAGES.</summary>
    public ulong FreePages
    {
        get
        {
            ulong n = 0;
            for (int o = 0; o < MaxOrder; o++) n += (_free[o].Count + _cmaFree[o].Count) << o;
            return n;
        }
    }

    /// <summary>Whether <paramref name="pfn"/> lies in the zone's span.</summary>
    public bool Spans(ulong pfn) => pfn >= StartPfn && pfn < EndPfn;

    /// <summary>Hands [start, end) to the buddy allocator at boot or memory online (__free_pages_core for each block).</summary>
    internal void FreeRange(ulong start, ulong end)
    {
        ulong top = 1UL << (MaxOrder - 1);
        ulong pfn = start;
        // Head: blocks up to the first MAX_ORDER boundary, merging as __free_one_page would.
        while (pfn < end && (pfn & (top - 1)) != 0)
        {
            int order = LargestOrder(pfn, end - pfn);
            Free(pfn, order);
            pfn += 1UL << order;
        }
        ulong midEnd = pfn + ((end - pfn) & ~(top - 1));
        while (midEnd > pfn)
        {
            // One run per stretch of equal pageblock migratetype (CMA areas are MAX_ORDER aligned).
            ulong runEnd = midEnd;
            foreach (var (s, e) in _cma)
            {
                if (s > pfn && s < runEnd) runEnd = s;
                if (e > pfn && e < runEnd) runEnd = e;
            }
            ListsFor(pfn)[MaxOrder - 1].AddRun(pfn, runEnd);
            pfn = runEnd;
        }
        while (pfn < end)
        {
            int order = LargestOrder(pfn, end - pfn);
            Free(pfn, order);
            pfn += 1UL << order;
        }
    }

    private int LargestOrder(ulong pfn, ulong pages)
    {
        int order = MaxOrder - 1;
        while (order > 0 && (((pfn & ((1UL << order) - 1)) != 0) || (1UL << order) > pages)) order--;
        return order;
    }

    /// <summary>__free_one_page(): puts the block back, merging with its free buddy at each order.</summary>
    internal void Free(ulong pfn, int order)
    {
        var lists = ListsFor(pfn);
        while (order < MaxOrder - 1)
        {
            ulong buddy = pfn ^ (1UL << order);
            if (!Spans(buddy) || !lists[order].Contains(buddy)) break;
            lists[order].Remove(buddy);
            pfn &= buddy;
            order++;
        }
        lists[order].AddRun(pfn, pfn + (1UL << order));
    }

    /// <summary>__rmqueue_smallest() on the non-CMA lists: the lowest block of the smallest order ≥ <paramref name="order"/>, split.</summary>
    internal bool TryAlloc(int order, out ulong pfn) => TryAllocFrom(_free, order, out pfn);

    /// <summary>
    /// __rmqueue() (v5.6+, 16867664936e): an allocation allowed into CMA (<paramref name="allowCma"/>, ALLOC_CMA:
    /// movable and not under PF_MEMALLOC_NOCMA/PIN) takes from the CMA lists first when more than half of the zone's
    /// free pages are CMA (NR_FREE_CMA_PAGES &gt; NR_FREE_PAGES / 2), else from the other lists and only then from
    /// CMA (__rmqueue_cma_fallback()).
    /// </summary>
    internal bool TryAlloc(int order, bool allowCma, out ulong pfn)
    {
        if (!allowCma || _cma.Count == 0) return TryAllocFrom(_free, order, out pfn);
        if (FreeCmaPages > FreePages / 2 && TryAllocFrom(_cmaFree, order, out pfn)) return true;
        return TryAllocFrom(_free, order, out pfn) || TryAllocFrom(_cmaFree, order, out pfn);
    }

    private bool TryAllocFrom(BlockRuns[] lists, int order, out ulong pfn)
    {
        for (int o = order; o < MaxOrder; o++)
        {
            if (!lists[o].TryFirst(out pfn)) continue;
            lists[o].Remove(pfn);
            // expand(): give back the upper halves.
            for (int k = o; k > order; k--)
            {
                ulong half = pfn + (1UL << (k - 1));
                lists[k - 1].AddRun(half, half + (1UL << (k - 1)));
            }
            return true;
        }
        pfn = 0;
        return false;
    }

    /// <summary>The free block containing <paramref name="pfn"/>: its start and order.</summary>
    public bool TryFindFreeBlock(ulong pfn, out ulong blockStart, out int order)
    {
        var lists = ListsFor(pfn);
        for (int o = 0; o < MaxOrder; o++)
        {
            ulong start = pfn & ~((1UL << o) - 1);
            if (lists[o].Contains(start))
            {
                blockStart = start;
                order = o;
                return true;
            }
        }
        blockStart = 0;
        order = -1;
        return false;
    }

    /// <summary>Whether every page of [start, end) is free.</summary>
    public bool IsRangeFree(ulong start, ulong end)
    {
        ulong pfn = start;
        while (pfn < end)
        {
            if (!TryFindFreeBlock(pfn, out ulong b, out int o)) return false;
            pfn = b + (1UL << o);
        }
        return true;
    }

    /// <summary>
    /// The isolation step of alloc_contig_range(): takes every page of [start, end) off the free lists, giving back
    /// the parts of straddling blocks that lie outside. Fails, changing nothing, unless every page is free.
    /// </summary>
    internal bool TryTakeRange(ulong start, ulong end)
    {
        if (!IsRangeFree(start, end)) return false;
        ulong pfn = start;
        while (pfn < end)
        {
            TryFindFreeBlock(pfn, out ulong b, out int o);
            ulong blockEnd = b + (1UL << o);
            ListsFor(b)[o].Remove(b);
            if (b < start) GiveBack(b, start);
            if (blockEnd > end) GiveBack(end, blockEnd);
            pfn = blockEnd;
        }
        return true;
    }

    private void GiveBack(ulong start, ulong end)
    {
        ulong pfn = start;
        while (pfn < end)
        {
            int order = LargestOrder(pfn, end - pfn);
            ListsFor(pfn)[order].AddRun(pfn, pfn + (1UL << order));
            pfn += 1UL << order;
        }
    }
}

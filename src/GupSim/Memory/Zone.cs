using GupSim.Arch;

namespace GupSim.Memory;

/// <summary>
/// A memory zone of one node (struct zone, include/linux/mmzone.h): its buddy free lists
/// <c>free_area[order].free_list[migratetype]</c> with nr_free, NR_FREE_PAGES and NR_FREE_CMA_PAGES, the
/// migratetype of each pageblock (the pageblock bitmap of mm/page_alloc.c get/set_pageblock_migratetype()), and the
/// per-cpu page lists of cpu 0. The allocation and free rules that use them live in <see cref="PageAlloc"/>
/// (mm/page_alloc.c); the lists here are run-compressed (<see cref="FreeRun"/>) so a 4 TiB zone freed in ascending
/// order costs a handful of entries.
/// </summary>
public sealed class Zone
{
    /// <summary>zone->lock (include/linux/mmzone.h): held over the buddy free lists and the pcp lists' bulk moves.</summary>
    internal Lock Lock { get; } = new();

    /// <summary>MIGRATE_TYPES with CONFIG_CMA and CONFIG_MEMORY_ISOLATION.</summary>
    internal const int MigrateTypes = 6;
    private const int ChunkShift = 12; // pageblocks per chunk of the pageblock-migratetype map: 4096

    private readonly FreeList[] _lists;
    private readonly FreeIndex[] _index;
    private readonly Stack<FreeRun> _runPool = new();
    private readonly List<(ulong Start, ulong End)> _cma = [];
    // get/set_pageblock_migratetype(): one byte per pageblock, in chunks made on first write; unwritten pageblocks are
    // MIGRATE_MOVABLE, as memmap_init_zone() leaves every pageblock.
    private readonly Dictionary<ulong, byte[]> _pageblockMt = [];
    private int _pageblockOrder;

    internal Zone(int nid, ZoneType type, ulong startPfn, ulong endPfn, int maxOrder, int pageblockOrder = 9)
    {
        Nid = nid;
        Type = type;
        StartPfn = startPfn;
        EndPfn = endPfn;
        MaxOrder = maxOrder;
        _pageblockOrder = pageblockOrder;
        _lists = new FreeList[maxOrder * MigrateTypes];
        _index = new FreeIndex[maxOrder];
        for (int o = 0; o < maxOrder; o++)
        {
            _index[o] = new FreeIndex(o);
            for (int mt = 0; mt < MigrateTypes; mt++) _lists[o * MigrateTypes + mt] = new FreeList(o, (MigrateType)mt);
        }
    }

    /// <summary>pageblock_order (set by <see cref="PageAlloc"/> when it takes the zone, before any pageblock is written).</summary>
    internal int PageblockOrder
    {
        get => _pageblockOrder;
        set => _pageblockOrder = value;
    }

    /// <summary>The page allocator that owns this zone's lists (set when the machine wires it).</summary>
    internal PageAlloc? PageAlloc { get; set; }

    /// <summary>zone->per_cpu_pageset of cpu 0 (made by <see cref="PageAlloc"/> on first use).</summary>
    internal PerCpuPages? Pcp { get; set; }

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

    /// <summary>NR_FREE_PAGES: pages on the buddy lists (pages on the per-cpu lists are not counted, as in the kernel).</summary>
    public ulong FreePages { get; private set; }

    /// <summary>NR_FREE_CMA_PAGES: pages on the MIGRATE_CMA lists.</summary>
    public ulong FreeCmaPages { get; private set; }

    /// <summary>Pages on cpu 0's per-cpu lists of this zone (pcp->count).</summary>
    public ulong PcpPages => (ulong)(Pcp?.Count ?? 0);

    /// <summary>zone->nr_isolate_pageblock.</summary>
    internal long NrIsolatePageblock { get; set; }

    /// <summary>nr_free per order, as one /proc/buddyinfo line.</summary>
    public ulong[] FreeCounts()
    {
        var counts = new ulong[MaxOrder];
        for (int o = 0; o < MaxOrder; o++)
            for (int mt = 0; mt < MigrateTypes; mt++) counts[o] += _lists[o * MigrateTypes + mt].Count;
        return counts;
    }

    /// <summary>The blocks on <c>free_area[order].free_list[mt]</c> from head to tail (tests and reports; O(blocks)).</summary>
    public IEnumerable<ulong> FreeListPfns(int order, MigrateType mt)
    {
        for (var r = FreeListOf(order, mt).Head; r is not null; r = r.Next)
            for (ulong i = 0; i < r.Count; i++) yield return r.Start + (i << order);
    }

    /// <summary>nr_free of one migratetype's list of one order (the rows of /proc/pagetypeinfo).</summary>
    public ulong FreeCount(int order, MigrateType mt) => FreeListOf(order, mt).Count;

    /// <summary>Whether <paramref name="pfn"/> lies in the zone's span.</summary>
    public bool Spans(ulong pfn) => pfn >= StartPfn && pfn < EndPfn;

    // ---- CMA areas ----

    /// <summary>The pfn ranges of MIGRATE_CMA pageblocks in this zone, in address order.</summary>
    public IReadOnlyList<(ulong Start, ulong End)> CmaRanges => _cma;

    /// <summary>is_migrate_cma(get_pageblock_migratetype()): whether <paramref name="pfn"/> lies in a MIGRATE_CMA pageblock.</summary>
    public bool IsCma(ulong pfn) => _cma.Count != 0 && GetPageblockMigratetype(pfn) == MigrateType.Cma;

    /// <summary>Whether any pfn of [start, end) lies in a MIGRATE_CMA pageblock.</summary>
    public bool OverlapsCma(ulong start, ulong end)
    {
        foreach (var (s, e) in _cma)
            if (start < e && s < end) return true;
        return false;
    }

    /// <summary>
    /// init_cma_reserved_pageblock()'s set_pageblock_migratetype(MIGRATE_CMA) for [start, end). Call before the pages
    /// are freed to the buddy (they then go to the CMA lists).
    /// </summary>
    internal void MarkCma(ulong start, ulong end)
    {
        _cma.Add((start, end));
        _cma.Sort((a, b) => a.Start.CompareTo(b.Start));
        ulong pb = 1UL << _pageblockOrder;
        for (ulong p = start & ~(pb - 1); p < end; p += pb) SetPageblockMigratetype(p, MigrateType.Cma);
    }

    // ---- pageblock migratetypes ----

    /// <summary>get_pageblock_migratetype() (mm/page_alloc.c get_pfnblock_flags_mask()).</summary>
    public MigrateType GetPageblockMigratetype(ulong pfn)
    {
        ulong pb = pfn >> _pageblockOrder;
        return _pageblockMt.TryGetValue(pb >> ChunkShift, out var chunk) ? (MigrateType)chunk[pb & ((1UL << ChunkShift) - 1)] : MigrateType.Movable;
    }

    /// <summary>set_pageblock_migratetype(); keeps nr_isolate_pageblock in step as set_migratetype_isolate() and unset_migratetype_isolate() do.</summary>
    internal void SetPageblockMigratetype(ulong pfn, MigrateType mt)
    {
        ulong pb = pfn >> _pageblockOrder;
        if (!_pageblockMt.TryGetValue(pb >> ChunkShift, out var chunk))
        {
            if (mt == MigrateType.Movable) return;
            chunk = new byte[1 << ChunkShift];
            Array.Fill(chunk, (byte)MigrateType.Movable);
            _pageblockMt[pb >> ChunkShift] = chunk;
        }
        ref byte slot = ref chunk[pb & ((1UL << ChunkShift) - 1)];
        if (slot == (byte)MigrateType.Isolate) NrIsolatePageblock--;
        if (mt == MigrateType.Isolate) NrIsolatePageblock++;
        slot = (byte)mt;
    }

    /// <summary>Whether every pageblock touching [start, end) is MIGRATE_MOVABLE without having been written (fast path of boot freeing).</summary>
    internal bool AllPageblocksDefault(ulong start, ulong end)
    {
        ulong first = (start >> _pageblockOrder) >> ChunkShift, last = ((end - 1) >> _pageblockOrder) >> ChunkShift;
        if (_pageblockMt.Count == 0) return true;
        if (last - first > (ulong)_pageblockMt.Count)
        {
            foreach (var k in _pageblockMt.Keys)
                if (k >= first && k <= last) return false;
            return true;
        }
        for (ulong c = first; c <= last; c++)
            if (_pageblockMt.ContainsKey(c)) return false;
        return true;
    }

    // ---- free lists ----

    internal FreeList FreeListOf(int order, MigrateType mt) => _lists[order * MigrateTypes + (int)mt];

    /// <summary>get_page_from_free_area(): the head of <c>free_area[order].free_list[mt]</c>.</summary>
    internal bool TryGetHead(int order, MigrateType mt, out ulong pfn)
    {
        var head = FreeListOf(order, mt).Head;
        pfn = head?.Start ?? 0;
        return head is not null;
    }

    /// <summary>Whether free_area[order] has any block (area->nr_free != 0).</summary>
    internal bool AreaEmpty(int order)
    {
        for (int mt = 0; mt < MigrateTypes; mt++)
            if (!_lists[order * MigrateTypes + mt].IsEmpty) return false;
        return true;
    }

    /// <summary>page_is_buddy() for a pfn of this zone: the block at <paramref name="pfn"/> is free at exactly <paramref name="order"/>.</summary>
    internal bool IsBuddy(ulong pfn, int order) => Spans(pfn) && _index[order].Find(pfn) is not null;

    /// <summary>The migratetype of the list the free block at <paramref name="pfn"/> sits on (it must be free at <paramref name="order"/>).</summary>
    internal MigrateType ListMigratetypeOf(ulong pfn, int order) => _index[order].Find(pfn)!.List.Mt;

    private FreeRun NewRun(ulong start, FreeList list)
    {
        var r = _runPool.Count > 0 ? _runPool.Pop() : new FreeRun();
        r.Start = start;
        r.Count = 1;
        r.Prev = r.Next = null;
        r.List = list;
        r.InMulti = false;
        return r;
    }

    private void Account(ulong pages, MigrateType mt, bool add)
    {
        if (add)
        {
            FreePages += pages;
            if (mt == MigrateType.Cma) FreeCmaPages += pages;
        }
        else
        {
            FreePages -= pages;
            if (mt == MigrateType.Cma) FreeCmaPages -= pages;
        }
    }

    /// <summary>add_to_free_list() (head) / add_to_free_list_tail() (tail) for the block at <paramref name="pfn"/>.</summary>
    internal void AddToFreeList(ulong pfn, int order, MigrateType mt, bool tail)
    {
        var list = FreeListOf(order, mt);
        var idx = _index[order];
        ulong size = 1UL << order;
        list.Count++;
        Account(size, mt, add: true);
        if (tail)
        {
            var t = list.Tail;
            if (t is not null && t.Start + (t.Count << order) == pfn)
            {
                t.Count++;
                idx.UpdateMulti(t);
                return;
            }
            var r = NewRun(pfn, list);
            r.Prev = t;
            if (t is null) list.Head = r;
            else t.Next = r;
            list.Tail = r;
            idx.AddStart(r);
        }
        else
        {
            var h = list.Head;
            if (h is not null && pfn + size == h.Start)
            {
                idx.RemoveStart(h.Start);
                h.Start = pfn;
                h.Count++;
                idx.AddStart(h);
                idx.UpdateMulti(h);
                return;
            }
            var r = NewRun(pfn, list);
            r.Next = h;
            if (h is null) list.Tail = r;
            else h.Prev = r;
            list.Head = r;
            idx.AddStart(r);
        }
    }

    /// <summary>
    /// <paramref name="count"/> ascending blocks from <paramref name="start"/> appended to the tail one after the
    /// other, as that many add_to_free_list_tail() calls (boot freeing of whole MAX_ORDER blocks).
    /// </summary>
    internal void AddRunToTail(ulong start, ulong count, int order, MigrateType mt)
    {
        if (count == 0) return;
        AddToFreeList(start, order, mt, tail: true);
        if (count == 1) return;
        var list = FreeListOf(order, mt);
        var t = list.Tail!;
        t.Count += count - 1;
        list.Count += count - 1;
        Account((count - 1) << order, mt, add: true);
        _index[order].UpdateMulti(t);
    }

    /// <summary>del_page_from_free_list(): takes the free block at <paramref name="pfn"/> off whichever list it is on; returns that list's migratetype.</summary>
    internal MigrateType DelFromFreeList(ulong pfn, int order)
    {
        var idx = _index[order];
        var r = idx.Find(pfn) ?? throw new InvalidOperationException($"pfn 0x{pfn:x} is not a free block of order {order}");
        var list = r.List;
        ulong size = 1UL << order;
        list.Count--;
        Account(size, list.Mt, add: false);
        ulong last = r.Start + ((r.Count - 1) << order);
        if (r.Count == 1)
        {
            idx.RemoveStart(r.Start);
            if (r.Prev is null) list.Head = r.Next;
            else r.Prev.Next = r.Next;
            if (r.Next is null) list.Tail = r.Prev;
            else r.Next.Prev = r.Prev;
            _runPool.Push(r);
        }
        else if (pfn == r.Start)
        {
            idx.RemoveStart(r.Start);
            r.Start += size;
            r.Count--;
            idx.AddStart(r);
            idx.UpdateMulti(r);
        }
        else if (pfn == last)
        {
            r.Count--;
            idx.UpdateMulti(r);
        }
        else
        {
            // Split: [Start, pfn) stays, (pfn, end] becomes a new stretch right after it in the list.
            ulong before = (pfn - r.Start) >> order;
            var n = NewRun(pfn + size, list);
            n.Count = r.Count - before - 1;
            r.Count = before;
            n.Next = r.Next;
            n.Prev = r;
            if (r.Next is null) list.Tail = n;
            else r.Next.Prev = n;
            r.Next = n;
            idx.UpdateMulti(r);
            idx.AddStart(n);
            idx.UpdateMulti(n);
        }
        return list.Mt;
    }

    /// <summary>move_to_free_list(): the free block at <paramref name="pfn"/> to the tail of the <paramref name="mt"/> list of its order.</summary>
    internal void MoveToFreeList(ulong pfn, int order, MigrateType mt)
    {
        DelFromFreeList(pfn, order);
        AddToFreeList(pfn, order, mt, tail: true);
    }

    /// <summary>The free buddy block containing <paramref name="pfn"/>: its start and order (pages on per-cpu lists are not PageBuddy).</summary>
    public bool TryFindFreeBlock(ulong pfn, out ulong blockStart, out int order)
    {
        for (int o = 0; o < MaxOrder; o++)
        {
            ulong start = pfn & ~((1UL << o) - 1);
            if (_index[o].Find(start) is not null)
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

    /// <summary>Whether every page of [start, end) is in a free buddy block.</summary>
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
    /// The isolation step of alloc_contig_range() / offline_pages() on this zone (drains the pcp lists first); see
    /// <see cref="PageAlloc.TryTakeRange"/>.
    /// </summary>
    internal bool TryTakeRange(ulong start, ulong end) =>
        (PageAlloc ?? throw new InvalidOperationException("zone has no page allocator")).TryTakeRange(this, start, end);

    /// <summary>
    /// memblock_free_pages() for [start, end) at boot (__free_pages_memory(): ascending blocks of
    /// min(MAX_ORDER − 1, __ffs(pfn)), each freed with FPI_TO_TAIL); see <see cref="PageAlloc.FreeRangeCore"/>.
    /// </summary>
    internal void FreeRange(ulong start, ulong end) =>
        (PageAlloc ?? throw new InvalidOperationException("zone has no page allocator")).FreeRangeCore(this, start, end);
}

namespace GupSim.Memory;

/// <summary>
/// A stretch of one buddy free list (include/linux/mmzone.h, <c>free_area[order].free_list[mt]</c>) whose blocks lie
/// back to back in ascending address order: the list holds, at this point, the blocks
/// <c>Start, Start + 2^order, …</c> (<see cref="Count"/> of them) one after the other. A whole terabyte freed to the
/// tail in ascending order (memblock_free_all(), onlining) is then one entry instead of a million list nodes.
/// </summary>
internal sealed class FreeRun
{
    /// <summary>pfn of the first block of the stretch.</summary>
    public ulong Start;
    /// <summary>Number of blocks.</summary>
    public ulong Count;
    /// <summary>The neighbouring stretches in list order (towards the head, towards the tail).</summary>
    public FreeRun? Prev, Next;
    /// <summary>The list the stretch is on.</summary>
    public FreeList List = null!;
    /// <summary>Whether the zone's index keeps it among the multi-block runs (Count ≥ 2).</summary>
    public bool InMulti;
}

/// <summary>
/// <c>free_area[order].free_list[migratetype]</c> (include/linux/mmzone.h): a doubly linked list of free blocks of one
/// order and one migratetype, kept as a list of <see cref="FreeRun"/>s. The head is what
/// get_page_from_free_area() returns; add_to_free_list() puts a block at the head, add_to_free_list_tail() and
/// move_to_free_list() at the tail.
/// </summary>
internal sealed class FreeList
{
    public FreeList(int order, MigrateType mt)
    {
        Order = order;
        Mt = mt;
    }

    /// <summary>The list's order.</summary>
    public int Order { get; }
    /// <summary>The list's migratetype.</summary>
    public MigrateType Mt { get; }
    /// <summary>First stretch (list head).</summary>
    public FreeRun? Head;
    /// <summary>Last stretch (list tail).</summary>
    public FreeRun? Tail;
    /// <summary>Blocks on this list (the per-migratetype part of nr_free).</summary>
    public ulong Count;

    /// <summary>free_area_empty().</summary>
    public bool IsEmpty => Head is null;
}

/// <summary>
/// Where each free block of one order sits: pfn → the <see cref="FreeRun"/> holding it, whichever migratetype's list
/// that is (the kernel finds it through the struct page's lru linkage; PageBuddy + buddy_order say it is free).
/// Runs of one block are found by their start; the few longer runs are kept sorted for a floor search.
/// </summary>
internal sealed class FreeIndex
{
    private readonly Dictionary<ulong, FreeRun> _byStart = [];
    private readonly List<FreeRun> _multi = [];
    private readonly int _order;

    public FreeIndex(int order) => _order = order;

    /// <summary>The run holding the block that starts at <paramref name="pfn"/>, or null when that block is not free at this order.</summary>
    public FreeRun? Find(ulong pfn)
    {
        if (_byStart.TryGetValue(pfn, out var r)) return r;
        int lo = 0, hi = _multi.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_multi[mid].Start <= pfn)
            {
                found = mid;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        if (found < 0) return null;
        r = _multi[found];
        ulong size = 1UL << _order;
        return pfn < r.Start + (r.Count << _order) && ((pfn - r.Start) & (size - 1)) == 0 ? r : null;
    }

    public void AddStart(FreeRun r) => _byStart[r.Start] = r;

    public void RemoveStart(ulong start) => _byStart.Remove(start);

    /// <summary>Keeps the run's membership among the multi-block runs in step with its Count.</summary>
    public void UpdateMulti(FreeRun r)
    {
        bool want = r.Count >= 2;
        if (want == r.InMulti) return;
        int i = SearchMulti(r.Start);
        if (want)
        {
            _multi.Insert(~i, r);
            r.InMulti = true;
        }
        else
        {
            _multi.RemoveAt(i);
            r.InMulti = false;
        }
    }

    /// <summary>Binary search by start: the index, or the complement of the insertion point.</summary>
    private int SearchMulti(ulong start)
    {
        int lo = 0, hi = _multi.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ulong s = _multi[mid].Start;
            if (s == start) return mid;
            if (s < start) lo = mid + 1;
            else hi = mid - 1;
        }
        return ~lo;
    }

    /// <summary>Every run of this order, in address order (not hot: reports and tests).</summary>
    public IEnumerable<FreeRun> All() => _byStart.Values.OrderBy(r => r.Start);
}

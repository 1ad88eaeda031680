using GupSim.Core;

namespace GupSim.Memory;

/// <summary>A memblock region: [Base, Base + Size) on node Nid (mm/memblock.c struct memblock_region).</summary>
public readonly record struct MemblockRegion(ulong Base, ulong Size, int Nid)
{
    /// <summary>One past the last byte.</summary>
    public ulong End => Base + Size;
}

/// <summary>
/// The boot memory allocator (mm/memblock.c): memblock.memory, memblock.reserved and the allocation functions boot
/// code calls. Allocations search top-down, as memblock does by default on x86 and arm64
/// (memblock_set_bottom_up(false); x86 goes bottom-up only with movable_node until numa_init resets it, which
/// GupSim does not model), and reservations merge as memblock_add_range() merges them, overlaps included.
/// </summary>
/// <remarks>
/// Allocations are also recorded by name in <see cref="Allocations"/> so that the simulator can say what lives at an
/// address. The kernel's zeroing (memblock_alloc_try_nid() vs _raw) is not modelled: boot memory has no contents
/// until something writes it.
/// </remarks>
public sealed class Memblock
{
    /// <summary>MEMBLOCK_ALLOC_ACCESSIBLE (0) as an end address: up to <see cref="CurrentLimit"/>.</summary>
    public const ulong AllocAccessible = 0;

    /// <summary>NUMA_NO_NODE: any node.</summary>
    public const int NumaNoNode = -1;

    private readonly List<MemblockRegion> _memory = [];
    private readonly List<MemblockRegion> _reserved = [];
    private readonly List<NamedAllocation> _allocations = [];
    // PERF: top-down search hint per (size, align, nid, start, end): no free gap above it fits such a request,
    // because allocations only shrink free space; cleared by MemblockFree(). Turns a boot of 32768 per-section
    // memmaps from O(n²) scans into O(n) (4 TiB classic SPARSEMEM, scattered: 1.4 s → see docs/performance.md).
    private readonly Dictionary<(ulong, ulong, int, ulong, ulong), ulong> _hints = [];

    /// <summary>A named boot allocation: who asked for [Base, Base + Size).</summary>
    public readonly record struct NamedAllocation(ulong Base, ulong Size, int Nid, string Name);

    /// <summary>memblock.memory, sorted.</summary>
    public IReadOnlyList<MemblockRegion> Memory => _memory;

    /// <summary>memblock.reserved, sorted, adjacent and overlapping regions merged.</summary>
    public IReadOnlyList<MemblockRegion> Reserved => _reserved;

    /// <summary>Every allocation and reservation made through this allocator, in the order made.</summary>
    public IReadOnlyList<NamedAllocation> Allocations => _allocations;

    /// <summary>memblock.current_limit: MEMBLOCK_ALLOC_ACCESSIBLE allocations end below this physical address.</summary>
    public ulong CurrentLimit { get; set; } = ulong.MaxValue;

    /// <summary>PAGE_SIZE: memblock_find_in_range_node() never returns an address below it.</summary>
    public ulong PageSize { get; init; } = 4096;

    /// <summary>memblock_add_node(): registers RAM of node <paramref name="nid"/>.</summary>
    public void MemblockAddNode(ulong start, ulong size, int nid)
    {
        Insert(_memory, new MemblockRegion(start, size, nid));
    }

    /// <summary>
    /// memblock_reserve(): marks [start, start + size) as used. Overlapping an existing reservation is allowed, as in
    /// memblock_add_range(): the union is reserved.
    /// </summary>
    public void MemblockReserve(ulong start, ulong size, string name, int nid = NumaNoNode)
    {
        if (size == 0) return;
        ReserveRange(start, start + size, nid);
        _allocations.Add(new NamedAllocation(start, size, nid, name));
    }

    /// <summary>
    /// memblock_find_in_range_node(): the highest <paramref name="align"/>-aligned block of <paramref name="size"/>
    /// free bytes in [max(<paramref name="start"/>, PAGE_SIZE), <paramref name="end"/>) on node <paramref name="nid"/>
    /// (<see cref="NumaNoNode"/>: any); <paramref name="end"/> = <see cref="AllocAccessible"/> means
    /// <see cref="CurrentLimit"/>. Reserves nothing.
    /// </summary>
    public bool MemblockFindInRangeNode(ulong size, ulong align, ulong start, ulong end, int nid, out ulong addr)
    {
        if (end == AllocAccessible) end = CurrentLimit;
        start = Math.Max(start, PageSize);
        end = Math.Max(start, end);
        var key = (size, align, nid, start, end);
        if (_hints.TryGetValue(key, out ulong hint)) end = Math.Min(end, hint);
        if (!TryFindTopDown(size, align, start, end, nid, out addr)) return false;
        _hints[key] = addr + size;
        return true;
    }

    /// <summary>
    /// memblock_alloc_range_nid(): <see cref="MemblockFindInRangeNode"/> on <paramref name="nid"/>, then, unless
    /// <paramref name="exactNid"/>, on any node; reserves what it found. False when nothing fits.
    /// </summary>
    public bool MemblockAllocRangeNid(ulong size, ulong align, ulong start, ulong end, int nid, bool exactNid, string name, out ulong addr)
    {
        if (MemblockFindInRangeNode(size, align, start, end, nid, out addr)
            || (nid != NumaNoNode && !exactNid && MemblockFindInRangeNode(size, align, start, end, NumaNoNode, out addr)))
        {
            MemblockReserve(addr, size, name, nid);
            return true;
        }
        return false;
    }

    /// <summary>memblock_alloc_internal(): <see cref="MemblockAllocRangeNid"/>, retried without the lower limit when that fails.</summary>
    private bool MemblockAllocInternal(ulong size, ulong align, ulong min, ulong max, int nid, bool exactNid, string name, out ulong addr) =>
        MemblockAllocRangeNid(size, align, min, max, nid, exactNid, name, out addr)
        || (min != 0 && MemblockAllocRangeNid(size, align, 0, max, nid, exactNid, name, out addr));

    /// <summary>memblock_alloc_try_nid_raw(): node <paramref name="nid"/> first, then any node; min dropped on failure.</summary>
    public bool MemblockAllocTryNidRaw(ulong size, ulong align, ulong min, ulong max, int nid, string name, out ulong addr) =>
        MemblockAllocInternal(size, align, min, max, nid, exactNid: false, name, out addr);

    /// <summary>memblock_alloc_try_nid(): as <see cref="MemblockAllocTryNidRaw"/> (the zeroing is not modelled).</summary>
    public bool MemblockAllocTryNid(ulong size, ulong align, ulong min, ulong max, int nid, string name, out ulong addr) =>
        MemblockAllocInternal(size, align, min, max, nid, exactNid: false, name, out addr);

    /// <summary>memblock_alloc_exact_nid_raw() (v5.8+): only node <paramref name="nid"/>, never another; min dropped on failure.</summary>
    public bool MemblockAllocExactNidRaw(ulong size, ulong align, ulong min, ulong max, int nid, string name, out ulong addr) =>
        MemblockAllocInternal(size, align, min, max, nid, exactNid: true, name, out addr);

    /// <summary>memblock_phys_alloc_range(): any node, in [start, end).</summary>
    public bool MemblockPhysAllocRange(ulong size, ulong align, ulong start, ulong end, string name, out ulong addr) =>
        MemblockAllocRangeNid(size, align, start, end, NumaNoNode, exactNid: false, name, out addr);

    /// <summary>memblock_phys_alloc_try_nid(): node <paramref name="nid"/> first, then any node, below the current limit.</summary>
    public bool MemblockPhysAllocTryNid(ulong size, ulong align, int nid, string name, out ulong addr) =>
        MemblockAllocRangeNid(size, align, 0, AllocAccessible, nid, exactNid: false, name, out addr);

    /// <summary>
    /// memblock_free() (v5.11 name; memblock_phys_free() from v5.17, memblock_free_early() in sparse_buffer_free()):
    /// returns [start, start + size) to free memory.
    /// </summary>
    public void MemblockFree(ulong start, ulong size)
    {
        if (size == 0) return;
        _hints.Clear();
        ulong end = start + size;
        for (int i = 0; i < _reserved.Count; i++)
        {
            var r = _reserved[i];
            if (r.End <= start || r.Base >= end) continue;
            _reserved.RemoveAt(i);
            int insertAt = i;
            if (r.Base < start) _reserved.Insert(insertAt++, new MemblockRegion(r.Base, start - r.Base, r.Nid));
            if (r.End > end) _reserved.Insert(insertAt++, new MemblockRegion(end, r.End - end, r.Nid));
            i = insertAt - 1;
        }
    }

    /// <summary>memblock_start_of_DRAM().</summary>
    public ulong StartOfDram => _memory.Count == 0 ? 0 : _memory[0].Base;

    /// <summary>memblock_end_of_DRAM().</summary>
    public ulong EndOfDram => _memory.Count == 0 ? 0 : _memory[^1].End;

    /// <summary>memblock_phys_mem_size(): bytes of memblock.memory.</summary>
    public ulong PhysMemSize
    {
        get
        {
            ulong n = 0;
            foreach (var m in _memory) n += m.Size;
            return n;
        }
    }

    /// <summary>memblock_is_reserved() over a pfn-sized span: whether any byte of [start, end) is reserved.</summary>
    public bool IsReserved(ulong start, ulong end)
    {
        int i = FirstEndingAfter(_reserved, start);
        return i < _reserved.Count && _reserved[i].Base < end;
    }

    /// <summary>The reserved regions overlapping [start, end), in address order.</summary>
    public IEnumerable<MemblockRegion> ReservedIn(ulong start, ulong end)
    {
        for (int i = FirstEndingAfter(_reserved, start); i < _reserved.Count && _reserved[i].Base < end; i++)
            yield return _reserved[i];
    }

    /// <summary>Free (RAM and not reserved) ranges, in address order: what memblock_free_all() hands to the buddy.</summary>
    public IEnumerable<MemblockRegion> FreeRanges()
    {
        foreach (var m in _memory)
        {
            ulong cur = m.Base;
            foreach (var r in ReservedIn(m.Base, m.End))
            {
                if (r.Base > cur) yield return new MemblockRegion(cur, r.Base - cur, m.Nid);
                cur = Math.Max(cur, r.End);
            }
            if (cur < m.End) yield return new MemblockRegion(cur, m.End - cur, m.Nid);
        }
    }

    private bool TryFindTopDown(ulong size, ulong align, ulong start, ulong end, int nid, out ulong addr)
    {
        addr = 0;
        for (int mi = _memory.Count - 1; mi >= 0; mi--)
        {
            var m = _memory[mi];
            if (nid >= 0 && m.Nid != nid) continue;
            ulong lo = Math.Max(m.Base, start);
            ulong hi = Math.Min(m.End, end);
            if (hi <= lo || hi - lo < size) continue;
            // Walk the free gaps of [lo, hi) from the top (for_each_free_mem_range_reverse).
            int first = FirstEndingAfter(_reserved, lo);
            int last = FirstStartingAtOrAfter(_reserved, hi);
            ulong curEnd = hi;
            for (int k = last - 1; k >= first && curEnd > lo; k--)
            {
                var r = _reserved[k];
                ulong gapStart = Math.Max(r.End, lo);
                if (gapStart < curEnd && TryFitTop(gapStart, curEnd, size, align, out addr)) return true;
                curEnd = Math.Min(curEnd, r.Base);
            }
            if (curEnd > lo && TryFitTop(lo, curEnd, size, align, out addr)) return true;
        }
        return false;
    }

    private static bool TryFitTop(ulong start, ulong end, ulong size, ulong align, out ulong addr)
    {
        addr = 0;
        if (end <= start || end - start < size) return false;
        ulong candidate = (end - size) & ~(align - 1);
        if (candidate < start) return false;
        addr = candidate;
        return true;
    }

    /// <summary>Index of the first region whose end is above <paramref name="addr"/>.</summary>
    private static int FirstEndingAfter(List<MemblockRegion> list, ulong addr)
    {
        int lo = 0, hi = list.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (list[mid].End <= addr) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>Index of the first region whose base is at or above <paramref name="addr"/>.</summary>
    private static int FirstStartingAtOrAfter(List<MemblockRegion> list, ulong addr)
    {
        int lo = 0, hi = list.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (list[mid].Base < addr) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>memblock_add_range() on memblock.reserved: the union of what was reserved and [start, end), merged with touching regions.</summary>
    private void ReserveRange(ulong start, ulong end, int nid)
    {
        int i = FirstEndingAfter(_reserved, start);
        if (i > 0 && _reserved[i - 1].End == start) i--; // touching on the left
        ulong lo = start, hi = end;
        int j = i;
        while (j < _reserved.Count && _reserved[j].Base <= end)
        {
            lo = Math.Min(lo, _reserved[j].Base);
            hi = Math.Max(hi, _reserved[j].End);
            j++;
        }
        int keepNid = j > i ? _reserved[i].Nid : nid;
        _reserved.RemoveRange(i, j - i);
        _reserved.Insert(i, new MemblockRegion(lo, hi - lo, keepNid));
    }

    private static void Insert(List<MemblockRegion> list, MemblockRegion region)
    {
        int i = FirstEndingAfter(list, region.Base);
        if (i < list.Count && list[i].Base < region.End)
            throw new GupSimException($"memblock: region 0x{region.Base:x}-0x{region.End - 1:x} overlaps 0x{list[i].Base:x}-0x{list[i].End - 1:x}");
        list.Insert(i, region);
    }
}

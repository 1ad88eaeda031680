using GupSim.Core;

namespace GupSim.Memory;

/// <summary>A memblock region: [Base, Base + Size) on node Nid (mm/memblock.c struct memblock_region).</summary>
public readonly record struct MemblockRegion(ulong Base, ulong Size, int Nid)
{
    /// <summary>One past the last byte.</summary>
    public ulong End => Base + Size;
}

/// <summary>
/// The boot memory allocator (mm/memblock.c): a list of memory regions and a list of reserved regions.
/// Allocations search top-down, as memblock does by default on x86 and arm64 (memblock_set_bottom_up(false)),
/// and adjacent reservations merge, as memblock_reserve() merges them.
/// </summary>
/// <remarks>Allocations are also recorded by name in <see cref="Allocations"/> so that the simulator can say what lives at an address.</remarks>
public sealed class Memblock
{
    private readonly List<MemblockRegion> _memory = [];
    private readonly List<MemblockRegion> _reserved = [];
    private readonly List<NamedAllocation> _allocations = [];
    // PERF: top-down search hint per (size, align, nid, minAddr): no free gap above it fits such a request, because
    // allocations only shrink free space; cleared by Free(). Turns a boot of 32768 scattered sections from O(n²) scans
    // into O(n) (4 TiB classic SPARSEMEM, scattered: 1.4 s → see docs/performance.md).
    private readonly Dictionary<(ulong, ulong, int, ulong), ulong> _hints = [];

    /// <summary>A named boot allocation: who asked for [Base, Base + Size).</summary>
    public readonly record struct NamedAllocation(ulong Base, ulong Size, int Nid, string Name);

    /// <summary>memblock.memory, sorted.</summary>
    public IReadOnlyList<MemblockRegion> Memory => _memory;

    /// <summary>memblock.reserved, sorted, adjacent regions merged.</summary>
    public IReadOnlyList<MemblockRegion> Reserved => _reserved;

    /// <summary>Every allocation and reservation made through this allocator, in the order made.</summary>
    public IReadOnlyList<NamedAllocation> Allocations => _allocations;

    /// <summary>memblock.current_limit: allocations end below this physical address (lowmem on 32-bit).</summary>
    public ulong CurrentLimit { get; set; } = ulong.MaxValue;

    /// <summary>memblock_add_node(): registers RAM.</summary>
    public void AddMemory(ulong start, ulong size, int nid)
    {
        Insert(_memory, new MemblockRegion(start, size, nid), merge: false);
    }

    /// <summary>memblock_reserve(): marks [start, start + size) as used.</summary>
    public void Reserve(ulong start, ulong size, string name, int nid = -1)
    {
        if (size == 0) return;
        Insert(_reserved, new MemblockRegion(start, size, nid), merge: true);
        _allocations.Add(new NamedAllocation(start, size, nid, name));
    }

    /// <summary>
    /// memblock_alloc_try_nid_raw(): the highest free, <paramref name="align"/>-aligned block of
    /// <paramref name="size"/> bytes in [<paramref name="minAddr"/>, limit) on node <paramref name="nid"/>, falling
    /// back to any node; reserves it. Returns false when nothing fits (the kernel then panics or falls back).
    /// </summary>
    public bool TryAlloc(ulong size, ulong align, ulong minAddr, int nid, string name, out ulong addr)
    {
        if (TryFindTopDownHinted(size, align, minAddr, nid, out addr) || (nid >= 0 && TryFindTopDownHinted(size, align, minAddr, -1, out addr)))
        {
            Reserve(addr, size, name, nid);
            return true;
        }
        return false;
    }

    private bool TryFindTopDownHinted(ulong size, ulong align, ulong minAddr, int nid, out ulong addr)
    {
        var key = (size, align, nid, minAddr);
        ulong limit = CurrentLimit;
        if (_hints.TryGetValue(key, out ulong hint)) CurrentLimit = Math.Min(limit, hint);
        try
        {
            if (!TryFindTopDown(size, align, minAddr, nid, out addr)) return false;
            _hints[key] = addr + size;
            return true;
        }
        finally
        {
            CurrentLimit = limit;
        }
    }

    /// <summary>memblock_free(): returns [start, start + size) to free memory.</summary>
    public void Free(ulong start, ulong size)
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

    private bool TryFindTopDown(ulong size, ulong align, ulong minAddr, int nid, out ulong addr)
    {
        addr = 0;
        for (int mi = _memory.Count - 1; mi >= 0; mi--)
        {
            var m = _memory[mi];
            if (nid >= 0 && m.Nid != nid) continue;
            ulong lo = Math.Max(m.Base, minAddr);
            ulong hi = Math.Min(m.End, CurrentLimit);
            if (hi <= lo || hi - lo < size) continue;
            // Walk the free gaps of [lo, hi) from the top.
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

    private static void Insert(List<MemblockRegion> list, MemblockRegion region, bool merge)
    {
        int i = FirstEndingAfter(list, region.Base);
        if (i < list.Count && list[i].Base < region.End)
            throw new GupSimException($"memblock: region 0x{region.Base:x}-0x{region.End - 1:x} overlaps 0x{list[i].Base:x}-0x{list[i].End - 1:x}");
        if (merge)
        {
            bool left = i > 0 && list[i - 1].End == region.Base;
            bool right = i < list.Count && list[i].Base == region.End;
            if (left && right)
            {
                list[i - 1] = new MemblockRegion(list[i - 1].Base, list[i].End - list[i - 1].Base, list[i - 1].Nid);
                list.RemoveAt(i);
                return;
            }
            if (left)
            {
                list[i - 1] = new MemblockRegion(list[i - 1].Base, region.End - list[i - 1].Base, list[i - 1].Nid);
                return;
            }
            if (right)
            {
                list[i] = new MemblockRegion(region.Base, list[i].End - region.Base, list[i].Nid);
                return;
            }
        }
        list.Insert(i, region);
    }
}

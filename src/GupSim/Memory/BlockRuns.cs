namespace GupSim.Memory;

/// <summary>
/// One buddy free list (free_area[order]) kept as sorted runs of adjacent free blocks of the same order, so that a
/// machine with terabytes of free memory costs a handful of entries instead of one per block. A run [Start, End) holds
/// the blocks Start, Start + 2^order, ... each of which is free at exactly this order.
/// </summary>
internal sealed class BlockRuns
{
    private readonly List<(ulong Start, ulong End)> _runs = [];
    private readonly int _order;

    public BlockRuns(int order) => _order = order;

    /// <summary>Number of free blocks (nr_free).</summary>
    public ulong Count { get; private set; }

    private ulong BlockPages => 1UL << _order;

    /// <summary>Whether the block starting at <paramref name="pfn"/> is on this list.</summary>
    public bool Contains(ulong pfn)
    {
        int i = RunIndex(pfn);
        return i >= 0 && pfn < _runs[i].End && ((pfn - _runs[i].Start) & (BlockPages - 1)) == 0;
    }

    /// <summary>The lowest free block, if any.</summary>
    public bool TryFirst(out ulong pfn)
    {
        if (_runs.Count == 0)
        {
            pfn = 0;
            return false;
        }
        pfn = _runs[0].Start;
        return true;
    }

    /// <summary>Adds the blocks [start, end) (end − start a multiple of the block size).</summary>
    public void AddRun(ulong start, ulong end)
    {
        if (end <= start) return;
        int i = RunIndex(start);
        // Merge with a run ending exactly at start, and with one starting exactly at end.
        bool left = i >= 0 && _runs[i].End == start;
        int rightIndex = left ? i + 1 : i + 1;
        bool right = rightIndex < _runs.Count && _runs[rightIndex].Start == end;
        if (left && right)
        {
            _runs[i] = (_runs[i].Start, _runs[rightIndex].End);
            _runs.RemoveAt(rightIndex);
        }
        else if (left) _runs[i] = (_runs[i].Start, end);
        else if (right) _runs[rightIndex] = (start, _runs[rightIndex].End);
        else _runs.Insert(i + 1, (start, end));
        Count += (end - start) >> _order;
    }

    /// <summary>Removes the single block at <paramref name="pfn"/>; it must be present.</summary>
    public void Remove(ulong pfn)
    {
        int i = RunIndex(pfn);
        var (s, e) = _runs[i];
        ulong next = pfn + BlockPages;
        if (s == pfn && e == next) _runs.RemoveAt(i);
        else if (s == pfn) _runs[i] = (next, e);
        else if (e == next) _runs[i] = (s, pfn);
        else
        {
            _runs[i] = (s, pfn);
            _runs.Insert(i + 1, (next, e));
        }
        Count--;
    }

    /// <summary>Every run, in address order.</summary>
    public IEnumerable<(ulong Start, ulong End)> Runs => _runs;

    /// <summary>Index of the last run starting at or below <paramref name="pfn"/>, or −1.</summary>
    private int RunIndex(ulong pfn)
    {
        int lo = 0, hi = _runs.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_runs[mid].Start <= pfn)
            {
                found = mid;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        return found;
    }
}

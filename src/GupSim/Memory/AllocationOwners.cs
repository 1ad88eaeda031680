namespace GupSim.Memory;

/// <summary>
/// GupSim's record of who allocated each block, by its first pfn (in the spirit of mm/page_owner.c, which keeps the
/// allocating stack per page; GupSim keeps the caller's name per block). A start may hold several records (a stale one
/// sharing its start with a newer one), kept in the order they were made, each with its allocation sequence so
/// <see cref="OwnerOf"/> finds the oldest match. Records live in one struct array reused through a free list; the
/// first record of each start is found through <see cref="PfnPages{T}"/> blocks, so making and dropping a record is a
/// few array accesses and memory grows with the pfns allocations have touched.
/// Not thread-safe: the caller locks.
/// </summary>
internal sealed class AllocationOwners
{
    private struct Record
    {
        public ulong Start;
        public ulong End;
        public string? Name; // null: a free slot
        public long Seq;
        public int Next;     // the next record of the same start, as an index + 1 (0: none); in the free list, the next free slot
    }

    private Record[] _records = new Record[64];
    private int _used;     // slots ever handed out
    private int _freeHead; // first free slot + 1 (0: none)
    private long _seq;
    private readonly PfnPages<int> _pages = new(); // per start: its first record + 1 (0: none)

    /// <summary>Records that <paramref name="name"/> allocated [<paramref name="start"/>, <paramref name="end"/>).</summary>
    public void Add(ulong start, ulong end, string name)
    {
        int slot = TakeSlot();
        _records[slot] = new Record { Start = start, End = end, Name = name, Seq = _seq++, Next = 0 };
        var page = _pages.Block(start, create: true)!;
        int i = PfnPages<int>.IndexOf(start);
        if (page[i] == 0)
        {
            page[i] = slot + 1;
            return;
        }
        int at = page[i] - 1;
        while (_records[at].Next != 0) at = _records[at].Next - 1;
        _records[at].Next = slot + 1;
    }

    /// <summary>Forgets the records of <paramref name="start"/>: all of them, or those of <paramref name="name"/> (the others keep their order).</summary>
    public void Remove(ulong start, string? name = null)
    {
        var page = _pages.Block(start, create: false);
        if (page is null) return;
        int i = PfnPages<int>.IndexOf(start);
        int prev = -1, at = page[i] - 1;
        while (at >= 0)
        {
            int next = _records[at].Next - 1;
            if (name is null || _records[at].Name == name)
            {
                if (prev < 0) page[i] = next + 1;
                else _records[prev].Next = next + 1;
                FreeSlot(at);
            }
            else prev = at;
            at = next;
        }
    }

    /// <summary>The name of the oldest record whose block holds <paramref name="pfn"/>, or null.</summary>
    public string? OwnerOf(ulong pfn)
    {
        string? best = null;
        long bestSeq = long.MaxValue;
        for (int s = 0; s < _used; s++)
        {
            ref readonly var r = ref _records[s];
            if (r.Name is not null && pfn >= r.Start && pfn < r.End && r.Seq < bestSeq) (best, bestSeq) = (r.Name, r.Seq);
        }
        return best;
    }

    private int TakeSlot()
    {
        if (_freeHead != 0)
        {
            int slot = _freeHead - 1;
            _freeHead = _records[slot].Next;
            return slot;
        }
        if (_used == _records.Length) Array.Resize(ref _records, _records.Length * 2);
        return _used++;
    }

    private void FreeSlot(int slot)
    {
        _records[slot] = new Record { Next = _freeHead };
        _freeHead = slot + 1;
    }
}

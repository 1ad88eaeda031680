namespace GupSim.Memory;

/// <summary>
/// struct per_cpu_pages (include/linux/mmzone.h) of one zone for cpu 0, the only CPU GupSim's page allocator has:
/// <c>lists[]</c> (v5.11–v5.13: one per MIGRATE_PCPTYPES migratetype, order 0 only; v5.14+: NR_PCP_LISTS indexed by
/// order_to_pindex()), <c>count</c> in pages, <c>high</c>, <c>batch</c> and (v5.14+) <c>free_factor</c>. Each list entry
/// keeps the page's pcppage migratetype (set_pcppage_migratetype()), which free_pcppages_bulk() hands to
/// __free_one_page().
/// </summary>
/// <remarks>
/// GupSim keeps one thing the kernel does not: an index of the blocks on all lists (block start and order), so
/// <see cref="Contains"/> — "is this pfn a free page on the pcp?", asked for every stray store that reaches a struct
/// page (docs/architecture.md, "What a stray write hits") — costs one lookup per pcp order instead of a walk of the
/// lists. The kernel never asks it (a pcp page carries no flag; only the list knows it).
/// </remarks>
internal sealed class PerCpuPages
{
    /// <summary>Block start pfn &lt;&lt; 4 | order → how many times that block is on a list (a double free lists it twice).</summary>
    private readonly Dictionary<ulong, int> _blocks = [];
    private readonly int[] _orders;

    /// <param name="lists">NR_PCP_LISTS of the version.</param>
    /// <param name="batch">pcp->batch.</param>
    /// <param name="high">pcp->high.</param>
    /// <param name="pindexToOrder">pindex_to_order() of the version (null: every list holds order-0 pages, v5.11).</param>
    public PerCpuPages(int lists, int batch, int high, Func<int, int>? pindexToOrder = null)
    {
        Lists = new PcpList[lists];
        var orders = new List<int>();
        for (int i = 0; i < lists; i++)
        {
            int order = pindexToOrder?.Invoke(i) ?? 0;
            Lists[i] = new PcpList(this, order);
            if (!orders.Contains(order)) orders.Add(order);
        }
        _orders = [.. orders];
        Batch = batch;
        High = high;
    }

    /// <summary>pcp->lists[].</summary>
    public PcpList[] Lists { get; }
    /// <summary>pcp->count: pages on all lists.</summary>
    public int Count;
    /// <summary>pcp->high.</summary>
    public int High;
    /// <summary>pcp->batch.</summary>
    public int Batch;
    /// <summary>pcp->free_factor (v5.14+ nr_pcp_free()).</summary>
    public int FreeFactor;

    /// <summary>
    /// Whether <paramref name="pfn"/> lies in a block on one of the lists: a block of order o on a pcp list starts at
    /// a multiple of 2^o (it came from the buddy or was freed as such), so for each order the lists hold there is one
    /// candidate start, <c>pfn &amp; ~(2^o − 1)</c>. O(number of pcp orders): 1 on v5.11, 5 on v5.14+.
    /// </summary>
    public bool Contains(ulong pfn)
    {
        if (Count == 0 || _blocks.Count == 0) return false;
        foreach (int order in _orders)
        {
            ulong start = pfn & ~((1UL << order) - 1);
            if (_blocks.ContainsKey(Key(start, order))) return true;
        }
        return false;
    }

    private static ulong Key(ulong start, int order) => (start << 4) | (uint)order;

    internal void Added(ulong pfn, int order)
    {
        ulong k = Key(pfn, order);
        _blocks[k] = _blocks.TryGetValue(k, out int n) ? n + 1 : 1;
    }

    internal void Removed(ulong pfn, int order)
    {
        ulong k = Key(pfn, order);
        int n = _blocks[k];
        if (n == 1) _blocks.Remove(k);
        else _blocks[k] = n - 1;
    }
}

/// <summary>One pcp list: a deque of (pfn, pcppage migratetype), head at index 0, of blocks of one order.</summary>
internal sealed class PcpList
{
    private readonly PerCpuPages _owner;
    private readonly int _order;
    private ulong[] _items = new ulong[16];
    private int _head, _count;

    public PcpList(PerCpuPages owner, int order)
    {
        _owner = owner;
        _order = order;
    }

    public int Count => _count;
    public bool IsEmpty => _count == 0;

    private static ulong Pack(ulong pfn, MigrateType mt) => (pfn << 3) | (ulong)mt;

    public void AddHead(ulong pfn, MigrateType mt)
    {
        Grow();
        _head = (_head - 1 + _items.Length) % _items.Length;
        _items[_head] = Pack(pfn, mt);
        _count++;
        _owner.Added(pfn, _order);
    }

    public void AddTail(ulong pfn, MigrateType mt)
    {
        Grow();
        _items[(_head + _count) % _items.Length] = Pack(pfn, mt);
        _count++;
        _owner.Added(pfn, _order);
    }

    public (ulong Pfn, MigrateType Mt) RemoveHead()
    {
        ulong v = _items[_head];
        _head = (_head + 1) % _items.Length;
        _count--;
        _owner.Removed(v >> 3, _order);
        return (v >> 3, (MigrateType)(v & 7));
    }

    public (ulong Pfn, MigrateType Mt) RemoveTail()
    {
        ulong v = _items[(_head + _count - 1) % _items.Length];
        _count--;
        _owner.Removed(v >> 3, _order);
        return (v >> 3, (MigrateType)(v & 7));
    }

    /// <summary>The i-th entry from the head.</summary>
    public ulong PfnAt(int i) => _items[(_head + i) % _items.Length] >> 3;

    private void Grow()
    {
        if (_count < _items.Length) return;
        var n = new ulong[_items.Length * 2];
        for (int i = 0; i < _count; i++) n[i] = _items[(_head + i) % _items.Length];
        _items = n;
        _head = 0;
    }
}

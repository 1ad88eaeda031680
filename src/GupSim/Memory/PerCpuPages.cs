namespace GupSim.Memory;

/// <summary>
/// struct per_cpu_pages (include/linux/mmzone.h) of one zone for cpu 0, the only CPU GupSim's page allocator has:
/// <c>lists[]</c> (v5.11–v5.13: one per MIGRATE_PCPTYPES migratetype, order 0 only; v5.14+: NR_PCP_LISTS indexed by
/// order_to_pindex()), <c>count</c> in pages, <c>high</c>, <c>batch</c> and (v5.14+) <c>free_factor</c>. Each list entry
/// keeps the page's pcppage migratetype (set_pcppage_migratetype()), which free_pcppages_bulk() hands to
/// __free_one_page().
/// </summary>
internal sealed class PerCpuPages
{
    public PerCpuPages(int lists, int batch, int high)
    {
        Lists = new PcpList[lists];
        for (int i = 0; i < lists; i++) Lists[i] = new PcpList();
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
}

/// <summary>One pcp list: a deque of (pfn, pcppage migratetype), head at index 0.</summary>
internal sealed class PcpList
{
    private ulong[] _items = new ulong[16];
    private int _head, _count;

    public int Count => _count;
    public bool IsEmpty => _count == 0;

    private static ulong Pack(ulong pfn, MigrateType mt) => (pfn << 3) | (ulong)mt;

    public void AddHead(ulong pfn, MigrateType mt)
    {
        Grow();
        _head = (_head - 1 + _items.Length) % _items.Length;
        _items[_head] = Pack(pfn, mt);
        _count++;
    }

    public void AddTail(ulong pfn, MigrateType mt)
    {
        Grow();
        _items[(_head + _count) % _items.Length] = Pack(pfn, mt);
        _count++;
    }

    public (ulong Pfn, MigrateType Mt) RemoveHead()
    {
        ulong v = _items[_head];
        _head = (_head + 1) % _items.Length;
        _count--;
        return (v >> 3, (MigrateType)(v & 7));
    }

    public (ulong Pfn, MigrateType Mt) RemoveTail()
    {
        ulong v = _items[(_head + _count - 1) % _items.Length];
        _count--;
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

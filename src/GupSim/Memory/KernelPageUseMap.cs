namespace GupSim.Memory;

/// <summary>
/// GupSim's record of <see cref="KernelPageUse"/> per pfn (not a kernel structure: the kernel knows a page's use from
/// its flags and page type; GupSim keeps what the allocator said when it took the page). Pages of
/// 2^<see cref="PageShift"/> pfns, one byte each, made when a pfn in them is first marked, so memory grows with the
/// pfns kernel allocations have touched, not with the machine's size; a mark and a lookup are one array access after
/// a dictionary lookup of the page (the last page used is remembered). Not thread-safe: the caller locks.
/// </summary>
internal sealed class KernelPageUseMap
{
    /// <summary>log2 of the pfns one page of the map covers (4096: 16 MiB of 4 KiB pages in 4 KiB of map).</summary>
    public const int PageShift = 12;

    private readonly Dictionary<ulong, byte[]> _pages = [];
    private ulong _lastKey = ulong.MaxValue;
    private byte[]? _last;

    /// <summary>Pfns whose use is not <see cref="KernelPageUse.None"/>.</summary>
    public long Count { get; private set; }

    /// <summary>The use recorded for <paramref name="pfn"/> (None when nothing is).</summary>
    public KernelPageUse Get(ulong pfn)
    {
        var page = Page(pfn >> PageShift, create: false);
        return page is null ? KernelPageUse.None : (KernelPageUse)page[(int)(pfn & ((1UL << PageShift) - 1))];
    }

    /// <summary>Records <paramref name="use"/> for [<paramref name="pfn"/>, +<paramref name="count"/>) (None forgets).</summary>
    public void Set(ulong pfn, ulong count, KernelPageUse use)
    {
        byte b = (byte)use;
        ulong end = pfn + count;
        while (pfn < end)
        {
            ulong key = pfn >> PageShift;
            ulong pageEnd = Math.Min(end, (key + 1) << PageShift);
            var page = Page(key, create: use != KernelPageUse.None);
            if (page is not null)
            {
                for (int i = (int)(pfn & ((1UL << PageShift) - 1)), n = i + (int)(pageEnd - pfn); i < n; i++)
                {
                    byte old = page[i];
                    if (old == b) continue;
                    Count += old == 0 ? 1 : b == 0 ? -1 : 0;
                    page[i] = b;
                }
            }
            pfn = pageEnd;
        }
    }

    private byte[]? Page(ulong key, bool create)
    {
        if (key == _lastKey) return _last;
        if (!_pages.TryGetValue(key, out var page))
        {
            if (!create) return null;
            _pages.Add(key, page = new byte[1 << PageShift]);
        }
        _lastKey = key;
        _last = page;
        return page;
    }
}

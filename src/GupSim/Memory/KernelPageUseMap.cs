namespace GupSim.Memory;

/// <summary>
/// GupSim's record of <see cref="KernelPageUse"/> per pfn (not a kernel structure: the kernel knows a page's use from
/// its flags and page type; GupSim keeps what the allocator said when it took the page): one byte per pfn in
/// <see cref="PfnPages{T}"/> blocks made when a pfn in them is first marked. Not thread-safe: the caller locks.
/// </summary>
internal sealed class KernelPageUseMap
{
    private readonly PfnPages<byte> _pages = new();

    /// <summary>Pfns whose use is not <see cref="KernelPageUse.None"/>.</summary>
    public long Count { get; private set; }

    /// <summary>The use recorded for <paramref name="pfn"/> (None when nothing is).</summary>
    public KernelPageUse Get(ulong pfn)
    {
        var page = _pages.Block(pfn, create: false);
        return page is null ? KernelPageUse.None : (KernelPageUse)page[PfnPages<byte>.IndexOf(pfn)];
    }

    /// <summary>Records <paramref name="use"/> for [<paramref name="pfn"/>, +<paramref name="count"/>) (None forgets).</summary>
    public void Set(ulong pfn, ulong count, KernelPageUse use)
    {
        byte b = (byte)use;
        ulong end = pfn + count;
        while (pfn < end)
        {
            ulong pageEnd = Math.Min(end, ((pfn >> PfnPages<byte>.Shift) + 1) << PfnPages<byte>.Shift);
            var page = _pages.Block(pfn, create: use != KernelPageUse.None);
            if (page is not null)
            {
                for (int i = PfnPages<byte>.IndexOf(pfn), n = i + (int)(pageEnd - pfn); i < n; i++)
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
}

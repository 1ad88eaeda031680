using System.Globalization;
using GupSim.Arch;
using GupSim.Core;

namespace GupSim.Hugetlb;

/// <summary>
/// struct hstate (include/linux/hugetlb.h): one huge page size with its pool counters and free lists.
/// Counters are the kernel's: nr_huge_pages, free_huge_pages, resv_huge_pages, surplus_huge_pages, and
/// max_huge_pages (the persistent target written through nr_hugepages).
/// </summary>
public sealed class Hstate
{
    private readonly Dictionary<int, LinkedList<ulong>> _freeLists = [];

    internal Hstate(ArchProfile arch, HugePageSize size)
    {
        Size = size;
        Order = size.Order(arch.PageShift);
        PageShift = arch.PageShift;
        // hstate_is_gigantic(): order >= MAX_ORDER (v5.11, exclusive MAX_ORDER; the same test as v6.4's order > MAX_ORDER).
        IsGigantic = Order >= arch.MaxOrder;
    }

    /// <summary>The size and how it is mapped.</summary>
    public HugePageSize Size { get; }
    /// <summary>huge_page_order().</summary>
    public int Order { get; }
    /// <summary>PAGE_SHIFT of the machine.</summary>
    public int PageShift { get; }
    /// <summary>hstate_is_gigantic().</summary>
    public bool IsGigantic { get; }
    /// <summary>huge_page_size().</summary>
    public ulong HugePageSizeBytes => Size.Bytes;
    /// <summary>huge_page_mask(): ~(huge_page_size − 1).</summary>
    public ulong Mask => ~(Size.Bytes - 1);
    /// <summary>huge_page_shift().</summary>
    public int Shift => Order + PageShift;

    /// <summary>
    /// page->index of this hstate's page at huge-page index <paramref name="hugeIndex"/> of its file or mapping
    /// (vma_hugecache_offset(), linear_hugepage_index()), as add_to_page_cache() and __page_set_anon_rmap() store it:
    /// the huge index itself before v6.7, in base pages from v6.7 (<see cref="Arch.KernelVersion.HugetlbIndexInBasePages"/>).
    /// </summary>
    public ulong PageIndex(ulong hugeIndex, Arch.KernelVersion version) =>
        version.HugetlbIndexInBasePages ? hugeIndex << Order : hugeIndex;
    /// <summary>pages_per_huge_page().</summary>
    public ulong PagesPerHugePage => 1UL << Order;
    /// <summary>The sysfs directory name: "hugepages-2048kB".</summary>
    public string Name => string.Create(CultureInfo.InvariantCulture, $"hugepages-{Size.Bytes >> 10}kB");

    /// <summary>max_huge_pages.</summary>
    public ulong MaxHugePages { get; internal set; }
    /// <summary>nr_huge_pages.</summary>
    public ulong NrHugePages { get; internal set; }
    /// <summary>free_huge_pages.</summary>
    public ulong FreeHugePages { get; internal set; }
    /// <summary>resv_huge_pages.</summary>
    public ulong ResvHugePages { get; internal set; }
    /// <summary>surplus_huge_pages.</summary>
    public ulong SurplusHugePages { get; internal set; }
    /// <summary>nr_overcommit_huge_pages.</summary>
    public ulong NrOvercommitHugePages { get; internal set; }

    /// <summary>Persistent pages: nr_huge_pages − surplus_huge_pages.</summary>
    public ulong PersistentHugePages => NrHugePages - SurplusHugePages;

    /// <summary>Head pfns on node <paramref name="nid"/>'s free list, list head first.</summary>
    public IReadOnlyCollection<ulong> FreeList(int nid) => _freeLists.TryGetValue(nid, out var l) ? l : [];

    /// <summary>enqueue_huge_page(): list_move to the head of the node's free list.</summary>
    internal void Enqueue(int nid, ulong headPfn)
    {
        if (!_freeLists.TryGetValue(nid, out var l)) _freeLists[nid] = l = new LinkedList<ulong>();
        l.AddFirst(headPfn);
        FreeListStamp++;
        FreeHugePages++;
    }

    /// <summary>dequeue_huge_page_node_exact(): takes the first page of the node's free list.</summary>
    internal bool TryDequeue(int nid, out ulong headPfn)
    {
        headPfn = 0;
        if (!_freeLists.TryGetValue(nid, out var l) || l.First is null) return false;
        headPfn = l.First.Value;
        l.RemoveFirst();
        FreeListStamp++;
        FreeHugePages--;
        return true;
    }

    /// <summary>
    /// dequeue_huge_page_node_exact() with a filter: the first page of the node's free list that
    /// <paramref name="acceptable"/> allows (v5.9+ skips CMA pages under PF_MEMALLOC_NOCMA, v5.13+ unpinnable pages
    /// under PF_MEMALLOC_PIN).
    /// </summary>
    internal bool TryDequeue(int nid, Func<ulong, bool> acceptable, out ulong headPfn)
    {
        headPfn = 0;
        if (!_freeLists.TryGetValue(nid, out var l)) return false;
        for (var n = l.First; n is not null; n = n.Next)
        {
            if (!acceptable(n.Value)) continue;
            headPfn = n.Value;
            l.Remove(n);
            FreeListStamp++;
            FreeHugePages--;
            return true;
        }
        return false;
    }

    /// <summary>Bumped on every change of a free list (a machine checkpoint restores the lists only when it moved).</summary>
    internal long FreeListStamp { get; private set; }

    /// <summary>The pool counters and free lists as they are now (for <see cref="RestorePool"/>).</summary>
    internal PoolState CapturePool()
    {
        var lists = new List<(int Nid, ulong[] Heads)>(_freeLists.Count);
        foreach (var (nid, l) in _freeLists) lists.Add((nid, [.. l]));
        return new PoolState(MaxHugePages, NrHugePages, FreeHugePages, ResvHugePages, SurplusHugePages, NrOvercommitHugePages, FreeListStamp, lists);
    }

    /// <summary>Puts the pool counters back, and the free lists (in their order) when they changed since <paramref name="s"/>.</summary>
    internal void RestorePool(PoolState s)
    {
        (MaxHugePages, NrHugePages, FreeHugePages, ResvHugePages, SurplusHugePages, NrOvercommitHugePages) =
            (s.Max, s.Nr, s.Free, s.Resv, s.Surplus, s.Overcommit);
        if (FreeListStamp == s.FreeListStamp) return;
        _freeLists.Clear();
        foreach (var (nid, heads) in s.FreeLists) _freeLists[nid] = new LinkedList<ulong>(heads);
        FreeListStamp = s.FreeListStamp;
    }

    /// <summary>A saved pool: counters, free lists, and the free-list stamp they go with.</summary>
    internal sealed record PoolState(ulong Max, ulong Nr, ulong Free, ulong Resv, ulong Surplus, ulong Overcommit, long FreeListStamp, List<(int Nid, ulong[] Heads)> FreeLists);

    /// <summary>Nodes with a free page, lowest first.</summary>
    internal IEnumerable<int> NodesWithFree() => _freeLists.Where(kv => kv.Value.Count > 0).Select(kv => kv.Key).Order();

    /// <summary>"1G", "2M".</summary>
    public override string ToString() => ByteSize.Format(Size.Bytes);
}

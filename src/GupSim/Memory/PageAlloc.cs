using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory;

/// <summary>
/// The page allocator of mm/page_alloc.c for one machine: get_page_from_freelist() over the zonelist, rmqueue() with
/// the per-cpu lists of cpu 0, __rmqueue() (CMA balance, __rmqueue_smallest(), expand(), __rmqueue_fallback() with
/// fallbacks[] and steal_suitable_fallback(); v6.18's __rmqueue_claim()/__rmqueue_steal()), free_pages_prepare()
/// with the version's CONFIG_DEBUG_VM gating, __free_one_page() with its merge and to-tail rules, FPI_TO_TAIL for
/// boot (memblock_free_all()) and onlining (generic_online_page()), and the onlining sequence of
/// mm/memory_hotplug.c online_pages(). The free lists and pageblock migratetypes are <see cref="Zone"/>'s state.
/// Watermarks, reclaim, compaction, HIGHATOMIC reserves, page shuffling and other CPUs are not modelled
/// (docs/architecture.md, "Page allocator").
/// </summary>
public sealed class PageAlloc
{
    [Flags]
    private enum AllocFlags
    {
        None = 0,
        /// <summary>ALLOC_CMA.</summary>
        Cma = 1,
        /// <summary>ALLOC_NOFRAGMENT.</summary>
        NoFragment = 2,
    }

    /// <summary>v6.18 __rmqueue()'s rmqueue_mode.</summary>
    private enum RmqueueMode { Normal, Cma, Claim, Steal }

    private const int PageAllocCostlyOrder = 3;

    // fallbacks[] (mm/page_alloc.c), the same from v5.11 to v6.18.
    private static readonly MigrateType[][] Fallbacks =
    [
        [MigrateType.Reclaimable, MigrateType.Movable],   // UNMOVABLE
        [MigrateType.Reclaimable, MigrateType.Unmovable], // MOVABLE
        [MigrateType.Unmovable, MigrateType.Movable],     // RECLAIMABLE
    ];

    private readonly Machine _m;
    private readonly Dictionary<(int Nid, ZoneType Lowest, bool Movable), (int Zones, List<Zone> List, bool NoFragment)> _zonelists = [];

    internal PageAlloc(Machine m) => _m = m;

    /// <summary>
    /// Bumped by every operation that may change the free lists, the per-cpu lists or the pageblock migratetypes:
    /// a machine checkpoint does not journal the page allocator, it refuses the rollback when this moved.
    /// </summary>
    internal long ModStamp;

    private KernelVersion V => _m.Version;

    /// <summary>MAX_ORDER in the v5.11 sense (exclusive).</summary>
    public int MaxOrder => _m.Arch.MaxOrder;

    /// <summary>pageblock_order; capped at MAX_ORDER − 1 from v5.18 (the arch value already respects it on x86_64 and arm64).</summary>
    public int PageblockOrder => Math.Min(_m.Arch.PageblockOrder, MaxOrder - 1);

    private ulong PageblockNrPages => 1UL << PageblockOrder;

    /// <summary>CONFIG_DEBUG_VM.</summary>
    private bool DebugVm => _m.Spec.DebugVm;

    /// <summary>v6.4 (700d2e9a36b9): check_pages_enabled, on only with DEBUG_VM among what GupSim models.</summary>
    private bool CheckPagesEnabled => Memory.FreePagesPrepare.CheckPagesEnabled(V, DebugVm);

    private bool ChecksGatedByStaticKey => V.HasCheckPagesStaticKey;

    /// <summary>v5.14 (44042b449872): orders 0–3 and pageblock_order (with THP) on the per-cpu lists.</summary>
    private bool HighOrderPcp => V >= KernelVersion.V5_14;

    /// <summary>v6.10 free-page accounting consolidation: NR_FREE_PAGES moves with every list change, pcppage migratetype caching gone (unverified).</summary>
    private bool ImmediateFreeAccounting => V >= KernelVersion.FromNumbers(6, 10);

    /// <summary>Wires a zone to this allocator (pageblock size, list owner).</summary>
    internal void Attach(Zone z)
    {
        ModStamp++;
        if (ReferenceEquals(z.PageAlloc, this)) return;
        z.PageAlloc = this;
        z.PageblockOrder = PageblockOrder;
    }

    // =============================================================== allocation

    /// <summary>
    /// __alloc_pages_nodemask()'s get_page_from_freelist() for a block of 2^order pages: the zonelist of
    /// <paramref name="nid"/> (that node's zones from the highest the gfp allows down to <paramref name="lowestZone"/>,
    /// then the other nodes'), rmqueue() on each until one serves. ALLOC_NOFRAGMENT (alloc_flags_nofragment()) is
    /// set when the preferred zone is ZONE_NORMAL with a populated ZONE_DMA32 (on NUMA, of the same node); it is
    /// dropped, and the zonelist walked again, when the walk would leave the preferred node or found nothing.
    /// </summary>
    internal bool TryAlloc(int order, int nid, Gfp gfp, ZoneType lowestZone, bool allowCma, out ulong pfn, out Zone? zone)
    {
        ModStamp++;
        pfn = 0;
        zone = null;
        if (order < 0 || order >= MaxOrder) return false;
        var mt = gfp.Migratetype();
        bool movableZone = (gfp & Gfp.Movable) != 0;
        var (zones, nofrag) = Zonelist(nid, lowestZone, movableZone);
        if (zones.Count == 0) return false;
        var preferred = zones[0];
        var flags = allowCma ? AllocFlags.Cma : AllocFlags.None;
        if (nofrag) flags |= AllocFlags.NoFragment;
    retry:
        foreach (var z in zones)
        {
            if ((flags & AllocFlags.NoFragment) != 0 && _m.Nodes.Count > 1 && !ReferenceEquals(z, preferred) && z.Nid != preferred.Nid)
            {
                flags &= ~AllocFlags.NoFragment;
                goto retry;
            }
            Attach(z);
            bool ok;
            lock (z.Lock) ok = Rmqueue(z, order, mt, flags, out pfn);
            if (ok)
            {
                zone = z;
                return true;
            }
        }
        if ((flags & AllocFlags.NoFragment) != 0)
        {
            flags &= ~AllocFlags.NoFragment;
            goto retry;
        }
        return false;
    }

    /// <summary>
    /// The zonelist walk order (ZONELIST_FALLBACK, node order: preferred node first, then by nid), and whether
    /// alloc_flags_nofragment() sets ALLOC_NOFRAGMENT for its preferred zone. Cached until the zone count changes.
    /// </summary>
    private (List<Zone> List, bool NoFragment) Zonelist(int nid, ZoneType lowestZone, bool movableZone)
    {
        int count = 0;
        foreach (var n in _m.Nodes) count += n.Zones.Count;
        lock (_zonelists)
        {
            if (_zonelists.TryGetValue((nid, lowestZone, movableZone), out var c) && c.Zones == count) return (c.List, c.NoFragment);
            var (list, nofrag) = BuildZonelist(nid, lowestZone, movableZone);
            _zonelists[(nid, lowestZone, movableZone)] = (count, list, nofrag);
            return (list, nofrag);
        }
    }

    private (List<Zone> List, bool NoFragment) BuildZonelist(int nid, ZoneType lowestZone, bool movableZone)
    {
        var list = new List<Zone>();
        foreach (var node in _m.Nodes.OrderBy(n => n.Nid == nid ? 0 : 1).ThenBy(n => n.Nid))
            for (int zi = node.Zones.Count - 1; zi >= 0; zi--)
            {
                var z = node.Zones[zi];
                if (z.Type < lowestZone || z.Type == ZoneType.HighMem || (z.Type == ZoneType.Movable && !movableZone)) continue;
                list.Add(z);
            }
        bool nofrag = false;
        if (list.Count > 0 && list[0].Type == ZoneType.Normal)
        {
            var node = _m.Nodes.First(n => n.Nid == list[0].Nid);
            bool dma32 = node.Zones.Any(z => z.Type == ZoneType.Dma32 && z.PresentPages > 0);
            nofrag = _m.Nodes.Count == 1 || dma32;
        }
        return (list, nofrag);
    }

    /// <summary>pcp_allowed_order(): order 0 (v5.11–v5.13); orders ≤ PAGE_ALLOC_COSTLY_ORDER and pageblock_order with THP (v5.14+).</summary>
    internal bool PcpAllowedOrder(int order) =>
        order == 0 || (HighOrderPcp && (order <= PageAllocCostlyOrder || order == PageblockOrder));

    /// <summary>
    /// rmqueue(): per-cpu lists for the orders they hold (not for a MOVABLE request without ALLOC_CMA: that list may
    /// hold CMA pages), else the zone's lists under zone->lock: __rmqueue().
    /// </summary>
    private bool Rmqueue(Zone z, int order, MigrateType mt, AllocFlags flags, out ulong pfn)
    {
        if (PcpAllowedOrder(order) && ((flags & AllocFlags.Cma) != 0 || mt != MigrateType.Movable))
            return RmqueuePcplist(z, order, mt, flags, out pfn);
        var mode = RmqueueMode.Normal;
        return RmqueueCore(z, order, mt, flags, z.FreePages, ref mode, out pfn);
    }

    /// <summary>
    /// rmqueue_pcplist() / __rmqueue_pcplist(): the head of the list; an empty list is refilled with rmqueue_bulk()
    /// of pcp->batch blocks (v5.14+: max(batch &gt;&gt; order, 2) when batch &gt; 1).
    /// </summary>
    private bool RmqueuePcplist(Zone z, int order, MigrateType mt, AllocFlags flags, out ulong pfn)
    {
        var pcp = EnsurePcp(z);
        if (HighOrderPcp) pcp.FreeFactor >>= 1;
        var list = pcp.Lists[OrderToPindex(mt, order)];
        if (list.IsEmpty)
        {
            int batch = pcp.Batch;
            if (HighOrderPcp && batch > 1) batch = Math.Max(batch >> order, 2);
            int alloced = RmqueueBulk(z, order, batch, list, mt, flags);
            pcp.Count += alloced << order;
            if (list.IsEmpty)
            {
                pfn = 0;
                return false;
            }
        }
        (pfn, _) = list.RemoveHead();
        pcp.Count -= 1 << order;
        return true;
    }

    /// <summary>
    /// rmqueue_bulk(): <paramref name="count"/> blocks from __rmqueue(), each appended to the tail of the pcp list in
    /// the order they come (so a fresh split lies ascending). Before v6.10 NR_FREE_PAGES is only brought down after
    /// the loop, so the CMA balance inside sees the count from before it.
    /// </summary>
    private int RmqueueBulk(Zone z, int order, int count, PcpList list, MigrateType mt, AllocFlags flags)
    {
        ulong freeBefore = z.FreePages;
        var mode = RmqueueMode.Normal;
        int i = 0;
        for (; i < count; i++)
        {
            if (!RmqueueCore(z, order, mt, flags, ImmediateFreeAccounting ? z.FreePages : freeBefore, ref mode, out ulong p, out var pcpMt)) break;
            list.AddTail(p, pcpMt);
        }
        return i;
    }

    private bool RmqueueCore(Zone z, int order, MigrateType mt, AllocFlags flags, ulong nrFreePages, ref RmqueueMode mode, out ulong pfn) =>
        RmqueueCore(z, order, mt, flags, nrFreePages, ref mode, out pfn, out _);

    /// <summary>
    /// __rmqueue(): with ALLOC_CMA and more than half of the zone's free pages in CMA (v5.6+), CMA first; then
    /// __rmqueue_smallest() of the request's type, CMA, and __rmqueue_fallback() followed by a retry (v5.11–v6.17),
    /// or v6.18's modes: smallest, CMA, __rmqueue_claim(), __rmqueue_steal() (not under ALLOC_NOFRAGMENT).
    /// <paramref name="pcpMt"/> is what set_pcppage_migratetype() records: the list the block came from.
    /// </summary>
    private bool RmqueueCore(Zone z, int order, MigrateType mt, AllocFlags flags, ulong nrFreePages, ref RmqueueMode mode, out ulong pfn, out MigrateType pcpMt)
    {
        bool cma = (flags & AllocFlags.Cma) != 0;
        if (cma && z.FreeCmaPages > nrFreePages / 2 && RmqueueSmallest(z, order, MigrateType.Cma, out pfn))
        {
            pcpMt = MigrateType.Cma;
            return true;
        }
        if (V < KernelVersion.V6_18)
        {
            while (true)
            {
                if (RmqueueSmallest(z, order, mt, out pfn))
                {
                    pcpMt = mt;
                    return true;
                }
                if (cma && RmqueueSmallest(z, order, MigrateType.Cma, out pfn))
                {
                    pcpMt = MigrateType.Cma;
                    return true;
                }
                if (!RmqueueFallback(z, order, mt, flags)) break;
            }
            pcpMt = mt;
            return false;
        }
        // v6.18
        if (mode == RmqueueMode.Normal)
        {
            if (RmqueueSmallest(z, order, mt, out pfn))
            {
                pcpMt = mt;
                return true;
            }
            mode = RmqueueMode.Cma;
        }
        if (mode == RmqueueMode.Cma)
        {
            if (cma && RmqueueSmallest(z, order, MigrateType.Cma, out pfn))
            {
                pcpMt = MigrateType.Cma;
                return true;
            }
            mode = RmqueueMode.Claim;
        }
        if (mode == RmqueueMode.Claim)
        {
            if (RmqueueClaim(z, order, mt, flags, out pfn))
            {
                mode = RmqueueMode.Normal;
                pcpMt = mt;
                return true;
            }
            mode = RmqueueMode.Steal;
        }
        if ((flags & AllocFlags.NoFragment) == 0 && RmqueueSteal(z, order, mt, out pfn, out pcpMt)) return true;
        pfn = 0;
        pcpMt = mt;
        return false;
    }

    /// <summary>__rmqueue_smallest(): the head of the first non-empty <paramref name="mt"/> list of order ≥ <paramref name="order"/>, split by <see cref="Expand"/>.</summary>
    internal static bool RmqueueSmallest(Zone z, int order, MigrateType mt, out ulong pfn)
    {
        for (int o = order; o < z.MaxOrder; o++)
        {
            if (!z.TryGetHead(o, mt, out pfn)) continue;
            z.DelFromFreeList(pfn, o);
            Expand(z, pfn, order, o, mt);
            return true;
        }
        pfn = 0;
        return false;
    }

    /// <summary>
    /// expand(): the block at <paramref name="pfn"/> of order <paramref name="high"/> keeps its lowest 2^low pages
    /// for the caller; each upper half, from the largest down, goes to the head of the <paramref name="mt"/> list one
    /// order below (an order-10 split for order 0 leaves +512, +256, … +1 at the list heads).
    /// </summary>
    internal static void Expand(Zone z, ulong pfn, int low, int high, MigrateType mt)
    {
        ulong size = 1UL << high;
        while (high > low)
        {
            high--;
            size >>= 1;
            z.AddToFreeList(pfn + size, high, mt, tail: false);
        }
    }

    /// <summary>can_steal_fallback(): whole-pageblock stealing for big blocks and for unmovable/reclaimable requests.</summary>
    private bool CanStealFallback(int order, MigrateType startMt) =>
        order >= PageblockOrder || order >= PageblockOrder / 2 || startMt == MigrateType.Reclaimable || startMt == MigrateType.Unmovable;

    /// <summary>find_suitable_fallback(): the first fallbacks[] type with a non-empty list at this order, or −1.</summary>
    private int FindSuitableFallback(Zone z, int order, MigrateType mt, bool onlyStealable, out bool canSteal)
    {
        canSteal = false;
        if (z.AreaEmpty(order)) return -1;
        foreach (var f in Fallbacks[(int)mt])
        {
            if (z.FreeListOf(order, f).IsEmpty) continue;
            if (CanStealFallback(order, mt)) canSteal = true;
            if (!onlyStealable) return (int)f;
            if (canSteal) return (int)f;
        }
        return -1;
    }

    /// <summary>
    /// __rmqueue_fallback() (v5.11–v6.17): search from MAX_ORDER − 1 down (to pageblock_order under
    /// ALLOC_NOFRAGMENT) for a fallback type's block; a MOVABLE request that may not steal the whole block searches
    /// smallest first instead; then <see cref="StealSuitableFallback"/> on the list head.
    /// </summary>
    private bool RmqueueFallback(Zone z, int order, MigrateType startMt, AllocFlags flags)
    {
        int minOrder = (flags & AllocFlags.NoFragment) != 0 ? PageblockOrder : order;
        int current, fallbackMt = -1;
        bool canSteal = false;
        for (current = MaxOrder - 1; current >= minOrder; current--)
        {
            fallbackMt = FindSuitableFallback(z, current, startMt, false, out canSteal);
            if (fallbackMt == -1) continue;
            if (!canSteal && startMt == MigrateType.Movable && current > order) goto findSmallest;
            goto doSteal;
        }
        return false;
    findSmallest:
        for (current = order; current < MaxOrder; current++)
        {
            fallbackMt = FindSuitableFallback(z, current, startMt, false, out canSteal);
            if (fallbackMt != -1) break;
        }
        if (current == MaxOrder) return false;
    doSteal:
        z.TryGetHead(current, (MigrateType)fallbackMt, out ulong page);
        StealSuitableFallback(z, page, current, startMt, canSteal);
        return true;
    }

    /// <summary>
    /// steal_suitable_fallback() (v5.11): a found block of order ≥ pageblock_order retypes all its pageblocks; else,
    /// when the whole block may be stolen, move_freepages_block() moves the pageblock's free pages to the tail of the
    /// request's lists and the pageblock is retyped when its free plus compatible pages reach half a pageblock; the
    /// found block itself goes to the tail of the request's list (move_to_free_list()).
    /// </summary>
    private void StealSuitableFallback(Zone z, ulong pfn, int currentOrder, MigrateType startType, bool wholeBlock)
    {
        var oldBlockType = z.GetPageblockMigratetype(pfn);
        if (oldBlockType == MigrateType.HighAtomic) goto singlePage;
        if (currentOrder >= PageblockOrder)
        {
            ChangePageblockRange(z, pfn, currentOrder, startType);
            goto singlePage;
        }
        // boost_watermark(): watermarks are not modelled.
        if (!wholeBlock) goto singlePage;
        ulong freePages = MoveFreepagesBlock(z, pfn, startType, out ulong movablePages);
        ulong alike = startType == MigrateType.Movable ? movablePages
            : oldBlockType == MigrateType.Movable ? PageblockNrPages - (freePages + movablePages) : 0;
        if (freePages == 0) goto singlePage;
        if (freePages + alike >= PageblockNrPages / 2) z.SetPageblockMigratetype(pfn, startType);
        return;
    singlePage:
        z.MoveToFreeList(pfn, currentOrder, startType);
    }

    /// <summary>
    /// v6.18 __rmqueue_claim(): largest first (from pageblock_order under ALLOC_NOFRAGMENT), only orders where
    /// should_try_claim_block() holds; try_to_claim_block() takes a whole block of order ≥ pageblock_order (retyped,
    /// split onto the request's lists) or claims the pageblock when free + compatible ≥ half of it and serves from
    /// the request's lists.
    /// </summary>
    private bool RmqueueClaim(Zone z, int order, MigrateType startMt, AllocFlags flags, out ulong pfn)
    {
        int minOrder = order < PageblockOrder && (flags & AllocFlags.NoFragment) != 0 ? PageblockOrder : order;
        for (int current = MaxOrder - 1; current >= minOrder; current--)
        {
            if (z.AreaEmpty(current)) continue;
            if (!CanStealFallback(current, startMt)) break; // should_try_claim_block() false: -2
            int fallbackMt = FindSuitableFallback(z, current, startMt, true, out _);
            if (fallbackMt == -1) continue;
            z.TryGetHead(current, (MigrateType)fallbackMt, out ulong page);
            if (TryToClaimBlock(z, page, current, order, startMt, (MigrateType)fallbackMt, out pfn)) return true;
        }
        pfn = 0;
        return false;
    }

    private bool TryToClaimBlock(Zone z, ulong page, int currentOrder, int order, MigrateType startType, MigrateType blockType, out ulong pfn)
    {
        if (currentOrder >= PageblockOrder)
        {
            z.DelFromFreeList(page, currentOrder);
            ChangePageblockRange(z, page, currentOrder, startType);
            Expand(z, page, order, currentOrder, startType);
            pfn = page;
            return true;
        }
        ulong start = page & ~(PageblockNrPages - 1);
        pfn = 0;
        if (!z.Spans(start) || !z.Spans(start + PageblockNrPages - 1)) return false;
        CountPageblock(z, start, out ulong freePages, out ulong movablePages);
        ulong alike = startType == MigrateType.Movable ? movablePages
            : blockType == MigrateType.Movable ? PageblockNrPages - (freePages + movablePages) : 0;
        if (freePages + alike < PageblockNrPages / 2) return false;
        MoveFreepagesBlock(z, page, startType, out _);
        z.SetPageblockMigratetype(start, startType);
        return RmqueueSmallest(z, order, startType, out pfn);
    }

    /// <summary>v6.18 __rmqueue_steal(): smallest first, a fallback type's head split onto the fallback type's own lists.</summary>
    private bool RmqueueSteal(Zone z, int order, MigrateType startMt, out ulong pfn, out MigrateType pcpMt)
    {
        for (int current = order; current < MaxOrder; current++)
        {
            int fallbackMt = FindSuitableFallback(z, current, startMt, false, out _);
            if (fallbackMt == -1) continue;
            z.TryGetHead(current, (MigrateType)fallbackMt, out pfn);
            z.DelFromFreeList(pfn, current);
            Expand(z, pfn, order, current, (MigrateType)fallbackMt);
            pcpMt = (MigrateType)fallbackMt;
            return true;
        }
        pfn = 0;
        pcpMt = startMt;
        return false;
    }

    /// <summary>change_pageblock_range(): every pageblock of the order-<paramref name="order"/> block becomes <paramref name="mt"/>.</summary>
    private void ChangePageblockRange(Zone z, ulong pfn, int order, MigrateType mt)
    {
        ulong n = order > PageblockOrder ? 1UL << (order - PageblockOrder) : 1;
        for (ulong i = 0; i < n; i++) z.SetPageblockMigratetype(pfn + (i << PageblockOrder), mt);
    }

    /// <summary>
    /// move_freepages_block(): every free block starting in the pageblock of <paramref name="pfn"/> moves to the tail
    /// of the <paramref name="mt"/> list of its order; <paramref name="movablePages"/> counts the other pages that
    /// are PageLRU or __PageMovable. Returns the pages moved (0 when the pageblock's end is outside the zone).
    /// </summary>
    internal ulong MoveFreepagesBlock(Zone z, ulong pfn, MigrateType mt, out ulong movablePages)
    {
        ModStamp++;
        movablePages = 0;
        ulong start = pfn & ~(PageblockNrPages - 1), end = start + PageblockNrPages - 1;
        if (!z.Spans(start)) start = pfn;
        if (!z.Spans(end)) return 0;
        ulong moved = 0;
        var sp = _m.StructPages;
        for (ulong p = start; p <= end;)
        {
            int order = BuddyOrderAt(z, p);
            if (order < 0)
            {
                if (IsMovablePage(sp, p)) movablePages++;
                p++;
                continue;
            }
            z.MoveToFreeList(p, order, mt);
            p += 1UL << order;
            moved += 1UL << order;
        }
        return moved;
    }

    private void CountPageblock(Zone z, ulong start, out ulong freePages, out ulong movablePages)
    {
        freePages = movablePages = 0;
        var sp = _m.StructPages;
        for (ulong p = start; p < start + PageblockNrPages;)
        {
            int order = BuddyOrderAt(z, p);
            if (order < 0)
            {
                if (IsMovablePage(sp, p)) movablePages++;
                p++;
                continue;
            }
            p += 1UL << order;
            freePages += 1UL << order;
        }
    }

    /// <summary>PageBuddy() + buddy_order(): the order of the free block starting at <paramref name="pfn"/>, or −1.</summary>
    private static int BuddyOrderAt(Zone z, ulong pfn)
    {
        for (int o = 0; o < z.MaxOrder; o++)
        {
            if ((pfn & ((1UL << o) - 1)) != 0) break;
            if (z.IsBuddy(pfn, o)) return o;
        }
        return -1;
    }

    /// <summary>PageLRU(page) || __PageMovable(page) as move_freepages() counts them.</summary>
    private bool IsMovablePage(StructPages sp, ulong pfn)
    {
        var page = _m.PfnToPage(Pfn.FromUInt64(pfn));
        if ((sp.Flags(page) & (1UL << PageFlagBits.Lru)) != 0) return true;
        return (sp.Mapping(page) & 3) == 2; // PAGE_MAPPING_MOVABLE without PAGE_MAPPING_ANON
    }

    // =============================================================== per-cpu lists

    /// <summary>NR_PCP_LISTS of the version.</summary>
    private int NrPcpLists => !HighOrderPcp ? GfpExtensions.MigratePcptypes
        : V < KernelVersion.V6_1 ? GfpExtensions.MigratePcptypes * (PageAllocCostlyOrder + 2)
        : V < KernelVersion.V6_6 ? GfpExtensions.MigratePcptypes * (PageAllocCostlyOrder + 1) + 1
        : GfpExtensions.MigratePcptypes * (PageAllocCostlyOrder + 1) + 2;

    /// <summary>
    /// order_to_pindex(): v5.11 the migratetype; v5.14 MIGRATE_PCPTYPES × order + mt with pageblock_order after order
    /// 3; v6.1 one THP list for every migratetype; v6.6 THP lists movable / other.
    /// </summary>
    private int OrderToPindex(MigrateType mt, int order)
    {
        if (!HighOrderPcp) return (int)mt;
        int nLow = GfpExtensions.MigratePcptypes * (PageAllocCostlyOrder + 1);
        if (order > PageAllocCostlyOrder)
        {
            if (V < KernelVersion.V6_1) return nLow + (int)mt;
            if (V < KernelVersion.V6_6) return nLow;
            return nLow + (mt == MigrateType.Movable ? 1 : 0);
        }
        return GfpExtensions.MigratePcptypes * order + (int)mt;
    }

    /// <summary>pindex_to_order().</summary>
    private int PindexToOrder(int pindex)
    {
        if (!HighOrderPcp) return 0;
        int order = pindex / GfpExtensions.MigratePcptypes;
        return order > PageAllocCostlyOrder ? PageblockOrder : order;
    }

    private PerCpuPages EnsurePcp(Zone z)
    {
        if (z.Pcp is { } p) return p;
        var (batch, high) = PcpBatchHigh(z);
        z.Pcp = new PerCpuPages(NrPcpLists, batch, high, PindexToOrder);
        return z.Pcp;
    }

    /// <summary>
    /// zone_set_pageset_high_and_batch(): batch = zone_batchsize(); high = 6 × batch (v5.11–v5.13) or
    /// zone_highsize() = max(low watermark / CPUs of the node (1), 4 × batch) (v5.14+).
    /// </summary>
    internal (int Batch, int High) PcpBatchHigh(Zone z)
    {
        int batch = ZoneBatchsize(z.ManagedPages, _m.Arch.PageSize);
        if (!HighOrderPcp) return (Math.Max(1, batch), 6 * batch);
        batch = Math.Max(1, batch);
        long high = Math.Max((long)LowWmarkPages(z), (long)batch << 2);
        return (batch, (int)Math.Min(high, int.MaxValue));
    }

    /// <summary>
    /// zone_batchsize(): min(managed / 1024, 1 MiB of pages) / 4 (at least 1), then rounddown_pow_of_two(b + b/2) − 1:
    /// 63 for zones of about 688 MiB and more with 4 KiB pages.
    /// </summary>
    public static int ZoneBatchsize(ulong managedPages, ulong pageSize)
    {
        ulong b = Math.Min(managedPages / 1024, (1024 * 1024) / pageSize);
        b /= 4;
        if (b < 1) b = 1;
        ulong x = b + b / 2;
        ulong pow = 1;
        while (pow * 2 <= x) pow *= 2;
        return (int)(pow - 1);
    }

    /// <summary>
    /// low_wmark_pages() as __setup_per_zone_wmarks() leaves it: min_free_kbytes = int_sqrt(lowmem kB × 16) in
    /// [128, 262144], raised by khugepaged's set_recommended_min_free_kbytes() (THP enabled); the zone's share
    /// min = pages_min × managed / lowmem pages, low = min + max(min / 4, managed × 10 / 10000).
    /// </summary>
    internal ulong LowWmarkPages(Zone z)
    {
        ulong lowmem = 0;
        int nrZones = 0;
        foreach (var n in _m.Nodes)
            foreach (var zz in n.Zones)
            {
                if (zz.Type is ZoneType.HighMem or ZoneType.Movable) continue;
                lowmem += zz.ManagedPages;
                if (zz.PresentPages > 0) nrZones++;
            }
        ulong kbPerPage = _m.Arch.PageSize >> 10;
        ulong minFreeKbytes = ISqrt(lowmem * kbPerPage * 16);
        minFreeKbytes = Math.Clamp(minFreeKbytes, 128UL, 262144UL);
        ulong recommended = PageblockNrPages * (ulong)nrZones * 2 + PageblockNrPages * (ulong)nrZones * 9;
        recommended = Math.Min(recommended, lowmem / 20);
        recommended *= kbPerPage;
        if (recommended > minFreeKbytes) minFreeKbytes = recommended;
        ulong pagesMin = minFreeKbytes / kbPerPage;
        ulong tmp = lowmem == 0 ? 0 : (ulong)((UInt128)pagesMin * z.ManagedPages / lowmem);
        if (z.Type is ZoneType.HighMem or ZoneType.Movable)
        {
            // __setup_per_zone_wmarks(): highmem/movable get a small fixed min (SWAP_CLUSTER_MAX .. 128 pages).
            tmp = Math.Clamp(z.ManagedPages / 1024, 32UL, 128UL);
        }
        ulong scale = z.ManagedPages * 10 / 10000;
        return tmp + Math.Max(tmp >> 2, scale);
    }

    private static ulong ISqrt(ulong x)
    {
        ulong r = (ulong)Math.Sqrt(x);
        while (r * r > x) r--;
        while ((r + 1) * (r + 1) <= x) r++;
        return r;
    }

    /// <summary>Recomputes every zone's pcp batch/high (zone_pcp_update() after onlining changes managed pages and watermarks).</summary>
    internal void ZonePcpUpdateAll()
    {
        ModStamp++;
        foreach (var n in _m.Nodes)
            foreach (var z in n.Zones)
                if (z.Pcp is { } p)
                    (p.Batch, p.High) = PcpBatchHigh(z);
    }

    // =============================================================== free

    /// <summary>
    /// free_the_page() for a block whose last reference is gone: free_pages_prepare() (checks gated by the version
    /// and CONFIG_DEBUG_VM), then the per-cpu list for the orders it holds (free_unref_page()) or __free_one_page()
    /// (__free_pages_ok()). A dirty block is reported with bad_page() and leaked. Reports of pages a pcp drain found
    /// dirty are returned too.
    /// </summary>
    internal IReadOnlyList<string> FreePages(Zone z, ulong pfn, int order, out bool leaked)
    {
        ModStamp++;
        Attach(z);
        // PERF: the reports are gathered in a list kept for the thread (none, nearly always) and copied out when there are any.
        var reports = t_freeReports is { Count: 0 } r ? r : new List<string>();
        t_freeReports = null;
        try
        {
            leaked = !FreePagesCore(z, pfn, order, reports);
            return reports.Count == 0 ? [] : reports.ToArray();
        }
        finally
        {
            reports.Clear();
            t_freeReports = reports;
        }
    }

    [ThreadStatic]
    private static List<string>? t_freeReports;

    /// <summary>The body of <see cref="FreePages(Zone, ulong, int, out bool)"/>; false when the block was leaked.</summary>
    private bool FreePagesCore(Zone z, ulong pfn, int order, List<string> reports)
    {
        bool pcp = PcpAllowedOrder(order);
        // __free_pages_ok() asks for the head check; free_pcp_prepare() only with DEBUG_VM; v6.4+ only with the key.
        bool checkFree = ChecksGatedByStaticKey ? CheckPagesEnabled : !pcp || DebugVm;
        if (!FreePagesPrepare(pfn, order, checkFree, reports)) return false;
        lock (z.Lock)
        {
            var mt = z.GetPageblockMigratetype(pfn);
            if (pcp) FreeUnrefPage(z, pfn, order, mt, reports);
            else FreeOnePage(z, pfn, order, mt, toTail: false);
        }
        return true;
    }

    /// <summary>
    /// free_pages_prepare(): tails of a compound block get free_tail_pages_check() (its verdict counts only with
    /// CONFIG_DEBUG_VM; mapping and compound_head are cleared either way) and check_free_page() (v6.4+: only with
    /// the check_pages_enabled key); the head is checked when <paramref name="checkFree"/>. PAGE_FLAGS_CHECK_AT_PREP
    /// are cleared on clean pages. False when a page was bad (the block is leaked).
    /// </summary>
    private bool FreePagesPrepare(ulong pfn, int order, bool checkFree, List<string> reports)
    {
        var sp = _m.StructPages;
        var head = _m.PfnToPage(Pfn.FromUInt64(pfn));
        bool tailChecks = Memory.FreePagesPrepare.TailChecksReal(DebugVm);
        bool freeCheck = !ChecksGatedByStaticKey || CheckPagesEnabled;
        ulong prepMask = PageFlagBits.CheckAtPrepFor(_m.Arch.BitsPerLong);
        int bad = 0;
        if (order > 0)
        {
            bool compound = sp.PageCompound(head);
            // v6.6 (ebc1baf5c9b4) keeps the order in the low byte of page[1].flags (_flags_1); free_pages_prepare()
            // clears PAGE_FLAGS_SECOND there before the tails are checked.
            if (compound && V >= KernelVersion.V6_6) sp.SetCompoundOrder(head, 0);
            for (long i = 1; i < 1L << order; i++)
            {
                var page = _m.PageAdd(head, i);
                if (compound && sp.FreeTailPagesCheck(head, page, i, _m.Arch.TailMapping) is { } tailReason && tailChecks)
                {
                    reports.Add(sp.BadPage(page, tailReason));
                    bad++;
                }
                if (freeCheck && sp.CheckFreePage(page) is { } reason)
                {
                    reports.Add(sp.BadPage(page, reason));
                    bad++;
                    continue;
                }
                sp.SetFlags(page, sp.Flags(page) & ~prepMask);
            }
        }
        // "if (PageMappingFlags(page)) page->mapping = NULL" — an anonymous page's anon_vma pointer.
        if ((sp.Mapping(head) & StructPages.PageMappingFlags) != 0) sp.SetMapping(head, 0);
        if (checkFree && sp.CheckFreePage(head) is { } headReason)
        {
            reports.Add(sp.BadPage(head, headReason));
            bad++;
        }
        if (bad > 0) return false;
        sp.SetFlags(head, sp.Flags(head) & ~prepMask);
        return true;
    }

    /// <summary>
    /// free_unref_page_commit(): an ISOLATE pageblock's page goes straight to the buddy; otherwise to the head of
    /// the pcp list (HIGHATOMIC and CMA pages on the MOVABLE list, keeping their pcppage migratetype), and when
    /// pcp->count reaches high, free_pcppages_bulk() of batch (v5.11) or nr_pcp_free() (v5.14+) pages.
    /// </summary>
    private void FreeUnrefPage(Zone z, ulong pfn, int order, MigrateType mt, List<string> reports)
    {
        if (mt == MigrateType.Isolate)
        {
            FreeOnePage(z, pfn, order, mt, toTail: false);
            return;
        }
        var listMt = (int)mt >= GfpExtensions.MigratePcptypes ? MigrateType.Movable : mt;
        var pcp = EnsurePcp(z);
        pcp.Lists[OrderToPindex(listMt, order)].AddHead(pfn, mt);
        pcp.Count += 1 << order;
        if (pcp.Count < pcp.High) return;
        int n = HighOrderPcp ? NrPcpFree(pcp, pcp.High, pcp.Batch) : pcp.Batch;
        FreePcppagesBulk(z, n, pcp, reports);
    }

    /// <summary>nr_pcp_free() (v5.14): batch &lt;&lt; free_factor clamped to [batch, high − batch]; free_factor grows while frees run ahead of allocations.</summary>
    private static int NrPcpFree(PerCpuPages pcp, int high, int batch)
    {
        if (high < batch) return 1;
        int minNr = batch, maxNr = high - batch;
        long b = (long)batch << Math.Min(pcp.FreeFactor, 30);
        if (b < maxNr) pcp.FreeFactor++;
        return (int)Math.Clamp(b, minNr, Math.Max(minNr, maxNr));
    }

    /// <summary>
    /// free_pcppages_bulk(): <paramref name="count"/> pages (at most pcp->count) taken from list tails round-robin
    /// starting after list 0 (MOVABLE in v5.11), more from lists found non-empty after empty ones (batch_free); each
    /// checked by bulkfree_pcp_prepare() (check_free_page() without DEBUG_VM before v6.4) and handed to
    /// __free_one_page() with its pcppage migratetype (the pageblock's when some pageblock is isolated).
    /// </summary>
    private void FreePcppagesBulk(Zone z, int count, PerCpuPages pcp, List<string>? reports)
    {
        count = Math.Min(count, pcp.Count);
        int n = pcp.Lists.Length;
        int pindex = 0, batchFree = 0;
        var drained = new List<(ulong Pfn, int Order, MigrateType Mt)>(count);
        bool bulkCheck = !ChecksGatedByStaticKey && !DebugVm;
        var sp = _m.StructPages;
        while (count > 0)
        {
            PcpList list;
            do
            {
                batchFree++;
                if (++pindex == n) pindex = 0;
                list = pcp.Lists[pindex];
            } while (list.IsEmpty);
            if (batchFree == n) batchFree = count;
            int order = PindexToOrder(pindex);
            int nrPages = 1 << order;
            do
            {
                var (pfn, mt) = list.RemoveTail();
                count -= nrPages;
                pcp.Count -= nrPages;
                if (bulkCheck && sp.CheckFreePage(_m.PfnToPage(Pfn.FromUInt64(pfn))) is { } reason)
                {
                    string r = sp.BadPage(_m.PfnToPage(Pfn.FromUInt64(pfn)), reason);
                    reports?.Add(r);
                    continue;
                }
                drained.Add((pfn, order, mt));
            } while (count > 0 && --batchFree > 0 && !list.IsEmpty);
        }
        bool isolated = z.NrIsolatePageblock > 0;
        foreach (var (pfn, order, cached) in drained)
        {
            var mt = isolated || ImmediateFreeAccounting ? z.GetPageblockMigratetype(pfn) : cached;
            FreeOnePage(z, pfn, order, mt, toTail: false);
        }
    }

    /// <summary>drain_pages_zone() for cpu 0: every page on the zone's pcp lists back to the buddy.</summary>
    internal void DrainZone(Zone z, List<string>? reports = null)
    {
        ModStamp++;
        if (z.Pcp is not { Count: > 0 } pcp) return;
        lock (z.Lock) FreePcppagesBulk(z, pcp.Count, pcp, reports);
    }

    /// <summary>
    /// __free_one_page(): merge with the free buddy at each order up to min(MAX_ORDER − 1, pageblock_order), then on
    /// to MAX_ORDER − 1 unless an ISOLATE pageblock is on one side only (v5.11); from v5.18 (1dd214b8f21c) no merge at
    /// or above pageblock_order between different migratetypes when one is ISOLATE, CMA or HIGHATOMIC. The block goes
    /// to the tail with <paramref name="toTail"/> (FPI_TO_TAIL) or when buddy_merge_likely() (the next-higher buddy is
    /// free, order &lt; MAX_ORDER − 2), else to the head.
    /// </summary>
    internal void FreeOnePage(Zone z, ulong pfn, int order, MigrateType mt, bool toTail)
    {
        ModStamp++;
        bool v518 = V >= KernelVersion.V5_18;
        int maxOrder = v518 ? MaxOrder - 1 : Math.Min(MaxOrder - 1, PageblockOrder);
        while (true)
        {
            while (order < maxOrder)
            {
                ulong buddy = pfn ^ (1UL << order);
                if (!z.IsBuddy(buddy, order)) goto doneMerging;
                if (v518 && order >= PageblockOrder)
                {
                    var buddyMt = z.GetPageblockMigratetype(buddy);
                    if (mt != buddyMt && (!IsMergeable(mt) || !IsMergeable(buddyMt))) goto doneMerging;
                }
                z.DelFromFreeList(buddy, order);
                pfn &= buddy;
                order++;
            }
            if (v518 || order >= MaxOrder - 1) break;
            if (z.NrIsolatePageblock > 0)
            {
                ulong buddy = pfn ^ (1UL << order);
                var buddyMt = z.GetPageblockMigratetype(buddy);
                if (mt != buddyMt && (mt == MigrateType.Isolate || buddyMt == MigrateType.Isolate)) goto doneMerging;
            }
            maxOrder = order + 1;
        }
    doneMerging:
        bool tail = toTail || BuddyMergeLikely(z, pfn, order);
        z.AddToFreeList(pfn, order, mt, tail);
    }

    /// <summary>migratetype_is_mergeable(): mt &lt; MIGRATE_PCPTYPES.</summary>
    private static bool IsMergeable(MigrateType mt) => (int)mt < GfpExtensions.MigratePcptypes;

    /// <summary>buddy_merge_likely(): order &lt; MAX_ORDER − 2 and the buddy of the combined block one order up is free at that order.</summary>
    private bool BuddyMergeLikely(Zone z, ulong pfn, int order)
    {
        if (order >= MaxOrder - 2) return false;
        ulong buddy = pfn ^ (1UL << order);
        ulong combined = buddy & pfn;
        ulong higherBuddy = combined ^ (1UL << (order + 1));
        return z.IsBuddy(higherBuddy, order + 1);
    }

    // =============================================================== boot, CMA, onlining

    /// <summary>
    /// memblock_free_all() for one free range of a zone (mm/memblock.c __free_pages_memory()): ascending blocks of
    /// min(MAX_ORDER − 1, __ffs(pfn)) pages that fit, each through __free_pages_core() (FPI_TO_TAIL) into the
    /// pageblock's migratetype list. Stretches of whole MAX_ORDER blocks in untouched (MOVABLE) pageblocks are
    /// appended in one step, which is what that many order-(MAX_ORDER − 1) tail frees do: no buddy to merge with.
    /// </summary>
    internal void FreeRangeCore(Zone z, ulong start, ulong end)
    {
        ModStamp++;
        Attach(z);
        ulong top = 1UL << (MaxOrder - 1);
        ulong pfn = start;
        lock (z.Lock)
            while (pfn < end)
            {
                if ((pfn & (top - 1)) == 0 && end - pfn >= top)
                {
                    ulong n = (end - pfn) / top;
                    ulong stop = pfn + n * top;
                    // A top-order block never merges (MAX_ORDER − 1 is the last order), so the bulk path is exact.
                    if (z.AllPageblocksDefault(pfn, stop))
                    {
                        z.AddRunToTail(pfn, n, MaxOrder - 1, MigrateType.Movable);
                        pfn = stop;
                        continue;
                    }
                }
                int order = LargestOrder(pfn, end - pfn);
                FreeOnePage(z, pfn, order, z.GetPageblockMigratetype(pfn), toTail: true);
                pfn += 1UL << order;
            }
    }

    private int LargestOrder(ulong pfn, ulong pages)
    {
        int order = MaxOrder - 1;
        while (order > 0 && (((pfn & ((1UL << order) - 1)) != 0) || (1UL << order) > pages)) order--;
        return order;
    }

    /// <summary>
    /// cma_activate_area() → init_cma_reserved_pageblock() for [start, end): each pageblock becomes MIGRATE_CMA and is
    /// freed with __free_pages(page, pageblock_order) (in MAX_ORDER − 1 pieces when pageblock_order is larger): no
    /// FPI_TO_TAIL, so pairs merge and the merged block goes to the head; v5.14+ puts pageblock_order frees on the
    /// per-cpu list first.
    /// </summary>
    internal void InitCmaReservedPageblocks(Zone z, ulong start, ulong end)
    {
        ModStamp++;
        Attach(z);
        z.MarkCma(start, end);
        ulong pb = PageblockNrPages;
        int order = Math.Min(PageblockOrder, MaxOrder - 1);
        // cma_init_reserved_areas() is a core_initcall, before init_per_zone_wmark_min() (postcore) sets the
        // watermarks: pcp->high is still zone_highsize() with a zero low watermark, batch << 2 (v5.14+), so a
        // pageblock_order free reaches high at once and drains itself.
        var pcp = EnsurePcp(z);
        int high = pcp.High;
        if (HighOrderPcp) pcp.High = pcp.Batch << 2;
        for (ulong p = start; p < end; p += pb)
        {
            lock (z.Lock)
            {
                z.SetPageblockMigratetype(p, MigrateType.Cma);
                for (ulong q = p; q < p + pb && q < end; q += 1UL << order)
                {
                    if (PcpAllowedOrder(order)) FreeUnrefPage(z, q, order, MigrateType.Cma, []);
                    else FreeOnePage(z, q, order, MigrateType.Cma, toTail: false);
                }
            }
        }
        pcp.High = high;
    }

    /// <summary>
    /// online_pages() (mm/memory_hotplug.c) for [start, end) of <paramref name="z"/>: move_pfn_range_to_zone(…,
    /// MIGRATE_ISOLATE) makes the pageblocks ISOLATE; online_pages_range() frees ascending chunks of MAX_ORDER − 1
    /// (v5.14+: min(MAX_ORDER − 1, __ffs(pfn))) through generic_online_page() → __free_pages_core() (FPI_TO_TAIL) to
    /// the tail of the ISOLATE lists; undo_isolate_page_range(…, MIGRATE_MOVABLE) then moves each pageblock's free
    /// pages to the tail of the MOVABLE lists (move_freepages_block()) and makes it MOVABLE; zone_pcp_update().
    /// </summary>
    public void OnlinePages(Zone z, ulong start, ulong end)
    {
        ModStamp++;
        Attach(z);
        ulong pb = PageblockNrPages;
        lock (z.Lock)
        {
            for (ulong p = start & ~(pb - 1); p < end; p += pb) z.SetPageblockMigratetype(p, MigrateType.Isolate);
            for (ulong pfn = start; pfn < end;)
            {
                // v5.11: MAX_ORDER_NR_PAGES steps (sections are aligned to them); v5.14: min(MAX_ORDER - 1, __ffs(pfn)).
                int order = MaxOrder - 1;
                if (V >= KernelVersion.V5_14 && pfn != 0) order = Math.Min(order, System.Numerics.BitOperations.TrailingZeroCount(pfn));
                while (order > 0 && pfn + (1UL << order) > end) order--;
                FreeOnePage(z, pfn, order, MigrateType.Isolate, toTail: true);
                pfn += 1UL << order;
            }
            for (ulong p = start & ~(pb - 1); p < end; p += pb) UnsetMigratetypeIsolate(z, p, MigrateType.Movable);
        }
        ZonePcpUpdateAll();
    }

    /// <summary>
    /// unset_migratetype_isolate(): a free block of order in [pageblock_order, MAX_ORDER − 1) whose buddy is not
    /// isolated is taken off and put back with __putback_isolated_page() (FPI_TO_TAIL) so it can merge; otherwise
    /// move_freepages_block() to the tail of <paramref name="mt"/>; the pageblock becomes <paramref name="mt"/>.
    /// </summary>
    private void UnsetMigratetypeIsolate(Zone z, ulong pfn, MigrateType mt)
    {
        if (z.GetPageblockMigratetype(pfn) != MigrateType.Isolate) return;
        int order = BuddyOrderAt(z, pfn);
        bool isolatedPage = false;
        if (order >= PageblockOrder && order < MaxOrder - 1)
        {
            ulong buddy = pfn ^ (1UL << order);
            if (z.GetPageblockMigratetype(buddy) != MigrateType.Isolate)
            {
                z.DelFromFreeList(pfn, order);
                isolatedPage = true;
            }
        }
        if (!isolatedPage) MoveFreepagesBlock(z, pfn, mt, out _);
        z.SetPageblockMigratetype(pfn, mt);
        if (isolatedPage) FreeOnePage(z, pfn, order, mt, toTail: true);
    }

    // =============================================================== alloc_contig_range

    /// <summary>
    /// The isolation step of alloc_contig_range(): drain_all_pages(zone) (pcp pages back to the buddy), then every
    /// page of [start, end) off the free lists; the parts of straddling blocks outside the range go back with
    /// __free_one_page() page by page, ascending (free_contig_range() of the outer pieces). Fails, changing nothing
    /// but the drain, unless every page is free.
    /// </summary>
    internal bool TryTakeRange(Zone z, ulong start, ulong end)
    {
        ModStamp++;
        Attach(z);
        DrainZone(z);
        lock (z.Lock)
        {
            if (!z.IsRangeFree(start, end)) return false;
            ulong pfn = start;
            while (pfn < end)
            {
                z.TryFindFreeBlock(pfn, out ulong b, out int o);
                ulong blockEnd = b + (1UL << o);
                var mt = z.DelFromFreeList(b, o);
                for (ulong p = b; p < start; p++) FreeOnePage(z, p, 0, mt, toTail: false);
                for (ulong p = end; p < blockEnd; p++) FreeOnePage(z, p, 0, mt, toTail: false);
                pfn = blockEnd;
            }
        }
        return true;
    }

    /// <summary>
    /// Whether <paramref name="pfn"/> is on a pcp list of its zone (for describing an address and classifying a stray
    /// store): one index lookup per pcp order (<see cref="PerCpuPages.Contains"/>), not a walk of the lists.
    /// </summary>
    public bool IsOnPcpList(Zone z, ulong pfn) => z.Pcp is { } pcp && pcp.Contains(pfn);

    /// <summary>The pfns on cpu 0's pcp list for (<paramref name="mt"/>, <paramref name="order"/>), head first (tests).</summary>
    public IReadOnlyList<ulong> PcpListPfns(Zone z, MigrateType mt, int order)
    {
        if (z.Pcp is not { } pcp) return [];
        var l = pcp.Lists[OrderToPindex(mt, order)];
        var r = new ulong[l.Count];
        for (int i = 0; i < l.Count; i++) r[i] = l.PfnAt(i);
        return r;
    }

    /// <summary>pcp->batch and pcp->high of cpu 0 for the zone (made on first use).</summary>
    public (int Batch, int High) PcpLimits(Zone z)
    {
        Attach(z);
        var p = EnsurePcp(z);
        return (p.Batch, p.High);
    }

    /// <summary>Throws when the pfn is in no zone.</summary>
    internal Zone ZoneOf(ulong pfn) => _m.ZoneOfPfn(pfn) ?? throw new GupSimException($"free_pages: pfn 0x{pfn:x} is in no zone");
}

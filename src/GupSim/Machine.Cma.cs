using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim;

public sealed partial class Machine
{
    /// <summary>The contiguous memory allocator (mm/cma.c) and its areas.</summary>
    public Cma Cma => _cma ??= new Cma(this);
    private Cma? _cma;

    // current->flags & (PF_MEMALLOC_NOCMA | PF_MEMALLOC_PIN): per thread, as the kernel's is per task.
    [ThreadStatic] private static Machine? t_memallocPinScope;

    /// <summary>The CMA areas, activated at boot (cma_init_reserved_areas()): <see cref="Cma.Areas"/>.</summary>
    public IReadOnlyList<CmaArea> CmaAreas => Cma.Areas;

    /// <summary>totalcma_pages: <see cref="Cma.TotalCmaPages"/>.</summary>
    public ulong TotalCmaPages => Cma.TotalCmaPages;

    /// <summary>NR_FREE_CMA_PAGES over all zones.</summary>
    public ulong FreeCmaPagesTotal => Nodes.SelectMany(n => n.Zones).Aggregate(0UL, (a, z) => a + z.FreeCmaPages);

    /// <summary>Whether a pfn lies in a MIGRATE_CMA pageblock: <see cref="Cma.IsCmaPfn"/>.</summary>
    public bool IsCmaPfn(ulong pfn) => Cma.IsCmaPfn(pfn);

    /// <summary>
    /// memalloc_nocma_save() (before v5.13) / memalloc_pin_save() (v5.13+): until <see cref="MemallocPinRestore"/>,
    /// allocations on this thread get no ALLOC_CMA, and from v5.13 lose __GFP_MOVABLE (current_gfp_context()), so
    /// they come neither from CMA pageblocks nor from ZONE_MOVABLE. Returns the state to restore.
    /// </summary>
    internal Machine? MemallocPinSave()
    {
        var old = t_memallocPinScope;
        t_memallocPinScope = this;
        return old;
    }

    /// <summary>memalloc_nocma_restore() / memalloc_pin_restore().</summary>
    internal static void MemallocPinRestore(Machine? old) => t_memallocPinScope = old;

    /// <summary>Whether this thread is inside <see cref="MemallocPinSave"/> for this machine.</summary>
    internal bool InMemallocPinScope => ReferenceEquals(t_memallocPinScope, this);

    /// <summary>
    /// What a page allocation may use, from its gfp (<paramref name="movable"/> = __GFP_MOVABLE) and the task's
    /// memalloc scope: ZONE_MOVABLE needs __GFP_MOVABLE (gfp_zone()); CMA pageblocks need ALLOC_CMA, which movable
    /// allocations get unless PF_MEMALLOC_NOCMA/PIN is set (current_alloc_flags()/gfp_to_alloc_flags_cma()).
    /// </summary>
    private (bool MovableZone, bool Cma) AllocPolicy(bool movable)
    {
        if (!movable) return (false, false);
        if (!InMemallocPinScope) return (true, true);
        return (!Version.LongtermPinsMigrateMovable, false);
    }

    /// <summary>
    /// setup_arch()'s dma_contiguous_reserve() (<c>cma=</c>, kernel/dma/contiguous.c), declaring its area with
    /// <see cref="Cma.CmaDeclareContiguousNid"/>.
    /// </summary>
    private void BootDmaContiguousReserve()
    {
        if (Spec.Cma is { } cma) Cma.CmaDeclareContiguousNid("reserved", cma.Bytes, cma.Base, -1, 0, "--cma", out _);
    }

    /// <summary>
    /// hugetlb_cma_reserve() (mm/hugetlb.c, v5.7+): <c>hugetlb_cma=</c> split evenly over the nodes, each part rounded
    /// up to and aligned on the largest gigantic page size, one area "hugetlbN" per node.
    /// </summary>
    private void BootHugetlbCmaReserve()
    {
        if (Spec.HugetlbCmaBytes == 0) return;
        var gigantic = Arch.HugePageSizes.Where(s => s.Order(Arch.PageShift) >= Arch.MaxOrder).Select(s => s.Bytes).DefaultIfEmpty(0UL).Max();
        if (gigantic == 0)
        {
            Log("hugetlb_cma: no gigantic huge page size on this arch, ignored");
            return;
        }
        var nids = Spec.Ram.Nodes.Select(n => n.Nid).Distinct().Order().ToList();
        ulong perNode = (Spec.HugetlbCmaBytes + (ulong)nids.Count - 1) / (ulong)nids.Count;
        perNode = (perNode + gigantic - 1) & ~(gigantic - 1);
        foreach (int nid in nids)
            Cma.CmaDeclareContiguousNid($"hugetlb{nid}", perNode, null, nid, gigantic, "--hugetlb-cma", out _);
    }

    /// <summary>
    /// cma_init_reserved_areas() (<see cref="Cma.CmaInitReservedAreas"/>): an area that spans zones is not activated
    /// and its pages are freed to the zones as ordinary ones.
    /// </summary>
    private void BootActivateCma() => Cma.CmaInitReservedAreas(a => FreeRangeToZones(a.BasePfn, a.EndPfn));

    /// <summary>
    /// find_zone_movable_pfns_for_nodes() (mm/page_alloc.c) for <c>kernelcore=</c>/<c>movablecore=</c>: the
    /// kernel's share is spread evenly over the nodes, counted from each node's lowest pfn (memory below the start of
    /// the highest populated zone counts as kernel memory anyway); ZONE_MOVABLE starts where a node's share ends,
    /// rounded up to MAX_ORDER_NR_PAGES, and takes the rest of that zone and node.
    /// </summary>
    private void BootZoneMovable()
    {
        if (Spec.MovableCore is not { } mc) return;
        ulong total = 0;
        foreach (var r in Memblock.Memory) total += r.Size >> Arch.PageShift;
        ulong mo = Arch.MaxOrderNrPages;
        ulong requiredKernel = mc.KernelcorePercent is int kp ? total * (ulong)kp / 100 : mc.KernelcoreBytes is ulong kb ? kb >> Arch.PageShift : 0;
        ulong requiredMovable = mc.MovablecorePercent is int mp ? total * (ulong)mp / 100 : mc.MovablecoreBytes is ulong mb ? mb >> Arch.PageShift : 0;
        if (requiredMovable > 0)
        {
            requiredMovable = Math.Min(total, (requiredMovable + mo - 1) / mo * mo);
            requiredKernel = Math.Max(requiredKernel, total - requiredMovable);
        }
        if (requiredKernel == 0 || requiredKernel >= total) return;
        // find_usable_zone_for_movable(): the highest zone that has memory.
        var movableZone = Nodes.SelectMany(n => n.Zones).Max(z => z.Type);
        ulong usableStart = Nodes.SelectMany(n => n.Zones).Where(z => z.Type == movableZone).Min(z => z.StartPfn);
        var zmp = new Dictionary<int, ulong>();
        var nodes = Nodes.Where(n => Memblock.Memory.Any(r => r.Nid == n.Nid)).ToList();
        int usableNodes = nodes.Count;
        do
        {
            ulong kernelcoreNode = requiredKernel / (ulong)usableNodes;
            foreach (var node in nodes)
            {
                if (requiredKernel < kernelcoreNode) kernelcoreNode = requiredKernel / (ulong)usableNodes;
                ulong remaining = kernelcoreNode;
                foreach (var r in Memblock.Memory.Where(r => r.Nid == node.Nid))
                {
                    ulong start = Math.Max(PfnOf(r.Base), zmp.GetValueOrDefault(node.Nid)), end = PfnOf(r.End);
                    if (start >= end) continue;
                    if (start < usableStart)
                    {
                        ulong kernelPages = Math.Min(end, usableStart) - start;
                        remaining -= Math.Min(kernelPages, remaining);
                        requiredKernel -= Math.Min(kernelPages, requiredKernel);
                        if (end <= usableStart)
                        {
                            zmp[node.Nid] = end;
                            continue;
                        }
                        start = usableStart;
                    }
                    ulong sizePages = Math.Min(end - start, remaining);
                    zmp[node.Nid] = start + sizePages;
                    requiredKernel -= Math.Min(requiredKernel, sizePages);
                    remaining -= sizePages;
                    if (remaining == 0) break;
                }
            }
            usableNodes--;
        } while (usableNodes > 0 && requiredKernel > (ulong)usableNodes);
        foreach (var node in nodes)
        {
            if (!zmp.TryGetValue(node.Nid, out ulong pfn)) continue;
            pfn = (pfn + mo - 1) / mo * mo;
            if (pfn >= node.EndPfn) continue;
            // adjust_zone_range_for_zone_movable(): the zone below is cut at the boundary, zones above it emptied.
            foreach (var z in node.Zones.ToList())
            {
                if (z.StartPfn >= pfn) node.Zones.Remove(z);
                else if (z.EndPfn > pfn)
                {
                    z.EndPfn = pfn;
                    z.PresentPages = PresentPagesIn(node.Nid, z.StartPfn, pfn);
                }
            }
            ulong start = Math.Max(pfn, node.StartPfn);
            node.Zones.Add(new Zone(node.Nid, ZoneType.Movable, start, node.EndPfn, Arch.MaxOrder) { PresentPages = PresentPagesIn(node.Nid, start, node.EndPfn) });
            Log(string.Create(CultureInfo.InvariantCulture, $"Movable zone start for Node {node.Nid}: 0x{PhysOf(start):x}"));
        }
    }

    private ulong PresentPagesIn(int nid, ulong startPfn, ulong endPfn)
    {
        ulong n = 0;
        foreach (var r in Memblock.Memory)
        {
            if (r.Nid != nid) continue;
            ulong a = Math.Max(PfnOf(r.Base), startPfn), b = Math.Min(PfnOf(r.End), endPfn);
            if (b > a) n += b - a;
        }
        return n;
    }

    /// <summary>
    /// alloc_gigantic_page()'s first try when hugetlb_cma= is set: <c>cma_alloc(hugetlb_cma[nid], nr_pages,
    /// huge_page_order(h))</c> (<see cref="Cma.CmaAlloc"/>) from the node's hugetlb CMA area, then the other nodes'.
    /// </summary>
    internal bool TryAllocFromHugetlbCma(ulong nrPages, int nid, out Pfn pfn)
    {
        pfn = default;
        int order = System.Numerics.BitOperations.Log2(nrPages);
        foreach (var a in Cma.Areas.Where(a => a.Name.StartsWith("hugetlb", StringComparison.Ordinal)).OrderBy(a => a.Nid == nid ? 0 : 1))
            if (Cma.CmaAlloc(a, nrPages, order, out pfn)) return true;
        return false;
    }

    /// <summary>Isolation and migration (FOLL_LONGTERM).</summary>
    internal Gup.PageMigrator Migrator => LazyInitializer.EnsureInitialized(ref _migrator, () => new Gup.PageMigrator(this));
    private Gup.PageMigrator? _migrator;

    /// <summary>Whether <c>hugetlb_cma=</c> gave any area (hugetlb_cma_size != 0: boot-time gigantic pages are then skipped).</summary>
    internal bool HasHugetlbCma => Spec.HugetlbCmaBytes != 0;
}

using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim;

/// <summary>A CMA area (struct cma, mm/cma.c): <paramref name="Count"/> pages from <paramref name="BasePfn"/>.</summary>
/// <param name="Name">"reserved" (cma=) or "hugetlb0", "hugetlb1", ... (hugetlb_cma=).</param>
/// <param name="BasePfn">First pfn.</param>
/// <param name="Count">Pages.</param>
/// <param name="Nid">Node the area was asked on (−1: any).</param>
public sealed record CmaArea(string Name, ulong BasePfn, ulong Count, int Nid)
{
    /// <summary>One past the last pfn.</summary>
    public ulong EndPfn => BasePfn + Count;
}

public sealed partial class Machine
{
    private readonly List<CmaArea> _cmaAreas = [];

    // current->flags & (PF_MEMALLOC_NOCMA | PF_MEMALLOC_PIN): per thread, as the kernel's is per task.
    [ThreadStatic] private static Machine? t_memallocPinScope;

    /// <summary>The CMA areas, activated at boot (cma_init_reserved_areas()).</summary>
    public IReadOnlyList<CmaArea> CmaAreas => _cmaAreas;

    /// <summary>totalcma_pages.</summary>
    public ulong TotalCmaPages => _cmaAreas.Aggregate(0UL, (a, c) => a + c.Count);

    /// <summary>NR_FREE_CMA_PAGES over all zones.</summary>
    public ulong FreeCmaPagesTotal => Nodes.SelectMany(n => n.Zones).Aggregate(0UL, (a, z) => a + z.FreeCmaPages);

    /// <summary>
    /// is_migrate_cma(get_pageblock_migratetype()) for a pfn: whether it lies in a MIGRATE_CMA pageblock. GupSim
    /// looks the pfn up in the activated CMA areas instead of the section's pageblock bitmap.
    /// </summary>
    public bool IsCmaPfn(ulong pfn)
    {
        foreach (var a in _cmaAreas)
            if (pfn >= a.BasePfn && pfn < a.EndPfn) return true;
        return false;
    }

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
    /// cma_declare_contiguous_nid() at boot: a fixed <c>@START</c> is reserved as given (−EBUSY if memblock already
    /// holds any of it); otherwise, on 64-bit, bottom-up from 4 GiB when RAM reaches 4 GiB + size, else the highest
    /// fitting block. Alignment is PAGE_SIZE &lt;&lt; max(MAX_ORDER − 1, pageblock_order), or
    /// <paramref name="align"/> when larger (hugetlb_cma: the gigantic page size).
    /// </summary>
    private bool ReserveCmaArea(string name, ulong bytes, ulong? fixedBase, int nid, ulong align, out CmaArea? area)
    {
        area = null;
        ulong minAlign = Arch.PageSize << Math.Max(Arch.MaxOrder - 1, Arch.PageblockOrder);
        align = Math.Max(align, minAlign);
        ulong size = (bytes + align - 1) & ~(align - 1);
        if (size == 0) return false;
        ulong phys;
        if (fixedBase is ulong b)
        {
            if ((b & (align - 1)) != 0 || !IsRam(b) || !IsRam(b + size - 1) || Memblock.IsReserved(b, b + size))
            {
                Log(string.Create(CultureInfo.InvariantCulture, $"cma: Failed to reserve {size >> 20} MiB at 0x{b:x} (not aligned to 0x{align:x}, not RAM, or busy)"));
                Warn(string.Create(CultureInfo.InvariantCulture, $"{CmaOption(name)}: cma: Failed to reserve {size >> 20} MiB at 0x{b:x}: the area must be RAM that nothing else holds, aligned to {ByteSize.Format(align)}; booting without it"));
                return false;
            }
            Memblock.Reserve(b, size, $"cma area {name}", nid);
            phys = b;
        }
        else
        {
            const ulong fourG = 1UL << 32;
            ulong end = Memblock.Memory[^1].End;
            phys = 0;
            bool found = Arch.BitsPerLong == 64 && end >= fourG + size && TryFindBottomUp(size, align, fourG, nid, out phys);
            if (found) Memblock.Reserve(phys, size, $"cma area {name}", nid);
            else if (!Memblock.TryAlloc(size, align, 0, nid, $"cma area {name}", out phys))
            {
                Log(string.Create(CultureInfo.InvariantCulture, $"cma: Failed to reserve {size >> 20} MiB"));
                Warn(string.Create(CultureInfo.InvariantCulture, $"{CmaOption(name)}: cma: Failed to reserve {size >> 20} MiB: no free {ByteSize.Format(size)} block of RAM (the machine has {ByteSize.Format(Spec.Ram.TotalBytes)}); booting without it, give a smaller size"));
                return false;
            }
        }
        area = new CmaArea(name, PfnOf(phys), size >> Arch.PageShift, nid);
        Log(string.Create(CultureInfo.InvariantCulture, $"cma: Reserved {size >> 20} MiB at 0x{phys:x16}"));
        return true;
    }

    /// <summary>The option that asked for CMA area <paramref name="name"/>: --cma for the global "reserved" area, --hugetlb-cma for hugetlbN.</summary>
    private static string CmaOption(string name) => name == "reserved" ? "--cma" : "--hugetlb-cma";

    /// <summary>memblock_alloc_range_nid() with memblock_set_bottom_up(true): the lowest fitting aligned block at or above <paramref name="min"/>.</summary>
    private bool TryFindBottomUp(ulong size, ulong align, ulong min, int nid, out ulong phys)
    {
        foreach (var r in Memblock.FreeRanges())
        {
            if (nid >= 0 && r.Nid != nid) continue;
            ulong start = (Math.Max(r.Base, min) + align - 1) & ~(align - 1);
            if (start + size <= r.End && start + size <= Memblock.CurrentLimit)
            {
                phys = start;
                return true;
            }
        }
        phys = 0;
        return false;
    }

    /// <summary>setup_arch()'s dma_contiguous_reserve(): the <c>cma=</c> area.</summary>
    private void BootDmaContiguousReserve()
    {
        if (Spec.Cma is { } cma && ReserveCmaArea("reserved", cma.Bytes, cma.Base, -1, 0, out var area)) _cmaAreas.Add(area!);
    }

    /// <summary>hugetlb_cma_reserve(): the <c>hugetlb_cma=</c> areas, split evenly over the nodes, each part aligned to the largest gigantic page size.</summary>
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
            if (ReserveCmaArea($"hugetlb{nid}", perNode, null, nid, gigantic, out var h)) _cmaAreas.Add(h!);
    }

    /// <summary>
    /// cma_init_reserved_areas() → cma_activate_area(): each area must lie in one zone; its pageblocks become
    /// MIGRATE_CMA and its pages go to the buddy (init_cma_reserved_pageblock(): PG_reserved cleared, _refcount 0,
    /// managed pages counted). An area that spans zones is not activated: its pages are freed as ordinary ones.
    /// </summary>
    private void BootActivateCma()
    {
        foreach (var a in _cmaAreas.ToList())
        {
            var zone = ZoneOfPfn(a.BasePfn);
            Memblock.Free(PhysOf(a.BasePfn), a.Count << Arch.PageShift);
            if (zone is null || !zone.Spans(a.EndPfn - 1))
            {
                Log($"cma: CMA area {a.Name} could not be activated");
                _cmaAreas.Remove(a);
                FreeRangeToZones(a.BasePfn, a.EndPfn);
                continue;
            }
            PageAlloc.InitCmaReservedPageblocks(zone, a.BasePfn, a.EndPfn);
            zone.ManagedPages += a.Count;
        }
    }

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
    /// alloc_gigantic_page()'s first try when hugetlb_cma= is set: cma_alloc() from the node's hugetlb CMA area (then
    /// the other nodes'), the first free naturally aligned range, taken with alloc_contig_range(MIGRATE_CMA).
    /// </summary>
    internal bool TryAllocFromHugetlbCma(ulong nrPages, int nid, out Pfn pfn)
    {
        pfn = default;
        foreach (var a in _cmaAreas.Where(a => a.Name.StartsWith("hugetlb", StringComparison.Ordinal)).OrderBy(a => a.Nid == nid ? 0 : 1))
        {
            for (ulong p = (a.BasePfn + nrPages - 1) & ~(nrPages - 1); p + nrPages <= a.EndPfn; p += nrPages)
            {
                if (AllocContigRange(p, p + nrPages, allowCma: true) != 0) continue;
                pfn = Pfn.FromUInt64(p);
                return true;
            }
        }
        return false;
    }

    /// <summary>Isolation and migration (FOLL_LONGTERM).</summary>
    internal Gup.PageMigrator Migrator => LazyInitializer.EnsureInitialized(ref _migrator, () => new Gup.PageMigrator(this));
    private Gup.PageMigrator? _migrator;

    /// <summary>Whether <c>hugetlb_cma=</c> gave any area (hugetlb_cma_size != 0: boot-time gigantic pages are then skipped).</summary>
    internal bool HasHugetlbCma => Spec.HugetlbCmaBytes != 0;
}

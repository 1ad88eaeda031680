using System.Globalization;
using GupSim.Core;

namespace GupSim.Memory;

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

/// <summary>
/// The contiguous memory allocator (mm/cma.c): the areas reserved from memblock at boot
/// (<see cref="CmaDeclareContiguousNid"/>), their activation into MIGRATE_CMA pageblocks of the buddy
/// (<see cref="CmaInitReservedAreas"/>), and allocation and release of page ranges inside one area
/// (<see cref="CmaAlloc"/>, <see cref="CmaRelease"/>). The callers name the areas: dma_contiguous_reserve()
/// (<c>cma=</c>, kernel/dma/contiguous.c) and hugetlb_cma_reserve() (<c>hugetlb_cma=</c>, mm/hugetlb.c) live on
/// <see cref="Machine"/>.
/// </summary>
/// <remarks>
/// GupSim keeps no per-area bitmap: <see cref="CmaAlloc"/> tries each aligned candidate with alloc_contig_range(),
/// which refuses a range any page of which is in use, so a range handed out and not released is never handed out
/// again. The areas list is <c>cma_areas[]</c>; <c>totalcma_pages</c> is <see cref="TotalCmaPages"/>.
/// </remarks>
public sealed class Cma
{
    private readonly Machine _m;
    private readonly List<CmaArea> _areas = [];

    /// <summary>The allocator of <paramref name="machine"/>, with no areas yet.</summary>
    public Cma(Machine machine) => _m = machine;

    /// <summary>Bumped by every operation that changes this subsystem's state (a machine checkpoint does not journal it).</summary>
    internal long ModStamp;

    /// <summary>cma_areas[]: the areas declared and (after boot) activated.</summary>
    public IReadOnlyList<CmaArea> Areas => _areas;

    /// <summary>totalcma_pages.</summary>
    public ulong TotalCmaPages
    {
        get
        {
            ulong n = 0;
            foreach (var a in _areas) n += a.Count;
            return n;
        }
    }

    /// <summary>
    /// is_migrate_cma(get_pageblock_migratetype()) for a pfn: whether it lies in a MIGRATE_CMA pageblock. GupSim
    /// looks the pfn up in the activated areas instead of the section's pageblock bitmap.
    /// </summary>
    public bool IsCmaPfn(ulong pfn)
    {
        foreach (var a in _areas)
            if (pfn >= a.BasePfn && pfn < a.EndPfn) return true;
        return false;
    }

    /// <summary>
    /// cma_declare_contiguous_nid() at boot: a fixed <paramref name="fixedBase"/> is reserved as given (−EBUSY if
    /// memblock already holds any of it); otherwise, on 64-bit, bottom-up from 4 GiB when RAM reaches 4 GiB + size
    /// (5.12+ sets memblock bottom-up for this), else memblock's top-down highest fitting block. Alignment is
    /// PAGE_SIZE &lt;&lt; max(MAX_ORDER − 1, pageblock_order), or <paramref name="align"/> when larger (hugetlb_cma:
    /// the gigantic page size). A declared area joins <see cref="Areas"/>.
    /// </summary>
    /// <param name="name">"reserved" (cma=) or "hugetlb0", "hugetlb1", ... (hugetlb_cma=).</param>
    /// <param name="bytes">The size asked for; rounded up to the alignment.</param>
    /// <param name="fixedBase">A fixed physical base (<c>cma=SIZE@START</c>), or null.</param>
    /// <param name="nid">The node to allocate on, −1 for any.</param>
    /// <param name="align">An alignment the caller needs, 0 for the default.</param>
    /// <param name="option">The command-line option that asked for it, for the warning ("--cma", "--hugetlb-cma").</param>
    /// <param name="area">The area, or null when nothing could be reserved.</param>
    /// <returns>Whether the area was reserved; on failure the kernel log and <see cref="Machine.Warnings"/> say why.</returns>
    public bool CmaDeclareContiguousNid(string name, ulong bytes, ulong? fixedBase, int nid, ulong align, string option, out CmaArea? area)
    {
        area = null;
        var arch = _m.Arch;
        var memblock = _m.Memblock;
        ulong minAlign = arch.PageSize << Math.Max(arch.MaxOrder - 1, arch.PageblockOrder);
        align = Math.Max(align, minAlign);
        ulong size = (bytes + align - 1) & ~(align - 1);
        if (size == 0) return false;
        ulong phys;
        if (fixedBase is ulong b)
        {
            if ((b & (align - 1)) != 0 || !_m.IsRam(b) || !_m.IsRam(b + size - 1) || memblock.IsReserved(b, b + size))
            {
                _m.Log(string.Create(CultureInfo.InvariantCulture, $"cma: Failed to reserve {size >> 20} MiB at 0x{b:x} (not aligned to 0x{align:x}, not RAM, or busy)"));
                _m.Warn(string.Create(CultureInfo.InvariantCulture, $"{option}: cma: Failed to reserve {size >> 20} MiB at 0x{b:x}: the area must be RAM that nothing else holds, aligned to {ByteSize.Format(align)}; booting without it"));
                return false;
            }
            memblock.MemblockReserve(b, size, $"cma area {name}", nid);
            phys = b;
        }
        else
        {
            const ulong fourG = 1UL << 32;
            ulong end = memblock.Memory[^1].End;
            phys = 0;
            bool found = arch.BitsPerLong == 64 && end >= fourG + size && TryFindBottomUp(size, align, fourG, nid, out phys);
            if (found) memblock.MemblockReserve(phys, size, $"cma area {name}", nid);
            else if (!memblock.MemblockAllocTryNidRaw(size, align, 0, Memblock.AllocAccessible, nid, $"cma area {name}", out phys))
            {
                _m.Log(string.Create(CultureInfo.InvariantCulture, $"cma: Failed to reserve {size >> 20} MiB"));
                _m.Warn(string.Create(CultureInfo.InvariantCulture, $"{option}: cma: Failed to reserve {size >> 20} MiB: no free {ByteSize.Format(size)} block of RAM (the machine has {ByteSize.Format(_m.Spec.Ram.TotalBytes)}); booting without it, give a smaller size"));
                return false;
            }
        }
        area = new CmaArea(name, phys >> arch.PageShift, size >> arch.PageShift, nid);
        _areas.Add(area);
        _m.Log(string.Create(CultureInfo.InvariantCulture, $"cma: Reserved {size >> 20} MiB at 0x{phys:x16}"));
        return true;
    }

    /// <summary>memblock_alloc_range_nid() with memblock_set_bottom_up(true): the lowest fitting aligned block at or above <paramref name="min"/>.</summary>
    private bool TryFindBottomUp(ulong size, ulong align, ulong min, int nid, out ulong phys)
    {
        var memblock = _m.Memblock;
        foreach (var r in memblock.FreeRanges())
        {
            if (nid >= 0 && r.Nid != nid) continue;
            ulong start = (Math.Max(r.Base, min) + align - 1) & ~(align - 1);
            if (start + size <= r.End && start + size <= memblock.CurrentLimit)
            {
                phys = start;
                return true;
            }
        }
        phys = 0;
        return false;
    }

    /// <summary>
    /// cma_init_reserved_areas() (a core_initcall): cma_activate_area() for every declared area, in order. An area
    /// that could not be activated leaves <see cref="Areas"/> and its pages go to the buddy as ordinary ones
    /// (cma_activate_area()'s <c>out_error</c>: free_reserved_page() on each), through the caller's zone code.
    /// </summary>
    /// <param name="freeAsOrdinary">Called at once for each area that failed, before the next one is activated.</param>
    public void CmaInitReservedAreas(Action<CmaArea> freeAsOrdinary)
    {
        foreach (var a in _areas.ToArray())
        {
            if (CmaActivateArea(a)) continue;
            _areas.Remove(a);
            freeAsOrdinary(a);
        }
    }

    /// <summary>
    /// cma_activate_area(): the area must lie in one zone; its pageblocks become MIGRATE_CMA and its pages go to the
    /// buddy (init_cma_reserved_pageblock(): PG_reserved cleared, _refcount 0, managed pages counted). The memblock
    /// reservation is dropped either way (the pages now belong to the buddy).
    /// </summary>
    /// <returns>False when the area spans zones (or lies in none): "cma: CMA area … could not be activated".</returns>
    public bool CmaActivateArea(CmaArea area)
    {
        var zone = _m.ZoneOfPfn(area.BasePfn);
        _m.Memblock.MemblockFree(area.BasePfn << _m.Arch.PageShift, area.Count << _m.Arch.PageShift);
        if (zone is null || !zone.Spans(area.EndPfn - 1))
        {
            _m.Log($"cma: CMA area {area.Name} could not be activated");
            return false;
        }
        _m.PageAlloc.InitCmaReservedPageblocks(zone, area.BasePfn, area.EndPfn);
        zone.ManagedPages += area.Count;
        return true;
    }

    /// <summary>
    /// cma_alloc(): <paramref name="count"/> pages from <paramref name="area"/> aligned to 2^<paramref name="alignOrder"/>
    /// pages, the first candidate (from the area's base, rounded up) that alloc_contig_range(…, MIGRATE_CMA) can take
    /// whole. Each page then has _refcount 1.
    /// </summary>
    /// <returns>False (NULL) when no candidate is free or the arguments are 0 / too large; nothing changed.</returns>
    public bool CmaAlloc(CmaArea area, ulong count, int alignOrder, out Pfn pfn)
    {
        ModStamp++;
        pfn = default;
        if (count == 0 || count > area.Count || alignOrder is < 0 or > 63) return false;
        ulong align = 1UL << alignOrder;
        for (ulong p = (area.BasePfn + align - 1) & ~(align - 1); p + count <= area.EndPfn && p >= area.BasePfn; p += align)
        {
            if (_m.AllocContigRange(p, p + count, allowCma: true) != 0) continue;
            pfn = Pfn.FromUInt64(p);
            return true;
        }
        return false;
    }

    /// <summary>
    /// cma_release(): gives back <paramref name="count"/> pages at <paramref name="pfn"/> if they lie in
    /// <paramref name="area"/> (free_contig_range(): one reference dropped from each, freed at zero); false, with
    /// nothing done, for a range outside the area, as the kernel returns false so the caller frees it another way.
    /// </summary>
    /// <param name="area">The area the pages came from.</param>
    /// <param name="pfn">The first pfn, as cma_alloc() returned it.</param>
    /// <param name="count">Pages.</param>
    /// <param name="reports">free_contig_range()'s "BUG: Bad page state" reports; empty when every page was clean.</param>
    public bool CmaRelease(CmaArea area, Pfn pfn, ulong count, out IReadOnlyList<string> reports)
    {
        ModStamp++;
        reports = [];
        ulong p = pfn.Value;
        if (p < area.BasePfn || p >= area.EndPfn || count > area.EndPfn - p) return false;
        reports = _m.FreeContigRange(pfn, count);
        return true;
    }
}

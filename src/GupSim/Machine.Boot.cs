using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Memory.Models;
using GupSim.Pages;

namespace GupSim;

public sealed partial class Machine
{
    /// <summary>Boots a machine from a spec.</summary>
    /// <exception cref="GupSimException">Thrown when the spec cannot be built (model not available on the arch, no RAM, ...).</exception>
    public static Machine Boot(MachineSpec spec)
    {
        var model = spec.Model ?? spec.Arch.DefaultModel;
        if (model == MemoryModel.SparsememVmemmap && !spec.Arch.VmemmapSupported)
            throw new GupSimException($"{spec.Arch.Name} has no vmemmap area (SPARSEMEM_VMEMMAP_ENABLE is not selected): use one of {string.Join(", ", spec.Arch.Models.Select(m => m.ToName()))}");
        if (model == MemoryModel.Discontigmem && !spec.Arch.Version.HasDiscontigmem)
            throw new GupSimException($"DISCONTIGMEM was removed in v5.14; v{spec.Arch.Version} cannot build it");
        if (!spec.Arch.Models.Contains(model) && !spec.AllowKconfigViolations)
            throw new GupSimException($"{spec.Arch.Name} in v{spec.Arch.Version} cannot build {model.ToName()}: use one of {string.Join(", ", spec.Arch.Models.Select(m => m.ToName()))}");
        if (spec.Ram.Nodes.Count == 0 || spec.Ram.TotalBytes == 0)
            throw new GupSimException("the machine has no RAM: give --mem, --ram or --iomem");
        if (model == MemoryModel.Flatmem && spec.Ram.Nodes.Count > 1)
            throw new GupSimException("FLATMEM has one mem_map for one node: use --nodes 1 or another memory model");
        if (spec.Placement is not (MemmapPlacement.BootBuffer or MemmapPlacement.Scattered))
            throw new GupSimException("boot placement must be 'boot' or 'scattered'");
        var m = new Machine(spec, model);
        m.BootMemblock();
        // setup_arch() up to paging_init(): the arch's reservations, NUMA node data, then CMA and crashkernel in the
        // arch's order; sparse_init() runs inside paging_init() (x86) / bootmem_init() (arm64), before the zones.
        var setup = new SetupArch(m);
        setup.ReserveEarly();
        m._setup = setup;
        m.ZeroPfn = m.PfnOf(Math.Min(setup.ImageStart + (1UL << 20), setup.ImageEnd - m.Arch.PageSize));
        m.Memory.Contents.Write(m.ZeroPfn, PageContents.Zero); // empty_zero_page: all zero bytes, in the kernel's .bss
        bool arm64 = m.Arch.KernelArch == "arm64";
        if (!arm64) m.BootDmaContiguousReserve();
        m.BootHugetlbCmaReserve();
        if (!arm64) setup.ReserveCrashkernel();
        if (model is MemoryModel.Sparsemem or MemoryModel.SparsememVmemmap) m.BootSparse(model == MemoryModel.SparsememVmemmap, setup);
        // arm64 (v5.11 and, with ZONE_DMA/DMA32 as distributions build it, later): cma= and crashkernel= come after sparse_init().
        if (arm64)
        {
            m.BootDmaContiguousReserve();
            setup.ReserveCrashkernel();
        }
        m.BootNodesAndZones();
        m.BootZoneMovable();
        if (model is MemoryModel.Flatmem) m.BootFlatmem();
        if (model is MemoryModel.Discontigmem) m.BootDiscontigmem();
        m.Hugetlb = new Hugetlb.HugetlbPools(m, spec.Hugepages);
        m.Hugetlb.AllocBootGigantic();
        m.BootFreeToBuddy();
        m.BootActivateCma();
        m.Hugetlb.GatherBootmemAndAllocBootPages();
        // A machine that has lived (--churn): the workload runs on the booted kernel, before --hotplug ranges are
        // added, so hot-added memmaps come from lived-in free lists (docs/architecture.md).
        m.BootChurn();
        foreach (var r in spec.Hotplug)
        {
            var err = m.HotAdd(r, nid: 0, movable: false, out string? refusal);
            if (err != 0) throw new GupSimException($"--hotplug {ByteSize.Format(r.Start)}-{ByteSize.Format(r.End)}: {ErrnoText.Strerror(err)} (-{(Errno)(-err)}): {refusal}");
        }
        return m;
    }

    private void BootMemblock()
    {
        foreach (var n in Spec.Ram.Nodes)
            foreach (var r in n.Ranges)
            {
                ulong start = (r.Start + Arch.PageSize - 1) & ~(Arch.PageSize - 1);
                ulong end = r.End & ~(Arch.PageSize - 1);
                if (end > start) Memblock.MemblockAddNode(start, end - start, n.Nid);
            }
        if (Memblock.Memory.Count == 0) throw new GupSimException("the machine has no whole page of RAM");
        ulong maxPhys = 1UL << Arch.MaxPhysmemBits;
        if (Memblock.Memory[^1].End > maxPhys)
            throw new GupSimException($"RAM ends at 0x{Memblock.Memory[^1].End:x}, above MAX_PHYSMEM_BITS ({Arch.MaxPhysmemBits} bits) of {Arch.Name}");
        // memstart_addr / PHYS_OFFSET: where the linear map starts (arm64 aligns it down to ARM64_MEMSTART_ALIGN).
        ulong memstartAlign = Math.Max(Arch.MemstartAlign, Arch.PageSize);
        Memory.PhysOffset = Arch.LinearMapStartsAtRam ? Memblock.Memory[0].Base & ~(memstartAlign - 1) : 0;
        MinPfn = PfnOf(Memblock.Memory[0].Base);
        MaxPfn = PfnOf(Memblock.Memory[^1].End);
        // memblock_set_current_limit(get_max_mapped()) after init_mem_mapping(): the end of the direct map (lowmem on 32-bit).
        Memblock.CurrentLimit = LowmemEndPhys();
        ulong vmemmap = Arch.VmemmapBiasedByMemstart
            ? Arch.VmemmapBase - (VmemmapStartPhys() >> Arch.PageShift) * (ulong)StructPageSize
            : Arch.VmemmapBase;
        Memory.Connect(IsRam, DescribePhys, Sections, Model == MemoryModel.SparsememVmemmap, vmemmap);
    }

    /// <summary>
    /// The physical address whose struct page sits at VMEMMAP_START on arches that bias the vmemmap symbol: arm64's
    /// memstart_addr; riscv's <c>vmemmap_start_pfn</c>, which from v7.1 (476849b0fba4, "riscv/mm: align vmemmap to
    /// maximal folio size") is phys_ram_base rounded down to VMEMMAP_ADDR_ALIGN = <c>max(1 &lt;&lt; SECTION_SIZE_BITS,
    /// MAX_FOLIO_NR_PAGES * sizeof(struct page))</c> (arch/riscv/mm/init.c). That rounds a physical address by a
    /// memmap size (256 MiB for 16 GiB folios), so pfn_to_page(0) = VMEMMAP_START − vmemmap_start_pfn × 64 is only
    /// 256 MiB-aligned when phys_ram_base is a multiple of 16 GiB: elsewhere sparse_init()'s check WARNs (DEBUG_VM) and
    /// a folio whose struct page is not aligned to its own memmap size gets a wrong head from the mask.
    /// (Before v7.1 GupSim uses phys_ram_base itself, the same for section-aligned RAM.)
    /// </summary>
    private ulong VmemmapStartPhys()
    {
        ulong start = Memory.PhysOffset;
        if (Arch.KernelArch == "riscv" && Version.HasCompoundInfoMask)
        {
            // VMEMMAP_ADDR_ALIGN has no condition: it rounds whether or not the mask encoding is in use.
            ulong align = Math.Max(1UL << Arch.SectionSizeBits, MaxFolioMemmapBytes);
            start &= ~(align - 1);
        }
        return start;
    }

    /// <summary>
    /// The memmap alignment check at the top of sparse_init() (mm/sparse.c, v7.1, "mm/sparse: check memmap alignment
    /// for compound_info_has_mask()"): <c>VM_WARN_ON_ONCE(!IS_ALIGNED((unsigned long)pfn_to_page(0),
    /// MAX_FOLIO_VMEMMAP_ALIGN))</c> when the mask encoding is in use. VM_WARN_ON_ONCE is compiled only with
    /// CONFIG_DEBUG_VM; without it nothing is checked and a misaligned memmap silently gives wrong heads.
    /// </summary>
    private void SparseCheckMemmapAlignment()
    {
        ulong align = MaxFolioVmemmapAlign;
        if (align == 0 || !Spec.DebugVm) return;
        if ((Memory.Vmemmap & (align - 1)) == 0) return;
        Log("------------[ cut here ]------------");
        Log("WARNING: CPU: 0 PID: 0 at mm/sparse.c sparse_init"); // VM_WARN_ON_ONCE() prints no message of its own
    }

    /// <summary>The physical address where the direct map (lowmem) ends.</summary>
    public ulong LowmemEndPhys() =>
        Arch.LinearMapStartsAtRam ? Memory.PhysOffset + Arch.LowmemBytes : Arch.LowmemBytes;

    private void BootNodesAndZones()
    {
        foreach (var n in Spec.Ram.Nodes.OrderBy(n => n.Nid))
        {
            var ranges = Memblock.Memory.Where(r => r.Nid == n.Nid).ToList();
            if (ranges.Count == 0) continue;
            var node = new Node(n.Nid, PfnOf(ranges[0].Base), PfnOf(ranges[^1].End));
            Nodes.Add(node);
            ulong zoneLow = 0;
            foreach (var zl in Arch.Zones)
            {
                ulong zoneHigh = zl.Zone == ZoneType.Normal && Arch.Zones.Any(z => z.Zone == ZoneType.HighMem)
                    ? LowmemEndPhys()
                    : zl.EndBytes;
                ulong lo = Math.Max(zoneLow, ranges[0].Base), hi = Math.Min(zoneHigh, ranges[^1].End);
                zoneLow = Math.Max(zoneLow, zoneHigh);
                if (hi <= lo) continue;
                ulong present = 0;
                foreach (var r in ranges)
                {
                    ulong a = Math.Max(r.Base, lo), b = Math.Min(r.End, hi);
                    if (b > a) present += (b - a) >> Arch.PageShift;
                }
                if (present == 0) continue;
                node.Zones.Add(new Zone(n.Nid, zl.Zone, PfnOf(lo), PfnOf(hi), Arch.MaxOrder) { PresentPages = present });
            }
        }
        if (Nodes.Count == 0) throw new GupSimException("no node has RAM");
    }

    /// <summary>SMP_CACHE_BYTES (L1_CACHE_BYTES) of the arch.</summary>
    private ulong SmpCacheBytes => Arch.KernelArch switch { "powerpc" => 128, "s390" => 256, _ => 64 };

    /// <summary>alloc_node_mem_map(): memblock_alloc_node(size, SMP_CACHE_BYTES, nid); the array covers the node span aligned to MAX_ORDER_NR_PAGES.</summary>
    private (ulong Va, ulong AlignedStart, ulong Pages) AllocNodeMemMap(Node node, string name)
    {
        ulong mo = Arch.MaxOrderNrPages;
        ulong start = node.StartPfn & ~(mo - 1);
        ulong end = (node.EndPfn + mo - 1) & ~(mo - 1);
        ulong bytes = (end - start) * (ulong)StructPageSize;
        ulong size = (bytes + Arch.PageSize - 1) & ~(Arch.PageSize - 1);
        if (!Memblock.MemblockAllocTryNid(size, SmpCacheBytes, 0, Memblock.AllocAccessible, node.Nid, name, out ulong phys))
            throw new GupSimException($"alloc_node_mem_map: cannot allocate {ByteSize.Format(size)} for node {node.Nid}: not enough lowmem");
        return (Memory.PhysToVirt(phys), start, end - start);
    }

    private void BootFlatmem()
    {
        var node = Nodes[0];
        var (va, alignedStart, pages) = AllocNodeMemMap(node, "mem_map (FLATMEM)");
        // ARCH_PFN_OFFSET: 0 on x86, PHYS_PFN_OFFSET (start of RAM) on arm; mem_map points at the struct page of node_start_pfn.
        ulong archPfnOffset = Arch.LinearMapStartsAtRam ? MinPfn : 0;
        ulong memMap = va + unchecked((archPfnOffset - alignedStart) * (ulong)StructPageSize);
        Memory.AddArray(new MemmapArray(va, alignedStart, pages, StructPageSize, MemmapPlacement.Flat, KernelVaKind.DirectMap, node.Nid, Memory.VirtToPhys(va)));
        MemMap = new FlatMemMap(Arch, Memory, FlagsLayout, memMap, archPfnOffset, node.EndPfn - archPfnOffset);
    }

    private void BootDiscontigmem()
    {
        var maps = new List<NodeMemMap>();
        foreach (var node in Nodes)
        {
            var (va, alignedStart, pages) = AllocNodeMemMap(node, $"node_mem_map (node {node.Nid})");
            Memory.AddArray(new MemmapArray(va, alignedStart, pages, StructPageSize, MemmapPlacement.NodeArray, KernelVaKind.DirectMap, node.Nid, Memory.VirtToPhys(va)));
            maps.Add(new NodeMemMap(node.Nid, node.StartPfn, node.EndPfn - node.StartPfn, va + (node.StartPfn - alignedStart) * (ulong)StructPageSize));
        }
        MemMap = new DiscontigMemMap(Arch, Memory, FlagsLayout, maps);
    }

    /// <summary>
    /// paging_init() → sparse_init() (mm/sparse.c, <see cref="Sparse"/>): the memmaps of every present section, then
    /// the machine's view of them (the memory model's translations, the sections, the direct-map arrays).
    /// </summary>
    private void BootSparse(bool vmemmap, SetupArch setup)
    {
        var table = Sections!;
        MemMap = vmemmap ? new VmemmapMemMap(Arch, Memory, FlagsLayout, table) : new SparseMemMap(Arch, Memory, FlagsLayout, table);
        bool forceFallback = !vmemmap && Spec.Placement == MemmapPlacement.Scattered;
        var sparse = new Sparse(Arch, Memblock, table, Memory, StructPageSize, vmemmap, forceFallback, setup.PgdatPhys, Log);
        SparseCheckMemmapAlignment();
        sparse.SparseInit();
        _sections.AddRange(sparse.Sections);
        Memory.AddArrays(sparse.BootArrays);
    }

    /// <summary>memblock_free_all(): every free boot range goes to its zone's buddy lists.</summary>
    private void BootFreeToBuddy()
    {
        foreach (var r in Memblock.FreeRanges())
            FreeRangeToZones(PfnOf(r.Base + Arch.PageSize - 1), PfnOf(r.End));
    }

    private void FreeRangeToZones(ulong startPfn, ulong endPfn)
    {
        foreach (var node in Nodes)
            foreach (var z in node.Zones)
            {
                ulong a = Math.Max(startPfn, z.StartPfn), b = Math.Min(endPfn, z.EndPfn);
                if (b <= a) continue;
                PageAlloc.FreeRangeCore(z, a, b);
                z.ManagedPages += b - a;
            }
    }

    /// <summary>
    /// Fills a fresh chunk of struct pages as memmap_init_zone() / init_unavailable_range() leave them: zone, node
    /// and section links in flags, PG_reserved and a reference on memblock-reserved and non-RAM pages, _refcount 0
    /// on pages the buddy owns, _mapcount −1.
    /// </summary>
    private void InitStructPages(ulong firstPfn, uint[] units)
    {
        int upp = Store.UnitsPerPage;
        int pages = units.Length / upp;
        int flagsUnit = Layout.Flags / 4, refUnit = Layout.Refcount / 4, mapUnit = Layout.Mapcount / 4;
        for (int i = 0; i < pages; i++)
        {
            ulong pfn = firstPfn + (ulong)i;
            ulong phys = PhysOf(pfn);
            bool ram = IsRam(phys);
            bool reserved = !ram || (phys < _bootRamEnd && Memblock.IsReserved(phys, phys + Arch.PageSize) && IsBootRam(phys));
            var zone = ZoneOfPfn(pfn);
            int nid = zone?.Nid ?? NodeOfPfn(pfn).Nid;
            int zoneIdx = zone is null ? 0 : ZoneIndex(zone.Type);
            ulong flags = FlagsLayout.Links(zoneIdx, nid, Sections?.PfnToSectionNr(pfn) ?? 0);
            if (reserved) flags |= 1UL << PageFlagBits.Reserved;
            int b = i * upp;
            units[b + flagsUnit] = (uint)flags;
            if (Arch.WordBytes == 8) units[b + flagsUnit + 1] = (uint)(flags >> 32);
            units[b + refUnit] = reserved ? 1u : 0u;
            units[b + mapUnit] = 0xFFFFFFFFu;
        }
    }

    private bool IsBootRam(ulong phys)
    {
        foreach (var r in Memblock.Memory)
            if (phys >= r.Base && phys < r.End) return true;
        return false;
    }

    /// <summary>What a physical address holds when it is not a memmap: a boot allocation, a free page, or an allocated one.</summary>
    private string DescribePhys(ulong phys)
    {
        ulong pfn = PfnOf(phys);
        var zone = ZoneOfPfn(pfn);
        if (zone is not null && zone.TryFindFreeBlock(pfn, out ulong block, out int order))
            return $"free page (buddy block pfn 0x{block:x}, order {order})";
        if (IsBootRam(phys) && Memblock.IsReserved(phys, phys + 1))
        {
            for (int i = Memblock.Allocations.Count - 1; i >= 0; i--)
            {
                var a = Memblock.Allocations[i];
                if (phys >= a.Base && phys < a.Base + a.Size) return $"memblock: {a.Name}";
            }
            return "memblock reserved";
        }
        return AllocatedRangeName(pfn) ?? "allocated page";
    }
}

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
        m.BootReserveCma();
        m.BootNodesAndZones();
        m.BootZoneMovable();
        m.BootMemmap();
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
                if (end > start) Memblock.AddMemory(start, end - start, n.Nid);
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
        Memblock.CurrentLimit = LowmemEndPhys();
        // The kernel image: where the arch loads it if that is RAM, else at the start of RAM.
        ulong image = IsRam(Arch.KernelImageStart) ? Arch.KernelImageStart : Memblock.Memory[0].Base;
        ulong imageEnd = Math.Min(image + Arch.KernelImageBytes, EndOfRamRange(image));
        Memblock.Reserve(image, imageEnd - image, "kernel image (text, rodata, data, bss)");
        // empty_zero_page lives in the kernel image's bss; GupSim puts it 1 MiB into the image.
        ZeroPfn = PfnOf(Math.Min(image + (1UL << 20), imageEnd - Arch.PageSize));
        ulong vmemmap = Arch.VmemmapBiasedByMemstart
            ? Arch.VmemmapBase - (Memory.PhysOffset >> Arch.PageShift) * (ulong)StructPageSize
            : Arch.VmemmapBase;
        Memory.Connect(IsRam, DescribePhys, Sections, Model == MemoryModel.SparsememVmemmap, vmemmap);
    }

    private ulong EndOfRamRange(ulong phys)
    {
        foreach (var r in Memblock.Memory)
            if (phys >= r.Base && phys < r.End) return r.End;
        return phys;
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

    private void BootMemmap()
    {
        switch (Model)
        {
            case MemoryModel.Flatmem: BootFlatmem(); break;
            case MemoryModel.Discontigmem: BootDiscontigmem(); break;
            case MemoryModel.Sparsemem: BootSparse(vmemmap: false); break;
            case MemoryModel.SparsememVmemmap: BootSparse(vmemmap: true); break;
        }
    }

    /// <summary>alloc_node_mem_map(): the array covers the node span aligned to MAX_ORDER_NR_PAGES.</summary>
    private (ulong Va, ulong AlignedStart, ulong Pages) AllocNodeMemMap(Node node, string name)
    {
        ulong mo = Arch.MaxOrderNrPages;
        ulong start = node.StartPfn & ~(mo - 1);
        ulong end = (node.EndPfn + mo - 1) & ~(mo - 1);
        ulong bytes = (end - start) * (ulong)StructPageSize;
        ulong size = (bytes + Arch.PageSize - 1) & ~(Arch.PageSize - 1);
        if (!Memblock.TryAlloc(size, Arch.PageSize, 0, node.Nid, name, out ulong phys))
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
    /// sparse_init() → memblocks_present() then sparse_init_nid() per run of present sections sharing a node: one
    /// usage map and one sparsemap_buf per run, each section's memmap carved in order (classic) or the vmemmap slice
    /// backed from it (VMEMMAP); a failed buffer falls back to a memblock allocation per section.
    /// </summary>
    private void BootSparse(bool vmemmap)
    {
        var table = Sections!;
        var present = new List<(ulong Nr, int Nid)>();
        foreach (var r in Memblock.Memory)
        {
            for (ulong nr = table.PfnToSectionNr(PfnOf(r.Base)); nr <= table.PfnToSectionNr(PfnOf(r.End - 1)); nr++)
            {
                if (present.Count > 0 && present[^1].Nr == nr) continue;
                table.MarkPresent(nr);
                present.Add((nr, r.Nid));
            }
        }
        MemMap = vmemmap ? new VmemmapMemMap(Arch, Memory, FlagsLayout, table) : new SparseMemMap(Arch, Memory, FlagsLayout, table);
        ulong mapSize = SectionMapSize(vmemmap);
        ulong minAddr = Arch.KernelArch == "x86" ? 16UL << 20 : 0; // __pa(MAX_DMA_ADDRESS)
        var bootArrays = new List<MemmapArray>();
        int i = 0;
        while (i < present.Count)
        {
            int nid = present[i].Nid;
            int j = i;
            while (j < present.Count && present[j].Nid == nid) j++;
            int count = j - i;
            ulong usageSize = (ulong)count * UsageMapBytes();
            Memblock.TryAlloc(usageSize, (ulong)Arch.WordBytes, 0, nid, $"mem_section_usage (node {nid})", out ulong usage);
            bool useBuffer = vmemmap || Spec.Placement == MemmapPlacement.BootBuffer;
            ulong buf = 0, bufEnd = 0;
            if (useBuffer && Memblock.TryAlloc((ulong)count * mapSize, mapSize, minAddr, nid, vmemmap ? $"vmemmap backing (sparsemap_buf, node {nid})" : $"sparsemap_buf (node {nid})", out buf))
                bufEnd = buf + (ulong)count * mapSize;
            for (int k = i; k < j; k++)
            {
                ulong nr = present[k].Nr;
                MemmapPlacement placement;
                ulong phys;
                if (buf != 0 && buf + mapSize <= bufEnd)
                {
                    phys = buf;
                    buf += mapSize;
                    placement = vmemmap ? MemmapPlacement.Vmemmap : MemmapPlacement.BootBuffer;
                }
                else
                {
                    if (!vmemmap) AllocFillers(nid, mapSize);
                    if (!Memblock.TryAlloc(mapSize, mapSize, minAddr, nid, vmemmap ? $"vmemmap backing (section {nr})" : $"section memmap (section {nr})", out phys))
                        throw new GupSimException($"sparse_init: cannot allocate the memmap of section {nr} ({ByteSize.Format(mapSize)}): not enough memory below the lowmem limit");
                    placement = vmemmap ? MemmapPlacement.Vmemmap : MemmapPlacement.Scattered;
                }
                ulong startPfn = table.SectionNrToPfn(nr);
                ulong va = vmemmap ? Memory.Vmemmap + startPfn * (ulong)StructPageSize : Memory.PhysToVirt(phys);
                MemmapArray? array = null;
                if (!vmemmap)
                {
                    array = new MemmapArray(va, startPfn, Arch.PagesPerSection, StructPageSize, placement, KernelVaKind.DirectMap, nid, phys);
                    bootArrays.Add(array);
                }
                table.InitOneSection(nr, va, StructPageSize, SectionTable.IsEarly | SectionTable.IsOnline, usage + (ulong)(k - i) * UsageMapBytes());
                _sections.Add(new SectionInfo(nr, startPfn, nid, va, placement, array));
            }
            if (buf != 0 && buf < bufEnd) Memblock.Free(buf, bufEnd - buf); // sparse_buffer_fini()
            i = j;
        }
        Memory.AddArrays(bootArrays);
    }

    /// <summary>section_map_size(): the memmap bytes of one section, page aligned.</summary>
    private ulong SectionMapSize(bool vmemmap)
    {
        _ = vmemmap; // VMEMMAP aligns to PMD_SIZE in the kernel; backing is modelled at page granularity (docs/architecture.md).
        ulong bytes = Arch.PagesPerSection * (ulong)StructPageSize;
        return (bytes + Arch.PageSize - 1) & ~(Arch.PageSize - 1);
    }

    /// <summary>mem_section_usage_size(): the subsection bitmap plus the pageblock flags of one section.</summary>
    private ulong UsageMapBytes()
    {
        ulong pageblockBits = (Arch.PagesPerSection >> Arch.PageblockOrder) * 4;
        ulong bytes = (ulong)Arch.WordBytes + (pageblockBits + 7) / 8;
        return (bytes + (ulong)Arch.WordBytes - 1) & ~(ulong)(Arch.WordBytes - 1);
    }

    /// <summary>Other boot allocations that land between per-section memmaps on the fallback path (seeded).</summary>
    private void AllocFillers(int nid, ulong mapSize)
    {
        int n = _rng.Next(0, 3);
        for (int f = 0; f < n; f++)
        {
            ulong pages = (ulong)_rng.Next(1, (int)Math.Max(2, (mapSize >> Arch.PageShift) * 2));
            Memblock.TryAlloc(pages << Arch.PageShift, Arch.PageSize, 0, nid, "other boot allocation (page tables, percpu, ...)", out _);
        }
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
                z.FreeRange(a, b);
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

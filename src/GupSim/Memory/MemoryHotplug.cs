using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory;

/// <summary>
/// Memory hot-plug (mm/memory_hotplug.c, v5.11): add_memory() → add_memory_resource() → arch_add_memory() (x86_64:
/// init_memory_mapping() for the direct map of the range, then __add_pages() → <see cref="SparseHotplug"/>'s
/// sparse_add_section() per section) → create_memory_block_devices() → online_pages(); and offline_pages() then
/// try_remove_memory(). Every allocation goes through the machine's slab, kvmalloc and buddy allocators in the
/// kernel's order. GupSim's memory block is one section. docs/architecture.md, "Slab, kvmalloc and hot-plug".
/// </summary>
public sealed class MemoryHotplug
{
    /// <summary>
    /// sizeof(struct memory_block) (drivers/base/memory.c) on x86_64 5.11: its fields and an embedded struct device;
    /// GupSim's approximation (any size in 513–1024 bytes lands in kmalloc-1k, which is what matters).
    /// </summary>
    public const int MemoryBlockBytes = 776;

    /// <summary>Bumped by every operation that changes this subsystem's state (a machine checkpoint does not journal it).</summary>
    internal long ModStamp;

    private readonly Machine _m;
    private readonly Dictionary<ulong, ulong> _memoryBlocks = [];
    private readonly Dictionary<ulong, ulong> _resources = [];
    // x86_64 direct map page tables: PUD entry slots (1 GiB) → the hot-plug allocated PMD table pfn (0: boot's or a
    // 1 GiB leaf); PGD slots (512 GiB) → PUD table pfn (0: boot's).
    private Dictionary<ulong, ulong>? _directPmdTables;
    private Dictionary<ulong, ulong>? _directPudTables;

    internal MemoryHotplug(Machine machine)
    {
        _m = machine;
        Sparse = new SparseHotplug(machine);
    }

    /// <summary>The section half (mm/sparse.c).</summary>
    public SparseHotplug Sparse { get; }

    /// <summary>The struct memory_block of a hot-added block (its section number), 0 when none.</summary>
    public ulong MemoryBlockOf(ulong nr) => _memoryBlocks.TryGetValue(nr, out ulong a) ? a : 0;

    /// <summary>The struct resource register_memory_resource() allocated for a hot-added range starting at <paramref name="start"/>.</summary>
    public ulong ResourceOf(ulong start) => _resources.TryGetValue(start, out ulong a) ? a : 0;

    /// <summary>Direct-map PMD tables hot-plug allocated (x86_64), by 1 GiB slot.</summary>
    public IReadOnlyDictionary<ulong, ulong> DirectMapPmdTables => DirectPmdTables();

    /// <summary>
    /// add_memory() then online_pages(): see <see cref="Machine.HotAdd(PhysRange, int, bool, out string?)"/>.
    /// </summary>
    internal int AddMemory(PhysRange range, int nid, bool movable, out string? refusal)
    {
        ModStamp++;
        refusal = null;
        var m = _m;
        var arch = m.Arch;
        if (m.Sections is null)
        {
            refusal = $"{m.Model.ToName()} has no memory hotplug (MEMORY_HOTPLUG needs SPARSEMEM): boot with --model sparsemem or sparsemem-vmemmap";
            return -(int)Errno.EINVAL;
        }
        ulong sectionBytes = 1UL << arch.SectionSizeBits;
        if ((range.Start & (sectionBytes - 1)) != 0 || (range.End & (sectionBytes - 1)) != 0 || range.Bytes == 0)
        {
            // check_hotplug_memory_range(); GupSim's memory block is one section.
            m.Log($"Block size [0x{sectionBytes:x}] unaligned hotplug range: start 0x{range.Start:x}, size 0x{range.Bytes:x}");
            ulong down = range.Start & ~(sectionBytes - 1);
            ulong up = (range.End + sectionBytes - 1) & ~(sectionBytes - 1);
            refusal = $"add_memory() takes whole memory blocks of {ByteSize.Format(sectionBytes)} (one section, SECTION_SIZE_BITS {arch.SectionSizeBits} on {arch.Name}): start and end on multiples of {ByteSize.Format(sectionBytes)}, e.g. {ByteSize.Format(down)}-{ByteSize.Format(up)}";
            return -(int)Errno.EINVAL;
        }
        if (range.End > 1UL << arch.MaxPhysmemBits)
        {
            refusal = $"it ends above the {ByteSize.Format(1UL << arch.MaxPhysmemBits)} that MAX_PHYSMEM_BITS {arch.MaxPhysmemBits} of {arch.Name} addresses";
            return -(int)Errno.EINVAL;
        }
        var ram = m.Ram;
        foreach (var r in ram)
        {
            if (!r.Overlaps(range)) continue;
            // register_memory_resource(): __request_region() finds the range taken by System RAM.
            ulong end = (ram[^1].End + sectionBytes - 1) & ~(sectionBytes - 1);
            refusal = $"it overlaps RAM {r}: hot-add above the end of RAM ({ByteSize.Format(ram[^1].End)}), e.g. {ByteSize.Format(end)}-{ByteSize.Format(end + range.Bytes)}";
            return -(int)Errno.EEXIST;
        }
        Node? node = null;
        foreach (var n in m.Nodes)
            if (n.Nid == nid) node = n;
        if (node is null)
        {
            refusal = $"node {nid} does not exist";
            return -(int)Errno.EINVAL;
        }
        ulong startPfn = range.Start >> arch.PageShift, endPfn = range.End >> arch.PageShift;
        var zoneType = movable ? ZoneType.Movable : ZoneType.Normal;
        foreach (var z in node.Zones)
        {
            bool clash = movable ? z.Type != ZoneType.Movable && z.EndPfn > startPfn
                : z.Type == ZoneType.Movable && z.StartPfn < endPfn;
            if (clash)
            {
                refusal = movable ? $"ZONE_MOVABLE must lie above {z.Name} of node {nid}, which ends at pfn 0x{z.EndPfn:x}" : $"ZONE_NORMAL must lie below ZONE_MOVABLE of node {nid}, which starts at pfn 0x{z.StartPfn:x}";
                return -(int)Errno.EINVAL;
            }
        }
        // register_memory_resource() → __request_region() → alloc_resource(): kzalloc of a struct resource.
        ulong resource = m.Slub.Kzalloc((ulong)(8 * arch.WordBytes), Gfp.Kernel);
        if (resource == 0)
        {
            refusal = "no memory for the struct resource of the range";
            return -(int)Errno.ENOMEM;
        }
        // arch_add_memory(): the direct map first (init_memory_mapping()), then __add_pages().
        InitMemoryMapping(range);
        var table = m.Sections;
        ulong firstNr = table.PfnToSectionNr(startPfn), lastNr = table.PfnToSectionNr(endPfn - 1);
        var added = new List<ulong>();
        bool vmemmap = m.Model == MemoryModel.SparsememVmemmap;
        for (ulong nr = firstNr; nr <= lastNr; nr++)
        {
            ulong memmap = Sparse.SparseAddSection(nr, nid);
            if (memmap == 0)
            {
                // The kernel leaves the sections __add_pages() added before the failure (add_memory_resource()'s error
                // path does not call arch_remove_memory()); GupSim removes them so that nothing changes.
                for (int i = added.Count - 1; i >= 0; i--) RemoveSection(added[i]);
                m.Slub.Kfree(resource);
                refusal = $"no memory for the memmap of section {nr}: boot with more RAM or hot-add less";
                return -(int)Errno.ENOMEM;
            }
            ulong sPfn = table.SectionNrToPfn(nr);
            if (vmemmap) m.AddSectionInfo(new SectionInfo(nr, sPfn, nid, memmap, MemmapPlacement.Vmemmap, null));
            else
            {
                bool inVmalloc = memmap >= arch.VmallocStart && memmap < arch.VmallocEnd;
                ulong phys = inVmalloc ? 0 : m.Memory.VirtToPhys(memmap);
                var array = new MemmapArray(memmap, sPfn, arch.PagesPerSection, m.StructPageSize, MemmapPlacement.Hotplug, inVmalloc ? KernelVaKind.Vmalloc : KernelVaKind.DirectMap, nid, phys);
                m.Memory.AddArray(array);
                m.AddSectionInfo(new SectionInfo(nr, sPfn, nid, memmap, MemmapPlacement.Hotplug, array));
            }
            added.Add(nr);
        }
        _resources[range.Start] = resource;
        // create_memory_block_devices(): a struct memory_block per block (init_memory_block(): kzalloc).
        foreach (ulong nr in added) _memoryBlocks[nr] = m.Slub.Kzalloc(MemoryBlockBytes, Gfp.Kernel);
        m.AddRam(range);
        node.StartPfn = Math.Min(node.StartPfn, startPfn);
        node.EndPfn = Math.Max(node.EndPfn, endPfn);
        Zone? zone = null;
        foreach (var z in node.Zones)
            if (z.Type == zoneType) zone = z;
        if (zone is null)
        {
            zone = new Zone(nid, zoneType, startPfn, endPfn, arch.MaxOrder);
            node.Zones.Add(zone);
            node.Zones.Sort((a, b) => a.Type.CompareTo(b.Type));
        }
        zone.StartPfn = Math.Min(zone.StartPfn, startPfn);
        zone.EndPfn = Math.Max(zone.EndPfn, endPfn);
        zone.PresentPages += endPfn - startPfn;
        zone.ManagedPages += endPfn - startPfn;
        m.RaiseMaxPfn(endPfn);
        m.Store.Drop(startPfn, endPfn);
        m.PageAlloc.OnlinePages(zone, startPfn, endPfn);
        m.Log($"hotplug: added and onlined 0x{range.Start:x}-0x{range.End - 1:x} (sections {firstNr}-{lastNr}) to node {nid} {zone.Name}");
        return 0;
    }

    private void RemoveSection(ulong nr)
    {
        var info = _m.SectionInfoOf(nr);
        if (info is not null)
        {
            _m.RemoveSectionInfo(info);
            if (info.Array is not null) _m.Memory.RemoveArray(info.Array);
        }
        Sparse.SparseRemoveSection(nr);
    }

    /// <summary>
    /// offline_pages() then try_remove_memory(): see <see cref="Machine.HotRemove(PhysRange)"/>. The order is the
    /// kernel's: remove_memory_block_devices() (the memory_block objects freed), arch_remove_memory() (per section
    /// sparse_remove_section(), then kernel_physical_mapping_remove() of the direct map), release_mem_region_adjustable().
    /// </summary>
    internal int RemoveMemory(PhysRange range)
    {
        ModStamp++;
        var m = _m;
        if (m.Sections is null) return -(int)Errno.EINVAL;
        ulong startPfn = range.Start >> m.Arch.PageShift, endPfn = range.End >> m.Arch.PageShift;
        if (endPfn <= startPfn) return -(int)Errno.EINVAL;
        ulong firstNr = m.Sections.PfnToSectionNr(startPfn), lastNr = m.Sections.PfnToSectionNr(endPfn - 1);
        for (ulong nr = firstNr; nr <= lastNr; nr++)
            if (!Sparse.IsHotAdded(nr)) return -(int)Errno.EINVAL;
        int idx = -1;
        for (int i = 0; i < m.Ram.Count; i++)
            if (m.Ram[i] == range) idx = i;
        if (idx < 0) return -(int)Errno.EINVAL;
        var zone = m.ZoneOfPfn(startPfn);
        if (zone is not null) m.PageAlloc.DrainZone(zone); // offline_pages(): drain_all_pages(zone)
        if (zone is null || !zone.IsRangeFree(startPfn, endPfn)) return -(int)Errno.EBUSY;
        zone.TryTakeRange(startPfn, endPfn);
        zone.PresentPages -= endPfn - startPfn;
        zone.ManagedPages -= endPfn - startPfn;
        for (ulong nr = firstNr; nr <= lastNr; nr++)
            if (_memoryBlocks.Remove(nr, out ulong mb)) m.Slub.Kfree(mb);
        for (ulong nr = firstNr; nr <= lastNr; nr++) RemoveSection(nr);
        m.RemoveRam(range);
        KernelPhysicalMappingRemove(range);
        if (_resources.Remove(range.Start, out ulong res)) m.Slub.Kfree(res);
        m.Store.Drop(startPfn, endPfn);
        m.Log($"hotplug: offlined and removed 0x{range.Start:x}-0x{range.End - 1:x}");
        return 0;
    }

    private bool ModelsDirectMapTables => _m.Arch.KernelArch == "x86" && _m.Arch.BitsPerLong == 64;

    private const int PudShift = 30;
    private const int PgdShift = 39;

    private Dictionary<ulong, ulong> DirectPmdTables()
    {
        if (_directPmdTables is null) InitDirectMapState();
        return _directPmdTables!;
    }

    /// <summary>The direct map boot built: every 1 GiB and 512 GiB slot holding boot RAM has its entry.</summary>
    private void InitDirectMapState()
    {
        _directPmdTables = [];
        _directPudTables = [];
        foreach (var r in _m.Memblock.Memory)
        {
            for (ulong s = r.Base >> PudShift; s <= (r.End - 1) >> PudShift; s++) _directPmdTables[s] = 0;
            for (ulong s = r.Base >> PgdShift; s <= (r.End - 1) >> PgdShift; s++) _directPudTables[s] = 0;
        }
    }

    /// <summary>
    /// init_memory_mapping() → kernel_physical_mapping_init() (arch/x86/mm/init_64.c) for a hot-added range: a PUD
    /// table for a 512 GiB slot the direct map has not reached, then for each 1 GiB slot without an entry either a
    /// 1 GiB leaf (the range covers it whole; GupSim assumes X86_FEATURE_GBPAGES) or a PMD table of 2 MiB leaves.
    /// Tables come from alloc_low_pages() after boot: __get_free_pages(GFP_ATOMIC | __GFP_ZERO, 0) on the allocating
    /// CPU's node. A table that cannot be allocated is a failure the kernel does not check in 5.11 (it would
    /// dereference NULL); GupSim leaves the slot unmapped. Other arches' direct-map tables are not modelled.
    /// </summary>
    private void InitMemoryMapping(PhysRange range)
    {
        if (!ModelsDirectMapTables) return;
        var pmd = DirectPmdTables();
        var pud = _directPudTables!;
        int local = _m.Nodes[0].Nid;
        for (ulong g = range.Start >> PgdShift; g <= (range.End - 1) >> PgdShift; g++)
            if (!pud.ContainsKey(g) && AllocLowPage(local, $"direct map PUD table 0x{g << PgdShift:x}", out ulong t)) pud[g] = t;
        for (ulong s = range.Start >> PudShift; s <= (range.End - 1) >> PudShift; s++)
        {
            if (pmd.ContainsKey(s)) continue;
            ulong gStart = s << PudShift, gEnd = gStart + (1UL << PudShift);
            if (range.Start <= gStart && range.End >= gEnd) pmd[s] = 0; // a 1 GiB leaf
            else if (AllocLowPage(local, $"direct map PMD table 0x{gStart:x}", out ulong t)) pmd[s] = t;
        }
    }

    private bool AllocLowPage(int nid, string owner, out ulong pfn)
    {
        pfn = 0;
        if (!_m.TryAllocPages(0, nid, owner, out Pfn p, Gfp.GfpAtomic | Gfp.Zero)) return false;
        pfn = p.Value;
        _m.MarkKernelPages(pfn, 1, KernelPageUse.PageTable);
        return true;
    }

    /// <summary>
    /// kernel_physical_mapping_remove() → remove_pagetable() (arch/x86/mm/init_64.c): the range's entries are
    /// cleared; a PMD or PUD table hot-plug allocated is freed once none of its slot's memory is left (free_pmd_table(),
    /// free_pud_table()). A 1 GiB leaf simply goes.
    /// </summary>
    private void KernelPhysicalMappingRemove(PhysRange range)
    {
        if (!ModelsDirectMapTables) return;
        var pmd = DirectPmdTables();
        var pud = _directPudTables!;
        for (ulong s = range.Start >> PudShift; s <= (range.End - 1) >> PudShift; s++)
        {
            if (!pmd.TryGetValue(s, out ulong t) || RamInSlot(s, PudShift)) continue;
            if (t != 0 || !BootRamInSlot(s, PudShift)) pmd.Remove(s);
            if (t != 0) FreeTable(t);
        }
        for (ulong g = range.Start >> PgdShift; g <= (range.End - 1) >> PgdShift; g++)
        {
            if (!pud.TryGetValue(g, out ulong t) || t == 0 || RamInSlot(g, PgdShift)) continue;
            pud.Remove(g);
            FreeTable(t);
        }
    }

    private void FreeTable(ulong pfn)
    {
        _m.MarkKernelPages(pfn, 1, KernelPageUse.None);
        _m.FreeKernelPages(pfn, 0);
    }

    private bool RamInSlot(ulong slot, int shift)
    {
        ulong a = slot << shift, b = a + (1UL << shift);
        foreach (var r in _m.Ram)
            if (r.Start < b && r.End > a) return true;
        return false;
    }

    private bool BootRamInSlot(ulong slot, int shift)
    {
        ulong a = slot << shift, b = a + (1UL << shift);
        foreach (var r in _m.Memblock.Memory)
            if (r.Base < b && r.End > a) return true;
        return false;
    }
}

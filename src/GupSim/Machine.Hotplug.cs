using System.Numerics;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim;

public sealed partial class Machine
{
    private readonly Dictionary<ulong, (ulong Pfn, int Order, ulong VmallocVa)> _hotplugMemmaps = [];
    private readonly Dictionary<ulong, ulong> _hotplugUsage = [];

    /// <summary>
    /// add_memory() then online_pages(): adds whole sections after boot. Classic SPARSEMEM gives each section a
    /// memmap of its own from kvmalloc_node() (buddy pages when the size fits a buddy block, vmalloc otherwise), so a
    /// hot-added memmap is never adjacent to the boot memmaps; VMEMMAP backs the fixed vmemmap slice. The new pages
    /// are onlined to ZONE_NORMAL of the node (or, with <paramref name="movable"/>, to ZONE_MOVABLE as
    /// <c>online_movable</c> does) and freed to the buddy. GupSim keeps zone spans apart: a movable range must lie
    /// above the node's other zones and a normal one below its ZONE_MOVABLE (−EINVAL otherwise).
    /// </summary>
    /// <returns>0, or −EINVAL (not section aligned, beyond MAX_PHYSMEM_BITS, model without hotplug, unknown node, zone order), −EEXIST (overlaps RAM), −ENOMEM (no memory for the memmap).</returns>
    public int HotAdd(PhysRange range, int nid, bool movable = false) => HotAdd(range, nid, movable, out _);

    /// <summary>
    /// <see cref="HotAdd(PhysRange, int, bool)"/>, and on failure <paramref name="refusal"/> names the rule that
    /// refused the range (the memory block size, the RAM it overlaps, ...); nothing is changed then.
    /// check_hotplug_memory_range() logs "Block size [..] unaligned hotplug range" as the kernel does.
    /// </summary>
    public int HotAdd(PhysRange range, int nid, bool movable, out string? refusal)
    {
        refusal = null;
        if (Sections is null)
        {
            refusal = $"{Model.ToName()} has no memory hotplug (MEMORY_HOTPLUG needs SPARSEMEM): boot with --model sparsemem or sparsemem-vmemmap";
            return -(int)Errno.EINVAL;
        }
        ulong sectionBytes = 1UL << Arch.SectionSizeBits;
        if ((range.Start & (sectionBytes - 1)) != 0 || (range.End & (sectionBytes - 1)) != 0 || range.Bytes == 0)
        {
            // mm/memory_hotplug.c check_hotplug_memory_range(); GupSim's memory block is one section.
            Log($"Block size [0x{sectionBytes:x}] unaligned hotplug range: start 0x{range.Start:x}, size 0x{range.Bytes:x}");
            ulong down = range.Start & ~(sectionBytes - 1);
            ulong up = (range.End + sectionBytes - 1) & ~(sectionBytes - 1);
            refusal = $"add_memory() takes whole memory blocks of {ByteSize.Format(sectionBytes)} (one section, SECTION_SIZE_BITS {Arch.SectionSizeBits} on {Arch.Name}): start and end on multiples of {ByteSize.Format(sectionBytes)}, e.g. {ByteSize.Format(down)}-{ByteSize.Format(up)}";
            return -(int)Errno.EINVAL;
        }
        if (range.End > 1UL << Arch.MaxPhysmemBits)
        {
            refusal = $"it ends above the {ByteSize.Format(1UL << Arch.MaxPhysmemBits)} that MAX_PHYSMEM_BITS {Arch.MaxPhysmemBits} of {Arch.Name} addresses";
            return -(int)Errno.EINVAL;
        }
        foreach (var r in _ram)
        {
            if (!r.Overlaps(range)) continue;
            // register_memory_resource(): __request_region() finds the range taken by System RAM.
            // The suggestion starts at the first memory block boundary at or above the end of RAM.
            ulong end = (_ram[^1].End + sectionBytes - 1) & ~(sectionBytes - 1);
            refusal = $"it overlaps RAM {r}: hot-add above the end of RAM ({ByteSize.Format(_ram[^1].End)}), e.g. {ByteSize.Format(end)}-{ByteSize.Format(end + range.Bytes)}";
            return -(int)Errno.EEXIST;
        }
        if (!Nodes.Any(n => n.Nid == nid))
        {
            refusal = $"node {nid} does not exist";
            return -(int)Errno.EINVAL;
        }
        var zoneType = movable ? ZoneType.Movable : ZoneType.Normal;
        foreach (var z in Nodes.First(n => n.Nid == nid).Zones)
        {
            bool clash = movable ? z.Type != ZoneType.Movable && z.EndPfn > PfnOf(range.Start)
                : z.Type == ZoneType.Movable && z.StartPfn < PfnOf(range.End);
            if (clash)
            {
                refusal = movable ? $"ZONE_MOVABLE must lie above {z.Name} of node {nid}, which ends at pfn 0x{z.EndPfn:x}" : $"ZONE_NORMAL must lie below ZONE_MOVABLE of node {nid}, which starts at pfn 0x{z.StartPfn:x}";
                return -(int)Errno.EINVAL;
            }
        }
        bool vmemmap = Model == MemoryModel.SparsememVmemmap;
        ulong firstNr = Sections.PfnToSectionNr(PfnOf(range.Start));
        ulong lastNr = Sections.PfnToSectionNr(PfnOf(range.End - 1));
        var added = new List<ulong>();
        for (ulong nr = firstNr; nr <= lastNr; nr++)
        {
            if (!TryAllocSectionMemmap(nr, nid, vmemmap))
            {
                foreach (var undo in added) FreeSectionMemmap(undo);
                refusal = $"no memory for the memmap of section {nr}: boot with more RAM or hot-add less";
                return -(int)Errno.ENOMEM;
            }
            added.Add(nr);
        }
        _ram.Add(range);
        _ram.Sort((a, b) => a.Start.CompareTo(b.Start));
        var node = Nodes.First(n => n.Nid == nid);
        ulong startPfn = PfnOf(range.Start), endPfn = PfnOf(range.End);
        node.StartPfn = Math.Min(node.StartPfn, startPfn);
        node.EndPfn = Math.Max(node.EndPfn, endPfn);
        var zone = node.Zones.FirstOrDefault(z => z.Type == zoneType);
        if (zone is null)
        {
            zone = new Zone(nid, zoneType, startPfn, endPfn, Arch.MaxOrder);
            node.Zones.Add(zone);
            node.Zones.Sort((a, b) => a.Type.CompareTo(b.Type));
        }
        zone.StartPfn = Math.Min(zone.StartPfn, startPfn);
        zone.EndPfn = Math.Max(zone.EndPfn, endPfn);
        zone.PresentPages += endPfn - startPfn;
        zone.ManagedPages += endPfn - startPfn;
        MaxPfn = Math.Max(MaxPfn, endPfn);
        Store.Drop(startPfn, endPfn);
        PageAlloc.OnlinePages(zone, startPfn, endPfn);
        Log($"hotplug: added and onlined 0x{range.Start:x}-0x{range.End - 1:x} (sections {firstNr}-{lastNr}) to node {nid} {zone.Name}");
        return 0;
    }

    private bool TryAllocSectionMemmap(ulong nr, int nid, bool vmemmap)
    {
        var table = Sections!;
        ulong bytes = Arch.PagesPerSection * (ulong)StructPageSize;
        ulong pages = (bytes + Arch.PageSize - 1) >> Arch.PageShift;
        int order = BitOperations.Log2(BitOperations.RoundUpToPowerOf2(pages));
        ulong startPfn = table.SectionNrToPfn(nr);
        ulong va, vmallocVa = 0;
        Pfn backing = default;
        bool fitsBuddy = order < Arch.MaxOrder;
        if (vmemmap)
        {
            // vmemmap_populate(): the slice is fixed; its backing comes from the buddy (or is split across blocks when larger).
            if (fitsBuddy && !TryAllocPages(order, nid, $"vmemmap backing of hot-added section {nr}", out backing)) return false;
            va = Memory.Vmemmap + startPfn * (ulong)StructPageSize;
        }
        else if (fitsBuddy)
        {
            // kvmalloc_node() → kmalloc_large_node() → buddy pages, in the direct map.
            if (!TryAllocPages(order, nid, $"memmap of hot-added section {nr} (kvmalloc)", out backing)) return false;
            va = Memory.PhysToVirt(PhysOf(backing.Value));
            var array = new MemmapArray(va, startPfn, Arch.PagesPerSection, StructPageSize, MemmapPlacement.Hotplug, KernelVaKind.DirectMap, nid, PhysOf(backing.Value));
            Memory.AddArray(array);
            _sections.Add(new SectionInfo(nr, startPfn, nid, va, MemmapPlacement.Hotplug, array));
        }
        else
        {
            // Too big for kmalloc: kvmalloc falls back to vmalloc, which leaves an unmapped guard page after the area.
            vmallocVa = va = Memory.Vmalloc(bytes, $"memmap of hot-added section {nr} (kvmalloc → vmalloc)");
            var array = new MemmapArray(va, startPfn, Arch.PagesPerSection, StructPageSize, MemmapPlacement.Hotplug, KernelVaKind.Vmalloc, nid, 0);
            Memory.AddArray(array);
            _sections.Add(new SectionInfo(nr, startPfn, nid, va, MemmapPlacement.Hotplug, array));
        }
        if (vmemmap) _sections.Add(new SectionInfo(nr, startPfn, nid, va, MemmapPlacement.Vmemmap, null));
        _sections.Sort((a, b) => a.Nr.CompareTo(b.Nr));
        // The section's mem_section_usage (kzalloc) and bookkeeping take a page of their own from the buddy, so the
        // next section's memmap is not carved right after this one (docs/architecture.md, "Hot-plug").
        TryAllocPages(0, nid, $"mem_section_usage and bookkeeping of hot-added section {nr}", out Pfn usagePage);
        table.MarkPresent(nr);
        table.InitOneSection(nr, va, StructPageSize, SectionTable.IsOnline, usage: Memory.PhysToVirt(PhysOf(usagePage.Value)));
        _hotplugMemmaps[nr] = (backing.Value, fitsBuddy ? order : -1, vmallocVa);
        _hotplugUsage[nr] = usagePage.Value;
        return true;
    }

    private void FreeSectionMemmap(ulong nr)
    {
        var (pfn, order, vmallocVa) = _hotplugMemmaps[nr];
        _hotplugMemmaps.Remove(nr);
        var info = _sections.First(s => s.Nr == nr);
        _sections.Remove(info);
        if (info.Array is not null) Memory.RemoveArray(info.Array);
        if (vmallocVa != 0) Memory.Vfree(vmallocVa);
        if (order >= 0) FreeKernelPages(pfn, order);
        if (_hotplugUsage.Remove(nr, out ulong usagePfn)) FreeKernelPages(usagePfn, 0);
        Sections!.Clear(nr);
    }

    private void FreeKernelPages(ulong pfn, int order)
    {
        StructPages.SetRefcount(PfnToPage(Pfn.FromUInt64(pfn)), 0);
        FreePages(Pfn.FromUInt64(pfn), order);
    }

    /// <summary>
    /// offline_pages() then remove_memory(): takes hot-added sections away again. Every page must be free
    /// (−EBUSY otherwise, nothing changed); the sections' memmaps are freed.
    /// </summary>
    public int HotRemove(PhysRange range)
    {
        if (Sections is null) return -(int)Errno.EINVAL;
        ulong firstNr = Sections.PfnToSectionNr(PfnOf(range.Start));
        ulong lastNr = Sections.PfnToSectionNr(PfnOf(range.End - 1));
        for (ulong nr = firstNr; nr <= lastNr; nr++)
            if (!_hotplugMemmaps.ContainsKey(nr)) return -(int)Errno.EINVAL;
        int idx = _ram.IndexOf(range);
        if (idx < 0) return -(int)Errno.EINVAL;
        ulong startPfn = PfnOf(range.Start), endPfn = PfnOf(range.End);
        var zone = ZoneOfPfn(startPfn);
        if (zone is not null) PageAlloc.DrainZone(zone); // offline_pages(): drain_all_pages(zone)
        if (zone is null || !zone.IsRangeFree(startPfn, endPfn)) return -(int)Errno.EBUSY;
        zone.TryTakeRange(startPfn, endPfn);
        zone.PresentPages -= endPfn - startPfn;
        zone.ManagedPages -= endPfn - startPfn;
        for (ulong nr = firstNr; nr <= lastNr; nr++) FreeSectionMemmap(nr);
        _ram.RemoveAt(idx);
        Store.Drop(startPfn, endPfn);
        Log($"hotplug: offlined and removed 0x{range.Start:x}-0x{range.End - 1:x}");
        return 0;
    }
}

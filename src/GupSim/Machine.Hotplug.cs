using GupSim.Memory;

namespace GupSim;

public sealed partial class Machine
{
    private MemoryHotplug? _memoryHotplug;

    /// <summary>Memory hot-plug (mm/memory_hotplug.c with the section half of mm/sparse.c), made on first use.</summary>
    public MemoryHotplug MemoryHotplug
    {
        get
        {
            if (_memoryHotplug is null) Interlocked.CompareExchange(ref _memoryHotplug, new MemoryHotplug(this), null);
            return _memoryHotplug;
        }
    }

    /// <summary>
    /// add_memory() then online_pages() (<see cref="Memory.MemoryHotplug"/>): adds whole sections after boot. Each
    /// section gets its mem_section_usage from kzalloc() and then its memmap: classic SPARSEMEM kvmalloc_node()s it
    /// (an order-9 kmalloc_large block on x86_64, vmalloc pages when the buddy has none), VMEMMAP backs the fixed
    /// vmemmap slice with PMD-sized blocks. The new pages are onlined to ZONE_NORMAL of the node (or, with
    /// <paramref name="movable"/>, to ZONE_MOVABLE as <c>online_movable</c> does) and freed to the buddy. GupSim keeps
    /// zone spans apart: a movable range must lie above the node's other zones and a normal one below its
    /// ZONE_MOVABLE (−EINVAL otherwise).
    /// </summary>
    /// <returns>0, or −EINVAL (not section aligned, beyond MAX_PHYSMEM_BITS, model without hotplug, unknown node, zone order), −EEXIST (overlaps RAM), −ENOMEM (no memory for the memmap).</returns>
    public int HotAdd(PhysRange range, int nid, bool movable = false) => HotAdd(range, nid, movable, out _);

    /// <summary>
    /// <see cref="HotAdd(PhysRange, int, bool)"/>, and on failure <paramref name="refusal"/> names the rule that
    /// refused the range (the memory block size, the RAM it overlaps, ...); nothing is changed then.
    /// check_hotplug_memory_range() logs "Block size [..] unaligned hotplug range" as the kernel does.
    /// </summary>
    public int HotAdd(PhysRange range, int nid, bool movable, out string? refusal) => MemoryHotplug.AddMemory(range, nid, movable, out refusal);

    /// <summary>
    /// offline_pages() then remove_memory(): takes hot-added sections away again. Every page must be free
    /// (−EBUSY otherwise, nothing changed); the sections' usage objects and memmaps are freed.
    /// </summary>
    public int HotRemove(PhysRange range) => MemoryHotplug.RemoveMemory(range);

    internal void AddSectionInfo(SectionInfo info)
    {
        // Kept in section-number order by insertion (hot-add goes upwards, so this is usually an append): one re-sort
        // per added section made adding n sections O(n² log n).
        int at = _sections.Count;
        while (at > 0 && _sections[at - 1].Nr > info.Nr) at--;
        _sections.Insert(at, info);
    }

    internal void RemoveSectionInfo(SectionInfo info) => _sections.Remove(info);

    internal SectionInfo? SectionInfoOf(ulong nr)
    {
        foreach (var s in _sections)
            if (s.Nr == nr) return s;
        return null;
    }

    internal void AddRam(PhysRange range)
    {
        _ram.Add(range);
        _ram.Sort((a, b) => a.Start.CompareTo(b.Start));
    }

    internal void RemoveRam(PhysRange range) => _ram.Remove(range);

    internal void RaiseMaxPfn(ulong endPfn) => MaxPfn = Math.Max(MaxPfn, endPfn);
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory;

/// <summary>
/// The hot-plug half of mm/sparse.c (with mm/sparse-vmemmap.c and x86's vmemmap_populate() in arch/x86/mm/init_64.c):
/// sparse_add_section() and sparse_remove_section() of one section, their allocations made through the machine's own
/// slab, kvmalloc and buddy allocators in the kernel's order. docs/architecture.md, "Slab, kvmalloc and hot-plug".
/// </summary>
public sealed class SparseHotplug
{
    private readonly Machine _m;
    // mem_section roots allocated after boot (sparse_index_alloc() → kzalloc_node()): root index → address.
    private readonly Dictionary<ulong, ulong> _roots = [];
    // What each hot-added section took: the usage object, the memmap (kvmalloc address or vmemmap blocks).
    private readonly Dictionary<ulong, SectionAlloc> _added = [];
    // vmemmap page-table slots (one PMD table maps PMD_SIZE × PTRS_PER_PMD of vmemmap): slot → pfn, 0 when boot made it.
    private Dictionary<ulong, ulong>? _vmemmapPmdTables;

    /// <summary>What sparse_add_section() allocated for one section.</summary>
    /// <param name="Usage">ms->usage (kzalloc'd).</param>
    /// <param name="Memmap">The kvmalloc_node() address of the memmap (classic SPARSEMEM), else 0.</param>
    /// <param name="VmemmapBlocks">vmemmap backing blocks (pfn, order) and base-page PTE tables, in allocation order.</param>
    internal sealed record SectionAlloc(ulong Usage, ulong Memmap, List<(ulong Pfn, int Order, KernelPageUse Use)> VmemmapBlocks);

    internal SparseHotplug(Machine machine) => _m = machine;

    /// <summary>The mem_section root addresses allocated by hot-plug, by root index.</summary>
    public IReadOnlyDictionary<ulong, ulong> Roots => _roots;

    /// <summary>ms->usage of a hot-added section, 0 when it has none.</summary>
    public ulong UsageOf(ulong nr) => _added.TryGetValue(nr, out var a) ? a.Usage : 0;

    /// <summary>The kvmalloc_node() address of a hot-added section's memmap (classic SPARSEMEM), else 0.</summary>
    public ulong MemmapAllocationOf(ulong nr) => _added.TryGetValue(nr, out var a) ? a.Memmap : 0;

    /// <summary>The vmemmap blocks (pfn, order) backing a hot-added section (SPARSEMEM_VMEMMAP).</summary>
    public IReadOnlyList<(ulong Pfn, int Order)> VmemmapBlocksOf(ulong nr)
    {
        var list = new List<(ulong, int)>();
        if (_added.TryGetValue(nr, out var a))
            foreach (var b in a.VmemmapBlocks)
                if (b.Use == KernelPageUse.Memmap) list.Add((b.Pfn, b.Order));
        return list;
    }

    /// <summary>Whether section <paramref name="nr"/> was added by hot-plug and is still there.</summary>
    public bool IsHotAdded(ulong nr) => _added.ContainsKey(nr);

    /// <summary>
    /// mem_section_usage_size() (mm/sparse.c): the subsection map (SUBSECTIONS_PER_SECTION bits, SPARSEMEM_VMEMMAP
    /// only) plus usemap_size() (NR_PAGEBLOCK_BITS per pageblock, in longs); v6.8 (5ec8e8ea8b77, in the 6.6.y tree
    /// GupSim reads as 6.6) adds a struct rcu_head; 6.18 has 8 bits per pageblock (4 before). x86_64: 32 B classic,
    /// 40 B VMEMMAP (kmalloc-32 / -64); 6.6: 48 / 56 (kmalloc-64); 6.18 VMEMMAP: 88 (kmalloc-96).
    /// </summary>
    public static ulong MemSectionUsageSize(ArchProfile arch, bool vmemmap)
    {
        ulong w = (ulong)arch.WordBytes, bitsPerLong = w * 8;
        ulong pageblockBits = arch.Version >= KernelVersion.V6_18 ? 8UL : 4UL;
        ulong blockflagsBits = (arch.PagesPerSection >> arch.PageblockOrder) * pageblockBits;
        ulong usemap = (blockflagsBits + bitsPerLong - 1) / bitsPerLong * w;
        // SUBSECTION_SHIFT 21: 2 MiB subsections.
        ulong subsections = Math.Max(1UL, (1UL << arch.SectionSizeBits) >> 21);
        ulong subsectionMap = vmemmap ? (subsections + bitsPerLong - 1) / bitsPerLong * w : 0;
        ulong rcu = arch.Version >= KernelVersion.V6_6 ? 2 * w : 0;
        return rcu + subsectionMap + usemap;
    }

    /// <summary>
    /// sparse_add_section() (mm/sparse.c, v5.11): sparse_index_init() (a new root of SECTIONS_PER_ROOT entries,
    /// kzalloc_node() of a page, when SPARSEMEM_EXTREME and the root is missing), then section_activate(), then
    /// section_mark_present() and sparse_init_one_section(). Returns the memmap address, or 0 (ENOMEM) with the
    /// section as it was (a root allocated on the way stays, as the kernel's does).
    /// </summary>
    internal ulong SparseAddSection(ulong nr, int nid)
    {
        var table = _m.Sections!;
        if (table.Extreme)
        {
            table.NrToSection(nr, out bool rootPresent);
            if (!rootPresent)
            {
                ulong root = nr / table.SectionsPerRoot;
                ulong addr = _m.Slub.KzallocNode(table.SectionsPerRoot * (ulong)table.SizeofMemSection, Gfp.Kernel, nid);
                if (addr == 0) return 0;
                _roots[root] = addr;
                table.IndexInit(nr);
            }
        }
        ulong memmap = SectionActivate(nr, nid, out var alloc);
        if (memmap == 0) return 0;
        _added[nr] = alloc!;
        table.MarkPresent(nr);
        table.InitOneSection(nr, memmap, _m.StructPageSize, SectionTable.IsOnline, alloc!.Usage);
        return memmap;
    }

    /// <summary>
    /// section_activate() (mm/sparse.c): ms->usage = kzalloc(mem_section_usage_size(), GFP_KERNEL) FIRST (on the
    /// allocating CPU's node), then populate_section_memmap(); a failed memmap frees the usage again
    /// (section_deactivate()).
    /// </summary>
    private ulong SectionActivate(ulong nr, int nid, out SectionAlloc? alloc)
    {
        alloc = null;
        bool vmemmap = _m.Model == MemoryModel.SparsememVmemmap;
        ulong usage = _m.Slub.Kzalloc(MemSectionUsageSize(_m.Arch, vmemmap), Gfp.Kernel);
        if (usage == 0) return 0;
        var blocks = new List<(ulong Pfn, int Order, KernelPageUse Use)>();
        ulong memmap = vmemmap ? VmemmapPopulate(nr, nid, blocks) : PopulateSectionMemmap(nr, nid);
        if (memmap == 0)
        {
            _m.Slub.Kfree(usage);
            return 0;
        }
        alloc = new SectionAlloc(usage, vmemmap ? 0 : memmap, blocks);
        return memmap;
    }

    /// <summary>
    /// populate_section_memmap() for classic SPARSEMEM (mm/sparse.c): kvmalloc_node(sizeof(struct page) ×
    /// PAGES_PER_SECTION, GFP_KERNEL, nid) — on x86_64 2 MiB, an order-9 kmalloc_large block, or vmalloc pages when
    /// the buddy has none.
    /// </summary>
    private ulong PopulateSectionMemmap(ulong nr, int nid)
    {
        ulong bytes = _m.Arch.PagesPerSection * (ulong)_m.StructPageSize;
        return _m.MmUtil.KvmallocNode(bytes, Gfp.Kernel, nid, $"memmap of hot-added section {nr} (kvmalloc → vmalloc)", KernelPageUse.Memmap);
    }

    /// <summary>
    /// __populate_section_memmap() for SPARSEMEM_VMEMMAP → vmemmap_populate() (x86_64, arch/x86/mm/init_64.c):
    /// per PMD_SIZE of the section's vmemmap slice, the PMD table if that part of the vmemmap has none
    /// (vmemmap_pud_populate(): vmemmap_alloc_block_zero(PAGE_SIZE)), then a PMD_SIZE block
    /// (vmemmap_alloc_block(): alloc_pages_node(nid, GFP_KERNEL | __GFP_RETRY_MAYFAIL | __GFP_NOWARN, order 9));
    /// when that fails, vmemmap_populate_basepages(): a PTE table and one page per PAGE_SIZE. A slice smaller than a
    /// PMD is populated with base pages. Returns the vmemmap address of the section's first struct page.
    /// </summary>
    private ulong VmemmapPopulate(ulong nr, int nid, List<(ulong Pfn, int Order, KernelPageUse Use)> blocks)
    {
        var arch = _m.Arch;
        ulong pageSize = arch.PageSize;
        ulong ptrs = pageSize / (ulong)arch.WordBytes;
        ulong pmdSize = pageSize * ptrs;
        ulong pmdTableSpan = pmdSize * ptrs;
        ulong startPfn = _m.Sections!.SectionNrToPfn(nr);
        ulong start = _m.Memory.Vmemmap + startPfn * (ulong)_m.StructPageSize;
        ulong end = start + arch.PagesPerSection * (ulong)_m.StructPageSize;
        Gfp gfp = Gfp.Kernel | Gfp.RetryMayfail | Gfp.Nowarn;
        int pmdOrder = Slub.GetOrder(pmdSize, (int)pageSize);
        bool huge = (end - start) % pmdSize == 0 && start % pmdSize == 0 && pmdOrder < arch.MaxOrder;
        var tables = VmemmapPmdTables();
        for (ulong addr = start; addr < end;)
        {
            ulong slot = addr / pmdTableSpan;
            if (!tables.ContainsKey(slot))
            {
                if (!Alloc(0, nid, gfp | Gfp.Zero, KernelPageUse.PageTable, $"vmemmap PMD table of section {nr}", blocks, out ulong t)) return Undo(blocks);
                tables[slot] = t;
            }
            ulong next = huge ? addr + pmdSize : Math.Min(end, (addr / pmdSize + 1) * pmdSize);
            if (huge && Alloc(pmdOrder, nid, gfp, KernelPageUse.Memmap, $"vmemmap backing of hot-added section {nr}", blocks, out _))
            {
                addr = next;
                continue;
            }
            // vmemmap_populate_basepages(): a PTE table, then a page per PAGE_SIZE.
            if (!Alloc(0, nid, gfp | Gfp.Zero, KernelPageUse.PageTable, $"vmemmap PTE table of section {nr}", blocks, out _)) return Undo(blocks);
            for (ulong a = addr; a < next; a += pageSize)
                if (!Alloc(0, nid, gfp, KernelPageUse.Memmap, $"vmemmap backing of hot-added section {nr}", blocks, out _)) return Undo(blocks);
            addr = next;
        }
        return start;
    }

    private bool Alloc(int order, int nid, Gfp gfp, KernelPageUse use, string owner, List<(ulong Pfn, int Order, KernelPageUse Use)> blocks, out ulong pfn)
    {
        pfn = 0;
        if (!_m.TryAllocPages(order, nid, owner, out Pfn p, gfp)) return false;
        pfn = p.Value;
        _m.MarkKernelPages(pfn, 1UL << order, use);
        blocks.Add((pfn, order, use));
        return true;
    }

    private ulong Undo(List<(ulong Pfn, int Order, KernelPageUse Use)> blocks)
    {
        FreeBlocks(blocks);
        return 0;
    }

    private void FreeBlocks(List<(ulong Pfn, int Order, KernelPageUse Use)> blocks)
    {
        var tables = VmemmapPmdTables();
        for (int i = blocks.Count - 1; i >= 0; i--)
        {
            var (pfn, order, _) = blocks[i];
            foreach (var (slot, t) in tables)
                if (t == pfn)
                {
                    tables.Remove(slot);
                    break;
                }
            _m.MarkKernelPages(pfn, 1UL << order, KernelPageUse.None);
            _m.FreeKernelPages(pfn, order);
        }
        blocks.Clear();
    }

    /// <summary>The vmemmap PMD tables: those boot made (every slot with a boot section) and those hot-plug added.</summary>
    private Dictionary<ulong, ulong> VmemmapPmdTables()
    {
        if (_vmemmapPmdTables is not null) return _vmemmapPmdTables;
        var arch = _m.Arch;
        ulong ptrs = arch.PageSize / (ulong)arch.WordBytes;
        ulong span = arch.PageSize * ptrs * ptrs;
        _vmemmapPmdTables = [];
        foreach (var s in _m.PresentSections)
        {
            ulong va = _m.Memory.Vmemmap + s.StartPfn * (ulong)_m.StructPageSize;
            _vmemmapPmdTables[va / span] = 0;
        }
        return _vmemmapPmdTables;
    }

    /// <summary>
    /// sparse_remove_section() → section_deactivate() (mm/sparse.c): kfree(ms->usage) (hot-added sections only: a
    /// boot section's usage is part of the boot allocation), then depopulate_section_memmap(): kvfree() of the memmap
    /// (the order-9 block back to the buddy, or vfree()) or vmemmap_free() (the backing blocks and the section's PTE
    /// tables; a PMD table hot-plug allocated goes when no section of its span is left). The root stays.
    /// </summary>
    internal void SparseRemoveSection(ulong nr)
    {
        if (!_added.Remove(nr, out var alloc)) return;
        _m.Sections!.Clear(nr);
        _m.Slub.Kfree(alloc.Usage);
        if (alloc.Memmap != 0) _m.MmUtil.Kvfree(alloc.Memmap);
        var tables = VmemmapPmdTables();
        foreach (var (pfn, order, _) in alloc.VmemmapBlocks)
        {
            if (tables.ContainsValue(pfn)) continue; // a PMD table: swept below
            _m.MarkKernelPages(pfn, 1UL << order, KernelPageUse.None);
            _m.FreeKernelPages(pfn, order);
        }
        // free_pmd_table() frees a PMD table only once all its entries are clear: no section of its span is left.
        var empty = new List<ulong>();
        foreach (var (slot, t) in tables)
            if (t != 0 && !SlotHasValidSection(slot)) empty.Add(slot);
        foreach (ulong slot in empty)
        {
            ulong t = tables[slot];
            tables.Remove(slot);
            _m.MarkKernelPages(t, 1, KernelPageUse.None);
            _m.FreeKernelPages(t, 0);
        }
    }

    private bool SlotHasValidSection(ulong slot)
    {
        var arch = _m.Arch;
        ulong ptrs = arch.PageSize / (ulong)arch.WordBytes;
        ulong span = arch.PageSize * ptrs * ptrs;
        foreach (var s in _m.PresentSections)
        {
            if (!_m.Sections!.IsValid(s.Nr)) continue;
            ulong va = _m.Memory.Vmemmap + s.StartPfn * (ulong)_m.StructPageSize;
            if (va / span == slot) return true;
        }
        return false;
    }
}

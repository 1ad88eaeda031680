using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Memory.Models;
using GupSim.Pages;

namespace GupSim;

/// <summary>A present memory section as the layout printout shows it.</summary>
/// <param name="Nr">Section number.</param>
/// <param name="StartPfn">First pfn.</param>
/// <param name="Nid">Node.</param>
/// <param name="MemmapVa">Address of the struct page of <paramref name="StartPfn"/>.</param>
/// <param name="Placement">How its memmap was placed.</param>
/// <param name="Array">The array holding its struct pages (null for vmemmap).</param>
public sealed record SectionInfo(ulong Nr, ulong StartPfn, int Nid, ulong MemmapVa, MemmapPlacement Placement, MemmapArray? Array)
{
    /// <summary>
    /// A boot VMEMMAP section's memmap backing: the physical address of the one block vmemmap_populate() mapped at
    /// <see cref="MemmapVa"/> (sparse buffer or memblock); 0 for other sections (hot-added VMEMMAP sections keep
    /// their blocks in <see cref="Memory.SparseHotplug.VmemmapBlocksOf"/>).
    /// </summary>
    public ulong VmemmapBackingPhys { get; init; }
}

/// <summary>A NUMA node: its pfn span and zones.</summary>
public sealed class Node
{
    internal Node(int nid, ulong startPfn, ulong endPfn)
    {
        Nid = nid;
        StartPfn = startPfn;
        EndPfn = endPfn;
    }

    public int Nid { get; }
    /// <summary>node_start_pfn.</summary>
    public ulong StartPfn { get; internal set; }
    /// <summary>node_start_pfn + node_spanned_pages.</summary>
    public ulong EndPfn { get; internal set; }
    /// <summary>The node's zones, low to high.</summary>
    public List<Zone> Zones { get; } = [];
}

/// <summary>
/// A booted simulated machine: physical memory, memblock, the memory model with its memmaps at kernel virtual
/// addresses, struct pages, zones with buddy allocators, and memory hotplug. Boot follows the kernel's order
/// (memblock setup → sparse_init / alloc_node_mem_map → zone setup → memblock_free_all).
/// </summary>
public sealed partial class Machine
{
    private readonly List<PhysRange> _ram = [];
    private readonly List<SectionInfo> _sections = [];
    private readonly List<string> _log = [];
    private readonly ulong _bootRamEnd;
    private readonly ZoneType[] _zoneTypes;
    private SetupArch? _setup;

    private Machine(MachineSpec spec, MemoryModel model)
    {
        Spec = spec;
        Arch = spec.Arch;
        Model = model;
        Memblock = new Memblock { PageSize = Arch.PageSize };
        StructPageSize = Arch.StructPageSize;
        Layout = StructPageLayout.For(Arch.BitsPerLong, Arch.Version);
        _zoneTypes = [.. Arch.Zones.Select(z => z.Zone)];
        int nodesShift = spec.NodesShift ?? (spec.Ram.Nodes.Count <= 1 && Arch.BitsPerLong == 32 ? 0 : Arch.BitsPerLong == 64 ? 6 : 2);
        // ZONES_SHIFT: MAX_NR_ZONES (the arch's zones plus ZONE_MOVABLE) rounded up to a power of two.
        int nrZones = _zoneTypes.Length + 1;
        int zonesWidth = nrZones <= 2 ? 1 : nrZones <= 4 ? 2 : 3;
        int sectionsWidth = model == MemoryModel.Sparsemem ? Arch.SectionsShift : 0;
        FlagsLayout = PageFlagsLayout.Create(Arch.BitsPerLong, sectionsWidth, nodesShift, zonesWidth);
        int chunkShift = Math.Min(12, Arch.PfnSectionShift);
        Store = new StructPageStore(StructPageSize, chunkShift, InitStructPages);
        Memory = new KernelMemory(Arch, spec.Seed, Store);
        Memory.ConnectStrayClassifier(IsPfnFreeInBuddy, KernelPageUseOf);
        bool extreme = spec.SparsememExtreme ?? !(Arch.BitsPerLong == 32 && Arch.KernelArch is "x86" or "riscv");
        if (model is MemoryModel.Sparsemem or MemoryModel.SparsememVmemmap)
            Sections = new SectionTable(Arch, extreme, spec.PageExtension);
        foreach (var n in spec.Ram.Nodes)
            foreach (var r in n.Ranges)
                _ram.Add(r);
        _ram.Sort((a, b) => a.Start.CompareTo(b.Start));
        _bootRamEnd = _ram.Count == 0 ? 0 : _ram[^1].End;
        MemMap = null!;
    }

    /// <summary>__pa(NODE_DATA(nid)): where setup_arch() placed the node's pg_data_t (the kernel image's address where the arch keeps it static).</summary>
    public ulong PgdatPhys(int nid) => _setup?.PgdatPhys(nid) ?? 0;

    /// <summary>Physical end of the kernel image (_end): the static .bss, such as a SPARSEMEM_STATIC mem_section[], ends here.</summary>
    public ulong KernelImageEndPhys => _setup?.ImageEnd ?? 0;

    /// <summary>The spec the machine booted from.</summary>
    public MachineSpec Spec { get; }
    /// <summary>Arch and kernel version.</summary>
    public ArchProfile Arch { get; }
    /// <summary>The kernel version.</summary>
    public KernelVersion Version => Arch.Version;
    /// <summary>The memory model.</summary>
    public MemoryModel Model { get; }
    /// <summary>sizeof(struct page).</summary>
    public int StructPageSize { get; }
    /// <summary>struct page field offsets for this arch and version.</summary>
    public StructPageLayout Layout { get; }

    /// <summary>
    /// compound_info_has_mask() (include/linux/page-flags.h, v7.1, 8c846c879e22):
    /// <c>IS_ENABLED(CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP) &amp;&amp; is_power_of_2(sizeof(struct page))</c>. The config is
    /// on wherever the arch wants it and the model is SPARSEMEM_VMEMMAP (it depends on both), so FLATMEM, classic
    /// SPARSEMEM and DISCONTIGMEM keep <c>head | 1</c> in every version.
    /// </summary>
    public bool CompoundInfoHasMask =>
        Version.HasCompoundInfoMask && Model == MemoryModel.SparsememVmemmap && Arch.WantsOptimizeHugetlbVmemmap
        && System.Numerics.BitOperations.IsPow2(Layout.Size);

    /// <summary><c>MAX_FOLIO_NR_PAGES × sizeof(struct page)</c>: the memmap bytes of the largest folio.</summary>
    public ulong MaxFolioMemmapBytes => (1UL << Arch.MaxFolioOrderGigantic) * (ulong)Layout.Size;

    /// <summary>
    /// MAX_FOLIO_VMEMMAP_ALIGN (include/linux/mmzone.h, v7.1): <see cref="MaxFolioMemmapBytes"/> when the mask
    /// encoding is in use (<see cref="CompoundInfoHasMask"/>), else 0.
    /// </summary>
    public ulong MaxFolioVmemmapAlign => CompoundInfoHasMask ? MaxFolioMemmapBytes : 0;
    /// <summary>Zone/node/section bits in page->flags.</summary>
    public PageFlagsLayout FlagsLayout { get; }
    /// <summary>The boot allocator, as boot left it.</summary>
    public Memblock Memblock { get; }
    /// <summary>Kernel memory: where struct pages and everything else live.</summary>
    public KernelMemory Memory { get; }
    /// <summary>Struct page contents.</summary>
    public StructPageStore Store { get; }
    /// <summary>The mem_section table (SPARSEMEM models), else null.</summary>
    public SectionTable? Sections { get; }
    /// <summary>The memory model's translations.</summary>
    public MemMap MemMap { get; private set; }
    /// <summary>The hugetlb pools.</summary>
    public Hugetlb.HugetlbPools Hugetlb { get; private set; } = null!;
    /// <summary>Nodes.</summary>
    public List<Node> Nodes { get; } = [];
    /// <summary>Present sections in section order (empty for FLATMEM and DISCONTIGMEM).</summary>
    public IReadOnlyList<SectionInfo> PresentSections => _sections;
    /// <summary>RAM ranges, boot and hot-added.</summary>
    public IReadOnlyList<PhysRange> Ram => _ram;
    /// <summary>Kernel log lines ("dmesg") written so far.</summary>
    public IReadOnlyList<string> KernelLog => _log;
    /// <summary>The pfn of empty_zero_page (ZERO_PAGE(0)): what read faults on anonymous memory map.</summary>
    public ulong ZeroPfn { get; private set; }
    /// <summary>Lowest RAM pfn.</summary>
    public ulong MinPfn { get; private set; }
    /// <summary>One past the highest RAM pfn.</summary>
    public ulong MaxPfn { get; private set; }

    private readonly List<string> _warnings = [];

    /// <summary>
    /// What the kernel refused at boot and booted on without, one line each (a CMA area it could not reserve, a
    /// huge page size the arch does not have): the kernel log has its own line; the tools repeat these on stderr.
    /// </summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>Records a boot-time refusal for <see cref="Warnings"/> (the caller logs the kernel's own line).</summary>
    internal void Warn(string warning)
    {
        lock (_warnings) _warnings.Add(warning);
    }

    /// <summary>Appends a line to the kernel log.</summary>
    public void Log(string line)
    {
        lock (_log) _log.Add(line);
    }

    /// <summary>The WARN_ON_ONCE() sites that have fired on this machine, in order (rolled back with the log).</summary>
    private readonly List<string> _warnedSites = [];

    /// <summary>
    /// WARN_ON_ONCE() (include/asm-generic/bug.h, one <c>__warned</c> flag per site, so once per booted kernel):
    /// appends <paramref name="line"/> to the kernel log the first time <paramref name="site"/> fires on this machine;
    /// later hits are silent. A rollback forgets the sites that fired after its checkpoint, as it drops their lines.
    /// </summary>
    public void WarnOnce(string site, string line)
    {
        lock (_log)
        {
            if (_warnedSites.Contains(site)) return;
            _warnedSites.Add(site);
            _log.Add(line);
        }
    }

    /// <summary>pfn_to_page().</summary>
    public PagePtr PfnToPage(Pfn pfn) => MemMap.PfnToPage(pfn);
    /// <summary>page_to_pfn().</summary>
    public Pfn PageToPfn(PagePtr page) => MemMap.PageToPfn(page);
    /// <summary>nth_page().</summary>
    public PagePtr NthPage(PagePtr page, ulong n) => MemMap.NthPage(page, n);
    /// <summary>The kernel's <c>page + n</c>.</summary>
    public PagePtr PageAdd(PagePtr page, long n) => page.Add(n, StructPageSize);
    /// <summary>Says what lives at a kernel virtual address.</summary>
    public AddressInfo Describe(ulong va) => Memory.Describe(va);
    /// <summary>Says what lives at a struct page pointer.</summary>
    public AddressInfo Describe(PagePtr page) => Memory.Describe(page.Address);

    /// <summary>Whether a physical address is RAM (boot or hot-added).</summary>
    public bool IsRam(ulong phys)
    {
        int lo = 0, hi = _ram.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_ram[mid].End <= phys) lo = mid + 1;
            else if (_ram[mid].Start > phys) hi = mid - 1;
            else return true;
        }
        return false;
    }

    /// <summary>The node whose span holds <paramref name="pfn"/> (the first node when none does).</summary>
    public Node NodeOfPfn(ulong pfn)
    {
        foreach (var n in Nodes)
            if (pfn >= n.StartPfn && pfn < n.EndPfn) return n;
        return Nodes[0];
    }

    /// <summary>The zone whose span holds <paramref name="pfn"/>, or null.</summary>
    public Zone? ZoneOfPfn(ulong pfn)
    {
        foreach (var n in Nodes)
        {
            if (pfn < n.StartPfn || pfn >= n.EndPfn) continue;
            foreach (var z in n.Zones)
                if (z.Spans(pfn)) return z;
        }
        return null;
    }

    /// <summary>
    /// Whether <paramref name="pfn"/> is free now: in a free buddy block (on a zone's free lists) or on cpu 0's
    /// per-cpu list (a free page the buddy does not see, _refcount 0, owned by nobody).
    /// </summary>
    public bool IsPfnFreeInBuddy(ulong pfn)
    {
        var zone = ZoneOfPfn(pfn);
        if (zone is null) return false;
        lock (zone.Lock) return zone.TryFindFreeBlock(pfn, out _, out _) || PageAlloc.IsOnPcpList(zone, pfn);
    }

    /// <summary>Every stray store (a store through a pointer that is not the one the kernel meant) counted so far.</summary>
    public StrayWrites StrayWrites => Memory.StrayWritesTotal;

    /// <summary>The zone index the kernel stores in page->flags for a zone type.</summary>
    public int ZoneIndex(ZoneType type)
    {
        int i = Array.IndexOf(_zoneTypes, type);
        return i >= 0 ? i : _zoneTypes.Length;
    }

    /// <summary>The zone type for an index stored in page->flags.</summary>
    public ZoneType ZoneTypeOf(int index) => index < _zoneTypes.Length ? _zoneTypes[index] : ZoneType.Movable;

    private ulong PageShift => (ulong)Arch.PageShift;
    private ulong PfnOf(ulong phys) => phys >> Arch.PageShift;
    private ulong PhysOf(ulong pfn) => pfn << Arch.PageShift;
}

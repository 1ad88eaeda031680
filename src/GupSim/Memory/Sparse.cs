using System.Globalization;
using GupSim.Arch;
using GupSim.Core;

namespace GupSim.Memory;

/// <summary>
/// The boot side of mm/sparse.c (and the boot-buffer use of mm/sparse-vmemmap.c): sparse_init() →
/// memblocks_present(), then sparse_init_nid() per run of present sections of one node, each with its usemaps
/// (sparse_early_usemaps_alloc_pgdat_section()), its memmap buffer (sparse_buffer_init() →
/// memblock_alloc_exact_nid_raw()), one memmap per section (__populate_section_memmap(): sparse_buffer_alloc(), else
/// memblock_alloc_try_nid_raw()), and sparse_buffer_fini().
/// </summary>
/// <remarks>
/// Owns the boot allocator's state for the buffer (sparsemap_buf, sparsemap_buf_end). Writes the mem_section table
/// and returns what it placed; the machine wires the results in (<see cref="Sections"/>, <see cref="BootArrays"/>).
/// </remarks>
internal sealed class Sparse
{
    private readonly ArchProfile _arch;
    private readonly Memblock _memblock;
    private readonly SectionTable _table;
    private readonly KernelMemory _memory;
    private readonly int _structPageSize;
    private readonly bool _vmemmap;
    private readonly bool _forceFallback;
    private readonly Func<int, ulong> _pgdatPhys;
    private readonly Action<string> _log;
    private readonly List<SectionInfo> _sections = [];
    private readonly List<MemmapArray> _bootArrays = [];
    private ulong _sparsemapBuf, _sparsemapBufEnd;

    /// <param name="arch">The arch profile.</param>
    /// <param name="memblock">memblock as setup_arch() left it.</param>
    /// <param name="table">mem_section.</param>
    /// <param name="memory">The kernel VA space (for __va() and the vmemmap base).</param>
    /// <param name="structPageSize">sizeof(struct page).</param>
    /// <param name="vmemmap">CONFIG_SPARSEMEM_VMEMMAP.</param>
    /// <param name="forceFallback">
    /// <c>--placement scattered</c>: sparse_buffer_init() is taken to have failed, so every section takes the
    /// per-section fallback of __populate_section_memmap().
    /// </param>
    /// <param name="pgdatPhys">__pa(NODE_DATA(nid)): where each node's pg_data_t lives.</param>
    /// <param name="log">The kernel log (pr_err, panic text).</param>
    public Sparse(ArchProfile arch, Memblock memblock, SectionTable table, KernelMemory memory, int structPageSize, bool vmemmap, bool forceFallback, Func<int, ulong> pgdatPhys, Action<string> log)
    {
        _arch = arch;
        _memblock = memblock;
        _table = table;
        _memory = memory;
        _structPageSize = structPageSize;
        _vmemmap = vmemmap;
        _forceFallback = forceFallback;
        _pgdatPhys = pgdatPhys;
        _log = log;
    }

    /// <summary>The sections sparse_init() initialised, in section order.</summary>
    public IReadOnlyList<SectionInfo> Sections => _sections;

    /// <summary>The classic SPARSEMEM memmap arrays it placed in the direct map (empty for VMEMMAP).</summary>
    public IReadOnlyList<MemmapArray> BootArrays => _bootArrays;

    /// <summary>
    /// __pa(MAX_DMA_ADDRESS): the lowest address sparse_buffer_init() and the per-section fallback ask for (16 MiB on
    /// x86, where MAX_DMA_ADDRESS is PAGE_OFFSET + 16 MiB; 0 elsewhere in GupSim's profiles). memblock_alloc_internal()
    /// drops it when nothing fits above it.
    /// </summary>
    public ulong MaxDmaPhys => _arch.KernelArch == "x86" ? 16UL << 20 : 0;

    /// <summary>SMP_CACHE_BYTES (L1_CACHE_BYTES): the usemaps' alignment (64 bytes; 128 on powerpc, 256 on s390).</summary>
    private ulong SmpCacheBytes => _arch.KernelArch switch { "powerpc" => 128, "s390" => 256, _ => 64 };

    /// <summary>
    /// sparse_init(): memblocks_present() marks every section with memblock.memory present (with its node); then one
    /// sparse_init_nid() per run of present sections sharing a node (a hole in the pfn space does not end a run, a
    /// node change does).
    /// </summary>
    public void SparseInit()
    {
        var present = new List<(ulong Nr, int Nid)>();
        foreach (var r in _memblock.Memory)
        {
            ulong firstPfn = r.Base >> _arch.PageShift, lastPfn = (r.End - 1) >> _arch.PageShift;
            for (ulong nr = _table.PfnToSectionNr(firstPfn); nr <= _table.PfnToSectionNr(lastPfn); nr++)
            {
                if (present.Count > 0 && present[^1].Nr == nr) continue;
                _table.MarkPresent(nr);
                present.Add((nr, r.Nid));
            }
        }
        int i = 0;
        while (i < present.Count)
        {
            int j = i;
            while (j < present.Count && present[j].Nid == present[i].Nid) j++;
            SparseInitNid(present[i].Nid, present, i, j);
            i = j;
        }
    }

    /// <summary>
    /// sparse_init_nid(): the usemaps of the run's <c>map_count</c> sections in one allocation near the node's
    /// pg_data_t, then the memmap buffer of map_count × section_map_size() on this node only, then each section's
    /// memmap. A section whose memmap cannot be had ends the run: it and every later section of the run are marked not
    /// present, with the kernel's pr_err.
    /// </summary>
    private void SparseInitNid(int nid, List<(ulong Nr, int Nid)> present, int first, int end)
    {
        int mapCount = end - first;
        ulong usageSize = MemSectionUsageSize();
        if (!SparseEarlyUsemapsAllocPgdatSection(nid, usageSize * (ulong)mapCount, out ulong usage))
        {
            _log($"sparse_init_nid: node[{nid}] usemap allocation failed");
            Drop(present, first, end);
            return;
        }
        ulong mapSize = SectionMapSize();
        if (!_forceFallback) SparseBufferInit((ulong)mapCount * mapSize, nid);
        for (int k = first; k < end; k++)
        {
            ulong nr = present[k].Nr;
            ulong startPfn = _table.SectionNrToPfn(nr);
            if (!PopulateSectionMemmap(nr, nid, out ulong phys, out MemmapPlacement placement))
            {
                _log($"sparse_init_nid: node[{nid}] memory map backing failed. Some memory will not be available.");
                Drop(present, k, end);
                SparseBufferFini();
                return;
            }
            ulong va = _vmemmap ? _memory.Vmemmap + startPfn * (ulong)_structPageSize : _memory.PhysToVirt(phys);
            MemmapArray? array = null;
            if (!_vmemmap)
            {
                array = new MemmapArray(va, startPfn, _arch.PagesPerSection, _structPageSize, placement, KernelVaKind.DirectMap, nid, phys);
                _bootArrays.Add(array);
            }
            _table.InitOneSection(nr, va, _structPageSize, SectionTable.IsEarly | SectionTable.IsOnline, usage + (ulong)(k - first) * usageSize);
            _sections.Add(new SectionInfo(nr, startPfn, nid, va, placement, array) { VmemmapBackingPhys = _vmemmap ? phys : 0 });
        }
        SparseBufferFini();
    }

    /// <summary>The failed: label of sparse_init_nid(): section_mem_map = 0 for the rest of the run.</summary>
    private void Drop(List<(ulong Nr, int Nid)> present, int from, int end)
    {
        for (int k = from; k < end; k++) _table.Clear(present[k].Nr);
    }

    /// <summary>
    /// sparse_early_usemaps_alloc_pgdat_section() (CONFIG_MEMORY_HOTREMOVE): memblock_alloc_try_nid(size,
    /// SMP_CACHE_BYTES, goal, limit, nid) with goal the start of the section holding the node's pg_data_t and limit
    /// one section above it, so the usemaps share the pgdat's section; retried with no limit when that fails.
    /// </summary>
    private bool SparseEarlyUsemapsAllocPgdatSection(int nid, ulong size, out ulong usage)
    {
        ulong sectionBytes = 1UL << _arch.SectionSizeBits;
        ulong goal = _pgdatPhys(nid) & ~(sectionBytes - 1);
        ulong limit = goal + sectionBytes;
        string name = $"mem_section_usage (node {nid})";
        return _memblock.MemblockAllocTryNid(size, SmpCacheBytes, goal, limit, nid, name, out usage)
            || _memblock.MemblockAllocTryNid(size, SmpCacheBytes, goal, Memblock.AllocAccessible, nid, name, out usage);
    }

    /// <summary>
    /// sparse_buffer_init(): sparsemap_buf = memblock_alloc_exact_nid_raw(size, section_map_size(),
    /// __pa(MAX_DMA_ADDRESS), MEMBLOCK_ALLOC_ACCESSIBLE, nid) — this node or nothing (v5.8+, the exact-nid variant, so
    /// a node too small or too fragmented for the buffer does not borrow another node's memory); NULL when it fails.
    /// </summary>
    private void SparseBufferInit(ulong size, int nid)
    {
        string name = _vmemmap ? $"vmemmap backing (sparsemap_buf, node {nid})" : $"sparsemap_buf (node {nid})";
        if (_memblock.MemblockAllocExactNidRaw(size, SectionMapSize(), MaxDmaPhys, Memblock.AllocAccessible, nid, name, out ulong buf))
        {
            _sparsemapBuf = buf;
            _sparsemapBufEnd = buf + size;
        }
        else
        {
            _sparsemapBuf = _sparsemapBufEnd = 0;
        }
    }

    /// <summary>
    /// sparse_buffer_alloc(): the next <paramref name="size"/> bytes of the buffer, rounded up to
    /// <paramref name="size"/> (the skipped bytes are freed); 0 when the buffer is gone or used up.
    /// </summary>
    internal ulong SparseBufferAlloc(ulong size)
    {
        if (_sparsemapBuf == 0) return 0;
        ulong ptr = (_sparsemapBuf + size - 1) / size * size;
        if (ptr + size > _sparsemapBufEnd) return 0;
        if (ptr > _sparsemapBuf) _memblock.MemblockFree(_sparsemapBuf, ptr - _sparsemapBuf);
        _sparsemapBuf = ptr + size;
        return ptr;
    }

    /// <summary>sparse_buffer_fini(): what is left of the buffer goes back to memblock (memblock_free_early()).</summary>
    private void SparseBufferFini()
    {
        if (_sparsemapBuf != 0 && _sparsemapBufEnd > _sparsemapBuf) _memblock.MemblockFree(_sparsemapBuf, _sparsemapBufEnd - _sparsemapBuf);
        _sparsemapBuf = _sparsemapBufEnd = 0;
    }

    /// <summary>
    /// __populate_section_memmap() at boot. Classic SPARSEMEM (mm/sparse.c): sparse_buffer_alloc(), else
    /// memblock_alloc_try_nid_raw(size, size, __pa(MAX_DMA_ADDRESS), MEMBLOCK_ALLOC_ACCESSIBLE, nid) — this node
    /// first, then any node, top-down, so each memmap lies right below the one before unless a reservation is in
    /// between — and a panic when even that fails. VMEMMAP (mm/sparse-vmemmap.c vmemmap_populate() →
    /// vmemmap_alloc_block_buf()): the buffer, else the same memblock call; GupSim backs a section's vmemmap as one
    /// block, so where the kernel would go on with base pages a failure here ends the run.
    /// </summary>
    /// <exception cref="GupSimException">The classic fallback failed: the kernel panics with the text given.</exception>
    private bool PopulateSectionMemmap(ulong nr, int nid, out ulong phys, out MemmapPlacement placement)
    {
        ulong size = SectionMapSize();
        phys = SparseBufferAlloc(size);
        if (phys != 0)
        {
            placement = _vmemmap ? MemmapPlacement.Vmemmap : MemmapPlacement.BootBuffer;
            return true;
        }
        placement = _vmemmap ? MemmapPlacement.Vmemmap : MemmapPlacement.Scattered;
        string name = _vmemmap ? $"vmemmap backing (section {nr})" : $"section memmap (section {nr})";
        if (_memblock.MemblockAllocTryNidRaw(size, size, MaxDmaPhys, Memblock.AllocAccessible, nid, name, out phys)) return true;
        if (_vmemmap) return false;
        string text = string.Create(CultureInfo.InvariantCulture,
            $"__populate_section_memmap: Failed to allocate {size} bytes align=0x{_arch.PageSize:x} nid={nid} from=0x{MaxDmaPhys:x16}");
        _log("Kernel panic - not syncing: " + text);
        throw new GupSimException($"Kernel panic - not syncing: {text}: section {nr}'s memmap fits nowhere below the memblock limit; give more RAM or fewer boot reservations");
    }

    /// <summary>
    /// section_map_size(): the memmap bytes of one section, PAGE_ALIGN()ed (classic) or ALIGN()ed to PMD_SIZE
    /// (VMEMMAP; GupSim backs vmemmap at page granularity, so it keeps the page alignment, which equals PMD_SIZE for
    /// the 128 MiB sections of x86_64 and arm64-4k).
    /// </summary>
    public ulong SectionMapSize()
    {
        ulong bytes = _arch.PagesPerSection * (ulong)_structPageSize;
        return (bytes + _arch.PageSize - 1) & ~(_arch.PageSize - 1);
    }

    /// <summary>mem_section_usage_size(): the subsection bitmap plus the pageblock flags of one section, in longs.</summary>
    public ulong MemSectionUsageSize()
    {
        ulong wordBytes = (ulong)_arch.WordBytes;
        ulong pageblockBits = (_arch.PagesPerSection >> _arch.PageblockOrder) * 4;
        ulong bytes = wordBytes + (pageblockBits + 7) / 8;
        return (bytes + wordBytes - 1) & ~(wordBytes - 1);
    }
}

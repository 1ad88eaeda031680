using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim.Debug;

/// <summary>
/// crash's <c>kmem -n</c> and <c>kmem -p</c> (crash-utility memory.c: dump_memory_nodes(), dump_mem_sections(),
/// dump_mem_map_SPARSEMEM() / dump_mem_map()) on a simulated machine, in crash's own column layouts (mkstring()
/// widths, VADDR_PRLEN, PADDR_PRLEN, crash's default output radix 10 for the section PFN column). Every value is read
/// from the machine the way crash reads it from a dump: pg_data_t addresses from NODE_DATA(), the mem_section table,
/// struct page words through the memory model.
/// </summary>
/// <remarks>
/// What GupSim does not model and so does not print: the memory-block table after the sections (struct
/// memory_block lives in sysfs objects GupSim has no addresses for); BOOTMEM_DATA is "----" as on every kernel since
/// bootmem went away (v4.20). The NODE_ZONES lines after the first use <see cref="StructZoneBytes"/>, and the SECTION
/// column uses <see cref="MemSectionAddress"/>: see their notes for where those addresses come from.
/// </remarks>
public static class CrashKmem
{
    /// <summary>
    /// sizeof(struct zone) used to step NODE_ZONES (node_zones[] is the first member of struct pglist_data, so zone 0
    /// is at the pg_data_t itself). GupSim does not lay out struct zone from a kernel config: 0x600 is GupSim's size,
    /// not a measured one, and only the NODE_ZONES lines after the first depend on it.
    /// </summary>
    public const ulong StructZoneBytes = 0x600;

    private const int MinSpace = 1; // crash defs.h MINSPACE

    /// <summary>zone_names[] (mm/page_alloc.c) for the zone types of <paramref name="t"/>.</summary>
    private static string ZoneName(ZoneType t) => t switch
    {
        ZoneType.Dma => "DMA",
        ZoneType.Dma32 => "DMA32",
        ZoneType.Normal => "Normal",
        ZoneType.HighMem => "HighMem",
        _ => "Movable",
    };

    /// <summary>The MAX_NR_ZONES zone types of the machine, in zone index order: the arch's zones, then ZONE_MOVABLE.</summary>
    private static List<ZoneType> ZoneTypes(Machine m)
    {
        var types = new List<ZoneType>();
        foreach (var z in m.Arch.Zones) types.Add(z.Zone);
        types.Add(ZoneType.Movable);
        return types;
    }

    /// <summary>
    /// The address of <c>struct mem_section</c> number <paramref name="nr"/>, as crash's nr_to_section() computes it:
    /// SPARSEMEM_STATIC, <c>&amp;mem_section[nr]</c> in the kernel image's .bss; SPARSEMEM_EXTREME,
    /// <c>mem_section[root] + (nr &amp; SECTION_ROOT_MASK) × sizeof(struct mem_section)</c>, 0 when the root is missing.
    /// </summary>
    /// <remarks>
    /// GupSim places the static array at the end of the kernel image (<c>_end</c>, rounded down to a page). The
    /// kernel allocates SPARSEMEM_EXTREME roots with memblock in sparse_index_alloc(); GupSim does not model those
    /// allocations (they would move every later memblock allocation), so a root's address here is GupSim's placement:
    /// the allocated roots, in root order, one page each, packed below <c>_end</c>. The rest of each row (coded
    /// mem_map, mem_map, state, pfn) is the modelled table's own content.
    /// </remarks>
    public static ulong MemSectionAddress(Machine m, ulong nr)
    {
        ArgumentNullException.ThrowIfNull(m);
        var t = m.Sections ?? throw new InvalidOperationException("not SPARSEMEM");
        ulong end = m.Memory.PhysToVirt(m.KernelImageEndPhys) & ~(m.Arch.PageSize - 1);
        ulong size = (ulong)t.SizeofMemSection;
        if (!t.Extreme) return end - t.NrMemSections * size + nr * size;
        ulong root = nr / t.SectionsPerRoot;
        t.NrToSection(nr, out bool found);
        if (!found) return 0;
        // The allocated roots at or above this one, each a page below the next.
        ulong above = 0;
        for (ulong r = root; r < t.NrSectionRoots; r++)
        {
            t.NrToSection(r * t.SectionsPerRoot, out bool f);
            if (f) above++;
        }
        return end - above * m.Arch.PageSize + nr % t.SectionsPerRoot * size;
    }

    /// <summary>`kmem -n`: the node table with its zones, then (SPARSEMEM) the mem_section table.</summary>
    public static void KmemN(Machine m, TextWriter o)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(o);
        int vlen = CrashFormat.VaddrPrlen(m);
        int flen = Math.Max(vlen, "BOOTMEM_DATA".Length);
        var types = ZoneTypes(m);
        bool sparse = m.Sections is not null;
        int slen = 0;
        for (int n = 0; n < m.Nodes.Count; n++)
        {
            var node = m.Nodes[n];
            if (n > 0)
            {
                o.Write('\n');
                o.Write(CrashFormat.PadLine(slen, '-'));
            }
            o.Write((n > 0 ? "\n\n" : "") + "NODE  " + CrashFormat.MkString("SIZE", 8, MkFlags.Center) + "  "
                + CrashFormat.MkString("PGLIST_DATA", flen, MkFlags.Center | MkFlags.LJust) + "  "
                + CrashFormat.MkString("BOOTMEM_DATA", flen, MkFlags.Center | MkFlags.LJust) + "  "
                + CrashFormat.MkString("NODE_ZONES", flen, MkFlags.Center | MkFlags.LJust) + "\n");
            ulong pgdat = m.Memory.PhysToVirt(m.PgdatPhys(node.Nid));
            ulong nodeZones = pgdat; // offsetof(struct pglist_data, node_zones) == 0
            string b1 = CrashFormat.MkDec(node.EndPfn - node.StartPfn, 8, MkFlags.Center | MkFlags.LJust);
            string b2 = CrashFormat.MkHex(pgdat, flen, MkFlags.Center | MkFlags.LJust);
            string b3 = CrashFormat.MkString("----", flen, MkFlags.Center);
            string b4 = CrashFormat.MkHex(nodeZones, flen, MkFlags.Center | MkFlags.LJust);
            o.Write(string.Create(CultureInfo.InvariantCulture, $" {node.Nid,2}   {b1}  {b2}  {b3}  {b4}\n"));
            int j = 12 + b1.Length + b2.Length + b3.Length + (b4.Length - b4.TrimStart(' ').Length);
            for (int i = 1; i < types.Count; i++)
            {
                nodeZones += StructZoneBytes;
                o.Write(new string(' ', j) + nodeZones.ToString("x", CultureInfo.InvariantCulture) + "\n");
            }
            // SPARSEMEM has no pgdat->node_mem_map: crash takes phys_to_page(node_start_pfn).
            ulong nodeMemMap = m.PfnToPage(Pfn.FromUInt64(node.StartPfn)).Address;
            o.Write(CrashFormat.MkString("MEM_MAP", vlen, MkFlags.Center | MkFlags.LJust) + "     START_PADDR    START_MAPNR\n");
            o.Write(CrashFormat.MkHex(nodeMemMap, vlen, MkFlags.Center) + "  "
                + CrashFormat.MkHex(node.StartPfn << m.Arch.PageShift, "   START_PADDR  ".Length, MkFlags.Center | MkFlags.RJust) + "  "
                + CrashFormat.MkDec(node.StartPfn, "START_MAPNR".Length, MkFlags.Center | MkFlags.RJust) + "\n");
            string zoneHdr = "ZONE  NAME         SIZE  " + CrashFormat.MkString("MEM_MAP", vlen, MkFlags.Center | MkFlags.RJust) + "  START_PADDR  START_MAPNR";
            slen = zoneHdr.Length;
            o.Write("\n" + zoneHdr + "\n");
            ulong cum = 0;
            for (int i = 0; i < types.Count; i++)
            {
                var zone = node.Zones.Find(z => z.Type == types[i]);
                ulong size = zone is null ? 0 : zone.EndPfn - zone.StartPfn;
                ulong startPfn = size == 0 ? 0 : zone!.StartPfn; // free_area_init_core(): an empty zone keeps zone_start_pfn 0
                ulong memMap, mapnr;
                if (sparse)
                {
                    memMap = size == 0 ? 0 : m.PfnToPage(Pfn.FromUInt64(startPfn)).Address;
                    mapnr = size == 0 ? 0 : startPfn;
                }
                else
                {
                    // contig_page_data's node_mem_map + the sizes of the zones before this one.
                    memMap = size == 0 ? 0 : nodeMemMap + cum * (ulong)m.StructPageSize;
                    mapnr = memMap == 0 ? 0 : (memMap - nodeMemMap) / (ulong)m.StructPageSize;
                }
                o.Write(string.Create(CultureInfo.InvariantCulture, $" {i,2}   {ZoneName(types[i]),-9} {size,7}  "));
                cum += size;
                o.Write(CrashFormat.MkHex(memMap, vlen, MkFlags.RJust) + "  "
                    + CrashFormat.MkHex(startPfn << m.Arch.PageShift, "START_PADDR".Length, MkFlags.RJust) + "  "
                    + CrashFormat.MkDec(mapnr, "START_MAPNR".Length, MkFlags.RJust) + "\n");
            }
        }
        if (sparse) DumpMemSections(m, o);
    }

    /// <summary>dump_mem_sections(): every valid section as <c>NR SECTION CODED_MEM_MAP MEM_MAP STATE PFN</c>.</summary>
    private static void DumpMemSections(Machine m, TextWriter o)
    {
        var t = m.Sections!;
        int vlen = CrashFormat.VaddrPrlen(m);
        int clen = Math.Max(vlen, "CODED_MEM_MAP".Length);
        o.Write("\n" + CrashFormat.PadLine(m.Arch.WordBytes == 4 ? 59 : 67, '-') + "\n\nNR  "
            + CrashFormat.MkString("SECTION", vlen, MkFlags.Center | MkFlags.LJust) + "  "
            + CrashFormat.MkString("CODED_MEM_MAP", clen, MkFlags.Center | MkFlags.LJust) + "  "
            + CrashFormat.MkString("MEM_MAP", vlen, MkFlags.Center | MkFlags.LJust) + "  "
            + CrashFormat.MkString("STATE", 5, MkFlags.Center) + " PFN\n");
        for (ulong nr = 0; nr < t.NrMemSections; nr++)
        {
            ulong raw = t.RawMemMap(nr, out bool found);
            // crash's valid_section(): any non-zero section_mem_map (its test is "&& SECTION_MARKED_PRESENT").
            if (!found || raw == 0) continue;
            ulong addr = MemSectionAddress(m, nr);
            ulong coded = t.SectionMemMapAddr(raw);
            ulong memMap = unchecked(coded + t.SectionNrToPfn(nr) * (ulong)m.StructPageSize);
            o.Write(string.Create(CultureInfo.InvariantCulture, $"{nr,2}  ")
                + CrashFormat.MkHex(addr, vlen, MkFlags.Center) + "  "
                + CrashFormat.MkHex(coded, clen, MkFlags.Center | MkFlags.RJust) + "  "
                + CrashFormat.MkHex(memMap, vlen, MkFlags.Center | MkFlags.RJust) + "  "
                + CrashFormat.MkString(SectionState(raw, m.Version), 5, MkFlags.Center) + " "
                + CrashFormat.MkDec(t.SectionNrToPfn(nr), vlen, MkFlags.LJust) + "\n");
        }
    }

    /// <summary>fill_mem_section_state(): P, M, O, E and (v5.14+, SECTION_TAINT_ZONE_DEVICE) D for the flag bits set.</summary>
    public static string SectionState(ulong raw, KernelVersion v)
    {
        var s = "";
        if ((raw & SectionTable.MarkedPresent) != 0) s += "P";
        if ((raw & SectionTable.HasMemMap) != 0) s += "M";
        if ((raw & SectionTable.IsOnline) != 0) s += "O";
        if ((raw & SectionTable.IsEarly) != 0) s += "E";
        if (v.HasSectionTaintZoneDevice && (raw & (1UL << 4)) != 0) s += "D";
        return s;
    }

    /// <summary>One run of struct pages crash walks: a valid section (SPARSEMEM) or a node's mem_map.</summary>
    private readonly record struct MapRun(ulong MemMap, ulong StartPfn, ulong Pages);

    private static IEnumerable<MapRun> Runs(Machine m)
    {
        var t = m.Sections;
        if (t is null)
        {
            foreach (var n in m.Nodes)
                yield return new MapRun(m.PfnToPage(Pfn.FromUInt64(n.StartPfn)).Address, n.StartPfn, n.EndPfn - n.StartPfn);
            yield break;
        }
        for (ulong nr = 0; nr < t.NrMemSections; nr++)
        {
            ulong raw = t.RawMemMap(nr, out bool found);
            if (!found || raw == 0) continue;
            ulong pfn = t.SectionNrToPfn(nr);
            yield return new MapRun(unchecked(t.SectionMemMapAddr(raw) + pfn * (ulong)m.StructPageSize), pfn, m.Arch.PagesPerSection);
        }
    }

    /// <summary>
    /// `kmem -p [ADDR]`: the <c>PAGE PHYSICAL MAPPING INDEX CNT FLAGS</c> line of every struct page, or of the one
    /// <paramref name="address"/> names. As crash reads it: a kernel virtual address is a struct page pointer when it
    /// is one exactly (is_page_ptr()), else translated with kvtop() — a direct-map address to the page behind it, an
    /// address inside a struct page of the vmemmap to the page frame that holds that part of the memmap (crash-utility
    /// memory.c dump_mem_map_SPARSEMEM(): <c>if (is_page_ptr(…)) pg_spec = TRUE; else if (kvtop(…)) phys_spec =
    /// TRUE;</c>) — and any other number is a physical address. An address no valid section covers, or a kernel
    /// address kvtop() cannot translate, prints nothing.
    /// </summary>
    public static void KmemP(Machine m, ulong? address, TextWriter o)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(o);
        int vlen = CrashFormat.VaddrPrlen(m);
        int plen = Math.Max(CrashFormat.PaddrPrlen(m), "PHYSICAL".Length);
        ulong sps = (ulong)m.StructPageSize;
        string hdr = CrashFormat.MkString("PAGE", vlen, MkFlags.Center) + new string(' ', MinSpace)
            + CrashFormat.MkString("PHYSICAL", plen, MkFlags.RJust) + new string(' ', MinSpace)
            + CrashFormat.MkString("MAPPING", vlen, MkFlags.Center | MkFlags.RJust) + new string(' ', MinSpace)
            + CrashFormat.MkString("INDEX", 8, MkFlags.Center | MkFlags.RJust) + "CNT FLAGS";
        bool pgSpec = false;
        ulong spec = 0;
        if (address is ulong a)
        {
            spec = a;
            if (a >= m.Arch.PageOffset)
            {
                pgSpec = IsPagePtr(m, a);
                if (!pgSpec)
                {
                    // Not a struct page pointer: crash's kvtop() of the address, through the direct map or, for an
                    // address inside a struct page of the vmemmap, the page tables vmemmap_populate() built.
                    if (!m.Memory.TryDirectMapToPhys(a, out ulong phys) && !VmemmapKvtop(m, a, out phys)) return;
                    spec = phys;
                }
            }
        }
        bool printed = false;
        foreach (var run in Runs(m))
        {
            if (address is not null)
            {
                ulong pfn = pgSpec ? SpecPfn(m, spec) : spec >> m.Arch.PageShift;
                if (pfn < run.StartPfn || pfn >= run.StartPfn + run.Pages)
                {
                    // The section the address falls in: crash jumps there and stops if it is not valid.
                    if (m.Sections is not null && m.Sections.PfnToSectionNr(pfn) < m.Sections.PfnToSectionNr(run.StartPfn)) break;
                    continue;
                }
            }
            if (!printed)
            {
                o.WriteLine(hdr);
                printed = true;
            }
            for (ulong i = 0; i < run.Pages; i++)
            {
                ulong pp = run.MemMap + i * sps, phys = (run.StartPfn + i) << m.Arch.PageShift;
                if (address is not null && !(pgSpec ? pp == spec : phys == (spec & ~(m.Arch.PageSize - 1)))) continue;
                o.WriteLine(PageLine(m, PagePtr.FromAddress(pp), phys, vlen, plen));
                if (address is not null) return;
            }
            if (address is not null) return;
        }
    }

    /// <summary>
    /// kvtop() of a SPARSEMEM_VMEMMAP address (x86_64_kvtop()'s page-table walk): the vmemmap slice of a present
    /// section is mapped onto the memory vmemmap_populate() gave it — one block at boot
    /// (<see cref="SectionInfo.VmemmapBackingPhys"/>), PMD-sized or base-page blocks in order for a hot-added section
    /// (<see cref="SparseHotplug.VmemmapBlocksOf"/>); no present section, no mapping (false).
    /// </summary>
    private static bool VmemmapKvtop(Machine m, ulong va, out ulong phys)
    {
        phys = 0;
        if (m.Model != MemoryModel.SparsememVmemmap || m.Sections is null || va < m.Memory.Vmemmap) return false;
        ulong pfn = (va - m.Memory.Vmemmap) / (ulong)m.StructPageSize;
        ulong nr = m.Sections.PfnToSectionNr(pfn);
        if (m.SectionInfoOf(nr) is not { } info || va < info.MemmapVa) return false;
        ulong off = va - info.MemmapVa;
        if (info.VmemmapBackingPhys != 0)
        {
            phys = info.VmemmapBackingPhys + off;
            return true;
        }
        if (!m.MemoryHotplug.Sparse.IsHotAdded(nr)) return false;
        foreach (var (blockPfn, order) in m.MemoryHotplug.Sparse.VmemmapBlocksOf(nr))
        {
            ulong size = m.Arch.PageSize << order;
            if (off < size)
            {
                phys = (blockPfn << m.Arch.PageShift) + off;
                return true;
            }
            off -= size;
        }
        return false;
    }

    /// <summary>The pfn of a struct page pointer crash found in a section (page_to_phys()).</summary>
    private static ulong SpecPfn(Machine m, ulong page)
    {
        foreach (var run in Runs(m))
        {
            ulong bytes = run.Pages * (ulong)m.StructPageSize;
            if (page >= run.MemMap && page < run.MemMap + bytes) return run.StartPfn + (page - run.MemMap) / (ulong)m.StructPageSize;
        }
        return ulong.MaxValue;
    }

    /// <summary>is_page_ptr(): inside some valid section's mem_map, on a struct page boundary.</summary>
    private static bool IsPagePtr(Machine m, ulong addr)
    {
        ulong sps = (ulong)m.StructPageSize;
        foreach (var run in Runs(m))
            if (addr >= run.MemMap && addr < run.MemMap + run.Pages * sps) return (addr - run.MemMap) % sps == 0;
        return false;
    }

    /// <summary>style4 of dump_mem_map_SPARSEMEM() and translate_page_flags(): <c>%-16lx %*llx %16lx %8lx %2d FLAGS names</c>.</summary>
    private static string PageLine(Machine m, PagePtr page, ulong phys, int vlen, int plen)
    {
        var sp = m.StructPages;
        ulong flags = sp.Flags(page);
        if (m.Arch.WordBytes == 4) flags &= 0xffffffff;
        var ci = CultureInfo.InvariantCulture;
        string pageCol = page.Address.ToString("x", ci).PadRight(vlen);
        string physCol = phys.ToString("x", ci).PadLeft(plen);
        string mapCol = sp.Mapping(page).ToString("x", ci).PadLeft(vlen);
        string idxCol = sp.Index(page).ToString("x", ci).PadLeft(8);
        string cnt = ((int)(uint)sp.Refcount(page)).ToString(ci).PadLeft(2);
        var names = new System.Text.StringBuilder(flags.ToString("x", ci));
        if (flags != 0)
        {
            int others = 0;
            for (int b = 0; b < PageFlagBits.NrPageFlagsFor(m.Arch.BitsPerLong); b++)
                if ((flags & (1UL << b)) != 0) names.Append(others++ > 0 ? ',' : ' ').Append(PageFlagBits.Names[b]);
        }
        return $"{pageCol} {physCol} {mapCol} {idxCol} {cnt} {names}";
    }
}

using System.Runtime.CompilerServices;
using GupSim.Arch;

namespace GupSim.Memory;

/// <summary>struct mem_section (include/linux/mmzone.h): the encoded memmap pointer with flag bits, and the usage map.</summary>
public struct MemSection
{
    /// <summary>section_mem_map: low bits flags, the rest the pre-biased memmap address (see <see cref="SectionTable"/>).</summary>
    public ulong SectionMemMap;
    /// <summary>The struct mem_section_usage pointer (non-zero once the section has a usage map).</summary>
    public ulong Usage;
}

/// <summary>
/// The <c>mem_section</c> table of classic SPARSEMEM and SPARSEMEM_VMEMMAP (include/linux/mmzone.h, mm/sparse.c):
/// SPARSEMEM_EXTREME keeps an array of root pointers whose roots are allocated on demand
/// (<c>sparse_index_init</c>); SPARSEMEM_STATIC one flat array (one section per root).
/// </summary>
public sealed class SectionTable
{
    private readonly MemSection[]?[] _roots;

    /// <summary>SECTION_MARKED_PRESENT.</summary>
    public const ulong MarkedPresent = 1 << 0;
    /// <summary>SECTION_HAS_MEM_MAP.</summary>
    public const ulong HasMemMap = 1 << 1;
    /// <summary>SECTION_IS_ONLINE.</summary>
    public const ulong IsOnline = 1 << 2;
    /// <summary>SECTION_IS_EARLY.</summary>
    public const ulong IsEarly = 1 << 3;

    /// <summary>Builds an empty table for an arch.</summary>
    /// <param name="arch">Gives SECTIONS_SHIFT and PAGE_SIZE.</param>
    /// <param name="extreme">CONFIG_SPARSEMEM_EXTREME (else SPARSEMEM_STATIC).</param>
    /// <param name="pageExtension">CONFIG_PAGE_EXTENSION (struct mem_section grows to 32 bytes on 64-bit).</param>
    public SectionTable(ArchProfile arch, bool extreme, bool pageExtension)
    {
        Extreme = extreme;
        PfnSectionShift = arch.PfnSectionShift;
        NrMemSections = arch.NrMemSections;
        SizeofMemSection = (pageExtension ? 4 : 2) * arch.WordBytes;
        SectionsPerRoot = extreme ? arch.PageSize / (ulong)SizeofMemSection : 1;
        NrSectionRoots = (NrMemSections + SectionsPerRoot - 1) / SectionsPerRoot;
        // v5.14 inserted SECTION_TAINT_ZONE_DEVICE at bit 4 and moved SECTION_MAP_LAST_BIT to bit 5.
        MapLastBit = arch.Version.HasSectionTaintZoneDevice ? 1UL << 5 : 1UL << 4;
        _roots = new MemSection[]?[NrSectionRoots];
        if (!extreme)
            for (ulong r = 0; r < NrSectionRoots; r++) _roots[r] = new MemSection[1];
    }

    /// <summary>CONFIG_SPARSEMEM_EXTREME.</summary>
    public bool Extreme { get; }
    /// <summary>PFN_SECTION_SHIFT.</summary>
    public int PfnSectionShift { get; }
    /// <summary>NR_MEM_SECTIONS.</summary>
    public ulong NrMemSections { get; }
    /// <summary>sizeof(struct mem_section).</summary>
    public int SizeofMemSection { get; }
    /// <summary>SECTIONS_PER_ROOT.</summary>
    public ulong SectionsPerRoot { get; }
    /// <summary>NR_SECTION_ROOTS.</summary>
    public ulong NrSectionRoots { get; }
    /// <summary>SECTION_MAP_LAST_BIT.</summary>
    public ulong MapLastBit { get; }
    /// <summary>SECTION_MAP_MASK = ~(SECTION_MAP_LAST_BIT − 1).</summary>
    public ulong MapMask => ~(MapLastBit - 1);
    /// <summary>Root arrays allocated so far.</summary>
    public int RootsAllocated => _roots.Count(r => r is not null);

    /// <summary>pfn_to_section_nr().</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong PfnToSectionNr(ulong pfn) => pfn >> PfnSectionShift;
    /// <summary>section_nr_to_pfn().</summary>
    public ulong SectionNrToPfn(ulong nr) => nr << PfnSectionShift;

    /// <summary>sparse_index_init(): allocates the root holding section <paramref name="nr"/> if it is missing.</summary>
    public void IndexInit(ulong nr)
    {
        ulong root = nr / SectionsPerRoot;
        _roots[root] ??= new MemSection[SectionsPerRoot];
    }

    /// <summary>
    /// __nr_to_section(): a reference to the entry, or a null-reference result (<paramref name="found"/> false)
    /// when the root is not allocated or <paramref name="nr"/> is past NR_MEM_SECTIONS.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref MemSection NrToSection(ulong nr, out bool found)
    {
        ulong root = nr / SectionsPerRoot;
        if (root >= (ulong)_roots.Length || _roots[root] is not { } arr)
        {
            found = false;
            return ref _nullSection;
        }
        found = true;
        return ref arr[nr % SectionsPerRoot];
    }

    private static MemSection _nullSection;

    /// <summary>The raw section_mem_map of section <paramref name="nr"/>, 0 when the root is missing (the kernel would dereference NULL; callers decide).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong RawMemMap(ulong nr, out bool rootPresent)
    {
        ref MemSection s = ref NrToSection(nr, out rootPresent);
        return rootPresent ? s.SectionMemMap : 0;
    }

    /// <summary>present_section_nr().</summary>
    public bool IsPresent(ulong nr) => (RawMemMap(nr, out _) & MarkedPresent) != 0;

    /// <summary>valid_section_nr(): has a memmap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsValid(ulong nr) => (RawMemMap(nr, out _) & HasMemMap) != 0;

    /// <summary>online_section_nr().</summary>
    public bool IsSectionOnline(ulong nr) => (RawMemMap(nr, out _) & IsOnline) != 0;

    /// <summary>section_mark_present().</summary>
    public void MarkPresent(ulong nr)
    {
        IndexInit(nr);
        NrToSection(nr, out _).SectionMemMap |= MarkedPresent;
    }

    /// <summary>
    /// sparse_init_one_section() with sparse_encode_mem_map(): stores the memmap address pre-biased by the
    /// section's first pfn, i.e. the address where pfn 0's struct page would be if this array extended back.
    /// </summary>
    public void InitOneSection(ulong nr, ulong memmapVa, int structPageSize, ulong flags, ulong usage)
    {
        IndexInit(nr);
        ref MemSection s = ref NrToSection(nr, out _);
        ulong coded = unchecked(memmapVa - SectionNrToPfn(nr) * (ulong)structPageSize);
        if ((coded & ~MapMask) != 0)
            throw new InvalidOperationException($"sparse_encode_mem_map: low bits set in 0x{coded:x} (memmap not aligned)");
        s.SectionMemMap = (s.SectionMemMap & ~MapMask & MarkedPresent) | coded | HasMemMap | flags;
        s.Usage = usage;
    }

    /// <summary>Sets or clears SECTION_IS_ONLINE.</summary>
    public void SetOnline(ulong nr, bool online)
    {
        ref MemSection s = ref NrToSection(nr, out bool found);
        if (!found) return;
        if (online) s.SectionMemMap |= IsOnline;
        else s.SectionMemMap &= ~IsOnline;
    }

    /// <summary>Clears a section (sparse_remove_section).</summary>
    public void Clear(ulong nr)
    {
        ref MemSection s = ref NrToSection(nr, out bool found);
        if (!found) return;
        s.SectionMemMap = 0;
        s.Usage = 0;
    }

    /// <summary>__section_mem_map_addr(): the pre-biased pointer, flag bits masked off.</summary>
    public ulong SectionMemMapAddr(ulong raw) => raw & MapMask;

    /// <summary>sparse_decode_mem_map(): the real start of the section's array.</summary>
    public ulong DecodeMemMap(ulong nr, int structPageSize) =>
        unchecked(SectionMemMapAddr(RawMemMap(nr, out _)) + SectionNrToPfn(nr) * (ulong)structPageSize);
}

using GupSim.Core;

namespace GupSim.Arch;

/// <summary>A huge page size an arch supports, and how its page tables map it (arch/*/mm/hugetlbpage.c arch_hugetlb_valid_size()).</summary>
/// <param name="Bytes">The huge page size in bytes.</param>
/// <param name="Mapping">The page-table level and form of its leaf.</param>
/// <param name="ContCount">Entries in a contiguous run (arm64 CONT_PTES/CONT_PMDS); 1 for a single leaf.</param>
public sealed record HugePageSize(ulong Bytes, HugeMapping Mapping, int ContCount = 1)
{
    /// <summary>huge_page_order(): log2(size / PAGE_SIZE).</summary>
    public int Order(int pageShift) => System.Numerics.BitOperations.Log2(Bytes) - pageShift;

    /// <summary>"2M", "1G", "64K".</summary>
    public string Name => ByteSize.Format(Bytes);
}

/// <summary>Kernel memory zones (include/linux/mmzone.h enum zone_type).</summary>
public enum ZoneType
{
    Dma,
    Dma32,
    Normal,
    HighMem,
    Movable,
}

/// <summary>A zone and the physical address below which it ends (the last zone ends at the top of memory).</summary>
public sealed record ZoneLimit(ZoneType Zone, ulong EndBytes);

/// <summary>
/// Everything GupSim needs to know about one architecture as one kernel version builds it: page and
/// page-table shifts (asm/pgtable*.h), section constants (asm/sparsemem.h), MAX_ORDER and pageblock order,
/// the memory models it can build, its huge page sizes, and its kernel virtual address map.
/// </summary>
/// <remarks>
/// Obtain one with <see cref="ArchProfiles.Get"/>. Immutable; a `.config` may override single values with
/// <c>with</c> (e.g. CONFIG_ARCH_FORCE_MAX_ORDER).
/// </remarks>
public sealed record ArchProfile
{
    /// <summary>GupSim's name for the profile ("x86_64", "arm64-4k", ...).</summary>
    public required string Name { get; init; }
    /// <summary>The kernel's arch directory (arch/x86, arch/arm64, ...).</summary>
    public required string KernelArch { get; init; }
    /// <summary>The kernel version whose values this profile carries.</summary>
    public required KernelVersion Version { get; init; }
    /// <summary>One line for humans.</summary>
    public required string Description { get; init; }
    /// <summary>BITS_PER_LONG: 32 or 64.</summary>
    public required int BitsPerLong { get; init; }
    /// <summary>PAGE_SHIFT.</summary>
    public required int PageShift { get; init; }
    /// <summary>CONFIG_PGTABLE_LEVELS (folded levels not counted).</summary>
    public required int PgtableLevels { get; init; }
    /// <summary>PMD_SHIFT (equals PGDIR_SHIFT when the PMD is folded).</summary>
    public required int PmdShift { get; init; }
    /// <summary>PUD_SHIFT (equals PGDIR_SHIFT when the PUD is folded).</summary>
    public required int PudShift { get; init; }
    /// <summary>P4D_SHIFT (equals PGDIR_SHIFT when the P4D is folded).</summary>
    public required int P4dShift { get; init; }
    /// <summary>PGDIR_SHIFT.</summary>
    public required int PgdirShift { get; init; }
    /// <summary>SECTION_SIZE_BITS (asm/sparsemem.h).</summary>
    public required int SectionSizeBits { get; init; }
    /// <summary>MAX_PHYSMEM_BITS (asm/sparsemem.h).</summary>
    public required int MaxPhysmemBits { get; init; }
    /// <summary>
    /// MAX_ORDER in the v5.11 meaning (exclusive: the largest buddy block has order MaxOrder − 1), whatever the
    /// version; <see cref="KernelMaxOrder"/> gives the number the version itself defines.
    /// </summary>
    public required int MaxOrder { get; init; }
    /// <summary>pageblock_order.</summary>
    public required int PageblockOrder { get; init; }
    /// <summary>Memory models this arch can build in this version, the default first.</summary>
    public required IReadOnlyList<MemoryModel> Models { get; init; }
    /// <summary>Whether the arch can build SPARSEMEM_VMEMMAP at all (SPARSEMEM_VMEMMAP_ENABLE).</summary>
    public required bool VmemmapSupported { get; init; }
    /// <summary>Whether the arch forces SPARSEMEM_VMEMMAP (a `select`), so classic SPARSEMEM is impossible.</summary>
    public required bool VmemmapForced { get; init; }
    /// <summary>Huge page sizes hugetlb accepts (arch_hugetlb_valid_size), smallest first.</summary>
    public required IReadOnlyList<HugePageSize> HugePageSizes { get; init; }
    /// <summary>The default huge page size (HPAGE_SIZE) or null when the arch has no hugetlb.</summary>
    public required HugePageSize? DefaultHugePageSize { get; init; }
    /// <summary>PAGE_OFFSET: kernel VA of the start of the direct (linear) map.</summary>
    public required ulong PageOffset { get; init; }
    /// <summary>
    /// Whether PAGE_OFFSET maps the first byte of RAM (arm, arm64, riscv: __va(p) = p − PHYS_OFFSET + PAGE_OFFSET)
    /// rather than physical address 0 (x86, powerpc, s390, sh).
    /// </summary>
    public required bool LinearMapStartsAtRam { get; init; }
    /// <summary>Bytes of RAM the direct map can cover (lowmem on 32-bit; everything on 64-bit).</summary>
    public required ulong LowmemBytes { get; init; }
    /// <summary>
    /// VMEMMAP_START: where the vmemmap area begins, or 0 when the arch has none. The <c>vmemmap</c> symbol (the
    /// struct page of pfn 0) equals it, except where <see cref="VmemmapBiasedByMemstart"/>.
    /// </summary>
    public required ulong VmemmapBase { get; init; }
    /// <summary>
    /// arm64 and riscv define <c>vmemmap = (struct page *)VMEMMAP_START - (memstart_addr >> PAGE_SHIFT)</c>, so the
    /// first RAM pfn's struct page sits at VMEMMAP_START.
    /// </summary>
    public bool VmemmapBiasedByMemstart { get; init; }
    /// <summary>
    /// Alignment of memstart_addr / PHYS_OFFSET, where the linear map starts at RAM (arm64 ARM64_MEMSTART_ALIGN:
    /// 1 GiB with 4K pages, 32 MiB with 16K, 512 MiB with 64K); PAGE_SIZE elsewhere.
    /// </summary>
    public ulong MemstartAlign { get; init; }
    /// <summary>VMALLOC_START.</summary>
    public required ulong VmallocStart { get; init; }
    /// <summary>VMALLOC_END.</summary>
    public required ulong VmallocEnd { get; init; }
    /// <summary>Zones from low to high physical address.</summary>
    public required IReadOnlyList<ZoneLimit> Zones { get; init; }
    /// <summary>Where RAM starts on a default machine of this arch.</summary>
    public required ulong DefaultRamStart { get; init; }
    /// <summary>Where the kernel image is loaded (a memblock reservation at boot).</summary>
    public required ulong KernelImageStart { get; init; }
    /// <summary>Size of the kernel image reservation.</summary>
    public required ulong KernelImageBytes { get; init; }

    /// <summary>RAM of a default machine of this arch (`--mem` not given): 20 GiB on 64-bit (room for 16 × 1 GiB huge pages), 2 GiB on 32-bit.</summary>
    public ulong DefaultMemBytes => BitsPerLong == 64 ? 20UL << 30 : 2UL << 30;

    /// <summary>PAGE_SIZE.</summary>
    public ulong PageSize => 1UL << PageShift;
    /// <summary>sizeof(struct page): 64 bytes on 64-bit, 32 on 32-bit (include/linux/mm_types.h).</summary>
    public int StructPageSize => BitsPerLong == 64 ? 64 : 32;
    /// <summary>sizeof(unsigned long).</summary>
    public int WordBytes => BitsPerLong / 8;

    /// <summary>
    /// ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP (ARCH_WANT_HUGETLB_PAGE_OPTIMIZE_VMEMMAP before v6.3): selected by x86 (X86_64),
    /// arm64, s390 (00a34d5a99c0) and riscv (64-bit) among GupSim's arches; not by powerpc, 32-bit arm, i386 or sh.
    /// CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP is <c>def_bool HUGETLB_PAGE</c> on top of it and of SPARSEMEM_VMEMMAP.
    /// </summary>
    public bool WantsOptimizeHugetlbVmemmap => BitsPerLong == 64 && KernelArch is "x86" or "arm64" or "s390" or "riscv";

    /// <summary>
    /// MAX_FOLIO_ORDER (include/linux/mmzone.h from v7.1, mm.h in v6.18) with gigantic hugetlb folios possible
    /// (HAVE_GIGANTIC_FOLIOS, 39231e8d6ba7): <c>ilog2(SZ_16G) − PAGE_SHIFT</c> on 64-bit, <c>ilog2(SZ_1G) − PAGE_SHIFT</c> on
    /// 32-bit; the SPARSEMEM-without-VMEMMAP cap (PFN_SECTION_SHIFT) is applied where hstates register.
    /// </summary>
    public int MaxFolioOrderGigantic => (BitsPerLong == 64 ? 34 : 30) - PageShift;
    /// <summary>PFN_SECTION_SHIFT = SECTION_SIZE_BITS − PAGE_SHIFT.</summary>
    public int PfnSectionShift => SectionSizeBits - PageShift;
    /// <summary>PAGES_PER_SECTION.</summary>
    public ulong PagesPerSection => 1UL << PfnSectionShift;
    /// <summary>SECTIONS_SHIFT = MAX_PHYSMEM_BITS − SECTION_SIZE_BITS.</summary>
    public int SectionsShift => MaxPhysmemBits - SectionSizeBits;
    /// <summary>NR_MEM_SECTIONS.</summary>
    public ulong NrMemSections => 1UL << SectionsShift;
    /// <summary>MAX_ORDER_NR_PAGES: pages in the largest buddy block.</summary>
    public ulong MaxOrderNrPages => 1UL << (MaxOrder - 1);
    /// <summary>MAX_ORDER as this kernel version defines it (inclusive from v6.4, named MAX_PAGE_ORDER from v6.8).</summary>
    public int KernelMaxOrder => Version.MaxOrderIsInclusive ? MaxOrder - 1 : MaxOrder;
    /// <summary>The size in bytes the top of the PMD level maps.</summary>
    public ulong PmdSize => 1UL << PmdShift;
    /// <summary>The size in bytes a PUD entry maps.</summary>
    public ulong PudSize => 1UL << PudShift;

    /// <summary>
    /// POISON_POINTER_DELTA (CONFIG_ILLEGAL_POINTER_VALUE): 0xdead000000000000 on x86-64, arm64 and riscv64,
    /// 0x5deadbeef0000000 on powerpc64, 0 on s390 and 32-bit arches.
    /// </summary>
    public ulong PoisonPointerDelta => BitsPerLong == 32 || KernelArch == "s390" ? 0 : KernelArch == "powerpc" ? 0x5deadbeef0000000UL : 0xdead000000000000UL;

    /// <summary>TAIL_MAPPING: the poison prep_compound_page() stores in tail pages' mapping (0x400 + POISON_POINTER_DELTA).</summary>
    public ulong TailMapping => 0x400 + PoisonPointerDelta;

    /// <summary>The memory model used when none is asked for (the Kconfig default).</summary>
    public MemoryModel DefaultModel => Models[0];

    /// <summary>hstate_is_gigantic() in the v5.11 meaning: order ≥ MAX_ORDER.</summary>
    public bool IsGigantic(HugePageSize size) => size.Order(PageShift) >= MaxOrder;

    /// <summary>Finds a supported huge page size by its byte count, or null.</summary>
    public HugePageSize? FindHugePageSize(ulong bytes)
    {
        foreach (var h in HugePageSizes)
            if (h.Bytes == bytes) return h;
        return null;
    }
}

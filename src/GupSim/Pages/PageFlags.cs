namespace GupSim.Pages;

/// <summary>
/// Page flag bit numbers (include/linux/page-flags.h enum pageflags, v5.11 numbering, without PG_uncached).
/// Only the low bits; the zone/node/section fields sit at the top of the word (see <see cref="PageFlagsLayout"/>).
/// </summary>
public static class PageFlagBits
{
    public const int Locked = 0;
    public const int Referenced = 1;
    public const int Uptodate = 2;
    public const int Dirty = 3;
    public const int Lru = 4;
    public const int Active = 5;
    public const int Workingset = 6;
    public const int Waiters = 7;
    public const int Error = 8;
    public const int Slab = 9;
    public const int OwnerPriv1 = 10;
    public const int Arch1 = 11;
    public const int Reserved = 12;
    public const int Private = 13;
    public const int Private2 = 14;
    public const int Writeback = 15;
    public const int Head = 16;
    public const int MappedToDisk = 17;
    public const int Reclaim = 18;
    public const int SwapBacked = 19;
    public const int Unevictable = 20;
    public const int Mlocked = 21;
    public const int HwPoison = 22;
    /// <summary>__NR_PAGEFLAGS on 64-bit configs (PG_young and PG_idle, which need 64BIT, included).</summary>
    public const int NrPageFlags = 25;

    /// <summary>__NR_PAGEFLAGS for a word size: 32-bit kernels have no PG_young/PG_idle page flags.</summary>
    public static int NrPageFlagsFor(int bitsPerLong) => bitsPerLong == 64 ? NrPageFlags : NrPageFlags - 2;

    /// <summary>Names for dump_page()'s "flags: 0x...(name|name)" line, by bit.</summary>
    public static readonly string[] Names =
    [
        "locked", "referenced", "uptodate", "dirty", "lru", "active", "workingset", "waiters", "error", "slab",
        "owner_priv_1", "arch_1", "reserved", "private", "private_2", "writeback", "head", "mappedtodisk",
        "reclaim", "swapbacked", "unevictable", "mlocked", "hwpoison", "young", "idle",
    ];

    /// <summary>
    /// PAGE_FLAGS_CHECK_AT_FREE (v5.11): flags that must be clear when a page is freed; a set one gives
    /// "BUG: Bad page state" with reason "PAGE_FLAGS_CHECK_AT_FREE flag(s) set".
    /// </summary>
    public const ulong CheckAtFree =
        (1UL << Lru) | (1UL << Locked) | (1UL << Private) | (1UL << Private2) | (1UL << Writeback) |
        (1UL << Reserved) | (1UL << Slab) | (1UL << Active) | (1UL << Unevictable) | (1UL << Mlocked);

    /// <summary>PAGE_FLAGS_CHECK_AT_PREP (v5.11): every page flag bit (below the zone/node/section fields); cleared at free.</summary>
    public static ulong CheckAtPrepFor(int bitsPerLong) => (1UL << NrPageFlagsFor(bitsPerLong)) - 1;
}

/// <summary>
/// Where the zone, node and section numbers sit in page->flags (include/linux/page-flags-layout.h):
/// from the top of the word, SECTIONS (only on SPARSEMEM without VMEMMAP: SECTION_IN_PAGE_FLAGS), then NODES,
/// then ZONES. A width that does not fit next to __NR_PAGEFLAGS is dropped (NODE_NOT_IN_PAGE_FLAGS).
/// </summary>
public sealed record PageFlagsLayout(int BitsPerLong, int SectionsWidth, int NodesWidth, int ZonesWidth)
{
    /// <summary>SECTIONS_PGSHIFT (0 width → unused).</summary>
    public int SectionsShift => BitsPerLong - SectionsWidth;
    /// <summary>NODES_PGSHIFT.</summary>
    public int NodesShift => SectionsShift - NodesWidth;
    /// <summary>ZONES_PGSHIFT.</summary>
    public int ZonesShift => NodesShift - ZonesWidth;

    /// <summary>Builds the layout the kernel would for these widths, dropping the node field when it does not fit.</summary>
    public static PageFlagsLayout Create(int bitsPerLong, int sectionsWidth, int nodesShift, int zonesWidth)
    {
        int free = bitsPerLong - PageFlagBits.NrPageFlagsFor(bitsPerLong) - sectionsWidth - zonesWidth;
        int nodes = nodesShift <= free ? nodesShift : 0;
        return new PageFlagsLayout(bitsPerLong, sectionsWidth, nodes, zonesWidth);
    }

    private static ulong Mask(int width) => width == 0 ? 0 : (width >= 64 ? ulong.MaxValue : (1UL << width) - 1);

    /// <summary>set_page_links(): the zone, node and section fields for a page.</summary>
    public ulong Links(int zone, int nid, ulong sectionNr)
    {
        ulong flags = 0;
        if (SectionsWidth > 0) flags |= (sectionNr & Mask(SectionsWidth)) << SectionsShift;
        if (NodesWidth > 0) flags |= ((ulong)nid & Mask(NodesWidth)) << NodesShift;
        if (ZonesWidth > 0) flags |= ((ulong)zone & Mask(ZonesWidth)) << ZonesShift;
        return flags;
    }

    /// <summary>page_to_section(): (flags >> SECTIONS_PGSHIFT) &amp; SECTIONS_MASK.</summary>
    public ulong SectionOf(ulong flags) => SectionsWidth == 0 ? 0 : (flags >> SectionsShift) & Mask(SectionsWidth);

    /// <summary>page_to_nid() when the node is in page flags.</summary>
    public int NodeOf(ulong flags) => NodesWidth == 0 ? 0 : (int)((flags >> NodesShift) & Mask(NodesWidth));

    /// <summary>page_zonenum().</summary>
    public int ZoneOf(ulong flags) => ZonesWidth == 0 ? 0 : (int)((flags >> ZonesShift) & Mask(ZonesWidth));
}

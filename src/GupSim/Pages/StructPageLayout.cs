using GupSim.Arch;

namespace GupSim.Pages;

/// <summary>
/// Byte offsets of the struct page fields GupSim reads and writes, as include/linux/mm_types.h lays them out for
/// one word size and kernel version (v5.18: 5232c63f46fd; v6.6: struct folio). Fields that share a union share an offset, so a tail
/// page's <c>compound_head</c> is the head page's <c>lru.next</c>, as in the kernel.
/// </summary>
/// <remarks>
/// 64-bit: flags @0, compound_head/lru.next @8, lru.prev @16, mapping @24, index @32, private @40, _mapcount @48,
/// _refcount @52, memcg_data @56 (64 bytes). 32-bit: flags @0, compound_head @4, lru.prev @8, mapping @12,
/// index @16, private @20, _mapcount @24, _refcount @28 (32 bytes).
/// First tail (page[1]) v5.11: compound_dtor (byte) and compound_order (byte) at the lru.prev offset, then
/// compound_mapcount (int), compound_nr (uint). Second tail (page[2]) v5.11–v5.17: hpage_pinned_refcount at the
/// lru.prev offset. v5.18 (5232c63f46fd) and the v6.1 folio: page[1] carries compound_pincount before
/// compound_nr. v6.6 folio: page[1] = _flags_1 (order in its low byte), _head_1, _folio_avail, _entire_mapcount,
/// _nr_pages_mapped, _pincount, _folio_nr_pages. Later versions are modelled with the v6.6 layout.
/// </remarks>
public sealed record StructPageLayout
{
    /// <summary>sizeof(struct page).</summary>
    public required int Size { get; init; }
    /// <summary>sizeof(unsigned long).</summary>
    public required int WordBytes { get; init; }
    public required int Flags { get; init; }
    /// <summary>compound_head (bit 0 set on tail pages) = lru.next.</summary>
    public required int CompoundHead { get; init; }
    public required int LruPrev { get; init; }
    public required int Mapping { get; init; }
    public required int Index { get; init; }
    public required int Private { get; init; }
    /// <summary>_mapcount (starts at −1) / page_type.</summary>
    public required int Mapcount { get; init; }
    /// <summary>_refcount.</summary>
    public required int Refcount { get; init; }
    /// <summary>In page[1]: compound_dtor (byte), or −1 when the version keeps none there.</summary>
    public required int CompoundDtor { get; init; }
    /// <summary>In page[1]: compound_order (byte); in v6.6+ the low byte of _flags_1.</summary>
    public required int CompoundOrder { get; init; }
    /// <summary>In page[1]: compound_mapcount / _entire_mapcount (int).</summary>
    public required int CompoundMapcount { get; init; }
    /// <summary>In page[1]: compound_nr / _folio_nr_pages (uint).</summary>
    public required int CompoundNr { get; init; }
    /// <summary>Which tail holds the pincount: 2 (v5.11–v5.17, order ≥ 2 only) or 1 (v5.18+).</summary>
    public required int PincountPage { get; init; }
    /// <summary>Offset of the pincount inside that tail (int).</summary>
    public required int Pincount { get; init; }

    /// <summary>The layout for an arch as a kernel version builds it.</summary>
    public static StructPageLayout For(int bitsPerLong, KernelVersion version)
    {
        int w = bitsPerLong / 8;
        var baseLayout = new StructPageLayout
        {
            Size = 8 * w,
            WordBytes = w,
            Flags = 0,
            CompoundHead = w,
            LruPrev = 2 * w,
            Mapping = 3 * w,
            Index = 4 * w,
            Private = 5 * w,
            Mapcount = 6 * w,
            Refcount = 6 * w + 4,
            CompoundDtor = 2 * w,
            CompoundOrder = 2 * w + 1,
            CompoundMapcount = 2 * w + 4,
            CompoundNr = 2 * w + 8,
            PincountPage = 2,
            Pincount = 2 * w,
        };
        if (version >= KernelVersion.V6_6)
        {
            return baseLayout with
            {
                CompoundDtor = -1,
                CompoundOrder = 0,
                CompoundMapcount = 3 * w,
                PincountPage = 1,
                Pincount = 3 * w + 8,
                CompoundNr = 3 * w + 12,
            };
        }
        if (version.PincountInFirstTail)
            return baseLayout with { PincountPage = 1, Pincount = 2 * w + 8, CompoundNr = 2 * w + 12 };
        return baseLayout;
    }
}

using GupSim.Arch;

namespace GupSim.Pages;

/// <summary>
/// Page types (include/linux/page-flags.h, v6.9 on): a type is kept in page_type, the 32-bit word the head's
/// _mapcount overlays, so a typed page's "mapcount" is a large negative number. Only the hugetlb type is set by
/// GupSim (d99e3140a4d3); the encodings per <see cref="PageTypeEncoding"/>:
/// <list type="bullet">
/// <item>v6.9–v6.10: <c>PageType(page, flag)</c> is <c>(page_type &amp; (PAGE_TYPE_BASE | flag)) == PAGE_TYPE_BASE</c>
/// with PAGE_TYPE_BASE 0xf0000000 and PG_hugetlb 0x00000800; setting clears the bit (0xffffffff → 0xfffff7ff),
/// clearing sets it again.</item>
/// <item>v6.11 (8db00ad56461): PAGE_TYPE_BASE 0x80000000, PG_hugetlb 0x04000000 (→ 0xfbffffff).</item>
/// <item>v6.12 (4ffca5a96678): <c>page_type &gt;&gt; 24 == PGTY_hugetlb</c> (0xf4); setting stores 0xf4000000,
/// clearing UINT_MAX.</item>
/// </list>
/// </summary>
public static class PageTypes
{
    /// <summary>The word of a page with no type (_mapcount −1).</summary>
    public const uint None = uint.MaxValue;

    /// <summary>PAGE_MAPCOUNT_RESERVE: page_has_type() is a page_type (as an int) below it.</summary>
    public const int PageMapcountReserve = -128;

    /// <summary>PGTY_hugetlb (v6.12).</summary>
    public const uint PgtyHugetlb = 0xf4;

    private static (uint Base, uint Hugetlb) Bits(PageTypeEncoding e) =>
        e == PageTypeEncoding.ClearedBitV611 ? (0x8000_0000u, 0x0400_0000u) : (0xf000_0000u, 0x0000_0800u);

    /// <summary>__folio_set_hugetlb(): the page_type word after setting the hugetlb type on <paramref name="word"/>.</summary>
    public static uint SetHugetlb(uint word, PageTypeEncoding e) =>
        e == PageTypeEncoding.TopByte ? PgtyHugetlb << 24 : word & ~Bits(e).Hugetlb;

    /// <summary>__folio_clear_hugetlb(): the word after clearing the type.</summary>
    public static uint ClearHugetlb(uint word, PageTypeEncoding e) =>
        e == PageTypeEncoding.TopByte ? None : word | Bits(e).Hugetlb;

    /// <summary>folio_test_hugetlb() on the head's page_type <paramref name="word"/>.</summary>
    public static bool TestHugetlb(uint word, PageTypeEncoding e)
    {
        if (e == PageTypeEncoding.TopByte) return word >> 24 == PgtyHugetlb;
        var (b, h) = Bits(e);
        return (word & (b | h)) == b;
    }

    /// <summary>page_has_type(): the word, read as an int, below PAGE_MAPCOUNT_RESERVE.</summary>
    public static bool HasType(uint word) => (int)word < PageMapcountReserve;

    /// <summary>
    /// The <c>page_type:</c> line of __dump_folio() for a typed head: v6.9–v6.11 <c>%pGt</c>, the word in hex and the
    /// names of its cleared type bits (<c>page_type: 0xfffff7ff(hugetlb)</c>); v6.12 <c>%x(%s)</c> of the top byte and
    /// page_type_name() (<c>page_type: f4(hugetlb)</c>). Only the hugetlb type has a name here (GupSim sets no other).
    /// </summary>
    public static string DumpLine(uint word, PageTypeEncoding e)
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        if (e == PageTypeEncoding.TopByte)
            return string.Create(ci, $"page_type: {word >> 24:x}({(word >> 24 == PgtyHugetlb ? "hugetlb" : "unknown")})");
        return string.Create(ci, $"page_type: 0x{word:x}({(TestHugetlb(word, e) ? "hugetlb" : "")})");
    }
}

using GupSim.Arch;

namespace GupSim.Hugetlb;

/// <summary>
/// MAX_FOLIO_ORDER (include/linux/mm.h, v6.18): the largest folio order the kernel expects. 4751c39eee0c ("mm: limit
/// folio/compound page sizes in problematic kernel configs") introduced the ladder; 39231e8d6ba7 ("mm: fix
/// MAX_FOLIO_ORDER on powerpc configs with hugetlb", v6.18-rc6) keyed it on the new CONFIG_HAVE_GIGANTIC_FOLIOS and
/// added the 16 GiB / 1 GiB hugetlb cap. v6.18 as released has both:
/// <code>
/// !HAVE_GIGANTIC_FOLIOS                → MAX_PAGE_ORDER
/// SPARSEMEM &amp;&amp; !SPARSEMEM_VMEMMAP → PFN_SECTION_SHIFT
/// HUGETLB_PAGE                         → get_order(64BIT ? SZ_16G : SZ_1G)
/// otherwise                            → PUD_ORDER
/// </code>
/// Before 39231e8d6ba7 the first test was on ARCH_HAS_GIGANTIC_PAGE and the HUGETLB_PAGE rung did not exist, so
/// powerpc hash (16 GiB pages, no ARCH_HAS_GIGANTIC_PAGE) got MAX_PAGE_ORDER and WARNed at hstate registration.
/// Releases before v6.18 have no MAX_FOLIO_ORDER at all.
/// </summary>
public static class MaxFolioOrder
{
    /// <summary>
    /// CONFIG_HAVE_GIGANTIC_FOLIOS (mm/Kconfig, 39231e8d6ba7): <c>(HUGETLB_PAGE &amp;&amp; ARCH_HAS_GIGANTIC_PAGE) ||
    /// (ZONE_DEVICE &amp;&amp; HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD)</c>.
    /// </summary>
    public static bool HaveGiganticFolios(bool hugetlbPage, bool archHasGiganticPage, bool zoneDevice, bool thpPud) =>
        (hugetlbPage && archHasGiganticPage) || (zoneDevice && thpPud);

    /// <summary>
    /// MAX_FOLIO_ORDER for a kernel, or null for a release without it (before v6.18).
    /// </summary>
    /// <param name="arch">The arch profile (PAGE_SHIFT, MAX_ORDER, PFN_SECTION_SHIFT, PUD_SHIFT, BITS_PER_LONG).</param>
    /// <param name="model">The memory model.</param>
    /// <param name="gigantic">CONFIG_HAVE_GIGANTIC_FOLIOS (with <paramref name="withPowerpcFix"/>), else CONFIG_ARCH_HAS_GIGANTIC_PAGE.</param>
    /// <param name="hugetlbPage">CONFIG_HUGETLB_PAGE.</param>
    /// <param name="withPowerpcFix">Whether 39231e8d6ba7 is in (v6.18 final: yes; v6.18-rc1 to rc5: no).</param>
    public static int? Of(ArchProfile arch, MemoryModel model, bool gigantic, bool hugetlbPage, bool withPowerpcFix = true)
    {
        ArgumentNullException.ThrowIfNull(arch);
        if (!arch.Version.HasMaxFolioOrderInvariant) return null;
        // MAX_PAGE_ORDER: the largest buddy order (MAX_ORDER − 1 in GupSim's v5.11 meaning).
        if (!gigantic) return arch.MaxOrder - 1;
        if (model == MemoryModel.Sparsemem) return arch.PfnSectionShift;
        if (withPowerpcFix && hugetlbPage) return arch.MaxFolioOrderGigantic;
        return arch.PudShift - arch.PageShift;
    }
}

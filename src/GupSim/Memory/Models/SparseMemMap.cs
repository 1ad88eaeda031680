using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory.Models;

/// <summary>
/// Classic SPARSEMEM: every section has its own memmap array, found through the mem_section table; page_to_pfn
/// reads the section number from page->flags (SECTION_IN_PAGE_FLAGS), so a wrong pointer yields that struct page's
/// own pfn, or garbage where no struct page lives.
/// </summary>
public sealed class SparseMemMap : MemMap
{
    internal SparseMemMap(ArchProfile arch, KernelMemory memory, PageFlagsLayout flags, SectionTable sections)
        : base(arch, memory, flags)
    {
        Sections = sections;
    }

    /// <summary>The mem_section table.</summary>
    public SectionTable Sections { get; }

    public override MemoryModel Model => MemoryModel.Sparsemem;

    /// <summary><c>__section_mem_map_addr(__pfn_to_section(pfn)) + pfn</c>; a missing root is a NULL dereference.</summary>
    public override PagePtr PfnToPage(Pfn pfn)
    {
        ulong nr = Sections.PfnToSectionNr(pfn.Value);
        ulong raw = Sections.RawMemMap(nr, out bool found);
        if (!found) throw new KernelOops(KernelVa.Null, $"__pfn_to_section({pfn}) is NULL (section {nr} has no mem_section root)");
        return PagePtr.FromAddress(Sections.SectionMemMapAddr(raw)).Add((long)pfn.Value, StructPageSize);
    }

    /// <summary><c>page - __section_mem_map_addr(__nr_to_section(page_to_section(page)))</c>.</summary>
    public override Pfn PageToPfn(PagePtr page)
    {
        ulong nr = FlagsLayout.SectionOf(ReadFlags(page));
        ulong raw = Sections.RawMemMap(nr, out bool found);
        if (!found) throw new KernelOops(KernelVa.Null, $"page_to_pfn({page}): __nr_to_section({nr}) is NULL");
        var biased = PagePtr.FromAddress(Sections.SectionMemMapAddr(raw));
        return Pfn.FromUInt64(unchecked((ulong)PagePtr.Difference(page, biased, StructPageSize)));
    }

    /// <summary>SPARSEMEM pfn_valid(): the section exists and has a memmap.</summary>
    public override bool PfnValid(Pfn pfn)
    {
        ulong nr = Sections.PfnToSectionNr(pfn.Value);
        return nr < Sections.NrMemSections && Sections.IsValid(nr);
    }
}

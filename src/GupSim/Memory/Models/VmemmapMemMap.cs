using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory.Models;

/// <summary>SPARSEMEM_VMEMMAP: <c>vmemmap + pfn</c>, one virtually contiguous array backed only for present sections.</summary>
public sealed class VmemmapMemMap : MemMap
{
    private readonly SectionTable _sections;

    internal VmemmapMemMap(ArchProfile arch, KernelMemory memory, PageFlagsLayout flags, SectionTable sections)
        : base(arch, memory, flags)
    {
        _sections = sections;
        Vmemmap = memory.Vmemmap;
    }

    /// <summary>The <c>vmemmap</c> symbol: address of pfn 0's struct page.</summary>
    public ulong Vmemmap { get; }

    public override MemoryModel Model => MemoryModel.SparsememVmemmap;

    /// <summary><c>vmemmap + pfn</c>.</summary>
    public override PagePtr PfnToPage(Pfn pfn) => PagePtr.FromAddress(Vmemmap).Add((long)pfn.Value, StructPageSize);

    /// <summary><c>page - vmemmap</c>.</summary>
    public override Pfn PageToPfn(PagePtr page) =>
        Pfn.FromUInt64(unchecked((ulong)PagePtr.Difference(page, PagePtr.FromAddress(Vmemmap), StructPageSize)));

    /// <summary>SPARSEMEM pfn_valid(): the section exists and has a memmap.</summary>
    public override bool PfnValid(Pfn pfn)
    {
        ulong nr = _sections.PfnToSectionNr(pfn.Value);
        return nr < _sections.NrMemSections && _sections.IsValid(nr);
    }
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory.Models;

/// <summary>FLATMEM: one mem_map for the pfns [ARCH_PFN_OFFSET, ARCH_PFN_OFFSET + max_mapnr).</summary>
public sealed class FlatMemMap : MemMap
{
    internal FlatMemMap(ArchProfile arch, KernelMemory memory, PageFlagsLayout flags, ulong memMap, ulong archPfnOffset, ulong maxMapnr)
        : base(arch, memory, flags)
    {
        MemMapVa = memMap;
        ArchPfnOffset = archPfnOffset;
        MaxMapnr = maxMapnr;
    }

    /// <summary>mem_map: the struct page of ARCH_PFN_OFFSET.</summary>
    public ulong MemMapVa { get; }
    /// <summary>ARCH_PFN_OFFSET.</summary>
    public ulong ArchPfnOffset { get; }
    /// <summary>max_mapnr.</summary>
    public ulong MaxMapnr { get; }

    public override MemoryModel Model => MemoryModel.Flatmem;

    /// <summary><c>mem_map + (pfn - ARCH_PFN_OFFSET)</c>.</summary>
    public override PagePtr PfnToPage(Pfn pfn) =>
        PagePtr.FromAddress(MemMapVa).Add(unchecked((long)(pfn.Value - ArchPfnOffset)), StructPageSize);

    /// <summary><c>(page - mem_map) + ARCH_PFN_OFFSET</c>.</summary>
    public override Pfn PageToPfn(PagePtr page) =>
        Pfn.FromUInt64(unchecked((ulong)PagePtr.Difference(page, PagePtr.FromAddress(MemMapVa), StructPageSize) + ArchPfnOffset));

    /// <summary>Generic FLATMEM pfn_valid(): <c>pfn - ARCH_PFN_OFFSET &lt; max_mapnr</c>.</summary>
    public override bool PfnValid(Pfn pfn) => unchecked(pfn.Value - ArchPfnOffset) < MaxMapnr;
}

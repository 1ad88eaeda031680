namespace GupSim.Memory;

/// <summary>How a memmap array was placed in kernel memory.</summary>
public enum MemmapPlacement
{
    /// <summary>SPARSEMEM_VMEMMAP: a slice of the one virtual array at the vmemmap base.</summary>
    Vmemmap,
    /// <summary>FLATMEM: the one mem_map array from memblock.</summary>
    Flat,
    /// <summary>DISCONTIGMEM: a node's node_mem_map from memblock.</summary>
    NodeArray,
    /// <summary>Classic SPARSEMEM at boot: carved in section order from the node's sparsemap_buf.</summary>
    BootBuffer,
    /// <summary>Classic SPARSEMEM fallback: a memblock allocation of its own per section (top-down, each below the one before unless a reservation is between).</summary>
    Scattered,
    /// <summary>Classic SPARSEMEM hot-add: kvmalloc_node() per section (buddy pages, or vmalloc when too large).</summary>
    Hotplug,
}

/// <summary>Where a memmap array's kernel virtual addresses come from.</summary>
public enum KernelVaKind
{
    /// <summary>The direct (linear) map of RAM.</summary>
    DirectMap,
    /// <summary>The vmalloc area.</summary>
    Vmalloc,
    /// <summary>The vmemmap area.</summary>
    Vmemmap,
}

/// <summary>One array of struct pages at a kernel virtual address: the struct page of pfn FirstPfn + i is at VaStart + i × sizeof(struct page).</summary>
public sealed class MemmapArray
{
    public MemmapArray(ulong vaStart, ulong firstPfn, ulong nrPages, int structPageSize, MemmapPlacement placement, KernelVaKind kind, int nid, ulong physStart)
    {
        VaStart = vaStart;
        FirstPfn = firstPfn;
        NrPages = nrPages;
        StructPageSize = structPageSize;
        Placement = placement;
        Kind = kind;
        Nid = nid;
        PhysStart = physStart;
    }

    /// <summary>Address of the struct page of <see cref="FirstPfn"/>.</summary>
    public ulong VaStart { get; }
    /// <summary>The first pfn the array describes.</summary>
    public ulong FirstPfn { get; }
    /// <summary>Number of struct pages.</summary>
    public ulong NrPages { get; }
    /// <summary>sizeof(struct page).</summary>
    public int StructPageSize { get; }
    /// <summary>How it was placed.</summary>
    public MemmapPlacement Placement { get; }
    /// <summary>Which part of the kernel address space holds it.</summary>
    public KernelVaKind Kind { get; }
    /// <summary>Node it was allocated on.</summary>
    public int Nid { get; }
    /// <summary>Physical address of the backing memory (direct map arrays); 0 otherwise.</summary>
    public ulong PhysStart { get; }
    /// <summary>One past the last byte.</summary>
    public ulong VaEnd => VaStart + NrPages * (ulong)StructPageSize;
    /// <summary>Size in bytes.</summary>
    public ulong Bytes => NrPages * (ulong)StructPageSize;
}

namespace GupSim.Arch;

/// <summary>The kernel's memory models (mm/Kconfig "Memory model"; include/asm-generic/memory_model.h).</summary>
public enum MemoryModel
{
    /// <summary>CONFIG_FLATMEM: one global mem_map array.</summary>
    Flatmem,
    /// <summary>CONFIG_DISCONTIGMEM (until v5.14): one node_mem_map array per node.</summary>
    Discontigmem,
    /// <summary>CONFIG_SPARSEMEM without VMEMMAP ("classic"): one memmap array per memory section.</summary>
    Sparsemem,
    /// <summary>CONFIG_SPARSEMEM_VMEMMAP: one virtually contiguous array at the vmemmap base.</summary>
    SparsememVmemmap,
}

/// <summary>How a huge page size is mapped in the page tables (arch/*/mm/hugetlbpage.c).</summary>
public enum HugeMapping
{
    /// <summary>A leaf PMD entry (x86 PSE, arm64 block, ...).</summary>
    PmdLeaf,
    /// <summary>A leaf PUD entry (x86 GBPAGES, arm64 4K 1 GiB block, ...).</summary>
    PudLeaf,
    /// <summary>A run of contiguous PTEs with the arm64 contiguous hint.</summary>
    ContPte,
    /// <summary>A run of contiguous PMDs with the arm64 contiguous hint.</summary>
    ContPmd,
    /// <summary>A powerpc hugepd directory (CONFIG_ARCH_HAS_HUGEPD).</summary>
    Hugepd,
    /// <summary>A PTE-level entry whose size bits select a large page (SuperH).</summary>
    PteLeaf,
}

/// <summary>Names used on the command line and in JSON for <see cref="MemoryModel"/>.</summary>
public static class MemoryModelNames
{
    /// <summary>"flatmem", "discontigmem", "sparsemem" or "sparsemem-vmemmap".</summary>
    public static string ToName(this MemoryModel model) => model switch
    {
        MemoryModel.Flatmem => "flatmem",
        MemoryModel.Discontigmem => "discontigmem",
        MemoryModel.Sparsemem => "sparsemem",
        MemoryModel.SparsememVmemmap => "sparsemem-vmemmap",
        _ => throw new ArgumentOutOfRangeException(nameof(model)),
    };

    /// <summary>Parses the names above; also accepts "vmemmap" and "classic".</summary>
    public static bool TryParse(string text, out MemoryModel model)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "flatmem": model = MemoryModel.Flatmem; return true;
            case "discontigmem": model = MemoryModel.Discontigmem; return true;
            case "sparsemem" or "classic" or "sparse": model = MemoryModel.Sparsemem; return true;
            case "sparsemem-vmemmap" or "vmemmap": model = MemoryModel.SparsememVmemmap; return true;
            default: model = default; return false;
        }
    }

    /// <summary>Every name <see cref="TryParse"/> accepts as primary.</summary>
    public static string AllNames => "flatmem, discontigmem, sparsemem, sparsemem-vmemmap";
}

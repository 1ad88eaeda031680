namespace GupSim.Memory;

/// <summary>
/// What the kernel uses an allocated page for, where it matters for what a stray write through a wrong struct page
/// pointer hits (the "stray writes" accounting line): the allocator that took the page says so when it takes it.
/// </summary>
public enum KernelPageUse
{
    /// <summary>Nothing recorded: a user page (anonymous, page cache, hugetlb) or a free page.</summary>
    None = 0,
    /// <summary>A page-table page (PGD, P4D, PUD, PMD or PTE table).</summary>
    PageTable,
    /// <summary>A slab page (mm/slub.c new_slab()).</summary>
    Slab,
    /// <summary>A memmap: struct pages of some section (hot-added kvmalloc, vmemmap backing).</summary>
    Memmap,
    /// <summary>Any other kernel allocation (kmalloc_large, vmalloc backing, bookkeeping).</summary>
    OtherKernelData,
}

using GupSim.Memory;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim;

public sealed partial class Machine
{
    private Slub? _slub;
    private Vmalloc? _vmalloc;
    private MmUtil? _mmUtil;

    /// <summary>The slab allocator (mm/slub.c), made on first use (kmem_cache_init(): after memblock_free_all()).</summary>
    public Slub Slub
    {
        get
        {
            if (_slub is null) Interlocked.CompareExchange(ref _slub, new Slub(this), null);
            return _slub;
        }
    }

    /// <summary>The vmalloc allocator (mm/vmalloc.c), made on first use.</summary>
    public Vmalloc Vmalloc
    {
        get
        {
            if (_vmalloc is null) Interlocked.CompareExchange(ref _vmalloc, new Vmalloc(this), null);
            return _vmalloc;
        }
    }

    /// <summary>kvmalloc_node() and kvfree() (mm/util.c).</summary>
    public MmUtil MmUtil
    {
        get
        {
            if (_mmUtil is null) Interlocked.CompareExchange(ref _mmUtil, new MmUtil(this), null);
            return _mmUtil;
        }
    }

    /// <summary>
    /// __free_pages() for a kernel allocation (slab, kmalloc_large, vmalloc page, memmap, page table): drops the
    /// reference the allocation held and frees the block to the buddy.
    /// </summary>
    internal void FreeKernelPages(ulong pfn, int order)
    {
        StructPages.SetRefcount(PfnToPage(Pfn.FromUInt64(pfn)), 0);
        FreePages(Pfn.FromUInt64(pfn), order);
    }
}

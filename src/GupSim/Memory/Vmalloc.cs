using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory;

/// <summary>
/// vmalloc (mm/vmalloc.c, v5.11): areas of the vmalloc range backed by order-0 buddy pages one by one. The virtual
/// range is found first fit from VMALLOC_START (__alloc_vmap_area() → find_vmap_lowest_match()), each area followed by
/// one unmapped guard page (__get_vm_area_node() adds PAGE_SIZE unless VM_NO_GUARD). The bookkeeping takes slab
/// objects as the kernel's does: struct vm_struct (kzalloc_node, kmalloc-64 on 64-bit), struct vmap_area (its own
/// cache), and the pages array (kmalloc_node up to a page, a nested vmalloc above). map_kernel_range() allocates the
/// PTE tables (and on 64-bit the PMD tables) of the range the first time it is mapped; the kernel never frees them.
/// A freed area's virtual range is only reused after the lazy purge (free_vmap_area_noflush(): once more than
/// lazy_max_pages() = fls(num_online_cpus) × 32 MiB are waiting), as the kernel does.
/// Only areas GupSim itself allocates are in the range: the rest of the kernel's vmalloc use is not modelled.
/// </summary>
public sealed class Vmalloc
{
    private readonly Machine _m;
    private readonly Lock _lock = new();
    // Busy virtual ranges [Start, End) including the guard page, sorted by start: live areas and lazily freed ones.
    private readonly List<(ulong Start, ulong End)> _busy = [];
    private readonly Dictionary<ulong, VmArea> _areas = [];
    private readonly List<(ulong Start, ulong End, ulong VmapArea)> _lazy = [];
    private readonly HashSet<ulong> _pteTables = [];
    private readonly HashSet<ulong> _pmdTables = [];
    private readonly KmemCache _vmapAreaCache;
    private ulong _lazyPages;

    private sealed record VmArea(ulong Addr, ulong Size, ulong[] Pages, ulong PagesArray, bool PagesArrayVmalloc, ulong VmStruct, ulong VmapArea);

    internal Vmalloc(Machine machine)
    {
        _m = machine;
        // struct vmap_area (v5.11): va_start, va_end, rb_node, list_head, and a union of subtree_max_size and vm.
        int w = machine.Arch.WordBytes;
        _vmapAreaCache = machine.Slub.KmemCacheCreate("vmap_area", 2 * w + 3 * w + 2 * w + w);
    }

    /// <summary>lazy_max_pages(): fls(num_online_cpus()) × 32 MiB, in pages (GupSim: <see cref="Slub.NrCpus"/> CPUs).</summary>
    public ulong LazyMaxPages => (ulong)(System.Numerics.BitOperations.Log2((uint)Slub.NrCpus) + 1) * ((32UL << 20) >> _m.Arch.PageShift);

    /// <summary>
    /// __vmalloc_node() → __vmalloc_node_range(): the area, then __vmalloc_area_node(): the pages array, then each page
    /// with alloc_pages_node(nid, gfp | __GFP_HIGHMEM, 0) (recorded with <paramref name="use"/>), then
    /// map_kernel_range(). Returns the area's start, or 0 (ENOMEM) with everything taken given back.
    /// </summary>
    public ulong VmallocNode(ulong size, Gfp gfp, int nid, string name, KernelPageUse use = KernelPageUse.OtherKernelData)
    {
        ulong pageSize = _m.Arch.PageSize;
        size = (size + pageSize - 1) & ~(pageSize - 1);
        if (size == 0) return 0;
        var slub = _m.Slub;
        Gfp reclaimMask = gfp & (Gfp.Reclaim | Gfp.Io | Gfp.Fs | Gfp.Nowarn | Gfp.RetryMayfail | Gfp.Nofail | Gfp.Noretry | Gfp.Memalloc | Gfp.Nomemalloc);
        // __get_vm_area_node(): struct vm_struct, then alloc_vmap_area(): struct vmap_area and the virtual range.
        int w = _m.Arch.WordBytes;
        ulong vmStruct = slub.KzallocNode((ulong)(8 * w), reclaimMask, nid);
        if (vmStruct == 0) return 0;
        ulong vmapArea = slub.KmemCacheAllocNode(_vmapAreaCache, reclaimMask, nid);
        if (vmapArea == 0)
        {
            slub.Kfree(vmStruct);
            return 0;
        }
        ulong addr = AllocVmapArea(size + pageSize);
        if (addr == 0)
        {
            slub.KmemCacheFree(_vmapAreaCache, vmapArea);
            slub.Kfree(vmStruct);
            return 0;
        }
        // __vmalloc_area_node(): the struct page * array.
        ulong nrPages = size / pageSize;
        ulong arrayBytes = nrPages * (ulong)w;
        Gfp nested = reclaimMask | Gfp.Zero;
        bool arrayVmalloc = arrayBytes > pageSize;
        ulong array = arrayVmalloc ? VmallocNode(arrayBytes, nested | Gfp.Highmem, nid, $"pages array of {name}") : slub.KmallocNode(arrayBytes, nested, nid);
        var pages = new ulong[nrPages];
        ulong got = 0;
        bool ok = array != 0;
        for (; ok && got < nrPages; got++)
        {
            if (!_m.TryAllocPages(0, nid, $"vmalloc page of {name}", out Pfn pfn, gfp | Gfp.Highmem))
            {
                ok = false;
                break;
            }
            pages[got] = pfn.Value;
            _m.MarkKernelPages(pfn.Value, 1, use);
        }
        if (ok) ok = MapKernelRange(addr, size, nid);
        if (!ok)
        {
            for (ulong i = 0; i < got; i++)
            {
                _m.MarkKernelPages(pages[i], 1, KernelPageUse.None);
                _m.FreeKernelPages(pages[i], 0);
            }
            if (array != 0)
            {
                if (arrayVmalloc) Vfree(array);
                else slub.Kfree(array);
            }
            lock (_lock) _busy.RemoveAll(b => b.Start == addr);
            slub.KmemCacheFree(_vmapAreaCache, vmapArea);
            slub.Kfree(vmStruct);
            return 0;
        }
        lock (_lock) _areas[addr] = new VmArea(addr, size, pages, array, arrayVmalloc, vmStruct, vmapArea);
        _m.Memory.MapVmallocArea(addr, addr + size, name);
        return addr;
    }

    /// <summary>
    /// vfree() → __vunmap(): the range is unmapped at once, the pages go back to the buddy, the pages array and the
    /// vm_struct are freed; the vmap_area and its virtual range wait for the lazy purge.
    /// </summary>
    public void Vfree(ulong addr)
    {
        VmArea? a;
        lock (_lock)
        {
            if (!_areas.Remove(addr, out a)) throw new InvalidOperationException($"vfree: 0x{addr:x} is not a vmalloc area");
        }
        _m.Memory.Vfree(addr);
        foreach (ulong p in a.Pages)
        {
            _m.MarkKernelPages(p, 1, KernelPageUse.None);
            _m.FreeKernelPages(p, 0);
        }
        if (a.PagesArrayVmalloc) Vfree(a.PagesArray);
        else _m.Slub.Kfree(a.PagesArray);
        _m.Slub.Kfree(a.VmStruct);
        bool purge;
        lock (_lock)
        {
            _lazy.Add((a.Addr, a.Addr + a.Size + _m.Arch.PageSize, a.VmapArea));
            _lazyPages += a.Size / _m.Arch.PageSize;
            purge = _lazyPages > LazyMaxPages;
        }
        if (purge) PurgeVmapAreaLazy();
    }

    /// <summary>Whether <paramref name="addr"/> is the start of a live vmalloc area.</summary>
    public bool IsArea(ulong addr)
    {
        lock (_lock) return _areas.ContainsKey(addr);
    }

    /// <summary>The backing pfns of the area at <paramref name="addr"/>, in virtual order.</summary>
    public IReadOnlyList<ulong> PagesOf(ulong addr)
    {
        lock (_lock) return _areas.TryGetValue(addr, out var a) ? a.Pages : [];
    }

    /// <summary>__purge_vmap_area_lazy(): the lazily freed ranges become free, their vmap_area objects go back.</summary>
    private void PurgeVmapAreaLazy()
    {
        List<(ulong Start, ulong End, ulong VmapArea)> list;
        lock (_lock)
        {
            list = [.. _lazy];
            _lazy.Clear();
            _lazyPages = 0;
            foreach (var l in list) _busy.RemoveAll(b => b.Start == l.Start);
        }
        foreach (var l in list) _m.Slub.KmemCacheFree(_vmapAreaCache, l.VmapArea);
    }

    /// <summary>
    /// __alloc_vmap_area(): the lowest free range of <paramref name="bytes"/> (area plus guard) at or above
    /// VMALLOC_START; when none fits, purge the lazily freed areas and try again (alloc_vmap_area()'s retry). 0 if full.
    /// </summary>
    private ulong AllocVmapArea(ulong bytes)
    {
        for (int attempt = 0; attempt < 2; attempt++)
        {
            lock (_lock)
            {
                ulong addr = _m.Arch.VmallocStart;
                int i = 0;
                for (; i < _busy.Count; i++)
                {
                    if (_busy[i].Start >= addr + bytes) break;
                    addr = Math.Max(addr, _busy[i].End);
                }
                if (addr + bytes <= _m.Arch.VmallocEnd && addr + bytes > addr)
                {
                    _busy.Insert(i, (addr, addr + bytes));
                    return addr;
                }
            }
            PurgeVmapAreaLazy();
        }
        return 0;
    }

    /// <summary>
    /// map_kernel_range() → vmap_range_noflush(): a PTE table for every PMD-sized slot of the range not mapped before
    /// (pte_alloc_kernel() → pte_alloc_one_kernel(): __get_free_page(GFP_PGTABLE_KERNEL), the local node), and on
    /// 64-bit a PMD table for every PUD-sized slot (pmd_alloc()); the PUD level of the vmalloc range is allocated at
    /// boot (x86 preallocate_vmalloc_pages(), v5.9). Page tables of the vmalloc range are never freed.
    /// </summary>
    private bool MapKernelRange(ulong addr, ulong size, int nid)
    {
        _ = nid;
        ulong entries = _m.Arch.PageSize / (ulong)_m.Arch.WordBytes;
        ulong pteSpan = _m.Arch.PageSize * entries;
        ulong pmdSpan = pteSpan * entries;
        int local = _m.Nodes[0].Nid;
        if (_m.Arch.BitsPerLong == 64)
            for (ulong s = addr / pmdSpan; s <= (addr + size - 1) / pmdSpan; s++)
                if (!_pmdTables.Contains(s))
                {
                    if (!AllocPageTable(local, $"vmalloc PMD table 0x{s * pmdSpan:x}")) return false;
                    _pmdTables.Add(s);
                }
        for (ulong s = addr / pteSpan; s <= (addr + size - 1) / pteSpan; s++)
            if (!_pteTables.Contains(s))
            {
                if (!AllocPageTable(local, $"vmalloc PTE table 0x{s * pteSpan:x}")) return false;
                _pteTables.Add(s);
            }
        return true;
    }

    private bool AllocPageTable(int nid, string owner)
    {
        if (!_m.TryAllocPages(0, nid, owner, out Pfn pfn, Gfp.Kernel | Gfp.Zero)) return false;
        _m.MarkKernelPages(pfn.Value, 1, KernelPageUse.PageTable);
        return true;
    }
}

/// <summary>The kvmalloc family of mm/util.c.</summary>
public sealed class MmUtil
{
    private readonly Machine _m;

    internal MmUtil(Machine machine) => _m = machine;

    /// <summary>
    /// kvmalloc_node() (mm/util.c): for more than a page, kmalloc_node() with __GFP_NOWARN | __GFP_NORETRY added
    /// (v6.18: __GFP_NOWARN added and __GFP_DIRECT_RECLAIM cleared instead of NORETRY) so that it fails fast; a
    /// failure falls back to __vmalloc_node(size, 1, gfp, nid). Up to a page kmalloc_node() is the only try.
    /// <paramref name="use"/> is what the pages are recorded as (a kmalloc_large block or the vmalloc pages).
    /// Returns the address, or 0 (ENOMEM).
    /// </summary>
    public ulong KvmallocNode(ulong size, Gfp gfp, int nid, string name, KernelPageUse use = KernelPageUse.OtherKernelData)
    {
        Gfp kmallocFlags = gfp;
        if (size > _m.Arch.PageSize)
        {
            kmallocFlags |= Gfp.Nowarn;
            if (_m.Version >= Arch.KernelVersion.V6_18) kmallocFlags &= ~Gfp.DirectReclaim;
            else if ((gfp & Gfp.RetryMayfail) == 0) kmallocFlags |= Gfp.Noretry;
        }
        ulong ret = _m.Slub.KmallocNode(size, kmallocFlags, nid, use);
        if (ret != 0 || size <= _m.Arch.PageSize) return ret;
        return _m.Vmalloc.VmallocNode(size, gfp, nid, name, use);
    }

    /// <summary>kvfree(): vfree() for a vmalloc address (is_vmalloc_addr()), kfree() otherwise.</summary>
    public void Kvfree(ulong addr)
    {
        if (addr >= _m.Arch.VmallocStart && addr < _m.Arch.VmallocEnd) _m.Vmalloc.Vfree(addr);
        else _m.Slub.Kfree(addr);
    }
}

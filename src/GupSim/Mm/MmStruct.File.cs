using GupSim.Memory;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Arch;
using GupSim.Pages;

namespace GupSim.Mm;

public sealed partial class MmStruct
{
    /// <summary>
    /// __page_set_anon_rmap(): page->mapping = anon_vma | PAGE_MAPPING_ANON and page->index = linear_page_index() for a
    /// new anonymous page (the head of a THP). free_pages_prepare() clears the mapping again.
    /// </summary>
    private void SetAnonRmap(Vma vma, PagePtr page, ulong addr)
    {
        var sp = _m.StructPages;
        sp.SetMapping(page, AnonVmaPrepare(vma).Address | StructPages.PageMappingAnon);
        sp.SetIndex(page, vma.LinearPageIndex(addr, PageShift));
    }

    /// <summary>
    /// do_fault() for a VMA mapping a page cache file (mm/memory.c): a missing entry goes to do_read_fault() (the page
    /// cache page, allocated if the file has none there; read-only in a private mapping and in a shared one whose
    /// filesystem wants write notification), do_cow_fault() (private write: a new anonymous copy) or
    /// do_shared_fault() (shared write: the page cache page, writable, PTE and page dirty); a write to a present
    /// read-only entry goes to do_wp_page(). A file page beyond i_size is VM_FAULT_SIGBUS.
    /// </summary>
    private VmFault FileFault(Vma vma, ulong addr, bool write)
    {
        var leaf = WalkLeaf(addr);
        if (leaf is { } l && !l.Entry.IsNone)
        {
            if (!write || l.Entry.IsWrite)
            {
                PageTable.Write(l.Slot, l.Entry.With(PteFlags.Young | (write ? PteFlags.Dirty : PteFlags.None)));
                return VmFault.None;
            }
            return DoWpFilePage(vma, addr, l);
        }
        var inode = vma.PageCacheFile!;
        ulong index = vma.LinearPageIndex(addr, PageShift);
        if (index >= inode.SizeInPages) return VmFault.SigBus;
        ulong page = addr & ~(PageSize - 1);
        bool shared = (vma.Flags & VmFlags.Shared) != 0;
        bool cow = write && !shared;
        // __handle_mm_fault()'s pud/pmd_alloc(); do_read_fault() and do_shared_fault() go straight on to __do_fault(),
        // whose pte_alloc_one() preallocation comes before ->fault() looks the page up.
        if (PageTable.FaultTablesAlloc(addr, pte: !cow) == -(int)Errno.ENOMEM) return VmFault.Oom;
        Pfn cowPfn = default;
        if (cow)
        {
            // do_cow_fault(): anon_vma_prepare() and the copy's alloc_page_vma() come before __do_fault(), so the
            // PTE table's preallocation comes after the copy's page and before the lookup.
            AnonVmaPrepare(vma);
            if (!_m.TryAllocPages(0, 0, "anonymous page (COW of file page)", out cowPfn, Gfp.HighUserMovable, ZoneType.Dma32)) return VmFault.Oom;
            if (PageTable.FaultTablesAlloc(addr, pte: true) == -(int)Errno.ENOMEM)
            {
                ReleaseFreshPage(cowPfn, 0);
                return VmFault.Oom;
            }
        }
        int rc = inode.GetOrAddPage(index, out ulong cachePfn, out bool added);
        if (rc != 0)
        {
            if (cow) ReleaseFreshPage(cowPfn, 0);
            return VmFault.Oom;
        }
        if (cow) return DoCowFault(vma, page, inode, index, cachePfn, added, cowPfn);
        // finish_fault() → do_set_pte(): mk_pte(page, vm_page_prot), made writable and dirty on a write fault.
        bool writable = shared && (vma.Flags & VmFlags.Write) != 0 && (write || !inode.FsType.WantsWritenotify());
        var flags = PteFlags.Present | PteFlags.User | PteFlags.Young | (writable ? PteFlags.Write : PteFlags.None) | (write ? PteFlags.Dirty : PteFlags.None);
        rc = PageTable.SetLeaf(page, null, Pfn.FromUInt64(cachePfn), flags);
        var sp = _m.StructPages;
        var p = _m.PfnToPage(Pfn.FromUInt64(cachePfn));
        if (rc != 0)
        {
            PutCallersReference(inode, index, cachePfn, added);
            return VmFault.Oom;
        }
        // The reference filemap_fault()/shmem_fault() returned the page with becomes the mapping's.
        sp.AtomicMapcountSet(p, sp.MapcountRaw(p) + 1); // page_add_file_rmap()
        if (write) sp.SetPageFlagAtomic(p, PageFlagBits.Dirty); // do_shared_fault() → fault_dirty_shared_page() → set_page_dirty(): SetPageDirty
        CountFilePage(inode, +1);
        return VmFault.None;
    }

    /// <summary>
    /// do_cow_fault() after the lookup: the page cache page (allocated if missing: shmem and filemap do that) is
    /// copied into the new anonymous page <paramref name="pfn"/>, which is mapped writable and dirty; then
    /// put_page(vmf->page) drops the lookup's reference, and the page cache keeps its page.
    /// </summary>
    private VmFault DoCowFault(Vma vma, ulong page, PageCacheInode inode, ulong index, ulong cachePfn, bool added, Pfn pfn)
    {
        int rc = PageTable.SetLeaf(page, null, pfn, PteFlags.Present | PteFlags.User | PteFlags.Young | PteFlags.Write | PteFlags.Dirty);
        if (rc != 0)
        {
            ReleaseFreshPage(pfn, 0);
            PutCallersReference(inode, index, cachePfn, added);
            return VmFault.Oom;
        }
        var np = _m.PfnToPage(pfn);
        _m.StructPages.AtomicMapcountSet(np, 0); // page_add_new_anon_rmap()
        SetAnonRmap(vma, np, page);
        AnonPages++;
        // copy_user_highpage() from the cache page (the bytes are not modelled), then its reference goes.
        PutCallersReference(inode, index, cachePfn, added: false);
        return VmFault.None;
    }

    /// <summary>
    /// do_wp_page() on a file VMA: shared → wp_page_shared() (->page_mkwrite, the PTE made writable and dirty, the page
    /// set dirty); private → an anonymous page mapped only here is reused (made writable), anything else — a page cache
    /// page — is copied into a new anonymous page (wp_page_copy(): the old page loses this mapping and its reference).
    /// </summary>
    private VmFault DoWpFilePage(Vma vma, ulong addr, LeafWalk l)
    {
        var sp = _m.StructPages;
        var oldPfn = l.Entry.Pfn;
        var old = _m.PfnToPage(oldPfn);
        if ((vma.Flags & VmFlags.Shared) != 0)
        {
            PageTable.Write(l.Slot, l.Entry.With(PteFlags.Write | PteFlags.Dirty | PteFlags.Young));
            sp.SetPageFlagAtomic(old, PageFlagBits.Dirty); // wp_page_shared() → set_page_dirty(): SetPageDirty
            return VmFault.Write;
        }
        if (sp.PageAnon(old) && sp.MapcountRaw(old) == 0)
        {
            PageTable.Write(l.Slot, l.Entry.With(PteFlags.Write | PteFlags.Dirty | PteFlags.Young));
            return VmFault.Write;
        }
        AnonVmaPrepare(vma); // wp_page_copy(): anon_vma_prepare() before the allocation
        if (!_m.TryAllocPages(0, 0, "anonymous page (COW of file page)", out Pfn pfn, Gfp.HighUserMovable, ZoneType.Dma32)) return VmFault.Oom;
        ulong page = addr & ~(PageSize - 1);
        PageTable.Write(l.Slot, PageTableEntry.MakeLeaf(pfn, PteFlags.Present | PteFlags.User | PteFlags.Young | PteFlags.Write | PteFlags.Dirty, PageShift));
        var np = _m.PfnToPage(pfn);
        sp.AtomicMapcountSet(np, 0);
        SetAnonRmap(vma, np, page);
        AnonPages++;
        if (sp.PageAnon(old))
        {
            DropPageMapping(oldPfn, 0);
            AnonPages--;
        }
        else ZapFilePage(oldPfn);
        return VmFault.Write;
    }

    /// <summary>page_remove_rmap() and put_page() for a page cache page that lost one mapping (zap_pte_range(), wp_page_copy()).</summary>
    private void ZapFilePage(Pfn pfn)
    {
        var sp = _m.StructPages;
        var page = _m.PfnToPage(pfn);
        sp.AtomicMapcountSet(page, sp.MapcountRaw(page) - 1);
        ulong mapping = sp.Mapping(page);
        bool shmem = mapping != 0 ? _m.Vfs.IsShmemMapping(mapping) : sp.TestFlag(page, PageFlagBits.SwapBacked);
        if (shmem) ShmemPages--;
        else FilePages--;
        _m.PutPageRef(pfn.Value);
    }

    /// <summary>
    /// A fault that cannot use the page the lookup returned drops the reference it came with (put_page(vmf->page)),
    /// and a page it added to the cache leaves the cache again.
    /// </summary>
    private void PutCallersReference(PageCacheInode inode, ulong index, ulong cachePfn, bool added)
    {
        inode.PutPage(cachePfn);
        if (added) inode.DeletePage(index);
    }

    private void CountFilePage(PageCacheInode inode, int delta)
    {
        if (inode.FsType.IsShmem()) ShmemPages += delta;
        else FilePages += delta;
    }

    /// <summary>
    /// unmap_mapping_range() for one VMA (truncation, even_cows = 1): zaps every entry that maps file page
    /// <paramref name="firstPgoff"/> (PAGE_SIZE units) or later, private copies included, and frees tables left empty.
    /// </summary>
    internal void UnmapMappingRange(Vma vma, ulong firstPgoff)
    {
        MmapLock.EnterWriteLock();
        try
        {
            if (vma.Mm != this) return;
            ulong from = Math.Max(firstPgoff, vma.Pgoff);
            ulong bytes = (from - vma.Pgoff) << PageShift;
            if (bytes >= vma.Bytes) return;
            ulong s = vma.Start + bytes;
            if (vma.Hstate is { } h) s &= h.Mask;
            ZapRange(vma, s, vma.End);
            PageTable.FreeEmptyTables(s, vma.End);
        }
        finally
        {
            MmapLock.ExitWriteLock();
        }
    }
}

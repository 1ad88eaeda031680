using GupSim.Memory;
using GupSim.Core;
using GupSim.Arch;
using GupSim.Pages;

namespace GupSim.Fs;

/// <summary>
/// An inode whose page cache holds base pages (mm/filemap.c, mm/shmem.c): tmpfs (shmem), ext4, xfs, btrfs or another
/// filesystem. Each cached page came from the buddy with _refcount 1 — the page cache's own reference — and has
/// page->mapping = &amp;inode->i_data and page->index = its index in the file; each mapping of it adds one reference
/// and one to _mapcount. Shmem allocates pages on fault and on fallocate (shmem_get_folio); a disk filesystem reads
/// (or zero-fills) a page into the cache on fault. shmem THP is off (shmem_enabled=never), so every page is order 0.
/// </summary>
public sealed class PageCacheInode : Inode
{
    private readonly Dictionary<ulong, ulong> _pages = [];
    // The i_pages xa_lock: held over _pages.
    private readonly Lock _iPagesLock = new();
    private readonly Machine _m;

    internal PageCacheInode(Machine machine, VfsMount mount, string name, bool linked, ulong mappingAddress)
        : base(name, linked)
    {
        _m = machine;
        Mount = mount;
        MappingAddress = mappingAddress;
    }

    /// <summary>The mount the inode lives on.</summary>
    public VfsMount Mount { get; }
    /// <inheritdoc/>
    public override FsType FsType => Mount.Type;
    /// <inheritdoc/>
    public override string Path => Nlink > 0 ? VfsPaths.Join(Mount.Path, Name) : Mount.IsInternal ? $"/{Name} (deleted)" : $"{VfsPaths.Join(Mount.Path, Name)} (deleted)";
    /// <inheritdoc/>
    public override int CachedPages
    {
        get
        {
            lock (_iPagesLock) return _pages.Count;
        }
    }

    /// <summary>The page cache: index (in pages) → pfn, by index.</summary>
    public IReadOnlyList<KeyValuePair<ulong, ulong>> Pages
    {
        get
        {
            lock (_iPagesLock) return [.. _pages.OrderBy(kv => kv.Key)];
        }
    }

    /// <summary>Pages that cover <see cref="Inode.Size"/> (DIV_ROUND_UP(i_size, PAGE_SIZE)).</summary>
    public ulong SizeInPages => (Size + _m.Arch.PageSize - 1) >> _m.Arch.PageShift;

    /// <summary>filemap_get_folio(): the cached page at <paramref name="index"/>, if any.</summary>
    public bool TryGetPage(ulong index, out ulong pfn)
    {
        lock (_iPagesLock) return _pages.TryGetValue(index, out pfn);
    }

    /// <summary>
    /// The page at <paramref name="index"/> with a reference for the caller, who puts it (or, for a fault, maps it
    /// with it): a cached page is found with filemap_get_entry()'s folio_try_get() (page_ref_add_unless(1, 0), the
    /// page_ref_mod_unless event); a missing one is added (shmem_get_folio(SGP_CACHE) / filemap_fault() →
    /// filemap_add_folio()): a buddy page whose allocation reference (set_page_refcounted()) is the caller's, and
    /// __filemap_add_folio()'s folio_ref_add() the page cache's (page_ref_mod, before the mapping is set), then
    /// mapping and index, PG_uptodate, and PG_swapbacked on shmem. 0, or −ENOMEM with nothing changed. Not modelled:
    /// the LRU add batch's reference (folio_add_lru()), readahead beyond the page and fault-around (docs/cli.md).
    /// </summary>
    internal int GetOrAddPage(ulong index, out ulong pfn, out bool added)
    {
        added = false;
        lock (_iPagesLock)
        {
            if (_pages.TryGetValue(index, out pfn))
            {
                bool got = PageRef.PageRefAddUnless(_m, _m.PfnToPage(Pfn.FromUInt64(pfn)), 1, 0);
                System.Diagnostics.Debug.Assert(got, "a cached page holds the page cache's reference");
                return 0;
            }
            if (!_m.TryAllocPages(0, 0, FsType.IsShmem() ? "shmem page" : "page cache page", out Pfn p, Gfp.HighUserMovable, ZoneType.Dma32)) return -(int)Errno.ENOMEM;
            pfn = p.Value;
            var sp = _m.StructPages;
            var page = _m.PfnToPage(p);
            // filemap_add_folio() / shmem_alloc_and_add_folio(): __folio_set_locked() (and __folio_set_swapbacked()
            // on shmem) before the add; the caller's folio_unlock() comes before its next reference change.
            sp.SetFlag(page, PageFlagBits.Locked);
            if (FsType.IsShmem()) sp.SetFlag(page, PageFlagBits.SwapBacked);
            PageRef.PageRefInc(_m, page); // __filemap_add_folio(): folio_ref_add(folio, 1), the cache's reference
            sp.SetMapping(page, MappingAddress);
            sp.SetIndex(page, index);
            sp.SetFlag(page, PageFlagBits.Uptodate);
            sp.ClearFlag(page, PageFlagBits.Locked);
            _pages[index] = pfn;
            added = true;
            return 0;
        }
    }

    /// <summary>
    /// delete_from_page_cache() then put_page() for the cache's reference: page->mapping = NULL, PG_dirty cleared
    /// (cancel_dirty_page); a page nobody else holds goes back to the buddy, a pinned or still-mapped one lives on.
    /// </summary>
    internal void DeletePage(ulong index)
    {
        ulong pfn;
        lock (_iPagesLock)
        {
            if (!_pages.Remove(index, out pfn)) return;
        }
        var sp = _m.StructPages;
        var page = _m.PfnToPage(Pfn.FromUInt64(pfn));
        sp.SetMapping(page, 0);
        sp.ClearFlag(page, PageFlagBits.Dirty);
        _m.PutPageRef(pfn);
    }

    /// <summary>folio_put() of the reference <see cref="GetOrAddPage"/> gave a caller that does not map the page.</summary>
    internal void PutPage(ulong pfn)
    {
        _m.PutPageRef(pfn);
    }

    /// <summary>truncate_inode_pages_range() from <paramref name="firstIndex"/> to the end.</summary>
    internal void TruncatePages(ulong firstIndex)
    {
        List<ulong> gone;
        lock (_iPagesLock) gone = [.. _pages.Keys.Where(k => k >= firstIndex).Order()];
        foreach (ulong idx in gone) DeletePage(idx);
    }

    /// <summary>
    /// invalidate_mapping_pages(mapping, <paramref name="start"/>, <paramref name="end"/>) (mm/truncate.c), what
    /// <c>echo 1 &gt; /proc/sys/vm/drop_caches</c> runs on every inode (fs/drop_caches.c drop_pagecache_sb()): each cached
    /// page of indices [start, end] that invalidate_inode_page() accepts leaves the page cache and, with its last
    /// reference, goes back to the buddy. It refuses dirty and writeback pages, mapped pages (page_mapped()), and pages
    /// with references beyond the cache's (remove_mapping() freezes _refcount at the cache's plus the lookup's: a pin or
    /// a get_page() makes that fail). shmem pages are dirty in the kernel from the moment they are written or
    /// fallocated (shmem_write_end(), shmem_fallocate() call set_page_dirty()) and leave only by swap; GupSim does not
    /// set PG_dirty on them, so PG_swapbacked stands for that here. Returns the pages invalidated.
    /// </summary>
    public ulong InvalidateMappingPages(ulong start, ulong end)
    {
        if (end < start) return 0;
        var candidates = new List<ulong>();
        lock (_iPagesLock)
        {
            if (end - start < (ulong)_pages.Count)
            {
                for (ulong idx = start; ; idx++)
                {
                    if (_pages.ContainsKey(idx)) candidates.Add(idx);
                    if (idx == end) break;
                }
            }
            else
            {
                foreach (ulong idx in _pages.Keys)
                    if (idx >= start && idx <= end) candidates.Add(idx);
                candidates.Sort();
            }
        }
        var sp = _m.StructPages;
        ulong dropped = 0;
        foreach (ulong idx in candidates)
        {
            if (!TryGetPage(idx, out ulong pfn)) continue;
            var page = _m.PfnToPage(Pfn.FromUInt64(pfn));
            ulong flags = sp.Flags(page);
            if ((flags & ((1UL << PageFlagBits.Dirty) | (1UL << PageFlagBits.Writeback) | (1UL << PageFlagBits.SwapBacked))) != 0) continue;
            if (sp.MapcountRaw(page) >= 0) continue; // page_mapped(): _mapcount starts at −1
            if (sp.Refcount(page) != 1) continue; // remove_mapping(): page_ref_freeze(page, 2) fails on any other reference
            DeletePage(idx);
            dropped++;
        }
        return dropped;
    }

    /// <inheritdoc/>
    protected override void Evict(Machine m)
    {
        TruncatePages(0);
        m.Vfs.Forget(this);
    }
}

using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Hugetlb;

/// <summary>
/// A hugetlbfs inode (fs/hugetlbfs/inode.c): its page cache of huge pages and its reservation map (shared mappings).
/// Page cache pages hold the cache's references (<see cref="PageCacheRefs"/>) and point at the inode's address_space (a hugetlbfs_inode_cache object);
/// a private mapping's pages are anonymous, their mapping the VMA's anon_vma (MmStruct's hugepage_add_new_anon_rmap()).
/// </summary>
public sealed class HugetlbfsInode : Fs.Inode
{
    internal HugetlbfsInode(HugetlbfsMount mount, string name, bool linked)
        : base(name, linked)
    {
        Mount = mount;
        // alloc_inode() → hugetlbfs_alloc_inode(): kmem_cache_alloc(hugetlbfs_inode_cachep) on the machine the mount
        // belongs to; its i_data is the address_space the page cache pages point at.
        if (mount.Machine is { } m) MappingAddress = m.Vfs.Objects.AllocInode(Fs.FsType.Hugetlbfs);
    }

    /// <summary>
    /// huge_add_to_page_cache() (mm/hugetlb.c; hugetlb_add_to_page_cache() from v6.1): the page cache takes its own
    /// references (<see cref="PageCacheRefs"/>: add_to_page_cache()'s get_page(), __filemap_add_folio()'s
    /// folio_ref_add(folio, nr), both the page_ref_mod event) on top of the caller's, and the head's mapping and
    /// index are set as add_to_page_cache() sets them: the inode's address_space, and the index in huge pages before
    /// v6.7, in base pages from v6.7 (<see cref="Arch.KernelVersion.HugetlbIndexInBasePages"/>).
    /// </summary>
    internal void AddToPageCache(Machine m, ulong idx, ulong head)
    {
        PageCache[idx] = head;
        var sp = m.StructPages;
        var page = m.PfnToPage(Pfn.FromUInt64(head));
        sp.SetFlag(page, PageFlagBits.Locked); // __SetPageLocked() / __folio_set_locked() before the add
        PageRef.FolioRefAdd(m, page, PageCacheRefs(m.Version));
        sp.SetMapping(page, MappingAddress);
        sp.SetIndex(page, Hstate.PageIndex(idx, m.Version));
        // set_page_dirty() / folio_mark_dirty(): "so that it will not be removed from cache/file by non-hugetlbfs
        // specific code paths" (hugetlbfs's dirty handler sets PG_dirty on the head).
        sp.SetFlag(page, PageFlagBits.Dirty);
        // The caller's unlock_page() (hugetlb_no_page(), hugetlbfs_fallocate(), hugetlb_mcopy_atomic_pte()) comes
        // before its next reference change, so GupSim clears PG_locked here.
        sp.ClearFlag(page, PageFlagBits.Locked);
    }

    /// <summary>
    /// The references the page cache holds on one of this inode's huge pages: one before v6.7, one per base page
    /// (folio_nr_pages()) from v6.7 (<see cref="Arch.KernelVersion.HugetlbPageCacheRefsPerBasePage"/>).
    /// </summary>
    public int PageCacheRefs(Arch.KernelVersion version) =>
        version.HugetlbPageCacheRefsPerBasePage ? checked((int)Hstate.PagesPerHugePage) : 1;

    /// <summary>
    /// The lookup of a page already in the page cache (find_lock_page(), filemap_lock_hugetlb_folio(): the xarray
    /// walk's page_cache_get_speculative() / folio_try_get_rcu() / folio_try_get(), each a page_ref_add_unless(1, 0),
    /// the page_ref_mod_unless event): the reference the caller keeps. False when the head's count was 0.
    /// </summary>
    internal bool TryGetCachedPage(Machine m, ulong idx, out ulong head) =>
        PageCache.TryGetValue(idx, out head) && PageRef.FolioRefTryAddRcu(m, m.PfnToPage(Pfn.FromUInt64(head)), 1);

    /// <summary>
    /// One page of remove_inode_hugepages() (fs/hugetlbfs/inode.c): the batch lookup's reference
    /// (pagevec_lookup_range(), later filemap_get_folios(): page_ref_add_unless(1, 0)), lock_page(), then
    /// remove_huge_page() / hugetlb_delete_from_page_cache(): PG_dirty and PG_uptodate cleared,
    /// delete_from_page_cache() (page->mapping = NULL) and filemap_free_folio() dropping the cache's references
    /// (<see cref="PageCacheRefs"/>; put_page(), later folio_put_refs()); unlock_page(), and the batch's release
    /// (put_page(): the last reference frees the page to the pool).
    /// </summary>
    internal void RemoveFromPageCache(Machine m, ulong idx)
    {
        if (!TryGetCachedPage(m, idx, out ulong head)) return;
        PageCache.Remove(idx);
        var sp = m.StructPages;
        var page = m.PfnToPage(Pfn.FromUInt64(head));
        sp.SetFlag(page, PageFlagBits.Locked);
        sp.ClearFlag(page, PageFlagBits.Dirty);
        sp.ClearFlag(page, PageFlagBits.Uptodate);
        sp.SetMapping(page, 0);
        m.Hugetlb.PutHugePageRefs(head, PageCacheRefs(m.Version));
        sp.ClearFlag(page, PageFlagBits.Locked);
        m.Hugetlb.PutHugePage(head);
    }

    /// <summary>The mount it lives on.</summary>
    public HugetlbfsMount Mount { get; }
    /// <summary>The hstate of the mount.</summary>
    public Hstate Hstate => Mount.Hstate;
    /// <summary>Page cache: huge page index → head pfn.</summary>
    public Dictionary<ulong, ulong> PageCache { get; } = [];
    /// <summary>resv_map of the inode (shared mappings): indices reserved and not yet backed by a page-cache page.</summary>
    public HashSet<ulong> Reservations { get; } = [];
    /// <inheritdoc/>
    public override Fs.FsType FsType => Fs.FsType.Hugetlbfs;
    /// <inheritdoc/>
    public override int CachedPages => PageCache.Count;
    /// <summary>"/mnt/huge/file"; "&lt;anon hugetlb 2M&gt;" for the unlinked inode behind MAP_HUGETLB|MAP_ANONYMOUS.</summary>
    public override string Path => Name.Length == 0 ? $"<anon hugetlb {Hstate}>" : Nlink > 0 ? Mount.Path.TrimEnd('/') + "/" + Name : $"/{Name} (deleted)";

    /// <summary>evict() → hugetlbfs_evict_inode(): remove_inode_hugepages() and the reservations, then destroy_inode() frees the inode object.</summary>
    protected override void Evict(Machine m)
    {
        m.Hugetlb.RemoveInodePages(this);
        if (MappingAddress != 0) m.Vfs.Objects.Free(MappingAddress);
    }

    /// <summary>
    /// hugetlbfs_fallocate(): a huge page in the page cache for every index of [offset, offset + len) that has none,
    /// consuming the inode's reservation for it or else a free unreserved page; i_size grows to cover the range.
    /// Offsets are rounded out to huge pages. −ENOSPC when the pool runs dry (the pages this call added go back).
    /// </summary>
    internal int Fallocate(Machine m, ulong offset, ulong len)
    {
        var h = Hstate;
        ulong first = offset >> h.Shift, end = (offset + len + h.Size.Bytes - 1) >> h.Shift;
        var added = new List<(ulong Index, bool Reserved)>();
        for (ulong idx = first; idx < end; idx++)
        {
            if (PageCache.ContainsKey(idx)) continue;
            bool reserved = Reservations.Contains(idx);
            if (!m.Hugetlb.TryAllocHugePage(h, reserved, out ulong head))
            {
                foreach (var (i, r) in added)
                {
                    RemoveFromPageCache(m, i);
                    if (r)
                    {
                        // Give the consumed reservation back to the pool's count and the resv_map.
                        m.Hugetlb.HugetlbAcctMemory(h, 1);
                        Reservations.Add(i);
                    }
                }
                return -(int)Errno.ENOSPC;
            }
            if (reserved) Reservations.Remove(idx);
            AddToPageCache(m, idx, head);
            m.Hugetlb.PutHugePage(head); // hugetlbfs_fallocate(): put_page() of alloc_huge_page()'s reference
            added.Add((idx, reserved));
        }
        Size = Math.Max(Size, end << h.Shift);
        return 0;
    }

    /// <summary>
    /// hugetlb_vmtruncate() (after the caller unmapped the range): i_size = <paramref name="size"/> (a multiple of the
    /// huge page size), the page cache and reservations beyond it dropped (remove_inode_hugepages(), hugetlb_unreserve_pages()).
    /// </summary>
    internal void TruncatePages(Machine m, ulong size)
    {
        ulong first = size >> Hstate.Shift;
        foreach (ulong idx in PageCache.Keys.Where(k => k >= first).Order().ToList()) RemoveFromPageCache(m, idx);
        var resv = Reservations.Where(k => k >= first).ToList();
        if (resv.Count > 0) m.Hugetlb.HugetlbAcctMemory(Hstate, -resv.Count);
        foreach (ulong idx in resv) Reservations.Remove(idx);
        Size = size;
    }
}

/// <summary>A hugetlbfs mount with a pagesize= option (default: the default hstate).</summary>
public sealed class HugetlbfsMount
{
    private readonly Dictionary<string, HugetlbfsInode> _files = [];

    /// <summary>A mount (use <see cref="HugetlbfsMounts.Mount"/> to register one on the machine).</summary>
    public HugetlbfsMount(string path, Hstate hstate)
    {
        Path = path;
        Hstate = hstate;
    }

    /// <summary>A mount of <paramref name="machine"/>, whose inodes are slab objects of its hugetlbfs_inode_cache.</summary>
    internal HugetlbfsMount(string path, Hstate hstate, Machine machine)
        : this(path, hstate) => Machine = machine;

    /// <summary>The machine whose kernel objects the inodes are, or null (a mount made without one: inodes without an address_space address).</summary>
    internal Machine? Machine { get; }

    /// <summary>Mount point.</summary>
    public string Path { get; }
    /// <summary>pagesize= of the mount.</summary>
    public Hstate Hstate { get; }
    /// <summary>Files by name.</summary>
    public IReadOnlyDictionary<string, HugetlbfsInode> Files => _files;

    /// <summary>open(O_CREAT): the named file, created if missing.</summary>
    public HugetlbfsInode OpenOrCreate(string name)
    {
        if (!_files.TryGetValue(name, out var inode)) _files[name] = inode = new HugetlbfsInode(this, name, linked: true);
        return inode;
    }

    /// <summary>An unlinked inode (hugetlb_file_setup() for MAP_HUGETLB|MAP_ANONYMOUS, and memfd_create(MFD_HUGETLB) with <paramref name="name"/>).</summary>
    public HugetlbfsInode CreateUnlinkedPublic(string name = "") => new(this, name, linked: false);

    /// <summary>unlink(): drops the name; the inode goes when nothing maps or holds it open.</summary>
    internal bool Unlink(string name, out HugetlbfsInode? inode)
    {
        if (!_files.Remove(name, out inode)) return false;
        inode.Nlink = 0;
        return true;
    }
}

/// <summary>The hugetlbfs mounts of a machine.</summary>
public sealed class HugetlbfsMounts
{
    private readonly List<HugetlbfsMount> _mounts = [];
    private readonly HugetlbPools _pools;

    internal HugetlbfsMounts(HugetlbPools pools) => _pools = pools;

    /// <summary>Every mount.</summary>
    public IReadOnlyList<HugetlbfsMount> Mounts => _mounts;

    /// <summary>mount -t hugetlbfs -o pagesize=SIZE none PATH.</summary>
    /// <exception cref="GupSimException">Thrown when the size is not an hstate of the machine or the path is taken.</exception>
    public HugetlbfsMount Mount(string path, ulong? pageSize)
    {
        var h = pageSize is ulong s
            ? _pools.Find(s) ?? throw new GupSimException($"hugetlbfs: unsupported page size {ByteSize.Format(s)} (this machine has {string.Join(", ", _pools.Hstates)})")
            : _pools.Default ?? throw new GupSimException("hugetlbfs: this machine has no huge page sizes");
        string norm = Normalize(path);
        if (_mounts.Any(m => m.Path == norm)) throw new GupSimException($"hugetlbfs: {norm} is already mounted");
        var mount = new HugetlbfsMount(norm, h, _pools.Machine);
        _mounts.Add(mount);
        return mount;
    }

    /// <summary>Resolves "/mnt/huge/file" to its mount and file name, creating the file (O_CREAT, as gup_test opens it).</summary>
    /// <exception cref="GupSimException">Thrown when no hugetlbfs mount holds the path.</exception>
    public HugetlbfsInode OpenOrCreate(string path)
    {
        string norm = Normalize(path);
        var mount = _mounts.Where(m => norm.StartsWith(m.Path + "/", StringComparison.Ordinal)).OrderByDescending(m => m.Path.Length).FirstOrDefault()
            ?? throw new GupSimException($"{path}: not on a hugetlbfs mount (mounted: {(_mounts.Count == 0 ? "none" : string.Join(", ", _mounts.Select(m => m.Path)))})");
        string name = norm[(mount.Path.Length + 1)..];
        if (name.Length == 0 || name.Contains('/')) throw new GupSimException($"{path}: hugetlbfs files live directly under the mount point");
        return mount.OpenOrCreate(name);
    }

    private static string Normalize(string path)
    {
        string p = path.Trim();
        if (!p.StartsWith('/')) throw new GupSimException($"{path}: give an absolute path");
        return p.Length > 1 ? p.TrimEnd('/') : p;
    }
}

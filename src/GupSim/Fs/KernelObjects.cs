using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Fs;

/// <summary>
/// The slab caches (mm/slub.c kmem_caches) that hold the kernel objects page->mapping points at: struct anon_vma
/// (mm/rmap.c anon_vma_init(): "anon_vma", SLAB_TYPESAFE_BY_RCU with a constructor) and the inodes whose i_data is
/// the address_space of a page cache (shmem_inode_cache, ext4_inode_cache, xfs_inode, btrfs_inode, inode_cache).
/// Objects are real direct-map addresses inside slab pages the caches took from the buddy, so free page counts move
/// with slab growth. The address_space GupSim hands out is the inode object's start (the kernel's &amp;inode->i_data
/// lies a few hundred bytes into it; nothing reads the bytes). Object sizes: docs/architecture.md, "Slab, kvmalloc
/// and hot-plug".
/// </summary>
public sealed class KernelObjects
{
    private readonly Machine _m;
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, KmemCache> _live = [];
    private KmemCache? _anonVma;

    internal KernelObjects(Machine machine) => _m = machine;

    /// <summary>Objects allocated now.</summary>
    public int InUse
    {
        get
        {
            lock (_lock) return _live.Count;
        }
    }

    /// <summary>
    /// The anon_vma cache: struct anon_vma is 10 words on 64-bit v5.11 (root, a 40-byte rw_semaphore, refcount and
    /// degree, parent, rb_root_cached), 12 from v6.0, where Jann Horn's fix of the degree ambiguity replaced
    /// <c>unsigned degree</c> with <c>unsigned long num_children</c> and <c>num_active_vmas</c> (80 → 96 bytes on
    /// x86_64); the free pointer goes after the object (TYPESAFE_BY_RCU, ctor): s->size 88, then 104.
    /// </summary>
    public KmemCache AnonVmaCache => _anonVma ??= _m.Slub.KmemCacheCreate("anon_vma",
        (_m.Version >= Arch.KernelVersion.FromNumbers(6, 0) ? 12 : 10) * _m.Arch.WordBytes, SlabFlags.FreePointerOutside);

    /// <summary>
    /// The inode cache of a filesystem type, with s->size as /proc/slabinfo shows it on x86_64 (4.19 figures for
    /// shmem, ext4 and inode_cache; xfs and btrfs approximations) and SLAB_RECLAIM_ACCOUNT where the filesystem asks
    /// for it (not shmem, not hugetlbfs).
    /// </summary>
    public KmemCache InodeCache(FsType type) => type switch
    {
        FsType.Tmpfs => _m.Slub.KmemCacheCreate("shmem_inode_cache", 704),
        FsType.Hugetlbfs => _m.Slub.KmemCacheCreate("hugetlbfs_inode_cache", 624),
        FsType.Ext4 => _m.Slub.KmemCacheCreate("ext4_inode_cache", 1088, SlabFlags.ReclaimAccount),
        FsType.Xfs => _m.Slub.KmemCacheCreate("xfs_inode", 960, SlabFlags.ReclaimAccount),
        FsType.Btrfs => _m.Slub.KmemCacheCreate("btrfs_inode", 1160, SlabFlags.ReclaimAccount),
        _ => _m.Slub.KmemCacheCreate("inode_cache", 600, SlabFlags.ReclaimAccount),
    };

    /// <summary>anon_vma_alloc(): kmem_cache_alloc(anon_vma_cachep, GFP_KERNEL).</summary>
    /// <exception cref="GupSimException">Thrown when the buddy has no page for a new slab (the kernel's fault would return VM_FAULT_OOM).</exception>
    public ulong AllocAnonVma() => Alloc(AnonVmaCache, Gfp.Kernel);

    /// <summary>
    /// alloc_inode() → the filesystem's ->alloc_inode(): shmem_alloc_inode() with GFP_KERNEL, the disk filesystems
    /// with GFP_NOFS. Returns the address_space address.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when the buddy has no page for a new slab.</exception>
    public ulong AllocInode(FsType type) => Alloc(InodeCache(type), type == FsType.Tmpfs ? Gfp.Kernel : Gfp.Reclaim | Gfp.Io);

    private ulong Alloc(KmemCache cache, Gfp gfp)
    {
        ulong a = _m.Slub.KmemCacheAlloc(cache, gfp);
        if (a == 0) throw new GupSimException($"kmem_cache_alloc({cache.Name}): out of memory");
        lock (_lock) _live[a] = cache;
        return a;
    }

    /// <summary>kmem_cache_free() of an anon_vma or inode object.</summary>
    public void Free(ulong address)
    {
        KmemCache? cache;
        lock (_lock)
        {
            if (!_live.Remove(address, out cache)) throw new InvalidOperationException($"kernel objects: double or stray free of 0x{address:x}");
        }
        _m.Slub.KmemCacheFree(cache, address);
    }
}

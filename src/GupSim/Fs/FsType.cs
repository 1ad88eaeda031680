using GupSim.Core;

namespace GupSim.Fs;

/// <summary>The filesystems GupSim models: what matters for GUP is whether a shared writable mapping of one of their files needs dirty tracking.</summary>
public enum FsType
{
    /// <summary>tmpfs / shmem (mm/shmem.c): memfd, /dev/shm, MAP_SHARED|MAP_ANONYMOUS, MAP_SHARED of /dev/zero.</summary>
    Tmpfs,
    /// <summary>hugetlbfs (fs/hugetlbfs/inode.c).</summary>
    Hugetlbfs,
    /// <summary>ext4: a writeback filesystem with ->page_mkwrite.</summary>
    Ext4,
    /// <summary>xfs: a writeback filesystem with ->page_mkwrite.</summary>
    Xfs,
    /// <summary>btrfs: a writeback filesystem with ->page_mkwrite.</summary>
    Btrfs,
    /// <summary>Any other filesystem that writes back (treated as needing dirty tracking; gup_longterm does not know it).</summary>
    Other,
}

/// <summary>Per-filesystem facts.</summary>
public static class FsTypes
{
    /// <summary>The name used by mount(8) and GupSim's scenario language.</summary>
    public static string Name(this FsType t) => t switch
    {
        FsType.Tmpfs => "tmpfs",
        FsType.Hugetlbfs => "hugetlbfs",
        FsType.Ext4 => "ext4",
        FsType.Xfs => "xfs",
        FsType.Btrfs => "btrfs",
        _ => "other",
    };

    /// <summary>statfs() f_type (include/uapi/linux/magic.h); 0 for <see cref="FsType.Other"/>.</summary>
    public static long Magic(this FsType t) => t switch
    {
        FsType.Tmpfs => 0x01021994,
        FsType.Hugetlbfs => 0x958458f6,
        FsType.Ext4 => 0xEF53,
        FsType.Xfs => 0x58465342,
        FsType.Btrfs => 0x9123683E,
        _ => 0,
    };

    /// <summary>
    /// Whether a shared writable mapping needs dirty tracking (vma_needs_dirty_tracking(), mm/mmap.c, v6.5): the
    /// filesystem has ->page_mkwrite (ext4, xfs, btrfs) or its backing device can write back
    /// (mapping_can_writeback()). tmpfs and hugetlbfs have neither.
    /// </summary>
    public static bool NeedsDirtyTracking(this FsType t) => t is not (FsType.Tmpfs or FsType.Hugetlbfs);

    /// <summary>
    /// vma_wants_writenotify() for a shared writable mapping: the PTEs start read-only so the first write faults
    /// (->page_mkwrite, dirty accounting). Same filesystems as <see cref="NeedsDirtyTracking"/>.
    /// </summary>
    public static bool WantsWritenotify(this FsType t) => t.NeedsDirtyTracking();

    /// <summary>Whether the page cache pages are swap-backed (shmem: PG_swapbacked, counted in MM_SHMEMPAGES).</summary>
    public static bool IsShmem(this FsType t) => t == FsType.Tmpfs;

    /// <summary>Parses "tmpfs", "ext4", "xfs", "btrfs", "hugetlbfs" or "other".</summary>
    /// <exception cref="GupSimException">Thrown for any other name.</exception>
    public static FsType Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "tmpfs" or "shmem" => FsType.Tmpfs,
        "hugetlbfs" => FsType.Hugetlbfs,
        "ext4" => FsType.Ext4,
        "xfs" => FsType.Xfs,
        "btrfs" => FsType.Btrfs,
        "other" => FsType.Other,
        _ => throw new GupSimException($"unknown filesystem '{name}': use tmpfs, ext4, xfs, btrfs, hugetlbfs or other"),
    };
}

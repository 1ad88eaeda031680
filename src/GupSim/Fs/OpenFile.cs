using GupSim.Core;
using GupSim.Hugetlb;

namespace GupSim.Fs;

/// <summary>
/// An open file (struct file) on an <see cref="Inode"/>: it holds a reference to the inode until <see cref="Close"/>.
/// Map it with <see cref="Mm.MmStruct.Mmap"/> (pass <see cref="Inode"/>); the mapping takes its own reference, so
/// closing after mmap is fine, as in the kernel.
/// </summary>
public sealed class OpenFile
{
    private readonly Machine _m;

    internal OpenFile(Machine machine, Inode inode)
    {
        _m = machine;
        inode.Get();
        Inode = inode;
    }

    /// <summary>The inode.</summary>
    public Inode Inode { get; }
    /// <summary>Whether <see cref="Close"/> ran.</summary>
    public bool IsClosed { get; private set; }
    /// <summary>fstatfs() f_type.</summary>
    public long FsMagic => Inode.FsType.Magic();

    /// <summary>close(): drops the file's reference (an unlinked inode nothing maps is evicted). 0 or −EBADF.</summary>
    public int Close()
    {
        if (IsClosed) return -(int)Errno.EBADF;
        IsClosed = true;
        Inode.Put(_m);
        return 0;
    }

    /// <summary>
    /// ftruncate(): sets i_size. Shrinking first unmaps the cut range from every VMA that maps the file, private COW
    /// copies included (unmap_mapping_range(even_cows = 1)), then drops the page cache beyond the new end
    /// (truncate_pagecache()); pages pinned by GUP live on until unpinned. Hugetlbfs needs a multiple of the huge page
    /// size (hugetlbfs_setattr()). 0, −EBADF, or −EINVAL (/dev/zero, unaligned hugetlbfs size).
    /// </summary>
    public int Ftruncate(ulong size)
    {
        if (IsClosed) return -(int)Errno.EBADF;
        switch (Inode)
        {
            case PageCacheInode pc:
                {
                    ulong keep = (size + _m.Arch.PageSize - 1) >> _m.Arch.PageShift;
                    if (size < pc.Size)
                    {
                        UnmapFrom(keep);
                        pc.TruncatePages(keep);
                    }
                    pc.Size = size;
                    return 0;
                }
            case HugetlbfsInode hi:
                {
                    if ((size & ~hi.Hstate.Mask) != 0) return -(int)Errno.EINVAL;
                    if (size < hi.Size || hi.PageCache.Keys.Any(k => k >= size >> hi.Hstate.Shift))
                    {
                        UnmapFrom(size >> _m.Arch.PageShift);
                        hi.TruncatePages(_m, size);
                    }
                    hi.Size = size;
                    return 0;
                }
            default:
                return -(int)Errno.EINVAL;
        }
    }

    /// <summary>
    /// fallocate(fd, 0, offset, len): tmpfs allocates the page cache pages (shmem_fallocate(); on −ENOMEM the pages
    /// this call added go again); hugetlbfs allocates huge pages into the page cache (hugetlbfs_fallocate(), −ENOSPC
    /// when the pool is dry); disk filesystems allocate blocks, which GupSim does not model, so only i_size moves.
    /// i_size grows to offset + len. 0, −EBADF, −EINVAL (zero length, /dev/zero), −ENOMEM, −ENOSPC.
    /// </summary>
    public int Fallocate(ulong offset, ulong len)
    {
        if (IsClosed) return -(int)Errno.EBADF;
        if (len == 0 || offset + len < offset) return -(int)Errno.EINVAL;
        switch (Inode)
        {
            case HugetlbfsInode hi:
                return hi.Fallocate(_m, offset, len);
            case PageCacheInode pc:
                {
                    if (pc.FsType.IsShmem())
                    {
                        ulong first = offset >> _m.Arch.PageShift, end = (offset + len + _m.Arch.PageSize - 1) >> _m.Arch.PageShift;
                        var added = new List<ulong>();
                        for (ulong idx = first; idx < end; idx++)
                        {
                            int rc = pc.GetOrAddPage(idx, out _, out bool isNew);
                            if (rc != 0)
                            {
                                foreach (ulong a in added) pc.DeletePage(a);
                                return rc;
                            }
                            if (isNew) added.Add(idx);
                        }
                    }
                    pc.Size = Math.Max(pc.Size, offset + len);
                    return 0;
                }
            default:
                return -(int)Errno.EINVAL;
        }
    }

    /// <summary>unmap_mapping_range(mapping, from, 0, even_cows = 1): every VMA of the file loses its entries for file pages ≥ <paramref name="firstPgoff"/>.</summary>
    private void UnmapFrom(ulong firstPgoff)
    {
        foreach (var vma in Inode.Mappings) vma.Mm?.UnmapMappingRange(vma, firstPgoff);
    }
}

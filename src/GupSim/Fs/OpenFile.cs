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
                            int rc = pc.GetOrAddPage(idx, out ulong pfn, out bool isNew);
                            if (rc != 0)
                            {
                                foreach (ulong a in added) pc.DeletePage(a);
                                return rc;
                            }
                            pc.PutPage(pfn); // shmem_fallocate(): folio_unlock(), folio_put()
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

    /// <summary>
    /// pread(2) of <paramref name="len"/> bytes at <paramref name="offset"/>, through the page cache. A disk filesystem
    /// (filemap_read(), generic_file_buffered_read() before v5.12, mm/filemap.c) reads every page of the range below
    /// i_size that is not cached into it: page_cache_sync_readahead() adds an order-0 page with the cache's reference,
    /// as a read fault does (GupSim models no disk blocks, so data and holes come in alike). tmpfs
    /// (shmem_file_read_iter(), SGP_READ) and hugetlbfs (hugetlbfs_read_iter()) copy the pages they have and read holes
    /// as zeroes without allocating; /dev/zero reads zeroes. The bytes themselves are not modelled, the count is.
    /// Returns the bytes read (short at i_size, or when a page cannot be allocated after some were read), 0 at or past
    /// i_size, −ENOMEM when the first page cannot be allocated, −EBADF after close.
    /// </summary>
    public long Read(ulong offset, ulong len)
    {
        if (IsClosed) return -(int)Errno.EBADF;
        if (Inode is DevZeroInode) return (long)len;
        if (offset >= Inode.Size || len == 0) return 0;
        ulong end = Math.Min(Inode.Size, offset + len < offset ? ulong.MaxValue : offset + len);
        if (Inode is not PageCacheInode pc || pc.FsType.IsShmem()) return (long)(end - offset);
        int shift = _m.Arch.PageShift;
        ulong last = (end - 1) >> shift;
        for (ulong idx = offset >> shift; idx <= last; idx++)
        {
            if (pc.GetOrAddPage(idx, out ulong pfn, out _) == 0)
            {
                pc.PutPage(pfn); // the read's folio_batch release: folio_put()
                continue;
            }
            ulong done = idx << shift;
            return done > offset ? (long)(done - offset) : -(int)Errno.ENOMEM;
        }
        return (long)(end - offset);
    }

    /// <summary>unmap_mapping_range(mapping, from, 0, even_cows = 1): every VMA of the file loses its entries for file pages ≥ <paramref name="firstPgoff"/>.</summary>
    private void UnmapFrom(ulong firstPgoff)
    {
        foreach (var vma in Inode.Mappings) vma.Mm?.UnmapMappingRange(vma, firstPgoff);
    }
}

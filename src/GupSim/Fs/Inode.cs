using GupSim.Mm;

namespace GupSim.Fs;

/// <summary>
/// struct inode with its page cache (struct address_space) — the part GUP and the fault handlers see. Two kinds: a
/// <see cref="PageCacheInode"/> (tmpfs, ext4, xfs, btrfs, other: 4 KiB page cache pages) and a
/// <see cref="Hugetlb.HugetlbfsInode"/> (huge pages). An inode lives while it has a name (<see cref="Nlink"/>) or a
/// reference: an open file or a VMA mapping it (vma->vm_file). When both are gone it is evicted (evict() →
/// truncate_inode_pages_final(), remove_inode_hugepages()): the page cache drops its references, and pages nobody
/// else holds go back to the buddy or the pool.
/// </summary>
public abstract class Inode
{
    private readonly List<Vma> _mmaps = [];
    private int _refs;

    /// <summary>An inode named <paramref name="name"/>, linked into its directory or not (memfd, O_TMPFILE, internal).</summary>
    protected Inode(string name, bool linked)
    {
        Name = name;
        Nlink = linked ? 1 : 0;
    }

    /// <summary>The file name (for unlinked inodes, the name given to memfd_create or "dev/zero").</summary>
    public string Name { get; }
    /// <summary>The filesystem.</summary>
    public abstract FsType FsType { get; }
    /// <summary>A path for messages ("/tmp/f", "/memfd:test (deleted)").</summary>
    public abstract string Path { get; }
    /// <summary>i_size in bytes.</summary>
    public ulong Size { get; internal set; }
    /// <summary>i_nlink: 1 while the name exists, 0 once unlinked (or never linked).</summary>
    public int Nlink { get; internal set; }
    /// <summary>Open files plus VMAs that map the inode.</summary>
    public int References => Volatile.Read(ref _refs);
    /// <summary>Whether the inode has been evicted (its page cache is gone).</summary>
    public bool Evicted { get; private set; }
    /// <summary>
    /// The address of its struct address_space (&amp;inode->i_data), which page->mapping of its page cache pages holds;
    /// for a hugetlbfs inode its hugetlbfs_inode_cache object (0 on a mount made without a machine).
    /// </summary>
    public ulong MappingAddress { get; protected init; }
    /// <summary>i_mmap: the VMAs that map the inode now.</summary>
    public IReadOnlyList<Vma> Mappings
    {
        get
        {
            lock (_mmaps) return [.. _mmaps];
        }
    }
    /// <summary>Pages in the page cache (base pages for a <see cref="PageCacheInode"/>, huge pages for hugetlbfs).</summary>
    public abstract int CachedPages { get; }

    /// <summary>get_file(): one more reference.</summary>
    /// <exception cref="InvalidOperationException">Thrown when the inode was already evicted.</exception>
    internal void Get()
    {
        if (Evicted) throw new InvalidOperationException($"{Path}: inode already evicted");
        Interlocked.Increment(ref _refs);
    }

    /// <summary>fput(): drops a reference; the last one of an unlinked inode evicts it.</summary>
    internal void Put(Machine m)
    {
        if (Interlocked.Decrement(ref _refs) < 0) throw new InvalidOperationException($"{Path}: reference count below zero");
        MaybeEvict(m);
    }

    /// <summary>iput_final(): evicts the inode when it has neither a name nor a reference.</summary>
    internal void MaybeEvict(Machine m)
    {
        if (References != 0 || Nlink != 0 || Evicted) return;
        Evicted = true;
        Evict(m);
    }

    /// <summary>evict(): frees the page cache (and, for hugetlbfs, the reservations).</summary>
    protected abstract void Evict(Machine m);

    internal void AddMapping(Vma v)
    {
        lock (_mmaps) _mmaps.Add(v);
    }

    internal void RemoveMapping(Vma v)
    {
        lock (_mmaps) _mmaps.Remove(v);
    }

    public override string ToString() => Path;
}

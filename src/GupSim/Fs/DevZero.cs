namespace GupSim.Fs;

/// <summary>
/// /dev/zero (drivers/char/mem.c): mmap_zero() makes a MAP_PRIVATE mapping anonymous memory and a MAP_SHARED one a
/// shmem object (shmem_zero_setup()), so <see cref="Mm.MmStruct.Mmap"/> treats a mapping of it exactly as
/// MAP_ANONYMOUS. It has no page cache.
/// </summary>
public sealed class DevZeroInode : Inode
{
    internal DevZeroInode() : base("zero", linked: true)
    {
    }

    /// <summary>devtmpfs is shmem-backed.</summary>
    public override FsType FsType => FsType.Tmpfs;
    /// <inheritdoc/>
    public override string Path => "/dev/zero";
    /// <inheritdoc/>
    public override int CachedPages => 0;

    /// <inheritdoc/>
    protected override void Evict(Machine m)
    {
    }
}

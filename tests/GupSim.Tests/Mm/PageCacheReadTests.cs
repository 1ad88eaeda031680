using GupSim.Arch;
using GupSim.Fs;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Tests.Mm;

/// <summary>
/// pread(2) through the page cache (filemap_read) and invalidate_mapping_pages() (drop_caches), which the lived-in
/// workload (<c>--churn</c>) uses to fill and evict the page cache.
/// </summary>
public class PageCacheReadTests
{
    private const ulong Ps = 4096;

    private static (Machine M, OpenFile F, PageCacheInode I) Ext4File(ulong size)
    {
        var m = FileMachines.X86(KernelVersion.V6_1, "hugepages=0");
        var f = m.Vfs.Open("/tmp/data"); // /tmp is on the root filesystem, ext4
        Assert.Equal(0, f.Ftruncate(size));
        return (m, f, (PageCacheInode)f.Inode);
    }

    [Fact]
    public void Read_Ext4_FillsThePageCache_ShortAtISize()
    {
        var (m, f, inode) = Ext4File(10 * Ps + 100);
        ulong free0 = m.FreePagesTotal;
        // 1 MiB asked, i_size is 10 pages + 100 bytes: that much is read, into 11 pages.
        Assert.Equal((long)(10 * Ps + 100), f.Read(0, 1 << 20));
        Assert.Equal(11, inode.CachedPages);
        Assert.Equal(free0 - 11, m.FreePagesTotal);
        var sp = m.StructPages;
        for (ulong i = 0; i < 11; i++)
        {
            Assert.True(inode.TryGetPage(i, out ulong pfn));
            var page = m.Page(pfn);
            Assert.Equal(inode.MappingAddress, sp.Mapping(page));
            Assert.Equal(i, sp.Index(page));
            Assert.Equal(1, sp.Refcount(page)); // the page cache's own reference
            Assert.True(sp.TestFlag(page, PageFlagBits.Uptodate));
        }
        // Again: nothing new is allocated.
        Assert.Equal((long)(10 * Ps + 100), f.Read(0, 1 << 20));
        Assert.Equal(free0 - 11, m.FreePagesTotal);
        Assert.Equal(0, f.Read(11 * Ps, Ps)); // at or past i_size
    }

    [Fact]
    public void Read_FromTheMiddle_AddsOnlyThePagesItTouches()
    {
        var (_, f, inode) = Ext4File(16 * Ps);
        // 4096 bytes from 3 pages + 5: bytes of pages 3 and 4.
        Assert.Equal((long)Ps, f.Read(3 * Ps + 5, Ps));
        Assert.Equal([3UL, 4UL], inode.Pages.Select(kv => kv.Key));
        f.Close();
        Assert.Equal(-9, f.Read(0, Ps)); // EBADF after close
    }

    [Fact]
    public void Read_TmpfsHole_ReadsZeroesWithoutAllocating()
    {
        var m = FileMachines.X86(KernelVersion.V6_1, "hugepages=0");
        var f = m.Vfs.Open("/dev/shm/seg");
        Assert.Equal(0, f.Ftruncate(8 * Ps));
        ulong free0 = m.FreePagesTotal;
        Assert.Equal((long)(8 * Ps), f.Read(0, 8 * Ps));
        Assert.Equal(0, f.Inode.CachedPages);
        Assert.Equal(free0, m.FreePagesTotal);
    }

    [Fact]
    public void InvalidateMappingPages_DropsCleanUnmappedUnreferencedPages_Only()
    {
        var (m, f, inode) = Ext4File(8 * Ps);
        Assert.Equal((long)(8 * Ps), f.Read(0, 8 * Ps));
        var sp = m.StructPages;
        // Page 2 mapped (a read fault of a shared mapping of the file), page 5 dirty, page 6 with a reference beyond the cache's.
        var mm = MmStruct.Create(m)!;
        long va = mm.Mmap(0, Ps, Prot.Read, MapFlags.Shared, inode, 2 * Ps);
        Assert.True(va > 0);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)va, FaultFlags.None));
        Assert.True(inode.TryGetPage(5, out ulong dirty));
        sp.SetFlag(m.Page(dirty), PageFlagBits.Dirty);
        Assert.True(inode.TryGetPage(6, out ulong held));
        Assert.Equal(2, sp.RefAddReturn(m.Page(held), 1)); // get_page()
        ulong free0 = m.FreePagesTotal;
        // Only indices 3 and 4 first: both go.
        Assert.Equal(2UL, inode.InvalidateMappingPages(3, 4));
        Assert.Equal(free0 + 2, m.FreePagesTotal);
        // Then the whole file: 0, 1 and 7 go; 2 (mapped), 5 (dirty), 6 (referenced) stay.
        Assert.Equal(3UL, inode.InvalidateMappingPages(0, ulong.MaxValue));
        Assert.Equal(free0 + 5, m.FreePagesTotal);
        Assert.Equal([2UL, 5UL, 6UL], inode.Pages.Select(kv => kv.Key));
        Assert.Equal(inode.MappingAddress, sp.Mapping(m.Page(held))); // still in the cache
    }

    [Fact]
    public void InvalidateMappingPages_LeavesTmpfsPages()
    {
        var m = FileMachines.X86(KernelVersion.V6_1, "hugepages=0");
        var f = m.Vfs.Open("/dev/shm/seg");
        Assert.Equal(0, f.Fallocate(0, 4 * Ps));
        var inode = (PageCacheInode)f.Inode;
        Assert.Equal(4, inode.CachedPages);
        Assert.Equal(0UL, inode.InvalidateMappingPages(0, ulong.MaxValue));
        Assert.Equal(4, inode.CachedPages);
    }
}

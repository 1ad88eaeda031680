using GupSim.Arch;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Gup;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Mm;

/// <summary>
/// gup_longterm's matrix (tools/testing/selftests/mm/gup_longterm.c, David Hildenbrand, 2023) on a kernel before (v6.1) and
/// after (v6.5) the FOLL_LONGTERM file-write rule, plus the gup-fast folio check on its own.
/// </summary>
public class FileGupTests
{
    private static Machine Boot(string version, string hugepages = "hugepages=0") => FileMachines.X86(KernelVersion.Parse(version), hugepages);

    public enum Backing { Memfd, TmpfileTmpfs, TmpfileExt4, LocalXfs, LocalBtrfs, LocalOther, MemfdHugetlb2M, MemfdHugetlb1G }

    private static OpenFile OpenBacking(Machine m, Backing b)
    {
        switch (b)
        {
            case Backing.Memfd:
                Assert.Equal(0, m.Vfs.MemfdCreate("test", out var f));
                return f!;
            case Backing.TmpfileTmpfs:
                if (m.Vfs.FsTypeOf("/tmp/x") != FsType.Tmpfs) m.Vfs.Mount(FsType.Tmpfs, "/tmp");
                return m.Vfs.OpenTmpfile("/tmp");
            case Backing.TmpfileExt4:
                return m.Vfs.OpenTmpfile("/var/tmp"); // "/" is ext4
            case Backing.MemfdHugetlb2M:
            case Backing.MemfdHugetlb1G:
                Assert.Equal(0, m.Vfs.MemfdCreate("test", out var h, hugetlb: true, hugePageSize: b == Backing.MemfdHugetlb2M ? 2 * M : G));
                return h!;
            default:
                {
                    // mkstemp() in the test's directory, then unlink(): the open file keeps the inode.
                    var (type, dir) = b switch { Backing.LocalXfs => (FsType.Xfs, "/xfs"), Backing.LocalBtrfs => (FsType.Btrfs, "/btrfs"), _ => (FsType.Other, "/nfs") };
                    if (m.Vfs.FsTypeOf(dir + "/x") != type) m.Vfs.Mount(type, dir);
                    var file = m.Vfs.Open(dir + "/gup_longterm.c_tmpfile_XXXXXX");
                    Assert.Equal(0, m.Vfs.Unlink(dir + "/gup_longterm.c_tmpfile_XXXXXX"));
                    return file;
                }
        }
    }

    /// <summary>
    /// do_test(): ftruncate, fallocate, mmap R/W, memset (write faults), for R/O mprotect(PROT_READ), then
    /// PIN_LONGTERM_TEST_START (pin_user_pages[_fast](FOLL_LONGTERM [| FOLL_WRITE])) and STOP. Returns the pin's
    /// result and checks that every count is back where it was afterwards.
    /// </summary>
    private static long DoTest(Machine m, Backing b, bool shared, bool rw, bool fast)
    {
        var mm = MmStruct.Create(m)!;
        ulong free0 = m.FreePagesTotal, slab0 = m.Slub.SlabPages;
        var hs = m.Hugetlb.Hstates.Select(h => (h, h.FreeHugePages, h.ResvHugePages)).ToList();
        var f = OpenBacking(m, b);
        ulong size = f.Inode is GupSim.Hugetlb.HugetlbfsInode hi ? hi.Hstate.Size.Bytes : m.Arch.PageSize;
        ulong step = Math.Min(size, 2 * M);
        Assert.Equal(0, f.Ftruncate(size));
        Assert.Equal(0, f.Fallocate(0, size));
        long a = mm.Mmap(0, size, Prot.Read | Prot.Write, shared ? MapFlags.Shared : MapFlags.Private, f.Inode);
        Assert.True(a > 0, $"mmap: {a}");
        ulong va = (ulong)a;
        for (ulong o = 0; o < size; o += step) Assert.Equal(VmFault.None, mm.HandleMmFault(va + o, FaultFlags.Write) & VmFault.Error);
        if (!rw) Assert.Equal(0, mm.Mprotect(va, size, Prot.Read));
        var sp = m.StructPages;
        var leaf = mm.WalkLeaf(va)!.Value;
        // x86_64 VMEMMAP: the literal vmemmap base + pfn × 64, never pfn_to_page.
        var head = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + leaf.Entry.Pfn.Value * 64);
        (int Ref, int Pin) Counts() => (sp.Refcount(head), sp.HpagePincountAvailable(head) ? sp.CompoundPincount(head) : 0);
        var before = Counts();
        long n = (long)(size >> m.Arch.PageShift);
        var pages = new PagePtr[n];
        var gup = new GetUserPages(m);
        var flags = FollFlags.Longterm | (rw ? FollFlags.Write : FollFlags.None);
        long got = fast ? gup.PinUserPagesFast(mm, va, n, flags, pages) : gup.PinUserPagesRemote(mm, va, n, flags, pages);
        if (got > 0)
        {
            Assert.Equal(n, got);
            Assert.Equal(head, pages[0]);
            Assert.Equal(head.Address + (ulong)(n - 1) * 64, pages[n - 1].Address);
            // FOLL_PIN: a small folio takes GUP_PIN_COUNTING_BIAS (1024) on _refcount; a large one +n and pincount +n.
            Assert.Equal(n == 1 ? (before.Ref + 1024, 0) : (before.Ref + (int)n, before.Pin + (int)n), Counts());
            m.Grab.UnpinUserPages(pages.AsSpan(0, (int)got));
        }
        Assert.Equal(before, Counts());
        Assert.Equal(0, mm.Munmap(va, size));
        Assert.Equal(0, f.Close());
        Assert.True(f.Inode.Evicted);
        // The inode and anon_vma caches keep their slab pages: free pages balance with them counted, no object left.
        Assert.Equal(free0 + slab0, m.FreePagesTotal + m.Slub.SlabPages);
        Assert.Equal(0, m.Vfs.Objects.InUse);
        foreach (var (h, free, resv) in hs) Assert.Equal((free, resv), (h.FreeHugePages, h.ResvHugePages));
        mm.Destroy();
        return got;
    }

    public static TheoryData<string, Backing, bool, bool, bool> Matrix()
    {
        var d = new TheoryData<string, Backing, bool, bool, bool>();
        foreach (string v in new[] { "6.1", "6.5" })
            foreach (Backing b in Enum.GetValues<Backing>())
                foreach (bool shared in new[] { true, false })
                    foreach (bool rw in new[] { true, false })
                        foreach (bool fast in new[] { false, true })
                            d.Add(v, b, shared, rw, fast);
        return d;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void GupLongterm_OutcomeTable(string version, Backing b, bool shared, bool rw, bool fast)
    {
        // A machine of its own per row; the huge page pools only for the hugetlb rows (booting them is the slow part).
        var m = Boot(version, b is Backing.MemfdHugetlb2M or Backing.MemfdHugetlb1G ? "hugepagesz=2M hugepages=4 hugepagesz=1G hugepages=2" : "hugepages=0");
        bool diskFs = b is Backing.TmpfileExt4 or Backing.LocalXfs or Backing.LocalBtrfs or Backing.LocalOther;
        bool shouldFail = m.Version >= KernelVersion.FromNumbers(6, 5) && shared && rw && diskFs;
        long got = DoTest(m, b, shared, rw, fast);
        long pages = b switch { Backing.MemfdHugetlb2M => 512, Backing.MemfdHugetlb1G => 262144, _ => 1 };
        Assert.Equal(shouldFail ? -(int)Errno.EFAULT : pages, got);
    }

    [Fact]
    public void GupFastOnly_RefusesDirtyTrackedFileFolios_FromV6_5()
    {
        foreach (var m in new[] { Boot("6.1"), Boot("6.5") })
        {
            {
                var mm = MmStruct.Create(m)!;
                m.Vfs.Mount(FsType.Ext4, "/fastonly");
                var ext4 = m.Vfs.Open("/fastonly/f");
                Assert.Equal(0, m.Vfs.MemfdCreate("shm", out var shm));
                Assert.Equal(0, ext4.Ftruncate(4096));
                Assert.Equal(0, shm!.Ftruncate(4096));
                ulong e = (ulong)mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Shared, ext4.Inode);
                ulong s = (ulong)mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Shared, shm.Inode);
                ulong p = (ulong)mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Private, ext4.Inode);
                ulong anon = (ulong)mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
                foreach (ulong va in new[] { e, s, p, anon }) Assert.Equal(VmFault.None, mm.HandleMmFault(va, FaultFlags.Write));
                var gup = new GetUserPages(m);
                var pages = new PagePtr[1];
                var all = FollFlags.Pin | FollFlags.Longterm | FollFlags.Write | FollFlags.FastOnly;
                bool rule = m.Version >= KernelVersion.FromNumbers(6, 5);
                var sp = m.StructPages;
                int refBefore = sp.Refcount(m.PfnToPage(mm.WalkLeaf(e)!.Value.Entry.Pfn));
                Assert.Equal(rule ? 0L : 1L, gup.InternalGetUserPagesFast(mm, e, 1, all, pages)); // ext4 page cache page
                if (!rule) m.Grab.UnpinUserPages(pages);
                Assert.Equal(refBefore, sp.Refcount(m.PfnToPage(mm.WalkLeaf(e)!.Value.Entry.Pfn)));
                foreach (ulong va in new[] { s, p, anon }) // shmem page, private COW copy, anonymous page
                {
                    Assert.Equal(1L, gup.InternalGetUserPagesFast(mm, va, 1, all, pages));
                    m.Grab.UnpinUserPages(pages);
                }
                // Without FOLL_LONGTERM (or without FOLL_WRITE) the ext4 page is fine for gup-fast.
                Assert.Equal(1L, gup.InternalGetUserPagesFast(mm, e, 1, all & ~FollFlags.Longterm, pages));
                m.Grab.UnpinUserPages(pages);
                // Short-term slow GUP writes are allowed too; only the long-term pin fails.
                Assert.Equal(1L, gup.PinUserPagesRemote(mm, e, 1, FollFlags.Write, pages));
                m.Grab.UnpinUserPages(pages);
                Assert.Equal(rule ? -(int)Errno.EFAULT : 1L, gup.PinUserPagesRemote(mm, e, 1, FollFlags.Write | FollFlags.Longterm, pages));
                if (!rule) m.Grab.UnpinUserPages(pages);
                mm.Destroy();
                Assert.Equal(0, ext4.Close());
                Assert.Equal(0, shm.Close());
                Assert.Equal(0, m.Vfs.Unlink("/fastonly/f"));
            }
        }
    }

    [Fact]
    public void SlowGup_WriteOnReadOnlyPrivateFilePage_BreaksCowFirst()
    {
        var m = Boot("6.1");
        {
            var mm = MmStruct.Create(m)!;
            var f = m.Vfs.Open("/dev/shm/cow");
            Assert.Equal(0, f.Ftruncate(4096));
            ulong va = (ulong)mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Private, f.Inode);
            Assert.Equal(VmFault.None, mm.HandleMmFault(va, FaultFlags.None));
            Assert.True(((PageCacheInode)f.Inode).TryGetPage(0, out ulong cache));
            var gup = new GetUserPages(m);
            var pages = new PagePtr[1];
            // FOLL_WRITE on the read-only page cache entry: follow_page_mask() says no, the write fault copies it.
            Assert.Equal(1L, gup.GetUserPagesRemote(mm, va, 1, FollFlags.Write, pages));
            ulong anon = mm.WalkLeaf(va)!.Value.Entry.Pfn.Value;
            Assert.NotEqual(cache, anon);
            Assert.Equal(KnownAddresses.X86_64Vmemmap + anon * 64, pages[0].Address);
            Assert.Equal(2, m.StructPages.Refcount(pages[0]));
            Assert.Equal(1, m.StructPages.Refcount(m.PfnToPage(Pfn.FromUInt64(cache))));
            m.Grab.PutPages(pages);
            // A read GUP of a read-only shared page cache page takes it as it is.
            ulong sva = (ulong)mm.Mmap(0, 4096, Prot.Read, MapFlags.Shared, f.Inode);
            Assert.Equal(1L, gup.GetUserPagesFast(mm, sva, 1, FollFlags.None, pages));
            Assert.Equal(KnownAddresses.X86_64Vmemmap + cache * 64, pages[0].Address);
            Assert.Equal(3, m.StructPages.Refcount(pages[0])); // cache + mapping + GUP
            m.Grab.PutPages(pages);
            // FOLL_WRITE on a read-only shared VMA: check_vma_flags() refuses.
            Assert.Equal(-(int)Errno.EFAULT, gup.GetUserPagesRemote(mm, sva, 1, FollFlags.Write, pages));
            mm.Destroy();
            Assert.Equal(0, f.Close());
            Assert.Equal(0, m.Vfs.Unlink("/dev/shm/cow"));
        }
    }
}

using GupSim.Arch;
using GupSim.Fs;
using GupSim.Mm;

namespace GupSim.Tests.Mm;

/// <summary>Random mmap / touch / mprotect / munmap / ftruncate / close sequences over file mappings keep every count balanced.</summary>
public class FilePropertyTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomFileMappingOps_KeepRefcountsMapcountsAndFreePagesBalanced(int seed)
    {
        var m = FileMachines.X86(KernelVersion.V6_1, "hugepages=0");
        m.Vfs.Mount(FsType.Tmpfs, "/tmp");
        Assert.Equal(0, m.Vfs.Mkdir("/data0")); // open(O_CREAT) needs the directory, as on Linux
        Assert.Equal(0, m.Vfs.Mkdir("/data1"));
        var mm = MmStruct.Create(m)!;
        ulong free0 = m.FreePagesTotal, slab0 = m.Slub.SlabPages;
        var rnd = new Random(seed);
        var files = new List<OpenFile>();
        var maps = new List<(ulong Va, ulong Len)>();
        ulong ps = m.Arch.PageSize;
        long peakFile = 0, peakAnon = 0;
        for (int step = 0; step < 300; step++)
        {
            switch (rnd.Next(8))
            {
                case 0:
                    {
                        OpenFile? f;
                        if (rnd.Next(3) == 0) Assert.Equal(0, m.Vfs.MemfdCreate("r", out f));
                        else f = m.Vfs.Open(rnd.Next(2) == 0 ? $"/tmp/f{rnd.Next(4)}" : $"/data{rnd.Next(2)}/f{rnd.Next(4)}");
                        Assert.NotNull(f);
                        if (f.Inode.Size == 0) Assert.Equal(0, f.Ftruncate((ulong)rnd.Next(1, 12) * ps));
                        files.Add(f);
                        break;
                    }
                case 1 or 2:
                    {
                        bool anonShared = rnd.Next(6) == 0;
                        if (!anonShared && files.Count == 0) break;
                        ulong len = (ulong)rnd.Next(1, 10) * ps;
                        var flags = rnd.Next(2) == 0 ? MapFlags.Shared : MapFlags.Private;
                        long a = anonShared
                            ? mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Shared | MapFlags.Anonymous)
                            : mm.Mmap(0, len, Prot.Read | Prot.Write, flags, files[rnd.Next(files.Count)].Inode, (ulong)rnd.Next(3) * ps);
                        Assert.True(a > 0);
                        maps.Add(((ulong)a, len));
                        break;
                    }
                case 3 or 4:
                    {
                        if (maps.Count == 0) break;
                        var (va, len) = maps[rnd.Next(maps.Count)];
                        ulong off = (ulong)rnd.Next((int)(len / ps)) * ps;
                        var r = mm.HandleMmFault(va + off, rnd.Next(2) == 0 ? FaultFlags.Write : FaultFlags.None);
                        Assert.True(r is VmFault.None or VmFault.Write or VmFault.SigBus or VmFault.SigSegv, r.ToString());
                        break;
                    }
                case 5:
                    {
                        if (maps.Count == 0) break;
                        int i = rnd.Next(maps.Count);
                        var (va, len) = maps[i];
                        if (rnd.Next(2) == 0)
                        {
                            Assert.Equal(0, mm.Mprotect(va, len, rnd.Next(2) == 0 ? Prot.Read : Prot.Read | Prot.Write));
                            break;
                        }
                        ulong pages = len / ps, cut = (ulong)rnd.Next(1, (int)pages + 1);
                        Assert.Equal(0, mm.Munmap(va, cut * ps)); // the head of it; the rest stays mapped
                        if (cut == pages) maps.RemoveAt(i);
                        else maps[i] = (va + cut * ps, len - cut * ps);
                        break;
                    }
                case 6:
                    {
                        if (files.Count == 0) break;
                        Assert.Equal(0, files[rnd.Next(files.Count)].Ftruncate((ulong)rnd.Next(0, 12) * ps + (ulong)rnd.Next(2) * 100));
                        break;
                    }
                default:
                    {
                        if (files.Count == 0) break;
                        int i = rnd.Next(files.Count);
                        Assert.Equal(0, files[i].Close());
                        files.RemoveAt(i);
                        break;
                    }
            }
            if (step % 25 == 0) CheckCounts(m, mm);
            peakFile = Math.Max(peakFile, mm.FilePages + mm.ShmemPages);
            peakAnon = Math.Max(peakAnon, mm.AnonPages);
        }
        Assert.True(peakFile > 0 && peakAnon > 0, $"the sequence mapped {peakFile} file and {peakAnon} anonymous pages at most");
        CheckCounts(m, mm);
        foreach (var (va, len) in maps) Assert.Equal(0, mm.Munmap(va, len));
        foreach (var f in files) Assert.Equal(0, f.Close());
        foreach (var mount in m.Vfs.Mounts.ToList())
            foreach (string name in mount.Files.Keys.ToList()) Assert.Equal(0, m.Vfs.Unlink(VfsPaths.Join(mount.Path, name)));
        Assert.Equal((0L, 0L, 0L), (mm.AnonPages, mm.FilePages, mm.ShmemPages));
        Assert.Empty(m.Vfs.LiveInodes);
        Assert.Equal(0, m.Vfs.Objects.InUse);
        // Slab caches keep the pages of their current and partial slabs: free pages balance with them counted.
        Assert.Equal(free0 + slab0, m.FreePagesTotal + m.Slub.SlabPages);
        mm.Destroy();
    }

    /// <summary>Every page cache page: _refcount = 1 + PTEs mapping it, _mapcount = PTEs − 1; every anonymous page: 1 and 0.</summary>
    private static void CheckCounts(Machine m, MmStruct mm)
    {
        var sp = m.StructPages;
        var ptes = new Dictionary<ulong, int>();
        long anon = 0, file = 0;
        foreach (var v in mm.Vmas)
            for (ulong va = v.Start; va < v.End; va += m.Arch.PageSize)
                if (mm.WalkLeaf(va) is { } l && l.Entry.IsPresent)
                {
                    ulong pfn = l.Entry.Pfn.Value;
                    ptes[pfn] = ptes.GetValueOrDefault(pfn) + 1;
                    if (sp.PageAnon(m.PfnToPage(l.Entry.Pfn))) anon++;
                    else if (pfn != m.ZeroPfn) file++;
                }
        Assert.Equal(anon, mm.AnonPages);
        Assert.Equal(file, mm.FilePages + mm.ShmemPages);
        foreach (var inode in m.Vfs.LiveInodes)
            foreach (var (idx, pfn) in inode.Pages)
            {
                var page = m.PfnToPage(Core.Pfn.FromUInt64(pfn));
                int n = ptes.GetValueOrDefault(pfn);
                Assert.Equal((1 + n, n - 1, inode.MappingAddress, idx), (sp.Refcount(page), sp.MapcountRaw(page), sp.Mapping(page), sp.Index(page)));
            }
        foreach (var (pfn, n) in ptes)
        {
            var page = m.PfnToPage(Core.Pfn.FromUInt64(pfn));
            if (sp.PageAnon(page)) Assert.Equal((1, 0, 1), (sp.Refcount(page), sp.MapcountRaw(page), n));
        }
    }
}

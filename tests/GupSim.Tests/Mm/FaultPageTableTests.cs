using CsCheck;
using GupSim.Arch;
using GupSim.Hugetlb;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Mm;

public class FaultPageTableTests
{
    private static (Machine M, MmStruct Mm) Boot(string arch, string hugepages, ulong ramStart, ulong ramBytes)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get(arch, KernelVersion.V6_1),
            Ram = Ram((ramStart, ramStart + ramBytes)),
            Hugepages = HugepagesCmdline.Parse(hugepages, null),
        });
        return (m, MmStruct.Create(m)!);
    }

    // arch/*/mm/hugetlbpage.c: how each size is mapped. Faulting one huge page writes exactly these entries.
    [Theory]
    [InlineData("x86_64", "2M", "hugepagesz=2M hugepages=2", PgLevel.Pmd, 1, false)]
    [InlineData("x86_64", "1G", "hugepagesz=1G hugepages=2", PgLevel.Pud, 1, false)]
    [InlineData("arm64-4k", "64K", "hugepagesz=64K hugepages=2", PgLevel.Pte, 16, true)]
    [InlineData("arm64-4k", "2M", "hugepagesz=2M hugepages=2", PgLevel.Pmd, 1, false)]
    [InlineData("arm64-4k", "32M", "hugepagesz=32M hugepages=2", PgLevel.Pmd, 16, true)]
    [InlineData("arm64-4k", "1G", "hugepagesz=1G hugepages=2", PgLevel.Pud, 1, false)]
    [InlineData("arm64-64k", "2M", "hugepagesz=2M hugepages=2", PgLevel.Pte, 32, true)]
    [InlineData("arm64-64k", "512M", "hugepagesz=512M hugepages=2", PgLevel.Pmd, 1, false)]
    [InlineData("ppc64", "16M", "hugepagesz=16M hugepages=2", PgLevel.Pmd, 1, false)]
    public void HugetlbFault_WritesTheArchsLeaf(string arch, string sizeText, string hugepages, PgLevel level, int entries, bool cont)
    {
        var a = ArchProfiles.Get(arch, KernelVersion.V6_1);
        var (m, mm) = Boot(arch, hugepages, a.DefaultRamStart, 8 * G);
        ulong size = GupSim.Core.ByteSize.Parse(sizeText);
        long addr = mm.Mmap(0, size, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(size));
        Assert.True(addr > 0, $"mmap returned {addr}");
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)addr, FaultFlags.Write));
        ulong stride = size / (ulong)entries;
        ulong headPfn = mm.WalkLeaf((ulong)addr)!.Value.Entry.Pfn.Value;
        Assert.Equal(0UL, headPfn % (size >> a.PageShift)); // hugetlb pages are naturally aligned
        for (int i = 0; i < entries; i++)
        {
            var leaf = mm.WalkLeaf((ulong)addr + (ulong)i * stride)!.Value;
            Assert.Equal(level, leaf.Level);
            Assert.Equal(headPfn + (ulong)i * (stride >> a.PageShift), leaf.Entry.Pfn.Value);
            Assert.Equal(cont, leaf.Entry.IsCont);
            Assert.True(leaf.Entry.IsPresent && leaf.Entry.IsWrite && leaf.Entry.IsDirty);
        }
        var slot = mm.PageTable.HugePteOffset((ulong)addr, size);
        Assert.NotNull(slot);
        Assert.Equal(headPfn, mm.PageTable.Read(slot.Value).Pfn.Value);
    }

    [Fact]
    public void RandomMmapTouchMunmap_KeepsPoolsRefcountsAndPageTablesBalanced()
    {
        Gen.Select(Gen.Int[0, 3].Array[4, 12], Gen.Int[1, 6].Array[12], Gen.Bool.Array[12]).Sample((kinds, sizes, writes) =>
        {
            var m = Machine.Boot(new MachineSpec
            {
                Arch = ArchProfiles.Get("x86_64", KernelVersion.V5_12),
                Ram = Ram((0, 3 * G), (4 * G, 8 * G)),
                Hugepages = HugepagesCmdline.Parse("hugepagesz=2M hugepages=16", null),
            });
            var h = m.Hugetlb.Find(2 * M)!;
            m.Hugetlb.Mounts.Mount("/mnt/huge", 2 * M);
            var file = m.Hugetlb.Mounts.OpenOrCreate("/mnt/huge/f");
            ulong free0 = m.FreePagesTotal, slab0 = m.Slub.SlabPages;
            var mm = MmStruct.Create(m)!;
            var maps = new List<(ulong, ulong)>();
            // The pool by hugetlb's rules, kept here by hand: a private mapping reserves its n pages at mmap and each
            // fault consumes one (so, all touched, free drops by n and resv is back to 0); the shared file reserves
            // only the pages [cached, n) its page cache lacks, and keeps them until the inode is emptied. mmap fails
            // (-ENOMEM) when the reservation does not fit in free − resv.
            ulong privatePages = 0, filePages = 0;
            for (int i = 0; i < kinds.Length; i++)
            {
                ulong n = (ulong)sizes[i];
                ulong len = n * 2 * M;
                ulong room = 16 - privatePages - filePages;
                bool fits = kinds[i] switch
                {
                    1 => n <= room,
                    2 => (n > filePages ? n - filePages : 0) <= room,
                    _ => true,
                };
                long a = kinds[i] switch
                {
                    0 => mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous),
                    1 => mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb),
                    2 => mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Shared, file),
                    _ => mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous),
                };
                Assert.Equal(fits, a >= 0);
                if (a < 0) continue;
                if (kinds[i] == 1) privatePages += n;
                if (kinds[i] == 2) filePages = Math.Max(filePages, n);
                if (kinds[i] == 3) mm.Madvise((ulong)a, len, Madvise.HugePage);
                for (ulong off = 0; off < len; off += 2 * M) mm.HandleMmFault((ulong)a + off, writes[i] ? FaultFlags.Write : FaultFlags.None);
                maps.Add(((ulong)a, len));
                Assert.Equal((16UL, 16 - privatePages - filePages, 0UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
            }
            foreach (var (a, len) in maps) Assert.Equal(0, mm.Munmap(a, len));
            Assert.Equal(0L, mm.AnonPages);
            Assert.Equal(0L, mm.HugetlbPages);
            m.Hugetlb.RemoveInodePages(file);
            Assert.Equal((16UL, 16UL, 0UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
            mm.Destroy();
            // The anon_vma cache keeps its slab pages: free pages balance with them counted.
            Assert.Equal(free0 + slab0, m.FreePagesTotal + m.Slub.SlabPages);
            Assert.DoesNotContain(m.KernelLog, l => l.StartsWith("BUG", StringComparison.Ordinal));
        }, iter: 25);
    }
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Hugetlb;

public class HugetlbPoolTests
{
    private static Machine Boot20G(KernelVersion v, MemoryModel model, string hugepages) => Machine.Boot(new MachineSpec
    {
        Arch = ArchProfiles.Get("x86_64", v),
        Model = model,
        Ram = Ram((0, 3 * G), (4 * G, 21 * G)),
        Hugepages = HugepagesCmdline.Parse(hugepages, 2 * M),
    });

    // include/linux/hugetlb.h hstate_is_gigantic(): order, gigantic = order ≥ MAX_ORDER (v5.11 meaning).
    [Theory]
    [InlineData("x86_64", "2M", 9, false)]
    [InlineData("x86_64", "1G", 18, true)]
    [InlineData("arm64-4k", "64K", 4, false)]
    [InlineData("arm64-4k", "32M", 13, true)]
    [InlineData("arm64-16k", "32M", 11, false)]
    [InlineData("arm64-64k", "512M", 13, false)]
    [InlineData("arm64-64k", "16G", 18, true)]
    [InlineData("ppc64", "16M", 8, false)]
    [InlineData("ppc64", "16G", 18, true)]
    [InlineData("s390x", "2G", 19, true)]
    public void Hstates_DerivedValues(string arch, string size, int order, bool gigantic)
    {
        var m = Machine.Boot(new MachineSpec { Arch = ArchProfiles.Get(arch, KernelVersion.V5_12), Ram = new MachineSpecRam(arch).Layout });
        var h = m.Hugetlb.Find(ByteSize.Parse(size));
        Assert.NotNull(h);
        Assert.Equal(order, h.Order);
        Assert.Equal(gigantic, h.IsGigantic);
        Assert.Equal(1UL << order, h.PagesPerHugePage);
        Assert.Equal(~(ByteSize.Parse(size) - 1), h.Mask);
    }

    private sealed record MachineSpecRam(string Arch)
    {
        public RamLayout Layout
        {
            get
            {
                var a = ArchProfiles.Get(Arch, KernelVersion.V5_12);
                return Ram((a.DefaultRamStart, a.DefaultRamStart + 4 * G));
            }
        }
    }

    [Fact]
    public void BootGiganticPages_ComeFromMemblockTopDown_NaturallyAligned()
    {
        // Top-down below the vmemmap buffer [21G − 322M, 21G − 2M): 1 GiB blocks 19G, 18G, 17G, 16G; each enqueued
        // at the head of the free list, so the list reads 16G, 17G, 18G, 19G.
        var m = Boot20G(KernelVersion.V5_12, MemoryModel.SparsememVmemmap, "default_hugepagesz=1G hugepagesz=1G hugepages=4");
        var h = m.Hugetlb.Default!;
        Assert.Equal(1UL << 30, h.Size.Bytes);
        Assert.Equal([0x400000UL, 0x440000, 0x480000, 0x4c0000], h.FreeList(0));
        Assert.Equal(4UL, h.NrHugePages);
        Assert.Equal(4UL, h.FreeHugePages);
        Assert.Equal(
            ["HugePages_Total:     4", "HugePages_Free:      4", "HugePages_Rsvd:      0", "HugePages_Surp:      0",
             "Hugepagesize:    1048576 kB", "Hugetlb:         4194304 kB"],
            m.Hugetlb.MeminfoLines());
    }

    [Theory]
    [InlineData("5.11", 2, 16)] // pincount in page[2] (order ≥ 2 only), hpage_pinned_refcount at offset 16
    [InlineData("5.18", 1, 24)] // 5232c63f46fd: compound_pincount in page[1]
    public void GiganticCompoundLayout_HeadTailsOrderPincount(string version, int pincountPage, int pincountOffset)
    {
        var m = Boot20G(KernelVersion.Parse(version), MemoryModel.Sparsemem, "hugepagesz=1G hugepages=1");
        var h = m.Hugetlb.Find(1UL << 30)!;
        ulong headPfn = h.FreeList(0).First();
        var sp = m.StructPages;
        var head = m.PfnToPage(Pfn.FromUInt64(headPfn));
        Assert.True(sp.PageHead(head));
        Assert.False(sp.PageReserved(head));
        Assert.Equal(18, sp.CompoundOrder(head));
        Assert.Equal(262144UL, sp.CompoundNr(head));
        Assert.Equal(0, sp.Refcount(head));
        Assert.Equal(-1, sp.CompoundMapcount(head));
        Assert.Equal(CompoundPages.HugetlbPageDtor, m.Hugetlb.Compound.CompoundPageDtor(head));
        Assert.Equal(pincountPage, m.Layout.PincountPage);
        Assert.Equal(pincountOffset, m.Layout.Pincount);
        Assert.Equal(0, sp.CompoundPincount(head));
        foreach (ulong i in new ulong[] { 1, 2, 1023, 1024, 32767, 32768, 200000, 262143 })
        {
            var tail = m.PfnToPage(Pfn.FromUInt64(headPfn + i));
            Assert.True(sp.PageTail(tail));
            Assert.Equal(head, sp.CompoundHead(tail));
            Assert.Equal(0, sp.Refcount(tail));
            Assert.False(sp.PageReserved(tail));
        }
    }

    [Theory]
    [InlineData(MemoryModel.SparsememVmemmap, "5.11")]
    [InlineData(MemoryModel.Sparsemem, "5.11")]
    [InlineData(MemoryModel.SparsememVmemmap, "6.6")]
    [InlineData(MemoryModel.Sparsemem, "6.1")]
    public void TwoMegCompoundLayout_OnEachSparseModel(MemoryModel model, string version)
    {
        var m = Boot20G(KernelVersion.Parse(version), model, "hugepagesz=2M hugepages=1");
        var h = m.Hugetlb.Find(2 * M)!;
        var head = m.PfnToPage(Pfn.FromUInt64(h.FreeList(0).First()));
        var sp = m.StructPages;
        Assert.Equal(9, sp.CompoundOrder(head));
        Assert.Equal(512UL, sp.CompoundNr(head));
        Assert.Equal(0, sp.CompoundPincount(head)); // page[2] (v5.11, order ≥ 2) or page[1] (v5.18+)
        Assert.Equal(head, sp.CompoundHead(m.PageAdd(head, 511)));
        Assert.Equal(0xdead000000000400UL, sp.Mapping(m.PageAdd(head, 3))); // TAIL_MAPPING from prep_compound_page
        Assert.Equal(-1, sp.CompoundMapcount(head));
    }

    [Fact]
    public void RuntimeResize_GrowsFromContigRanges_ReportsWhatItGot_AndShrinkReturnsEverything()
    {
        var m = Boot20G(KernelVersion.V5_12, MemoryModel.SparsememVmemmap, "hugepagesz=1G hugepages=4");
        var h = m.Hugetlb.Find(1UL << 30)!;
        var normal = m.Nodes[0].Zones.Single(z => z.Type == ZoneType.Normal);
        ulong normalFree = normal.FreePages + normal.PcpPages;
        Assert.Equal(6UL, m.Hugetlb.SetMaxHugePages(h, 6));
        // alloc_contig_pages: highest zone first, candidates ALIGN(zone_start_pfn = 4G) upward: 4G, then 5G.
        Assert.Equal([0x140000UL, 0x100000, 0x400000, 0x440000, 0x480000, 0x4c0000], h.FreeList(0));
        // Ask for 100: Normal has 1 GiB blocks 4G..15G (12; 20G holds the vmemmap buffer), DMA32 1G and 2G.
        Assert.Equal(18UL, m.Hugetlb.SetMaxHugePages(h, 100));
        Assert.Equal(18UL, h.NrHugePages);
        Assert.Equal(0UL, m.Hugetlb.SetMaxHugePages(h, 0));
        Assert.Equal(0UL, h.NrHugePages);
        Assert.Equal(0UL, h.FreeHugePages);
        // Everything went back to the page allocator, the four boot pages (memblock at boot) included. The 16 Normal
        // pages are freed page by page (free_contig_range) through the pcp, empty after the last alloc_contig_pages()
        // drain (batch 63, high 378): 16 × 262144 − 378 = 63 × 66570 + 16, so 315 + 16 = 331 stay on the pcp.
        Assert.Equal(331UL, normal.PcpPages);
        Assert.Equal(normalFree + 4 * 262144, normal.FreePages + normal.PcpPages);
        Assert.DoesNotContain(m.KernelLog, l => l.StartsWith("BUG: Bad page state", StringComparison.Ordinal));
    }

    [Fact]
    public void BuddySizedPages_PrepCompoundPage_TailMapping_AndFreeRestoresTheBuddy()
    {
        var m = Boot20G(KernelVersion.V5_11, MemoryModel.SparsememVmemmap, "");
        var h = m.Hugetlb.Find(2 * M)!;
        var counts = m.Nodes[0].Zones.Select(z => z.FreeCounts()).ToList();
        Assert.Equal(512UL, m.Hugetlb.SetMaxHugePages(h, 512));
        ulong headPfn = h.FreeList(0).First();
        var head = m.PfnToPage(Pfn.FromUInt64(headPfn));
        Assert.Equal(9, m.StructPages.CompoundOrder(head));
        Assert.Equal(0xdead000000000400UL, m.StructPages.Mapping(m.PageAdd(head, 3)));
        Assert.Equal(head, m.StructPages.CompoundHead(m.PageAdd(head, 511)));
        Assert.Equal(0UL, m.Hugetlb.SetMaxHugePages(h, 0));
        Assert.Equal(counts, m.Nodes[0].Zones.Select(z => z.FreeCounts()).ToList());
        Assert.DoesNotContain(m.KernelLog, l => l.StartsWith("BUG", StringComparison.Ordinal));
    }

    [Fact]
    public void V6_18_WarnsAtHstatesLargerThanASection_AndRefusesTheirRuntimePages_OnClassicSparse()
    {
        // sh: 64 MiB sections (SECTION_SIZE_BITS 26, PFN_SECTION_SHIFT 14). v6.18's MAX_FOLIO_ORDER on SPARSEMEM
        // without VMEMMAP is PFN_SECTION_SHIFT = 14. 512 MiB pages are order 17 > 14: 7b4f21f5e038's
        // hugetlb_add_hstate() WARNs and still registers the hstate; 0bf2edf041dc's alloc_contig_range_noprof()
        // then refuses the __GFP_COMP range with -EINVAL, so nr_hugepages cannot grow the 512M pool even though RAM
        // 0x0C000000-0x4C000000 holds the aligned range 0x20000000-0x40000000. 64 MiB pages (order 14) are silent.
        var sh = Machine.Boot(new MachineSpec { Arch = ArchProfiles.Get("sh", KernelVersion.V6_18), Model = MemoryModel.Sparsemem, Ram = Ram((0x0C000000, 0x0C000000 + G)) });
        var h512 = sh.Hugetlb.Find(512 * M);
        Assert.NotNull(h512);
        Assert.NotNull(sh.Hugetlb.Find(64 * M));
        Assert.Contains("WARNING: CPU: 0 PID: 0 at mm/hugetlb.c hugetlb_add_hstate: order 17 > MAX_FOLIO_ORDER 14 (hugepagesz=512M)", sh.KernelLog);
        Assert.DoesNotContain(sh.KernelLog, l => l.Contains("hugepagesz=64M", StringComparison.Ordinal));
        Assert.Equal(0UL, sh.Hugetlb.SetMaxHugePages(h512, 1));
        Assert.Contains("WARNING: CPU: 0 PID: 1 at mm/page_alloc.c alloc_contig_range_noprof: order 17 > MAX_FOLIO_ORDER 14", sh.KernelLog);
        // The same sh kernel on v6.6 has no MAX_FOLIO_ORDER: 512M is registered silently and allocated at run time.
        var sh66 = Machine.Boot(new MachineSpec { Arch = ArchProfiles.Get("sh", KernelVersion.V6_6), Model = MemoryModel.Sparsemem, Ram = Ram((0x0C000000, 0x0C000000 + G)) });
        var h66 = sh66.Hugetlb.Find(512 * M);
        Assert.NotNull(h66);
        Assert.DoesNotContain(sh66.KernelLog, l => l.StartsWith("WARNING", StringComparison.Ordinal));
        Assert.Equal(1UL, sh66.Hugetlb.SetMaxHugePages(h66, 1));
    }

    [Theory]
    [InlineData("hugepagesz=1G hugepages=16 default_hugepagesz=1G", 1UL << 30, 16UL)]
    [InlineData("1G=16", 1UL << 30, 16UL)]
    [InlineData("hugepages=512", 2UL << 20, 512UL)]
    public void Cmdline_Parses(string text, ulong size, ulong count)
    {
        var c = HugepagesCmdline.Parse(text, 2 * M);
        Assert.Equal((size, count), Assert.Single(c.Pages));
    }

    [Fact]
    public void Cmdline_BadToken_IsOneLineError()
    {
        var e = Assert.Throws<GupSimException>(() => HugepagesCmdline.Parse("hugepages=lots", 2 * M));
        Assert.Equal("--hugepages: 'lots' is not a page count", e.Message);
    }
}

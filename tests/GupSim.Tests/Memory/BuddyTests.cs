using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

public class BuddyTests
{
    // x86_64 v5.11 VMEMMAP, RAM [0, 1G). Boot reservations (worked out from the boot rules, not read from the tool):
    // kernel image [16M, 64M); mem_section_usage 8 sections × 40 bytes at the top [1G − 320, 1G); vmemmap backing
    // 8 × 2 MiB, 2 MiB aligned, top-down below it: [1G − 18M, 1G − 2M). Free: [0, 16M) → DMA 4096 pages;
    // [64M, 1G − 18M) = 241152 pages and [1G − 2M, 1G − 4K) = 511 pages → DMA32 241663 pages.
    private static Machine OneGig() => Boot("x86_64", KernelVersion.V5_11, MemoryModel.SparsememVmemmap, Ram((0, G)));

    [Fact]
    public void Boot_FreeCounts_AreRamMinusMemblockReservations()
    {
        var m = OneGig();
        var zones = m.Nodes[0].Zones;
        Assert.Equal(["DMA", "DMA32"], zones.Select(z => z.Name));
        Assert.Equal(4096UL, zones[0].FreePages);
        Assert.Equal([0UL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4], zones[0].FreeCounts());
        Assert.Equal(241663UL, zones[1].FreePages);
        // The 511-page tail [0x3fe00, 0x3ffff) splits into one block of each order 8..0.
        Assert.Equal([1UL, 1, 1, 1, 1, 1, 1, 1, 1, 1, 235], zones[1].FreeCounts());
    }

    [Fact]
    public void AllocPages_TakesTheSmallestOrderFirst_AndFreeMergesBack()
    {
        var m = OneGig();
        var dma32 = m.Nodes[0].Zones[1];
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn pfn));
        Assert.Equal(0x3fffeUL, pfn.Value);
        Assert.Equal(1, m.StructPages.Refcount(m.PfnToPage(pfn)));
        Assert.Equal(241662UL, dma32.FreePages);
        m.StructPages.SetRefcount(m.PfnToPage(pfn), 0);
        Assert.Empty(m.FreePages(pfn, 0));
        Assert.Equal(241663UL, dma32.FreePages);
        Assert.Equal([1UL, 1, 1, 1, 1, 1, 1, 1, 1, 1, 235], dma32.FreeCounts());
    }

    [Fact]
    public void FreePages_WithAReference_ReportsBadPageState_AndKeepsTheCounts()
    {
        var m = OneGig();
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn pfn));
        var reports = m.FreePages(pfn, 0);
        string report = Assert.Single(reports);
        Assert.Equal(
            "BUG: Bad page state in process gupsim  pfn:3fffe\n" +
            "page:0xffffea0000ffff80 refcount:1 mapcount:-1 mapping:0000000000000000 index:0x0 pfn:0x3fffe\n" +
            "flags: 0x100000000000000(zone=1|node=0)\n" +
            "raw: 0100000000000000 0000000000000000 0000000000000000 0000000000000000\n" +
            "raw: 0000000000000000 0000000000000000 00000001ffffffff 0000000000000000\n" +
            "page dumped because: nonzero _refcount", report);
        Assert.Equal(241662UL, m.Nodes[0].Zones[1].FreePages);
        Assert.Contains("page dumped because: nonzero _refcount", m.KernelLog);
    }

    // free_tail_pages_check() checks only with CONFIG_DEBUG_VM (DebugVmTests has the off case).
    [Fact]
    public void FreePages_CompoundBlock_ChecksTails()
    {
        var m = Machine.Boot(new MachineSpec { Arch = ArchProfiles.Get("x86_64", KernelVersion.V5_11), Model = MemoryModel.SparsememVmemmap, Ram = Ram((0, G)), DebugVm = true });
        var sp = m.StructPages;
        Assert.True(m.TryAllocPages(2, 0, "test", out Pfn pfn));
        var head = m.PfnToPage(pfn);
        PrepCompound(m, head, 2);
        sp.SetRefcount(head, 0);
        Assert.Empty(m.FreePages(pfn, 2));
        Assert.False(sp.PageTail(m.PageAdd(head, 1)));

        Assert.True(m.TryAllocPages(2, 0, "test", out pfn));
        head = m.PfnToPage(pfn);
        PrepCompound(m, head, 2);
        sp.SetCompoundMapcount(head, 0); // mapped once, never unmapped
        sp.SetRefcount(head, 0);
        var r = Assert.Single(m.FreePages(pfn, 2));
        Assert.EndsWith("page dumped because: nonzero compound_mapcount", r);
    }

    /// <summary>prep_compound_page() by hand, as a test fixture.</summary>
    private static void PrepCompound(Machine m, PagePtr head, int order)
    {
        var sp = m.StructPages;
        sp.SetFlag(head, PageFlagBits.Head);
        for (int i = 1; i < 1 << order; i++)
        {
            var t = m.PageAdd(head, i);
            sp.SetMapping(t, m.Arch.TailMapping);
            sp.SetCompoundHead(t, head);
        }
        sp.SetCompoundOrder(head, order);
        sp.SetCompoundMapcount(head, -1);
    }

    [Fact]
    public void AllocContigPages_OneGigAcrossEightSections_AndFreeRestoresEveryCount()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G);
        var normal = m.Nodes[0].Zones.Single(z => z.Type == ZoneType.Normal);
        ulong before = normal.FreePages;
        var counts = normal.FreeCounts();
        Assert.True(m.TryAllocContigPages(262144, 0, out Pfn pfn));
        Assert.Equal(0x100000UL, pfn.Value); // ALIGN(zone_start_pfn = 0x100000, 262144)
        Assert.Equal(before - 262144, normal.FreePages);
        Assert.Equal(1, m.StructPages.Refcount(m.PfnToPage(pfn + 200000)));
        Assert.Empty(m.FreeContigRange(pfn, 262144));
        Assert.Equal(before, normal.FreePages);
        Assert.Equal(counts, normal.FreeCounts());
    }

    [Fact]
    public void AllocContigRange_OverTheKernelImage_IsEbusy_AndChangesNothing()
    {
        var m = OneGig();
        var dma32 = m.Nodes[0].Zones[1];
        var counts = dma32.FreeCounts();
        Assert.Equal(-(int)Errno.EBUSY, m.AllocContigRange(0x3c00, 0x4400)); // [60M, 68M) overlaps the image's end
        Assert.Equal(counts, dma32.FreeCounts());
        Assert.Equal(-(int)Errno.EINVAL, m.AllocContigRange(0xf00, 0x1100)); // crosses DMA → DMA32
        Assert.Equal(0, m.AllocContigRange(0x4000, 0x4400));
        Assert.Equal(241663UL - 0x400, dma32.FreePages);
    }

    [Fact]
    public void HotRemove_BusyIsEbusy_FreeRemovesSectionsAndMemmaps()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 8 * G)), hotplug: PhysRange.FromStartEnd(8 * G, 9 * G));
        var range = PhysRange.FromStartEnd(8 * G, 9 * G);
        ulong freeBefore = m.FreePagesTotal;
        Assert.Equal(0, m.AllocContigRange(0x200010, 0x200011));
        Assert.Equal(-(int)Errno.EBUSY, m.HotRemove(range));
        Assert.Equal(8, m.PresentSections.Count(s => s.Placement == MemmapPlacement.Hotplug));
        Assert.Empty(m.FreeContigRange(Pfn.FromUInt64(0x200010), 1));
        Assert.Equal(freeBefore, m.FreePagesTotal);
        var memmapVa = m.PresentSections.First(s => s.Nr == 64).MemmapVa;
        Assert.Equal(0, m.HotRemove(range));
        Assert.Equal(64, m.PresentSections.Count);
        Assert.False(m.Sections!.IsPresent(64));
        Assert.NotEqual(AddressKind.Page, m.Describe(memmapVa).Kind);
        // Removing gives back the 8 memmaps (order 9) and 8 usage pages taken from boot memory, and drops 1 GiB.
        Assert.Equal(freeBefore - 262144 + 8 * 512 + 8, m.FreePagesTotal);
    }

    [Fact]
    public void HotAdd_BadRanges_AreEinval_AndChangeNothing()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 8 * G)));
        ulong free = m.FreePagesTotal;
        Assert.Equal(-(int)Errno.EINVAL, m.HotAdd(PhysRange.FromStartEnd(8 * G + 4096, 9 * G), 0));
        Assert.Equal(-(int)Errno.EEXIST, m.HotAdd(PhysRange.FromStartEnd(7 * G, 9 * G), 0));
        Assert.Equal(-(int)Errno.EINVAL, m.HotAdd(PhysRange.FromStartEnd(8 * G, 9 * G), 5));
        Assert.Equal(free, m.FreePagesTotal);
        Assert.Equal(64, m.PresentSections.Count);
        var flat = Boot("i386", KernelVersion.V5_11, MemoryModel.Flatmem, Ram((0, 512 * M)));
        Assert.Equal(-(int)Errno.EINVAL, flat.HotAdd(PhysRange.FromStartEnd(512 * M, 576 * M), 0));
    }
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

public class StructPageTests
{
    // include/linux/mm_types.h: 64-bit v5.11 tail views; v5.18 (5232c63f46fd) pincount in page[1]; v6.6 folio layout.
    [Theory]
    [InlineData(64, "5.11", 64, 52, 48, 8, 17, 20, 24, 2, 16)]
    [InlineData(64, "5.18", 64, 52, 48, 8, 17, 20, 28, 1, 24)]
    [InlineData(64, "6.1", 64, 52, 48, 8, 17, 20, 28, 1, 24)]
    [InlineData(64, "6.6", 64, 52, 48, 8, 0, 24, 36, 1, 32)]
    [InlineData(32, "5.11", 32, 28, 24, 4, 9, 12, 16, 2, 8)]
    [InlineData(32, "5.18", 32, 28, 24, 4, 9, 12, 20, 1, 16)]
    public void Layout_FieldOffsets(int bits, string version, int size, int refcount, int mapcount, int compoundHead,
        int order, int compoundMapcount, int compoundNr, int pincountPage, int pincount)
    {
        var l = StructPageLayout.For(bits, KernelVersion.Parse(version));
        Assert.Equal(size, l.Size);
        Assert.Equal(refcount, l.Refcount);
        Assert.Equal(mapcount, l.Mapcount);
        Assert.Equal(compoundHead, l.CompoundHead);
        Assert.Equal(order, l.CompoundOrder);
        Assert.Equal(compoundMapcount, l.CompoundMapcount);
        Assert.Equal(compoundNr, l.CompoundNr);
        Assert.Equal(pincountPage, l.PincountPage);
        Assert.Equal(pincount, l.Pincount);
    }

    [Fact]
    public void FlagsLayout_ClassicSparse_x86_64_PutsSectionNodeZoneAtTheTop()
    {
        // SECTIONS_WIDTH = 46 − 27 = 19 at bits 45..63, NODES_WIDTH 6 at 39..44, ZONES_WIDTH 2 at 37..38.
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G);
        Assert.Equal(new PageFlagsLayout(64, 19, 6, 2), m.FlagsLayout);
        var flags = m.StructPages.Flags(m.PfnToPage(Pfn.FromUInt64(0x108000))); // section 33, ZONE_NORMAL (index 2)
        Assert.Equal((33UL << 45) | (2UL << 37), flags);
        Assert.Equal(33UL, m.FlagsLayout.SectionOf(flags));
    }

    [Fact]
    public void Init_ReservedPages_HaveAReferenceAndPgReserved_FreePagesHaveNone()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.SparsememVmemmap, Ram((0, G)));
        var image = m.PfnToPage(Pfn.FromUInt64(0x1000)); // 16 MiB: the kernel image
        Assert.True(m.StructPages.PageReserved(image));
        Assert.Equal(1, m.StructPages.Refcount(image));
        var free = m.PfnToPage(Pfn.FromUInt64(0x5000));
        Assert.False(m.StructPages.PageReserved(free));
        Assert.Equal(0, m.StructPages.Refcount(free));
        Assert.Equal(-1, m.StructPages.MapcountRaw(free));
    }

    [Fact]
    public void Storage_GrowsWithWhatIsTouched_NotWithTheMachine()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.SparsememVmemmap, Ram((0, 3 * G), (4 * G, 4UL << 40)));
        Assert.Equal(32760, m.PresentSections.Count);
        Assert.Equal(0, m.Store.ChunkCount);
        _ = m.StructPages.Refcount(m.PfnToPage(Pfn.FromUInt64(0x300000000 >> 12)));
        Assert.Equal(1, m.Store.ChunkCount);
        Assert.Equal(2L * 64, m.Store.MaterialisedBytes); // untouched struct pages are alike: kept as one page and a step
        m.StructPages.SetRefcount(m.PfnToPage(Pfn.FromUInt64(0x300000000 >> 12)), 5);
        Assert.Equal(4096L * 64, m.Store.MaterialisedBytes); // written: the 4096-pfn chunk becomes an array
        Assert.Equal(5, m.StructPages.Refcount(m.PfnToPage(Pfn.FromUInt64(0x300000000 >> 12))));
        Assert.Equal(0, m.StructPages.Refcount(m.PfnToPage(Pfn.FromUInt64((0x300000000 >> 12) + 1))));
    }

    [Fact]
    public void RefAddReturn_IsAtomicAcrossThreads()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.SparsememVmemmap, Ram((0, G)));
        var page = m.PfnToPage(Pfn.FromUInt64(0x5000));
        Parallel.For(0, 8, _ =>
        {
            for (int i = 0; i < 10000; i++) m.StructPages.RefAddReturn(page, 1);
        });
        Assert.Equal(80000, m.StructPages.Refcount(page));
    }

    [Fact]
    public void WritingThroughAWrongPointer_ChangesWhatLivesThere()
    {
        // Classic SPARSEMEM, PC hole: page + 1 from pfn 0xbffff is pfn 0x100000's struct page (boot buffer).
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G);
        var wrong = m.PageAdd(m.PfnToPage(Pfn.FromUInt64(0xbffff)), 1);
        m.StructPages.RefAddReturn(wrong, 1024);
        Assert.Equal(1024, m.StructPages.Refcount(m.PfnToPage(Pfn.FromUInt64(0x100000))));
    }

    [Fact]
    public void OtherMemory_ReadsDeterministicGarbage_AndRemembersWrites()
    {
        var a = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 8 * G)), seed: 5);
        var b = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 8 * G)), seed: 5);
        ulong va = 0xffff888000000000UL + 0x10000000; // 256 MiB: free memory in the direct map
        Assert.Equal(AddressKind.Other, a.Describe(va).Kind);
        Assert.Equal(a.Memory.ReadWord(va, "test"), b.Memory.ReadWord(va, "test"));
        a.Memory.WriteWord(va, 0x1234, "test");
        Assert.Equal(0x1234UL, a.Memory.ReadWord(va, "test"));
        Assert.Throws<KernelOops>(() => a.Memory.ReadWord(0xffff888000000000UL + 9 * G, "test"));
    }
}

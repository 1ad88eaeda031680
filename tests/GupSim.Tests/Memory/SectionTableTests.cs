using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

public class SectionTableTests
{
    // include/linux/mmzone.h: EXTREME: SECTIONS_PER_ROOT = PAGE_SIZE / sizeof(struct mem_section).
    [Theory]
    [InlineData("x86_64", false, 1UL << 19, 256UL, 2048UL, 16)]
    [InlineData("x86_64", true, 1UL << 19, 128UL, 4096UL, 32)]
    [InlineData("x86_64-5level", false, 1UL << 25, 256UL, 131072UL, 16)]
    [InlineData("arm64-64k", false, 1UL << 19, 4096UL, 128UL, 16)] // 64 KiB pages: 65536 / 16 per root; SECTION_SIZE_BITS 29 (v5.12) → 2^19 sections
    public void Extreme_RootShape(string arch, bool pageExt, ulong nrSections, ulong perRoot, ulong roots, int sizeofMemSection)
    {
        var t = new SectionTable(ArchProfiles.Get(arch, KernelVersion.V5_12), extreme: true, pageExtension: pageExt);
        Assert.Equal(nrSections, t.NrMemSections);
        Assert.Equal(perRoot, t.SectionsPerRoot);
        Assert.Equal(roots, t.NrSectionRoots);
        Assert.Equal(sizeofMemSection, t.SizeofMemSection);
        Assert.Equal(0, t.RootsAllocated);
    }

    [Fact]
    public void Static_i386_OneSectionPerRoot()
    {
        // i386: SECTIONS_SHIFT = 32 − 26 = 6 → 64 sections, SPARSEMEM_STATIC.
        var m = Boot("i386", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 768 * M)));
        Assert.False(m.Sections!.Extreme);
        Assert.Equal(64UL, m.Sections.NrMemSections);
        Assert.Equal(1UL, m.Sections.SectionsPerRoot);
        Assert.Equal(12, m.PresentSections.Count);
        Assert.Equal(new PageFlagsLayout(32, 6, 0, 2), m.FlagsLayout);
        var p = m.PfnToPage(Pfn.FromUInt64(0x20000));
        Assert.Equal(0x20000UL, m.PageToPfn(p).Value);
    }

    [Fact]
    public void MapMask_FollowsTheVersion()
    {
        // v5.14 inserted SECTION_TAINT_ZONE_DEVICE (bit 4): SECTION_MAP_LAST_BIT moved from bit 4 to bit 5.
        Assert.Equal(~0xFUL, new SectionTable(ArchProfiles.Get("x86_64", KernelVersion.V5_11), true, false).MapMask);
        Assert.Equal(~0x1FUL, new SectionTable(ArchProfiles.Get("x86_64", KernelVersion.V5_14), true, false).MapMask);
    }

    [Fact]
    public void PfnToPage_OfAbsentSections_IsWhatTheTableEncodes()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G);
        // Section 24 (the hole) shares root 0 with present sections: section_mem_map is 0, so pfn_to_page gives
        // 0 + pfn × 64, a user-space-looking address with nothing mapped.
        var hole = m.PfnToPage(Pfn.FromUInt64(0xc0000));
        Assert.Equal(0xc0000UL * 64, hole.Address);
        Assert.Equal(AddressKind.Unmapped, m.Describe(hole).Kind);
        // Section 300 lies in root 1, never allocated: __pfn_to_section() is NULL and the kernel dereferences it.
        Assert.Throws<KernelOops>(() => m.PfnToPage(Pfn.FromUInt64(300UL << 15)));
    }
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

public class MemoryModelTests
{
    // include/asm-generic/memory_model.h: vmemmap + pfn; x86-64 4-level vmemmap_base 0xffffea0000000000, 64-byte struct page.
    [Theory]
    [InlineData(0x0UL, 0xffffea0000000000UL)]
    [InlineData(0x40000UL, 0xffffea0001000000UL)]
    [InlineData(0x7fffUL, 0xffffea00001fffc0UL)]
    [InlineData(0x100000UL, 0xffffea0004000000UL)]
    public void PfnToPage_Vmemmap_IsBasePlusPfnTimes64(ulong pfn, ulong expected)
    {
        var m = Boot("x86_64", KernelVersion.V5_12, MemoryModel.SparsememVmemmap, PcRam8G);
        Assert.Equal(expected, m.PfnToPage(Pfn.FromUInt64(pfn)).Address);
        Assert.Equal(pfn, m.PageToPfn(PagePtr.FromAddress(expected)).Value);
    }

    [Theory]
    [InlineData(MemoryModel.SparsememVmemmap)]
    [InlineData(MemoryModel.Sparsemem)]
    public void PfnToPage_RoundTrips_ForEveryRamPfnSample(MemoryModel model)
    {
        var m = Boot("x86_64", KernelVersion.V5_12, model, PcRam8G);
        foreach (ulong pfn in new ulong[] { 0, 1, 0x7fff, 0x8000, 0xbffff, 0x100000, 0x1fffff, 0x23ffff })
        {
            var page = m.PfnToPage(Pfn.FromUInt64(pfn));
            Assert.Equal(AddressKind.Page, m.Describe(page).Kind);
            Assert.Equal(pfn, m.Describe(page).Pfn);
            Assert.Equal(pfn, m.PageToPfn(page).Value);
        }
    }

    [Fact]
    public void SectionMemMap_IsPreBiasedByTheFirstPfn()
    {
        // sparse_encode_mem_map: stored = memmap - section_nr_to_pfn(nr) * sizeof(struct page), flags in the low bits.
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G);
        var s = m.PresentSections.First(x => x.Nr == 33);
        ulong raw = m.Sections!.RawMemMap(33, out bool found);
        Assert.True(found);
        Assert.Equal(unchecked(s.MemmapVa - 33UL * 32768 * 64), raw & ~0xFUL);
        Assert.Equal(SectionTable.MarkedPresent | SectionTable.HasMemMap | SectionTable.IsOnline | SectionTable.IsEarly, raw & 0xF);
        Assert.Equal(s.MemmapVa, m.Sections.DecodeMemMap(33, 64));
    }

    [Fact]
    public void BootBuffer_ConsecutiveSectionsOfANode_AreAdjacent_SoPagePlusPlusIsAccidentallyRight()
    {
        // mm/sparse.c sparse_init_nid(): one sparsemap_buf per node, carved in section order.
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G);
        var s5 = m.PresentSections.First(x => x.Nr == 5);
        var s6 = m.PresentSections.First(x => x.Nr == 6);
        Assert.Equal(s5.MemmapVa + 32768UL * 64, s6.MemmapVa);
        var last = m.PfnToPage(Pfn.FromUInt64(6 * 32768 - 1));
        var next = m.PageAdd(last, 1);
        Assert.Equal(6UL * 32768, m.Describe(next).Pfn);
        Assert.Equal(6UL * 32768, m.PageToPfn(next).Value);
    }

    [Fact]
    public void BootBuffer_AcrossTheHole_PagePlusPlusReachesTheFirstPageAbove4G()
    {
        // Sections 0..23 and 32..71 are present; the run is broken only by a node change, not by the hole, so the
        // memmap of section 32 follows section 23's: page++ from pfn 0xbffff reaches pfn 0x100000 (valid but wrong).
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G);
        var last = m.PfnToPage(Pfn.FromUInt64(0xbffff));
        var next = m.PageAdd(last, 1);
        var info = m.Describe(next);
        Assert.Equal(AddressKind.Page, info.Kind);
        Assert.Equal(0x100000UL, info.Pfn);
        Assert.Equal(0x100000UL, m.PageToPfn(next).Value);
        Assert.NotEqual(m.PfnToPage(Pfn.FromUInt64(0xc0000)), next);
    }

    [Fact]
    public void Vmemmap_AcrossTheHole_PagePlusPlusIsRightAndTheHoleOopses()
    {
        var m = Boot("x86_64", KernelVersion.V5_12, MemoryModel.SparsememVmemmap, PcRam8G);
        var page = m.PfnToPage(Pfn.FromUInt64(0xbffff));
        var next = m.PageAdd(page, 1); // pfn 0xc0000: section 24, not present → vmemmap not populated
        Assert.Equal(AddressKind.Unmapped, m.Describe(next).Kind);
        var oops = Assert.Throws<KernelOops>(() => m.StructPages.Refcount(next));
        Assert.StartsWith("BUG: unable to handle page fault for address: ffffea0003000034", oops.Message);
        var p = m.PfnToPage(Pfn.FromUInt64(0x107fff));
        Assert.Equal(0x108000UL, m.Describe(m.PageAdd(p, 1)).Pfn);
    }

    [Fact]
    public void Scattered_PerSectionAllocationsTopDown_NextSectionIsNotAdjacent()
    {
        // Fallback memblock_alloc_try_nid_raw per section is top-down, so section k+1's memmap lies below section k's.
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G, MemmapPlacement.Scattered, seed: 7);
        for (ulong nr = 32; nr < 40; nr++)
        {
            var a = m.PresentSections.First(x => x.Nr == nr);
            var b = m.PresentSections.First(x => x.Nr == nr + 1);
            Assert.Equal(MemmapPlacement.Scattered, a.Placement);
            Assert.True(b.MemmapVa < a.MemmapVa, $"section {nr + 1} memmap should be below section {nr}'s");
            var end = m.PageAdd(m.PfnToPage(Pfn.FromUInt64(a.StartPfn + 32767)), 1);
            // What page + 1 reaches is whatever the placement put at that address; compute it independently.
            var expected = m.PresentSections.FirstOrDefault(x => x.MemmapVa == end.Address);
            var info = m.Describe(end);
            if (expected is null) Assert.NotEqual(AddressKind.Page, info.Kind);
            else Assert.Equal(expected.StartPfn, info.Pfn);
            Assert.NotEqual(b.StartPfn, info.Pfn);
        }
    }

    [Fact]
    public void Hotplug_SectionMemmapsComeFromTheBuddy_AndAreNotAdjacent()
    {
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 8 * G)), hotplug: PhysRange.FromStartEnd(8 * G, 9 * G));
        var hot = m.PresentSections.Where(s => s.Placement == MemmapPlacement.Hotplug).ToList();
        Assert.Equal(8, hot.Count);
        Assert.Equal(64UL, hot[0].Nr);
        // kvmalloc → buddy order-9 blocks of boot ZONE_NORMAL ([4G, 8G)), in the direct map.
        foreach (var h in hot)
        {
            Assert.Equal(KernelVaKind.DirectMap, h.Array!.Kind);
            Assert.InRange(h.Array.PhysStart, 4 * G, 8 * G - 2 * M);
            Assert.Equal(0UL, h.Array.PhysStart % (2 * M));
            Assert.Equal(0xffff888000000000UL + h.Array.PhysStart, h.MemmapVa);
        }
        // page++ off the last boot section never reaches a hot-added one.
        var lastBoot = m.PfnToPage(Pfn.FromUInt64(64 * 32768 - 1));
        var afterBoot = m.Describe(m.PageAdd(lastBoot, 1));
        Assert.False(afterBoot.Kind == AddressKind.Page && afterBoot.Pfn == 64UL * 32768);
        // What page + 1 reaches off each hot-added memmap is decided by where the buddy put the next allocation:
        // compute it from the placement addresses alone and compare.
        for (int i = 0; i + 1 < hot.Count; i++)
        {
            var end = m.PageAdd(m.PfnToPage(Pfn.FromUInt64(hot[i].StartPfn + 32767)), 1);
            Assert.Equal(hot[i].MemmapVa + 32768UL * 64, end.Address);
            var owner = m.PresentSections.FirstOrDefault(x => end.Address >= x.MemmapVa && end.Address < x.MemmapVa + 32768UL * 64);
            var info = m.Describe(end);
            if (owner is null) Assert.NotEqual(AddressKind.Page, info.Kind);
            else Assert.Equal(owner.StartPfn + (end.Address - owner.MemmapVa) / 64, info.Pfn);
        }
        // pfn_to_page is right in every hot-added section.
        foreach (var h in hot)
            Assert.Equal(h.StartPfn + 5, m.PageToPfn(m.PfnToPage(Pfn.FromUInt64(h.StartPfn + 5))).Value);
    }

    [Fact]
    public void Flatmem_i386_MemMapIsOneArray_NeverWrong()
    {
        var m = Boot("i386", KernelVersion.V5_11, MemoryModel.Flatmem, Ram((0, 768 * M)));
        var a = Assert.Single(m.Memory.Arrays);
        Assert.Equal(MemmapPlacement.Flat, a.Placement);
        Assert.Equal(32, m.StructPageSize);
        var p = m.PfnToPage(Pfn.FromUInt64(100));
        Assert.Equal(a.VaStart + 100 * 32, p.Address);
        var q = m.PageAdd(p, 50000);
        Assert.Equal(50100UL, m.Describe(q).Pfn);
        Assert.Equal(50100UL, m.PageToPfn(q).Value);
    }

    [Fact]
    public void NthPage_FollowsTheVersion()
    {
        var m511 = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, PcRam8G, MemmapPlacement.Scattered);
        // The placement's addresses (memblock address of each section memmap + the literal PAGE_OFFSET).
        var head = PagePtr.FromAddress(KnownAddresses.StructPageVa(m511, 0x100000));
        Assert.Equal(head, m511.PfnToPage(Pfn.FromUInt64(0x100000)));
        // nth_page is a pfn round trip: right even across sections with scattered memmaps.
        Assert.Equal(KnownAddresses.StructPageVa(m511, 0x100000 + 40000), m511.NthPage(head, 40000).Address);
        // mem_map_offset below MAX_ORDER_NR_PAGES is plain page + n: head + 1000 × 64 bytes.
        Assert.Equal(head.Address + 1000 * 64, m511.MemMap.MemMapOffset(head, 1000).Address);
        // From MAX_ORDER_NR_PAGES (1024) on, a pfn round trip.
        Assert.Equal(KnownAddresses.StructPageVa(m511, 0x100000 + 1024), m511.MemMap.MemMapOffset(head, 1024).Address);
        var m618 = Boot("x86_64", KernelVersion.V6_18, MemoryModel.SparsememVmemmap, PcRam8G);
        var e618 = Assert.Throws<GupSimException>(() => m618.NthPage(PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + 0x100000UL * 64), 1));
        Assert.Contains("nth_page", e618.Message, StringComparison.Ordinal);
        var m61 = Boot("x86_64", KernelVersion.V6_1, MemoryModel.SparsememVmemmap, PcRam8G);
        var e61 = Assert.Throws<GupSimException>(() => m61.MemMap.MemMapOffset(PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + 0x100000UL * 64), 1));
        Assert.Contains("mem_map_offset", e61.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PageToPfn_OfAPointerIntoOtherMemory_ReadsGarbageFlags()
    {
        // Classic SPARSEMEM reads the section number from page->flags: a pointer to non-struct-page memory gives
        // whatever that memory decodes to (or an oops), never an error from the simulator.
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 8 * G)));
        // Section 63's memmap ends where pfn 64 × 32768's struct page would start: the address just past its last one.
        var beyond = PagePtr.FromAddress(KnownAddresses.StructPageVa(m, 64 * 32768 - 1) + 64);
        Assert.Equal(AddressKind.Other, m.Describe(beyond).Kind);
        ulong flags = m.StructPages.Flags(beyond);
        // x86_64 classic SPARSEMEM: SECTIONS_WIDTH = MAX_PHYSMEM_BITS − SECTION_SIZE_BITS = 46 − 27 = 19, at the top of
        // flags (SECTIONS_PGSHIFT = 64 − 19 = 45).
        ulong section = flags >> 45;
        ulong raw = m.Sections!.RawMemMap(section, out bool rootPresent);
        if (!rootPresent) Assert.Throws<KernelOops>(() => m.PageToPfn(beyond));
        else Assert.Equal(unchecked((ulong)((long)(beyond.Address - (raw & m.Sections.MapMask)) >> 6)), m.PageToPfn(beyond).Value);
    }
}

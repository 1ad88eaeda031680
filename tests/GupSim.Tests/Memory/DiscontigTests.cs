using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Memory.Models;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>DISCONTIGMEM (include/asm-generic/memory_model.h, mm/page_alloc.c alloc_node_mem_map()): one node_mem_map per node; page_to_pfn reads the node from page->flags.</summary>
public class DiscontigTests
{
    private const ulong PagesPerNode = 512 * M >> 12; // 131072

    private static RamLayout TwoNodes => new(
    [
        new NodeRam(0, [PhysRange.FromStartEnd(0, 512 * M)]),
        new NodeRam(1, [PhysRange.FromStartEnd(512 * M, 1 * G)]),
    ], "test: two nodes");

    private static Machine BootTwoNodes(ulong seed = 1) =>
        Boot("i386", KernelVersion.V5_11, MemoryModel.Discontigmem, TwoNodes, seed: seed);

    [Fact]
    public void EachNode_HasItsOwnArray()
    {
        var m = BootTwoNodes();
        Assert.Equal(MemoryModel.Discontigmem, m.Model);
        Assert.Equal(32, m.StructPageSize);
        Assert.Equal(2, m.Memory.Arrays.Count);
        Assert.All(m.Memory.Arrays, a => Assert.Equal(MemmapPlacement.NodeArray, a.Placement));
        var a0 = Assert.Single(m.Memory.Arrays, a => a.Nid == 0);
        var a1 = Assert.Single(m.Memory.Arrays, a => a.Nid == 1);
        // alloc_node_mem_map: node spans are MAX_ORDER aligned here, so each array covers exactly its node.
        Assert.Equal(0UL, a0.FirstPfn);
        Assert.Equal(PagesPerNode, a0.NrPages);
        Assert.Equal(PagesPerNode, a1.FirstPfn);
        Assert.Equal(PagesPerNode, a1.NrPages);
        Assert.True(a0.VaEnd <= a1.VaStart || a1.VaEnd <= a0.VaStart, "node arrays overlap");
        var map = Assert.IsType<DiscontigMemMap>(m.MemMap);
        Assert.Equal(2, map.Nodes.Count);
        Assert.Equal(a0.VaStart, map.Nodes.Single(n => n.Nid == 0).NodeMemMapVa);
        Assert.Equal(a1.VaStart, map.Nodes.Single(n => n.Nid == 1).NodeMemMapVa);
    }

    [Theory]
    [InlineData(0UL, 0)]
    [InlineData(1UL, 0)]
    [InlineData(PagesPerNode / 2, 0)]
    [InlineData(PagesPerNode - 1, 0)]
    [InlineData(PagesPerNode, 1)]
    [InlineData(PagesPerNode + 1, 1)]
    [InlineData(PagesPerNode + 100000, 1)]
    [InlineData(2 * PagesPerNode - 1, 1)]
    public void RoundTrips_AndPageToPfnReadsTheNodeFromFlags(ulong pfn, int nid)
    {
        var m = BootTwoNodes();
        var page = m.PfnToPage(Pfn.FromUInt64(pfn));
        var array = m.Memory.Arrays.Single(a => a.Nid == nid);
        Assert.Equal(array.VaStart + (pfn - array.FirstPfn) * 32, page.Address);
        Assert.Equal(nid, m.FlagsLayout.NodeOf(m.StructPages.Flags(page)));
        Assert.Equal(pfn, m.PageToPfn(page).Value);
        var info = m.Describe(page);
        Assert.Equal(AddressKind.Page, info.Kind);
        Assert.Equal(pfn, info.Pfn);
        Assert.Same(array, info.Array);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(7UL)]
    [InlineData(12345UL)]
    public void PagePlusPlus_OffTheEndOfNode0_ReachesWhatLiesThere(ulong seed)
    {
        var m = BootTwoNodes(seed);
        var a0 = m.Memory.Arrays.Single(a => a.Nid == 0);
        var a1 = m.Memory.Arrays.Single(a => a.Nid == 1);
        // alloc_node_mem_map(): 131072 × 32 bytes = 4 MiB per node, memblock top-down inside the node: node 0's at
        // [508M, 512M); node 1's below the lowmem limit (896M) at [892M, 896M). The seed does not enter.
        Assert.Equal(508 * M, a0.PhysStart);
        Assert.Equal(892 * M, a1.PhysStart);
        Assert.Equal(KnownAddresses.I386PageOffset + 508 * M, a0.VaStart);
        Assert.Equal(KnownAddresses.I386PageOffset + 892 * M, a1.VaStart);
        // page++ off node 0's last struct page: __va(512M) = 0xe0000000, node 1's first page of RAM itself (a free
        // page), not a struct page: what lives there is other memory, never pfn 131072's struct page (0xf7c00000).
        var last = m.PfnToPage(Pfn.FromUInt64(PagesPerNode - 1));
        Assert.Equal(0xC0000000UL + 512 * M - 32, last.Address);
        var next = m.PageAdd(last, 1);
        Assert.Equal(0xE0000000UL, next.Address);
        var info = m.Describe(next);
        Assert.Equal(AddressKind.Other, info.Kind);
        Assert.Null(info.Pfn);
        Assert.Equal(0xF7C00000UL, m.PfnToPage(Pfn.FromUInt64(PagesPerNode)).Address);
    }

    [Fact]
    public void NodeArrays_AreNotAdjacent_ForTwoNodesAllocatedFromTheirOwnMemory()
    {
        // memblock is top-down per node: node 0's array ends at the top of node 0 (512 MiB), node 1's sits below
        // the lowmem limit (896 MiB), so page++ off node 0 lands on node 1's RAM in the direct map, not a struct page.
        var m = BootTwoNodes();
        var a0 = m.Memory.Arrays.Single(a => a.Nid == 0);
        var a1 = m.Memory.Arrays.Single(a => a.Nid == 1);
        Assert.NotEqual(a0.VaEnd, a1.VaStart);
        var info = m.Describe(m.PageAdd(m.PfnToPage(Pfn.FromUInt64(PagesPerNode - 1)), 1));
        Assert.NotEqual(AddressKind.Page, info.Kind);
    }

    [Fact]
    public void Discontigmem_IsGoneInV5_14()
    {
        var ex = Assert.Throws<GupSimException>(() =>
            Boot("i386", KernelVersion.V5_14, MemoryModel.Discontigmem, TwoNodes));
        Assert.Contains("cannot build", ex.Message);
        Assert.DoesNotContain(MemoryModel.Discontigmem, ArchProfiles.Get("i386", KernelVersion.V5_14).Models);
        Assert.Contains(MemoryModel.Discontigmem, ArchProfiles.Get("i386", KernelVersion.V5_11).Models);
    }
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using Xunit;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>
/// "Is this pfn a free page on cpu 0's pcp?" (<see cref="PerCpuPages.Contains"/>, behind PageAlloc.IsOnPcpList and the
/// free/in-use split of stray writes): an index of the listed blocks, kept by every list operation, instead of a walk
/// of the lists. Expected answers are worked out by hand from what was listed.
/// </summary>
public class PcpMembershipTests
{
    /// <summary>v5.14's pindex_to_order() for x86_64 (pageblock_order 9): lists 0–11 are orders 0–3 × 3 migratetypes, 12–14 order 9.</summary>
    private static int V514Order(int pindex) => pindex / 3 > 3 ? 9 : pindex / 3;

    [Fact]
    public void Contains_EveryPageOfAListedBlock_NothingElse()
    {
        var pcp = new PerCpuPages(15, 63, 252, V514Order);
        pcp.Lists[3 * 3].AddTail(0x1008, MigrateType.Unmovable); // order 3: 0x1008–0x100f
        pcp.Lists[12].AddHead(0x2200, MigrateType.Unmovable);    // order 9: 0x2200–0x23ff
        pcp.Lists[1].AddTail(0x1010, MigrateType.Movable);       // order 0: 0x1010
        pcp.Count = 8 + 512 + 1;
        Assert.True(pcp.Contains(0x1008));
        Assert.True(pcp.Contains(0x100f));
        Assert.True(pcp.Contains(0x1010));
        Assert.False(pcp.Contains(0x1007));
        Assert.False(pcp.Contains(0x1000)); // the order-3 candidate start of 0x1000 is 0x1000, not listed
        Assert.True(pcp.Contains(0x2200));
        Assert.True(pcp.Contains(0x23ff));
        Assert.False(pcp.Contains(0x2400));
        Assert.False(pcp.Contains(0x21ff));
        // An order-0 entry at 0x1010 does not make 0x1011 look like part of an order-1 block: the order is in the key.
        Assert.False(pcp.Contains(0x1011));
    }

    [Fact]
    public void RemovedBlocks_AreNoLongerContained_ADoubleListedOneStaysUntilBothGo()
    {
        var pcp = new PerCpuPages(3, 63, 378); // v5.11: three order-0 lists
        var l = pcp.Lists[0];
        l.AddTail(0x500, MigrateType.Unmovable);
        l.AddTail(0x501, MigrateType.Unmovable);
        l.AddHead(0x500, MigrateType.Unmovable); // a double free lists the same page twice
        pcp.Count = 3;
        Assert.Equal((0x500UL, MigrateType.Unmovable), l.RemoveHead());
        Assert.True(pcp.Contains(0x500));
        Assert.Equal((0x501UL, MigrateType.Unmovable), l.RemoveTail());
        Assert.False(pcp.Contains(0x501));
        Assert.Equal((0x500UL, MigrateType.Unmovable), l.RemoveTail());
        pcp.Count = 0;
        Assert.False(pcp.Contains(0x500));
    }

    [Fact]
    public void V511_AfterTheFirstRefill_PcpPagesAreFree_TheTakenOneIsNot()
    {
        // x86_64 v5.11, RAM [0, 8G): ZONE_NORMAL's first GFP_KERNEL order-0 allocation refills 63 pages 0x100000 …
        // 0x10003e from the stolen block 0x100000 and returns the head (SlubTests' class comment works it out); left
        // on the buddy: 0x10003f (o0), 0x100040 (o6), 0x100080 (o7), 0x100100 (o8), 0x100200 (o9).
        var m = Boot("x86_64", KernelVersion.V5_11, MemoryModel.Sparsemem, Ram((0, 8 * G)));
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn p, Gfp.Kernel));
        Assert.Equal(0x100000UL, p.Value);
        var z = m.ZoneOfPfn(0x100000)!;
        Assert.False(m.PageAlloc.IsOnPcpList(z, 0x100000));
        Assert.True(m.PageAlloc.IsOnPcpList(z, 0x100001));
        Assert.True(m.PageAlloc.IsOnPcpList(z, 0x10003e));
        Assert.False(m.PageAlloc.IsOnPcpList(z, 0x10003f)); // on the buddy's list, not the pcp's
        Assert.False(m.IsPfnFreeInBuddy(0x100000));
        Assert.True(m.IsPfnFreeInBuddy(0x100001));
        Assert.True(m.IsPfnFreeInBuddy(0x10003f));
        // A stray store on the struct page of a pcp page counts as a free struct page, on the taken one as in use.
        ulong sp1 = m.PfnToPage(Pfn.FromUInt64(0x100001)).Address;
        ulong sp0 = m.PfnToPage(Pfn.FromUInt64(0x100000)).Address;
        Assert.Equal(StrayTarget.FreeStructPage, m.Memory.ClassifyStore(sp1));
        Assert.Equal(StrayTarget.InUseStructPage, m.Memory.ClassifyStore(sp0));
        // Allocated again, 0x100001 leaves the pcp (the head is taken).
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn q, Gfp.Kernel));
        Assert.Equal(0x100001UL, q.Value);
        Assert.False(m.IsPfnFreeInBuddy(0x100001));
        Assert.Equal(StrayTarget.InUseStructPage, m.Memory.ClassifyStore(sp1));
    }

    [Fact]
    public void V514_Order3Refill_EveryPageOfTheListedBlocks()
    {
        // v5.14, the same machine: order 3 uses the pcp; refill max(63 >> 3, 2) = 7 blocks: the first steals 0x100000
        // and splits it down (o3 head 0x100008), then 0x100008, 0x100010 (o4 split: 0x100018 to o3), 0x100018, 0x100020
        // (o5 split: 0x100030 to o4, 0x100028 to o3), 0x100028, 0x100030 (o4 split: 0x100038 to o3). The head 0x100000
        // is returned; the pcp holds 0x100008–0x100037; 0x100038–0x10003f stays on the buddy.
        var m = Boot("x86_64", KernelVersion.V5_14, MemoryModel.Sparsemem, Ram((0, 8 * G)));
        Assert.True(m.TryAllocPages(3, 0, "test", out Pfn p, Gfp.Kernel));
        Assert.Equal(0x100000UL, p.Value);
        var z = m.ZoneOfPfn(0x100000)!;
        for (ulong pfn = 0x100000; pfn < 0x100040; pfn++)
            Assert.Equal(pfn is >= 0x100008 and < 0x100038, m.PageAlloc.IsOnPcpList(z, pfn));
        Assert.False(m.IsPfnFreeInBuddy(0x100007));
        Assert.True(m.IsPfnFreeInBuddy(0x100008));
        Assert.True(m.IsPfnFreeInBuddy(0x100038));
    }
}

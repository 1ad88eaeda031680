using GupSim.Arch;
using GupSim.Core;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Check;

/// <summary>
/// prep_compound_gigantic_page() / destroy_compound_gigantic_page() with the tails' stores made a run at a time
/// (CompoundPages.WalkTails, StructPageStore.UpdateUnitRun; before v6.18, where the walk computes each subpage's own
/// struct page): every one of a 1 GiB page's 262,143 tails ends exactly as the per-page stores leave it, across section
/// boundaries and scattered memmaps, and a checkpoint rolls the batched stores back. Expected words by hand: before
/// v7.1 a tail's compound_head is head + 1; prep leaves _refcount 0 and PG_reserved (bit 12) clear, destroy leaves
/// compound_head 0 and _refcount 1.
/// </summary>
public class GiganticTailRunTests
{
    private const int Order = 18; // 1 GiB / 4 KiB

    private static Machine Boot(string version, MemoryModel model, MemmapPlacement placement) =>
        Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
            Model = model,
            Ram = PcRam8G,
            Placement = placement,
            Hugepages = HugepagesCmdline.Parse("default_hugepagesz=1G hugepagesz=1G hugepages=1", 1UL << 30),
        });

    private static PagePtr Head(Machine m)
    {
        var h = m.Hugetlb.Find(1UL << 30);
        Assert.NotNull(h);
        Assert.Equal(1UL, h.NrHugePages);
        return m.PfnToPage(Pfn.FromUInt64(h.FreeList(0).First()));
    }

    /// <summary>How many tails (pfn_to_page(head pfn + i), i = 1 … 2^18 − 1) hold other than the expected words.</summary>
    private static int TailsOtherThan(Machine m, PagePtr head, int refcount, ulong compoundHead, bool reserved)
    {
        var sp = m.StructPages;
        ulong headPfn = m.PageToPfn(head).Value;
        int bad = 0;
        for (ulong i = 1; i < 1UL << Order; i++)
        {
            var t = m.PfnToPage(Pfn.FromUInt64(headPfn + i));
            if (sp.Refcount(t) != refcount || sp.CompoundHeadRaw(t) != compoundHead || sp.TestFlag(t, PageFlagBits.Reserved) != reserved) bad++;
        }
        return bad;
    }

    [Theory]
    // v5.11 walks with mem_map_next(), v6.1 with nth_page(); classic SPARSEMEM's 128 MiB sections split the page's
    // memmap into 8 runs (scattered: 8 separate allocations), SPARSEMEM_VMEMMAP's is one virtual run.
    [InlineData("5.11", MemoryModel.Sparsemem, MemmapPlacement.BootBuffer)]
    [InlineData("5.11", MemoryModel.Sparsemem, MemmapPlacement.Scattered)]
    [InlineData("6.1", MemoryModel.Sparsemem, MemmapPlacement.Scattered)]
    [InlineData("6.1", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer)]
    public void EveryTail_EndsAsThePerPageStoresLeaveIt_AndACheckpointRollsTheBatchBack(string version, MemoryModel model, MemmapPlacement placement)
    {
        var m = Boot(version, model, placement);
        var head = Head(m);
        var sp = m.StructPages;
        Assert.Equal(Order, sp.CompoundOrder(head));
        Assert.Equal(0, TailsOtherThan(m, head, 0, head.Address + 1, reserved: false));

        var cp = m.Checkpoint();
        m.Hugetlb.Compound.DestroyCompoundGiganticPage(head, Order);
        Assert.Equal(0, TailsOtherThan(m, head, 1, 0, reserved: false));
        Assert.False(sp.TestFlag(head, PageFlagBits.Head));
        Assert.True(m.Rollback(cp));
        Assert.Equal(0, TailsOtherThan(m, head, 0, head.Address + 1, reserved: false));
        Assert.True(sp.TestFlag(head, PageFlagBits.Head));
        Assert.Equal(0UL, m.StrayWrites.N);
        cp.Dispose();
    }

    [Fact]
    public void ARun_ThatWouldLeaveItsChunk_IsRefused()
    {
        var m = Boot("6.1", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        var store = m.Memory.Store;
        ulong pfn = m.PageToPfn(Head(m)).Value; // 1 GiB aligned, so the first pfn of its chunk
        int left = (1 << store.ChunkShift) - (int)(pfn & ((1UL << store.ChunkShift) - 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.UpdateUnitRun(pfn, left + 1, 0, ~0u, 0));
        // The refused run stored nothing (tail 1's _refcount is still prep's 0), and a run that fits stores exactly its pages.
        int refUnit = m.Layout.Refcount >> 2;
        uint before = store.ReadUnit(pfn + 1, refUnit);
        Assert.Equal(0u, before);
        store.UpdateUnitRun(pfn + 1, 2, refUnit, 0, 7);
        Assert.Equal((7u, 7u, 0u), (store.ReadUnit(pfn + 1, refUnit), store.ReadUnit(pfn + 2, refUnit), store.ReadUnit(pfn + 3, refUnit)));
    }
}

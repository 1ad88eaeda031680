using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using GupSim.Scenario;

namespace GupSim.Tests.Gup;

/// <summary>FOLL_LONGTERM: CMA areas, ZONE_MOVABLE, check_and_migrate_cma_pages / check_and_migrate_movable_pages.</summary>
public class LongtermTests
{
    private const ulong CmaBase = 0x100000; // cma=1G on [0,3G)+[4G,6G): bottom-up from 4 GiB
    // cma_activate_area() frees each pageblock with __free_pages(order 9), no FPI_TO_TAIL: each pair merges to order
    // 10 and goes to the head, so the CMA order-10 list starts with the last pair: CmaBase + 262144 − 1024.
    private const ulong CmaHead = CmaBase + 262144 - 1024;

    private static Machine Boot(string kernel, string? cma = "1G", string? movablecore = null, string model = "sparsemem-vmemmap", string? hugetlbCma = null) =>
        new MachineOptions { Kernel = kernel, Model = model, RamSpec = "0-3G,4G-6G", Cma = cma, Movablecore = movablecore, HugetlbCma = hugetlbCma }.Boot();

    /// <summary>An anonymous mapping of <paramref name="pages"/> 4 KiB pages, written (faulted in).</summary>
    private static (MmStruct Mm, ulong Addr, ulong[] Pfns) Anon(Machine m, int pages)
    {
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, (ulong)pages << 12, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        Assert.True(a > 0);
        var pfns = new ulong[pages];
        for (int i = 0; i < pages; i++)
        {
            Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a + ((ulong)i << 12), FaultFlags.Write));
            pfns[i] = mm.WalkLeaf((ulong)a + ((ulong)i << 12))!.Value.Entry.Pfn.Value;
        }
        return (mm, (ulong)a, pfns);
    }

    private static ulong MappedPfn(MmStruct mm, ulong va) => mm.WalkLeaf(va)!.Value.Entry.Pfn.Value;

    [Fact]
    public void Boot_CmaArea_BottomUpFrom4G_FreedToTheCmaLists()
    {
        var m = Boot("5.12");
        var area = Assert.Single(m.CmaAreas);
        Assert.Equal((CmaBase, 262144UL), (area.BasePfn, area.Count));
        var zone = m.ZoneOfPfn(CmaBase)!;
        Assert.Equal(ZoneType.Normal, zone.Type);
        Assert.Equal(262144UL, zone.FreeCmaPages);
        Assert.True(m.IsCmaPfn(CmaBase + 262143));
        Assert.False(m.IsCmaPfn(CmaBase + 262144));
        var page = m.PfnToPage(Pfn.FromUInt64(CmaBase + 5));
        Assert.Equal(0, m.StructPages.Refcount(page));
        Assert.False(m.StructPages.PageReserved(page));
        // A kernel (non-movable) allocation never takes a CMA page; alloc_contig_range(MIGRATE_MOVABLE) refuses CMA.
        for (int i = 0; i < 64; i++)
        {
            Assert.True(m.TryAllocPages(0, 0, "test", out var p));
            Assert.False(m.IsCmaPfn(p.Value));
        }
        Assert.Equal(-(int)Errno.EBUSY, m.AllocContigRange(CmaBase, CmaBase + 512));
    }

    [Fact]
    public void Buddy_MovableAllocations_UseCmaWhileItHoldsOverHalfTheFreePages()
    {
        var m = Boot("5.12");
        var zone = m.ZoneOfPfn(CmaBase)!;
        Assert.True(zone.FreeCmaPages > zone.FreePages / 2);
        Assert.True(m.TryAllocPages(0, 0, "user", out var p, ZoneType.Dma32, movable: true));
        Assert.Equal(CmaHead, p.Value);
        // Inside memalloc_nocma_save() (FOLL_LONGTERM before v5.13) the same allocation avoids CMA.
        var saved = m.MemallocPinSave();
        Assert.True(m.TryAllocPages(0, 0, "user", out var q, ZoneType.Dma32, movable: true));
        Machine.MemallocPinRestore(saved);
        Assert.False(m.IsCmaPfn(q.Value));
    }

    [Fact]
    public void Movablecore_1G_SplitsNormalAtTheLastGigabyte()
    {
        var m = Boot("5.13", cma: null, movablecore: "1G");
        var zones = m.Nodes[0].Zones;
        var normal = zones.Single(z => z.Type == ZoneType.Normal);
        var movable = zones.Single(z => z.Type == ZoneType.Movable);
        // 1310720 pages in all; the kernel keeps 1048576: 786432 below 4 GiB, 262144 from 4 GiB on.
        Assert.Equal((0x100000UL, 0x140000UL), (normal.StartPfn, normal.EndPfn));
        Assert.Equal((0x140000UL, 0x180000UL), (movable.StartPfn, movable.EndPfn));
        Assert.Equal(262144UL, movable.PresentPages);
        Assert.True(m.Grab.IsZoneMovablePage(m.PfnToPage(Pfn.FromUInt64(0x150000))));
        Assert.False(m.Grab.IsPinnablePage(m.PfnToPage(Pfn.FromUInt64(0x150000))));
        Assert.True(m.Grab.IsPinnablePage(m.PfnToPage(Pfn.FromUInt64(0x120000))));
        Assert.True(m.Grab.IsPinnablePage(m.PfnToPage(Pfn.FromUInt64(m.ZeroPfn))));
    }

    [Theory]
    [InlineData("5.12")]
    [InlineData("5.13")]
    [InlineData("6.1")]
    public void AnonInCma_IsMigratedOut_AndCountsBalance(string kernel)
    {
        var m = Boot(kernel);
        var (mm, addr, pfns) = Anon(m, 16);
        Assert.All(pfns, p => Assert.True(m.IsCmaPfn(p)));
        Assert.Equal(CmaHead, pfns[0]);
        ulong free0 = m.FreePagesTotal;
        var gup = new GetUserPages(m);
        var pages = new PagePtr[16];
        Assert.Equal(16, gup.PinUserPagesRemote(mm, addr, 16, FollFlags.Write | FollFlags.Longterm, pages));
        Assert.Equal(16, gup.Migrated.Count);
        Assert.Equal((CmaHead, 0), (gup.Migrated[0].OldPfn, gup.Migrated[0].Order));
        var sp = m.StructPages;
        for (int i = 0; i < 16; i++)
        {
            ulong now = MappedPfn(mm, addr + ((ulong)i << 12));
            Assert.False(m.IsCmaPfn(now));
            Assert.Equal(gup.Migrated[i].NewPfn, now);
            Assert.Equal(KnownAddresses.StructPageVa(m, now), pages[i].Address); // the placement's address, not pfn_to_page
            Assert.Equal(1 + Grab.GupPinCountingBias, sp.Refcount(pages[i])); // mapping + one pin
            Assert.Equal(0, sp.MapcountRaw(pages[i]));
            // The old page went back: order 0, so to the head of the MOVABLE pcp list (its pcppage type CMA).
            Assert.True(m.PageAlloc.IsOnPcpList(m.ZoneOfPfn(pfns[i])!, pfns[i]));
        }
        Assert.Equal(free0, m.FreePagesTotal); // 16 freed in CMA, 16 taken outside (buddy + pcp)
        // The faults' pcp refill took 63 pages off the CMA lists (rmqueue_bulk, CMA first: more than half is CMA);
        // the 16 freed pages sit on the pcp with the 47 unused (63 < high 378: no drain), outside NR_FREE_CMA_PAGES.
        Assert.Equal(262144UL - 63, m.FreeCmaPagesTotal);
        m.Grab.UnpinUserPages(pages);
        Assert.All(pages, p => Assert.Equal(1, sp.Refcount(p)));
    }

    [Fact]
    public void ZoneMovable_V512_PinsInPlace_V513_Migrates()
    {
        foreach (var (kernel, migrated) in new[] { ("5.12", false), ("5.13", true) })
        {
            var m = Boot(kernel, cma: null, movablecore: "1G");
            var (mm, addr, pfns) = Anon(m, 4);
            Assert.Equal(ZoneType.Movable, m.ZoneOfPfn(pfns[0])!.Type);
            var gup = new GetUserPages(m);
            var pages = new PagePtr[4];
            Assert.Equal(4, gup.PinUserPagesRemote(mm, addr, 4, FollFlags.Longterm, pages));
            Assert.Equal(migrated ? 4 : 0, gup.Migrated.Count);
            Assert.Equal(migrated ? ZoneType.Normal : ZoneType.Movable, m.ZoneOfPfn(MappedPfn(mm, addr))!.Type);
        }
    }

    [Fact]
    public void ExtraReference_V512_PinsInCma_V513_IsEnomemWithNothingChanged()
    {
        foreach (var kernel in new[] { "5.12", "5.13" })
        {
            var m = Boot(kernel);
            var (mm, addr, pfns) = Anon(m, 4);
            var gup = new GetUserPages(m);
            var held = new PagePtr[4];
            Assert.Equal(4, gup.GetUserPagesRemote(mm, addr, 4, FollFlags.None, held)); // someone else holds a reference
            ulong free0 = m.FreePagesTotal;
            long acquired0 = m.Grab.FollPinAcquired - m.Grab.FollPinReleased;
            var pages = new PagePtr[4];
            long rc = gup.PinUserPagesRemote(mm, addr, 4, FollFlags.Longterm, pages);
            var sp = m.StructPages;
            Assert.Empty(gup.Migrated);
            Assert.Equal(free0, m.FreePagesTotal);
            for (int i = 0; i < 4; i++) Assert.Equal(pfns[i], MappedPfn(mm, addr + ((ulong)i << 12)));
            if (kernel == "5.12")
            {
                Assert.Equal(4, rc); // migration failed: pinned where they are, in CMA
                Assert.All(held, p => Assert.Equal(2 + Grab.GupPinCountingBias, sp.Refcount(p)));
            }
            else
            {
                Assert.Equal(-(int)Errno.ENOMEM, rc);
                Assert.All(held, p => Assert.Equal(2, sp.Refcount(p)));
                Assert.Equal(acquired0, m.Grab.FollPinAcquired - m.Grab.FollPinReleased);
            }
            Assert.All(held, p => Assert.False(m.Migrator.IsIsolated(m.PageToPfn(p).Value)));
        }
    }

    [Fact]
    public void GupFast_Longterm_LeavesCmaPagesToTheSlowPath()
    {
        var m = Boot("5.13");
        var (mm, addr, _) = Anon(m, 8);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[8];
        Assert.Equal(0, gup.PinUserPagesFast(mm, addr, 8, FollFlags.Longterm | FollFlags.FastOnly, pages));
        Assert.Equal(8, gup.PinUserPagesFast(mm, addr, 8, FollFlags.Longterm, pages));
        Assert.Equal(8, gup.Migrated.Count);
        Assert.All(pages, p => Assert.True(m.Grab.IsPinnablePage(p)));
    }

    [Fact]
    public void V61_LongtermWithoutPin_IsEinval()
    {
        var m = Boot("6.1");
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        // Nothing mapped yet, so gup-fast falls back to __gup_longterm_locked(), which wants FOLL_PIN.
        Assert.Equal(-(int)Errno.EINVAL, new GetUserPages(m).GetUserPagesFast(mm, (ulong)a, 1, FollFlags.Longterm, new PagePtr[1]));
        Assert.Null(mm.WalkLeaf((ulong)a) is { } l && !l.Entry.IsNone ? l : null);
    }

    [Theory]
    [InlineData("5.11", 2L)] // per-subpage try_grab_page(): pinned, then migrated to temporary pages
    [InlineData("5.12", -12L)] // try_grab_compound_head() refuses FOLL_LONGTERM on CMA: follow_hugetlb_page() −ENOMEM
    [InlineData("6.1", -12L)]
    public void Hugetlb2M_InCma(string kernel, long expect)
    {
        var m = Boot(kernel);
        var h = m.Hugetlb.Find(2UL << 20)!;
        Assert.Equal(4UL, m.Hugetlb.SetMaxHugePages(h, 4));
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 4UL << 20, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(2UL << 20));
        Assert.True(a > 0);
        for (ulong off = 0; off < 4UL << 20; off += 2UL << 20) Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a + off, FaultFlags.Write));
        ulong head0 = MappedPfn(mm, (ulong)a);
        Assert.True(m.IsCmaPfn(head0));
        ulong free0 = m.FreePagesTotal;
        var gup = new GetUserPages(m);
        var pages = new PagePtr[1024];
        long rc = gup.PinUserPagesRemote(mm, (ulong)a, 1024, FollFlags.Write | FollFlags.Longterm, pages);
        if (expect < 0)
        {
            Assert.Equal(expect, rc);
            Assert.Equal(head0, MappedPfn(mm, (ulong)a));
            Assert.Equal(1, m.StructPages.Refcount(m.PfnToPage(Pfn.FromUInt64(head0)))); // mapped once, nothing pinned
            Assert.Equal(free0, m.FreePagesTotal);
            return;
        }
        Assert.Equal(1024, rc);
        Assert.Equal(expect, gup.Migrated.Count);
        ulong now = MappedPfn(mm, (ulong)a);
        Assert.False(m.IsCmaPfn(now));
        var head = m.PfnToPage(Pfn.FromUInt64(now));
        Assert.Equal(1 + 512, m.StructPages.Refcount(head));
        Assert.Equal(512, m.StructPages.CompoundPincount(head));
        // The free pool pages were in CMA, so the targets were fresh temporary pages; the old pages left the pool.
        Assert.Equal((4UL, 2UL, 0UL), (h.NrHugePages, h.FreeHugePages, h.SurplusHugePages));
        Assert.Equal(free0, m.FreePagesTotal);
        m.Grab.UnpinUserPages(pages);
        Assert.Equal(1, m.StructPages.Refcount(head));
        Assert.Equal(0, m.StructPages.CompoundPincount(head));
    }

    [Fact]
    public void HugetlbCma_GiganticPagesComeFromTheArea_BootPagesAreSkipped()
    {
        var m = new MachineOptions { Kernel = "5.12", RamSpec = "0-3G,4G-6G", HugetlbCma = "1G", Hugepages = "hugepagesz=1G hugepages=1" }.Boot();
        var area = Assert.Single(m.CmaAreas);
        Assert.Equal(("hugetlb0", CmaBase), (area.Name, area.BasePfn));
        var h = m.Hugetlb.Find(1UL << 30)!;
        Assert.Equal(0UL, h.NrHugePages);
        Assert.Contains("HugeTLB: hugetlb_cma is enabled, skip boot time allocation", m.KernelLog);
        Assert.Equal(1UL, m.Hugetlb.SetMaxHugePages(h, 1));
        Assert.Equal(CmaBase, Assert.Single(h.FreeList(0)));
        Assert.Equal(0UL, m.FreeCmaPagesTotal);
        Assert.Equal(0UL, m.Hugetlb.SetMaxHugePages(h, 0));
        // cma_release() → free_contig_range() frees page by page through the pcp (batch 63, high 378): 262144 − 378
        // = 63 × 4155 + 1, so 316 pages are still on the pcp and not in NR_FREE_CMA_PAGES.
        Assert.Equal(262144UL - 316, m.FreeCmaPagesTotal);
    }

    [Fact]
    public void HotplugMovable_OnlinesToZoneMovable()
    {
        var m = Boot("5.13", cma: null);
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(8UL << 30, 9UL << 30), 0, movable: true));
        Assert.Equal(ZoneType.Movable, m.ZoneOfPfn(0x200000)!.Type);
        Assert.Equal(-(int)Errno.EINVAL, m.HotAdd(PhysRange.FromStartEnd(10UL << 30, 11UL << 30), 0));
        Assert.False(m.Grab.IsPinnablePage(m.PfnToPage(Pfn.FromUInt64(0x200000))));
    }

    /// <summary>
    /// Trap 3 in numbers: on classic SPARSEMEM a hot-added 1 GiB page has a memmap per section, so
    /// pages[i] − head between sections is not the subpage index and check_and_migrate_cma_pages() steps wrong.
    /// </summary>
    [Fact]
    public void Trap3a_Step_IsLatentlyRight_OnAFreshBoot_AdjacentHotAddedMemmaps()
    {
        var m = new MachineOptions { Kernel = "5.11", Model = "sparsemem", RamSpec = "0-3G,4G-6G", HugetlbCma = "1G", Hotplug = ["8G-11G"] }.Boot();
        var a = m.PfnToPage(Pfn.FromUInt64(0x200000));
        var sub = m.PfnToPage(Pfn.FromUInt64(0x200000 + 200000));
        long diff = PagePtr.Difference(sub, a, m.StructPageSize);
        // Worked out from the rules (allocator-facts §7): hugetlb_cma=1G is reserved bottom-up from 4G, so pfns
        // 0x100000–0x13ffff are MIGRATE_CMA pageblocks, which an UNMOVABLE fallback never steals. ZONE_NORMAL's MOVABLE
        // order-10 head (ascending, freed to the tail) is therefore pfn 0x140000: the first UNMOVABLE request (a slab
        // page's pcp refill) steals it and lists its high half 0x140200, which becomes section 64's memmap; sections
        // 65, 66, ... take the low and high halves of the next stolen blocks, so section 64 + k's memmap is at
        // 0x140200000 + k × 2 MiB. pfn 0x200000 + 200000 = 0x230d40 is section 70, offset 0xd40 = 3392:
        // 0x140200000 + 6 × 0x200000 + 3392 × 64 = 0x140e35000. Adjacent memmaps: the pointer difference is the pfn
        // difference, 6 × 32768 + 3392 = 200000, so v5.11's step is (latently) right on a fresh boot.
        Assert.Equal(0xffff888140200000UL, a.Address);
        Assert.Equal(0xffff888140e35000UL, sub.Address);
        Assert.Equal(200000, diff);
        var vm = new MachineOptions { Kernel = "5.11", Model = "sparsemem-vmemmap", RamSpec = "0-3G,4G-6G", Hotplug = ["8G-11G"] }.Boot();
        // VMEMMAP: the literal base + pfn × 64 for both, 200000 struct pages apart.
        Assert.Equal(KnownAddresses.X86_64Vmemmap + 0x200000UL * 64, vm.PfnToPage(Pfn.FromUInt64(0x200000)).Address);
        Assert.Equal(KnownAddresses.X86_64Vmemmap + (0x200000UL + 200000) * 64, vm.PfnToPage(Pfn.FromUInt64(0x200000 + 200000)).Address);
    }

    [Theory]
    [InlineData("trap3a-longterm-cma-step-v5.11.scenario")]
    [InlineData("trap3a-longterm-cma-step-vmemmap.scenario")]
    public void Trap3aExamples_Hold(string name)
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", name)), name);
        Assert.Equal((3, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
    }

    [Fact]
    public void MachineOptions_BadCoreValues_AreOneLineErrors()
    {
        var e1 = Assert.Throws<GupSimException>(() => MachineOptions.FromArgs(["--movablecore", "120%"]).ToSpec());
        var e2 = Assert.Throws<GupSimException>(() => MachineOptions.FromArgs(["--cma"]));
        Assert.Equal("--movablecore: '120%' is not a percentage from 0% to 100%", e1.Message);
        Assert.Equal("--cma needs a value", e2.Message);
        var spec = MachineOptions.FromArgs(["--cma", "256M@5G", "--kernelcore", "50%"]).ToSpec();
        Assert.Equal(new CmaSpec(256UL << 20, 5UL << 30), spec.Cma);
        Assert.Equal(50, spec.MovableCore!.KernelcorePercent);
    }
}

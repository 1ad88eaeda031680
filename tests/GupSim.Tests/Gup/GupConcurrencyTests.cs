using GupSim.Arch;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

public class GupConcurrencyTests
{
    /// <summary>
    /// gup-fast from several threads while another thread munmaps and re-maps the range (issue 4 §9): every pin is
    /// released, no page is freed while pinned, and in the end the pool, the pin statistics and the buddy balance.
    /// Bounded: the mapper's 40 rounds, started once every pinner runs, and on (at most 2000 rounds) until some call has
    /// met a munmap; the pinners keep going until it is done (at most 100 000 calls each) and then make one last call on
    /// the range it left mapped, which must pin all 1024 pages. It must have raced: some call returned fewer pages
    /// than asked (a walk that met a vanished entry or table, or a rollback). The deterministic form of the interleaving is in <see cref="LocklessWalkTests"/>.
    /// </summary>
    [Fact]
    [Trait("Category", "Stress")]
    public async Task PinFastWhileMunmapping_NoLeakNoEarlyFree()
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.V5_12),
            Ram = Ram((0, 3 * G), (4 * G, 6 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=2M hugepages=64", null),
        });
        var h = m.Hugetlb.Find(2 * M)!;
        ulong free0 = m.FreePagesTotal;
        var mm = MmStruct.Create(m)!;
        const ulong len = 16 * 2 * M;
        long a = mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb);
        ulong addr = (ulong)a;
        for (ulong off = 0; off < len; off += 2 * M) mm.HandleMmFault(addr + off, FaultFlags.Write);
        var gup = new GetUserPages(m);
        using var stop = new CancellationTokenSource();
        long pinnedTotal = 0, rollbacksOrMisses = 0, calls = 0;
        int rounds = 0;
        using var started = new CountdownEvent(3);
        var pinners = Enumerable.Range(0, 3).Select(t => Task.Factory.StartNew(() =>
        {
            var pages = new PagePtr[1024];
            started.Signal();
            // Race the mapper; then one more call once it is done, on the range it left mapped (that one must pin all).
            for (int round = 0; round < 100_000; round++)
            {
                bool last = stop.IsCancellationRequested && round >= 300;
                Interlocked.Increment(ref calls);
                long n = gup.PinUserPagesFast(mm, addr + (ulong)(t * 3) * 2 * M, 1024, FollFlags.Write | FollFlags.FastOnly, pages);
                if (last) Assert.Equal(1024, n);
                if (n > 0)
                {
                    // While pinned, every head has a positive refcount and its pincount covers our pins.
                    var head = m.StructPages.CompoundHead(pages[0]);
                    Assert.True(m.StructPages.Refcount(head) > 0, $"refcount {m.StructPages.Refcount(head)} of pinned head {head}");
                    Assert.True(m.Grab.PageMaybeDmaPinned(pages[0]), $"pinned {pages[0]} not dma-pinned; refcount {m.StructPages.Refcount(head)}");
                    m.Grab.UnpinUserPages(pages.AsSpan(0, (int)n));
                    Interlocked.Add(ref pinnedTotal, n);
                }
                if (n < 1024) Interlocked.Increment(ref rollbacksOrMisses);
                if (last) break;
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        var mapper = Task.Factory.StartNew(() =>
        {
            try
            {
                // Start once every pinner runs; 40 rounds, and on (at most 2000) until some call has met a munmap.
                Assert.True(started.Wait(TimeSpan.FromSeconds(60)), "the pinners did not start");
                for (; rounds < 2000 && (rounds < 40 || Interlocked.Read(ref rollbacksOrMisses) == 0); rounds++)
                {
                    Assert.Equal(0, mm.Munmap(addr, len));
                    long again = mm.Mmap(addr, len, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapFlags.Fixed);
                    Assert.Equal((long)addr, again);
                    for (ulong off = 0; off < len; off += 2 * M) mm.HandleMmFault(addr + off, FaultFlags.Write);
                }
            }
            finally
            {
                stop.Cancel();
            }
        }, TaskCreationOptions.LongRunning);
        await Task.WhenAll([mapper, .. pinners]).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(pinnedTotal > 0, $"nothing pinned in {calls} tries ({rollbacksOrMisses} misses)");
        Assert.True(rollbacksOrMisses > 0, $"no call met the munmap in {calls} tries over {rounds} munmap rounds: the test did not race");
        Assert.Equal(0, mm.PageTable.PendingTableFrees);
        Assert.Equal(0, mm.Munmap(addr, len));
        long acquired = m.Grab.FollPinAcquired, released = m.Grab.FollPinReleased;
        Assert.True(acquired == released,
            $"FOLL_PIN acquired {acquired}, released {released}; {pinnedTotal} pinned and unpinned by the callers in {calls} calls, {rollbacksOrMisses} short, {rounds} munmap rounds");
        Assert.Equal((64UL, 64UL, 0UL), (h.NrHugePages, h.FreeHugePages, h.ResvHugePages));
        mm.Destroy();
        // Everything came back but two slabs, each a fresh boot's first of its cache, left empty in it when their
        // objects were freed (SLUB keeps up to min_partial = 5 empty slabs):
        // - hugetlbfs_inode_cache: mmap(MAP_HUGETLB|MAP_ANONYMOUS) made its unlinked inode (hugetlb_file_setup());
        //   624-byte objects, and calculate_order() with 4 CPUs wants 4 × (fls(4) + 1) = 16 objects a slab with at
        //   most 1/16 waste: 16 × 624 = 9984 bytes do not fit an order-1 slab, order 2 (16 KiB, 26 objects) does: 4 pages;
        // - anon_vma: the first fault of the private mapping made its anon_vma (hugetlb_no_page() →
        //   anon_vma_prepare(), hugepage_add_new_anon_rmap()); 88-byte objects, order 0: 1 page.
        Assert.Equal(free0 - 4 - 1, m.FreePagesTotal);
        Assert.DoesNotContain(m.KernelLog, l => l.StartsWith("BUG", StringComparison.Ordinal) || l.StartsWith("WARNING", StringComparison.Ordinal));
    }
}

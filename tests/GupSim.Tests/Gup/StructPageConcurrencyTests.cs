using GupSim.Arch;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>
/// Struct page storage and flag updates under concurrency (issue 9 §1): compaction never eats an update, and the
/// atomic SetPage/ClearPage forms lose no other bit's update.
/// </summary>
public class StructPageConcurrencyTests
{
    /// <summary>
    /// A writer adds +1 then −1 to one unit of a chunk (so the chunk keeps returning to a compactable, all-equal
    /// state) while another thread compacts it over and over. Single writer: each +1 must return 1 and each −1 must
    /// return 0; an increment landing in an array that compaction already replaced would show as a −1 return.
    /// </summary>
    [Fact]
    [Trait("Category", "Stress")]
    public async Task CompactWhileWriting_LosesNoUpdate()
    {
        var store = new StructPageStore(64, 2, static (_, _) => { });
        store.WriteUnit(0, 0, 0); // materialise chunk 0 as an array
        int compactions = 0;
        using var stop = new CancellationTokenSource();
        var compactor = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                store.Compact(0, 4);
                compactions++;
            }
        });
        int bad = 0, firstBadRound = -1, firstBad = 0;
        var writer = Task.Run(() =>
        {
            try
            {
                for (int i = 0; i < 200_000; i++)
                {
                    int up = store.AtomicAddUnit(1, 3, 1), down = store.AtomicAddUnit(1, 3, -1);
                    if ((up, down) != (1, 0) && bad++ == 0) (firstBadRound, firstBad) = (i, up * 10 + down);
                }
            }
            finally
            {
                stop.Cancel();
            }
        });
        await Task.WhenAll(writer, compactor).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(bad == 0, $"{bad} lost updates, the first in round {firstBadRound} (up*10+down = {firstBad}); {compactions} compactions");
        Assert.Equal(0u, store.ReadUnit(1, 3));
        Assert.True(compactions > 0);
    }

    /// <summary>
    /// Two threads each set and clear their own PG_ bit of one struct page with SetPageFlagAtomic/ClearPageFlagAtomic
    /// (set_bit/clear_bit): after each set, the bit reads set — no update of the other thread's bit overwrote it — and
    /// at the end neither bit is set and the other flags are as booted.
    /// </summary>
    [Fact]
    [Trait("Category", "Stress")]
    public async Task AtomicFlagUpdates_LoseNoOtherBit()
    {
        var m = Machine.Boot(new MachineSpec { Arch = ArchProfiles.Get("x86_64", KernelVersion.V5_12), Ram = Ram((0, 3 * G)) });
        var sp = m.StructPages;
        var page = m.PfnToPage(Core.Pfn.FromUInt64(0x10000));
        ulong flags0 = sp.Flags(page);
        int lostA = 0, lostB = 0;
        Task Toggle(int bit, Action lost) => Task.Run(() =>
        {
            for (int i = 0; i < 100_000; i++)
            {
                sp.SetPageFlagAtomic(page, bit);
                if (!sp.TestFlag(page, bit)) lost();
                sp.ClearPageFlagAtomic(page, bit);
            }
        });
        await Task.WhenAll(
            Toggle(PageFlagBits.Referenced, () => Interlocked.Increment(ref lostA)),
            Toggle(PageFlagBits.Dirty, () => Interlocked.Increment(ref lostB))).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal((0, 0), (lostA, lostB));
        Assert.Equal(flags0, sp.Flags(page));
        Assert.False(sp.TestSetPageFlagAtomic(page, PageFlagBits.Dirty));
        Assert.True(sp.TestSetPageFlagAtomic(page, PageFlagBits.Dirty));
        Assert.Equal(flags0 | (1UL << PageFlagBits.Dirty), sp.Flags(page));
    }
}

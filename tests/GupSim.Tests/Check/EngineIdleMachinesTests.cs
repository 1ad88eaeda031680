using GupSim.Arch;
using GupSim.Check;
using static GupSim.Tests.Check.EngineTestShapes;

namespace GupSim.Tests.Check;

/// <summary>
/// The engine's idle machines: a booted shape is rolled back and kept after each configuration, shared by every
/// thread (handed over with <see cref="Machine.AdoptCheckpoint"/>), the least recently used dropped beyond
/// <see cref="CheckEngine.MaxIdleMachines"/> (the heap budget is lifted here, so the test process's other tests do
/// not drop machines). Boot counts follow from that policy by hand; verdicts never depend on it.
/// </summary>
public class EngineIdleMachinesTests
{
    /// <summary>x86_64 v5.12 SPARSEMEM_VMEMMAP, one 2 MiB page in 128 MiB: the cheapest shape to boot.</summary>
    private static CheckShape Small(string kernel) =>
        new("x86_64", V(kernel), MemoryModel.SparsememVmemmap, CheckPlacement.Boot, 2 * M, 1, 128 * M, 0, 1);

    [Theory]
    // A, B, A: with room for both, A's machine is still idle when A comes back (2 boots); with room for one, B's
    // put-back drops A, the least recently used (3); with none, every configuration after a put-back boots (3).
    [InlineData(6, 2)]
    [InlineData(1, 3)]
    [InlineData(0, 3)]
    public void AShapeRevisited_BootsAgainOnlyWhenItsMachineWasDropped(int maxIdle, long boots)
    {
        var engine = new CheckEngine([]) { MaxIdleMachines = maxIdle, IdleMemoryBytes = long.MaxValue, IdleHeapBytes = long.MaxValue };
        RunShapesABA(engine);
        Assert.Equal(boots, engine.Boots);
    }

    [Theory]
    // A, B, A with room for 24 machines: a budget of 1 byte of struct page storage holds only the machine just put
    // back (B's put-back drops A: 3 boots); no budget keeps both (2). The budget is the machines' own storage, so it
    // does not depend on what else the test process holds.
    [InlineData(1L, 3)]
    [InlineData(long.MaxValue, 2)]
    public void TheMemoryBudget_CountsTheIdleMachinesOwnStorage(long budget, long boots)
    {
        var engine = new CheckEngine([]) { IdleMemoryBytes = budget, IdleHeapBytes = long.MaxValue };
        RunShapesABA(engine);
        Assert.Equal(boots, engine.Boots);
    }

    [Fact]
    public void SameShapeTwice_WithNoIdleRoom_BootsTwice_WithRoom_Once()
    {
        var a = new CheckConfiguration(Small("5.12"), null, CheckPath.FastPin, 0, 2, 1);
        var none = new CheckEngine([]) { MaxIdleMachines = 0, IdleMemoryBytes = long.MaxValue, IdleHeapBytes = long.MaxValue };
        none.Run(a);
        none.Run(a);
        Assert.Equal(2, none.Boots);
        var some = new CheckEngine([]) { IdleMemoryBytes = long.MaxValue, IdleHeapBytes = long.MaxValue };
        some.Run(a);
        some.Run(a);
        Assert.Equal(1, some.Boots);
    }

    [Fact]
    public void AFailingShape_HandedToAnotherThread_JudgesTheSame_WithoutBootingAgain()
    {
        // Trap 1 (v5.11 gup-fast PUD, page++ past section 0's memmap on scattered memmaps): the release writes
        // through the wrong struct pages, so the rollback has real work, and the next thread gets it rolled back.
        var shape = OneGig("5.11", MemoryModel.Sparsemem, CheckPlacement.Scattered);
        var c = new CheckConfiguration(shape, null, CheckPath.FastPin, 32767, 2, 2);
        var engine = new CheckEngine([]) { IdleMemoryBytes = long.MaxValue, IdleHeapBytes = long.MaxValue };
        var here = engine.Run(c);
        // By hand: subpage 32767 is the last of section 0 (right), 32768 is head + 32768 as an address (wrong).
        Assert.Equal((1L, 1L), (here.WrongEntries, here.FirstWrongIndex));
        CheckVerdict? there = null;
        Exception? error = null;
        var t = new Thread(() =>
        {
            try
            {
                there = engine.Run(c);
            }
            catch (InvalidOperationException e)
            {
                error = e;
            }
        });
        t.Start();
        t.Join();
        Assert.Null(error);
        Assert.Equal(here, there);
        Assert.Equal(here, engine.Run(c)); // and back on this thread
        Assert.Equal(1, engine.Boots);
    }

    [Fact]
    public void TwoThreadsOnOneShape_BootItOnce()
    {
        // The second thread waits for the machine the first has out (booting or running) instead of booting it too.
        var c = new CheckConfiguration(Small("5.12"), null, CheckPath.SlowGet, 0, 512, 512);
        var engine = new CheckEngine([]) { IdleMemoryBytes = long.MaxValue, IdleHeapBytes = long.MaxValue };
        var verdicts = new CheckVerdict[8];
        Parallel.For(0, verdicts.Length, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i => verdicts[i] = engine.Run(c));
        Assert.All(verdicts, v => Assert.Equal(CheckVerdict.Pass, v));
        Assert.Equal(1, engine.Boots);
    }

    [Fact]
    public void AdoptCheckpoint_MovesTheMachineToTheCallingThread()
    {
        var runner = new GupSim.Scenario.ScenarioRunner(TextWriter.Null);
        foreach (string line in CheckScenario.SetupLines(Small("5.12"))) runner.Run(line, "setup");
        var m = runner.Machine!;
        Assert.True(runner.TryGetMapping(CheckScenario.MappingName, out ulong addr, out _));
        var head = m.PfnToPage(runner.Process!.WalkLeaf(addr)!.Value.Entry.Pfn);
        int refcount = m.StructPages.Refcount(head);
        using var cp = m.Checkpoint();
        Exception? before = null, after = null;
        var t = new Thread(() =>
        {
            before = Record(() => m.Grab.TryGetCompoundHead(head, 1));
            m.AdoptCheckpoint(cp);
            after = Record(() => m.Grab.TryGetCompoundHead(head, 1));
        });
        t.Start();
        t.Join();
        // A write from another thread than the checkpoint's is refused; after the hand-over it is that thread's.
        Assert.IsType<InvalidOperationException>(before);
        Assert.Null(after);
        Assert.Equal(refcount + 1, m.StructPages.Refcount(head));
        // This thread gave the machine away: its rollback is refused until it adopts it back.
        Assert.Throws<InvalidOperationException>(() => m.Rollback(cp));
        m.AdoptCheckpoint(cp);
        Assert.True(m.Rollback(cp));
        Assert.Equal(refcount, m.StructPages.Refcount(head));
    }

    private static Exception? Record(Action a)
    {
        try
        {
            a();
            return null;
        }
        catch (InvalidOperationException e)
        {
            return e;
        }
    }

    /// <summary>Runs shape A (v5.12), then B (v6.1), then A again, each a passing slow pin of one huge page.</summary>
    private static void RunShapesABA(CheckEngine engine)
    {
        var a = new CheckConfiguration(Small("5.12"), null, CheckPath.SlowPin, 0, 512, 512);
        var b = a with { Shape = Small("6.1") };
        var first = engine.Run(a);
        Assert.Equal(CheckVerdict.Pass, first);
        Assert.Equal(CheckVerdict.Pass, engine.Run(b));
        Assert.Equal(first, engine.Run(a));
    }
}

using GupSim.Check;

namespace GupSim.Tests.Check;

/// <summary>
/// CheckSweep over a fake runner whose failures are a fixed predicate: exact counts per group and history, the first
/// failure (lowest global index) shrunk once per group, and the same summary on 1, 2 or 8 threads.
/// </summary>
public sealed class SweepTests
{
    /// <summary>
    /// x86_64 v5.12 SPARSEMEM 1G, placements boot and scattered, histories (0, 1), (1G, 1), (1G, 2), paths slow-pin
    /// and fast-pin, the 27 positions of <see cref="SpaceTests"/>: 2 × 3 shapes... = 6 shapes × 2 paths × 27 = 324.
    /// </summary>
    internal static CheckSpaceOptions Options => new()
    {
        Arches = "x86_64",
        Kernels = "5.12",
        Models = "sparsemem",
        Placements = "boot,scattered",
        HugepageSizes = "1G",
        Churn = "0,1G",
        Seeds = 2,
        Paths = "slow-pin,fast-pin",
        Offsets = "0,boundary-1,boundary,boundary+1",
        Lengths = "1,cross,huge",
        Batches = "1,512,all",
    };

    /// <summary>Fails on scattered memmaps at offset 32767 (the 6 positions there), on fast-pin always, on slow-pin in the seed-2 history only.</summary>
    internal static bool Fails(CheckConfiguration c) =>
        c.Shape.Placement == CheckPlacement.Scattered && c.OffsetPages == 32767 && (c.Shape.Seed == 2 || c.Path == CheckPath.FastPin);

    [Fact]
    public void Counts_PerGroupAndHistory_AreTheOnesThePredicateGives()
    {
        var runner = new PredicateRunner(Fails);
        var shrinker = new RecordingShrinker();
        var summary = new CheckSweep(runner, shrinker).Run(CheckSpace.Build(Options));
        Assert.Equal(324, summary.Configurations);
        Assert.Equal(324, runner.Runs);
        // scattered fast-pin: 6 positions × 3 histories = 18; scattered slow-pin: 6 in history (1G, 2).
        Assert.Equal(24, summary.Failures);
        Assert.Equal(4, summary.Groups.Count);
        var byKey = summary.Groups.ToDictionary(g => (g.Placement, g.Path));
        Assert.All(summary.Groups, g => Assert.Equal(81, g.Configurations));
        Assert.All(summary.Groups, g => Assert.Equal(3, g.Seeds));
        var sf = byKey[("scattered", "fast-pin")];
        Assert.Equal(18, sf.Failures);
        Assert.Equal(3, sf.ManifestedSeeds);
        var ss = byKey[("scattered", "slow-pin")];
        Assert.Equal(6, ss.Failures);
        Assert.Equal(1, ss.ManifestedSeeds);
        Assert.Equal([0L, 0L, 6L], ss.Histories.Select(h => h.Failures).ToArray());
        Assert.Equal([(0UL, 1UL), (1UL << 30, 1UL), (1UL << 30, 2UL)], ss.Histories.Select(h => (h.Churn, h.Seed)).ToArray());
        Assert.Equal(0, byKey[("boot", "slow-pin")].Failures);
        Assert.Null(byKey[("boot", "fast-pin")].Minimal);
        Assert.Equal("wrong-pages", sf.Minimal!.Kind);
        Assert.Equal(7, sf.Minimal.WrongEntries);
    }

    [Fact]
    public void FirstFailure_LowestGlobalIndex_IsShrunkOncePerGroup()
    {
        // Shapes in order: boot (0,1), boot (1G,1), boot (1G,2), scattered (0,1), ... each 54 configurations
        // (slow-pin's 27, then fast-pin's). Offset 32767 starts at position 7 of a path's 27.
        //   scattered fast-pin, first in scattered (0,1): 3 × 54 + 27 + 7 = 196
        //   scattered slow-pin, first in scattered (1G,2): 5 × 54 + 7 = 277
        var shrinker = new RecordingShrinker();
        var summary = new CheckSweep(new PredicateRunner(Fails), shrinker).Run(CheckSpace.Build(Options));
        var byKey = summary.Groups.ToDictionary(g => (g.Placement, g.Path));
        Assert.Equal(196, byKey[("scattered", "fast-pin")].Minimal!.Index);
        Assert.Equal(277, byKey[("scattered", "slow-pin")].Minimal!.Index);
        Assert.Equal(2, shrinker.Calls.Count);
        var calls = shrinker.Calls.OrderBy(c => c.Path).ToArray();
        Assert.Equal((CheckPath.SlowPin, 32767L, 1L, 2UL), (calls[0].Path, calls[0].OffsetPages, calls[0].LengthPages, calls[0].Shape.Seed));
        Assert.Equal((CheckPath.FastPin, 32767L, 1L, 1UL, 0UL), (calls[1].Path, calls[1].OffsetPages, calls[1].LengthPages, calls[1].Shape.Seed, calls[1].Shape.ChurnBytes));
        // The minimal case written is the shrinker's (length 1, batch 1), with its script.
        var m = byKey[("scattered", "slow-pin")].Minimal!;
        Assert.Equal("# minimal: scattered slow-pin offset 32767 seed 2\n", m.Scenario);
        Assert.Equal(1, m.Configuration.Batch);
        Assert.Equal("gupsim gup-test -m 1024 -n 1 offset=32767", m.GupTest);
    }

    [Fact]
    public void Summary_IsTheSame_OnOneTwoOrEightThreads()
    {
        var space = CheckSpace.Build(Options);
        string? first = null;
        foreach (int threads in new[] { 1, 2, 8 })
        {
            var s = new CheckSweep(new PredicateRunner(Fails), new RecordingShrinker()) { MaxDegreeOfParallelism = threads }.Run(space);
            string json = SummaryJson.WithoutElapsed(s.ToJson());
            first ??= json;
            Assert.Equal(first, json);
        }
    }

    [Fact]
    public void Progress_ReachesTheTotal()
    {
        var seen = new List<CheckProgress>();
        new CheckSweep(new PredicateRunner(Fails), new RecordingShrinker()) { Progress = seen.Add }.Run(CheckSpace.Build(Options));
        Assert.Equal(new CheckProgress(324, 324, 24), seen.MaxBy(p => p.Done));
    }

    [Fact]
    public void AllPass_NoShrink_NoMinimal()
    {
        var shrinker = new RecordingShrinker();
        var s = new CheckSweep(new PredicateRunner(_ => false), shrinker).Run(CheckSpace.Build(Options));
        Assert.Equal(0, s.Failures);
        Assert.Empty(shrinker.Calls);
        Assert.All(s.Groups, g => Assert.Null(g.Minimal));
    }
}

using GupSim.Check;

namespace GupSim.Tests.Check;

/// <summary>
/// Short passes (docs/cli.md, <c>short</c>): GUP took fewer pages than asked or ended with an errno, and everything
/// returned was right. The kernel allows that, so they are no failure, but the summary counts them apart, per group
/// and history, and merge adds them up.
/// </summary>
public sealed class EngineShortTests
{
    /// <summary>A runner that passes every configuration, short where the length is 1 (an errno, none taken), as the engine words it.</summary>
    private sealed class ShortRunner : ICheckRunner
    {
        public CheckVerdict Run(CheckConfiguration configuration) => configuration.LengthPages == 1
            ? new CheckVerdict(CheckSymptoms.None, 0, -1, CheckEngine.ShortPrefix + "0 of 1 pages, then -ENOMEM")
            : CheckVerdict.Pass;
    }

    [Fact]
    public void ShortPasses_AreCountedApart_NeverAsFailures_AndMergeAddsThemUp()
    {
        var space = CheckSpace.Build(SweepTests.Options);
        // By hand from the space's own entries: every configuration of length 1 is a short pass.
        long want = 0;
        foreach (var e in space.Entries)
            if (e.Configuration.LengthPages == 1) want++;
        Assert.True(want > 0);
        var one = new CheckSweep(new ShortRunner(), new RecordingShrinker()).Run(space);
        Assert.Equal((want, 0L, 0L), (one.Short, one.Failures, one.NotApplicable));
        Assert.Equal(want, one.Groups.Sum(g => g.Short));
        foreach (var g in one.Groups) Assert.Equal(g.Histories.Sum(h => h.Short), g.Short);
        var shards = new List<CheckSummary>();
        for (int i = 0; i < 3; i++)
            shards.Add(CheckSummary.FromJson(new CheckSweep(new ShortRunner(), new RecordingShrinker()).Run(space.ForShard(new CheckShardSpec(i, 3))).ToJson(), $"s{i}.json"));
        var merged = CheckSummary.Merge(shards);
        Assert.Equal(want, merged.Short);
        Assert.Equal(SummaryJson.WithoutElapsed(one.ToJson()), SummaryJson.WithoutElapsed(merged.ToJson()));
    }

    [Fact]
    public void IsShort_OnlyForAPassWithTheShortDetail()
    {
        Assert.True(CheckEngine.IsShort(new CheckVerdict(CheckSymptoms.None, 0, -1, "GUP took 0 of 3 pages, then -ENOMEM")));
        Assert.False(CheckEngine.IsShort(CheckVerdict.Pass));
        Assert.False(CheckEngine.IsShort(new CheckVerdict(CheckSymptoms.Leak, 0, -1, "GUP took 1 of 2 pages")));
        Assert.False(CheckEngine.IsShort(new CheckVerdict(CheckSymptoms.None, 0, -1, CheckEngine.NotApplicablePrefix + "x")));
    }
}

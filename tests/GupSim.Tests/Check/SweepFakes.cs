using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using GupSim.Check;

namespace GupSim.Tests.Check;

/// <summary>
/// A runner whose verdict is a fixed predicate of the configuration alone (so it cannot depend on order, threads or
/// shards): the tests choose which configurations fail and work out every count from that by hand.
/// </summary>
internal sealed class PredicateRunner(Func<CheckConfiguration, bool> fails, long wrongEntries = 7, Func<CheckConfiguration, bool>? notApplicable = null) : ICheckRunner
{
    private long _runs;

    public long Runs => Interlocked.Read(ref _runs);

    public CheckVerdict Run(CheckConfiguration configuration)
    {
        Interlocked.Increment(ref _runs);
        if (notApplicable?.Invoke(configuration) == true)
            return new CheckVerdict(CheckSymptoms.None, 0, -1, CheckEngine.NotApplicablePrefix + "the pool came from boot memory");
        return fails(configuration)
            ? new CheckVerdict(CheckSymptoms.WrongPages | CheckSymptoms.Leak, wrongEntries, 0, $"pages[0] wrong at offset {configuration.OffsetPages}")
            : CheckVerdict.Pass;
    }
}

/// <summary>A shrinker that records what it was asked to shrink and "shrinks" to length 1, batch 1, with a script naming the input.</summary>
internal sealed class RecordingShrinker : ICheckShrinker
{
    public ConcurrentBag<CheckConfiguration> Calls { get; } = [];

    public CheckMinimalCase Shrink(CheckConfiguration failing, CheckVerdict verdict)
    {
        Calls.Add(failing);
        var min = failing with { LengthPages = 1, Batch = 1 };
        string script = $"# minimal: {failing.Shape.Placement.ToName()} {failing.Path.ToName()} offset {failing.OffsetPages} seed {failing.Shape.Seed}\n";
        return new CheckMinimalCase(min, verdict, script, $"gupsim gup-test -m 1024 -n 1 offset={failing.OffsetPages}");
    }
}

internal static class SummaryJson
{
    /// <summary>The summary's JSON with elapsedSeconds taken out (the one field a merge or another core count may change).</summary>
    public static string WithoutElapsed(string json)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        Assert.True(node.Remove("elapsedSeconds"));
        return node.ToJsonString();
    }
}

using System.Text.Json.Nodes;
using GupSim.Check;
using GupSim.Core;

namespace GupSim.Tests.Check;

/// <summary>CheckSummary: the JSON shape, and merge of shards equal to one run (groups, counts, minimal indices), or an error.</summary>
public sealed class SummaryTests
{
    private static CheckSummary RunSpace(CheckSpace space) => new CheckSweep(new PredicateRunner(SweepTests.Fails), new RecordingShrinker()).Run(space);

    [Fact]
    public void MergeOfShards_EqualsOneRun_ForOneToFiveShards()
    {
        var space = CheckSpace.Build(SweepTests.Options);
        var one = RunSpace(space);
        string expected = SummaryJson.WithoutElapsed(one.ToJson());
        for (int n = 1; n <= 5; n++)
        {
            var shards = new List<CheckSummary>();
            for (int i = 0; i < n; i++)
            {
                // Through JSON, as the shards' files would go.
                var s = RunSpace(space.ForShard(new CheckShardSpec(i, n)));
                Assert.Equal($"{i}/{n}", s.Shard);
                shards.Add(CheckSummary.FromJson(s.ToJson(), $"shard{i}.json"));
            }
            shards.Reverse();
            var merged = CheckSummary.Merge(shards);
            Assert.Equal(expected, SummaryJson.WithoutElapsed(merged.ToJson()));
            Assert.Equal(324, merged.Configurations);
            Assert.Equal(24, merged.Failures);
            Assert.Equal([196L, 277L], merged.Groups.Where(g => g.Minimal is not null).Select(g => g.Minimal!.Index).Order().ToArray());
            Assert.Equal(shards.Sum(s => s.ElapsedSeconds), merged.ElapsedSeconds, 9);
        }
    }

    [Fact]
    public void Json_HasTheIssuesFieldsInOrder()
    {
        var node = JsonNode.Parse(RunSpace(CheckSpace.Build(SweepTests.Options)).ToJson())!.AsObject();
        Assert.Equal(["configurations", "failures", "elapsedSeconds", "groups"], node.Select(p => p.Key).Take(4).ToArray());
        Assert.Equal(324, (long)node["configurations"]!);
        Assert.Equal(24, (long)node["failures"]!);
        Assert.Null(node["shard"]);
        var g = node["groups"]!.AsArray().Select(x => x!.AsObject()).First(x => (string)x["placement"]! == "scattered" && (string)x["path"]! == "slow-pin");
        Assert.Equal(["arch", "kernel", "strategy", "model", "placement", "path", "hugepageSize", "configurations", "failures", "manifestedSeeds", "seeds", "minimal"],
            g.Select(p => p.Key).Take(12).ToArray());
        Assert.Equal("x86_64", (string)g["arch"]!);
        Assert.Equal("5.12", (string)g["kernel"]!);
        Assert.Null(g["strategy"]);
        Assert.Equal("sparsemem", (string)g["model"]!);
        Assert.Equal("1G", (string)g["hugepageSize"]!);
        Assert.Equal(81, (long)g["configurations"]!);
        Assert.Equal(6, (long)g["failures"]!);
        Assert.Equal(1, (int)g["manifestedSeeds"]!);
        Assert.Equal(3, (int)g["seeds"]!);
        var m = g["minimal"]!.AsObject();
        Assert.Equal(["kind", "wrongEntries", "scenario"], m.Select(p => p.Key).Take(3).ToArray());
        Assert.Equal("wrong-pages", (string)m["kind"]!);
        Assert.Equal(7, (long)m["wrongEntries"]!);
        Assert.Equal(277, (long)m["index"]!);
    }

    private static List<CheckSummary> Shards(CheckSpaceOptions o, int n)
    {
        var space = CheckSpace.Build(o);
        return Enumerable.Range(0, n).Select(i => CheckSummary.FromJson(RunSpace(space.ForShard(new CheckShardSpec(i, n))).ToJson(), $"s{i}of{n}.json")).ToList();
    }

    [Fact]
    public void Merge_OfDifferentSweeps_IsAnError()
    {
        var a = Shards(SweepTests.Options, 2);
        var b = Shards(SweepTests.Options with { Seed = 9 }, 2);
        var e = Assert.Throws<GupSimException>(() => CheckSummary.Merge([a[0], b[1]]));
        Assert.StartsWith("check merge: s1of2.json is from a different sweep than s0of2.json (space ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Merge_OfOverlappingShards_IsAnError()
    {
        var a = Shards(SweepTests.Options, 2);
        var e = Assert.Throws<GupSimException>(() => CheckSummary.Merge([a[0], a[1], a[0]]));
        Assert.Equal("check merge: s0of2.json and s0of2.json are both shard 0/2: overlapping shards; give each shard once", e.Message);
        var three = Shards(SweepTests.Options, 3);
        e = Assert.Throws<GupSimException>(() => CheckSummary.Merge([a[0], three[1]]));
        Assert.Equal("check merge: s1of3.json is shard 1/3 but s0of2.json is of 2 shards: shards of different counts overlap; merge the shards of one --shard I/2 run", e.Message);
        var whole = CheckSummary.FromJson(RunSpace(CheckSpace.Build(SweepTests.Options)).ToJson(), "all.json");
        e = Assert.Throws<GupSimException>(() => CheckSummary.Merge([whole, a[1]]));
        Assert.Equal("check merge: all.json is a whole sweep (no --shard) and overlaps every other file: merge shards only, or use it alone", e.Message);
    }

    [Fact]
    public void Merge_WithAShardMissing_IsAnError()
    {
        var a = Shards(SweepTests.Options, 4);
        var e = Assert.Throws<GupSimException>(() => CheckSummary.Merge([a[0], a[2]]));
        Assert.Equal("check merge: shards 1/4, 3/4 missing: give the JSON of every shard 0/4 to 3/4", e.Message);
    }

    [Fact]
    public void FromJson_OfSomethingElse_IsAnError()
    {
        var e = Assert.Throws<GupSimException>(() => CheckSummary.FromJson("{\"runs\": []}", "x.json"));
        Assert.Equal("x.json: not a gupsim check JSON summary (no \"space\"): give the files 'gupsim check --json' or 'gupsim check --shard I/N --json' wrote", e.Message);
        e = Assert.Throws<GupSimException>(() => CheckSummary.FromJson("not json", "y.json"));
        Assert.StartsWith("y.json: not a gupsim check JSON summary", e.Message, StringComparison.Ordinal);
    }
}

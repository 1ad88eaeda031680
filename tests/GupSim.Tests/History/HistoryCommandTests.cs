using System.Text.Json;
using GupSim.Tests.Cli;

namespace GupSim.Tests.History;

/// <summary>`gupsim history NAME [--json]` (docs/cli.md, "history"): the document's shape and an unknown name.</summary>
public sealed class HistoryCommandTests
{
    [Fact]
    public void UnknownName_IsOneLineOnStderr_Exit1_NothingOnStdout()
    {
        var r = CliRun.Run("history", "no-such-bug");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.Stdout);
        var line = Assert.Single(r.StderrLines);
        Assert.StartsWith("gupsim: history: no entry 'no-such-bug': use one of update-and-free-page, copy-huge-page-from-user, gup-fast-pud, compound-range-next, merged-odd-batch,", line, StringComparison.Ordinal);
    }

    [Fact]
    public void RefsZero_Json_HasBothSides_TheOopsAndTheFixedPin()
    {
        var r = CliRun.Run("history", "refs-zero", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        var e = Assert.Single(doc.RootElement.GetProperty("entries").EnumerateArray().ToList());
        Assert.Equal("refs-zero", e.GetProperty("name").GetString());
        Assert.Equal("82e5d378b0e4", e.GetProperty("bugCommit").GetString());
        Assert.Equal("d08af0a59684", e.GetProperty("fixCommit").GetString());
        Assert.Equal("5.12", e.GetProperty("buggyKernel").GetString());
        Assert.Equal("5.14", e.GetProperty("fixedKernel").GetString());
        var c = Assert.Single(e.GetProperty("cases").EnumerateArray().ToList());
        Assert.True(c.GetProperty("differs").GetBoolean());
        var buggy = c.GetProperty("buggy");
        // refs = 0 leaves pages[0] NULL; its compound_head (the second word) is read at address 0x8.
        Assert.Equal("BUG: unable to handle page fault for address: 0000000000000008 (reading page->compound_head)", buggy.GetProperty("oops").GetString());
        Assert.Equal("unpin A", Assert.Single(buggy.GetProperty("skipped").EnumerateArray().ToList()).GetString());
        Assert.Equal("machine --arch x86_64 --kernel 5.12 --model sparsemem-vmemmap --mem 4G --hugepages \"hugepagesz=2M hugepages=1\"",
            buggy.GetProperty("script")[0].GetString());
        var fixd = c.GetProperty("fixed");
        var g = Assert.Single(fixd.GetProperty("gups").EnumerateArray().ToList());
        Assert.Equal(1, g.GetProperty("pages").GetInt64());
        Assert.Equal(0, g.GetProperty("wrong").GetInt64());
        Assert.Equal("ok", g.GetProperty("result").GetString());
        Assert.Equal(JsonValueKind.Null, fixd.GetProperty("oops").ValueKind);
        Assert.Equal(0UL, fixd.GetProperty("strayWrites").GetProperty("n").GetUInt64());
        Assert.True(Assert.Single(fixd.GetProperty("heads").EnumerateArray().ToList()).GetProperty("balanced").GetBoolean());
    }
}

using System.Text;
using System.Xml.Linq;
using GupSim.Cli;

namespace GupSim.Tests.Cli;

/// <summary>
/// `gupsim report` (issue 13 §2): one HTML file, well-formed, self-contained (every src a data: URI, every href a
/// fragment of the page), whose tables carry the values of the --json documents it was given. The inputs are small
/// hand-written documents in each command's --json shape (docs/cli.md), so every cell is known.
/// </summary>
public sealed class ReportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gupsim-report-" + Guid.NewGuid().ToString("N"));

    public ReportTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal const string BenchJson = """
        {"machine":"x86_64 v5.12 sparsemem-vmemmap","result":{"workload":"-f /mnt/huge/file -m 16384 -r 1 -L -S -n 512 -w",
         "cmd":"PIN_LONGTERM_BENCHMARK","cmdNr":3,"pages":4194304,"rounds":1,"fillMinUs":1200,"fillMedianUs":1200,
         "rows":[{"name":"v5.11","getMinUs":900000,"getMedianUs":936887.12,"putMinUs":1800,"putMedianUs":1800,"getPerPagePlusPlus":133.2,
                  "getPerFill":784.8,"putPerPagePlusPlus":1.5,"pages":4194304,"verified":true,"verifyFailure":null},
                 {"name":"page++","getMinUs":7000,"getMedianUs":7036,"putMinUs":1156,"putMedianUs":1156,"getPerPagePlusPlus":1,
                  "getPerFill":5.9,"putPerPagePlusPlus":1,"pages":4194304,"verified":false,"verifyFailure":"pages[0] wrong"}]}}
        """;

    internal const string CheckJson = """
        {"configurations":14,"failures":6,"elapsedSeconds":1.24,"groups":[
          {"arch":"x86_64","kernel":"5.11","strategy":null,"model":"sparsemem","placement":"hotplug","path":"fast-get","hugepageSize":"1G",
           "configurations":7,"failures":6,"manifestedSeeds":2,"seeds":2,
           "minimal":{"kind":"stray-writes","wrongEntries":1,"scenario":"machine --arch x86_64 --kernel 5.11\nget A fast write <b>","gupTest":"gupsim gup-test -m 1024 -n 1"}},
          {"arch":"x86_64","kernel":"6.1","strategy":null,"model":"sparsemem-vmemmap","placement":"boot","path":"slow-pin","hugepageSize":"2M",
           "configurations":7,"failures":0,"manifestedSeeds":0,"seeds":2,"minimal":null}]}
        """;

    internal const string HistoryJson = """
        {"entries":[{"name":"refs-zero","title":"refs = 0 for an unaligned vaddr","where":"follow_hugetlb_page(), mm/hugetlb.c",
          "bugCommit":"82e5d378b0e4","fixCommit":"d08af0a59684","buggyKernel":"5.12","fixedKernel":"5.14",
          "cases":[{"name":"vmemmap","differs":true,
            "buggy":{"kernel":"5.12","summary":"0 of 0 pages, 0 wrong, then oops","strayWrites":{"n":0}},
            "fixed":{"kernel":"5.14","summary":"1 of 1 pages, 0 wrong","strayWrites":{"n":3}}}]}]}
        """;

    private string Save(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Runs `gupsim report` over the three saved documents (no audit) and returns (exit code, stderr, the page).</summary>
    internal static (int Rc, string Err, string Html) WriteFromSaved(string dir, string file)
    {
        string bench = Path.Combine(dir, "bench.json"), check = Path.Combine(dir, "check.json"), history = Path.Combine(dir, "history.json");
        File.WriteAllText(bench, BenchJson);
        File.WriteAllText(check, CheckJson);
        File.WriteAllText(history, HistoryJson);
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = Program.Run(["report", "-o", file, "--sections", "bench,check,history", "--bench-json", bench, "--check-json", check, "--history-json", history], o, e);
        return (rc, e.ToString(), File.Exists(file) ? File.ReadAllText(file) : "");
    }

    private static XNamespace X => "http://www.w3.org/1999/xhtml";

    [Fact]
    public void FromSavedJson_WellFormed_SelfContained_WithTheDocumentsValues()
    {
        string file = Path.Combine(_dir, "r.html");
        var (rc, err, html) = WriteFromSaved(_dir, file);
        Assert.Equal(0, rc);
        Assert.Equal($"gupsim: wrote report to {file}\n", err);

        var doc = XDocument.Parse(html); // polyglot XHTML: a strict XML parser reads it
        var ids = doc.Descendants().Select(el => (string?)el.Attribute("id")).Where(i => i is not null).ToHashSet();
        var srcs = doc.Descendants().Select(el => (string?)el.Attribute("src")).Where(s => s is not null).ToList();
        var hrefs = doc.Descendants().Select(el => (string?)el.Attribute("href")).Where(s => s is not null).ToList();
        Assert.Single(srcs); // the bench chart
        Assert.All(srcs, s => Assert.StartsWith("data:image/svg+xml;base64,", s));
        Assert.Equal(["#bench", "#check", "#history"], hrefs);
        Assert.All(hrefs, h => Assert.Contains(h![1..], ids));
        Assert.Empty(doc.Descendants(X + "script"));
        Assert.Empty(doc.Descendants(X + "link"));
        Assert.DoesNotContain("url(", doc.Descendants(X + "style").Single().Value, StringComparison.Ordinal);

        // The chart decodes to an SVG naming both codes.
        var chart = XDocument.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(srcs[0]!["data:image/svg+xml;base64,".Length..])));
        Assert.Equal("svg", chart.Root!.Name.LocalName);
        var chartText = chart.Descendants().Where(el => el.Name.LocalName == "text").Select(el => el.Value.Trim()).ToList();
        Assert.Contains("v5.11", chartText);
        Assert.Contains("page++", chartText);

        var tables = doc.Descendants(X + "table").ToList();
        string[] Cells(XElement tr) => tr.Elements(X + "td").Select(td => td.Value).ToArray();
        // bench: 936887.12 us = 936.887 ms; put / fill = 1800 / 1200 = 1.50; the unverified row says why.
        var benchRows = tables[0].Descendants(X + "tbody").Single().Elements(X + "tr").Select(Cells).ToList();
        Assert.Equal(["v5.11", "936.887", "1.8", "133.20", "784.80", "1.50", "yes"], benchRows[0]);
        Assert.Equal(["page++", "7.036", "1.156", "1.00", "5.90", "0.96", "pages[0] wrong"], benchRows[1]);
        // check: the failing group with its minimal case (escaped: the <b> is text), then all groups.
        var failing = tables[1].Descendants(X + "tbody").Single().Elements(X + "tr").ToList();
        var f0 = Cells(failing.Single());
        Assert.Equal(["x86_64", "5.11", "(own)", "sparsemem", "hotplug", "fast-get", "1G", "7", "6", "2 / 2", "stray-writes"], f0[..11]);
        Assert.Equal("machine --arch x86_64 --kernel 5.11\nget A fast write <b>", failing[0].Descendants(X + "pre").Single().Value);
        Assert.Equal("gupsim gup-test -m 1024 -n 1", failing[0].Descendants(X + "code").Single().Value);
        var allGroups = tables[2].Descendants(X + "tbody").Single().Elements(X + "tr").Select(Cells).ToList();
        Assert.Equal(2, allGroups.Count);
        Assert.Equal(["x86_64", "6.1", "(own)", "sparsemem-vmemmap", "boot", "slow-pin", "2M", "7", "0"], allGroups[1]);
        Assert.Contains("14 configurations, 6 failed, in 1.2 s.", doc.Descendants(X + "section").Single(s => (string?)s.Attribute("id") == "check").Value, StringComparison.Ordinal);
        // history: one row per side.
        var hist = tables[3].Descendants(X + "tbody").Single().Elements(X + "tr").Select(Cells).ToList();
        Assert.Equal(["vmemmap", "buggy", "v5.12", "0 of 0 pages, 0 wrong, then oops", "0"], hist[0]);
        Assert.Equal(["vmemmap", "fixed", "v5.14", "1 of 1 pages, 0 wrong", "3"], hist[1]);
    }

    [Fact]
    public void RunsTheCommandsItself_WhenNoDocumentIsGiven()
    {
        string file = Path.Combine(_dir, "run.html");
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = Program.Run(["report", "-o", file, "--sections", "check,history", "--budget", "12", "--history", "refs-zero"], o, e);
        Assert.True(rc == 0, e.ToString());
        Assert.Contains("gupsim: report: running gupsim check --budget 12 --json\n", e.ToString(), StringComparison.Ordinal);
        Assert.Contains("gupsim: report: running gupsim history refs-zero --json\n", e.ToString(), StringComparison.Ordinal);
        var doc = XDocument.Parse(File.ReadAllText(file));
        var check = doc.Descendants(X + "section").Single(s => (string?)s.Attribute("id") == "check");
        Assert.StartsWith("12 configurations, ", check.Elements(X + "p").First().Value, StringComparison.Ordinal);
        var history = doc.Descendants(X + "section").Single(s => (string?)s.Attribute("id") == "history");
        Assert.Equal("refs-zero", history.Element(X + "h3")!.Value);
    }

    [Fact]
    public void Explain_DrawsEachFailingGroupsMinimalCase_FromItsScenario()
    {
        // check's minimal case for v5.11 gup-fast over a 1G page on scattered classic-SPARSEMEM memmaps: one entry at
        // offset 32768, the first subpage of the head's second 128 MiB section, recorded as head + 32768 by page++,
        // which is past the head section's own memmap: one entry, wrong. The picture's marks say the same.
        const string scenario = "# gupsim check: stray-writes — x86_64 v5.11 sparsemem scattered, 1G pages, fast-get, offset 32768 length 1 batch 1\n"
            + "machine --arch x86_64 --kernel 5.11 --model sparsemem --placement scattered --mem 2176M --seed 1 --hugepages \"hugepagesz=1G hugepages=1\"\n"
            + "mmap A 1G hugetlb=1G\ntouch A write\nget A fast write batch=1 offset=0x8000000 pages=1\nput A\n";
        var check = new System.Text.Json.Nodes.JsonObject
        {
            ["configurations"] = 1,
            ["failures"] = 1,
            ["elapsedSeconds"] = 0.5,
            ["groups"] = new System.Text.Json.Nodes.JsonArray(System.Text.Json.Nodes.JsonNode.Parse(
                "{\"arch\":\"x86_64\",\"kernel\":\"5.11\",\"strategy\":null,\"model\":\"sparsemem\",\"placement\":\"scattered\",\"path\":\"fast-get\","
                + "\"hugepageSize\":\"1G\",\"configurations\":1,\"failures\":1,\"manifestedSeeds\":1,\"seeds\":1,"
                + "\"minimal\":{\"kind\":\"stray-writes\",\"wrongEntries\":1,\"scenario\":" + System.Text.Json.JsonSerializer.Serialize(scenario) + "}}")),
        };
        string checkFile = Save("check-explain.json", check.ToJsonString());
        string file = Path.Combine(_dir, "x.html");
        var e = new StringWriter();
        int rc = Program.Run(["report", "-o", file, "--sections", "check,explain", "--check-json", checkFile], new StringWriter(), e);
        Assert.True(rc == 0, e.ToString());
        var doc = XDocument.Parse(File.ReadAllText(file));
        var section = doc.Descendants(X + "section").Single(s => (string?)s.Attribute("id") == "explain");
        Assert.DoesNotContain(section.Descendants(X + "p"), p => p.Value.Contains("No failing case", StringComparison.Ordinal));
        // With --explain-max 0 nothing is drawn, and the section says one failing group went undrawn, not that none failed.
        string none = Path.Combine(_dir, "x0.html");
        Assert.Equal(0, Program.Run(["report", "-o", none, "--sections", "explain", "--check-json", checkFile, "--explain-max", "0"], new StringWriter(), new StringWriter()));
        var undrawn = XDocument.Parse(File.ReadAllText(none)).Descendants(X + "section").Single(s => (string?)s.Attribute("id") == "explain");
        Assert.Empty(undrawn.Descendants(X + "img"));
        Assert.Equal("1 failing group, 0 drawn (at most --explain-max; a case that cannot be drawn is named on stderr).", undrawn.Descendants(X + "p").Single().Value);
        var img = section.Descendants(X + "img").Single();
        string src = (string)img.Attribute("src")!;
        Assert.StartsWith("data:image/svg+xml;base64,", src, StringComparison.Ordinal);
        var svg = XDocument.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(src["data:image/svg+xml;base64,".Length..])));
        var marks = svg.Descendants().Where(el => el.Attribute("data-class") is not null).ToList();
        Assert.Equal(1, marks.Sum(m => int.Parse((string)m.Attribute("data-count")!, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal("wrong", (string?)Assert.Single(marks).Attribute("data-class"));
        Assert.Equal("gupsim check: stray-writes — x86_64 v5.11 sparsemem scattered, 1G pages, fast-get, offset 32768 length 1 batch 1",
            section.Descendants(X + "figcaption").Single().Value);
    }

    [Fact]
    public void SavedDocumentOfAnotherCommand_IsOneLine()
    {
        string file = Path.Combine(_dir, "w.html"), bench = Save("b.json", BenchJson);
        var e = new StringWriter();
        int rc = Program.Run(["report", "-o", file, "--sections", "check", "--check-json", bench], new StringWriter(), e);
        Assert.Equal(1, rc);
        Assert.Equal($"gupsim: report: --check-json {bench}: not a 'gupsim check --json' document (save it with gupsim check --json)\n", e.ToString());
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void NoConfig_TheAuditSectionSaysHowToGetOne()
    {
        string file = Path.Combine(_dir, "a.html");
        int rc = Program.Run(["report", "-o", file, "--sections", "audit"], new StringWriter(), new StringWriter());
        Assert.Equal(0, rc);
        var doc = XDocument.Parse(File.ReadAllText(file));
        Assert.Equal("No kernel config given: run gupsim report --config FILE|DIR (or --audit-json FILE) to audit one.",
            doc.Descendants(X + "section").Single().Element(X + "p")!.Value);
    }

    [Theory]
    [InlineData("--sections", "bench,pictures", "gupsim: report: --sections: no section 'pictures' (give some of bench,check,explain,audit,history)")]
    [InlineData("--bench-rounds", "0", "gupsim: report: --bench-rounds must be at least 1")]
    [InlineData("--budget", "0", "gupsim: report: --budget must be at least 1")]
    public void BadOption_OneLine_NothingWritten(string option, string value, string message)
    {
        string file = Path.Combine(_dir, "bad.html");
        var e = new StringWriter();
        int rc = Program.Run(["report", "-o", file, option, value], new StringWriter(), e);
        Assert.Equal(1, rc);
        Assert.Equal(message + "\n", e.ToString());
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void MissingDocument_IsENOENT_BeforeAnythingRuns()
    {
        string file = Path.Combine(_dir, "m.html"), missing = Path.Combine(_dir, "nope.json");
        var e = new StringWriter();
        int rc = Program.Run(["report", "-o", file, "--check-json", missing], new StringWriter(), e);
        Assert.Equal(1, rc);
        Assert.Equal($"gupsim: {missing}: No such file or directory (give --check-json a file saved from the command's --json output)\n", e.ToString());
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void NotJson_OneLine()
    {
        string file = Path.Combine(_dir, "n.html"), bad = Save("bad.json", "machine --arch x86_64\n");
        var e = new StringWriter();
        int rc = Program.Run(["report", "-o", file, "--sections", "check", "--check-json", bad], new StringWriter(), e);
        Assert.Equal(1, rc);
        Assert.Equal($"gupsim: report: --check-json {bad}: not JSON (save it with the command's --json)\n", e.ToString());
    }

    [Fact]
    public void OutIsAFolder_EISDIR()
    {
        var e = new StringWriter();
        int rc = Program.Run(["report", "-o", _dir], new StringWriter(), e);
        Assert.Equal(1, rc);
        Assert.StartsWith($"gupsim: --out {_dir}: Is a directory", e.ToString(), StringComparison.Ordinal);
    }
}

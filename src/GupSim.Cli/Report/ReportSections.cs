using System.Globalization;
using System.Text;
using System.Text.Json;
using GupSim.Cli.Commands;
using GupSim.Gup;
using GupSim.Selftests;
using static GupSim.Cli.Report.HtmlReport;

namespace GupSim.Cli.Report;

/// <summary>
/// The report's sections, each drawn from the JSON its command prints with <c>--json</c> (docs/cli.md), so a
/// section looks the same whether `gupsim report` ran the command itself or was given a file saved earlier.
/// </summary>
public static class ReportSections
{
    /// <summary>`gupsim bench --json`: the comparison chart (the one `bench --plot` draws, as SVG) and its table.</summary>
    public static ReportSection Bench(JsonElement bench)
    {
        var result = BenchResult(bench);
        string machine = Str(bench, "machine");
        var plot = BenchPlot.Build(result, machine);
        byte[] svg = Encoding.UTF8.GetBytes(plot.GetSvgXml(1000, 600));
        var b = new StringBuilder();
        b.Append("<p>gup_test <code>").Append(Text(result.Workload)).Append("</code> on ").Append(Text(machine)).Append(", ")
            .Append(Num(result.Pages)).Append(" pages, ").Append(Num(result.Rounds)).Append(" measured round(s); fill limit (one store per entry) ")
            .Append(Num(result.FillMedianUs / 1000, "0.###")).Append(" ms.</p>\n");
        b.Append(Image("image/svg+xml", svg, "bench: get and put medians per code")).Append('\n');
        var rows = new List<IReadOnlyList<string>>();
        foreach (var r in result.Rows)
            rows.Add([Text(r.Name), Num(r.GetMedianUs / 1000, "0.###"), Num(r.PutMedianUs / 1000, "0.###"),
                Num(r.GetPerPagePlusPlus, "0.00"), Num(r.GetPerFill, "0.00"), Num(r.PutMedianUs / result.FillMedianUs, "0.00"),
                r.Verified ? "<span class=\"good\">yes</span>" : "<span class=\"bad\">" + Text(r.VerifyFailure ?? "no") + "</span>"]);
        b.Append(Table(["code", "get ms (median)", "put ms (median)", "get / page++", "get / fill", "put / fill", "pages[] verified"], rows, new HashSet<int> { 1, 2, 3, 4, 5 }));
        return new ReportSection("bench", "Benchmark: GUP codes side by side", b.ToString());
    }

    /// <summary>The <see cref="GupBenchResult"/> a `bench --json` document describes (counters are not drawn and are left zero).</summary>
    internal static GupBenchResult BenchResult(JsonElement bench)
    {
        var r = bench.GetProperty("result");
        var rows = new List<GupBenchRow>();
        foreach (var row in r.GetProperty("rows").EnumerateArray())
            rows.Add(new GupBenchRow(Str(row, "name"), Dbl(row, "getMinUs"), Dbl(row, "getMedianUs"), Dbl(row, "putMinUs"), Dbl(row, "putMedianUs"),
                Dbl(row, "getPerPagePlusPlus"), Dbl(row, "getPerFill"), Dbl(row, "putPerPagePlusPlus"), r.GetProperty("pages").GetInt64(),
                row.GetProperty("verified").GetBoolean(), StrOrNull(row, "verifyFailure"), new GupCounterValues(0, 0, 0, 0, 0, 0, 0)));
        return new GupBenchResult(Str(r, "workload"), (GupTestCmd)r.GetProperty("cmdNr").GetInt32(), r.GetProperty("pages").GetInt64(),
            r.GetProperty("rounds").GetInt32(), Dbl(r, "fillMinUs"), Dbl(r, "fillMedianUs"), rows, [], 0);
    }

    /// <summary>`gupsim check --json`: the totals, every group that failed with its minimal case, then every group.</summary>
    public static ReportSection Check(JsonElement check)
    {
        long configurations = check.GetProperty("configurations").GetInt64(), failures = check.GetProperty("failures").GetInt64();
        var b = new StringBuilder();
        b.Append("<p>").Append(Num(configurations)).Append(" configurations, ")
            .Append(failures == 0 ? "<span class=\"good\">no failures</span>" : "<span class=\"bad\">" + Num(failures) + " failed</span>")
            .Append(", in ").Append(Num(Dbl(check, "elapsedSeconds"), "0.0")).Append(" s.</p>\n");
        var failing = new List<JsonElement>();
        var all = new List<IReadOnlyList<string>>();
        foreach (var g in check.GetProperty("groups").EnumerateArray())
        {
            long f = g.GetProperty("failures").GetInt64();
            if (f > 0) failing.Add(g);
            all.Add([.. GroupCells(g), Num(g.GetProperty("configurations").GetInt64()), f > 0 ? "<span class=\"bad\">" + Num(f) + "</span>" : "0"]);
        }
        if (failing.Count > 0)
        {
            b.Append("<h3>Failing groups and their minimal cases</h3>\n");
            var rows = new List<IReadOnlyList<string>>();
            foreach (var g in failing)
            {
                var min = g.TryGetProperty("minimal", out var m) && m.ValueKind == JsonValueKind.Object ? m : default;
                rows.Add([.. GroupCells(g), Num(g.GetProperty("configurations").GetInt64()), "<span class=\"bad\">" + Num(g.GetProperty("failures").GetInt64()) + "</span>",
                    Num(g.GetProperty("manifestedSeeds").GetInt64()) + " / " + Num(g.GetProperty("seeds").GetInt64()),
                    min.ValueKind == JsonValueKind.Object ? Text(Str(min, "kind")) : "-",
                    min.ValueKind == JsonValueKind.Object ? "<details><summary>scenario</summary>"
                        + (StrOrNull(min, "detail") is { } detail ? "<p>" + Text(detail) + "</p>" : "") + "<pre>" + Text(Str(min, "scenario")) + "</pre>"
                        + (StrOrNull(min, "gupTest") is { } gt ? "<p><code>" + Text(gt) + "</code></p>" : "") + "</details>" : "-"]);
            }
            b.Append(Table([.. GroupHeader, "configurations", "failures", "histories", "kind", "minimal case"], rows, new HashSet<int> { 7, 8 }));
        }
        b.Append("\n<details><summary>All ").Append(Num(all.Count)).Append(" groups</summary>\n");
        b.Append(Table([.. GroupHeader, "configurations", "failures"], all, new HashSet<int> { 7, 8 }));
        b.Append("\n</details>");
        return new ReportSection("check", "Check: the sweep, group by group", b.ToString());
    }

    private static readonly string[] GroupHeader = ["arch", "kernel", "strategy", "model", "placement", "path", "huge page"];

    private static string[] GroupCells(JsonElement g) =>
        [Text(Str(g, "arch")), Text(StrOrNull(g, "kernel") ?? "-"), Text(StrOrNull(g, "strategy") ?? "(own)"), Text(Str(g, "model")),
            Text(Str(g, "placement")), Text(Str(g, "path")), Text(Str(g, "hugepageSize"))];

    /// <summary>`gupsim history --json`: each bug, its commits, and every case's buggy and fixed runs side by side.</summary>
    public static ReportSection History(JsonElement history)
    {
        var b = new StringBuilder();
        foreach (var e in history.GetProperty("entries").EnumerateArray())
        {
            b.Append("<h3 id=\"history-").Append(Text(Str(e, "name"))).Append("\">").Append(Text(Str(e, "name"))).Append("</h3>\n<p>")
                .Append(Text(Str(e, "title"))).Append(" <span class=\"muted\">(").Append(Text(Str(e, "where"))).Append("; bug ")
                .Append(Text(Str(e, "bugCommit"))).Append(", fix ").Append(Text(Str(e, "fixCommit"))).Append(")</span></p>\n");
            var rows = new List<IReadOnlyList<string>>();
            foreach (var c in e.GetProperty("cases").EnumerateArray())
            {
                bool differs = c.GetProperty("differs").GetBoolean();
                foreach (var side in (ReadOnlySpan<string>)["buggy", "fixed"])
                {
                    var run = c.GetProperty(side);
                    var stray = run.TryGetProperty("strayWrites", out var s) && s.ValueKind == JsonValueKind.Object ? s.GetProperty("n").GetInt64() : 0;
                    rows.Add([Text(Str(c, "name")) + (differs ? "" : " <span class=\"muted\">(latent)</span>"), Text(side), "v" + Text(Str(run, "kernel")),
                        Text(Str(run, "summary")), Num(stray)]);
                }
            }
            b.Append(Table(["case", "side", "kernel", "what happened", "stray writes"], rows, new HashSet<int> { 4 }));
        }
        return new ReportSection("history", "History: each known bug, buggy and fixed", b.ToString());
    }

    /// <summary>
    /// `gupsim audit --json`: one table per config, a row per GUP path and huge page size with its verdict and, for
    /// an unsafe one, the minimal case.
    /// </summary>
    public static ReportSection Audit(JsonElement audit)
    {
        var b = new StringBuilder();
        foreach (var c in audit.GetProperty("configs").EnumerateArray())
        {
            b.Append("<h3>").Append(Text(Str(c, "file"))).Append("</h3>\n<p>").Append(Text(Str(c, "arch"))).Append(" v")
                .Append(Text(Str(c, "kernel"))).Append(", ").Append(Text(Str(c, "model"))).Append("</p>\n");
            var rows = new List<IReadOnlyList<string>>();
            foreach (var p in c.GetProperty("paths").EnumerateArray())
            {
                string verdict = Str(p, "verdict");
                string cls = verdict == "safe" ? "good" : "bad";
                string minimal = p.TryGetProperty("minimal", out var m) && m.ValueKind == JsonValueKind.Object
                    ? "<details><summary>" + Text(StrOrNull(m, "kind") ?? "minimal case") + "</summary><pre>" + Text(StrOrNull(m, "scenario") ?? "") + "</pre></details>"
                    : p.TryGetProperty("reason", out var why) && why.ValueKind == JsonValueKind.String ? Text(why.GetString()) : "";
                rows.Add([Text(Str(p, "path")), Text(Str(p, "hugepageSize")), "<span class=\"" + cls + "\">" + Text(verdict) + "</span>", minimal]);
            }
            b.Append(Table(["path", "huge page", "verdict", "minimal case / why"], rows));
        }
        return new ReportSection("audit", "Audit: kernel configs", b.ToString());
    }

    /// <summary>
    /// Pictures of where the failing cases' pages[] entries landed, each an SVG with its caption;
    /// <paramref name="failing"/> is how many failing groups there were (drawn or not).
    /// </summary>
    public static ReportSection Explain(IReadOnlyList<(string Caption, string Svg)> pictures, int failing)
    {
        ArgumentNullException.ThrowIfNull(pictures);
        var b = new StringBuilder();
        if (failing == 0) b.Append("<p class=\"good\">No failing case to explain.</p>");
        else if (pictures.Count < failing)
            b.Append("<p>").Append(Text(string.Create(CultureInfo.InvariantCulture,
                $"{failing} failing group{(failing == 1 ? "" : "s")}, {pictures.Count} drawn (at most --explain-max; a case that cannot be drawn is named on stderr)."))).Append("</p>");
        foreach (var (caption, svg) in pictures)
            b.Append("<figure>").Append(Image("image/svg+xml", Encoding.UTF8.GetBytes(svg), caption)).Append("<figcaption>")
                .Append(Text(caption)).Append("</figcaption></figure>\n");
        return new ReportSection("explain", "Explain: where the failing cases' pointers land", b.ToString());
    }

    private static string Str(JsonElement e, string name) => StrOrNull(e, name) ?? "";

    private static string? StrOrNull(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        } : null;

    private static double Dbl(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;
}

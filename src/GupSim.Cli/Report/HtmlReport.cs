using System.Globalization;
using System.Net;
using System.Text;

namespace GupSim.Cli.Report;

/// <summary>One part of the report: an id for its anchor, a heading, and its body (already escaped HTML).</summary>
public sealed record ReportSection(string Id, string Title, string BodyHtml);

/// <summary>
/// The HTML page `gupsim report` writes (docs/cli.md "report"): one self-contained file — styles inline, every image a
/// <c>data:</c> URI, no script, no link that leaves the file (every <c>href</c> is a <c>#fragment</c> of the page
/// itself). The markup is also well-formed XML (polyglot XHTML), so a strict parser can read it back.
/// </summary>
public static class HtmlReport
{
    private const string Style = """
        body { font-family: "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 80em; color: #1b1b1b; line-height: 1.4; }
        h1 { font-size: 1.6em; margin-bottom: 0.2em; }
        h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
        h3 { margin-bottom: 0.3em; }
        table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.9em; }
        th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
        th { background: #f0f0f0; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        pre, code { font-family: "DejaVu Sans Mono", monospace; font-size: 0.85em; }
        pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.5em; overflow-x: auto; }
        .bad { color: #b00020; font-weight: bold; }
        .good { color: #1b6e20; }
        .muted { color: #666; }
        img { max-width: 100%; border: 1px solid #ddd; }
        nav ul { columns: 2; }
        """;

    /// <summary>The whole page: title, a line of provenance, a table of contents, then each section in order.</summary>
    public static string Render(string title, string provenance, IReadOnlyList<ReportSection> sections)
    {
        ArgumentNullException.ThrowIfNull(sections);
        var b = new StringBuilder();
        b.Append("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n");
        b.Append("<title>").Append(Text(title)).Append("</title>\n<style>").Append(Style).Append("</style>\n</head>\n<body>\n");
        b.Append("<h1>").Append(Text(title)).Append("</h1>\n<p class=\"muted\">").Append(Text(provenance)).Append("</p>\n");
        b.Append("<nav><ul>\n");
        foreach (var s in sections) b.Append("<li><a href=\"#").Append(Text(s.Id)).Append("\">").Append(Text(s.Title)).Append("</a></li>\n");
        b.Append("</ul></nav>\n");
        foreach (var s in sections)
        {
            b.Append("<section id=\"").Append(Text(s.Id)).Append("\">\n<h2>").Append(Text(s.Title)).Append("</h2>\n");
            b.Append(s.BodyHtml).Append("\n</section>\n");
        }
        b.Append("</body>\n</html>\n");
        return b.ToString();
    }

    /// <summary>Text content or an attribute value, escaped for HTML and XML alike (quotes included).</summary>
    public static string Text(string? s) => WebUtility.HtmlEncode(s ?? "");

    /// <summary>An image embedded as a <c>data:</c> URI (<paramref name="mediaType"/> e.g. image/svg+xml or image/png).</summary>
    public static string Image(string mediaType, ReadOnlySpan<byte> bytes, string alt) =>
        "<img src=\"data:" + mediaType + ";base64," + Convert.ToBase64String(bytes) + "\" alt=\"" + Text(alt) + "\" />";

    /// <summary>A table: a header row, then rows whose cells are already HTML (use <see cref="Text"/>); numeric cells are right-aligned.</summary>
    public static string Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows, ISet<int>? numericColumns = null)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(rows);
        var b = new StringBuilder("<table>\n<thead><tr>");
        foreach (var h in header) b.Append("<th>").Append(Text(h)).Append("</th>");
        b.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in rows)
        {
            b.Append("<tr>");
            for (int i = 0; i < row.Count; i++)
                b.Append(numericColumns is not null && numericColumns.Contains(i) ? "<td class=\"num\">" : "<td>").Append(row[i]).Append("</td>");
            b.Append("</tr>\n");
        }
        b.Append("</tbody>\n</table>");
        return b.ToString();
    }

    /// <summary>A number in the invariant culture, with the given format.</summary>
    public static string Num(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>A whole number in the invariant culture.</summary>
    public static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);
}

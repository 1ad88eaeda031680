using System.Globalization;
using System.Text;

namespace GupSim.Explain;

/// <summary>
/// The explain picture as SVG, written as text (XML: no library). Each pages[] mark is a <c>rect</c> with
/// <c>data-class="right|wrong|other|unmapped"</c>, <c>data-count="N"</c> and <c>data-first="I"</c>; nothing else carries
/// <c>data-count</c>, so the counts add up to the call's entries.
/// </summary>
public static class ExplainSvg
{
    /// <summary>The SVG of <paramref name="scene"/>, <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    public static string Render(ExplainScene scene, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(scene);
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(ci, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n");
        sb.Append("<title>").Append(Esc(scene.Title)).Append("</title>\n");
        foreach (var shape in ExplainDrawing.Layout(scene, width, height))
        {
            switch (shape)
            {
                case ExplainRect r:
                    sb.Append(ci, $"<rect x=\"{F(r.X)}\" y=\"{F(r.Y)}\" width=\"{F(r.W)}\" height=\"{F(r.H)}\" fill=\"{r.Fill}\"");
                    if (r.Stroke is not null) sb.Append(ci, $" stroke=\"{r.Stroke}\" stroke-width=\"{F(r.StrokeWidth)}\"");
                    if (r.Opacity < 1) sb.Append(ci, $" fill-opacity=\"{F(r.Opacity)}\"");
                    if (r.Mark is { } k)
                        sb.Append(ci, $" class=\"mark\" data-class=\"{ExplainClasses.Name(k.Class)}\" data-count=\"{k.Count}\" data-first=\"{k.FirstIndex}\"");
                    Close(sb, "rect", r.Tooltip);
                    break;
                case ExplainLine l:
                    sb.Append(ci, $"<line x1=\"{F(l.X1)}\" y1=\"{F(l.Y1)}\" x2=\"{F(l.X2)}\" y2=\"{F(l.Y2)}\" stroke=\"{l.Stroke}\" stroke-width=\"{F(l.Width)}\"");
                    if (l.Dashed) sb.Append(" stroke-dasharray=\"4 3\"");
                    sb.Append("/>\n");
                    break;
                case ExplainPolygon p:
                    sb.Append("<polygon points=\"");
                    for (int i = 0; i < p.Points.Count; i++)
                        sb.Append(ci, $"{(i > 0 ? " " : "")}{F(p.Points[i].X)},{F(p.Points[i].Y)}");
                    sb.Append(ci, $"\" fill=\"{p.Fill}\" fill-opacity=\"{F(p.Opacity)}\" class=\"landing\"");
                    Close(sb, "polygon", p.Tooltip);
                    break;
                case ExplainLabel t:
                    sb.Append(ci, $"<text x=\"{F(t.X)}\" y=\"{F(t.Y)}\" font-size=\"{F(t.Size)}\" fill=\"{t.Fill}\"");
                    if (t.Anchor != "start") sb.Append(ci, $" text-anchor=\"{t.Anchor}\"");
                    if (t.Bold) sb.Append(" font-weight=\"bold\"");
                    sb.Append('>').Append(Esc(t.Text)).Append("</text>\n");
                    break;
            }
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static void Close(StringBuilder sb, string element, string? tooltip)
    {
        if (tooltip is null)
        {
            sb.Append("/>\n");
            return;
        }
        sb.Append("><title>").Append(Esc(tooltip)).Append("</title></").Append(element).Append(">\n");
    }

    private static string F(double v) => Math.Round(v, 2).ToString("0.##", CultureInfo.InvariantCulture);

    private static string Esc(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal);
}

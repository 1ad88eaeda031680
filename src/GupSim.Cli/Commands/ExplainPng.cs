using GupSim.Explain;
using SkiaSharp;

namespace GupSim.Cli.Commands;

/// <summary>
/// The explain picture as PNG: the same shapes as the SVG (<see cref="ExplainDrawing.Layout"/>), drawn with SkiaSharp
/// and the shipped DejaVu Sans (Fonts/DejaVuSans.ttf next to the executable), so it renders without system fonts.
/// </summary>
public static class ExplainPng
{
    /// <summary>Encodes <paramref name="scene"/> as a PNG of <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    public static byte[] Render(ExplainScene scene, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(scene);
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using (var canvas = new SKCanvas(bitmap))
        {
            string font = Path.Combine(AppContext.BaseDirectory, "Fonts", "DejaVuSans.ttf");
            using var typeface = File.Exists(font) ? SKTypeface.FromFile(font) : SKTypeface.Default;
            foreach (var shape in ExplainDrawing.Layout(scene, width, height))
                Draw(canvas, shape, typeface);
            canvas.Flush();
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static void Draw(SKCanvas canvas, ExplainShape shape, SKTypeface typeface)
    {
        switch (shape)
        {
            case ExplainRect r:
                {
                    var rect = SKRect.Create((float)r.X, (float)r.Y, (float)r.W, (float)r.H);
                    using var fill = new SKPaint { Color = Colour(r.Fill, r.Opacity), Style = SKPaintStyle.Fill, IsAntialias = true };
                    canvas.DrawRect(rect, fill);
                    if (r.Stroke is not null)
                    {
                        using var stroke = new SKPaint { Color = Colour(r.Stroke, 1), Style = SKPaintStyle.Stroke, StrokeWidth = (float)r.StrokeWidth, IsAntialias = true };
                        canvas.DrawRect(rect, stroke);
                    }
                    break;
                }
            case ExplainLine l:
                {
                    using var p = new SKPaint { Color = Colour(l.Stroke, 1), Style = SKPaintStyle.Stroke, StrokeWidth = (float)l.Width, IsAntialias = true };
                    if (l.Dashed) p.PathEffect = SKPathEffect.CreateDash([4, 3], 0);
                    canvas.DrawLine((float)l.X1, (float)l.Y1, (float)l.X2, (float)l.Y2, p);
                    break;
                }
            case ExplainPolygon g:
                {
                    using var path = new SKPath();
                    path.MoveTo((float)g.Points[0].X, (float)g.Points[0].Y);
                    for (int i = 1; i < g.Points.Count; i++) path.LineTo((float)g.Points[i].X, (float)g.Points[i].Y);
                    path.Close();
                    using var p = new SKPaint { Color = Colour(g.Fill, g.Opacity), Style = SKPaintStyle.Fill, IsAntialias = true };
                    canvas.DrawPath(path, p);
                    break;
                }
            case ExplainLabel t:
                {
                    using var f = new SKFont(typeface, (float)t.Size) { Embolden = t.Bold };
                    using var p = new SKPaint { Color = Colour(t.Fill, 1), IsAntialias = true };
                    var align = t.Anchor switch { "middle" => SKTextAlign.Center, "end" => SKTextAlign.Right, _ => SKTextAlign.Left };
                    canvas.DrawText(t.Text, (float)t.X, (float)t.Y, align, f, p);
                    break;
                }
        }
    }

    private static SKColor Colour(string hex, double opacity)
    {
        var c = SKColor.Parse(hex);
        return c.WithAlpha((byte)Math.Round(255 * Math.Clamp(opacity, 0, 1)));
    }
}

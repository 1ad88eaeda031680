using GupSim.Core;
using GupSim.Selftests;
using ScottPlot;

namespace GupSim.Cli.Commands;

/// <summary>Draws a <see cref="GupBenchResult"/> with ScottPlot: median get and put per code, the fill limit as a line.</summary>
public static class BenchPlot
{
    private const string FontName = "DejaVu Sans";

    private const string Advice = "--plot wants a .png or .svg file in a folder you can write to";

    /// <summary>The extension of a --plot file, and that the file can be written, checked before the benchmark runs rather than after it.</summary>
    /// <exception cref="GupSimException">Thrown for an extension other than .png or .svg, a folder, or a path that cannot be written (the errno's text).</exception>
    public static string CheckFile(string file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (Directory.Exists(file)) throw HostFile.Error("--plot " + file, Errno.EISDIR, Advice);
        string ext = Path.GetExtension(file).ToLowerInvariant();
        if (ext is not (".png" or ".svg")) throw new GupSimException($"--plot {file}: give a .png or .svg file");
        HostFile.CheckWritable(file, Advice, "--plot " + file);
        return ext;
    }

    /// <summary>Saves the plot to <paramref name="file"/> (.png or .svg).</summary>
    /// <exception cref="GupSimException">Thrown for another extension or an unwritable file.</exception>
    public static void Save(GupBenchResult result, string machine, string file)
    {
        string ext = CheckFile(file);
        string font = Path.Combine(AppContext.BaseDirectory, "Fonts", "DejaVuSans.ttf");
        if (File.Exists(font)) Fonts.AddFontFile(FontName, font);

        var plot = new Plot();
        plot.Font.Set(FontName);
        var bars = new List<Bar>();
        var ticks = new List<Tick>();
        for (int i = 0; i < result.Rows.Count; i++)
        {
            var row = result.Rows[i];
            double x = i * 3;
            bars.Add(new Bar { Position = x, Value = row.GetMedianUs / 1000, FillColor = Colors.SteelBlue, Label = "" });
            bars.Add(new Bar { Position = x + 1, Value = row.PutMedianUs / 1000, FillColor = Colors.Orange, Label = "" });
            ticks.Add(new Tick(x + 0.5, row.Name));
        }
        plot.Add.Bars(bars);
        var fill = plot.Add.HorizontalLine(result.FillMedianUs / 1000);
        fill.LineColor = Colors.Black;
        fill.LinePattern = LinePattern.Dashed;
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "get (median)", FillColor = Colors.SteelBlue });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "put (median)", FillColor = Colors.Orange });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "fill limit", LineColor = Colors.Black, LinePattern = LinePattern.Dashed });
        plot.ShowLegend();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ticks]);
        plot.Axes.Bottom.TickLabelStyle.Rotation = -30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        plot.Axes.Bottom.MinimumSize = 90;
        plot.Axes.Margins(bottom: 0);
        plot.YLabel("ms per ioctl");
        plot.Title($"gup_test {result.Workload}\n{machine}, {result.Pages} pages, {result.Rounds} rounds");
        try
        {
            if (ext == ".png") plot.SavePng(file, 1000, 600);
            else plot.SaveSvg(file, 1000, 600);
        }
        catch (Exception e) when (HostFile.IsFileError(e))
        {
            throw HostFile.Error("--plot " + file, e, Advice);
        }
    }
}

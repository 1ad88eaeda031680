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

    /// <summary>
    /// Saves the plot to <paramref name="file"/> (.png or .svg). The value axis is logarithmic (ScottPlot 5 has no
    /// log axis: the bars are drawn at log10(ms) from a whole decade below the fastest, with decade ticks labelled in
    /// ms and log-spaced minor ticks), so v5.11's hundreds of milliseconds do not squash the rest; the legend sits
    /// outside the data area, above it, where it cannot cover a bar.
    /// </summary>
    /// <exception cref="GupSimException">Thrown for another extension or an unwritable file.</exception>
    public static void Save(GupBenchResult result, string machine, string file)
    {
        string ext = CheckFile(file);
        var plot = Build(result, machine);
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

    /// <summary>The plot <see cref="Save"/> writes: bars at log10(ms) − floor, floor = ⌊log10(fastest ms) − 0.2⌋.</summary>
    internal static Plot Build(GupBenchResult result, string machine)
    {
        string font = Path.Combine(AppContext.BaseDirectory, "Fonts", "DejaVuSans.ttf");
        if (File.Exists(font)) Fonts.AddFontFile(FontName, font);

        double fillMs = result.FillMedianUs / 1000;
        double min = fillMs > 0 ? fillMs : double.MaxValue, max = fillMs;
        foreach (var row in result.Rows)
            foreach (double us in (ReadOnlySpan<double>)[row.GetMedianUs, row.PutMedianUs])
            {
                double ms = us / 1000;
                if (ms > 0) min = Math.Min(min, ms);
                max = Math.Max(max, ms);
            }
        if (min == double.MaxValue) min = max = 1;
        // Plotted y is log10(ms) − floor: a whole decade below the fastest value is 0, so every bar grows upwards
        // from 0 (ScottPlot puts a bar's label below a bar with a negative value).
        double floor = Math.Floor(Math.Log10(min) - 0.2); // at least 0.2 decade below the fastest value
        double top = Math.Log10(max) - floor + 0.25; // room above the tallest bar for its label
        double Log(double ms) => ms > 0 ? Math.Max(Math.Log10(ms) - floor, 0) : 0;

        var plot = new Plot();
        plot.Font.Set(FontName);
        var bars = new List<Bar>();
        var ticks = new List<Tick>();
        for (int i = 0; i < result.Rows.Count; i++)
        {
            var row = result.Rows[i];
            double x = i * 3;
            bars.Add(MsBar(x, row.GetMedianUs / 1000, Colors.SteelBlue));
            bars.Add(MsBar(x + 1, row.PutMedianUs / 1000, Colors.Orange));
            ticks.Add(new Tick(x + 0.5, row.Name));
        }
        plot.Add.Bars(bars);
        var fill = plot.Add.HorizontalLine(Log(fillMs));
        fill.LineColor = Colors.Black;
        fill.LinePattern = LinePattern.Dashed;
        fill.LineWidth = 1.5f;

        var legend = new List<LegendItem>
        {
            new() { LabelText = "get (median)", FillColor = Colors.SteelBlue },
            new() { LabelText = "put (median)", FillColor = Colors.Orange },
            new() { LabelText = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"fill limit ({fillMs:0.##} ms)"), LineColor = Colors.Black, LineWidth = 1.5f, LinePattern = LinePattern.Dashed },
        };
        plot.Legend.ManualItems.AddRange(legend);
        plot.ShowLegend(Edge.Top);

        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ticks]);
        plot.Axes.Bottom.TickLabelStyle.Rotation = -30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.UpperRight;
        plot.Axes.Bottom.MinimumSize = 90;
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            IntegerTicksOnly = true, // one major tick per decade
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            LabelFormatter = y => Math.Pow(10, y + floor).ToString("G4", System.Globalization.CultureInfo.InvariantCulture),
        };
        plot.Grid.MajorLineColor = Colors.Black.WithOpacity(.15);
        plot.Grid.MinorLineColor = Colors.Black.WithOpacity(.05);
        plot.Grid.MinorLineWidth = 1;
        plot.Axes.SetLimitsY(0, top);
        plot.Axes.SetLimitsX(-1, result.Rows.Count * 3 - 1);
        plot.YLabel("ms per ioctl (log scale)");
        plot.Title($"gup_test {result.Workload}\n{machine}, {result.Pages} pages, {result.Rounds} round{(result.Rounds == 1 ? "" : "s")}");
        return plot;

        Bar MsBar(double x, double ms, Color color) => new()
        {
            Position = x,
            ValueBase = 0,
            Value = Log(ms),
            FillColor = color,
            Label = ms >= 10 ? ms.ToString("0", System.Globalization.CultureInfo.InvariantCulture) : ms.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture),
            LabelOnTop = true,
        };
    }
}

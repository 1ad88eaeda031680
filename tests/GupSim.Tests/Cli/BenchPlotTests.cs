using System.Buffers.Binary;
using System.Globalization;
using GupSim.Cli;
using GupSim.Cli.Commands;
using GupSim.Gup;
using GupSim.Selftests;
using ScottPlot;

namespace GupSim.Tests.Cli;

/// <summary>
/// `gupsim bench --plot`: the log value axis, the legend outside the data area, and the line saying where the file
/// went. The plot is built from a result with fixed times, so every position is known: the fastest value is the
/// 1.5 ms fill limit, the floor ⌊log10(1.5) − 0.2⌋ = −1 (0.1 ms), and a bar of t ms is drawn at log10(t) + 1.
/// </summary>
public sealed class BenchPlotTests
{
    private static readonly GupCounterValues NoCounters = new(0, 0, 0, 0, 0, 0, 0);

    private static GupBenchRow Row(string name, double getUs, double putUs) =>
        new(name, getUs, getUs, putUs, putUs, 1, 1, 1, 4194304, true, null, NoCounters);

    private static GupBenchResult Result() => new(
        "-f /mnt/huge/file -m 16384 -r 1 -L -S -n 512 -w", GupTestCmd.PinLongtermBenchmark, 4194304, 5, 1500, 1500,
        [Row("v5.11", 382000, 40000), Row("merged", 3100, 41000)], [], 0);

    [Fact]
    public void Bars_AreLog10OfMilliseconds_AboveTheDecadeFloor()
    {
        var plot = BenchPlot.Build(Result(), "x86_64 v5.12 sparsemem-vmemmap");
        var bars = plot.GetPlottables<ScottPlot.Plottables.BarPlot>().Single().Bars;
        // Positions: row i at 3i (get) and 3i + 1 (put).
        Assert.Equal([0.0, 1.0, 3.0, 4.0], bars.Select(b => b.Position).ToArray());
        double[] expected = [Math.Log10(382) + 1, Math.Log10(40) + 1, Math.Log10(3.1) + 1, Math.Log10(41) + 1];
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(expected[i], bars[i].Value, 12);
            Assert.Equal(0.0, bars[i].ValueBase);
        }
        Assert.Equal(["382", "40", "3.1", "41"], bars.Select(b => b.Label).ToArray());
        var fill = plot.GetPlottables<ScottPlot.Plottables.HorizontalLine>().Single();
        Assert.Equal(Math.Log10(1.5) + 1, fill.Y, 12);
    }

    [Fact]
    public void ValueAxis_HasOneLabelledTickPerDecade()
    {
        var plot = BenchPlot.Build(Result(), "x86_64 v5.12 sparsemem-vmemmap");
        plot.RenderInMemory(1000, 600);
        var limits = plot.Axes.GetLimits();
        Assert.Equal(0.0, limits.Bottom, 12);
        Assert.Equal(Math.Log10(382) + 1 + 0.25, limits.Top, 12);
        var major = plot.Axes.Left.TickGenerator.Ticks.Where(t => t.IsMajor).OrderBy(t => t.Position).ToArray();
        Assert.Equal([0.0, 1.0, 2.0, 3.0], major.Select(t => t.Position).ToArray());
        Assert.Equal(["0.1", "1", "10", "100"], major.Select(t => t.Label).ToArray());
        // Minor ticks between 0.1 and 1 ms sit at log10(k) for k = 2…9 (log-spaced), not evenly.
        var minor = plot.Axes.Left.TickGenerator.Ticks.Where(t => !t.IsMajor && t.Position > 0 && t.Position < 1).Select(t => t.Position).OrderBy(p => p).ToArray();
        Assert.NotEmpty(minor);
        Assert.All(minor, p => Assert.Contains(Enumerable.Range(2, 8), k => Math.Abs(Math.Log10(k) - p) < 1e-9));
    }

    [Fact]
    public void Legend_IsAPanelAboveTheData_NotInsideIt()
    {
        var plot = BenchPlot.Build(Result(), "x86_64 v5.12 sparsemem-vmemmap");
        Assert.False(plot.Legend.IsVisible);
        var panel = Assert.Single(plot.Axes.GetPanels().OfType<ScottPlot.Panels.LegendPanel>());
        Assert.Equal(Edge.Top, panel.Edge);
        Assert.Equal(["get (median)", "put (median)", "fill limit (1.5 ms)"], plot.Legend.ManualItems.Select(i => i.LabelText).ToArray());
    }

    [Fact]
    public void Bench_SaysWhereItWroteThePlot()
    {
        string file = Path.Combine(Path.GetTempPath(), "gupsim-plot-" + Guid.NewGuid().ToString("N") + ".png");
        var o = new StringWriter(CultureInfo.InvariantCulture);
        var e = new StringWriter(CultureInfo.InvariantCulture);
        int rc = Program.Run(["bench", "--strategies", "page++", "--rounds", "1", "--plot", file, "-f", "/mnt/huge/file", "-m", "1024", "-a", "-S", "-n", "512", "-w"], o, e);
        try
        {
            Assert.True(rc == 0, o.ToString() + e.ToString());
            Assert.Equal($"gupsim: wrote plot to {file}", e.ToString().TrimEnd('\n').Split('\n')[^1]);
            byte[] png = File.ReadAllBytes(file);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a], png[..8]);
            Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
            Assert.Equal(1000, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
            Assert.Equal(600, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        }
        finally
        {
            File.Delete(file);
        }
    }
}

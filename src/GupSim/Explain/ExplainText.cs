using System.Globalization;
using System.Text;

namespace GupSim.Explain;

/// <summary>
/// The explain picture for a terminal: Unicode block rows for the physical band, the kernel-virtual band, where the
/// runs landed and pages[] itself, then the runs and memmaps in words. ANSI colour only when asked (the CLI asks when
/// stdout is a terminal and NO_COLOR is unset); without it the output has no escape codes.
/// </summary>
public static class ExplainText
{
    /// <summary>The glyph of a class (distinct without colour).</summary>
    public static char Glyph(ExplainClass c) => c switch
    {
        ExplainClass.Right => '█',
        ExplainClass.Wrong => '▓',
        ExplainClass.Other => '▒',
        _ => '░',
    };

    /// <summary>The "whose" row's mark: a pfn whose struct page a wrong entry is (not a glyph of the physical row).</summary>
    private const char WhoseGlyph = '×';

    /// <summary>The physical row's legend: the kinds it draws, in a fixed order (a hole only where one shows).</summary>
    private static string PhysicalLegend(char[] phys)
    {
        var parts = new List<string>(3) { "█ present at boot" };
        if (Array.IndexOf(phys, '▓') >= 0) parts.Add("▓ hot-plugged");
        if (Array.IndexOf(phys, '·') >= 0) parts.Add("· hole");
        return string.Join(", ", parts);
    }

    private static string Ansi(ExplainClass c) => c switch
    {
        ExplainClass.Right => "32",
        ExplainClass.Wrong => "31",
        ExplainClass.Other => "33",
        _ => "35",
    };

    /// <summary>Writes <paramref name="scene"/> to <paramref name="o"/> in <paramref name="width"/> columns.</summary>
    public static void Write(ExplainScene scene, TextWriter o, bool colour, int width = 100)
    {
        ArgumentNullException.ThrowIfNull(scene);
        ArgumentNullException.ThrowIfNull(o);
        var ci = CultureInfo.InvariantCulture;
        int cols = Math.Max(20, width - 13);
        string Paint(string text, string code) => colour ? $"\u001b[{code}m{text}\u001b[0m" : text;
        o.WriteLine(Paint($"{scene.Machine}, {scene.Kernel}, strategy {scene.Strategy}", "1"));
        o.WriteLine(Paint($"{scene.Call}: {scene.Verdict}", scene.Wrong == 0 ? "1;32" : "1;31"));
        o.WriteLine();

        // Physical band.
        var phys = new char[cols];
        var physCode = new string[cols];
        double end = Math.Max(1, scene.PhysEnd);
        for (int x = 0; x < cols; x++)
        {
            ulong a = (ulong)(x / (double)cols * end);
            phys[x] = '·';
            physCode[x] = "90";
            foreach (var r in scene.Physical)
                if (a >= r.Start && a < r.End)
                {
                    (phys[x], physCode[x]) = r.Kind switch { "present" => ('█', "34"), "hotplug" => ('▓', "33"), _ => ('·', "90") };
                    break;
                }
        }
        var hp = new char[cols];
        Array.Fill(hp, ' ');
        foreach (var h in scene.HugePageSpans)
        {
            int x0 = (int)(h.Start / end * cols), x1 = Math.Max(x0 + 1, (int)Math.Ceiling(h.End / end * cols));
            for (int x = x0; x < Math.Min(cols, x1); x++) hp[x] = '^';
        }
        var whose = new char[cols];
        Array.Fill(whose, ' ');
        foreach (var k in scene.Marks)
        {
            if (k.Class != ExplainClass.Wrong) continue;
            foreach (var l in k.Landings)
                if (l.FirstPfn is ulong p0 && l.LastPfn is ulong p1)
                {
                    double lo = Math.Min(p0, p1) * (double)(1UL << scene.PageShift), hi = (Math.Max(p0, p1) + 1) * (double)(1UL << scene.PageShift);
                    int x0 = Math.Clamp((int)(lo / end * cols), 0, cols - 1), x1 = Math.Clamp(Math.Max(x0 + 1, (int)Math.Ceiling(hi / end * cols)), 1, cols);
                    for (int x = x0; x < x1; x++) whose[x] = WhoseGlyph;
                }
        }
        o.WriteLine("physical   |" + Row(phys, physCode, colour) + "|");
        if (Array.IndexOf(whose, WhoseGlyph) >= 0)
            o.WriteLine("whose      |" + Paint(new string(whose), Ansi(ExplainClass.Wrong)) + "| pfns whose struct pages the wrong entries are");
        o.WriteLine("huge page  |" + Paint(new string(hp), "1;36") + "| " + HugeText(scene));
        o.WriteLine(string.Create(ci, $"           0x0 ... 0x{scene.PhysEnd:x}   ({PhysicalLegend(phys)})"));
        o.WriteLine();

        // Kernel virtual band: clusters side by side, a '≈' between.
        var axis = ExplainDrawing.VaAxis.Of(scene, 0, cols);
        var va = new char[cols];
        var vaCode = new string[cols];
        var land = new char[cols];
        var landCode = new string[cols];
        var landRank = new int[cols];
        Array.Fill(va, ' ');
        Array.Fill(vaCode, "0");
        Array.Fill(land, ' ');
        Array.Fill(landCode, "0");
        for (int i = 0; i < scene.Va.Count; i++)
        {
            var c = scene.Va[i];
            var (x0, x1) = axis.Span(i);
            foreach (var g in c.Gaps) Fill(va, vaCode, axis.X(i, g.Start), axis.X(i, g.End), g.What.Contains("not mapped", StringComparison.Ordinal) || g.What.Contains("hole", StringComparison.Ordinal) ? ' ' : '·', "90");
            foreach (var mm in c.Memmaps) Fill(va, vaCode, axis.X(i, Math.Max(mm.VaStart, c.Start)), axis.X(i, Math.Min(mm.VaEnd, c.End)), '█', mm.Placement == "hotplug" ? "33" : "34");
            if (i > 0)
            {
                int bx = (int)Math.Floor(x0) - 1;
                if (bx >= 0 && bx < cols) (va[bx], vaCode[bx]) = ('≈', "1");
            }
        }
        foreach (var k in scene.Marks)
            foreach (var l in k.Landings)
            {
                if (!axis.TryX(l.FirstAddress, out double a0) || !axis.TryX(l.LastAddress + (ulong)scene.StructPageSize, out double a1)) continue;
                int x0 = Math.Clamp((int)a0, 0, cols - 1), x1 = Math.Clamp(Math.Max(x0 + 1, (int)Math.Ceiling(a1)), 1, cols);
                for (int x = x0; x < x1; x++)
                    if (Rank(k.Class) > landRank[x]) (land[x], landCode[x], landRank[x]) = (Glyph(k.Class), Ansi(k.Class), Rank(k.Class));
            }
        var strays = new char[cols];
        Array.Fill(strays, ' ');
        foreach (var st in scene.Strays)
            if (axis.TryX(st.Start, out double sx0) && axis.TryX(st.End, out double sx1))
                for (int x = Math.Clamp((int)sx0, 0, cols - 1); x < Math.Clamp(Math.Max((int)sx0 + 1, (int)Math.Ceiling(sx1)), 1, cols); x++) strays[x] = '!';
        if (scene.StrayCounts.N > 0) o.WriteLine("stray      |" + Paint(new string(strays), "1") + "|");
        o.WriteLine("kernel VA  |" + Row(va, vaCode, colour) + "|");
        var own = new char[cols];
        Array.Fill(own, ' ');
        for (int i = 0; i < scene.Va.Count; i++)
            foreach (var mm in scene.Va[i].Memmaps)
                if (mm.OfHugePage)
                {
                    var c = scene.Va[i];
                    double a = axis.X(i, Math.Max(mm.VaStart, c.Start)), b = axis.X(i, Math.Min(mm.VaEnd, c.End));
                    for (int x = Math.Clamp((int)a, 0, cols - 1); x < Math.Clamp(Math.Max((int)a + 1, (int)Math.Ceiling(b)), 1, cols); x++) own[x] = '^';
                }
        o.WriteLine("its memmap |" + Paint(new string(own), "1;36") + "| the huge page's struct pages (where every entry should point)");
        o.WriteLine("landed     |" + Row(land, landCode, colour) + "|");

        // pages[]: each column shows the least right class among its entries, so one wrong entry shows.
        var pg = new char[cols];
        var pgCode = new string[cols];
        var pgRank = new int[cols];
        Array.Fill(pg, ' ');
        Array.Fill(pgCode, "0");
        double n = Math.Max(1, scene.Entries);
        foreach (var k in scene.Marks)
        {
            int x0 = Math.Clamp((int)(k.FirstIndex / n * cols), 0, cols - 1);
            int x1 = Math.Clamp(Math.Max(x0 + 1, (int)Math.Ceiling((k.FirstIndex + k.Count) / n * cols)), 1, cols);
            for (int x = x0; x < x1; x++)
                if (Rank(k.Class) > pgRank[x]) (pg[x], pgCode[x], pgRank[x]) = (Glyph(k.Class), Ansi(k.Class), Rank(k.Class));
        }
        o.WriteLine("pages[]    |" + Row(pg, pgCode, colour) + "|");
        o.WriteLine(string.Create(ci, $"           0 ... {scene.Entries - 1}"));
        o.WriteLine();
        var legend = new StringBuilder("legend     ");
        foreach (var c in new[] { ExplainClass.Right, ExplainClass.Wrong, ExplainClass.Other, ExplainClass.Unmapped })
            legend.Append(Paint(Glyph(c).ToString(), Ansi(c))).Append(ci, $" {ExplainClasses.Name(c)} {scene.CountOf(c)}   ");
        o.WriteLine(legend.ToString().TrimEnd());
        o.WriteLine("           kernel VA: █ memmap, · other kernel data, blank not mapped, ≈ break between clusters");
        o.WriteLine();

        o.WriteLine(string.Create(ci, $"runs ({scene.Marks.Count}):"));
        int shown = 0;
        foreach (var k in scene.Marks)
        {
            if (shown++ == 32)
            {
                o.WriteLine(string.Create(ci, $"  ... {scene.Marks.Count - 32} more"));
                break;
            }
            o.WriteLine("  " + Paint(ExplainDrawing.MarkText(k), Ansi(k.Class)));
            if (k.Class != ExplainClass.Right && k.ExpectedFirstPfn is ulong e)
                o.WriteLine(string.Create(ci, $"      expected the struct page of pfn 0x{e:x} onwards"));
        }
        o.WriteLine();
        for (int i = 0; i < scene.Va.Count; i++)
        {
            var c = scene.Va[i];
            o.WriteLine(string.Create(ci, $"kernel VA cluster {i + 1}: 0x{c.Start:x}-0x{c.End - 1:x}"));
            var items = new List<(ulong Start, string Text)>();
            foreach (var mm in c.Memmaps)
                items.Add((mm.VaStart, string.Create(ci, $"  0x{mm.VaStart:x}-0x{mm.VaEnd - 1:x}  memmap of pfn 0x{mm.FirstPfn:x}-0x{mm.FirstPfn + mm.NrPages - 1:x} ({mm.Placement}): {mm.PlacedBy}{(mm.OfHugePage ? "  <- the huge page's" : "")}")));
            foreach (var g in c.Gaps)
                items.Add((g.Start, string.Create(ci, $"  0x{g.Start:x}-0x{g.End - 1:x}  between: {g.What}")));
            items.Sort((a, b) => a.Start.CompareTo(b.Start));
            int lines = 0;
            foreach (var it in items)
            {
                if (lines++ == 24)
                {
                    o.WriteLine(string.Create(ci, $"  ... {items.Count - 24} more"));
                    break;
                }
                o.WriteLine(it.Text);
            }
        }
        if (scene.StrayCounts.N > 0 || scene.Strays.Count > 0)
        {
            o.WriteLine(scene.StrayCounts.ToLine());
            if (scene.Strays.Count > 0)
            {
                int k = 0;
                foreach (var st in scene.Strays)
                {
                    if (k++ == 16)
                    {
                        o.WriteLine(string.Create(ci, $"  ... {scene.Strays.Count - 16} more ranges"));
                        break;
                    }
                    o.WriteLine(string.Create(ci, $"  {st.Count} at 0x{st.Start:x}-0x{st.End - 1:x}: {StrayTargetText(st.Target)}"));
                }
            }
        }
        if (scene.Oops is not null) o.WriteLine("oops: " + scene.Oops);
    }

    /// <summary>A stray-write target in the scenario line's words.</summary>
    public static string StrayTargetText(Memory.StrayTarget t) => t switch
    {
        Memory.StrayTarget.InUseStructPage => "struct pages in use",
        Memory.StrayTarget.FreeStructPage => "free struct pages",
        Memory.StrayTarget.PageTable => "page tables",
        Memory.StrayTarget.Slab => "slab",
        Memory.StrayTarget.OtherKernelData => "other kernel data",
        _ => "unmapped",
    };

    private static string HugeText(ExplainScene scene)
    {
        if (scene.HugePageSpans.Count == 0) return "(nothing mapped)";
        var h = scene.HugePageSpans[0];
        string more = scene.HugePageSpans.Count > 1 ? $" +{scene.HugePageSpans.Count - 1} more spans" : "";
        return $"0x{h.Start:x}-0x{h.End - 1:x} ({Core.ByteSize.Format(scene.HugePageBytes)} pages){more}";
    }

    private static int Rank(ExplainClass c) => c switch
    {
        ExplainClass.Right => 1,
        ExplainClass.Unmapped => 2,
        ExplainClass.Other => 3,
        _ => 4,
    };

    private static void Fill(char[] row, string[] code, double a, double b, char ch, string c)
    {
        int x0 = Math.Clamp((int)a, 0, row.Length - 1), x1 = Math.Clamp(Math.Max(x0 + 1, (int)Math.Ceiling(b)), 1, row.Length);
        for (int x = x0; x < x1; x++) (row[x], code[x]) = (ch, c);
    }

    private static string Row(char[] row, string[] code, bool colour)
    {
        if (!colour) return new string(row);
        var sb = new StringBuilder();
        string? cur = null;
        for (int i = 0; i < row.Length; i++)
        {
            if (code[i] != cur)
            {
                sb.Append("\u001b[0m");
                if (code[i] != "0") sb.Append("\u001b[").Append(code[i]).Append('m');
                cur = code[i];
            }
            sb.Append(row[i]);
        }
        return sb.Append("\u001b[0m").ToString();
    }
}

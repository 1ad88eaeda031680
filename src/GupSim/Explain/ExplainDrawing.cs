using System.Globalization;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Explain;

/// <summary>A shape of the explain picture, in pixels from the top left; SVG and PNG draw the same list.</summary>
public abstract record ExplainShape;

/// <summary>A rectangle. <paramref name="Mark"/> is set on the marks of pages[] runs (the SVG's data-class and data-count).</summary>
public sealed record ExplainRect(double X, double Y, double W, double H, string Fill, string? Stroke = null, double StrokeWidth = 1,
    string? Tooltip = null, ExplainMark? Mark = null, double Opacity = 1) : ExplainShape;

/// <summary>A straight line.</summary>
public sealed record ExplainLine(double X1, double Y1, double X2, double Y2, string Stroke, double Width = 1, bool Dashed = false) : ExplainShape;

/// <summary>A filled polygon (the band from a run of entries to where it landed).</summary>
public sealed record ExplainPolygon(IReadOnlyList<(double X, double Y)> Points, string Fill, double Opacity, string? Tooltip = null) : ExplainShape;

/// <summary>Text; <paramref name="Anchor"/> is start, middle or end.</summary>
public sealed record ExplainLabel(double X, double Y, string Text, double Size, string Fill = "#222222", string Anchor = "start", bool Bold = false) : ExplainShape;

/// <summary>
/// Lays an <see cref="ExplainScene"/> out as shapes (the renderings' common geometry): the physical band with the
/// huge page's span, the kernel-virtual band of memmap clusters, the pages[] band of marks, the bands between a run
/// and where it landed, stray stores, legend.
/// </summary>
public static class ExplainDrawing
{
    /// <summary>The colour of a class.</summary>
    public static string ClassColour(ExplainClass c) => c switch
    {
        ExplainClass.Right => "#2ca02c",
        ExplainClass.Wrong => "#d62728",
        ExplainClass.Other => "#ff7f0e",
        _ => "#7f3fbf",
    };

    /// <summary>The colour of a memmap placement.</summary>
    public static string PlacementColour(string placement) => placement switch
    {
        "vmemmap" => "#9ecae1",
        "flat" or "node-array" => "#c7e9c0",
        "boot-buffer" => "#bcbddc",
        "scattered" => "#fdd0a2",
        "hotplug" => "#fcbba1",
        _ => "#d9d9d9",
    };

    private const double Left = 170, Right = 24;
    private const double PhysY = 78, PhysH = 34;
    private const double VaY = 196, VaH = 40;
    private const double PagesY = 330, PagesH = 34;
    private const double ClusterBreak = 26;

    /// <summary>The smallest picture the layout fits in.</summary>
    public const int MinWidth = 640, MinHeight = 520;

    /// <summary>Lays out <paramref name="scene"/> in <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    public static List<ExplainShape> Layout(ExplainScene scene, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(scene);
        var ci = CultureInfo.InvariantCulture;
        var s = new List<ExplainShape> { new ExplainRect(0, 0, width, height, "#ffffff") };
        double w = width - Left - Right;
        s.Add(new ExplainLabel(12, 22, $"{scene.Machine}, {scene.Kernel}, strategy {scene.Strategy}", 15, Bold: true));
        s.Add(new ExplainLabel(12, 42, $"{scene.Call}: {scene.Verdict}", 13, scene.Wrong == 0 ? ClassColour(ExplainClass.Right) : ClassColour(ExplainClass.Wrong), Bold: true));

        // Top band: physical address space.
        s.Add(new ExplainLabel(12, PhysY + 14, "physical memory", 12, Bold: true));
        s.Add(new ExplainLabel(12, PhysY + 29, "sections, huge page", 10, "#555555"));
        double end = Math.Max(1, scene.PhysEnd);
        double PX(ulong a) => Left + a / end * w;
        foreach (var r in scene.Physical)
        {
            string fill = r.Kind switch { "present" => "#9ecae1", "hotplug" => "#fdae6b", _ => "#ffffff" };
            s.Add(new ExplainRect(PX(r.Start), PhysY, Math.Max(0.5, PX(r.End) - PX(r.Start)), PhysH, fill, "#6b6b6b", 0.5,
                $"{r.Kind}: {r.Label}, 0x{r.Start:x}-0x{r.End - 1:x}"));
            double rw = PX(r.End) - PX(r.Start);
            string label = r.Kind == "hole" ? "hole" : r.Kind == "hotplug" ? "hot-plugged" : "present";
            if (rw > label.Length * 6.5 + 6) s.Add(new ExplainLabel(PX(r.Start) + 3, PhysY + PhysH - 5, label, 10, "#333333"));
        }
        foreach (var h in scene.HugePageSpans)
            s.Add(new ExplainRect(PX(h.Start), PhysY - 5, Math.Max(2, PX(h.End) - PX(h.Start)), PhysH + 10, "#08306b", "#08306b", 2.5,
                $"huge page 0x{h.Start:x}-0x{h.End - 1:x}", Opacity: 0.25));
        foreach (var k in scene.Marks)
        {
            if (k.Class != ExplainClass.Wrong) continue;
            foreach (var l in k.Landings)
                if (l.FirstPfn is ulong p0 && l.LastPfn is ulong p1)
                {
                    ulong lo = Math.Min(p0, p1) << scene.PageShift, hi = (Math.Max(p0, p1) + 1) << scene.PageShift;
                    s.Add(new ExplainRect(PX(lo), PhysY + PhysH + 2, Math.Max(1.5, PX(hi) - PX(lo)), 5, ClassColour(ExplainClass.Wrong),
                        Tooltip: $"wrong entries are the struct pages of these pfns: 0x{Math.Min(p0, p1):x}-0x{Math.Max(p0, p1):x}"));
                }
        }
        s.Add(new ExplainLabel(Left, PhysY + PhysH + 20, "0x0", 10, "#555555"));
        s.Add(new ExplainLabel(Left + w, PhysY + PhysH + 20, $"0x{scene.PhysEnd:x}", 10, "#555555", "end"));
        if (scene.HugePageSpans.Count > 0)
        {
            var h0 = scene.HugePageSpans[0];
            string hp = $"huge page{(scene.HugePageSpans.Count > 1 || h0.Bytes > scene.HugePageBytes ? "s" : "")} {ByteSize.Format(scene.HugePageBytes)} at 0x{h0.Start:x}{(scene.HugePageSpans.Count > 1 ? $" (+{scene.HugePageSpans.Count - 1} more)" : "")}";
            double hx = (PX(h0.Start) + PX(h0.End)) / 2;
            s.Add(new ExplainLabel(Math.Clamp(hx, Left + 80, Left + w - 80), PhysY - 9, hp, 11, "#08306b", "middle", Bold: true));
        }

        // Middle band: kernel virtual memory, cluster by cluster.
        s.Add(new ExplainLabel(12, VaY + 16, "kernel virtual", 12, Bold: true));
        s.Add(new ExplainLabel(12, VaY + 31, "memmaps, between", 10, "#555555"));
        var axis = VaAxis.Of(scene, Left, w);
        for (int ci2 = 0; ci2 < scene.Va.Count; ci2++)
        {
            var c = scene.Va[ci2];
            var (x0, x1) = axis.Span(ci2);
            foreach (var g in c.Gaps)
            {
                double gx = axis.X(ci2, g.Start), gw = Math.Max(0.5, axis.X(ci2, g.End) - gx);
                s.Add(new ExplainRect(gx, VaY, gw, VaH, GapFill(g.What), "#9a9a9a", 0.5, $"{g.What}: 0x{g.Start:x}-0x{g.End - 1:x}"));
                string t = GapShort(g.What);
                if (gw > t.Length * 5.6 + 6) s.Add(new ExplainLabel(gx + 3, VaY + VaH - 5, t, 9, "#444444"));
            }
            foreach (var mm in c.Memmaps)
            {
                ulong a = Math.Max(mm.VaStart, c.Start), b = Math.Min(mm.VaEnd, c.End);
                double mx = axis.X(ci2, a), mw = Math.Max(0.5, axis.X(ci2, b) - mx);
                s.Add(new ExplainRect(mx, VaY, mw, VaH, PlacementColour(mm.Placement), "#4a4a4a", 0.6,
                    string.Create(ci, $"memmap of pfn 0x{mm.FirstPfn:x}-0x{mm.FirstPfn + mm.NrPages - 1:x} at 0x{mm.VaStart:x}: {mm.PlacedBy}")));
                string t = string.Create(ci, $"0x{mm.FirstPfn:x}");
                if (mw > t.Length * 5.6 + 6) s.Add(new ExplainLabel(mx + 3, VaY + 13, t, 9, "#222222"));
                if (mm.OfHugePage)
                {
                    s.Add(new ExplainRect(mx, VaY, mw, VaH, "#08306b", "#08306b", 2.5, Opacity: 0.12));
                    // From the pfns it describes in the physical band down to it.
                    ulong p0 = mm.FirstPfn << scene.PageShift, p1 = (mm.FirstPfn + mm.NrPages) << scene.PageShift;
                    s.Add(new ExplainLine((PX(p0) + PX(p1)) / 2, PhysY + PhysH + 24, mx + mw / 2, VaY - 1, "#08306b", 1, Dashed: true));
                }
            }
            s.Add(new ExplainLabel(x0, VaY + VaH + 13, $"0x{c.Start:x}", 9, "#555555"));
            if (x1 - x0 > 230) s.Add(new ExplainLabel(x1, VaY + VaH + 13, $"0x{c.End:x}", 9, "#555555", "end"));
            if (ci2 > 0) s.Add(new ExplainLabel(x0 - ClusterBreak / 2, VaY + VaH / 2 + 6, "≈", 18, "#555555", "middle", Bold: true));
        }

        // Stray stores: ticks above the middle band.
        foreach (var st in scene.Strays)
        {
            if (!axis.TryX(st.Start, out double sx0) || !axis.TryX(st.End, out double sx1)) continue;
            s.Add(new ExplainRect(sx0, VaY - 10, Math.Max(1.5, sx1 - sx0), 8, "#000000", Tooltip: string.Create(ci, $"{st.Count} stray stores ({st.Target}) at 0x{st.Start:x}-0x{st.End - 1:x}")));
        }
        if (scene.StrayCounts.N > 0)
            s.Add(new ExplainLabel(12, VaY - 3, string.Create(ci, $"▬ {scene.StrayCounts.N} stray writes"), 10, "#000000", Bold: true));

        // Bottom band: pages[] runs, with the bands to where each stretch landed.
        s.Add(new ExplainLabel(12, PagesY + 14, "pages[]", 12, Bold: true));
        s.Add(new ExplainLabel(12, PagesY + 29, string.Create(ci, $"{scene.Entries} entries"), 10, "#555555"));
        double n = Math.Max(1, scene.Entries);
        double IX(long i) => Left + i / n * w;
        foreach (var k in scene.Marks)
        {
            foreach (var l in k.Landings)
            {
                if (!axis.TryX(l.FirstAddress, out double ax0) || !axis.TryX(l.LastAddress + (ulong)scene.StructPageSize, out double ax1)) continue;
                double ix0 = IX(l.FirstIndex), ix1 = Math.Max(ix0 + 1, IX(l.FirstIndex + l.Count));
                if (ax1 < ax0 + 1) ax1 = ax0 + 1;
                s.Add(new ExplainPolygon([(ix0, PagesY), (ix1, PagesY), (ax1, VaY + VaH), (ax0, VaY + VaH)], ClassColour(k.Class), 0.28,
                    LandingText(k, l)));
            }
        }
        foreach (var k in scene.Marks)
        {
            double x = IX(k.FirstIndex);
            s.Add(new ExplainRect(x, PagesY, Math.Max(1, IX(k.FirstIndex + k.Count) - x), PagesH, ClassColour(k.Class), "#ffffff", 0.5,
                string.Create(ci, $"pages[{k.FirstIndex}..{k.LastIndex}] {ExplainClasses.Name(k.Class)} ({k.Count})"), k));
        }
        s.Add(new ExplainLabel(Left, PagesY + PagesH + 14, "0", 10, "#555555"));
        s.Add(new ExplainLabel(Left + w, PagesY + PagesH + 14, string.Create(ci, $"{scene.Entries - 1}"), 10, "#555555", "end"));

        // Legend and the first runs in words.
        double ly = PagesY + PagesH + 36;
        double lx = 12;
        foreach (var c in new[] { ExplainClass.Right, ExplainClass.Wrong, ExplainClass.Other, ExplainClass.Unmapped })
        {
            s.Add(new ExplainRect(lx, ly - 10, 12, 12, ClassColour(c)));
            string t = string.Create(ci, $"{ExplainClasses.Name(c)} {scene.CountOf(c)}");
            s.Add(new ExplainLabel(lx + 16, ly, t, 11));
            lx += 34 + t.Length * 7;
        }
        ly += 20;
        lx = 12;
        foreach (var (name, text) in new[] { ("vmemmap", "vmemmap"), ("boot-buffer", "sparsemap_buf"), ("scattered", "own memblock"), ("hotplug", "hot-add kvmalloc"), ("flat", "mem_map"), ("gap", "other kernel data"), ("unmapped", "not mapped") })
        {
            string fill = name == "gap" ? GapFill("direct map") : name == "unmapped" ? GapFill("not mapped") : PlacementColour(name);
            s.Add(new ExplainRect(lx, ly - 10, 12, 12, fill, "#4a4a4a", 0.6));
            s.Add(new ExplainLabel(lx + 16, ly, text, 11));
            lx += 34 + text.Length * 7;
        }
        double ty = ly + 22;
        if (scene.StrayCounts.N > 0)
        {
            var w0 = scene.StrayCounts;
            s.Add(new ExplainLabel(12, ty, string.Create(ci, $"stray writes (▬ above the memmaps): {w0.N} (struct pages in use {w0.InUse}, free {w0.Free}, page tables {w0.PageTables}, slab {w0.Slab}, other kernel data {w0.Other}, unmapped {w0.Unmapped}), bits changed {w0.BitsChanged}"), 11));
            ty += 16;
        }
        if (scene.Oops is not null)
        {
            s.Add(new ExplainLabel(12, ty, "oops: " + scene.Oops, 11, ClassColour(ExplainClass.Unmapped), Bold: true));
            ty += 16;
        }
        int shown = 0;
        foreach (var k in scene.Marks)
        {
            if (ty > height - 8) break;
            s.Add(new ExplainLabel(12, ty, MarkText(k), 11, ClassColour(k.Class)));
            ty += 16;
            shown++;
        }
        if (shown < scene.Marks.Count && ty <= height + 8)
            s.Add(new ExplainLabel(12, Math.Min(ty, height - 4), string.Create(ci, $"... {scene.Marks.Count - shown} more runs"), 11, "#555555"));
        return s;
    }

    /// <summary>One line about a run: its range, class and where it landed.</summary>
    public static string MarkText(ExplainMark k)
    {
        ArgumentNullException.ThrowIfNull(k);
        var ci = CultureInfo.InvariantCulture;
        string where = k.Landings.Count == 0 ? "" : ": " + LandingWhere(k.Landings[0]);
        long more = k.Landings.Count - 1 + k.LandingsLeftOff;
        string tail = more > 0 ? string.Create(ci, $" (+{more} more stretches)") : "";
        return string.Create(ci, $"pages[{k.FirstIndex}..{k.LastIndex}] {ExplainClasses.Name(k.Class)} ({k.Count}){where}{tail}");
    }

    /// <summary>Where a stretch landed, in words: "struct pages of pfn 0x78000-0x7ffff (section memmap ...)".</summary>
    public static string LandingWhere(ExplainLanding l)
    {
        ArgumentNullException.ThrowIfNull(l);
        if (l.FirstPfn is ulong p0)
        {
            string pfns = l.LastPfn is ulong p1 && p1 != p0 ? $"pfn 0x{p0:x}-0x{p1:x}" : $"pfn 0x{p0:x}";
            return $"struct pages of {pfns} at 0x{l.FirstAddress:x} ({l.Region})";
        }
        return $"0x{l.FirstAddress:x}: {l.Region}";
    }

    private static string LandingText(ExplainMark k, ExplainLanding l) => string.Create(CultureInfo.InvariantCulture,
        $"pages[{l.FirstIndex}..{l.FirstIndex + l.Count - 1}] {ExplainClasses.Name(k.Class)}: {LandingWhere(l)}");

    private static string GapFill(string what) =>
        what.Contains("not mapped", StringComparison.Ordinal) || what.Contains("hole", StringComparison.Ordinal) ? "#f2f2f2" : "#cccccc";

    private static string GapShort(string what)
    {
        int colon = what.IndexOf(": ", StringComparison.Ordinal);
        string t = colon >= 0 ? what[(colon + 2)..] : what;
        return t.Length > 40 ? t[..40] + "…" : t;
    }

    /// <summary>Kernel virtual addresses to x, cluster by cluster: each cluster linear, side by side with breaks.</summary>
    public sealed class VaAxis
    {
        private readonly ExplainScene _scene;
        private readonly double[] _x0, _x1;

        private VaAxis(ExplainScene scene, double[] x0, double[] x1) => (_scene, _x0, _x1) = (scene, x0, x1);

        /// <summary>Lays the clusters of <paramref name="scene"/> over <paramref name="width"/> pixels from <paramref name="left"/>: each gets a share by its length, at least a fair fraction.</summary>
        public static VaAxis Of(ExplainScene scene, double left, double width)
        {
            int n = scene.Va.Count;
            var x0 = new double[n];
            var x1 = new double[n];
            if (n == 0) return new VaAxis(scene, x0, x1);
            double total = 0;
            foreach (var c in scene.Va) total += c.End - c.Start;
            var share = new double[n];
            double sum = 0;
            for (int i = 0; i < n; i++)
            {
                share[i] = Math.Max((scene.Va[i].End - scene.Va[i].Start) / total, 0.5 / n);
                sum += share[i];
            }
            double avail = width - ClusterBreak * (n - 1);
            double at = left;
            for (int i = 0; i < n; i++)
            {
                x0[i] = at;
                x1[i] = at + avail * share[i] / sum;
                at = x1[i] + ClusterBreak;
            }
            return new VaAxis(scene, x0, x1);
        }

        /// <summary>Cluster <paramref name="i"/>'s pixels.</summary>
        public (double X0, double X1) Span(int i) => (_x0[i], _x1[i]);

        /// <summary>x of <paramref name="va"/> inside cluster <paramref name="i"/>.</summary>
        public double X(int i, ulong va)
        {
            var c = _scene.Va[i];
            double f = (double)(Math.Clamp(va, c.Start, c.End) - c.Start) / Math.Max(1, c.End - c.Start);
            return _x0[i] + f * (_x1[i] - _x0[i]);
        }

        /// <summary>x of <paramref name="va"/>, in whichever cluster holds it (its end included).</summary>
        public bool TryX(ulong va, out double x)
        {
            for (int i = 0; i < _scene.Va.Count; i++)
            {
                var c = _scene.Va[i];
                if (va >= c.Start && va <= c.End)
                {
                    x = X(i, va);
                    return true;
                }
            }
            x = 0;
            return false;
        }
    }
}

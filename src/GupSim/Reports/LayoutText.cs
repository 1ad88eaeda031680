using System.Globalization;

namespace GupSim.Reports;

/// <summary>The human-readable form of a <see cref="LayoutReport"/> (what `gupsim layout` prints).</summary>
public static class LayoutText
{
    /// <summary>The human-readable form.</summary>
    public static void Write(TextWriter o, LayoutReport r)
    {
        var ci = CultureInfo.InvariantCulture;
        o.WriteLine("summary         " + SummaryLine(r));
        o.WriteLine(string.Create(ci, $"arch            {r.Arch} (kernel v{r.Kernel}, PAGE_SHIFT {r.PageShift}, sizeof(struct page) {r.StructPageSize})"));
        o.WriteLine($"memory model    {r.MemoryModel}");
        if (r.SectionSizeBits is int ssb)
            o.WriteLine(string.Create(ci, $"sections        SECTION_SIZE_BITS {ssb} ({GupSim.Core.ByteSize.Format(1UL << ssb)}, {r.PagesPerSection} pages per section)"));
        o.WriteLine(string.Create(ci, $"buddy           MAX_ORDER {r.MaxOrder} in the v5.11 meaning (kernel's own value {r.KernelMaxOrder}); MAX_ORDER_NR_PAGES {r.MaxOrderNrPages}"));
        o.WriteLine("debug           " + (r.DebugVm ? "CONFIG_DEBUG_VM=y" : "# CONFIG_DEBUG_VM is not set"));
        o.WriteLine("huge pages      " + string.Join(", ", r.HugepageSizes.Select(GupSim.Core.ByteSize.Format)));
        if (r.SectionTable is not null) o.WriteLine("mem_section     " + r.SectionTable);
        o.WriteLine("RAM             " + string.Join(", ", r.Ram));
        foreach (var n in r.Nodes)
        {
            o.WriteLine(string.Create(ci, $"node {n.Nid}          pfn 0x{n.StartPfn:x}-0x{n.EndPfn:x}"));
            foreach (var z in n.Zones)
                o.WriteLine(string.Create(ci, $"  zone {z.Name,-8} pfn 0x{z.StartPfn:x}-0x{z.EndPfn:x} present {z.PresentPages} managed {z.ManagedPages} free {z.FreePages}  buddy: {string.Join(' ', z.FreeCounts)}"));
        }
        foreach (var a in r.Memmaps)
            o.WriteLine(string.Create(ci, $"memmap          {a.VaStart}-{a.VaEnd} pfn 0x{a.FirstPfn:x} +{a.NrPages} ({a.Placement}, {a.Where})"));
        if (r.Sections.Count > 0)
        {
            o.WriteLine(string.Create(ci, $"present sections ({r.Sections.Count}):"));
            o.WriteLine("  prev: '+' memmap starts where the previous section's ends (page++ off its last struct page lands here), 'x' memmap elsewhere (not adjacent), 'h' RAM hole before this section");
            o.WriteLine("   nr  start pfn  node  memmap VA (of start pfn)  prev  placement");
            foreach (var s in r.Sections)
                o.WriteLine(string.Create(ci, $"{s.Nr,5}  {"0x" + s.StartPfn.ToString("x", ci),9}  {s.Node,4}  {s.MemmapVa,-24}  {" " + Marker(s.Previous),-4}  {s.Placement}"));
        }
    }

    /// <summary>The column mark of <see cref="SectionReport.Previous"/>: '+' adjacent, 'x' not adjacent, 'h' hole, blank for the first section.</summary>
    public static char Marker(string previous) => previous switch
    {
        LayoutReport.Adjacent => '+',
        LayoutReport.NotAdjacent => 'x',
        LayoutReport.Hole => 'h',
        _ => ' ',
    };

    /// <summary>The opening line: sections, adjacent and not-adjacent memmaps, RAM holes between sections.</summary>
    public static string SummaryLine(LayoutReport r)
    {
        var ci = CultureInfo.InvariantCulture;
        var sm = r.Summary;
        if (sm.PresentSections == 0)
            return string.Create(ci, $"{r.MemoryModel}: no memory sections; {r.Memmaps.Count} memmap array{(r.Memmaps.Count == 1 ? "" : "s")}");
        string holes = sm.Holes.Count switch
        {
            0 => "no RAM hole between sections",
            1 => "1 RAM hole",
            _ => string.Create(ci, $"{sm.Holes.Count} RAM holes"),
        };
        if (sm.Holes.Count > 0)
        {
            const int Shown = 4;
            var parts = sm.Holes.Take(Shown).Select(h => string.Create(ci, $"pfn 0x{h.StartPfn:x}-0x{h.EndPfn:x}, {h.Sections} section{(h.Sections == 1 ? "" : "s")}"));
            holes += " (" + string.Join("; ", parts) + (sm.Holes.Count > Shown ? string.Create(ci, $"; {sm.Holes.Count - Shown} more") : "") + ")";
        }
        return string.Create(ci, $"{sm.PresentSections} present section{(sm.PresentSections == 1 ? "" : "s")}: {sm.Adjacent} memmap{(sm.Adjacent == 1 ? "" : "s")} adjacent to the previous section's, {sm.NotAdjacent} not adjacent; {holes}");
    }
}

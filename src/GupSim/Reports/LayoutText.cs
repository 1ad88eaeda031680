using System.Globalization;

namespace GupSim.Reports;

/// <summary>The human-readable form of a <see cref="LayoutReport"/> (what `gupsim layout` prints).</summary>
public static class LayoutText
{
    /// <summary>The human-readable form.</summary>
    public static void Write(TextWriter o, LayoutReport r)
    {
        var ci = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(ci, $"arch            {r.Arch} (kernel v{r.Kernel}, PAGE_SHIFT {r.PageShift}, sizeof(struct page) {r.StructPageSize})"));
        o.WriteLine($"memory model    {r.MemoryModel}");
        if (r.SectionSizeBits is int ssb)
            o.WriteLine(string.Create(ci, $"sections        SECTION_SIZE_BITS {ssb} ({GupSim.Core.ByteSize.Format(1UL << ssb)}, {r.PagesPerSection} pages per section)"));
        o.WriteLine(string.Create(ci, $"buddy           MAX_ORDER {r.MaxOrder} in the v5.11 meaning (kernel's own value {r.KernelMaxOrder}); MAX_ORDER_NR_PAGES {r.MaxOrderNrPages}"));
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
            o.WriteLine(string.Create(ci, $"present sections ({r.Sections.Count}); '+' marks a memmap that starts right where the previous section's ends:"));
            o.WriteLine("   nr  start pfn  node  memmap VA (struct page of start pfn)  placement");
            foreach (var s in r.Sections)
                o.WriteLine(string.Create(ci, $"{s.Nr,5}  {"0x" + s.StartPfn.ToString("x", ci),9}  {s.Node,4}  {s.MemmapVa,-20} {(s.AdjacentToPrevious ? '+' : ' ')}              {s.Placement}"));
        }
    }
}

using System.Globalization;
using GupSim.Arch;
using GupSim.Memory;

namespace GupSim.Reports;

/// <summary>A zone in the layout report.</summary>
public sealed record ZoneReport(string Name, ulong StartPfn, ulong EndPfn, ulong PresentPages, ulong ManagedPages, ulong FreePages, IReadOnlyList<ulong> FreeCounts);

/// <summary>A node in the layout report.</summary>
public sealed record NodeReport(int Nid, ulong StartPfn, ulong EndPfn, IReadOnlyList<ZoneReport> Zones);

/// <summary>
/// A present section in the layout report; <c>memmapVa</c> is the address of the struct page of <c>startPfn</c>, as a
/// hex string. <c>AdjacentToPrevious</c>: this memmap begins at the byte where the previous present section's memmap
/// ends. <c>Previous</c> says what lies before the section, as the text column shows it: <see cref="LayoutReport.First"/>,
/// <see cref="LayoutReport.Adjacent"/> (page++ off the previous section's last struct page lands on this section's
/// first), <see cref="LayoutReport.NotAdjacent"/> (the memmap lives elsewhere) or <see cref="LayoutReport.Hole"/>
/// (pfns with no present section between the two, whatever the memmap addresses).
/// </summary>
public sealed record SectionReport(ulong Nr, ulong StartPfn, int Node, string MemmapVa, string Placement, bool AdjacentToPrevious, string Previous);

/// <summary>A RAM hole between two present sections: pfns <c>StartPfn</c> up to <c>EndPfn</c> (exclusive), <c>Sections</c> section numbers with no present section.</summary>
public sealed record HoleReport(ulong StartPfn, ulong EndPfn, ulong Sections);

/// <summary>
/// The line `gupsim layout` opens with: how many present sections there are, how many of them have a memmap that
/// continues the previous section's (<c>Adjacent</c>) or lives elsewhere (<c>NotAdjacent</c>), and the RAM holes
/// between present sections. <c>Adjacent + NotAdjacent + Holes.Count = PresentSections − 1</c> when there are sections;
/// all zero for FLATMEM and DISCONTIGMEM, which have none.
/// </summary>
public sealed record LayoutSummary(int PresentSections, int Adjacent, int NotAdjacent, IReadOnlyList<HoleReport> Holes);

/// <summary>A memmap array in the layout report (FLATMEM, DISCONTIGMEM and classic SPARSEMEM).</summary>
public sealed record MemmapReport(string VaStart, string VaEnd, ulong FirstPfn, ulong NrPages, string Placement, string Where);

/// <summary>
/// What `gupsim layout` prints: the stable JSON shape documented in docs/cli.md. Addresses are hex strings
/// ("0xffffea0000000000") because JSON numbers lose precision above 2^53; pfns and counts are numbers.
/// </summary>
public sealed record LayoutReport(
    LayoutSummary Summary,
    string Arch,
    string Kernel,
    int PageShift,
    string MemoryModel,
    int? SectionSizeBits,
    int MaxOrder,
    int KernelMaxOrder,
    int StructPageSize,
    ulong PagesPerSection,
    ulong MaxOrderNrPages,
    IReadOnlyList<ulong> HugepageSizes,
    IReadOnlyList<string> Ram,
    IReadOnlyList<NodeReport> Nodes,
    IReadOnlyList<MemmapReport> Memmaps,
    IReadOnlyList<SectionReport> Sections,
    string? SectionTable,
    IReadOnlyList<string> Warnings,
    bool DebugVm = false)
{
    /// <summary><see cref="SectionReport.Previous"/> of the lowest present section.</summary>
    public const string First = "first";

    /// <summary><see cref="SectionReport.Previous"/>: the memmap continues the previous section's.</summary>
    public const string Adjacent = "adjacent";

    /// <summary><see cref="SectionReport.Previous"/>: the previous section is the one below, its memmap lives elsewhere.</summary>
    public const string NotAdjacent = "not-adjacent";

    /// <summary><see cref="SectionReport.Previous"/>: a RAM hole (no present section) lies before this section.</summary>
    public const string Hole = "hole";

    /// <summary>The JSON name of a placement.</summary>
    public static string PlacementName(MemmapPlacement p) => p switch
    {
        MemmapPlacement.Vmemmap => "vmemmap",
        MemmapPlacement.Flat => "flat",
        MemmapPlacement.NodeArray => "node-array",
        MemmapPlacement.BootBuffer => "boot-buffer",
        MemmapPlacement.Scattered => "scattered",
        MemmapPlacement.Hotplug => "hotplug",
        _ => p.ToString(),
    };

    /// <summary>"0x" and lower-case hex.</summary>
    public static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>Builds the report of a booted machine.</summary>
    public static LayoutReport Of(Machine m, IReadOnlyList<string>? warnings = null)
    {
        bool sections = m.Model is GupSim.Arch.MemoryModel.Sparsemem or GupSim.Arch.MemoryModel.SparsememVmemmap;
        var nodes = m.Nodes.Select(n => new NodeReport(n.Nid, n.StartPfn, n.EndPfn,
            [.. n.Zones.Select(z => new ZoneReport(z.Name, z.StartPfn, z.EndPfn, z.PresentPages, z.ManagedPages, z.FreePages, z.FreeCounts()))])).ToList();
        var secs = new List<SectionReport>();
        var holes = new List<HoleReport>();
        int adjacent = 0, notAdjacent = 0;
        ulong mapBytes = m.Arch.PagesPerSection * (ulong)m.StructPageSize;
        SectionInfo? prev = null;
        foreach (var s in m.PresentSections.OrderBy(s => s.Nr))
        {
            // Adjacent: page++ off the previous section's last struct page (prev.MemmapVa + mapBytes) is this section's first.
            bool contiguous = prev is not null && prev.MemmapVa + mapBytes == s.MemmapVa;
            string previous;
            if (prev is null) previous = First;
            else if (s.Nr > prev.Nr + 1)
            {
                previous = Hole;
                holes.Add(new HoleReport(prev.StartPfn + m.Arch.PagesPerSection, s.StartPfn, s.Nr - prev.Nr - 1));
            }
            else if (contiguous) { previous = Adjacent; adjacent++; }
            else { previous = NotAdjacent; notAdjacent++; }
            secs.Add(new SectionReport(s.Nr, s.StartPfn, s.Nid, Hex(s.MemmapVa), PlacementName(s.Placement), contiguous, previous));
            prev = s;
        }
        var arrays = m.Memory.Arrays
            .Where(a => a.Placement is MemmapPlacement.Flat or MemmapPlacement.NodeArray)
            .Select(a => new MemmapReport(Hex(a.VaStart), Hex(a.VaEnd), a.FirstPfn, a.NrPages, PlacementName(a.Placement), a.Kind == KernelVaKind.DirectMap ? "direct map" : a.Kind.ToString().ToLowerInvariant()))
            .ToList();
        if (m.Model == GupSim.Arch.MemoryModel.SparsememVmemmap)
            arrays.Add(new MemmapReport(Hex(m.Arch.VmemmapBase), Hex(m.Memory.VmemmapEnd), (m.Arch.VmemmapBase - m.Memory.Vmemmap) / (ulong)m.StructPageSize, (m.Memory.VmemmapEnd - m.Arch.VmemmapBase) / (ulong)m.StructPageSize, "vmemmap", $"vmemmap area (vmemmap = {Hex(m.Memory.Vmemmap)}; backed for present sections)"));
        string? table = m.Sections is { } t
            ? string.Create(CultureInfo.InvariantCulture, $"{(t.Extreme ? "SPARSEMEM_EXTREME" : "SPARSEMEM_STATIC")}: {t.NrMemSections} sections, {t.SectionsPerRoot} per root, {t.NrSectionRoots} roots ({t.RootsAllocated} allocated), sizeof(struct mem_section) = {t.SizeofMemSection}")
            : null;
        return new LayoutReport(
            new LayoutSummary(secs.Count, adjacent, notAdjacent, holes),
            m.Arch.Name,
            m.Version.ToString(),
            m.Arch.PageShift,
            m.Model.ToName(),
            sections ? m.Arch.SectionSizeBits : null,
            m.Arch.MaxOrder,
            m.Arch.KernelMaxOrder,
            m.StructPageSize,
            m.Arch.PagesPerSection,
            m.Arch.MaxOrderNrPages,
            [.. m.Arch.HugePageSizes.Select(h => h.Bytes)],
            [.. m.Ram.Select(r => r.ToString())],
            nodes,
            arrays,
            secs,
            table,
            warnings ?? [],
            m.Spec.DebugVm);
    }
}

using System.Globalization;
using GupSim.Arch;
using GupSim.Memory;

namespace GupSim.Reports;

/// <summary>A zone in the layout report.</summary>
public sealed record ZoneReport(string Name, ulong StartPfn, ulong EndPfn, ulong PresentPages, ulong ManagedPages, ulong FreePages, IReadOnlyList<ulong> FreeCounts);

/// <summary>A node in the layout report.</summary>
public sealed record NodeReport(int Nid, ulong StartPfn, ulong EndPfn, IReadOnlyList<ZoneReport> Zones);

/// <summary>A present section in the layout report; <c>memmapVa</c> is the address of the struct page of <c>startPfn</c>, as a hex string.</summary>
public sealed record SectionReport(ulong Nr, ulong StartPfn, int Node, string MemmapVa, string Placement, bool AdjacentToPrevious);

/// <summary>A memmap array in the layout report (FLATMEM, DISCONTIGMEM and classic SPARSEMEM).</summary>
public sealed record MemmapReport(string VaStart, string VaEnd, ulong FirstPfn, ulong NrPages, string Placement, string Where);

/// <summary>
/// What `gupsim layout` prints: the stable JSON shape documented in docs/cli.md. Addresses are hex strings
/// ("0xffffea0000000000") because JSON numbers lose precision above 2^53; pfns and counts are numbers.
/// </summary>
public sealed record LayoutReport(
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
    IReadOnlyList<string> Warnings)
{
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
        ulong prevEnd = 0;
        foreach (var s in m.PresentSections)
        {
            ulong end = s.MemmapVa + m.Arch.PagesPerSection * (ulong)m.StructPageSize;
            secs.Add(new SectionReport(s.Nr, s.StartPfn, s.Nid, Hex(s.MemmapVa), PlacementName(s.Placement), secs.Count > 0 && prevEnd == s.MemmapVa));
            prevEnd = end;
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
            warnings ?? []);
    }
}

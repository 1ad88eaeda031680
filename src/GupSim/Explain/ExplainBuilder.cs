using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using GupSim.Reports;

namespace GupSim.Explain;

/// <summary>
/// Builds an <see cref="ExplainScene"/> from one GUP call's result (GupSim's report code, not a kernel function):
/// each entry is judged against <see cref="PagesOracle.RightPages"/> (pfn_to_page() of the pfn the page table maps)
/// and, when wrong, by what lives where it points (<see cref="KernelMemory.Describe"/>). Runs of one class become one
/// mark; the memmaps around the landings are grouped into clusters of kernel virtual memory.
/// </summary>
public static class ExplainBuilder
{
    private const ulong MiB = 1UL << 20;

    /// <summary>Builds the scene of <paramref name="pages"/>, which GUP filled for <paramref name="start"/> onwards in <paramref name="mm"/>.</summary>
    /// <exception cref="InvalidOperationException">Thrown when the marks disagree with the oracle's wrong count (a GupSim bug).</exception>
    public static ExplainScene Build(MmStruct mm, ulong start, ReadOnlySpan<PagePtr> pages, string strategy, string call,
        IReadOnlyList<ExplainStray>? strays = null, StrayWrites strayCounts = default, string? oops = null)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var m = mm.Machine;
        var right = new PagePtr[pages.Length];
        PagesOracle.RightPages(mm, start, right);
        var marks = Classify(m, pages, right);
        var oracle = PagesOracle.Check(mm, start, pages);
        long total = 0, wrong = 0;
        foreach (var k in marks)
        {
            total += k.Count;
            if (k.Class != ExplainClass.Right) wrong += k.Count;
        }
        // The invariant the picture stands on: its marks are the call's entries, and its wrong ones are the oracle's.
        if (total != pages.Length || wrong != oracle.Wrong)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"explain: the marks count {total} entries ({wrong} not right), the call has {pages.Length} ({oracle.Wrong} wrong by the oracle)"));
        var (phys, physEnd, hotBytes) = Physical(m);
        var (spans, hpBytes) = HugePageSpans(mm, start, pages.Length);
        strays ??= [];
        var scene = new ExplainScene
        {
            Machine = MachineText(m, hotBytes),
            Kernel = "v" + m.Version,
            Strategy = strategy,
            Call = call,
            Entries = pages.Length,
            Wrong = oracle.Wrong,
            Marks = marks,
            Physical = phys,
            PhysEnd = physEnd,
            HugePageSpans = spans,
            HugePageBytes = hpBytes,
            Va = Clusters(m, marks, strays, spans),
            PageShift = m.Arch.PageShift,
            Strays = strays,
            StrayCounts = strayCounts,
            Oops = oops,
            StructPageSize = m.StructPageSize,
        };
        return scene;
    }

    private static string MachineText(Machine m, ulong hotBytes)
    {
        ulong ram = 0;
        foreach (var r in m.Ram) ram += r.Bytes;
        string hot = hotBytes > 0 ? $" ({ByteSize.Format(hotBytes)} hot-plugged)" : "";
        return $"{m.Arch.Name} {MemoryModelNames.ToName(m.Model)}, RAM {ByteSize.Format(ram)}{hot}";
    }

    /// <summary>What <c>Describe</c> said about the stretch being followed.</summary>
    private struct Probe
    {
        public AddressKind Kind;
        public ulong Pfn;
        public bool HasPfn;
        public MemmapArray? Array;
        public string? Region;
    }

    private static Probe Describe(Machine m, ulong va)
    {
        var i = m.Describe(va);
        return new Probe { Kind = i.Kind, Pfn = i.Pfn ?? 0, HasPfn = i.Pfn is not null, Array = i.Array, Region = i.Region };
    }

    /// <summary>
    /// Whether <paramref name="va"/>, one struct page after the last address probed as <paramref name="p"/>, is the
    /// same kind of memory in the same region, so the probe carries over without asking again (per-page
    /// <c>Describe</c> would make a record per entry).
    /// </summary>
    private static bool Continues(Machine m, ref Probe p, ulong prevVa, ulong va)
    {
        if (va != prevVa + (ulong)m.StructPageSize) return false;
        if (p.HasPfn)
        {
            if (p.Array is { } a) return va < a.VaEnd && Step(ref p);
            // vmemmap: backed section by section; ask again at each section's first struct page.
            return (p.Pfn + 1) % m.Arch.PagesPerSection != 0 && Step(ref p);
        }
        // Other kernel data, nothing mapped: what is there can change at a page boundary.
        return va >> m.Arch.PageShift == prevVa >> m.Arch.PageShift;

        static bool Step(ref Probe p)
        {
            p.Pfn++;
            return true;
        }
    }

    /// <summary>Whether <paramref name="now"/> at <paramref name="va"/> carries on the stretch <paramref name="before"/> was at <paramref name="prevVa"/>.</summary>
    private static bool SameStretch(Machine m, in Probe before, in Probe now, ulong prevVa, ulong va) =>
        va == prevVa + (ulong)m.StructPageSize && now.Kind == before.Kind && now.Region == before.Region
        && ReferenceEquals(now.Array, before.Array) && now.HasPfn == before.HasPfn && (!now.HasPfn || now.Pfn == before.Pfn + 1);

    private static ExplainClass ClassOf(in Probe p) => p.Kind switch
    {
        AddressKind.Page => ExplainClass.Wrong,
        AddressKind.Unmapped => ExplainClass.Unmapped,
        _ => ExplainClass.Other,
    };

    private sealed class MarkBuilder(ExplainClass cls, long first, ulong? expected)
    {
        public readonly ExplainClass Class = cls;
        public readonly long First = first;
        public readonly ulong? Expected = expected;
        public long Count;
        public readonly List<ExplainLanding> Landings = [];
        public long LeftOff;

        public void AddLanding(ExplainLanding l)
        {
            if (Landings.Count < ExplainScene.MaxLandingsPerMark) Landings.Add(l);
            else LeftOff++;
        }

        public ExplainMark ToMark() => new(Class, First, Count, Expected, Landings, LeftOff);
    }

    private static List<ExplainMark> Classify(Machine m, ReadOnlySpan<PagePtr> pages, ReadOnlySpan<PagePtr> right)
    {
        var marks = new List<ExplainMark>();
        MarkBuilder? cur = null;
        // The landing being followed: first index, count, addresses, pfns, region.
        long lFirst = 0, lCount = 0;
        ulong lFirstVa = 0, lLastVa = 0, lFirstPfn = 0, lLastPfn = 0;
        bool lHasPfn = false;
        string lRegion = "";
        var probe = default(Probe);
        ulong prevVa = 0;
        for (int i = 0; i < pages.Length; i++)
        {
            ulong va = pages[i].Address;
            var before = probe;
            bool cont = i > 0 && Continues(m, ref probe, prevVa, va);
            if (!cont)
            {
                probe = Describe(m, va);
                // Asked again at a page or section boundary, but still one struct page on in the same memory: the
                // same stretch (a band per region, not per 4 KiB page or section).
                cont = i > 0 && SameStretch(m, before, probe, prevVa, va);
            }
            var cls = !right[i].IsNull && pages[i] == right[i] ? ExplainClass.Right : ClassOf(probe);
            if (cur is null || cls != cur.Class)
            {
                if (cur is not null)
                {
                    cur.AddLanding(Landing());
                    marks.Add(cur.ToMark());
                }
                ulong? expected = right[i].IsNull ? null : m.Describe(right[i]).Pfn;
                cur = new MarkBuilder(cls, i, expected);
                lCount = 0;
            }
            else if (!cont)
            {
                cur.AddLanding(Landing());
                lCount = 0;
            }
            if (lCount == 0)
            {
                (lFirst, lFirstVa, lFirstPfn, lHasPfn, lRegion) = (i, va, probe.Pfn, probe.HasPfn, probe.Region ?? "");
            }
            lCount++;
            lLastVa = va;
            lLastPfn = probe.Pfn;
            cur.Count++;
            prevVa = va;
        }
        if (cur is not null)
        {
            cur.AddLanding(Landing());
            marks.Add(cur.ToMark());
        }
        return marks;

        ExplainLanding Landing() => new(lFirst, lCount, lFirstVa, lLastVa, lHasPfn ? lFirstPfn : null, lHasPfn ? lLastPfn : null, lRegion);
    }

    /// <summary>The top band: sections (present at boot, hot-plugged) and holes, or the RAM ranges where the model has no sections.</summary>
    private static (List<ExplainPhysRange> Ranges, ulong End, ulong HotBytes) Physical(Machine m)
    {
        var list = new List<ExplainPhysRange>();
        int shift = m.Arch.PageShift;
        ulong end = 0, hot = 0;
        foreach (var r in m.Ram) end = Math.Max(end, r.End);
        var boot = m.Spec.Ram.AllRanges.ToList();
        bool InBoot(ulong a)
        {
            foreach (var r in boot)
                if (r.Contains(a)) return true;
            return false;
        }
        if (m.PresentSections.Count > 0)
        {
            ulong secBytes = m.Arch.PagesPerSection << shift;
            var secs = m.PresentSections.OrderBy(s => s.Nr).ToList();
            int i = 0;
            ulong at = 0;
            while (i < secs.Count)
            {
                ulong s0 = secs[i].StartPfn << shift;
                if (s0 > at) list.Add(new ExplainPhysRange(at, s0, "hole", "no present section"));
                string kind = secs[i].Placement == MemmapPlacement.Hotplug || !InBoot(s0) ? "hotplug" : "present";
                int j = i;
                while (j + 1 < secs.Count && secs[j + 1].Nr == secs[j].Nr + 1
                       && (secs[j + 1].Placement == MemmapPlacement.Hotplug || !InBoot(secs[j + 1].StartPfn << shift) ? "hotplug" : "present") == kind)
                    j++;
                ulong e = (secs[j].StartPfn << shift) + secBytes;
                string label = i == j
                    ? string.Create(CultureInfo.InvariantCulture, $"section {secs[i].Nr}")
                    : string.Create(CultureInfo.InvariantCulture, $"sections {secs[i].Nr}-{secs[j].Nr}");
                list.Add(new ExplainPhysRange(s0, e, kind, label));
                if (kind == "hotplug") hot += e - s0;
                at = e;
                i = j + 1;
            }
            end = Math.Max(end, at);
        }
        else
        {
            ulong at = 0;
            foreach (var r in m.Ram.OrderBy(r => r.Start))
            {
                if (r.Start > at) list.Add(new ExplainPhysRange(at, r.Start, "hole", "no RAM"));
                list.Add(new ExplainPhysRange(r.Start, r.End, "present", "RAM " + r));
                at = Math.Max(at, r.End);
            }
        }
        return (list, end, hot);
    }

    /// <summary>The huge pages (leaf entries) the call's addresses map, merged where adjacent; at most 256.</summary>
    private static (List<PhysRange> Spans, ulong Bytes) HugePageSpans(MmStruct mm, ulong start, long n)
    {
        var m = mm.Machine;
        ulong ps = m.Arch.PageSize;
        ulong va = start & ~(ps - 1), end = va + (ulong)n * ps;
        var spans = new List<PhysRange>();
        ulong bytes = ps;
        while (va < end && spans.Count < 256)
        {
            var leaf = mm.WalkLeaf(va);
            if (leaf is not { } l || !l.Entry.IsPresent)
            {
                va += ps;
                continue;
            }
            ulong leafStart = va & ~(l.Bytes - 1);
            bytes = Math.Max(bytes, l.Bytes);
            ulong p0 = l.Entry.Pfn.Value << m.Arch.PageShift;
            var r = PhysRange.FromStartEnd(p0, p0 + l.Bytes);
            if (spans.Count > 0 && spans[^1].End == r.Start) spans[^1] = PhysRange.FromStartEnd(spans[^1].Start, r.End);
            else spans.Add(r);
            va = leafStart + l.Bytes;
        }
        return (spans, bytes);
    }

    /// <summary>Every memmap on the machine: the non-vmemmap arrays, or with SPARSEMEM_VMEMMAP each present section's slice.</summary>
    private static List<ExplainMemmap> Memmaps(Machine m)
    {
        var list = new List<ExplainMemmap>();
        var sps = (ulong)m.StructPageSize;
        if (m.Memory.VmemmapActive)
        {
            var boot = m.Spec.Ram.AllRanges.ToList();
            foreach (var s in m.PresentSections)
            {
                ulong va = m.Memory.Vmemmap + s.StartPfn * sps;
                bool hot = !boot.Any(r => r.Contains(s.StartPfn << m.Arch.PageShift));
                list.Add(new ExplainMemmap(va, va + m.Arch.PagesPerSection * sps, s.StartPfn, m.Arch.PagesPerSection, "vmemmap",
                    hot ? "vmemmap_populate() at hot-add (section_activate)" : "vmemmap_populate() at boot (sparse_init_nid)"));
            }
        }
        foreach (var a in m.Memory.Arrays)
            list.Add(new ExplainMemmap(a.VaStart, a.VaEnd, a.FirstPfn, a.NrPages, LayoutReport.PlacementName(a.Placement), PlacedBy(a)));
        list.Sort((x, y) => x.VaStart.CompareTo(y.VaStart));
        return list;
    }

    /// <summary>Which allocator placed a memmap array, in the kernel's function names (mm/sparse.c, mm/page_alloc.c of the modelled versions).</summary>
    public static string PlacedBy(MemmapArray a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return a.Placement switch
        {
            MemmapPlacement.Flat => "memblock: alloc_node_mem_map() (mem_map)",
            MemmapPlacement.NodeArray => string.Create(CultureInfo.InvariantCulture, $"memblock: alloc_node_mem_map() (node {a.Nid})"),
            MemmapPlacement.BootBuffer => string.Create(CultureInfo.InvariantCulture, $"memblock: sparsemap_buf (sparse_buffer_alloc(), node {a.Nid})"),
            MemmapPlacement.Scattered => string.Create(CultureInfo.InvariantCulture, $"memblock: its own memblock_alloc_try_nid_raw() (node {a.Nid})"),
            MemmapPlacement.Hotplug => a.Kind == KernelVaKind.Vmalloc
                ? "hot-add: kvmalloc_node() fell back to vmalloc"
                : "hot-add: kvmalloc_node() -> alloc_pages (buddy)",
            _ => KernelMemory.PlacementText(a),
        };
    }

    /// <summary>
    /// The middle band: the memmaps the landings (and stray stores) touch, with what lies between them, grouped into
    /// clusters of nearby addresses (a gap no larger than the larger side, or 2 MiB, joins two).
    /// </summary>
    private static List<ExplainCluster> Clusters(Machine m, List<ExplainMark> marks, IReadOnlyList<ExplainStray> strays, List<PhysRange> spans)
    {
        var maps = Memmaps(m);
        int shift = m.Arch.PageShift;
        var iv = new List<(ulong S, ulong E)>();
        // The memmaps holding the huge page's own struct pages: where every entry should have pointed.
        for (int i = 0; i < maps.Count; i++)
        {
            var mm = maps[i];
            foreach (var h in spans)
                if (mm.FirstPfn < h.End >> shift && mm.FirstPfn + mm.NrPages > h.Start >> shift)
                {
                    maps[i] = mm with { OfHugePage = true };
                    iv.Add((mm.VaStart, mm.VaEnd));
                    break;
                }
        }
        var sps = (ulong)m.StructPageSize;
        foreach (var k in marks)
            foreach (var l in k.Landings)
                iv.Add((l.FirstAddress, l.LastAddress + sps));
        foreach (var s in strays) iv.Add((s.Start, s.End));
        // Grow each interval to the memmaps it touches, so a memmap is drawn whole.
        for (int i = 0; i < iv.Count; i++) iv[i] = Grow(iv[i], maps);
        iv.Sort((a, b) => a.S.CompareTo(b.S));
        var merged = new List<(ulong S, ulong E)>();
        foreach (var x in iv)
        {
            if (merged.Count > 0)
            {
                var p = merged[^1];
                ulong gap = x.S > p.E ? x.S - p.E : 0;
                if (gap <= Math.Max(2 * MiB, Math.Max(p.E - p.S, x.E - x.S)))
                {
                    merged[^1] = Grow((p.S, Math.Max(p.E, x.E)), maps);
                    continue;
                }
            }
            merged.Add(x);
        }
        var clusters = new List<ExplainCluster>();
        foreach (var c in merged)
        {
            var inside = new List<ExplainMemmap>();
            foreach (var mm in maps)
                if (mm.VaStart < c.E && mm.VaEnd > c.S) inside.Add(mm);
            var gaps = new List<ExplainVaGap>();
            ulong at = c.S;
            foreach (var mm in inside)
            {
                if (mm.VaStart > at) gaps.Add(Gap(m, at, mm.VaStart));
                at = Math.Max(at, mm.VaEnd);
            }
            if (at < c.E) gaps.Add(Gap(m, at, c.E));
            clusters.Add(new ExplainCluster(c.S, c.E, inside, gaps));
        }
        return clusters;
    }

    private static (ulong S, ulong E) Grow((ulong S, ulong E) x, List<ExplainMemmap> maps)
    {
        foreach (var mm in maps)
            if (mm.VaStart < x.E && mm.VaEnd > x.S)
                x = (Math.Min(x.S, mm.VaStart), Math.Max(x.E, mm.VaEnd));
        return x;
    }

    private static ExplainVaGap Gap(Machine m, ulong s, ulong e)
    {
        string a = m.Describe(s).Region, b = m.Describe(e - 1).Region;
        return new ExplainVaGap(s, e, a == b ? a : a + " ... " + b);
    }
}

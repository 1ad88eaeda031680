using GupSim.Memory;

namespace GupSim.Explain;

/// <summary>
/// Where one <c>pages[i]</c> landed, as <c>gupsim explain</c> draws it (GupSim's own classes, not a kernel type):
/// the struct page it should be, the struct page of another pfn, other kernel data, or nothing mapped.
/// </summary>
public enum ExplainClass
{
    /// <summary><c>pfn_to_page()</c> of the pfn the page table maps at the entry's address.</summary>
    Right,
    /// <summary>The start of a struct page, but of another pfn (or of a pfn where nothing is mapped at the address).</summary>
    Wrong,
    /// <summary>Mapped kernel memory that is not the start of a struct page: other kernel data, or inside a struct page.</summary>
    Other,
    /// <summary>Nothing mapped: a dereference oopses.</summary>
    Unmapped,
}

/// <summary>Names of <see cref="ExplainClass"/> as the SVG's <c>data-class</c> and the docs spell them.</summary>
public static class ExplainClasses
{
    /// <summary>right, wrong, other or unmapped.</summary>
    public static string Name(ExplainClass c) => c switch
    {
        ExplainClass.Right => "right",
        ExplainClass.Wrong => "wrong",
        ExplainClass.Other => "other",
        _ => "unmapped",
    };
}

/// <summary>
/// A stretch of one mark whose entries step through memory one <c>sizeof(struct page)</c> at a time in one region
/// (and, on struct pages, one pfn at a time): where an arrow from the mark points.
/// </summary>
/// <param name="FirstIndex">Index of its first entry.</param>
/// <param name="Count">Entries.</param>
/// <param name="FirstAddress">The first entry's pointer.</param>
/// <param name="LastAddress">The last entry's pointer.</param>
/// <param name="FirstPfn">For struct pages: the pfn whose struct page the first entry is (or holds, when inside one).</param>
/// <param name="LastPfn">For struct pages: the last entry's pfn.</param>
/// <param name="Region">What lives there, as <c>gupsim page</c> says it.</param>
public sealed record ExplainLanding(long FirstIndex, long Count, ulong FirstAddress, ulong LastAddress, ulong? FirstPfn, ulong? LastPfn, string Region);

/// <summary>
/// One run of consecutive <c>pages[]</c> entries of one class: one mark in every rendering.
/// </summary>
/// <param name="Class">The entries' class.</param>
/// <param name="FirstIndex">Index of the run's first entry.</param>
/// <param name="Count">Entries in the run (<c>data-count</c>).</param>
/// <param name="ExpectedFirstPfn">The pfn the first entry should describe, or null where nothing is mapped at its address.</param>
/// <param name="Landings">Where the run's entries point, stretch by stretch (at most <see cref="ExplainScene.MaxLandingsPerMark"/>).</param>
/// <param name="LandingsLeftOff">Stretches not listed in <paramref name="Landings"/>.</param>
public sealed record ExplainMark(ExplainClass Class, long FirstIndex, long Count, ulong? ExpectedFirstPfn, IReadOnlyList<ExplainLanding> Landings, long LandingsLeftOff)
{
    /// <summary>Index of the run's last entry.</summary>
    public long LastIndex => FirstIndex + Count - 1;
}

/// <summary>What a stretch of physical address space is in the picture's top band.</summary>
/// <param name="Start">First physical address.</param>
/// <param name="End">End (exclusive).</param>
/// <param name="Kind"><c>present</c> (RAM present at boot), <c>hotplug</c> (hot-added sections) or <c>hole</c>.</param>
/// <param name="Label">Section numbers or the RAM range it covers.</param>
public sealed record ExplainPhysRange(ulong Start, ulong End, string Kind, string Label);

/// <summary>One memmap in kernel virtual memory, and the allocator that placed it.</summary>
/// <param name="VaStart">Address of the struct page of <paramref name="FirstPfn"/>.</param>
/// <param name="VaEnd">End (exclusive).</param>
/// <param name="FirstPfn">The first pfn it describes.</param>
/// <param name="NrPages">Struct pages in it.</param>
/// <param name="Placement">The layout report's placement name (vmemmap, flat, boot-buffer, scattered, hotplug, ...).</param>
/// <param name="PlacedBy">Which allocator placed it, in the kernel's words.</param>
/// <param name="OfHugePage">Whether it holds struct pages of the huge page(s) the call should describe (where the right entries are).</param>
public sealed record ExplainMemmap(ulong VaStart, ulong VaEnd, ulong FirstPfn, ulong NrPages, string Placement, string PlacedBy, bool OfHugePage = false);

/// <summary>Kernel virtual memory between two memmaps (or around one) in a cluster, and what lives there.</summary>
public sealed record ExplainVaGap(ulong Start, ulong End, string What);

/// <summary>
/// One stretch of kernel virtual address space the picture draws to scale: the memmaps and landings close enough to
/// share an axis. Clusters are drawn side by side with a break between them.
/// </summary>
public sealed record ExplainCluster(ulong Start, ulong End, IReadOnlyList<ExplainMemmap> Memmaps, IReadOnlyList<ExplainVaGap> Gaps);

/// <summary>Stray stores (stores through a pointer that was not the one the kernel meant) close together, and what they reached.</summary>
/// <param name="Start">The lowest address stored to.</param>
/// <param name="End">End of the range (exclusive).</param>
/// <param name="Count">Stores in the range.</param>
/// <param name="Target">What they reached.</param>
public sealed record ExplainStray(ulong Start, ulong End, ulong Count, StrayTarget Target);

/// <summary>
/// The picture of one GUP call (<c>gupsim explain</c>): the physical sections, the memmaps in kernel virtual memory
/// and who placed them, the huge page's span, where each run of <c>pages[]</c> entries landed, and where stray writes
/// went. One scene, three renderings (<see cref="ExplainSvg"/>, the CLI's PNG, <see cref="ExplainText"/>).
/// Invariant (checked when built): the marks' counts add up to <see cref="Entries"/>, and the wrong, other and
/// unmapped marks add up to <see cref="Wrong"/>, the oracle's count.
/// </summary>
public sealed record ExplainScene
{
    /// <summary>Landing stretches kept per mark (the rest are counted in <see cref="ExplainMark.LandingsLeftOff"/>).</summary>
    public const int MaxLandingsPerMark = 64;

    /// <summary>The machine in a few words: arch, memory model, RAM, hot-plug.</summary>
    public required string Machine { get; init; }

    /// <summary>Kernel version, "v5.11".</summary>
    public required string Kernel { get; init; }

    /// <summary>The recording code that ran.</summary>
    public required string Strategy { get; init; }

    /// <summary>The call: "pin-fast write, 262144 pages from 0x7fff80000000 in calls of 262144".</summary>
    public required string Call { get; init; }

    /// <summary>Entries the call filled.</summary>
    public required long Entries { get; init; }

    /// <summary>Entries the oracle found wrong.</summary>
    public required long Wrong { get; init; }

    /// <summary>The runs, in index order.</summary>
    public required IReadOnlyList<ExplainMark> Marks { get; init; }

    /// <summary>The top band: physical address space from 0 to <see cref="PhysEnd"/>.</summary>
    public required IReadOnlyList<ExplainPhysRange> Physical { get; init; }

    /// <summary>End of the top band (the highest RAM end).</summary>
    public required ulong PhysEnd { get; init; }

    /// <summary>Physical spans of the huge pages the call's entries should describe.</summary>
    public required IReadOnlyList<PhysRange> HugePageSpans { get; init; }

    /// <summary>Size of the mapping's huge pages (the page size when not hugetlb).</summary>
    public required ulong HugePageBytes { get; init; }

    /// <summary>The middle band, cluster by cluster in address order.</summary>
    public required IReadOnlyList<ExplainCluster> Va { get; init; }

    /// <summary>Where stray stores landed, range by range (at most <see cref="MaxStrays"/> ranges; <see cref="StrayCounts"/> counts them all).</summary>
    public required IReadOnlyList<ExplainStray> Strays { get; init; }

    /// <summary>Every stray store the call (and its put-back) made, by target.</summary>
    public required StrayWrites StrayCounts { get; init; }

    /// <summary>Stray-store ranges kept.</summary>
    public const int MaxStrays = 4096;

    /// <summary>What the put-back (or the call) oopsed with, or null.</summary>
    public string? Oops { get; init; }

    /// <summary>PAGE_SHIFT on the machine.</summary>
    public required int PageShift { get; init; }

    /// <summary>sizeof(struct page) on the machine.</summary>
    public required int StructPageSize { get; init; }

    /// <summary>"all 512 entries right" or "229376 of 262144 entries wrong".</summary>
    public string Verdict => Wrong == 0
        ? $"all {Entries} entries right"
        : $"{Wrong} of {Entries} entries wrong";

    /// <summary>The title line: machine, kernel, strategy, call, verdict.</summary>
    public string Title => $"{Machine}, {Kernel}, strategy {Strategy}: {Call}: {Verdict}";

    /// <summary>Entries of <paramref name="c"/>, summed over the marks.</summary>
    public long CountOf(ExplainClass c)
    {
        long n = 0;
        foreach (var m in Marks)
            if (m.Class == c) n += m.Count;
        return n;
    }
}

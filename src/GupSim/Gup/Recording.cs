using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory.Models;
using GupSim.Pages;

namespace GupSim.Gup;

/// <remarks>Callers count the <c>pages[]</c> writes; a recorder counts only its own extra work (pfn_to_page, …).</remarks>
/// <summary>What a recorder is asked to do: fill <c>pages[]</c> for subpages FirstSubpage … of the huge page at Head.</summary>
/// <param name="Machine">The machine (its MemMap gives pfn_to_page, nth_page, mem_map_offset as the version defines them).</param>
/// <param name="Head">The head struct page, as the page table gives it (pXd_page: pfn_to_page of the entry's pfn).</param>
/// <param name="HeadPfn">The head's pfn (from the page-table entry).</param>
/// <param name="FirstSubpage">Index of the first subpage to record (pfn_offset).</param>
/// <param name="Counters">Where to count the work done.</param>
/// <param name="Addr">The user address of the first subpage, where the caller has it (0 = not given).</param>
/// <param name="Site">Which caller records: gup-fast's huge leaf or the slow path (a C recorder's caller line depends on it).</param>
public readonly record struct SubpageRecordContext(Machine Machine, PagePtr Head, Pfn HeadPfn, ulong FirstSubpage, GupCounters Counters, ulong Addr = 0, RecordSite Site = RecordSite.Unknown);

/// <summary>The kernel function whose loop a recorder stands for.</summary>
public enum RecordSite
{
    /// <summary>Not said (a recorder called on its own).</summary>
    Unknown,
    /// <summary>gup-fast's gup_huge_pmd()/gup_huge_pud() (gup_fast_pmd_leaf()/gup_fast_pud_leaf()): record_subpages().</summary>
    Fast,
    /// <summary>The slow path: follow_hugetlb_page()'s loop or record_subpages_vmas(), or hugetlb_follow_page_mask() with __get_user_pages().</summary>
    Slow,
}

/// <summary>
/// "Record these subpages": the step of follow_hugetlb_page() (record_subpages_vmas) and of gup-fast's huge leaves
/// (record_subpages) that fills the caller's <c>pages[]</c> with one struct page pointer per 4 KiB subpage. The
/// built-in implementations are the kernel's historic ones plus section-run; implement this interface in your own
/// assembly and load it with <c>--strategy-assembly</c> to try another.
/// </summary>
public interface ISubpageRecorder
{
    /// <summary>The name <c>--strategy</c> selects it by.</summary>
    string Name { get; }

    /// <summary>Fills <paramref name="pages"/> (one entry per subpage, starting at <c>ctx.FirstSubpage</c>).</summary>
    void Record(in SubpageRecordContext ctx, Span<PagePtr> pages);

    /// <summary>
    /// record_subpages() as gup-fast's huge leaves call it before v6.18 (<c>refs = record_subpages(…)</c>): fills
    /// <paramref name="pages"/> and returns how many entries it filled, which the caller grabs and counts; 0 to
    /// <c>pages.Length</c>. The default fills every entry with <see cref="Record"/> and returns them all.
    /// </summary>
    int RecordCounted(in SubpageRecordContext ctx, Span<PagePtr> pages)
    {
        Record(ctx, pages);
        return pages.Length;
    }
}

/// <summary>The built-in recorders.</summary>
public static class SubpageRecorders
{
    /// <summary><c>page++</c> from <c>head + offset</c>: record_subpages() up to v5.17 and from v6.18, and v1 of 82e5d378b0e4.</summary>
    public static ISubpageRecorder PagePlusPlus { get; } = new PagePlusPlusRecorder();
    /// <summary><c>mem_map_offset(head, offset + nr)</c> from the aligned head: the pre-series slow path (correct everywhere).</summary>
    public static ISubpageRecorder MemMapOffsetAligned { get; } = new MemMapOffsetAlignedRecorder();
    /// <summary><c>mem_map_offset(mem_map_offset(head, offset), nr)</c>: 82e5d378b0e4 as merged (mm/hugetlb.c follow_hugetlb_page(), v5.12).</summary>
    public static ISubpageRecorder MemMapOffsetMerged { get; } = new MemMapOffsetMergedRecorder();
    /// <summary><c>nth_page(nth_page(head, offset), nr)</c>: v6.1 slow GUP and c228afb11ac6 gup-fast (v5.18).</summary>
    public static ISubpageRecorder NthPage { get; } = new NthPageRecorder();
    /// <summary>GupSim's own: <c>page++</c> inside each section, <c>pfn_to_page()</c> at each section boundary.</summary>
    public static ISubpageRecorder SectionRun { get; } = new SectionRunRecorder();

    /// <summary>Every built-in, by name.</summary>
    public static IReadOnlyList<ISubpageRecorder> All { get; } = [PagePlusPlus, MemMapOffsetAligned, MemMapOffsetMerged, NthPage, SectionRun];

    /// <summary>
    /// record_subpages() as gup-fast's huge leaves call it before v6.18, returning the entries it filled, which the
    /// caller grabs and counts: every entry for the built-ins, what <see cref="ISubpageRecorder.RecordCounted"/>
    /// returned for any other (a C recorder returns what its function returned).
    /// </summary>
    /// <exception cref="GupSimException">Thrown when the recorder returns less than 0 or more than it was given: the
    /// kernel would grab that many and count past <c>pages[]</c>; the recorder is what to fix.</exception>
    internal static int RecordCounted(ISubpageRecorder recorder, in SubpageRecordContext ctx, Span<PagePtr> pages)
    {
        switch (recorder)
        {
            case MemMapOffsetAlignedRecorder or PagePlusPlusRecorder or SectionRunRecorder or MemMapOffsetMergedRecorder or NthPageRecorder:
                Record(recorder, ctx, pages);
                return pages.Length;
        }
        int nr = recorder.RecordCounted(ctx, pages);
        if ((uint)nr > (uint)pages.Length)
            throw new GupSimException(string.Create(CultureInfo.InvariantCulture,
                $"{recorder.Name}: record_subpages() returned {nr} for {pages.Length} subpages: gup-fast grabs and counts what it returns, so return 0 to {pages.Length}"));
        return nr;
    }

    /// <summary>
    /// <c>recorder.Record(ctx, pages)</c> with the built-ins called directly: each is a sealed class, so a type test
    /// and a non-virtual call replace the interface dispatch on the per-subpage paths (v5.11's one-entry calls) and
    /// let the JIT inline them without a runtime profile. Any other recorder goes through the interface.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Record(ISubpageRecorder recorder, in SubpageRecordContext ctx, Span<PagePtr> pages)
    {
        switch (recorder)
        {
            case MemMapOffsetAlignedRecorder r: r.Record(ctx, pages); break;
            case PagePlusPlusRecorder r: r.Record(ctx, pages); break;
            case SectionRunRecorder r: r.Record(ctx, pages); break;
            case MemMapOffsetMergedRecorder r: r.Record(ctx, pages); break;
            case NthPageRecorder r: r.Record(ctx, pages); break;
            default: recorder.Record(ctx, pages); break;
        }
    }

    /// <summary>
    /// Fills <paramref name="pages"/> with <c>start + i × stride</c> (wrapping as C pointer arithmetic does): the
    /// page++ run, shared by page++ and section-run so both do the same work per entry. Two 256-bit stores per
    /// iteration, no bounds checks, no stack buffer; a scalar loop for the tail and where Vector256 is not accelerated.
    /// </summary>
    internal static void FillRun(Span<PagePtr> pages, ulong start, int stride)
    {
        ref ulong dst = ref Unsafe.As<PagePtr, ulong>(ref MemoryMarshal.GetReference(pages));
        nuint n = (nuint)pages.Length, i = 0;
        ulong s = unchecked((ulong)(long)stride);
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var v = Vector256.Create(start) + Vector256<ulong>.Indices * s;
            var half = Vector256.Create(unchecked(s * 4));
            var step = Vector256.Create(unchecked(s * 8));
            for (; i + 8 <= n; i += 8)
            {
                v.StoreUnsafe(ref dst, i);
                (v + half).StoreUnsafe(ref dst, i + 4);
                v += step;
            }
        }
        for (; i < n; i++) Unsafe.Add(ref dst, i) = unchecked(start + i * s);
    }

    private sealed class PagePlusPlusRecorder : ISubpageRecorder
    {
        public string Name => "page++";

        public void Record(in SubpageRecordContext ctx, Span<PagePtr> pages)
        {
            int sps = ctx.Machine.StructPageSize;
            FillRun(pages, ctx.Head.Add((long)ctx.FirstSubpage, sps).Address, sps);
        }
    }

    private sealed class MemMapOffsetAlignedRecorder : ISubpageRecorder
    {
        public string Name => "mem_map_offset-aligned";

        public void Record(in SubpageRecordContext ctx, Span<PagePtr> pages)
        {
            var mm = ctx.Machine.MemMap;
            // mem_map_offset(head, off): head + off below MAX_ORDER_NR_PAGES (one store run), nth_page() from there.
            ulong limit = mm.MaxOrderNrPages;
            int near = ctx.FirstSubpage >= limit ? 0 : (int)Math.Min((ulong)pages.Length, limit - ctx.FirstSubpage);
            int sps = ctx.Machine.StructPageSize;
            if (near > 0) FillRun(pages[..near], ctx.Head.Add((long)ctx.FirstSubpage, sps).Address, sps);
            for (int i = near; i < pages.Length; i++)
            {
                pages[i] = mm.NthPageOrPfnRoundTrip(ctx.Head, ctx.FirstSubpage + (ulong)i);
                CountRoundTrip(ctx);
            }
        }
    }

    private sealed class MemMapOffsetMergedRecorder : ISubpageRecorder
    {
        public string Name => "mem_map_offset";

        public void Record(in SubpageRecordContext ctx, Span<PagePtr> pages)
        {
            var m = ctx.Machine;
            var baseP = m.MemMap.MemMapOffsetHistoric(ctx.Head, ctx.FirstSubpage);
            if (ctx.FirstSubpage >= m.MemMap.MaxOrderNrPages) CountRoundTrip(ctx);
            // mem_map_offset(base, nr): base + nr below MAX_ORDER_NR_PAGES (one store run), nth_page() from there.
            int near = (int)Math.Min((ulong)pages.Length, m.MemMap.MaxOrderNrPages);
            FillRun(pages[..near], baseP.Address, m.StructPageSize);
            for (int i = near; i < pages.Length; i++)
            {
                pages[i] = m.MemMap.NthPageOrPfnRoundTrip(baseP, (ulong)i);
                CountRoundTrip(ctx);
            }
        }
    }

    private sealed class NthPageRecorder : ISubpageRecorder
    {
        public string Name => "nth_page";

        public void Record(in SubpageRecordContext ctx, Span<PagePtr> pages)
        {
            var m = ctx.Machine;
            bool roundTrip = m.MemMap.NthPageRoundTrips;
            var baseP = m.MemMap.NthPageOrPfnRoundTrip(ctx.Head, ctx.FirstSubpage);
            if (roundTrip) CountRoundTrip(ctx);
            for (int i = 0; i < pages.Length; i++) pages[i] = m.MemMap.NthPageOrPfnRoundTrip(baseP, (ulong)i);
            if (roundTrip)
            {
                ctx.Counters.PageToPfn(pages.Length);
                ctx.Counters.PfnToPage(pages.Length);
                ctx.Counters.Touch(pages.Length);
            }
        }
    }

    /// <remarks>
    /// One <c>pfn_to_page()</c> (and one counter update) per run, a run being the subpages up to the next section
    /// boundary on the models whose memmap is not virtually contiguous (classic SPARSEMEM, DISCONTIGMEM) and the
    /// whole call on SPARSEMEM_VMEMMAP and FLATMEM. The common case — the call lies in one section — takes the
    /// straight-line path: one lookup, one counter update, one <see cref="FillRun"/>, as page++ plus a lookup.
    /// </remarks>
    private sealed class SectionRunRecorder : ISubpageRecorder
    {
        public string Name => "section-run";

        public void Record(in SubpageRecordContext ctx, Span<PagePtr> pages)
        {
            int n = pages.Length;
            if (n == 0) return;
            var m = ctx.Machine;
            var memMap = m.MemMap;
            var counters = ctx.Counters;
            int sps = m.StructPageSize;
            ulong pfn = ctx.HeadPfn.Value + ctx.FirstSubpage;
            ulong left = (ulong)n; // subpages to the end of this run
            if (m.Model is not (MemoryModel.SparsememVmemmap or MemoryModel.Flatmem))
            {
                ulong perSection = m.Arch.PagesPerSection;
                left = perSection - (pfn & (perSection - 1));
            }
            if (left >= (ulong)n)
            {
                var first = memMap.PfnToPage(Pfn.FromUInt64(pfn));
                counters.PfnToPage();
                FillRun(pages, first.Address, sps);
                return;
            }
            RecordRuns(memMap, counters, sps, pfn, (int)left, m.Arch.PagesPerSection, pages);
        }

        /// <summary>The call crosses section boundaries: a run to the first boundary, then whole sections.</summary>
        private static void RecordRuns(MemMap memMap, GupCounters counters, int sps, ulong pfn, int run, ulong perSection, Span<PagePtr> pages)
        {
            int done = 0;
            while (true)
            {
                var first = memMap.PfnToPage(Pfn.FromUInt64(pfn));
                counters.PfnToPage();
                FillRun(pages.Slice(done, run), first.Address, sps);
                done += run;
                if (done == pages.Length) return;
                pfn += (ulong)run;
                run = (int)Math.Min((ulong)(pages.Length - done), perSection);
            }
        }
    }

    private static void CountRoundTrip(in SubpageRecordContext ctx) => CountRoundTrip(ctx.Counters);

    /// <summary>What one nth_page() pfn round trip counts: a page_to_pfn(), a pfn_to_page() and the struct page it reads (the C helpers count the same).</summary>
    internal static void CountRoundTrip(GupCounters counters)
    {
        counters.PageToPfn();
        counters.PfnToPage();
        counters.Touch();
    }
}

using System.Globalization;
using System.Text;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Debug;

/// <summary>
/// dump_page() / __dump_page() (mm/debug.c) as the machine's kernel version prints it, and the helpers its lines
/// use: page_mapcount() (include/linux/mm.h, mm/util.c), page_mapping(), page_to_pgoff() and the %pGp flags format
/// (lib/vsprintf.c). Pointers print in full, as with <c>no_hash_pointers</c>.
/// </summary>
/// <remarks>
/// The versions: v5.10–v5.17 print <c>page:… refcount mapcount mapping index pfn</c> and a separate
/// <c>head:… order compound_mapcount [compound_pincount]</c> line; v5.18–v6.1 always print the pincount; v6.2
/// <c>head:… order compound_mapcount subpages_mapcount compound_pincount</c> (Hugh Dickins' "mm,thp,rmap: simplify
/// compound page mapcount"), whose page_mapcount() adds the compound mapcount for every compound page; v6.3–v6.8
/// <c>head:… order entire_mapcount nr_pages_mapped pincount</c> (v6.6+ also <c>page_type:</c>); v6.9 (__dump_folio)
/// <c>page: refcount …</c> without the pointer, mapcount = this page's (never below 0) + entire_mapcount, and
/// <c>head: order entire_mapcount nr_pages_mapped pincount</c>; v6.10 (David Hildenbrand's _large_mapcount series:
/// "mm: track mapcount of large folios in single value", "mm/debug: print only page mapcount (excluding folio entire
/// mapcount) in __dump_folio()") mapcount = this page's alone (0 for a typed page) and
/// <c>head: order mapcount entire_mapcount nr_pages_mapped pincount</c>; from v6.9 a two-page <c>head:</c> hex dump
/// for large folios, and for a typed head (a hugetlb folio's page type) <c>page_type: 0xfffff7ff(hugetlb)</c> (v6.9–v6.10;
/// v6.11 <c>0xfbffffff(hugetlb)</c>; v6.12 <c>page_type: f4(hugetlb)</c>, <see cref="PageTypes.DumpLine"/>). Whether
/// v6.9 itself printed the line only for typed pages, as v6.10 does, is not confirmed. %pGp is names only before v5.13 and
/// <c>0x…(names|section=|node=|zone=)</c> from v5.13 (c244297acbe5). Not printed, because GupSim does not model
/// them: memcg, the aops/dentry lines of file mappings, lastcpupid, page_owner.
/// GupSim keeps one compound mapcount per large folio: <c>entire_mapcount</c> is it + 1, <c>mapcount</c> of the
/// folio equals it (an entirely mapped folio's _large_mapcount follows _entire_mapcount), <c>nr_pages_mapped</c> is 0.
/// </remarks>
public static class DumpPage
{
    /// <summary>v5.13: %pGp prints the hex word and the section/node/zone fields (c244297acbe5).</summary>
    private static bool PgpPrintsFields(KernelVersion v) => v >= KernelVersion.FromNumbers(5, 13);
    /// <summary>v6.3: the compound line names entire_mapcount and nr_pages_mapped; page_mapcount() adds entire_mapcount.</summary>
    private static bool HasEntireMapcount(KernelVersion v) => v >= KernelVersion.FromNumbers(6, 3);
    /// <summary>v6.2: page_mapcount() adds the compound mapcount for every compound page, and the compound line names subpages_mapcount.</summary>
    private static bool MapcountAddsCompoundAlways(KernelVersion v) => v >= KernelVersion.FromNumbers(6, 2);
    /// <summary>v6.9: __dump_folio().</summary>
    private static bool DumpsFolio(KernelVersion v) => v >= KernelVersion.FromNumbers(6, 9);
    /// <summary>
    /// v6.9: page_mapcount() reads a typed page (slab, page table, buddy: _mapcount holds the type) as 0 by
    /// clamping _mapcount + 1 below 0 to 0 (fd1a745ce03e, "mm: support page_mapcount() on page_has_type() pages").
    /// </summary>
    private static bool MapcountClampsBelowZero(KernelVersion v) => v >= KernelVersion.FromNumbers(6, 9);
    /// <summary>
    /// v6.10: the folio line prints folio_mapcount() (_large_mapcount), the page line this page's mapcount alone, and
    /// a typed page is recognised by page_mapcount_is_type() (_mapcount + 1 below PAGE_MAPCOUNT_RESERVE + 1), the
    /// same series that makes the page_ref tracepoint record the raw _mapcount.
    /// </summary>
    private static bool DumpsLargeMapcount(KernelVersion v) => v >= KernelVersion.FromNumbers(6, 10);

    /// <summary>%p with no_hash_pointers: the pointer zero-padded to the word's width, no 0x.</summary>
    public static string Pointer(Machine m, ulong v)
    {
        ArgumentNullException.ThrowIfNull(m);
        return v.ToString(m.Arch.WordBytes == 8 ? "x16" : "x8", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// page_mapcount() as the version defines it. Before v6.2 (__page_mapcount()): _mapcount + 1, plus for a compound
    /// anonymous or hugetlb page the compound mapcount + 1. v6.2+: _mapcount + 1 (0 for a typed page: from v6.9 by
    /// clamping below 0, from v6.10 by page_mapcount_is_type()), plus the compound (v6.3+: folio_entire_mapcount())
    /// mapcount + 1 for every compound page.
    /// </summary>
    public static int PageMapcount(Machine m, PagePtr page)
    {
        ArgumentNullException.ThrowIfNull(m);
        var sp = m.StructPages;
        int mapcount = sp.MapcountRaw(page) + 1;
        if (DumpsLargeMapcount(m.Version) ? PageMapcountIsType(mapcount) : MapcountClampsBelowZero(m.Version) && mapcount < 0) mapcount = 0;
        if (!sp.PageCompound(page)) return mapcount;
        var head = sp.CompoundHead(page);
        if (MapcountAddsCompoundAlways(m.Version)) return mapcount + sp.CompoundMapcount(head) + 1;
        if (!sp.PageAnon(page) && !m.Hugetlb.PageHuge(head)) return mapcount;
        return mapcount + sp.CompoundMapcount(head) + 1;
    }

    /// <summary>page_mapcount_is_type(): a _mapcount + 1 below PAGE_MAPCOUNT_RESERVE + 1 holds a page type, not a count.</summary>
    private static bool PageMapcountIsType(int mapcountPlusOne) => mapcountPlusOne - 1 < -128;

    /// <summary>page_mapping(): NULL for slab and anonymous pages, else the head's mapping without PAGE_MAPPING_FLAGS.</summary>
    public static ulong PageMapping(Machine m, PagePtr page)
    {
        ArgumentNullException.ThrowIfNull(m);
        var sp = m.StructPages;
        var head = sp.CompoundHead(page);
        if (sp.TestFlag(head, PageFlagBits.Slab)) return 0;
        ulong mapping = sp.Mapping(head);
        if ((mapping & StructPages.PageMappingAnon) != 0) return 0;
        return mapping & ~StructPages.PageMappingFlags;
    }

    /// <summary>page_to_pgoff(): a hugetlb head's index is in huge pages (index &lt;&lt; order); a tail's is head->index + its offset.</summary>
    public static ulong PageToPgoff(Machine m, PagePtr page)
    {
        ArgumentNullException.ThrowIfNull(m);
        var sp = m.StructPages;
        // A hugetlb head's index is in huge pages until v6.7, which counts it in base pages and drops this case with
        // linear_page_index()'s (KernelVersion.HugetlbIndexInBasePages).
        if (!m.Version.HugetlbIndexInBasePages && sp.PageHead(page) && m.Hugetlb.PageHuge(page)) return sp.Index(page) << sp.CompoundOrder(page);
        if (!sp.PageTail(page)) return sp.Index(page);
        var head = sp.CompoundHead(page);
        return sp.Index(head) + (ulong)PagePtr.Difference(page, head, m.StructPageSize);
    }

    /// <summary>%pGp of <paramref name="flags"/>: names joined by '|' (v5.13+: <c>0x…(names|section=N|node=N|zone=N)</c>).</summary>
    public static string Pgp(Machine m, ulong flags)
    {
        ArgumentNullException.ThrowIfNull(m);
        var names = new List<string>();
        for (int b = 0; b < PageFlagBits.NrPageFlagsFor(m.Arch.BitsPerLong); b++)
            if ((flags & (1UL << b)) != 0) names.Add(PageFlagBits.Names[b]);
        if (!PgpPrintsFields(m.Version)) return string.Join('|', names);
        var l = m.FlagsLayout;
        var ci = CultureInfo.InvariantCulture;
        if (l.SectionsWidth > 0) names.Add("section=" + l.SectionOf(flags).ToString(ci));
        if (l.NodesWidth > 0) names.Add("node=" + l.NodeOf(flags).ToString(ci));
        if (l.ZonesWidth > 0) names.Add("zone=" + l.ZoneOf(flags).ToString(ci));
        return "0x" + flags.ToString("x", ci) + "(" + string.Join('|', names) + ")";
    }

    /// <summary>The lines dump_page(page, reason) prints.</summary>
    public static IReadOnlyList<string> Lines(Machine m, PagePtr page, string? reason)
    {
        ArgumentNullException.ThrowIfNull(m);
        var sp = m.StructPages;
        var v = m.Version;
        var ci = CultureInfo.InvariantCulture;
        var lines = new List<string>();
        var head = sp.CompoundHead(page);
        bool compound = sp.PageCompound(page);
        ulong mapping;
        // A "head" that does not contain the page is corruption: dump the page on its own.
        long offset = PagePtr.Difference(page, head, m.StructPageSize);
        if (offset < 0 || (ulong)offset >= m.MemMap.MaxOrderNrPages)
        {
            ulong raw = sp.Mapping(page);
            mapping = (raw & StructPages.PageMappingAnon) != 0 ? 0 : raw & ~StructPages.PageMappingFlags;
            head = page;
            compound = false;
            offset = 0;
        }
        else mapping = PageMapping(m, page);
        ulong pfn = SafePfn(m, page);
        ulong headFlags = sp.Flags(head);
        string type = (sp.Mapping(head) & StructPages.PageMappingAnon) != 0 ? "anon " : "";
        string cma = m.CmaAreas.Count != 0 && pfn != ulong.MaxValue && m.IsCmaPfn(pfn) ? " CMA" : "";
        if (DumpsFolio(v))
        {
            // v6.9 open-codes page_mapcount() "to avoid looking up a stale folio" (the same count); v6.10 prints the
            // page's own mapcount, a typed page's as 0.
            int mapcount = sp.MapcountRaw(page) + 1;
            if (!DumpsLargeMapcount(v)) mapcount = PageMapcount(m, page);
            else if (PageMapcountIsType(mapcount)) mapcount = 0;
            lines.Add(string.Create(ci, $"page: refcount:{sp.Refcount(head)} mapcount:{mapcount} mapping:{Pointer(m, mapping)} index:{Hex(sp.Index(head) + (ulong)offset)} pfn:{Hex(pfn)}"));
            if (compound)
            {
                int entire = sp.CompoundMapcount(head) + 1;
                int order = sp.CompoundOrder(head);
                bool hasPincount = m.Arch.WordBytes == 8 || order > 1; // folio_has_pincount()
                int pincount = hasPincount ? sp.CompoundPincount(head) : 0;
                lines.Add(DumpsLargeMapcount(v)
                    ? string.Create(ci, $"head: order:{order} mapcount:{entire} entire_mapcount:{entire} nr_pages_mapped:0 pincount:{pincount}")
                    : string.Create(ci, $"head: order:{order} entire_mapcount:{entire} nr_pages_mapped:0 pincount:{pincount}"));
            }
            lines.Add(string.Create(ci, $"{type}flags: {Pgp(m, headFlags)}{cma}"));
            // if (page_has_type(&folio->page)): the head's type (a hugetlb folio's, d99e3140a4d3), whichever page is dumped.
            uint headType = (uint)sp.MapcountRaw(head);
            if (PageTypes.HasType(headType)) lines.Add(PageTypes.DumpLine(headType, v.PageTypeEncoding));
            HexDump(m, "raw: ", page, 1, lines);
            if (compound) HexDump(m, "head: ", head, 2, lines);
        }
        else
        {
            int mapcount = sp.TestFlag(head, PageFlagBits.Slab) ? 0 : PageMapcount(m, page);
            lines.Add(string.Create(ci, $"page:{Pointer(m, page.Address)} refcount:{sp.Refcount(head)} mapcount:{mapcount} mapping:{Pointer(m, mapping)} index:{Hex(PageToPgoff(m, page))} pfn:{Hex(pfn)}"));
            if (compound)
            {
                string h = Pointer(m, head.Address);
                int order = sp.CompoundOrder(head);
                int entire = sp.CompoundMapcount(head) + 1;
                if (HasEntireMapcount(v))
                    lines.Add(string.Create(ci, $"head:{h} order:{order} entire_mapcount:{entire} nr_pages_mapped:0 pincount:{sp.CompoundPincount(head)}"));
                else if (MapcountAddsCompoundAlways(v)) // head_subpages_mapcount(): GupSim maps no compound page by PTE
                    lines.Add(string.Create(ci, $"head:{h} order:{order} compound_mapcount:{entire} subpages_mapcount:0 compound_pincount:{sp.CompoundPincount(head)}"));
                else if (v.PincountInFirstTail || sp.HpagePincountAvailable(head))
                    lines.Add(string.Create(ci, $"head:{h} order:{order} compound_mapcount:{entire} compound_pincount:{sp.CompoundPincount(head)}"));
                else
                    lines.Add(string.Create(ci, $"head:{h} order:{order} compound_mapcount:{entire}"));
            }
            lines.Add(PgpPrintsFields(v)
                ? string.Create(ci, $"{type}flags: {Pgp(m, headFlags)}{cma}")
                : string.Create(ci, $"{type}flags: {Hex(headFlags)}({Pgp(m, headFlags)}){cma}"));
            if (v >= KernelVersion.V6_6)
            {
                // %pGt of head->page_type, which overlays _mapcount: no type bits → just the word.
                uint pageType = (uint)sp.MapcountRaw(head);
                lines.Add(string.Create(ci, $"page_type: {Hex(pageType)}()"));
            }
            HexDump(m, "raw: ", page, 1, lines);
            if (head != page) HexDump(m, "head: ", head, 1, lines);
        }
        if (reason is not null) lines.Add("page dumped because: " + reason);
        return lines;
    }

    /// <summary>%#lx: 0x and lowercase hex (0 prints 0x0).</summary>
    private static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>page_to_pfn() of whatever the pointer is; <see cref="ulong.MaxValue"/> where the kernel would fault.</summary>
    private static ulong SafePfn(Machine m, PagePtr page)
    {
        try
        {
            return m.PageToPfn(page).Value;
        }
        catch (KernelOops)
        {
            return ulong.MaxValue;
        }
    }

    /// <summary>print_hex_dump(KERN_WARNING, prefix, DUMP_PREFIX_NONE, 32, sizeof(unsigned long), p, pages × sizeof(struct page)).</summary>
    private static void HexDump(Machine m, string prefix, PagePtr p, int pages, List<string> lines)
    {
        int wb = m.Arch.WordBytes, words = pages * m.StructPageSize / wb, perLine = 32 / wb;
        for (int w = 0; w < words; w += perLine)
        {
            var sb = new StringBuilder(prefix);
            for (int k = w; k < Math.Min(words, w + perLine); k++)
            {
                if (k > w) sb.Append(' ');
                sb.Append(Pointer(m, m.Memory.ReadWord(p.Address + (ulong)(k * wb), "dump_page raw")));
            }
            lines.Add(sb.ToString());
        }
    }
}

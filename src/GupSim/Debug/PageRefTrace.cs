using System.Globalization;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Debug;

/// <summary>
/// The page_ref trace events (include/trace/events/page_ref.h, mm/debug_page_ref.c): one line per reference change,
/// as TP_printk formats it after the event name, <c>page_ref_mod: pfn=0x… flags=… count=… mapcount=… mapping=… mt=…
/// val=…</c> (the _and_test / _unless / _and_return events add <c>ret=</c>). Each field is read the way the
/// tracepoint's TP_fast_assign reads it, right after the atomic operation: page_to_pfn(), page->flags below
/// NR_PAGEFLAGS through show_page_flags() ("none" when none is set), page_ref_count(), page_mapcount()
/// (<see cref="DumpPage.PageMapcount"/>; the raw _mapcount from v6.10, <see cref="RecordsRawMapcount"/>),
/// page->mapping (%p, printed in full), get_pageblock_migratetype().
/// </summary>
/// <remarks>Events are fired by the page_ref.h helpers in <see cref="Pages.PageRef"/>, which GUP's grab and release,
/// the page allocator's set_page_refcounted(), free_contig_range(), FOLL_LONGTERM's isolation, the hugetlb pool's dequeue
/// and put_page(), the hugetlbfs page cache's add, lookup and removal, hugetlb_fault() on a present entry with
/// hugetlb_cow()/hugetlb_wp(), a hugetlb page's migration, the 4 KiB page cache's add, lookup, put and removal,
/// and zap's puts go through (the migration of other pages still changes _refcount directly, and the LRU add
/// batches are not modelled: docs/cli.md);
/// which helper a path calls is the machine's kernel version's (<see cref="Gup.Grab"/>: v5.11's
/// try_grab_compound_head()/put_compound_head(), v5.14's split of a pin into page_ref_add_unless() + page_ref_add(),
/// v5.18's gup_put_folio() → folio_put_refs(), v6.10's try_grab_folio() with folio_ref_add()). Lines are what follows
/// the event's <c>task-pid [cpu] flags timestamp:</c> prefix in /sys/kernel/tracing/trace; GupSim has no task, cpu or
/// clock to print there.</remarks>
public sealed class PageRefTrace(Machine machine)
{
    private readonly Machine _m = machine;
    private readonly List<string> _lines = [];
    private readonly Lock _lock = new();

    /// <summary>The lines recorded so far, in order.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lock) return [.. _lines];
        }
    }

    /// <summary>The lines recorded so far, in order, forgotten in the same step (none recorded in between is lost).</summary>
    public IReadOnlyList<string> TakeLines()
    {
        lock (_lock)
        {
            string[] lines = [.. _lines];
            _lines.Clear();
            return lines;
        }
    }

    /// <summary>page_ref_set (set_page_count(), init_page_count()): <paramref name="v"/> is the new count.</summary>
    public void Set(PagePtr page, int v) => Add("page_ref_set", page, v, null);

    /// <summary>page_ref_mod (page_ref_add(), page_ref_sub(), page_ref_inc(), page_ref_dec()): <paramref name="v"/> is the change.</summary>
    public void Mod(PagePtr page, int v) => Add("page_ref_mod", page, v, null);

    /// <summary>page_ref_freeze (page_ref_freeze(), folio_ref_freeze()): <paramref name="v"/> the count frozen, <paramref name="ret"/> whether it froze.</summary>
    public void Freeze(PagePtr page, int v, bool ret) => Add("page_ref_freeze", page, v, ret ? 1 : 0);

    /// <summary>page_ref_unfreeze (page_ref_unfreeze(), folio_ref_unfreeze()): <paramref name="v"/> is the new count.</summary>
    public void Unfreeze(PagePtr page, int v) => Add("page_ref_unfreeze", page, v, null);

    /// <summary>page_ref_mod_unless (page_ref_add_unless()): <paramref name="ret"/> whether the add happened.</summary>
    public void ModUnless(PagePtr page, int v, bool ret) => Add("page_ref_mod_unless", page, v, ret ? 1 : 0);

    /// <summary>page_ref_mod_and_test (page_ref_sub_and_test(), page_ref_dec_and_test()): <paramref name="ret"/> whether the count reached 0.</summary>
    public void ModAndTest(PagePtr page, int v, bool ret) => Add("page_ref_mod_and_test", page, v, ret ? 1 : 0);

    private void Add(string evt, PagePtr page, int v, int? ret)
    {
        var sp = _m.StructPages;
        var ci = CultureInfo.InvariantCulture;
        ulong pfn = _m.PageToPfn(page).Value;
        ulong flags = sp.Flags(page) & ((1UL << PageFlagBits.NrPageFlagsFor(_m.Arch.BitsPerLong)) - 1);
        var names = new List<string>();
        for (int b = 0; b < 64; b++)
            if ((flags & (1UL << b)) != 0) names.Add(PageFlagBits.Names[b]);
        int mt = _m.ZoneOfPfn(pfn) is { } zone ? (int)zone.GetPageblockMigratetype(pfn) : 0;
        // show_page_flags(): __print_flags() of the set flags, or "none" when no flag is set (include/trace/events/mmflags.h).
        string shown = names.Count == 0 ? "none" : string.Join('|', names);
        int mapcount = RecordsRawMapcount(_m.Version) ? sp.MapcountRaw(page) : DumpPage.PageMapcount(_m, page);
        string line = string.Create(ci,
            $"{evt}: pfn=0x{pfn:x} flags={shown} count={sp.Refcount(page)} mapcount={mapcount} mapping={DumpPage.Pointer(_m, sp.Mapping(page))} mt={mt} val={v}");
        if (ret is int r) line += string.Create(ci, $" ret={r}");
        lock (_lock) _lines.Add(line);
    }

    /// <summary>
    /// Whether the tracepoint records <c>atomic_read(&amp;page-&gt;_mapcount)</c>, the raw value (−1 for an unmapped page),
    /// instead of page_mapcount() ("trace/events/page_ref: trace the raw page mapcount value", David Hildenbrand's
    /// April 2024 page_mapcount() series, v6.10 — the series whose page_mapcount_is_type() <see cref="DumpPage"/> reads
    /// from v6.10 too).
    /// </summary>
    internal static bool RecordsRawMapcount(Arch.KernelVersion v) => v >= Arch.KernelVersion.FromNumbers(6, 10);

    /// <summary>Parses a <c>--trace</c> value: only the page_ref event group is modelled.</summary>
    /// <exception cref="GupSimException">Thrown for any other name.</exception>
    public static void CheckEventGroup(string name, string command)
    {
        if (name != "page_ref")
            throw new GupSimException($"{command}: --trace {name}: GupSim models the page_ref trace events only: use --trace page_ref");
    }
}

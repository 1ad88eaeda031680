namespace GupSim.Gup;

/// <summary>
/// Deterministic cost counters of GUP runs (issue 4 §7): what the modelled kernel did, independent of timing.
/// Incremented with <see cref="Interlocked"/> so concurrent gup-fast callers count exactly.
/// </summary>
public sealed class GupCounters
{
    private long _atomics, _structPagesTouched, _pfnToPage, _pageToPfn, _pteReads, _pagesWrites;

    /// <summary>Counters for a machine; on classic SPARSEMEM every pfn_to_page()/page_to_pfn() is one mem_section lookup.</summary>
    public GupCounters(bool classicSparse = false) => ClassicSparse = classicSparse;

    /// <summary>Whether section lookups are counted (classic SPARSEMEM).</summary>
    public bool ClassicSparse { get; }

    /// <summary>Atomic read-modify-writes on struct page counters (refcount, pincount).</summary>
    public long Atomics => Volatile.Read(ref _atomics);
    /// <summary>Struct pages read or written.</summary>
    public long StructPagesTouched => Volatile.Read(ref _structPagesTouched);
    /// <summary>pfn_to_page() calls.</summary>
    public long PfnToPageCalls => Volatile.Read(ref _pfnToPage);
    /// <summary>page_to_pfn() calls.</summary>
    public long PageToPfnCalls => Volatile.Read(ref _pageToPfn);
    /// <summary>mem_section table lookups: one per pfn_to_page()/page_to_pfn() on classic SPARSEMEM, none elsewhere (derived, not counted: PERF).</summary>
    public long SectionLookups => ClassicSparse ? PfnToPageCalls + PageToPfnCalls : 0;
    /// <summary>Page-table entries read.</summary>
    public long PageTableEntriesRead => Volatile.Read(ref _pteReads);
    /// <summary>pages[] entries written.</summary>
    public long PagesWrites => Volatile.Read(ref _pagesWrites);

    internal void Atomic(long n = 1) => Interlocked.Add(ref _atomics, n);
    internal void Touch(long n = 1) => Interlocked.Add(ref _structPagesTouched, n);
    internal void PfnToPage(long n = 1) => Interlocked.Add(ref _pfnToPage, n);
    internal void PageToPfn(long n = 1) => Interlocked.Add(ref _pageToPfn, n);
    internal void PteRead(long n = 1) => Interlocked.Add(ref _pteReads, n);
    internal void PagesWrite(long n) => Interlocked.Add(ref _pagesWrites, n);

    /// <summary>A copy of the current values.</summary>
    public GupCounterValues Snapshot() => new(Atomics, StructPagesTouched, PfnToPageCalls, PageToPfnCalls, SectionLookups, PageTableEntriesRead, PagesWrites);
}

/// <summary>A snapshot of <see cref="GupCounters"/>.</summary>
public sealed record GupCounterValues(long Atomics, long StructPagesTouched, long PfnToPageCalls, long PageToPfnCalls, long SectionLookups, long PageTableEntriesRead, long PagesWrites)
{
    /// <summary>The difference b − a.</summary>
    public static GupCounterValues operator -(GupCounterValues b, GupCounterValues a) => new(
        b.Atomics - a.Atomics, b.StructPagesTouched - a.StructPagesTouched, b.PfnToPageCalls - a.PfnToPageCalls,
        b.PageToPfnCalls - a.PageToPfnCalls, b.SectionLookups - a.SectionLookups, b.PageTableEntriesRead - a.PageTableEntriesRead,
        b.PagesWrites - a.PagesWrites);
}

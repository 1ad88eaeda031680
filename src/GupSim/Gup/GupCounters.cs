namespace GupSim.Gup;

/// <summary>
/// Deterministic cost counters of GUP runs (issue 4 §7): what the modelled kernel did, independent of timing.
/// </summary>
/// <remarks>
/// The counters are GupSim's instrumentation, not kernel state, so they must not cost what they measure: each thread
/// counts into a cell of its own with plain adds (no shared atomic per subpage), and a read sums the cells. Totals
/// are exact once the counting threads are done (a thread join is a full barrier); a read while other threads are
/// still counting sees each cell as it was a moment ago.
/// </remarks>
public sealed class GupCounters
{
    private sealed class Cell
    {
        public long Atomics, Touched, PfnToPage, PageToPfn, PteReads, PagesWrites;
    }

    private readonly List<Cell> _cells = [];
    private readonly Lock _lock = new();

    [ThreadStatic] private static GupCounters? t_owner;
    [ThreadStatic] private static Cell? t_cell;
    [ThreadStatic] private static System.Runtime.CompilerServices.ConditionalWeakTable<GupCounters, Cell>? t_cells;

    /// <summary>Counters for a machine; on classic SPARSEMEM every pfn_to_page()/page_to_pfn() is one mem_section lookup.</summary>
    public GupCounters(bool classicSparse = false) => ClassicSparse = classicSparse;

    /// <summary>Whether section lookups are counted (classic SPARSEMEM).</summary>
    public bool ClassicSparse { get; }

    /// <summary>Atomic read-modify-writes on struct page counters (refcount, pincount).</summary>
    public long Atomics => Sum(static c => c.Atomics);
    /// <summary>Struct pages read or written.</summary>
    public long StructPagesTouched => Sum(static c => c.Touched);
    /// <summary>pfn_to_page() calls.</summary>
    public long PfnToPageCalls => Sum(static c => c.PfnToPage);
    /// <summary>page_to_pfn() calls.</summary>
    public long PageToPfnCalls => Sum(static c => c.PageToPfn);
    /// <summary>mem_section table lookups: one per pfn_to_page()/page_to_pfn() on classic SPARSEMEM, none elsewhere (derived, not counted: PERF).</summary>
    public long SectionLookups => ClassicSparse ? PfnToPageCalls + PageToPfnCalls : 0;
    /// <summary>Page-table entries read.</summary>
    public long PageTableEntriesRead => Sum(static c => c.PteReads);
    /// <summary>pages[] entries written.</summary>
    public long PagesWrites => Sum(static c => c.PagesWrites);

    internal void Atomic(long n = 1) => Mine().Atomics += n;
    internal void Touch(long n = 1) => Mine().Touched += n;
    internal void PfnToPage(long n = 1) => Mine().PfnToPage += n;
    internal void PageToPfn(long n = 1) => Mine().PageToPfn += n;
    internal void PteRead(long n = 1) => Mine().PteReads += n;
    internal void PagesWrite(long n) => Mine().PagesWrites += n;

    /// <summary>A copy of the current values.</summary>
    public GupCounterValues Snapshot()
    {
        lock (_lock)
        {
            long a = 0, t = 0, p2p = 0, pp2 = 0, pte = 0, w = 0;
            foreach (var c in _cells)
            {
                a += Volatile.Read(ref c.Atomics);
                t += Volatile.Read(ref c.Touched);
                p2p += Volatile.Read(ref c.PfnToPage);
                pp2 += Volatile.Read(ref c.PageToPfn);
                pte += Volatile.Read(ref c.PteReads);
                w += Volatile.Read(ref c.PagesWrites);
            }
            return new(a, t, p2p, pp2, ClassicSparse ? p2p + pp2 : 0, pte, w);
        }
    }

    /// <summary>Every cell's values now, for <see cref="Restore"/> (a machine checkpoint: counters go back with the machine).</summary>
    internal object Capture()
    {
        lock (_lock)
        {
            var saved = new (Cell Cell, long A, long T, long P2p, long Pp2, long Pte, long W)[_cells.Count];
            for (int i = 0; i < saved.Length; i++)
            {
                var c = _cells[i];
                saved[i] = (c, c.Atomics, c.Touched, c.PfnToPage, c.PageToPfn, c.PteReads, c.PagesWrites);
            }
            return saved;
        }
    }

    /// <summary>Puts every cell back as <see cref="Capture"/> saw it; cells made since count from zero again.</summary>
    internal void Restore(object captured)
    {
        var saved = ((Cell Cell, long A, long T, long P2p, long Pp2, long Pte, long W)[])captured;
        lock (_lock)
        {
            foreach (var c in _cells) c.Atomics = c.Touched = c.PfnToPage = c.PageToPfn = c.PteReads = c.PagesWrites = 0;
            foreach (var (c, a, t, p2p, pp2, pte, w) in saved)
            {
                c.Atomics = a;
                c.Touched = t;
                c.PfnToPage = p2p;
                c.PageToPfn = pp2;
                c.PteReads = pte;
                c.PagesWrites = w;
            }
        }
    }

    private long Sum(Func<Cell, long> field)
    {
        lock (_lock)
        {
            long total = 0;
            foreach (var c in _cells) total += field(c);
            return total;
        }
    }

    private Cell Mine() => ReferenceEquals(t_owner, this) ? t_cell! : Switch();

    private Cell Switch()
    {
        var cells = t_cells ??= new();
        if (!cells.TryGetValue(this, out var cell))
        {
            cell = new Cell();
            lock (_lock) _cells.Add(cell);
            cells.Add(this, cell);
        }
        t_owner = this;
        t_cell = cell;
        return cell;
    }
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

using System.Runtime.CompilerServices;

namespace GupSim.Memory;

/// <summary>
/// The bytes of every struct page, materialised in chunks of pfns on first touch, so that memory grows with what
/// is touched and not with the size of the simulated machine. A chunk is initialised the way memmap_init_zone()
/// / __init_single_page() would have set it up at boot (the kernel's own deferred struct page init does the same
/// thing later than boot), through the initialiser the machine supplies.
/// </summary>
/// <remarks>
/// Storage is in 32-bit units: a 64-byte struct page is 16 units, a 32-byte one 8; an unsigned long on a 64-bit arch
/// is two units, low half first (little-endian). Atomic field updates use <see cref="Interlocked"/> on a unit,
/// as the kernel's atomic_t is 32 bits.
/// </remarks>
public sealed partial class StructPageStore
{
    private readonly Dictionary<ulong, ChunkRef> _chunks = [];
    // PERF: a direct-mapped cache of immutable chunk records, so a hit costs one array read and no allocation;
    // the record is allocated once per chunk. (BenchmarkDotNet MemMapBenchmarks.PageToPfn: 32 B/op before.)
    private readonly ChunkRef?[] _cache = new ChunkRef?[CacheSlots];
    private const int CacheSlots = 4096;
    private readonly Action<ulong, uint[]> _init;
    private readonly Lock _lock = new();
    private uint[]? _scratch;
    // Open checkpoint (Checkpoint.cs side of this type): null outside one, so a write pays one null test.
    private CheckpointJournal? _journal;

    /// <summary>
    /// One chunk: either its units (<see cref="Units"/>), or, while every struct page in it is an affine function of
    /// its index (the same fields, or pointers that advance by a fixed step, as memmap init and compound-page
    /// preparation leave them), just unit k of page i = <c>Base[k] + i × Step[k]</c>. Affine chunks become arrays
    /// on their first write. Everything but <see cref="Writers"/> is immutable, so a reader that loaded the record
    /// reads a consistent chunk as of that load.
    /// </summary>
    private sealed class ChunkRef(ulong chunk, uint[]? units, uint[]? baseUnits, uint[]? step)
    {
        public readonly ulong Chunk = chunk;
        public readonly uint[]? Units = units;
        public readonly uint[]? Base = baseUnits;
        public readonly uint[]? Step = step;

        /// <summary>The checkpoint generation whose journal entry <see cref="Save"/> is (0: none).</summary>
        public int SavedGeneration;

        /// <summary>This chunk's entry in the open checkpoint's journal, valid while <see cref="SavedGeneration"/> is current.</summary>
        public ChunkSave? Save;

        /// <summary>
        /// Writers between fetching <see cref="Units"/> and storing into it; <see cref="int.MinValue"/> added while
        /// <see cref="Compact"/> owns the array (and for good once the array is replaced). A writer that finds it
        /// negative waits for the new record instead of writing into an array that is no longer the chunk's.
        /// </summary>
        public int Writers;
    }

    /// <summary>Creates a store.</summary>
    /// <param name="structPageSize">sizeof(struct page).</param>
    /// <param name="chunkShift">log2 of pfns per chunk.</param>
    /// <param name="init">Fills a fresh chunk: (first pfn, units).</param>
    public StructPageStore(int structPageSize, int chunkShift, Action<ulong, uint[]> init)
    {
        UnitsPerPage = structPageSize / 4;
        ChunkShift = chunkShift;
        _init = init;
    }

    /// <summary>32-bit units per struct page.</summary>
    public int UnitsPerPage { get; }
    /// <summary>log2 of pfns per chunk.</summary>
    public int ChunkShift { get; }
    /// <summary>Chunks materialised so far (as arrays or in affine form).</summary>
    public int ChunkCount
    {
        get
        {
            lock (_lock) return _chunks.Count;
        }
    }

    /// <summary>Bytes of struct page storage held: full arrays, plus two struct pages' worth per affine chunk.</summary>
    public long MaterialisedBytes
    {
        get
        {
            lock (_lock)
            {
                long bytes = 0;
                foreach (var c in _chunks.Values) bytes += c.Units is not null ? c.Units.Length * 4L : UnitsPerPage * 8L;
                return bytes;
            }
        }
    }

    /// <summary>Whether the chunk holding <paramref name="pfn"/> exists yet.</summary>
    public bool IsMaterialised(ulong pfn)
    {
        lock (_lock) return _chunks.ContainsKey(pfn >> ChunkShift);
    }

    /// <summary>Drops the chunks of [startPfn, endPfn) (memory hot-remove frees the memmap).</summary>
    public void Drop(ulong startPfn, ulong endPfn)
    {
        lock (_lock)
        {
            for (ulong c = startPfn >> ChunkShift; c < (endPfn + (1UL << ChunkShift) - 1) >> ChunkShift; c++) _chunks.Remove(c);
            Array.Clear(_cache);
        }
    }

    /// <summary>
    /// Stores every chunk that lies wholly inside [startPfn, endPfn) in affine form where its struct pages allow it
    /// (GupSim's memory economy, not a kernel operation), such as a gigantic page just prepared or destroyed under
    /// hugetlb_lock. A chunk with a write in flight (a speculative refcount grab from a lockless walker, say) is left
    /// as it is; writers arriving while a chunk is being compacted wait for its new record, so no update is lost.
    /// </summary>
    public void Compact(ulong startPfn, ulong endPfn)
    {
        ulong first = (startPfn + (1UL << ChunkShift) - 1) >> ChunkShift, end = endPfn >> ChunkShift;
        lock (_lock)
        {
            for (ulong c = first; c < end; c++)
            {
                if (!_chunks.TryGetValue(c, out var chunk) || chunk.Units is null) continue;
                // Take the array from its writers: none may be between fetching it and storing into it.
                if (Interlocked.CompareExchange(ref chunk.Writers, int.MinValue, 0) != 0) continue;
                if (TryAffine(chunk.Units, out var b, out var st)) Publish(new ChunkRef(c, null, b, st)); // the old array is dead for good
                else Interlocked.Add(ref chunk.Writers, int.MinValue); // give it back (MinValue + MinValue wraps to 0)
            }
        }
    }

    private bool TryAffine(uint[] units, out uint[] baseUnits, out uint[] step)
    {
        int upp = UnitsPerPage, pages = units.Length / upp;
        baseUnits = [];
        step = [];
        if (pages < 2) return false;
        for (int i = 2; i < pages; i++)
        {
            int o = i * upp;
            for (int k = 0; k < upp; k++)
                if (units[o + k] != unchecked(units[k] + (uint)i * (units[upp + k] - units[k]))) return false;
        }
        baseUnits = units.AsSpan(0, upp).ToArray();
        step = new uint[upp];
        for (int k = 0; k < upp; k++) step[k] = unchecked(units[upp + k] - units[k]);
        return true;
    }

    private void Publish(ChunkRef chunk)
    {
        _chunks[chunk.Chunk] = chunk;
        // Release: a lock-free reader that loads the record sees its arrays filled.
        Volatile.Write(ref _cache[(int)(chunk.Chunk & (CacheSlots - 1))], chunk);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ChunkRef ChunkOf(ulong pfn)
    {
        ulong c = pfn >> ChunkShift;
        var hit = Volatile.Read(ref _cache[(int)(c & (CacheSlots - 1))]);
        if (hit is not null && hit.Chunk == c) return hit;
        return ChunkSlow(c);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ChunkRef ChunkSlow(ulong c)
    {
        lock (_lock)
        {
            if (!_chunks.TryGetValue(c, out var chunk))
            {
                var scratch = _scratch ??= new uint[(1 << ChunkShift) * UnitsPerPage];
                Array.Clear(scratch);
                _init(c << ChunkShift, scratch);
                chunk = TryAffine(scratch, out var b, out var st)
                    ? new ChunkRef(c, null, b, st)
                    : new ChunkRef(c, (uint[])scratch.Clone(), null, null);
            }
            Publish(chunk);
            return chunk;
        }
    }

    /// <summary>
    /// The chunk for writing, with the caller counted in <see cref="ChunkRef.Writers"/> (leave with
    /// <see cref="Leave"/>): an affine chunk becomes an array first; a chunk being compacted is waited for.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ChunkRef Enter(ulong pfn, out int baseUnit)
    {
        baseUnit = (int)(pfn & ((1UL << ChunkShift) - 1)) * UnitsPerPage;
        var chunk = ChunkOf(pfn);
        if (_journal is not null) JournalWrite(chunk, baseUnit);
        if (chunk.Units is not null && Interlocked.Increment(ref chunk.Writers) > 0) return chunk;
        return EnterSlow(chunk, pfn >> ChunkShift);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ChunkRef EnterSlow(ChunkRef chunk, ulong c)
    {
        if (chunk.Units is not null) Interlocked.Decrement(ref chunk.Writers); // it was being compacted
        while (true)
        {
            // Compact holds the lock until the chunk's new record is published.
            chunk = Expand(c);
            if (Interlocked.Increment(ref chunk.Writers) > 0) return chunk;
            Interlocked.Decrement(ref chunk.Writers);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Leave(ChunkRef chunk) => Interlocked.Decrement(ref chunk.Writers);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ChunkRef Expand(ulong c)
    {
        lock (_lock)
        {
            if (!_chunks.TryGetValue(c, out var chunk)) chunk = ChunkSlow(c);
            if (chunk.Units is not null)
            {
                Publish(chunk);
                return chunk;
            }
            int upp = UnitsPerPage, pages = 1 << ChunkShift;
            var units = RentChunkArray();
            for (int i = 0; i < pages; i++)
                for (int k = 0; k < upp; k++)
                    units[i * upp + k] = unchecked(chunk.Base![k] + (uint)i * chunk.Step![k]);
            var expanded = new ChunkRef(c, units, null, null);
            Publish(expanded);
            return expanded;
        }
    }

    /// <summary>Reads unit <paramref name="unit"/> of pfn's struct page.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint ReadUnit(ulong pfn, int unit)
    {
        var chunk = ChunkOf(pfn);
        int index = (int)(pfn & ((1UL << ChunkShift) - 1));
        if (chunk.Units is { } arr) return Volatile.Read(ref arr[index * UnitsPerPage + unit]);
        return unchecked(chunk.Base![unit] + (uint)index * chunk.Step![unit]);
    }

    /// <summary>
    /// GupSim's batch read, not a kernel operation: how many struct pages from <paramref name="pfn"/> on (pfn, pfn + 1,
    /// …, at most <paramref name="max"/>, all inside pfn's chunk) hold <paramref name="value"/> in the word at
    /// <paramref name="unit"/> (<paramref name="units"/> 32-bit units: 1 for a 32-bit unsigned long, 2 for a 64-bit one,
    /// low half first), stopping at the first that does not. Each page's word is the one <see cref="ReadUnit"/> would
    /// return, read from one snapshot of the chunk; in affine form a word that does not advance (unit k of page i =
    /// Base[k] + i × 0, such as every tail's compound_head in a chunk of one compound page) is compared once for the
    /// whole run, without materialising a page.
    /// </summary>
    public int CountWordEquals(ulong pfn, int unit, int units, ulong value, int max)
    {
        var chunk = ChunkOf(pfn);
        int index = (int)(pfn & ((1UL << ChunkShift) - 1));
        max = Math.Min(max, (1 << ChunkShift) - index);
        uint lo = (uint)value, hi = (uint)(value >> 32);
        bool wide = units == 2;
        int n = 0;
        if (chunk.Units is { } arr)
        {
            int upp = UnitsPerPage;
            int o = index * upp + unit;
            if (wide)
            {
                for (; n < max; n++, o += upp)
                    if (Volatile.Read(ref arr[o]) != lo || Volatile.Read(ref arr[o + 1]) != hi) break;
            }
            else
            {
                for (; n < max; n++, o += upp)
                    if (Volatile.Read(ref arr[o]) != lo) break;
            }
            return n;
        }
        uint s0 = chunk.Step![unit], s1 = wide ? chunk.Step[unit + 1] : 0;
        uint b0 = unchecked(chunk.Base![unit] + (uint)index * s0), b1 = wide ? unchecked(chunk.Base[unit + 1] + (uint)index * s1) : hi;
        if (s0 == 0 && s1 == 0) return b0 == lo && b1 == hi ? max : 0;
        for (; n < max; n++)
        {
            if (unchecked(b0 + (uint)n * s0) != lo || unchecked(b1 + (uint)n * s1) != hi) break;
        }
        return n;
    }

    /// <summary>Writes unit <paramref name="unit"/> of pfn's struct page.</summary>
    public void WriteUnit(ulong pfn, int unit, uint value)
    {
        var chunk = Enter(pfn, out int b);
        Volatile.Write(ref chunk.Units![b + unit], value);
        Leave(chunk);
    }

    /// <summary>
    /// GupSim's batch write, not a kernel operation: unit <paramref name="unit"/> of the struct pages of pfn, pfn + 1, …,
    /// pfn + <paramref name="count"/> − 1 (all inside pfn's chunk, as <see cref="KernelMemory.LocateStructPageWordRun"/>
    /// bounds a run) becomes <c>(old &amp; and) | or</c>: the stores <see cref="WriteUnit"/> would make one page at a
    /// time, journalled the same way while a checkpoint is open (every block the run touches saved before it changes).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Thrown when the run leaves pfn's chunk.</exception>
    public void UpdateUnitRun(ulong pfn, int count, int unit, uint and, uint or)
    {
        if (count <= 0) return;
        int index = (int)(pfn & ((1UL << ChunkShift) - 1));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, (1 << ChunkShift) - index);
        var chunk = Enter(pfn, out int b);
        int upp = UnitsPerPage;
        if (_journal is not null)
        {
            // Enter saved the first page's block; the others' first pages start every 2^BlockShift pages.
            int blockPages = 1 << BlockShift;
            for (int i = (index / blockPages + 1) * blockPages; i < index + count; i += blockPages) JournalWrite(chunk, i * upp);
        }
        var units = chunk.Units!;
        for (int i = 0, o = b + unit; i < count; i++, o += upp)
            Volatile.Write(ref units[o], (Volatile.Read(ref units[o]) & and) | or);
        Leave(chunk);
    }

    /// <summary>atomic_add_return() on unit <paramref name="unit"/>.</summary>
    public int AtomicAddUnit(ulong pfn, int unit, int delta)
    {
        var chunk = Enter(pfn, out int b);
        int now = (int)Interlocked.Add(ref chunk.Units![b + unit], unchecked((uint)delta));
        Leave(chunk);
        return now;
    }

    /// <summary>atomic_cmpxchg() on unit <paramref name="unit"/>; returns the value found.</summary>
    public uint CompareExchangeUnit(ulong pfn, int unit, uint value, uint comparand)
    {
        var chunk = Enter(pfn, out int b);
        uint found = Interlocked.CompareExchange(ref chunk.Units![b + unit], value, comparand);
        Leave(chunk);
        return found;
    }
}

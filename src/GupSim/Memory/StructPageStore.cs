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
public sealed class StructPageStore
{
    private readonly Dictionary<ulong, ChunkRef> _chunks = [];
    // PERF: a direct-mapped cache of immutable chunk records, so a hit costs one array read and no allocation;
    // the record is allocated once per chunk. (BenchmarkDotNet MemMapBenchmarks.PageToPfn: 32 B/op before.)
    private readonly ChunkRef?[] _cache = new ChunkRef?[CacheSlots];
    private const int CacheSlots = 4096;
    private readonly Action<ulong, uint[]> _init;
    private readonly Lock _lock = new();
    private uint[]? _scratch;

    /// <summary>
    /// One chunk: either its units (<see cref="Units"/>), or, while every struct page in it is an affine function of
    /// its index (the same fields, or pointers that advance by a fixed step, as memmap init and compound-page
    /// preparation leave them), just unit k of page i = <c>Base[k] + i × Step[k]</c>. Affine chunks become arrays
    /// on their first write.
    /// </summary>
    private sealed record ChunkRef(ulong Chunk, uint[]? Units, uint[]? Base, uint[]? Step);

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
    /// (GupSim's memory economy, not a kernel operation). Only for ranges nobody else is writing at the moment, such as
    /// a gigantic page just prepared or destroyed under hugetlb_lock.
    /// </summary>
    public void Compact(ulong startPfn, ulong endPfn)
    {
        ulong first = (startPfn + (1UL << ChunkShift) - 1) >> ChunkShift, end = endPfn >> ChunkShift;
        lock (_lock)
        {
            for (ulong c = first; c < end; c++)
            {
                if (!_chunks.TryGetValue(c, out var chunk) || chunk.Units is null) continue;
                if (TryAffine(chunk.Units, out var b, out var st)) Publish(new ChunkRef(c, null, b, st));
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
        _cache[(int)(chunk.Chunk & (CacheSlots - 1))] = chunk;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ChunkRef ChunkOf(ulong pfn)
    {
        ulong c = pfn >> ChunkShift;
        var hit = _cache[(int)(c & (CacheSlots - 1))];
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

    /// <summary>The chunk's units for writing: an affine chunk becomes an array first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint[] Writable(ulong pfn, out int baseUnit)
    {
        baseUnit = (int)(pfn & ((1UL << ChunkShift) - 1)) * UnitsPerPage;
        return ChunkOf(pfn).Units ?? Expand(pfn >> ChunkShift);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private uint[] Expand(ulong c)
    {
        lock (_lock)
        {
            var chunk = _chunks[c];
            if (chunk.Units is not null)
            {
                Publish(chunk);
                return chunk.Units;
            }
            int upp = UnitsPerPage, pages = 1 << ChunkShift;
            var units = new uint[pages * upp];
            for (int i = 0; i < pages; i++)
                for (int k = 0; k < upp; k++)
                    units[i * upp + k] = unchecked(chunk.Base![k] + (uint)i * chunk.Step![k]);
            Publish(new ChunkRef(c, units, null, null));
            return units;
        }
    }

    /// <summary>Reads unit <paramref name="unit"/> of pfn's struct page.</summary>
    public uint ReadUnit(ulong pfn, int unit)
    {
        var chunk = ChunkOf(pfn);
        int index = (int)(pfn & ((1UL << ChunkShift) - 1));
        if (chunk.Units is { } arr) return Volatile.Read(ref arr[index * UnitsPerPage + unit]);
        return unchecked(chunk.Base![unit] + (uint)index * chunk.Step![unit]);
    }

    /// <summary>Writes unit <paramref name="unit"/> of pfn's struct page.</summary>
    public void WriteUnit(ulong pfn, int unit, uint value)
    {
        var arr = Writable(pfn, out int b);
        Volatile.Write(ref arr[b + unit], value);
    }

    /// <summary>atomic_add_return() on unit <paramref name="unit"/>.</summary>
    public int AtomicAddUnit(ulong pfn, int unit, int delta)
    {
        var arr = Writable(pfn, out int b);
        return (int)Interlocked.Add(ref arr[b + unit], unchecked((uint)delta));
    }

    /// <summary>atomic_cmpxchg() on unit <paramref name="unit"/>; returns the value found.</summary>
    public uint CompareExchangeUnit(ulong pfn, int unit, uint value, uint comparand)
    {
        var arr = Writable(pfn, out int b);
        return Interlocked.CompareExchange(ref arr[b + unit], value, comparand);
    }
}

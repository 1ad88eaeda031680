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
    private sealed record ChunkRef(ulong Chunk, uint[] Units);

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
    /// <summary>Chunks materialised so far.</summary>
    public int ChunkCount => _chunks.Count;
    /// <summary>Bytes of struct page storage materialised so far.</summary>
    public long MaterialisedBytes => (long)_chunks.Count * (UnitsPerPage * 4L << ChunkShift);

    /// <summary>Whether the chunk holding <paramref name="pfn"/> exists yet.</summary>
    public bool IsMaterialised(ulong pfn) => _chunks.ContainsKey(pfn >> ChunkShift);

    /// <summary>Drops the chunks of [startPfn, endPfn) (memory hot-remove frees the memmap).</summary>
    public void Drop(ulong startPfn, ulong endPfn)
    {
        lock (_lock)
        {
            for (ulong c = startPfn >> ChunkShift; c < (endPfn + (1UL << ChunkShift) - 1) >> ChunkShift; c++) _chunks.Remove(c);
            Array.Clear(_cache);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint[] Chunk(ulong pfn, out int baseUnit)
    {
        ulong c = pfn >> ChunkShift;
        baseUnit = (int)(pfn & ((1UL << ChunkShift) - 1)) * UnitsPerPage;
        var hit = _cache[(int)(c & (CacheSlots - 1))];
        if (hit is not null && hit.Chunk == c) return hit.Units;
        return ChunkSlow(c);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private uint[] ChunkSlow(ulong c)
    {
        lock (_lock)
        {
            if (!_chunks.TryGetValue(c, out var chunk))
            {
                var arr = new uint[(1 << ChunkShift) * UnitsPerPage];
                _init(c << ChunkShift, arr);
                chunk = new ChunkRef(c, arr);
                _chunks.Add(c, chunk);
            }
            _cache[(int)(c & (CacheSlots - 1))] = chunk;
            return chunk.Units;
        }
    }

    /// <summary>Reads unit <paramref name="unit"/> of pfn's struct page.</summary>
    public uint ReadUnit(ulong pfn, int unit)
    {
        var arr = Chunk(pfn, out int b);
        return Volatile.Read(ref arr[b + unit]);
    }

    /// <summary>Writes unit <paramref name="unit"/> of pfn's struct page.</summary>
    public void WriteUnit(ulong pfn, int unit, uint value)
    {
        var arr = Chunk(pfn, out int b);
        Volatile.Write(ref arr[b + unit], value);
    }

    /// <summary>atomic_add_return() on unit <paramref name="unit"/>.</summary>
    public int AtomicAddUnit(ulong pfn, int unit, int delta)
    {
        var arr = Chunk(pfn, out int b);
        return (int)Interlocked.Add(ref arr[b + unit], unchecked((uint)delta));
    }

    /// <summary>atomic_cmpxchg() on unit <paramref name="unit"/>; returns the value found.</summary>
    public uint CompareExchangeUnit(ulong pfn, int unit, uint value, uint comparand)
    {
        var arr = Chunk(pfn, out int b);
        return Interlocked.CompareExchange(ref arr[b + unit], value, comparand);
    }
}

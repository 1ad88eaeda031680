using System.Runtime.CompilerServices;

namespace GupSim.Memory;

/// <summary>
/// What each physical page holds, one PAGE_SIZE page at a time (GupSim's data model, not a kernel structure): a 64-bit
/// token per pfn standing for the page's bytes.
/// <list type="bullet">
/// <item><see cref="Unwritten"/>: nothing GupSim modelled has written the page since boot; its words read as the
/// machine's <see cref="KernelMemory.Garbage"/>.</item>
/// <item><see cref="Zero"/>: every byte 0 (clear_page(), a __GFP_ZERO allocation).</item>
/// <item>Any other value: data. Two pages hold the same bytes exactly when their tokens are equal; the 32-bit word at
/// byte offset <c>4k</c> is <see cref="Word"/>(token, k), so a page's data can be written word by word over a struct
/// or a page table that lives in it.</item>
/// </list>
/// Whole-page stores are what the kernel's page copies and clears do (copy_from_user() of PAGE_SIZE into
/// kmap(page), copy_highpage(), clear_user_highpage()); they replace the token. Storage grows with what is written:
/// chunks of <see cref="ChunkPages"/> pfns, each one token for all its pages until a page of it differs. A checkpoint
/// (<see cref="BeginJournal"/>) keeps the first version of each chunk it changes, and <see cref="Rollback"/> puts
/// them back. Thread-safe: reads take no lock (a stray load of other kernel data asks for every word it reads),
/// stores take one (they are whole pages, not a per-entry hot path).
/// </summary>
public sealed class PageContents
{
    /// <summary>Never written since boot (reads as garbage).</summary>
    public const ulong Unwritten = 0;

    /// <summary>All zero bytes.</summary>
    public const ulong Zero = 1;

    /// <summary>Pages per storage chunk.</summary>
    public const int ChunkPages = 512;

    private const int ChunkShift = 9;

    private sealed class Chunk
    {
        /// <summary>The token of every page while <see cref="Tokens"/> is null.</summary>
        public ulong Uniform;
        public ulong[]? Tokens;

        public Chunk Clone() => new() { Uniform = Uniform, Tokens = Tokens is null ? null : (ulong[])Tokens.Clone() };
    }

    // Chunk index → chunk, two levels (GroupShift chunks a group): a read is two array loads, lock-free (a stray load
    // of other kernel data asks here for every word it reads); stores take _lock and replace the arrays they grow.
    private const int GroupShift = 12;
    private Chunk?[]?[] _groups = [];
    private readonly object _lock = new();
    /// <summary>Chunk index → its contents when the checkpoint opened (null: it did not exist).</summary>
    private Dictionary<ulong, Chunk?>? _journal;

    /// <summary>The token of page <paramref name="pfn"/>.</summary>
    public ulong Read(ulong pfn)
    {
        if (Find(pfn >> ChunkShift) is not { } c) return Unwritten;
        // A chunk is swapped whole on rollback and its array only ever replaces the uniform token: one read of each.
        var t = Volatile.Read(ref c.Tokens);
        return t is not null ? Volatile.Read(ref t[(int)(pfn & (ChunkPages - 1))]) : c.Uniform;
    }

    /// <summary>Stores <paramref name="token"/> as the contents of <paramref name="count"/> pages from <paramref name="pfn"/>.</summary>
    public void Fill(ulong pfn, ulong count, ulong token)
    {
        lock (_lock)
        {
            ulong end = pfn + count;
            while (pfn < end)
            {
                ulong ci = pfn >> ChunkShift;
                ulong chunkEnd = (ci + 1) << ChunkShift;
                ulong stop = Math.Min(end, chunkEnd);
                if (pfn == ci << ChunkShift && stop == chunkEnd)
                {
                    var c = Writable(ci);
                    c.Uniform = token;
                    c.Tokens = null;
                }
                else
                {
                    var t = Tokens(ci);
                    t.AsSpan((int)(pfn & (ChunkPages - 1)), (int)(stop - pfn)).Fill(token);
                }
                pfn = stop;
            }
        }
    }

    /// <summary>Stores <paramref name="token"/> as the contents of page <paramref name="pfn"/>.</summary>
    public void Write(ulong pfn, ulong token)
    {
        lock (_lock)
        {
            ulong ci = pfn >> ChunkShift;
            if (Find(ci) is { Tokens: null } c && c.Uniform == token && _journal is null) return;
            Tokens(ci)[(int)(pfn & (ChunkPages - 1))] = token;
        }
    }

    /// <summary>copy_highpage() over <paramref name="count"/> pages: page <c>dst + i</c> gets the bytes of <c>src + i</c>.</summary>
    public void Copy(ulong dst, ulong src, ulong count)
    {
        for (ulong i = 0; i < count; i++) Write(dst + i, Read(src + i));
    }

    /// <summary>
    /// The 32-bit word at byte offset <c>4 × <paramref name="unit"/></c> of a page holding <paramref name="token"/>
    /// (not <see cref="Unwritten"/>, whose words are the machine's garbage): 0 for <see cref="Zero"/>, else a hash of
    /// the token and the offset.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Word(ulong token, int unit)
    {
        if (token == Zero) return 0;
        ulong z = token * 0x9E3779B97F4A7C15UL + (ulong)unit * 0xD1B54A32D192ED03UL;
        z = (z ^ (z >> 29)) * 0xBF58476D1CE4E5B9UL;
        return (uint)(z ^ (z >> 32));
    }

    /// <summary>
    /// The token of the data a user program writes into its page at user address <paramref name="va"/> (a fill
    /// pattern that differs from page to page, like the userfaultfd selftest's per-page counters): never
    /// <see cref="Unwritten"/> or <see cref="Zero"/>.
    /// </summary>
    public static ulong UserPattern(ulong va) => Mix(va ^ 0x5EED_0000_0000_0000UL);

    /// <summary>
    /// A token standing for bytes GupSim did not model (a page never written, or one whose words were changed one by
    /// one), so that a copy of it holds the same bytes as it and differs from every other page: derived from
    /// <paramref name="seed"/> (the page's pfn and what it held).
    /// </summary>
    public static ulong Opaque(ulong seed) => Mix(seed ^ 0x0BAD_CAFE_0000_0000UL);

    private static ulong Mix(ulong x)
    {
        ulong z = x + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return z <= Zero ? z + 2 : z;
    }

    /// <summary>Pages whose token is not <see cref="Unwritten"/>, counted chunk by chunk (for tests and footprints).</summary>
    public ulong WrittenPages
    {
        get
        {
            lock (_lock)
            {
                ulong n = 0;
                foreach (var g in _groups)
                    foreach (var c in g ?? [])
                    {
                        if (c is null) continue;
                        if (c.Tokens is null) n += c.Uniform == Unwritten ? 0UL : ChunkPages;
                        else
                            foreach (ulong t in c.Tokens)
                                if (t != Unwritten) n++;
                    }
                return n;
            }
        }
    }

    /// <summary>Opens a checkpoint: from now on the first change to each chunk keeps its old contents.</summary>
    internal void BeginJournal()
    {
        lock (_lock) _journal = [];
    }

    /// <summary>Puts back every chunk changed since the checkpoint (or the last rollback); the checkpoint stays open.</summary>
    internal void Rollback()
    {
        lock (_lock)
        {
            if (_journal is not { } j) return;
            foreach (var (ci, old) in j)
            {
                Set(ci, old);
            }
            j.Clear();
        }
    }

    /// <summary>Closes the checkpoint.</summary>
    internal void EndJournal()
    {
        lock (_lock) _journal = null;
    }

    // The chunk, journaled and created (Unwritten) if needed; caller holds the lock.
    private Chunk Writable(ulong ci)
    {
        var c = Find(ci);
        if (_journal is { } j && !j.ContainsKey(ci)) j[ci] = c?.Clone();
        if (c is not null) return c;
        c = new Chunk();
        Set(ci, c);
        return c;
    }

    // The chunk of index ci, or null: two plain loads of arrays that are only ever replaced whole.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Chunk? Find(ulong ci)
    {
        var groups = Volatile.Read(ref _groups);
        ulong gi = ci >> GroupShift;
        if (gi >= (ulong)groups.Length || groups[gi] is not { } g) return null;
        return Volatile.Read(ref g[(int)(ci & ((1UL << GroupShift) - 1))]);
    }

    // Puts c at index ci (null removes), growing the group table as needed; caller holds the lock.
    private void Set(ulong ci, Chunk? c)
    {
        ulong gi = ci >> GroupShift;
        var groups = _groups;
        if (gi >= (ulong)groups.Length)
        {
            if (c is null) return;
            var grown = new Chunk?[]?[(int)gi + 1];
            groups.CopyTo(grown, 0);
            Volatile.Write(ref _groups, grown);
            groups = grown;
        }
        var g = groups[gi];
        if (g is null)
        {
            if (c is null) return;
            g = new Chunk?[1 << GroupShift];
            Volatile.Write(ref groups[gi], g);
        }
        Volatile.Write(ref g[(int)(ci & ((1UL << GroupShift) - 1))], c);
    }

    // The chunk's per-page array, expanded from its uniform token if needed; caller holds the lock.
    private ulong[] Tokens(ulong ci)
    {
        var c = Writable(ci);
        if (c.Tokens is null)
        {
            var t = new ulong[ChunkPages];
            if (c.Uniform != Unwritten) t.AsSpan().Fill(c.Uniform);
            Volatile.Write(ref c.Tokens, t); // filled before a lock-free reader can see it
        }
        return c.Tokens;
    }
}

using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using GupSim.Arch;
using GupSim.Core;

namespace GupSim.Memory;

/// <summary>What lives at a kernel virtual address.</summary>
public enum AddressKind
{
    /// <summary>The start of a struct page.</summary>
    Page,
    /// <summary>Inside a struct page, not at its start.</summary>
    Misaligned,
    /// <summary>Mapped kernel memory that is not a memmap (another allocation, a free page, ...).</summary>
    Other,
    /// <summary>Nothing is mapped: a dereference oopses.</summary>
    Unmapped,
}

/// <summary>The answer to "what lives at this address".</summary>
/// <param name="Address">The address asked about.</param>
/// <param name="Kind">What lives there.</param>
/// <param name="Pfn">For <see cref="AddressKind.Page"/> and <see cref="AddressKind.Misaligned"/>: the pfn whose struct page holds the address.</param>
/// <param name="OffsetInPage">Byte offset inside that struct page.</param>
/// <param name="Array">The memmap array holding it, if any.</param>
/// <param name="Region">A short description of the region ("direct map: memblock 'kernel image'", "vmalloc guard", ...).</param>
public sealed record AddressInfo(ulong Address, AddressKind Kind, ulong? Pfn, int OffsetInPage, MemmapArray? Array, string Region);

/// <summary>
/// The simulated kernel virtual address space as far as GupSim needs it: the direct map of RAM, the vmemmap area,
/// the vmalloc area, and the memmap arrays placed in them. Reads and writes at any address behave as in the kernel:
/// a struct page field, a page-table entry (the page-table pages' own storage, see <see cref="RegisterPageTable"/>),
/// some other kernel data (deterministic garbage, remembered once written), or an oops. Stores made inside a
/// <see cref="BeginStrayWrites"/> scope are classified and counted (<see cref="StrayWritesTotal"/>).
/// </summary>
public sealed partial class KernelMemory
{
    private readonly ArchProfile _arch;
    private readonly List<MemmapArray> _arrays = [];
    private readonly List<(ulong Start, ulong End, string Name)> _vmallocAreas = [];
    private readonly Dictionary<ulong, uint> _otherWrites = [];
    private readonly ulong _seed;
    private readonly int _sps;
    private readonly int _spsShift;
    private Func<ulong, bool> _isRam = _ => false;
    private Func<ulong, string> _describePhys = _ => "RAM";
    private SectionTable? _sections;

    public KernelMemory(ArchProfile arch, ulong seed, StructPageStore store)
    {
        _arch = arch;
        _seed = seed;
        Store = store;
        _sps = arch.StructPageSize;
        _spsShift = System.Numerics.BitOperations.Log2((uint)_sps);
        Vmemmap = arch.VmemmapBase;
        ulong area = (1UL << (arch.MaxPhysmemBits - arch.PageShift)) << _spsShift;
        // The area may run to the very top of the address space (arm64): saturate instead of wrapping to 0.
        VmemmapEnd = arch.VmemmapBase == 0 ? 0 : arch.VmemmapBase + area < arch.VmemmapBase ? ulong.MaxValue : arch.VmemmapBase + area;
    }

    /// <summary>The struct page contents.</summary>
    public StructPageStore Store { get; }

    /// <summary>What each physical page holds, page by page (see <see cref="PageContents"/>, <see cref="StorePage"/>).</summary>
    public PageContents Contents { get; } = new();

    /// <summary>The <c>vmemmap</c> symbol: where pfn 0's struct page would be (VMEMMAP_START, biased on arm64/riscv).</summary>
    public ulong Vmemmap { get; private set; }

    /// <summary>The vmemmap area end (0 when the arch has none).</summary>
    public ulong VmemmapEnd { get; }

    /// <summary>Whether SPARSEMEM_VMEMMAP is in use (the vmemmap area resolves to struct pages).</summary>
    public bool VmemmapActive { get; private set; }

    /// <summary>Every non-vmemmap memmap array, sorted by address.</summary>
    public IReadOnlyList<MemmapArray> Arrays => _arrays;

    /// <summary>
    /// Wires the machine's answers: is a physical address RAM, what is there, and the mem_section table that says
    /// whether a vmemmap pfn is backed (a section with a memmap).
    /// </summary>
    internal void Connect(Func<ulong, bool> isRam, Func<ulong, string> describePhys, SectionTable? sections, bool vmemmapActive, ulong vmemmap)
    {
        LayoutStamp++;
        Vmemmap = vmemmap;
        _isRam = isRam;
        _describePhys = describePhys;
        _sections = sections;
        VmemmapActive = vmemmapActive;
    }

    /// <summary>
    /// Whether the vmemmap struct page of <paramref name="pfn"/> is backed: its section has a memmap
    /// (valid_section_nr(pfn_to_section_nr(pfn))). PERF: a direct call on the sealed table, not a delegate, so the JIT
    /// inlines it on every struct page access even without a runtime profile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool VmemmapBacked(ulong pfn)
    {
        var sections = _sections;
        if (sections is null) return false;
        ulong nr = sections.PfnToSectionNr(pfn);
        return nr < sections.NrMemSections && sections.IsValid(nr);
    }

    /// <summary>__va(): direct-map address of a physical address.</summary>
    public ulong PhysToVirt(ulong phys) => _arch.PageOffset + phys - (_arch.LinearMapStartsAtRam ? PhysOffset : 0);

    /// <summary>__pa() for a direct-map address.</summary>
    public ulong VirtToPhys(ulong va) => va - _arch.PageOffset + (_arch.LinearMapStartsAtRam ? PhysOffset : 0);

    /// <summary>PHYS_OFFSET / memstart_addr: the lowest RAM address (where the linear map starts on arm, arm64, riscv).</summary>
    public ulong PhysOffset { get; internal set; }

    /// <summary>Adds a memmap array (kept sorted by address).</summary>
    public void AddArray(MemmapArray array)
    {
        LayoutStamp++;
        int i = FindArrayIndex(array.VaStart);
        _arrays.Insert(i < 0 ? 0 : (i < _arrays.Count && _arrays[i].VaStart <= array.VaStart ? i + 1 : i), array);
    }

    /// <summary>Adds many memmap arrays at once (boot), sorting once.</summary>
    public void AddArrays(IEnumerable<MemmapArray> arrays)
    {
        LayoutStamp++;
        _arrays.AddRange(arrays);
        _arrays.Sort((a, b) => a.VaStart.CompareTo(b.VaStart));
    }

    /// <summary>Removes a memmap array (hot-remove).</summary>
    public void RemoveArray(MemmapArray array)
    {
        LayoutStamp++;
        _arrays.Remove(array);
        _lastArray = null;
    }

    /// <summary>
    /// Records a mapped vmalloc area [<paramref name="start"/>, <paramref name="end"/>) (mm/vmalloc.c: the range and
    /// its guard page are chosen by <see cref="Vmalloc"/>); the guard page after it stays unmapped.
    /// </summary>
    internal void MapVmallocArea(ulong start, ulong end, string name)
    {
        LayoutStamp++;
        lock (_vmallocAreas) _vmallocAreas.Add((start, end, name));
    }

    /// <summary>Forgets the mapping of the vmalloc area at <paramref name="start"/> (vfree(): see <see cref="Vmalloc"/>).</summary>
    public void Vfree(ulong start)
    {
        LayoutStamp++;
        lock (_vmallocAreas) _vmallocAreas.RemoveAll(a => a.Start == start);
    }

    /// <summary>Says what lives at <paramref name="va"/>.</summary>
    public AddressInfo Describe(ulong va)
    {
        if (VmemmapActive && va >= _arch.VmemmapBase && va < VmemmapEnd)
        {
            ulong off = va - Vmemmap;
            ulong pfn = off >> _spsShift;
            int inPage = (int)(off & (ulong)(_sps - 1));
            if (!VmemmapBacked(pfn)) return new AddressInfo(va, AddressKind.Unmapped, null, 0, null, "vmemmap hole (no section memmap populated)");
            return new AddressInfo(va, inPage == 0 ? AddressKind.Page : AddressKind.Misaligned, pfn, inPage, null, "vmemmap");
        }
        var array = FindArray(va);
        if (array is not null)
        {
            ulong off = va - array.VaStart;
            ulong pfn = array.FirstPfn + (off >> _spsShift);
            int inPage = (int)(off & (ulong)(_sps - 1));
            return new AddressInfo(va, inPage == 0 ? AddressKind.Page : AddressKind.Misaligned, pfn, inPage, array, PlacementText(array));
        }
        if (va >= _arch.VmallocStart && va < _arch.VmallocEnd)
        {
            foreach (var a in _vmallocAreas)
                if (va >= a.Start && va < a.End) return new AddressInfo(va, AddressKind.Other, null, 0, null, $"vmalloc: {a.Name}");
            return new AddressInfo(va, AddressKind.Unmapped, null, 0, null, "vmalloc area, not mapped (guard page or free)");
        }
        if (IsDirectMap(va, out ulong phys))
            return new AddressInfo(va, AddressKind.Other, null, 0, null, "direct map: " + _describePhys(phys));
        return new AddressInfo(va, AddressKind.Unmapped, null, 0, null, "not mapped");
    }

    /// <summary>A short description of how an array was placed.</summary>
    public static string PlacementText(MemmapArray a) => a.Placement switch
    {
        MemmapPlacement.Vmemmap => "vmemmap",
        MemmapPlacement.Flat => "mem_map (flatmem)",
        MemmapPlacement.NodeArray => $"node_mem_map of node {a.Nid}",
        MemmapPlacement.BootBuffer => $"section memmap (boot sparsemap_buf, node {a.Nid})",
        MemmapPlacement.Scattered => $"section memmap (own memblock allocation, node {a.Nid})",
        MemmapPlacement.Hotplug => $"section memmap (hot-plug kvmalloc, {(a.Kind == KernelVaKind.Vmalloc ? "vmalloc" : "buddy pages")})",
        _ => a.Placement.ToString(),
    };

    /// <summary>kvtop() on the direct map: the physical address behind a direct-map address of RAM.</summary>
    public bool TryDirectMapToPhys(ulong va, out ulong phys) => IsDirectMap(va, out phys);

    private bool IsDirectMap(ulong va, out ulong phys)
    {
        phys = 0;
        if (va < _arch.PageOffset) return false;
        ulong p = VirtToPhys(va);
        if (_arch.LinearMapStartsAtRam && va - _arch.PageOffset >= _arch.LowmemBytes) return false;
        if (!_arch.LinearMapStartsAtRam && p >= _arch.LowmemBytes) return false;
        if (!_isRam(p)) return false;
        phys = p;
        return true;
    }

    private int FindArrayIndex(ulong va)
    {
        int lo = 0, hi = _arrays.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_arrays[mid].VaStart <= va)
            {
                found = mid;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        return found;
    }

    /// <summary>The non-vmemmap array containing <paramref name="va"/>, or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public MemmapArray? FindArray(ulong va)
    {
        // PERF: walks touch one array for a long time; remember the last hit (an immutable object, so one read).
        var last = _lastArray;
        if (last is not null && va - last.VaStart < last.Bytes) return last;
        return FindArraySlow(va);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private MemmapArray? FindArraySlow(ulong va)
    {
        int i = FindArrayIndex(va);
        if (i < 0) return null;
        var a = _arrays[i];
        if (va >= a.VaEnd) return null;
        _lastArray = a;
        return a;
    }

    private MemmapArray? _lastArray;

    /// <summary>Reads the 32-bit value at a 4-byte aligned <paramref name="va"/>; oopses where nothing is mapped.</summary>
    public uint ReadU32(ulong va, string what)
    {
        if (TryLocateStructPageWord(va, out ulong pfn, out int unit, what)) return Store.ReadUnit(pfn, unit);
        if (TryLocatePageTableWord(va, out var table, out int idx, out int shift)) return (uint)(Volatile.Read(ref table.Entries[idx]) >> shift);
        EnsureMappedOther(va, what);
        lock (_otherWrites) return _otherWrites.TryGetValue(va & ~3UL, out uint v) ? v : Unpatched(va & ~3UL);
    }

    /// <summary>Writes the 32-bit value at a 4-byte aligned <paramref name="va"/>; oopses where nothing is mapped.</summary>
    public void WriteU32(ulong va, uint value, string what)
    {
        if (_strayScopes != 0 && StrayScopeOpen())
        {
            StrayWriteU32(va, value, what);
            return;
        }
        if (TryLocateStructPageWord(va, out ulong pfn, out int unit, what))
        {
            Store.WriteUnit(pfn, unit, value);
            return;
        }
        if (TryLocatePageTableWord(va, out var table, out int idx, out int shift))
        {
            UpdatePageTableWord(table, idx, shift, PageTableWordOp.Set, value, 0, out _);
            return;
        }
        EnsureMappedOther(va, what);
        lock (_otherWrites) SetOther(va & ~3UL, value);
    }

    /// <summary>Atomically adds to the 32-bit value at <paramref name="va"/> (atomic_add_return) and returns the new value.</summary>
    public int AtomicAdd32(ulong va, int delta, string what)
    {
        if (_strayScopes != 0 && StrayScopeOpen())
        {
            return StrayAtomicAdd32(va, delta, what);
        }
        if (TryLocateStructPageWord(va, out ulong pfn, out int unit, what)) return Store.AtomicAddUnit(pfn, unit, delta);
        if (TryLocatePageTableWord(va, out var table, out int idx, out int shift))
            return (int)UpdatePageTableWord(table, idx, shift, PageTableWordOp.Add, unchecked((uint)delta), 0, out _);
        EnsureMappedOther(va, what);
        lock (_otherWrites)
        {
            ulong key = va & ~3UL;
            uint old = _otherWrites.TryGetValue(key, out uint v) ? v : Unpatched(key);
            uint now = unchecked(old + (uint)delta);
            SetOther(key, now);
            return (int)now;
        }
    }

    /// <summary>atomic_cmpxchg() on the 32-bit value at <paramref name="va"/>; true when it held <paramref name="expected"/>.</summary>
    public bool CompareExchangeU32(ulong va, uint value, uint expected, string what)
    {
        if (_strayScopes != 0 && StrayScopeOpen())
        {
            return StrayCompareExchangeU32(va, value, expected, what);
        }
        if (TryLocateStructPageWord(va, out ulong pfn, out int unit, what)) return Store.CompareExchangeUnit(pfn, unit, value, expected) == expected;
        if (TryLocatePageTableWord(va, out var table, out int idx, out int shift))
        {
            UpdatePageTableWord(table, idx, shift, PageTableWordOp.CompareExchange, value, expected, out uint seen);
            return seen == expected;
        }
        EnsureMappedOther(va, what);
        lock (_otherWrites)
        {
            ulong key = va & ~3UL;
            uint old = _otherWrites.TryGetValue(key, out uint v) ? v : Unpatched(key);
            if (old != expected) return false;
            SetOther(key, value);
            return true;
        }
    }

    /// <summary>Reads an unsigned long (4 or 8 bytes per the arch) at <paramref name="va"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadWord(ulong va, string what)
    {
        if (_arch.WordBytes == 4) return ReadU32Any(va, what);
        // PERF: an aligned word inside one struct page is two units of one chunk: locate once.
        if ((va & 7) == 0 && TryLocateStructPageWord(va, out ulong pfn, out int unit, what))
            return Store.ReadUnit(pfn, unit) | ((ulong)Store.ReadUnit(pfn, unit + 1) << 32);
        return ReadU32Any(va, what) | ((ulong)ReadU32Any(va + 4, what) << 32);
    }

    /// <summary>Writes an unsigned long at <paramref name="va"/>.</summary>
    public void WriteWord(ulong va, ulong value, string what)
    {
        if (_strayScopes != 0 && StrayScopeOpen())
        {
            StrayWriteWord(va, value, what);
            return;
        }
        WriteU32(va, (uint)value, what);
        if (_arch.WordBytes == 8) WriteU32(va + 4, (uint)(value >> 32), what);
    }

    /// <summary>Reads one byte.</summary>
    public byte ReadU8(ulong va, string what) => (byte)(ReadU32(va & ~3UL, what) >> (int)((va & 3) * 8));

    /// <summary>Writes one byte.</summary>
    public void WriteU8(ulong va, byte value, string what)
    {
        if (_strayScopes != 0 && StrayScopeOpen())
        {
            StrayWriteU8(va, value, what);
            return;
        }
        int shift = (int)((va & 3) * 8);
        uint old = ReadU32(va & ~3UL, what);
        WriteU32(va & ~3UL, (old & ~(0xFFu << shift)) | ((uint)value << shift), what);
    }

    private uint ReadU32Any(ulong va, string what)
    {
        if ((va & 3) == 0) return ReadU32(va, what);
        int shift = (int)((va & 3) * 8);
        ulong lo = ReadU32(va & ~3UL, what), hi = ReadU32((va & ~3UL) + 4, what);
        return (uint)(((hi << 32) | lo) >> shift);
    }

    private void EnsureMappedOther(ulong va, string what)
    {
        if (!IsMapped(va)) throw Oops(va, what);
    }

    /// <summary>Whether anything is mapped at <paramref name="va"/>: what <see cref="Describe"/> decides, without naming it (a load's hot path).</summary>
    private bool IsMapped(ulong va)
    {
        if (VmemmapActive && va >= _arch.VmemmapBase && va < VmemmapEnd) return VmemmapBacked((va - Vmemmap) >> _spsShift);
        if (FindArray(va) is not null) return true;
        if (va >= _arch.VmallocStart && va < _arch.VmallocEnd)
        {
            lock (_vmallocAreas)
                foreach (var a in _vmallocAreas)
                    if (va >= a.Start && va < a.End) return true;
            return false;
        }
        return IsDirectMap(va, out _);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryLocateStructPageWord(ulong va, out ulong pfn, out int unit, string what = "reading a struct page")
    {
        ulong off;
        if (VmemmapActive && va >= _arch.VmemmapBase && va < VmemmapEnd)
        {
            off = va - Vmemmap;
            pfn = off >> _spsShift;
            if (!VmemmapBacked(pfn)) throw Oops(va, what + ": vmemmap not populated here");
        }
        else
        {
            var a = FindArray(va);
            if (a is null)
            {
                pfn = 0;
                unit = 0;
                return false;
            }
            off = va - a.VaStart;
            pfn = a.FirstPfn + (off >> _spsShift);
        }
        unit = (int)((off & (ulong)(_sps - 1)) >> 2);
        return true;
    }

    /// <summary>
    /// GupSim's batch read, not a kernel function: where the struct page word at <paramref name="va"/> lives, and for
    /// how many struct pages from it (<c>va</c>, <c>va + sizeof(struct page)</c>, …) the same word lies in the same
    /// backing as a plain read finds it (one populated vmemmap section, or one memmap array) and in one chunk of
    /// <see cref="Store"/>, so a caller may read those words with one <see cref="StructPageStore.CountWordEquals"/>
    /// call instead of one <see cref="ReadWord"/> each. 0 where a plain read would not reach a struct page (a vmemmap
    /// hole, a page-table page, other kernel data, nothing): the caller takes the per-entry read, which oopses or
    /// reads what lives there exactly as before. Never throws.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int LocateStructPageWordRun(ulong va, out ulong pfn, out int unit)
    {
        ulong off, left;
        if (VmemmapActive && va >= _arch.VmemmapBase && va < VmemmapEnd)
        {
            off = va - Vmemmap;
            pfn = off >> _spsShift;
            var sections = _sections;
            if (sections is null || !VmemmapBacked(pfn))
            {
                unit = 0;
                return 0;
            }
            // The rest of the section (every pfn of it shares its valid_section_nr()), and of the vmemmap area.
            left = sections.SectionNrToPfn(sections.PfnToSectionNr(pfn) + 1) - pfn;
            left = Math.Min(left, (VmemmapEnd - (va - (off & (ulong)(_sps - 1)))) >> _spsShift);
        }
        else
        {
            var a = FindArray(va);
            if (a is null)
            {
                pfn = 0;
                unit = 0;
                return 0;
            }
            off = va - a.VaStart;
            pfn = a.FirstPfn + (off >> _spsShift);
            left = a.NrPages - (off >> _spsShift);
            // Struct pages past the array's end, or (never placed so, but cheap to rule out) inside the vmemmap area,
            // are located afresh by the caller.
            ulong pageVa = va - (off & (ulong)(_sps - 1));
            if (VmemmapActive && pageVa < _arch.VmemmapBase) left = Math.Min(left, (_arch.VmemmapBase - pageVa) >> _spsShift);
        }
        unit = (int)((off & (ulong)(_sps - 1)) >> 2);
        ulong chunkLeft = (1UL << Store.ChunkShift) - (pfn & ((1UL << Store.ChunkShift) - 1));
        left = Math.Min(left, chunkLeft);
        return (int)Math.Min(left, int.MaxValue);
    }

    /// <summary>
    /// Whether a store made now on this thread would be counted as a stray store (a <see cref="BeginStrayWrites"/>
    /// scope of this memory is open and not suspended). GupSim's own question, for callers that may only merge
    /// several stores into one where nobody counts them one by one.
    /// </summary>
    public bool CountingStrayWrites => _strayScopes != 0 && StrayScopeOpen();

    // ---------------------------------------------------------------- page-table pages

    /// <summary>The entries of one page-table page, as the walker reads them (<c>Mm.PageTable</c>'s storage).</summary>
    private sealed record PageTableStorage(ulong[] Entries, int FirstIndex, int EntryBytes);

    // pfn → the table entries that page holds. Read only on the not-a-struct-page path.
    private readonly ConcurrentDictionary<ulong, PageTableStorage> _pageTables = new();

    /// <summary>
    /// A page-table page of 2^<paramref name="order"/> pages at <paramref name="pfn"/> keeps its entries in
    /// <paramref name="entries"/> (<paramref name="entryBytes"/> bytes each, little-endian): reads and writes of its
    /// direct-map addresses (<c>__va(pfn &lt;&lt; PAGE_SHIFT) + index × entry size</c>) reach the same storage the
    /// page-table walkers read, with the same Volatile/Interlocked semantics. Called when the table takes the page.
    /// </summary>
    public void RegisterPageTable(ulong pfn, int order, ulong[] entries, int entryBytes)
    {
        LayoutStamp++;
        int perPage = (int)(_arch.PageSize / (ulong)entryBytes);
        for (int i = 0; i < 1 << order; i++)
            _pageTables[pfn + (ulong)i] = new PageTableStorage(entries, i * perPage, entryBytes);
    }

    /// <summary>Forgets a page-table page (called before the table gives the page back to the buddy).</summary>
    public void UnregisterPageTable(ulong pfn, int order)
    {
        LayoutStamp++;
        for (int i = 0; i < 1 << order; i++) _pageTables.TryRemove(pfn + (ulong)i, out _);
    }

    /// <summary>Whether the page at <paramref name="pfn"/> holds page-table entries now.</summary>
    public bool IsPageTablePage(ulong pfn) => _pageTables.ContainsKey(pfn);

    private bool TryLocatePageTableWord(ulong va, out PageTableStorage table, out int index, out int shift)
    {
        table = null!;
        index = shift = 0;
        if (_pageTables.IsEmpty || !IsDirectMap(va, out ulong phys)) return false;
        if (!_pageTables.TryGetValue(phys >> _arch.PageShift, out var t)) return false;
        int off = (int)(phys & (_arch.PageSize - 1)) & ~3;
        index = t.FirstIndex + off / t.EntryBytes;
        if (index >= t.Entries.Length) return false; // past the last entry (a PAE PGD's 4): plain memory of the page
        table = t;
        shift = t.EntryBytes == 8 ? ((off >> 2) & 1) * 32 : 0;
        return true;
    }

    /// <summary>What <see cref="UpdatePageTableWord"/> makes of the old 32 bits (an enum, not a delegate: no closure per store).</summary>
    private enum PageTableWordOp
    {
        /// <summary>The new value is the operand.</summary>
        Set,
        /// <summary>The old value plus the operand (wrapping).</summary>
        Add,
        /// <summary>The operand where the old value is the expected one, else the old value.</summary>
        CompareExchange,
    }

    /// <summary>A 32-bit store into half (or all, with 4-byte entries) of one entry: a compare-exchange loop on the entry.</summary>
    private uint UpdatePageTableWord(PageTableStorage t, int index, int shift, PageTableWordOp op, uint operand, uint expected, out uint old)
    {
        if (_journal is not null) JournalPageTableWord(t.Entries, index);
        ref ulong e = ref t.Entries[index];
        ulong mask = 0xFFFF_FFFFUL << shift;
        while (true)
        {
            ulong cur = Volatile.Read(ref e);
            old = (uint)(cur >> shift);
            uint now = op switch
            {
                PageTableWordOp.Set => operand,
                PageTableWordOp.Add => unchecked(old + operand),
                _ => old == expected ? operand : old,
            };
            ulong next = (cur & ~mask) | ((ulong)now << shift);
            if (next == cur || Interlocked.CompareExchange(ref e, next, cur) == cur) return now;
        }
    }

    // ---------------------------------------------------------------- stray writes

    private sealed class StrayScope
    {
        public KernelMemory? Memory;
        public int Depth;
        public bool Inner;
        public bool OopsCounted;
        public int Suspended;
    }

    [ThreadStatic] private static StrayScope? t_stray;
    // Threads inside a scope of this memory: the hot paths read this one field and go on when it is 0.
    private int _strayScopes;
    private StrayWrites _strayTotal;
    private Func<ulong, bool> _pfnFree = _ => false;
    private Func<ulong, KernelPageUse> _pageUse = _ => KernelPageUse.None;

    /// <summary>Wires the answers the stray-write classification needs: is a pfn free in the buddy, what a kernel page is used for.</summary>
    internal void ConnectStrayClassifier(Func<ulong, bool> pfnFreeInBuddy, Func<ulong, KernelPageUse> kernelPageUse)
    {
        _pfnFree = pfnFreeInBuddy;
        _pageUse = kernelPageUse;
    }

    /// <summary>
    /// When set, every counted stray store is also logged here by address: a store within
    /// <see cref="StrayLogJoinBytes"/> of the last range's end, reaching the same kind of target, widens that range;
    /// otherwise it opens a new one, up to <see cref="StrayLogCapacity"/> ranges (later stores are counted in
    /// <see cref="StrayWritesTotal"/> only). <c>gupsim explain</c> draws where they landed; null (the default) logs none.
    /// </summary>
    public List<StrayRange>? StrayLog { get; set; }

    /// <summary>Most ranges <see cref="StrayLog"/> takes.</summary>
    public int StrayLogCapacity { get; set; } = 4096;

    /// <summary>How far past a logged range a store may land and still join it (a struct page's fields are a few words apart).</summary>
    public const ulong StrayLogJoinBytes = 256;

    private void LogStray(ulong va, StrayTarget target)
    {
        var log = StrayLog;
        if (log is null) return;
        lock (log)
        {
            if (log.Count > 0 && log[^1] is var last && last.Target == target && va >= last.Start && va <= last.End + StrayLogJoinBytes)
            {
                log[^1] = last with { End = Math.Max(last.End, va + 1), Count = last.Count + 1 };
                return;
            }
            if (log.Count < StrayLogCapacity) log.Add(new StrayRange(va, va + 1, 1, target));
        }
    }

    /// <summary>Every stray store counted on this machine so far.</summary>
    public StrayWrites StrayWritesTotal
    {
        get { lock (_otherWrites) return _strayTotal; }
    }

    /// <summary>
    /// Opens a scope on this thread in which every store (WriteU32, WriteWord, WriteU8, AtomicAdd32, a successful
    /// CompareExchangeU32) is one stray store: the caller goes through a pointer it knows is not the one the kernel
    /// meant. Dispose closes it. Scopes nest; loads are not counted, except that an access that oopses counts once as
    /// an unmapped store.
    /// </summary>
    public StrayWriteScope BeginStrayWrites()
    {
        var s = t_stray ??= new StrayScope();
        if (s.Depth > 0 && s.Memory != this) throw new InvalidOperationException("a stray-write scope of another machine is open on this thread");
        if (s.Depth++ == 0)
        {
            s.Memory = this;
            s.OopsCounted = false;
            Interlocked.Increment(ref _strayScopes);
        }
        return new StrayWriteScope(this);
    }

    internal void EndStrayWrites()
    {
        var s = t_stray!;
        if (--s.Depth == 0)
        {
            s.Memory = null;
            Interlocked.Decrement(ref _strayScopes);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool StrayScopeOpen() => t_stray is { Depth: > 0, Inner: false, Suspended: 0 } s && s.Memory == this;

    /// <summary>
    /// Inside a stray-write scope: stores until Dispose are the kernel's own, through pointers it derived correctly
    /// from what the stray store left (freeing a page whose refcount a stray put_page() dropped to zero), and are not
    /// counted. Outside a scope it does nothing.
    /// </summary>
    public StraySuspension SuspendStrayWrites()
    {
        if (t_stray is not { Depth: > 0 } s || s.Memory != this) return default;
        s.Suspended++;
        return new StraySuspension(s);
    }

    internal static void ResumeStrayWrites(object scope) => ((StrayScope)scope).Suspended--;

    /// <summary>Says what a store at <paramref name="va"/> reaches, for the stray-write accounting.</summary>
    public StrayTarget ClassifyStore(ulong va)
    {
        ulong pfn;
        if (VmemmapActive && va >= _arch.VmemmapBase && va < VmemmapEnd)
        {
            pfn = (va - Vmemmap) >> _spsShift;
            if (!VmemmapBacked(pfn)) return StrayTarget.Unmapped;
            return _pfnFree(pfn) ? StrayTarget.FreeStructPage : StrayTarget.InUseStructPage;
        }
        var a = FindArray(va);
        if (a is not null)
        {
            pfn = a.FirstPfn + ((va - a.VaStart) >> _spsShift);
            return _pfnFree(pfn) ? StrayTarget.FreeStructPage : StrayTarget.InUseStructPage;
        }
        if (va >= _arch.VmallocStart && va < _arch.VmallocEnd)
        {
            foreach (var v in _vmallocAreas)
                if (va >= v.Start && va < v.End) return StrayTarget.OtherKernelData;
            return StrayTarget.Unmapped;
        }
        if (!IsDirectMap(va, out ulong phys)) return StrayTarget.Unmapped;
        pfn = phys >> _arch.PageShift;
        if (_pageTables.ContainsKey(pfn)) return StrayTarget.PageTable;
        return _pageUse(pfn) switch
        {
            KernelPageUse.PageTable => StrayTarget.PageTable,
            KernelPageUse.Slab => StrayTarget.Slab,
            _ => StrayTarget.OtherKernelData,
        };
    }

    // PERF: the closures of the stray paths live in these methods, not in the stores above: a lambda capturing a
    // store's parameters makes C# allocate its closure on entry to the method that holds it, on every store.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void StrayWriteU32(ulong va, uint value, string what) => StrayStore(va, 4, () => WriteU32(va, value, what));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int StrayAtomicAdd32(ulong va, int delta, string what)
    {
        int result = 0;
        StrayStore(va, 4, () => result = AtomicAdd32(va, delta, what));
        return result;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool StrayCompareExchangeU32(ulong va, uint value, uint expected, string what)
    {
        bool stored = false;
        StrayStore(va, 4, () => stored = CompareExchangeU32(va, value, expected, what), () => stored);
        return stored;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void StrayWriteWord(ulong va, ulong value, string what) => StrayStore(va, _arch.WordBytes, () => WriteWord(va, value, what));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void StrayWriteU8(ulong va, byte value, string what) => StrayStore(va, 1, () => WriteU8(va, value, what));

    /// <summary>One stray store of <paramref name="bytes"/> bytes at <paramref name="va"/>: classify, store, count the bits it changed.</summary>
    private void StrayStore(ulong va, int bytes, Action store, Func<bool>? stored = null)
    {
        var s = t_stray!;
        s.Inner = true;
        try
        {
            var target = ClassifyStore(va);
            if (target == StrayTarget.Unmapped)
            {
                store(); // oopses (and Oops() counts it) as it would outside the scope
                return;
            }
            ulong old = ReadRaw(va, bytes);
            store();
            if (stored is not null && !stored()) return;
            ulong now = ReadRaw(va, bytes);
            Account(StrayWrites.One(target, (ulong)System.Numerics.BitOperations.PopCount(old ^ now)));
            LogStray(va, target);
        }
        finally
        {
            s.Inner = false;
        }
    }

    private ulong ReadRaw(ulong va, int bytes) => bytes switch
    {
        1 => ReadU8(va, "stray-write accounting"),
        4 => ReadU32Any(va, "stray-write accounting"),
        _ => ReadWord(va, "stray-write accounting"),
    };

    private void Account(StrayWrites w)
    {
        lock (_otherWrites) _strayTotal += w;
    }

    /// <summary>The oops of an access to nothing; inside a stray-write scope it counts once as an unmapped store.</summary>
    private KernelOops Oops(ulong va, string what)
    {
        if (_strayScopes != 0 && t_stray is { Depth: > 0, Suspended: 0 } s && s.Memory == this && !s.OopsCounted)
        {
            s.OopsCounted = true;
            Account(StrayWrites.One(StrayTarget.Unmapped, 0));
            LogStray(va, StrayTarget.Unmapped);
        }
        return new KernelOops(KernelVa.FromUInt64(va), what);
    }

    /// <summary>Deterministic contents of kernel memory nobody modelled: a hash of the address and the machine seed.</summary>
    public uint Garbage(ulong va)
    {
        ulong z = va ^ (_seed * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (uint)(z ^ (z >> 31));
    }
}

/// <summary>A stray-write scope (<see cref="KernelMemory.BeginStrayWrites"/>); a struct, so <c>using</c> costs no allocation.</summary>
public readonly struct StrayWriteScope : IDisposable
{
    private readonly KernelMemory? _memory;

    internal StrayWriteScope(KernelMemory memory) => _memory = memory;

    /// <summary>Closes the scope.</summary>
    public void Dispose() => _memory?.EndStrayWrites();
}

/// <summary>A suspension of the stray-write scope (<see cref="KernelMemory.SuspendStrayWrites"/>).</summary>
public readonly struct StraySuspension : IDisposable
{
    private readonly object? _scope;

    internal StraySuspension(object scope) => _scope = scope;

    /// <summary>Resumes counting.</summary>
    public void Dispose()
    {
        if (_scope is not null) KernelMemory.ResumeStrayWrites(_scope);
    }
}

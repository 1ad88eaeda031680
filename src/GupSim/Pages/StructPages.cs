using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace GupSim.Pages;

/// <summary>
/// Reads and writes struct page fields at any <see cref="PagePtr"/>, through the simulated kernel memory: a good
/// pointer reaches its struct page, a wrong one reaches whatever lives at its address (another struct page, the
/// middle of one, other kernel data), and a pointer to nothing oopses. Helpers are named after the kernel's
/// (include/linux/mm.h, page-flags.h, page_ref.h) and follow the machine's kernel version for where compound fields live.
/// </summary>
public sealed class StructPages
{
    private readonly Machine _m;
    private readonly StructPageLayout _l;

    private readonly bool _infoHasMask;
    private readonly string _readingCompoundInfo;
    private readonly int _sizeShift;

    internal StructPages(Machine machine)
    {
        _m = machine;
        _l = machine.Layout;
        _infoHasMask = machine.CompoundInfoHasMask;
        // The word's name in the oops annotation: compound_info from v7.1 (d50569612c29), compound_head before.
        _readingCompoundInfo = machine.Version.HasCompoundInfoMask ? "reading page->compound_info" : "reading page->compound_head";
        _sizeShift = System.Numerics.BitOperations.Log2((uint)_l.Size);
    }

    private Memory.KernelMemory Mem => _m.Memory;
    private PagePtr Tail(PagePtr head, int n) => head.Add(n, _l.Size);

    /// <summary>page->flags.</summary>
    public ulong Flags(PagePtr page) => Mem.ReadWord(page.Address + (ulong)_l.Flags, "reading page->flags");
    /// <summary>Writes page->flags.</summary>
    public void SetFlags(PagePtr page, ulong flags) => Mem.WriteWord(page.Address + (ulong)_l.Flags, flags, "writing page->flags");
    /// <summary>Whether flag bit <paramref name="bit"/> is set.</summary>
    public bool TestFlag(PagePtr page, int bit) => (Flags(page) & (1UL << bit)) != 0;
    /// <summary>
    /// __SetPageXxx() (include/linux/page-flags.h, __set_bit()): a plain load and store of the whole word, as the
    /// kernel's non-atomic form; a concurrent update of another bit of the same word may be lost, as in the kernel.
    /// </summary>
    public void SetFlag(PagePtr page, int bit) => SetFlags(page, Flags(page) | (1UL << bit));
    /// <summary>__ClearPageXxx() (__clear_bit()): plain load and store, like <see cref="SetFlag"/>.</summary>
    public void ClearFlag(PagePtr page, int bit) => SetFlags(page, Flags(page) & ~(1UL << bit));

    /// <summary>
    /// SetPageXxx() (include/linux/page-flags.h → set_bit(), include/asm-generic/bitops/atomic.h): an atomic OR of the
    /// bit into page->flags (a compare-and-swap on the 32-bit unit holding it; storage is little-endian), so it loses
    /// no concurrent update of any other bit.
    /// </summary>
    public void SetPageFlagAtomic(PagePtr page, int bit) => AtomicFlagsUpdate(page, bit, set: true, "set_bit on page->flags");

    /// <summary>ClearPageXxx() (clear_bit()): an atomic AND-NOT of the bit, like <see cref="SetPageFlagAtomic"/>.</summary>
    public void ClearPageFlagAtomic(PagePtr page, int bit) => AtomicFlagsUpdate(page, bit, set: false, "clear_bit on page->flags");

    /// <summary>TestSetPageXxx() (test_and_set_bit()): sets the bit atomically and says whether it was already set.</summary>
    public bool TestSetPageFlagAtomic(PagePtr page, int bit) => AtomicFlagsUpdate(page, bit, set: true, "test_and_set_bit on page->flags");

    private bool AtomicFlagsUpdate(PagePtr page, int bit, bool set, string what)
    {
        ulong va = page.Address + (ulong)_l.Flags + (ulong)(bit >> 5) * 4;
        uint mask = 1u << (bit & 31);
        while (true)
        {
            uint old = Mem.ReadU32(va, what);
            uint now = set ? old | mask : old & ~mask;
            if (now == old || Mem.CompareExchangeU32(va, now, old, what)) return (old & mask) != 0;
        }
    }

    /// <summary>page_ref_count(): atomic_read(&amp;page->_refcount).</summary>
    public int Refcount(PagePtr page) => (int)Mem.ReadU32(page.Address + (ulong)_l.Refcount, "reading page->_refcount");
    /// <summary>set_page_count().</summary>
    public void SetRefcount(PagePtr page, int value) => Mem.WriteU32(page.Address + (ulong)_l.Refcount, (uint)value, "writing page->_refcount");
    /// <summary>page_ref_add_return(): atomic add, returns the new count.</summary>
    public int RefAddReturn(PagePtr page, int delta) => Mem.AtomicAdd32(page.Address + (ulong)_l.Refcount, delta, "atomic add to page->_refcount");

    /// <summary>atomic_cmpxchg() on _refcount: sets <paramref name="value"/> if it still holds <paramref name="expected"/>.</summary>
    public bool RefCompareExchange(PagePtr page, int value, int expected) =>
        Mem.CompareExchangeU32(page.Address + (ulong)_l.Refcount, (uint)value, (uint)expected, "atomic_cmpxchg on page->_refcount");

    /// <summary>atomic_read(&amp;page->_mapcount) (−1 = not mapped).</summary>
    public int MapcountRaw(PagePtr page) => (int)Mem.ReadU32(page.Address + (ulong)_l.Mapcount, "reading page->_mapcount");
    /// <summary>atomic_set(&amp;page->_mapcount, value).</summary>
    public void AtomicMapcountSet(PagePtr page, int value) => Mem.WriteU32(page.Address + (ulong)_l.Mapcount, (uint)value, "writing page->_mapcount");

    /// <summary>page_mapping's raw field: page->mapping.</summary>
    public ulong Mapping(PagePtr page) => Mem.ReadWord(page.Address + (ulong)_l.Mapping, "reading page->mapping");
    /// <summary>page->index.</summary>
    public ulong Index(PagePtr page) => Mem.ReadWord(page.Address + (ulong)_l.Index, "reading page->index");
    /// <summary>page->private.</summary>
    public ulong Private(PagePtr page) => Mem.ReadWord(page.Address + (ulong)_l.Private, "reading page->private");

    /// <summary>The raw compound_head word (lru.next; <c>compound_info</c> from v7.1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong CompoundHeadRaw(PagePtr page) => Mem.ReadWord(page.Address + (ulong)_l.CompoundHead, _readingCompoundInfo);

    /// <summary>
    /// set_compound_head(tail, head, order) (include/linux/page-flags.h): <c>head | 1</c>, or from v7.1 when
    /// compound_info_has_mask() (<see cref="Machine.CompoundInfoHasMask"/>) the mask
    /// <c>GENMASK(BITS_PER_LONG − 1, order + order_base_2(sizeof(struct page))) | 1</c> (8c846c879e22), the same word in
    /// every tail of that order whichever folio it belongs to.
    /// </summary>
    public void SetCompoundHead(PagePtr tail, PagePtr head, int order) =>
        Mem.WriteWord(tail.Address + (ulong)_l.CompoundHead, CompoundInfo(head, order), "set_compound_head");

    /// <summary>The word set_compound_head() stores in a tail of <paramref name="head"/> (order <paramref name="order"/>).</summary>
    public ulong CompoundInfo(PagePtr head, int order)
    {
        if (!_infoHasMask) return head.Address | 1;
        int shift = order + _sizeShift;
        ulong genmask = _l.WordBytes == 8 ? ~0UL << shift : (uint)(~0u << shift);
        return genmask | 1;
    }

    /// <summary>clear_compound_head().</summary>
    public void ClearCompoundHead(PagePtr tail) => Mem.WriteWord(tail.Address + (ulong)_l.CompoundHead, 0, "clear_compound_head");

    /// <summary>
    /// compound_head() / _compound_head(): bit 0 clear — the page itself; set — <c>info − 1</c> (the head pointer), or
    /// from v7.1 with compound_info_has_mask() <c>page &amp; (((info &amp; 1) − 1) | info)</c> (the branchless form):
    /// the page's own address ANDed with the mask, which is the head only when the head's struct page is naturally
    /// aligned to the folio's memmap size (MAX_FOLIO_VMEMMAP_ALIGN, checked by sparse_init()).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PagePtr CompoundHead(PagePtr page)
    {
        ulong v = CompoundHeadRaw(page);
        if (_infoHasMask) return PagePtr.FromAddress(page.Address & (((v & 1) - 1) | v));
        return (v & 1) != 0 ? PagePtr.FromAddress(v - 1) : page;
    }

    /// <summary>
    /// The loop of compound_next() (mm/gup.c, v5.12+; gup_folio_next() with page_folio() from v5.19): how many leading
    /// entries of <paramref name="pages"/> have <c>compound_head(pages[i]) == head</c>, stopping at the first that does
    /// not. Per entry it is <see cref="CompoundHead"/>'s read; GupSim reads a run of entries that are consecutive
    /// struct pages (<c>pages[i + 1] == pages[i] + 1</c>) lying in one chunk of the struct page store with one
    /// <see cref="Memory.StructPageStore.CountWordEquals"/> (a tail's compound_head word is head + 1), and every other
    /// entry — a head, a wrong pointer, a vmemmap hole, other kernel data — with <see cref="CompoundHead"/> itself, so an
    /// oops comes from the same entry as before. No entry past the first that differs is read.
    /// </summary>
    public int CountCompoundHead(ReadOnlySpan<PagePtr> pages, PagePtr head) => CountCompoundHead(pages, head, ulong.MaxValue, runsOnly: false);

    /// <summary>
    /// <see cref="CountCompoundHead(ReadOnlySpan{PagePtr}, PagePtr)"/> for a caller that reads ahead of stores it
    /// makes between entries (put_page() per entry): it also stops before the first entry whose compound_head word
    /// overlaps the 32-bit word at <paramref name="stopAtStoreVa"/> (<see cref="ulong.MaxValue"/>: none), which must be
    /// read after the store, and with <paramref name="runsOnly"/> before the first entry it could only read the plain
    /// way (a head, a wrong pointer, no struct page), so that no read ahead can oops.
    /// </summary>
    public int CountCompoundHead(ReadOnlySpan<PagePtr> pages, PagePtr head, ulong stopAtStoreVa, bool runsOnly)
    {
        int wb = _l.WordBytes, sps = _l.Size;
        ulong chOff = (ulong)_l.CompoundHead, tailWord = head.Address + 1;
        var store = Mem.Store;
        bool masked = _infoHasMask;
        int j = 0;
        while (j < pages.Length)
        {
            ulong w = pages[j].Address + chOff;
            if (stopAtStoreVa != ulong.MaxValue && stopAtStoreVa - w + 3 < (ulong)(wb + 3)) return j; // [w, w + wb) meets [A, A + 4)
            ulong pfn = 0;
            int unit = 0, seg = (w & (ulong)(wb - 1)) == 0 ? Mem.LocateStructPageWordRun(w, out pfn, out unit) : 0;
            if (seg > 1 && masked) seg = MaskedRunLimit(pages[j], head, store, pfn, unit, seg, out tailWord);
            if (seg > 1)
            {
                int k = ConsecutiveRun(pages.Slice(j, Math.Min(seg, pages.Length - j)), pages[j].Address, (ulong)sps);
                if (stopAtStoreVa != ulong.MaxValue) k = Math.Min(k, FirstOverlap(stopAtStoreVa, w, sps, k));
                int same = store.CountWordEquals(pfn, unit, wb / 4, tailWord, k);
                j += same;
                if (same == k) continue;
            }
            // One entry the plain way: a head (its compound_head is itself), a wrong pointer, or no struct page at all.
            if (runsOnly || CompoundHead(pages[j]) != head) return j;
            j++;
        }
        return j;
    }

    /// <summary>
    /// v7.1 mask encoding: every tail of one order holds the same word, so a run of equal words may run on into the next
    /// folio of that order. Reads the entry's word from the store (it is a struct page word, so the read cannot oops)
    /// and, when it is a tail word whose mask takes the entry to <paramref name="head"/>, limits the run to the entries
    /// left in head's block of 2^(order) struct pages and returns the word to compare; otherwise 0 (the plain way).
    /// </summary>
    private int MaskedRunLimit(PagePtr entry, PagePtr head, Memory.StructPageStore store, ulong pfn, int unit, int seg, out ulong word)
    {
        word = store.ReadUnit(pfn, unit);
        if (_l.WordBytes == 8) word |= (ulong)store.ReadUnit(pfn, unit + 1) << 32;
        ulong bits = word & ~1UL;
        if ((word & 1) == 0 || bits == 0 || (entry.Address & word) != head.Address) return 0;
        int shift = System.Numerics.BitOperations.TrailingZeroCount(bits);
        ulong blockEnd = head.Address + (1UL << shift);
        ulong left = (blockEnd - entry.Address) >> _sizeShift;
        return (int)Math.Min((ulong)seg, left);
    }

    /// <summary>The first m &lt; k whose word [w + m × sps, + wordBytes) meets [a, a + 4); k when none does.</summary>
    private int FirstOverlap(ulong a, ulong w, int sps, int k)
    {
        long d = unchecked((long)(a - w)); // entry m overlaps iff d − wordBytes < m × sps < d + 4
        if (d + 4 <= 0) return k;
        long m = (d + 3) / sps;            // the largest m with m × sps < d + 4; smaller ones end before a (sps > wordBytes + 4)
        return m < k && m * sps > d - _l.WordBytes ? (int)m : k;
    }

    /// <summary>How many leading entries are <c>first + i × step</c> (the entries a page++ walk would produce).</summary>
    private static int ConsecutiveRun(ReadOnlySpan<PagePtr> pages, ulong first, ulong step)
    {
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<PagePtr, ulong>(pages);
        int n = words.Length, i = 0;
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated && n >= 16)
        {
            ref ulong r = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(words);
            var v0 = System.Runtime.Intrinsics.Vector256.Create(first, first + step, first + 2 * step, first + 3 * step);
            var v1 = v0 + System.Runtime.Intrinsics.Vector256.Create(4 * step);
            var v2 = v1 + System.Runtime.Intrinsics.Vector256.Create(4 * step);
            var v3 = v2 + System.Runtime.Intrinsics.Vector256.Create(4 * step);
            var inc = System.Runtime.Intrinsics.Vector256.Create(16 * step);
            // PERF: 16 entries per test, the differences OR-ed together, one branch; a block that differs is then
            // located entry by entry below.
            for (; i <= n - 16; i += 16)
            {
                var diff = (System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref r, (nuint)i) ^ v0)
                    | (System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref r, (nuint)(i + 4)) ^ v1)
                    | (System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref r, (nuint)(i + 8)) ^ v2)
                    | (System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref r, (nuint)(i + 12)) ^ v3);
                if (diff != System.Runtime.Intrinsics.Vector256<ulong>.Zero) break;
                v0 += inc;
                v1 += inc;
                v2 += inc;
                v3 += inc;
            }
        }
        ulong expect = first + (ulong)i * step;
        for (; i < n; i++, expect += step)
            if (words[i] != expect) break;
        return i;
    }

    /// <summary>PageTail().</summary>
    public bool PageTail(PagePtr page) => (CompoundHeadRaw(page) & 1) != 0;
    /// <summary>PageHead().</summary>
    public bool PageHead(PagePtr page) => TestFlag(page, PageFlagBits.Head);
    /// <summary>PageCompound().</summary>
    public bool PageCompound(PagePtr page) => PageHead(page) || PageTail(page);
    /// <summary>PageReserved().</summary>
    public bool PageReserved(PagePtr page) => TestFlag(page, PageFlagBits.Reserved);

    /// <summary>compound_order(): 0 unless PageHead, else the order kept in page[1].</summary>
    public int CompoundOrder(PagePtr page)
    {
        if (!PageHead(page)) return 0;
        return Mem.ReadU8(Tail(page, 1).Address + (ulong)_l.CompoundOrder, "reading compound_order");
    }

    /// <summary>compound_nr(): 1 unless PageHead, else page[1]'s compound_nr.</summary>
    public ulong CompoundNr(PagePtr page)
    {
        if (!PageHead(page)) return 1;
        return Mem.ReadU32(Tail(page, 1).Address + (ulong)_l.CompoundNr, "reading compound_nr");
    }

    /// <summary>set_compound_order(): order and compound_nr in page[1].</summary>
    public void SetCompoundOrder(PagePtr head, int order)
    {
        var t = Tail(head, 1);
        Mem.WriteU8(t.Address + (ulong)_l.CompoundOrder, (byte)order, "set_compound_order");
        Mem.WriteU32(t.Address + (ulong)_l.CompoundNr, 1u << order, "set_compound_order");
    }

    /// <summary>Writes page[1]'s compound_nr alone (it overlays page[1].mapping on 64-bit v5.7–v5.17).</summary>
    public void SetCompoundNr(PagePtr head, uint value) =>
        Mem.WriteU32(Tail(head, 1).Address + (ulong)_l.CompoundNr, value, "writing compound_nr");

    /// <summary>compound_mapcount (page[1]); −1 when not mapped.</summary>
    public int CompoundMapcount(PagePtr head) => (int)Mem.ReadU32(Tail(head, 1).Address + (ulong)_l.CompoundMapcount, "reading compound_mapcount");
    /// <summary>Sets compound_mapcount.</summary>
    public void SetCompoundMapcount(PagePtr head, int value) => Mem.WriteU32(Tail(head, 1).Address + (ulong)_l.CompoundMapcount, (uint)value, "writing compound_mapcount");

    /// <summary>
    /// hpage_pincount_available(): the head is compound and the version has a pincount for its order (order ≥ 2
    /// before v5.18, where it sits in page[2]; any compound page from v5.18).
    /// </summary>
    public bool HpagePincountAvailable(PagePtr page)
    {
        var head = CompoundHead(page);
        if (!PageCompound(head)) return false;
        return _l.PincountPage == 1 || CompoundOrder(head) > 1;
    }

    /// <summary>compound_pincount_ptr(head) read: page[2].hpage_pinned_refcount (v5.11) or page[1]'s pincount (v5.18+).</summary>
    public int CompoundPincount(PagePtr head) => (int)Mem.ReadU32(PincountVa(head), "reading compound_pincount");
    /// <summary>atomic_add to the compound pincount; returns the new value.</summary>
    public int CompoundPincountAdd(PagePtr head, int delta) => Mem.AtomicAdd32(PincountVa(head), delta, "atomic add to compound_pincount");
    /// <summary>Sets the compound pincount.</summary>
    public void SetCompoundPincount(PagePtr head, int value) => Mem.WriteU32(PincountVa(head), (uint)value, "writing compound_pincount");

    private ulong PincountVa(PagePtr head) => Tail(head, _l.PincountPage).Address + (ulong)_l.Pincount;

    /// <summary>page->mapping = value.</summary>
    public void SetMapping(PagePtr page, ulong value) => Mem.WriteWord(page.Address + (ulong)_l.Mapping, value, "writing page->mapping");

    /// <summary>page->index = value.</summary>
    public void SetIndex(PagePtr page, ulong value) => Mem.WriteWord(page.Address + (ulong)_l.Index, value, "writing page->index");

    /// <summary>PAGE_MAPPING_ANON (include/linux/page-flags.h): bit 0 of page->mapping on anonymous pages.</summary>
    public const ulong PageMappingAnon = 0x1;
    /// <summary>PAGE_MAPPING_FLAGS: PAGE_MAPPING_ANON | PAGE_MAPPING_MOVABLE.</summary>
    public const ulong PageMappingFlags = 0x3;

    /// <summary>PageAnon(): page->mapping has PAGE_MAPPING_ANON set (read on the head, as folio_test_anon does).</summary>
    public bool PageAnon(PagePtr page) => (Mapping(CompoundHead(page)) & PageMappingAnon) != 0;

    /// <summary>
    /// free_pages_check_bad() / check_free_page() (mm/page_alloc.c, v5.11): why a page may not be freed, or null
    /// when it is clean.
    /// </summary>
    public string? CheckFreePage(PagePtr page)
    {
        if (MapcountRaw(page) != -1) return "nonzero mapcount";
        if (Mapping(page) != 0) return "non-NULL mapping";
        if (Refcount(page) != 0) return "nonzero _refcount";
        if ((Flags(page) & PageFlagBits.CheckAtFree) != 0) return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set";
        return null;
    }

    /// <summary>
    /// free_tail_pages_check() (mm/page_alloc.c): page[1] must have compound_mapcount −1 (and, from v5.18, pincount 0),
    /// page[3..] must carry TAIL_MAPPING, and every tail must point at its head; then mapping and compound_head are
    /// cleared whatever the verdict.
    /// </summary>
    public string? FreeTailPagesCheck(PagePtr head, PagePtr page, long index, ulong tailMapping)
    {
        string? reason = null;
        if (index == 1)
        {
            if (CompoundMapcount(head) != -1) reason = "nonzero compound_mapcount";
            else if (_l.PincountPage == 1 && CompoundPincount(head) != 0) reason = "nonzero compound_pincount";
        }
        else if (index > 2 && Mapping(page) != tailMapping) reason = "corrupted mapping in tail page";
        if (reason is null && !PageTail(page)) reason = "PageTail not set";
        if (reason is null && CompoundHead(page) != head) reason = "compound_head not consistent";
        SetMapping(page, 0);
        ClearCompoundHead(page);
        return reason;
    }

    /// <summary>
    /// bad_page(): logs "BUG: Bad page state in process … pfn:…" followed by dump_page() to the kernel log and returns
    /// the whole report.
    /// </summary>
    public string BadPage(PagePtr page, string reason)
    {
        var sb = new StringBuilder();
        ulong pfn = SafePfn(page);
        sb.Append(CultureInfo.InvariantCulture, $"BUG: Bad page state in process gupsim  pfn:{pfn:x5}");
        foreach (var line in DumpPage(page, reason)) sb.Append('\n').Append(line);
        string text = sb.ToString();
        foreach (var line in text.Split('\n')) _m.Log(line);
        return text;
    }

    private ulong SafePfn(PagePtr page)
    {
        try
        {
            return _m.PageToPfn(page).Value;
        }
        catch (Core.KernelOops)
        {
            return 0;
        }
    }

    /// <summary>dump_page() (mm/debug.c) lines as the machine's kernel version prints them (<see cref="Debug.DumpPage"/>).</summary>
    public IReadOnlyList<string> DumpPage(PagePtr page, string reason) => Debug.DumpPage.Lines(_m, page, reason);

    /// <summary>%pGp: the names of the set flag bits below the zone/node/section fields, joined by '|'.</summary>
    public string FlagNames(ulong flags)
    {
        var names = new List<string>();
        for (int b = 0; b < PageFlagBits.NrPageFlagsFor(_l.WordBytes * 8); b++)
            if ((flags & (1UL << b)) != 0) names.Add(PageFlagBits.Names[b]);
        int zone = _m.FlagsLayout.ZoneOf(flags);
        names.Add("zone=" + zone.ToString(CultureInfo.InvariantCulture));
        if (_m.FlagsLayout.NodesWidth > 0) names.Add("node=" + _m.FlagsLayout.NodeOf(flags).ToString(CultureInfo.InvariantCulture));
        if (_m.FlagsLayout.SectionsWidth > 0) names.Add("section=" + _m.FlagsLayout.SectionOf(flags).ToString(CultureInfo.InvariantCulture));
        return string.Join('|', names);
    }
}

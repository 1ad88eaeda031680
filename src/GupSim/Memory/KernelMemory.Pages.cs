using System.Numerics;

namespace GupSim.Memory;

/// <summary>
/// Whole-page data stores (GupSim's machinery for what memcpy() into kmap(page) does): the word each 4-byte unit of
/// "other" kernel memory holds comes from the words written there, else the page's <see cref="PageContents"/> token,
/// else <see cref="Garbage"/>; a whole-page store replaces the token and the words of that page, or, where the page
/// holds struct pages or page-table entries, writes its data over them word by word.
/// </summary>
public sealed partial class KernelMemory
{
    // Direct-map pages (va >> PAGE_SHIFT) that may hold words in _otherWrites: a whole-page store clears only those.
    private readonly HashSet<ulong> _otherWritePages = [];

    /// <summary>The word at <paramref name="key"/> of other kernel data nobody wrote word-wise: the page's data, or garbage.</summary>
    private uint Unpatched(ulong key)
    {
        // The linear map's own bounds only: a pfn that is no RAM holds no token, so no RAM lookup is needed.
        if (key >= _arch.PageOffset && key - _arch.PageOffset < _arch.LowmemBytes)
        {
            ulong phys = VirtToPhys(key);
            ulong t = Contents.Read(phys >> _arch.PageShift);
            if (t != PageContents.Unwritten) return PageContents.Word(t, (int)((phys & (_arch.PageSize - 1)) >> 2));
        }
        return Garbage(key);
    }

    /// <summary>
    /// A store of one whole page of data (the <see cref="PageContents"/> token <paramref name="token"/>) into physical
    /// page <paramref name="pfn"/>, as copy_from_user(kmap(page), src, PAGE_SIZE) or copy_highpage() makes it. Where
    /// the page lies in the direct map and holds struct pages (a memmap array placed there) or page-table entries,
    /// the data is written over them word by word, and whatever reads them next sees it; otherwise the page's token
    /// becomes <paramref name="token"/> and any word written into the page before is gone. A highmem page (no direct
    /// map, reached through a temporary kmap) holds nothing GupSim models but its data. The caller says whether it
    /// is a stray store (this method counts nothing) and must have checked that the pfn is RAM.
    /// </summary>
    /// <returns>The bits the store changed (popcount of old ^ new over the page's words).</returns>
    public ulong StorePage(ulong pfn, ulong token)
    {
        ulong phys = pfn << _arch.PageShift;
        ulong va = PhysToVirt(phys);
        int units = (int)(_arch.PageSize >> 2);
        ulong bits = 0;
        bool direct = IsDirectMap(va, out _);
        if (direct && (_pageTables.ContainsKey(pfn) || ArrayOverlaps(va, va + _arch.PageSize)))
        {
            for (int k = 0; k < units; k++)
            {
                ulong at = va + ((ulong)k << 2);
                uint now = PageContents.Word(token, k);
                uint old = ReadU32(at, "a page store");
                if (old == now) continue;
                WriteU32(at, now, "a page store");
                bits += (ulong)BitOperations.PopCount(old ^ now);
            }
            return bits;
        }
        ulong before = Contents.Read(pfn);
        lock (_otherWrites)
        {
            bool patched = direct && _otherWritePages.Contains(va >> _arch.PageShift);
            for (int k = 0; k < units; k++)
            {
                ulong at = va + ((ulong)k << 2);
                uint old;
                if (patched && _otherWrites.TryGetValue(at, out uint w))
                {
                    old = w;
                    RemoveOther(at);
                }
                else old = before != PageContents.Unwritten ? PageContents.Word(before, k) : Garbage(at);
                bits += (ulong)BitOperations.PopCount(old ^ PageContents.Word(token, k));
            }
            if (patched) _otherWritePages.Remove(va >> _arch.PageShift);
        }
        Contents.Write(pfn, token);
        return bits;
    }

    /// <summary>
    /// The data page <paramref name="pfn"/> holds as a user reads it: its token, and whether words were written into
    /// it one by one since (a stray store of a struct field through the direct map), which makes it differ from any
    /// page holding only that token.
    /// </summary>
    public ulong PageData(ulong pfn, out bool patched)
    {
        ulong va = PhysToVirt(pfn << _arch.PageShift);
        lock (_otherWrites)
        {
            patched = false;
            if (_otherWritePages.Contains(va >> _arch.PageShift))
                for (ulong at = va; at < va + _arch.PageSize && !patched; at += 4) patched = _otherWrites.ContainsKey(at);
        }
        return Contents.Read(pfn);
    }

    /// <summary>
    /// The token a whole-page copy out of page <paramref name="pfn"/> carries (copy_from_user(), copy_to_user() of a
    /// kmapped page): its own, unless GupSim holds none for it (garbage) or words were written into it one by one,
    /// when the copy gets a token of its own that no other page holds.
    /// </summary>
    public ulong CopyablePageData(ulong pfn)
    {
        ulong token = PageData(pfn, out bool patched);
        return token == PageContents.Unwritten || patched ? PageContents.Opaque((pfn << 1) ^ token) : token;
    }

    /// <summary>
    /// Whole-page stores of <paramref name="token"/> into <paramref name="count"/> pages from <paramref name="pfn"/>
    /// through their right struct pages (clear_huge_page() with <see cref="PageContents.Zero"/>: every version's
    /// subpage walk there, mem_map_next() then nth_page(), reaches each subpage's own page). The pages are user memory
    /// the allocator just handed out, so none holds struct pages or page tables; words written into them one by one
    /// before are gone.
    /// </summary>
    public void FillPages(ulong pfn, ulong count, ulong token)
    {
        DropPatches(pfn, count);
        Contents.Fill(pfn, count, token);
    }

    /// <summary>copy_highpage() over <paramref name="count"/> pages through their right struct pages (a huge page's copy for COW or migration).</summary>
    public void CopyPages(ulong dst, ulong src, ulong count)
    {
        DropPatches(dst, count);
        Contents.Copy(dst, src, count);
    }

    // Forgets the words written one by one into [pfn, pfn + count) (journaled), walking whichever is shorter: the range or the patched pages.
    private void DropPatches(ulong pfn, ulong count)
    {
        lock (_otherWrites)
        {
            if (_otherWritePages.Count == 0) return;
            var hit = new List<ulong>();
            foreach (ulong vpage in _otherWritePages)
            {
                ulong va = vpage << _arch.PageShift;
                if (IsDirectMap(va, out ulong phys) && phys >> _arch.PageShift is var p && p >= pfn && p - pfn < count) hit.Add(vpage);
            }
            foreach (ulong vpage in hit)
            {
                ulong va = vpage << _arch.PageShift;
                for (ulong at = va; at < va + _arch.PageSize; at += 4) RemoveOther(at);
                _otherWritePages.Remove(vpage);
            }
        }
    }

    /// <summary>
    /// Counts one stray whole-page store (a copy into the page a wrong struct page pointer stands for): one store, as
    /// the C source makes one copy_from_user() call, classified by what lives in page <paramref name="pfn"/> (a page
    /// outside the direct map is a highmem page: other data), with the bits it changed; null <paramref name="pfn"/>
    /// for a store that reached no RAM at all (an unmapped access).
    /// </summary>
    public void CountStrayPageStore(ulong? pfn, ulong bits)
    {
        ulong va = pfn is ulong p ? PhysToVirt(p << _arch.PageShift) : 0;
        var target = pfn is null ? StrayTarget.Unmapped : IsDirectMap(va, out _) ? ClassifyStore(va) : StrayTarget.OtherKernelData;
        Account(StrayWrites.One(target, target == StrayTarget.Unmapped ? 0 : bits));
        LogStray(va, target);
    }

    /// <summary>Whether physical page <paramref name="pfn"/> is RAM (boot or hot-added).</summary>
    public bool IsRamPfn(ulong pfn) => _isRam(pfn << _arch.PageShift);

    // Whether any memmap array has struct pages in [start, end).
    private bool ArrayOverlaps(ulong start, ulong end)
    {
        int i = FindArrayIndex(end - 1);
        return i >= 0 && _arrays[i].VaEnd > start;
    }
}

using System.Globalization;
using GupSim.Core;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Gup;

/// <summary>What <see cref="PagesOracle"/> found in a pages[] array.</summary>
/// <param name="Checked">Entries compared.</param>
/// <param name="Wrong">Entries that are not the struct page of the pfn the page table maps at their address.</param>
/// <param name="FirstWrongIndex">The index of the first wrong entry, or −1.</param>
/// <param name="Found">The first wrong entry's pointer.</param>
/// <param name="ExpectedPfn">The pfn the first wrong entry should describe (null when its address was not mapped at check time).</param>
/// <param name="FoundDescription">What lives at <paramref name="Found"/>: another pfn's struct page, unbacked memory, ....</param>
public sealed record PagesOracleResult(long Checked, long Wrong, long FirstWrongIndex, PagePtr Found, ulong? ExpectedPfn, string? FoundDescription)
{
    /// <summary>Whether every entry was right.</summary>
    public bool AllCorrect => Wrong == 0;

    /// <summary>One line about the first wrong entry, or null.</summary>
    public string? FirstWrongText => FirstWrongIndex < 0
        ? null
        : string.Create(CultureInfo.InvariantCulture,
            $"pages[{FirstWrongIndex}] = {Found}: {FoundDescription}, expected {(ExpectedPfn is ulong p ? $"the struct page of pfn 0x{p:x}" : "a mapped page (the address is no longer mapped)")}");
}

/// <summary>
/// GupSim's oracle for GUP results (not a kernel function): every <c>pages[i]</c> must be
/// <c>pfn_to_page(pfn)</c> of the pfn the page table maps at <c>start + i * PAGE_SIZE</c>. It walks each leaf entry
/// once and compares runs within a MAX_ORDER block (where every memory model's memmap is contiguous), so checking
/// 16 GiB of 1 GiB pages costs one pfn_to_page per 4 MiB rather than one page-table walk per subpage.
/// </summary>
public static class PagesOracle
{
    /// <summary>Checks <paramref name="pages"/>, which GUP filled for <paramref name="start"/> onwards in <paramref name="mm"/>.</summary>
    public static PagesOracleResult Check(MmStruct mm, ulong start, ReadOnlySpan<PagePtr> pages)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var m = mm.Machine;
        long wrong = 0, first = -1;
        ulong? firstExpected = null;
        var runs = new RightRuns(mm, start, pages.Length);
        while (runs.MoveNext())
        {
            if (runs.First.IsNull)
            {
                // Nothing mapped at this subpage (a run of one): whatever the entry holds is wrong.
                wrong++;
                if (first < 0) (first, firstExpected) = (runs.Index, null);
                continue;
            }
            for (long k = 0; k < runs.Count; k++)
            {
                if (pages[(int)(runs.Index + k)] == m.PageAdd(runs.First, k)) continue;
                wrong++;
                if (first < 0) (first, firstExpected) = (runs.Index + k, runs.Pfn + (ulong)k);
            }
        }
        if (first < 0) return new PagesOracleResult(pages.Length, 0, -1, PagePtr.Null, null, null);
        var found = pages[(int)first];
        var info = m.Describe(found);
        string what = info.Pfn is ulong p
            ? string.Create(CultureInfo.InvariantCulture, $"the struct page of pfn 0x{p:x} ({info.Region})")
            : $"{info.Kind.ToString().ToLowerInvariant()} ({info.Region})";
        return new PagesOracleResult(pages.Length, wrong, first, found, firstExpected, what);
    }

    /// <summary>
    /// The struct page every entry should be: <c>right[i] = pfn_to_page(pfn)</c> of the pfn the page table maps at
    /// <c>start + i * PAGE_SIZE</c>, or <see cref="PagePtr.Null"/> where nothing is mapped. What
    /// <see cref="Grab.UnpinUserPages(ReadOnlySpan{PagePtr}, ReadOnlySpan{PagePtr})"/> judges stray stores by.
    /// </summary>
    public static void RightPages(MmStruct mm, ulong start, Span<PagePtr> right)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var m = mm.Machine;
        var runs = new RightRuns(mm, start, right.Length);
        while (runs.MoveNext())
        {
            if (runs.First.IsNull)
            {
                right[(int)runs.Index] = PagePtr.Null; // a run of one: nothing mapped there
                continue;
            }
            for (long k = 0; k < runs.Count; k++)
                right[(int)(runs.Index + k)] = m.PageAdd(runs.First, k);
        }
    }

    /// <summary>
    /// The right struct pages of <c>n</c> subpages from <c>start</c>, run by run: each leaf entry is walked once and
    /// cut at MAX_ORDER blocks (where every memory model's memmap is contiguous), so a run's right pages are
    /// <see cref="First"/> + k; an unmapped subpage is a run of one with a null <see cref="First"/>.
    /// </summary>
    private struct RightRuns(MmStruct mm, ulong start, long n)
    {
        private readonly Machine _m = mm.Machine;
        private long _next;
        private ulong _pfn;
        private long _leafLeft;

        /// <summary>Index of the run's first entry.</summary>
        public long Index { get; private set; }
        /// <summary>Entries in the run.</summary>
        public long Count { get; private set; }
        /// <summary>pfn_to_page() of <see cref="Pfn"/>, or null where nothing is mapped.</summary>
        public PagePtr First { get; private set; }
        /// <summary>The pfn mapped at the run's first entry.</summary>
        public ulong Pfn { get; private set; }

        public bool MoveNext()
        {
            if (_next >= n) return false;
            int shift = _m.Arch.PageShift;
            Index = _next;
            if (_leafLeft == 0)
            {
                // The page containing start + i * PAGE_SIZE (an unaligned start — slow GUP takes one — is in its page).
                ulong va = (start & ~(_m.Arch.PageSize - 1)) + ((ulong)_next << shift);
                var leaf = mm.WalkLeaf(va);
                if (leaf is not { } l || !l.Entry.IsPresent)
                {
                    (Count, First, Pfn) = (1, PagePtr.Null, 0);
                    _next++;
                    return true;
                }
                ulong leafStart = va & ~(l.Bytes - 1);
                _pfn = l.Entry.Pfn.Value + ((va - leafStart) >> shift);
                _leafLeft = Math.Min(n - _next, (long)((leafStart + l.Bytes - va) >> shift));
            }
            ulong block = _m.Arch.MaxOrderNrPages;
            Count = Math.Min(_leafLeft, (long)(block - (_pfn & (block - 1))));
            Pfn = _pfn;
            First = _m.PfnToPage(Core.Pfn.FromUInt64(_pfn));
            _pfn += (ulong)Count;
            _leafLeft -= Count;
            _next += Count;
            return true;
        }
    }
}

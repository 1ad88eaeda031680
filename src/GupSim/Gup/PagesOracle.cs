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
        int shift = m.Arch.PageShift;
        ulong block = m.Arch.MaxOrderNrPages;
        long n = pages.Length, wrong = 0, first = -1;
        ulong? firstExpected = null;
        long i = 0;
        while (i < n)
        {
            ulong va = start + ((ulong)i << shift);
            var leaf = mm.WalkLeaf(va);
            if (leaf is not { } l || !l.Entry.IsPresent)
            {
                if (first < 0) first = i;
                wrong++;
                i++;
                continue;
            }
            ulong leafStart = va & ~(l.Bytes - 1);
            ulong pfn = l.Entry.Pfn.Value + ((va - leafStart) >> shift);
            long count = Math.Min(n - i, (long)((leafStart + l.Bytes - va) >> shift));
            while (count > 0)
            {
                long run = Math.Min(count, (long)(block - (pfn & (block - 1))));
                var expected = m.PfnToPage(Pfn.FromUInt64(pfn));
                for (long k = 0; k < run; k++)
                {
                    if (pages[(int)(i + k)] == m.PageAdd(expected, k)) continue;
                    wrong++;
                    if (first < 0)
                    {
                        first = i + k;
                        firstExpected = pfn + (ulong)k;
                    }
                }
                i += run;
                pfn += (ulong)run;
                count -= run;
            }
        }
        if (first < 0) return new PagesOracleResult(n, 0, -1, PagePtr.Null, null, null);
        var found = pages[(int)first];
        var info = m.Describe(found);
        string what = info.Pfn is ulong p
            ? string.Create(CultureInfo.InvariantCulture, $"the struct page of pfn 0x{p:x} ({info.Region})")
            : $"{info.Kind.ToString().ToLowerInvariant()} ({info.Region})";
        return new PagesOracleResult(n, wrong, first, found, firstExpected, what);
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
        int shift = m.Arch.PageShift;
        ulong block = m.Arch.MaxOrderNrPages;
        long n = right.Length, i = 0;
        while (i < n)
        {
            ulong va = start + ((ulong)i << shift);
            var leaf = mm.WalkLeaf(va);
            if (leaf is not { } l || !l.Entry.IsPresent)
            {
                right[(int)i++] = PagePtr.Null;
                continue;
            }
            ulong leafStart = va & ~(l.Bytes - 1);
            ulong pfn = l.Entry.Pfn.Value + ((va - leafStart) >> shift);
            long count = Math.Min(n - i, (long)((leafStart + l.Bytes - va) >> shift));
            while (count > 0)
            {
                long run = Math.Min(count, (long)(block - (pfn & (block - 1))));
                var first = m.PfnToPage(Pfn.FromUInt64(pfn));
                for (long k = 0; k < run; k++) right[(int)(i + k)] = m.PageAdd(first, k);
                i += run;
                pfn += (ulong)run;
                count -= run;
            }
        }
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Gup.C;

/// <summary>
/// The helpers of gupsim/kernel.h (its <c>struct gupsim_ops</c>): pfn_to_page(), page_to_pfn(), nth_page(),
/// mem_map_offset(), compound_head(), PageHead(), PageTail(), compound_nr(), compound_order(), folio_page(),
/// pfn_valid() and WARN, each a native-callable entry into the simulated kernel of the machine the current call
/// runs on (<see cref="Enter"/>), so each behaves as that machine's kernel version defines it (include/linux/mm.h,
/// include/linux/page-flags.h, include/asm-generic/memory_model.h, mm/internal.h). A helper never lets an exception
/// reach the native frames: an oops (or any other failure) is kept, the helper returns 0, every later helper of the
/// call returns 0 at once, and <see cref="Leave"/> hands the failure to the caller to raise once C has returned.
/// </summary>
internal static unsafe class KernelHelpers
{
    [ThreadStatic] private static Machine? t_machine;
    [ThreadStatic] private static GupCounters? t_counters;
    [ThreadStatic] private static Exception? t_fault;

    /// <summary>The number of function pointers in struct gupsim_ops after its two 32-bit fields.</summary>
    private const int FunctionCount = 12;

    /// <summary>A struct gupsim_ops for <paramref name="structPageSize"/>, allocated once per loaded object and never freed.</summary>
    internal static nint NewOpsTable(uint structPageSize)
    {
        var t = (byte*)NativeMemory.AllocZeroed((nuint)(8 + FunctionCount * sizeof(nint)));
        *(uint*)t = CRecorder.AbiVersion;
        *(uint*)(t + 4) = structPageSize;
        var f = (nint*)(t + 8);
        f[0] = (nint)(delegate* unmanaged<ulong, ulong>)&PfnToPage;
        f[1] = (nint)(delegate* unmanaged<ulong, ulong>)&PageToPfn;
        f[2] = (nint)(delegate* unmanaged<ulong, ulong, ulong>)&NthPage;
        f[3] = (nint)(delegate* unmanaged<ulong, int, ulong>)&MemMapOffset;
        f[4] = (nint)(delegate* unmanaged<ulong, ulong>)&CompoundHead;
        f[5] = (nint)(delegate* unmanaged<ulong, int>)&PageHead;
        f[6] = (nint)(delegate* unmanaged<ulong, int>)&PageTail;
        f[7] = (nint)(delegate* unmanaged<ulong, ulong>)&CompoundNr;
        f[8] = (nint)(delegate* unmanaged<ulong, uint>)&CompoundOrder;
        f[9] = (nint)(delegate* unmanaged<ulong, ulong, ulong>)&FolioPage;
        f[10] = (nint)(delegate* unmanaged<ulong, int>)&PfnValid;
        f[11] = (nint)(delegate* unmanaged<byte*, int, int, void>)&Warn;
        return (nint)t;
    }

    /// <summary>The helpers of this thread now act on <paramref name="m"/> and count into <paramref name="counters"/>.</summary>
    internal static void Enter(Machine m, GupCounters counters)
    {
        t_machine = m;
        t_counters = counters;
        t_fault = null;
    }

    /// <summary>The failure a helper kept since <see cref="Enter"/>, if any; the helpers are detached.</summary>
    internal static Exception? Leave()
    {
        var f = t_fault;
        t_fault = null;
        t_machine = null;
        t_counters = null;
        return f;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Keep(Exception e) => t_fault ??= e;

    /// <summary>pfn_to_page(): the memory model's lookup (classic SPARSEMEM: the mem_section table; it oopses on a missing root).</summary>
    [UnmanagedCallersOnly]
    private static ulong PfnToPage(ulong pfn)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            t_counters!.PfnToPage();
            return m.MemMap.PfnToPage(Pfn.FromUInt64(pfn)).Address;
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>page_to_pfn(): the memory model's (classic SPARSEMEM reads page->flags for the section number).</summary>
    [UnmanagedCallersOnly]
    private static ulong PageToPfn(ulong page)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            t_counters!.PageToPfn();
            return m.MemMap.PageToPfn(PagePtr.FromAddress(page)).Value;
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>
    /// nth_page(): the version's (v5.11–v5.13 the pfn round trip; v5.14–v6.17 the round trip on classic SPARSEMEM and
    /// <c>page + n</c> elsewhere); on v6.18, which removed it, the pfn round trip it was — as the built-in nth_page
    /// recorder replays it there.
    /// </summary>
    [UnmanagedCallersOnly]
    private static ulong NthPage(ulong page, ulong n)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            if (m.MemMap.NthPageRoundTrips) SubpageRecorders.CountRoundTrip(t_counters!);
            return m.MemMap.NthPageOrPfnRoundTrip(PagePtr.FromAddress(page), n).Address;
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>mem_map_offset() (mm/internal.h until v6.1): <c>nth_page(base, offset)</c> from MAX_ORDER_NR_PAGES on, else <c>base + offset</c>; replayed as v5.11 defined it on later versions.</summary>
    [UnmanagedCallersOnly]
    private static ulong MemMapOffset(ulong basePage, int offset)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            // A negative int offset is what the kernel's (unsigned long) comparison would see as huge: the nth_page() branch.
            ulong off = unchecked((ulong)(long)offset);
            if (off >= m.MemMap.MaxOrderNrPages) SubpageRecorders.CountRoundTrip(t_counters!);
            return m.MemMap.MemMapOffsetHistoric(PagePtr.FromAddress(basePage), off).Address;
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>compound_head(): reads page->compound_head (bit 0: a tail pointing at its head).</summary>
    [UnmanagedCallersOnly]
    private static ulong CompoundHead(ulong page)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            t_counters!.Touch();
            return m.StructPages.CompoundHead(PagePtr.FromAddress(page)).Address;
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>PageHead(): PG_head in page->flags.</summary>
    [UnmanagedCallersOnly]
    private static int PageHead(ulong page)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            t_counters!.Touch();
            return m.StructPages.PageHead(PagePtr.FromAddress(page)) ? 1 : 0;
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>PageTail(): bit 0 of page->compound_head.</summary>
    [UnmanagedCallersOnly]
    private static int PageTail(ulong page)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            t_counters!.Touch();
            return m.StructPages.PageTail(PagePtr.FromAddress(page)) ? 1 : 0;
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>compound_nr(): 1 unless PageHead, else page[1]'s compound_nr.</summary>
    [UnmanagedCallersOnly]
    private static ulong CompoundNr(ulong page)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            t_counters!.Touch();
            return m.StructPages.CompoundNr(PagePtr.FromAddress(page));
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>compound_order(): 0 unless PageHead, else page[1]'s order (page_size() is PAGE_SIZE &lt;&lt; it).</summary>
    [UnmanagedCallersOnly]
    private static uint CompoundOrder(ulong page)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            t_counters!.Touch();
            return (uint)m.StructPages.CompoundOrder(PagePtr.FromAddress(page));
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>folio_page(): <c>nth_page(&amp;folio->page, n)</c> until v6.18, <c>&amp;folio->page + n</c> from v6.18.</summary>
    [UnmanagedCallersOnly]
    private static ulong FolioPage(ulong folio, ulong n)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            if (!m.Version.HasMaxFolioOrderInvariant && m.MemMap.NthPageRoundTrips) SubpageRecorders.CountRoundTrip(t_counters!);
            return m.MemMap.FolioPage(PagePtr.FromAddress(folio), n).Address;
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>pfn_valid(): the memory model's.</summary>
    [UnmanagedCallersOnly]
    private static int PfnValid(ulong pfn)
    {
        if (t_fault is not null || t_machine is not { } m) return 0;
        try
        {
            return m.MemMap.PfnValid(Pfn.FromUInt64(pfn)) ? 1 : 0;
        }
        catch (Exception e) { Keep(e); return 0; }
    }

    /// <summary>
    /// WARN_ON()/WARN_ON_ONCE() that fired in the C file: __warn()'s "WARNING: CPU: 0 PID: 1 at FILE:LINE" in the
    /// machine's kernel log (the symbol+offset the kernel adds is not known for a pasted file); WARN_ON_ONCE only the
    /// first time that site fires on this machine.
    /// </summary>
    [UnmanagedCallersOnly]
    private static void Warn(byte* file, int line, int once)
    {
        if (t_fault is not null || t_machine is not { } m) return;
        try
        {
            string at = (Marshal.PtrToStringUTF8((nint)file) ?? "?") + ":" + line.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (once != 0) m.WarnOnce(at, "WARNING: CPU: 0 PID: 1 at " + at);
            else m.Log("WARNING: CPU: 0 PID: 1 at " + at);
        }
        catch (Exception e) { Keep(e); }
    }
}

using System.Diagnostics;
using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Selftests;

/// <summary>What GupSim saw around one gup_test ioctl, beyond what the kernel module reports.</summary>
/// <param name="NrPages">Entries taken (the module's <c>i</c> after the loop).</param>
/// <param name="Calls">GUP calls made.</param>
/// <param name="Oracle">The check of every pages[] entry against the page table, or null when verification is off.</param>
/// <param name="FirstWrongCall">The 0-based call that recorded the first wrong entry, or −1.</param>
/// <param name="Imbalances">Heads and pools whose counts did not come back after the put loop (empty when balanced or not checked).</param>
/// <param name="Counters">The deterministic counters of the get loop and the put loop.</param>
/// <param name="GetCounters">The counters of the get loop alone.</param>
/// <param name="PutOops">The oops the put loop ran into (releasing a wrong entry), or null; the caller reports and rethrows it.</param>
/// <param name="GetMicroseconds">The get loop's time, unrounded.</param>
/// <param name="PutMicroseconds">The put loop's time, unrounded.</param>
public sealed record GupTestIoctlReport(
    long NrPages,
    long Calls,
    PagesOracleResult? Oracle,
    long FirstWrongCall,
    IReadOnlyList<string> Imbalances,
    GupCounterValues Counters,
    GupCounterValues GetCounters,
    KernelOops? PutOops,
    double GetMicroseconds,
    double PutMicroseconds)
{
    /// <summary>Whether GupSim's verification found nothing wrong (always true when it was off).</summary>
    public bool Verified => (Oracle?.AllCorrect ?? true) && Imbalances.Count == 0;

    /// <summary>The ioctl's command.</summary>
    public GupTestCmd Cmd { get; init; }

    /// <summary>
    /// struct gup_test as the ioctl returned it to user space (addr, nr_pages_per_call, gup_flags, test_flags,
    /// get/put_delta_usec; size is the bytes the get loop walked).
    /// </summary>
    public GupTestArgs Args { get; init; }

    /// <summary>struct gup_test's size as the caller passed it (<see cref="Args"/> holds the size on return).</summary>
    public ulong SizeAsked { get; init; }

    /// <summary>Compound heads whose refcount and pincount were compared before and after (null when the balance was not checked).</summary>
    public int? HeadsChecked { get; init; }

    /// <summary>Hstates whose pool counts (total, free, resv, surplus) were compared before and after (null when not checked).</summary>
    public int? PoolsChecked { get; init; }
}

/// <summary>
/// The gup_test kernel module (mm/gup_test.c): <c>gup_test_ioctl()</c> → <c>__gup_test_ioctl()</c> with its get loop
/// in chunks of nr_pages_per_call, <c>verify_dma_pinned()</c>, <c>dump_pages_test()</c> and
/// <c>put_back_pages()</c>, as the machine's kernel version has them (mm/gup_test.c __gup_test_ioctl()). Times are the simulator's
/// own wall-clock microseconds of the two loops, as ktime_us_delta() would measure the kernel's. Outside the timed
/// loops, GupSim's oracle checks every pages[] entry and, after the release, every count.
/// </summary>
public sealed class GupTestModule
{
    private readonly Machine _m;

    /// <summary>A module on <paramref name="machine"/> running <paramref name="strategy"/> (null: the version's own code).</summary>
    /// <param name="machine">The machine.</param>
    /// <param name="strategy">The GUP code to run.</param>
    /// <param name="verify">Whether GupSim's oracle and balance checks run (the module's own verify_dma_pinned() always does).</param>
    public GupTestModule(Machine machine, GupStrategy? strategy = null, bool verify = true)
    {
        ArgumentNullException.ThrowIfNull(machine);
        _m = machine;
        Gup = new GetUserPages(machine, strategy);
        Verify = verify;
        ModuleCode.Prepare(); // module load: with a fully optimising JIT, the GUP path is machine code before the first ioctl
    }

    /// <summary>The GUP entry points the module calls.</summary>
    public GetUserPages Gup { get; }

    /// <summary>Whether GupSim's own verification runs.</summary>
    public bool Verify { get; }

    /// <summary>
    /// Up to v5.12 struct gup_test had one flags word and the loop kept only FOLL_WRITE of it
    /// (<c>gup->flags &amp;= FOLL_WRITE</c>), which is also GUP_TEST_FLAG_DUMP_PAGES_USE_PIN; v5.13 split gup_flags and
    /// test_flags.
    /// </summary>
    public static bool HasSplitFlags(KernelVersion v) => v >= KernelVersion.FromNumbers(5, 13);

    /// <summary>
    /// gup_test_ioctl(): 0, or a negative errno (−EINVAL for an unknown command or a size beyond ULONG_MAX, −ENOMEM
    /// when pages[] cannot be allocated). A GUP call that fails ends the loop without an error, as in the kernel.
    /// <paramref name="checkBalance"/> compares every count in the range before and after (off when other threads
    /// pin the same range at the same time).
    /// </summary>
    public int Ioctl(MmStruct mm, GupTestCmd cmd, ref GupTestArgs gup, out GupTestIoctlReport? report, bool checkBalance = true)
    {
        ArgumentNullException.ThrowIfNull(mm);
        report = null;
        if (cmd is < GupTestCmd.GupFastBenchmark or > GupTestCmd.DumpUserPagesTest) return -(int)Errno.EINVAL;
        bool is64 = _m.Arch.BitsPerLong == 64;
        ulong wordMask = is64 ? ulong.MaxValue : uint.MaxValue;
        if (gup.Size > wordMask) return -(int)Errno.EINVAL;
        ulong pageSize = _m.Arch.PageSize;
        int pageShift = _m.Arch.PageShift;
        ulong nrPages = gup.Size >> pageShift;
        // kvcalloc(nr_pages, sizeof(void *)): fails when the machine could not hold the array.
        ulong arrayBytes = nrPages * (ulong)_m.Arch.WordBytes;
        if (nrPages > int.MaxValue || arrayBytes >> pageShift > _m.FreePagesTotal) return -(int)Errno.ENOMEM;
        var pages = PagesArray((int)nrPages);
        ulong sizeAsked = gup.Size;

        bool splitFlags = HasSplitFlags(_m.Version);
        var balance = Verify && checkBalance ? PinBalance.Take(mm, gup.Addr, gup.Size) : null;
        var counters0 = _m.Grab.Counters.Snapshot();

        long i = 0, calls = 0;
        long perCall = is64 ? gup.NrPagesPerCall : unchecked((int)gup.NrPagesPerCall);
        long nr = perCall;
        ulong end = (gup.Addr + gup.Size) & wordMask;
        ulong addr, next;
        long start = Stopwatch.GetTimestamp();
        for (addr = gup.Addr; addr < end; addr = next)
        {
            if (nr != perCall) break;
            next = (addr + unchecked((ulong)nr * pageSize)) & wordMask;
            if (next > end)
            {
                next = end;
                nr = (long)((next - addr) >> pageShift);
            }
            if (!splitFlags) gup.GupFlags &= FollFlagsAbi.ToKernelWord(FollFlags.Write, _m.Version); // v5.11/v5.12: gup->flags &= FOLL_WRITE
            // The word is what user space wrote; the kernel reads it with its own FOLL_* numbers (renumbered in v6.3).
            var flags = FollFlagsAbi.FromKernelWord(gup.GupFlags, _m.Version);
            var slice = nr > 0 ? pages.Slice((int)i, (int)nr) : Span<PagePtr>.Empty;
            nr = cmd switch
            {
                GupTestCmd.GupFastBenchmark => Gup.GetUserPagesFast(mm, addr, nr, flags, slice),
                GupTestCmd.GupBasicTest => Gup.GetUserPagesRemote(mm, addr, nr, flags, slice),
                GupTestCmd.PinFastBenchmark => Gup.PinUserPagesFast(mm, addr, nr, flags, slice),
                GupTestCmd.PinBasicTest => Gup.PinUserPagesRemote(mm, addr, nr, flags, slice),
                GupTestCmd.PinLongtermBenchmark => Gup.PinUserPagesRemote(mm, addr, nr, flags | FollFlags.Longterm, slice),
                _ => DumpUsesPin(gup, splitFlags)
                    ? Gup.PinUserPagesRemote(mm, addr, nr, flags, slice)
                    : Gup.GetUserPagesRemote(mm, addr, nr, flags, slice),
            };
            calls++;
            if (nr <= 0) break;
            i += nr;
        }
        long stop = Stopwatch.GetTimestamp();
        gup.GetDeltaUsec = Microseconds(start, stop);
        double getUs = (stop - start) * 1e6 / Stopwatch.Frequency;
        gup.Size = addr - gup.Addr;
        var getCounters = _m.Grab.Counters.Snapshot() - counters0;

        var taken = pages[..(int)i];
        PagesOracleResult? oracle = Verify ? PagesOracle.Check(mm, gup.Addr, taken) : null;
        VerifyDmaPinned(cmd, taken);
        if (cmd == GupTestCmd.DumpUserPagesTest) DumpPagesTest(ref gup, taken);

        KernelOops? putOops = null;
        start = Stopwatch.GetTimestamp();
        try
        {
            PutBackPages(cmd, taken, DumpUsesPin(gup, splitFlags));
        }
        catch (KernelOops e)
        {
            putOops = e; // the process dies in the ioctl; GupSim still reports what it verified before
        }
        stop = Stopwatch.GetTimestamp();
        gup.PutDeltaUsec = Microseconds(start, stop);
        double putUs = (stop - start) * 1e6 / Stopwatch.Frequency;

        long firstWrongCall = oracle is { FirstWrongIndex: >= 0 } o && perCall > 0 ? o.FirstWrongIndex / perCall : -1;
        IReadOnlyList<string> imbalances = putOops is null ? balance?.Differences() ?? [] : [];
        report = new GupTestIoctlReport(i, calls, oracle, firstWrongCall, imbalances, _m.Grab.Counters.Snapshot() - counters0, getCounters, putOops, getUs, putUs)
        {
            Cmd = cmd,
            Args = gup,
            SizeAsked = sizeAsked,
            HeadsChecked = balance is not null && putOops is null ? balance.Heads.Count : null,
            PoolsChecked = balance is not null && putOops is null ? _m.Hugetlb.Hstates.Count : null,
        };
        return 0;
    }

    [ThreadStatic] private static PagePtr[]? t_pages;

    /// <summary>
    /// kvcalloc(): a zeroed pages[] of <paramref name="n"/> entries. GupSim keeps one array per thread and clears it,
    /// so the memory is touched before the timed loop as calloc's zeroing touches it in the kernel (a fresh managed
    /// array would take its first-touch page faults inside the loop instead).
    /// </summary>
    private static Span<PagePtr> PagesArray(int n)
    {
        var a = t_pages;
        if (a is null || a.Length < n) t_pages = a = new PagePtr[n];
        var span = a.AsSpan(0, n);
        span.Clear();
        return span;
    }

    private static bool DumpUsesPin(in GupTestArgs gup, bool splitFlags) =>
        ((splitFlags ? gup.TestFlags : gup.GupFlags) & GupTestUapi.FlagDumpPagesUsePin) != 0;

    private static ulong Microseconds(long start, long stop) => (ulong)((stop - start) * 1_000_000 / Stopwatch.Frequency);

    /// <summary>
    /// verify_dma_pinned(): for the pinning commands, the first entry that is not page_maybe_dma_pinned() — or, for
    /// PIN_LONGTERM from v5.13, not is_pinnable_page() — gets a WARN and a dump_page() in the kernel log, and the
    /// check stops there.
    /// </summary>
    private void VerifyDmaPinned(GupTestCmd cmd, ReadOnlySpan<PagePtr> pages)
    {
        if (cmd is not (GupTestCmd.PinFastBenchmark or GupTestCmd.PinBasicTest or GupTestCmd.PinLongtermBenchmark)) return;
        var grab = _m.Grab;
        bool checkPinnable = cmd == GupTestCmd.PinLongtermBenchmark && HasSplitFlags(_m.Version);
        for (int i = 0; i < pages.Length; i++)
        {
            string? why = !grab.PageMaybeDmaPinned(pages[i]) ? "is NOT dma-pinned"
                : checkPinnable && !grab.IsPinnablePage(pages[i]) ? "is NOT pinnable but pinned"
                : null;
            if (why is null) continue;
            _m.Log(string.Create(CultureInfo.InvariantCulture, $"WARNING: mm/gup_test.c: verify_dma_pinned: pages[{i}] {why}"));
            foreach (var line in _m.StructPages.DumpPage(pages[i], "gup_test failure")) _m.Log(line);
            break;
        }
    }

    /// <summary>dump_pages_test(): drop out-of-range which_pages[] entries (pr_warn), dump_page() the others.</summary>
    private void DumpPagesTest(ref GupTestArgs gup, ReadOnlySpan<PagePtr> pages)
    {
        for (int k = 0; k < GupTestUapi.MaxPagesToDump; k++)
        {
            if (gup.WhichPages[k] <= (ulong)pages.Length) continue;
            _m.Log(string.Create(CultureInfo.InvariantCulture, $"ZEROING due to out of range: .which_pages[{k}]: {gup.WhichPages[k]}"));
            gup.WhichPages[k] = 0;
        }
        for (int k = 0; k < GupTestUapi.MaxPagesToDump; k++)
        {
            uint index = gup.WhichPages[k];
            if (index == 0) continue;
            index--;
            _m.Log(string.Create(CultureInfo.InvariantCulture, $"---- page #{index}, starting from user virt addr: 0x{gup.Addr:x}"));
            foreach (var line in _m.StructPages.DumpPage(pages[(int)index], "gup_test: dump_pages() test")) _m.Log(line);
        }
    }

    /// <summary>put_back_pages(): put_page() each entry for the get commands, unpin_user_pages() for the pin ones.</summary>
    private void PutBackPages(GupTestCmd cmd, ReadOnlySpan<PagePtr> pages, bool dumpUsesPin)
    {
        if (GupTestUapi.Pins(cmd, dumpUsesPin)) _m.Grab.UnpinUserPages(pages);
        else _m.Grab.PutPages(pages);
    }
}

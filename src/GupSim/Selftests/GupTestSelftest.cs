using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Mm;

namespace GupSim.Selftests;

/// <summary>
/// What the gup_test selftest of one kernel version accepts and prints (tools/testing/selftests/vm/gup_test.c before
/// v6.3, selftests/mm/gup_test.c after). Each switch is one property with the commit (or the patch mail) behind it and how
/// its release was found; docs/gup-test.md ("gup_test per version") lists the copies each one was read from. Where the
/// release could not be confirmed the property says "inferred" and takes the first release GupSim models whose source
/// was seen with the behaviour.
/// </summary>
public sealed record GupTestDialect(KernelVersion Version)
{
    /// <summary>
    /// v5.13: <c>-W</c> (read), <c>-p</c> (GUP_TEST_FLAG_DUMP_PAGES_USE_PIN) and <c>-z</c>; write became the default and
    /// <c>gup_flags</c>/<c>test_flags</c> were split (Pavel Tatashin's "prohibit pinning pages in ZONE_MOVABLE" series:
    /// "selftests/vm: gup_test: fix test flag" and v8 14/14 "selftests/vm: gup_test: test faulting in kernel, and verify
    /// pinnable pages", 2021-01-25; commit ids not found, release inferred from the series, which the v5.12 source lacks).
    /// </summary>
    public bool HasV513Options => Version >= KernelVersion.FromNumbers(5, 13);

    /// <summary>
    /// <c>-z</c> does something: <c>touch = 1</c>, so the pages are faulted in by GUP with FOLL_TOUCH instead of from user
    /// space. From v5.13 (<see cref="HasV513Options"/>) until the case was deleted: the current source
    /// (torvalds/linux 218fbfad1634) keeps 'z' in the getopt string with no case, so <c>-z</c> reaches
    /// <c>default:</c> → "Wrong argument". The v6.17-rc4 source and the 2025-09-10 <c>-n -1</c> patch's base still have the
    /// case; the commit that removed it was not found, so the switch is inferred: v7.1, the newest release GupSim models,
    /// which runs the current source.
    /// </summary>
    public bool HandlesTouchOption => HasV513Options && Version < KernelVersion.V7_1;

    /// <summary>The selftest's own <c>#define FOLL_WRITE 0x01</c> ("Just the flags we need, copied from mm.h"): bit 0 in every numbering.</summary>
    public const uint SelftestFollWrite = 0x01;

    /// <summary>
    /// The selftest's own <c>#define FOLL_TOUCH 0x02</c>, which <c>-z</c> ORs into gup_flags: mm.h's value until v6.2.
    /// From v6.3 the kernel reads bit 1 as FOLL_GET (<see cref="Gup.FollFlagsAbi"/>), so <c>-z</c> with a pin command
    /// asks for FOLL_GET | FOLL_PIN, which is_valid_gup_args() refuses with a WARN and −EINVAL.
    /// </summary>
    public const uint SelftestFollTouch = 0x02;

    /// <summary>
    /// <c>-j N</c> threads: Peter Xu, "mm/gup_benchmark: Support threading" (v2 posted 2021-05-07 with the has_pinned
    /// series; commit id not found; inferred: v5.14, the first merge window after it).
    /// </summary>
    public bool HasThreads => Version >= KernelVersion.V5_14;

    /// <summary>
    /// <c>-n</c> below zero means the whole range in one call (<c>nr_pages = size / psize()</c> with the size set so far):
    /// David Hildenbrand, "selftests/mm: gup_tests: option to GUP all pages in a single call" (posted 2025-09-10 against
    /// the v6.17 source; mainline a5883fa94295, which a bisect of v6.17..v6.18-rc1 on LKML, 2025-10-15, passes through
    /// inside the mm-stable-2025-10-01 merge 8804d970fab4: v6.18). Before, -1 became a u32 and the module's clamp to
    /// the end of the range did the same on 64-bit.
    /// </summary>
    public bool NegativeNrIsWholeRange => Version.HasMaxFolioOrderInvariant;

    /// <summary>
    /// Output through kselftest.h: Muhammad Usama Anjum, "selftests/mm: gup_test: conform test to TAP format output",
    /// cb6e7cae1886 (v2 posted 2024-01-02, before the v6.8 merge window; the 6.6 and 6.7 stable queues of 2024-04-01
    /// carry it as a backport, and no 6.8 one was found: v6.8). <c>TAP version 13</c> and <c>1..nthreads</c> after the options, <c>"# "</c> before each
    /// <c>ksft_print_msg()</c>, <c>ok N ioctl status 0</c>, the totals, and a bad option is <c>Bail out! Wrong argument</c>
    /// (exit 1) instead of <c>return -1</c> (exit 255). GupSim's 6.6 and 6.7 are the releases; 6.6.24+ and 6.7.12+ stable
    /// print TAP too.
    /// </summary>
    public bool KselftestOutput => Version >= KernelVersion.FromNumbers(6, 8);

    /// <summary>The getopt option string: v5.11's, v5.13's (<c>WHpz</c>), v5.14's (<c>j:</c>); 'z' stays in it after its case went.</summary>
    public string Optstring => !HasV513Options ? "m:r:n:F:f:abctTLUuwSH"
        : HasThreads ? "m:r:n:F:f:abcj:tTLUuwWSHpz"
        : "m:r:n:F:f:abctTLUuwWSHpz";
}

/// <summary>
/// The gup_test selftest program (tools/testing/selftests/mm/gup_test.c; selftests/vm before v6.3) run as a process
/// on the simulated machine: parse the flags with getopt, open the file, mmap it, madvise, fault every page in from
/// "user space" (unless -z), then the ioctl per repeat in each thread, printing the selftest's own lines. GupSim adds
/// lines starting with "gupsim:" only when its verification finds something (or when asked for counters).
/// </summary>
public sealed class GupTestSelftest
{
    /// <summary>KSFT_PASS.</summary>
    public const int KsftPass = 0;
    /// <summary>KSFT_FAIL.</summary>
    public const int KsftFail = 1;
    /// <summary>KSFT_SKIP.</summary>
    public const int KsftSkip = 4;

    private const ulong MB = 1UL << 20;
    private readonly Machine _m;
    private readonly GupTestModule _module;
    private readonly Lock _printLock = new();
    private readonly List<GupTestIoctlReport> _reports = [];
    private readonly List<GupTestRun> _runs = [];
    private readonly List<string> _verifyLines = [];
    private int? _runBalanceHeads, _runBalancePools;
    private readonly List<Fs.OpenFile> _openFiles = [];

    /// <summary>The selftest on <paramref name="machine"/>, talking to <paramref name="module"/>.</summary>
    public GupTestSelftest(Machine machine, GupTestModule module)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(module);
        _m = machine;
        _module = module;
        Dialect = new GupTestDialect(machine.Version);
    }

    /// <summary>The version's selftest behaviour.</summary>
    public GupTestDialect Dialect { get; }

    /// <summary>The selftest's default mapping size, 128 MiB (<c>size = 128 * MB</c>).</summary>
    public const ulong DefaultSize = 128UL << 20;

    /// <summary>The size used when no -m is given: <see cref="DefaultSize"/> unless a caller shrinks it (GupSim's knob for fast tests).</summary>
    public ulong DefaultSizeBytes { get; init; } = DefaultSize;

    /// <summary>Print the deterministic counters after each ioctl ("gupsim: counters: …").</summary>
    public bool PrintCounters { get; init; }

    /// <summary>GupSim's report of every ioctl of the last run, in completion order.</summary>
    public IReadOnlyList<GupTestIoctlReport> Reports => _reports;

    /// <summary>Every ioctl of the last run, in completion order, with its thread, repeat and status (a failed one has no report).</summary>
    public IReadOnlyList<GupTestRun> Runs => _runs;

    /// <summary>Whether the last run's verification found a wrong entry or a count that did not come back.</summary>
    public bool VerificationFailed { get; private set; }

    /// <summary>What GupSim's checks covered in the last run and what they found, with the closing line that says so.</summary>
    public SelftestVerification Verification
    {
        get
        {
            if (!_module.Verify) return new SelftestVerification { Enabled = false, Line = SelftestVerification.OffLine };
            long entries = 0, wrong = 0, heads = 0, pools = 0;
            int wrongIoctls = 0, diffs = 0, n = _reports.Count;
            int? firstIoctl = null;
            long? firstIndex = null;
            bool oops = false;
            var headCounts = new List<int>();
            var poolCounts = new List<int>();
            for (int k = 0; k < n; k++)
            {
                var r = _reports[k];
                if (r.Oracle is { } or)
                {
                    entries += or.Checked;
                    wrong += or.Wrong;
                    if (!or.AllCorrect)
                    {
                        wrongIoctls++;
                        firstIoctl ??= k + 1;
                        firstIndex ??= or.FirstWrongIndex;
                    }
                }
                if (r.HeadsChecked is int h)
                {
                    heads += h;
                    headCounts.Add(h);
                }
                if (r.PoolsChecked is int pc)
                {
                    pools += pc;
                    poolCounts.Add(pc);
                }
                diffs += r.Imbalances.Count;
                oops |= r.PutOops is not null;
            }
            bool perIoctlBalance = headCounts.Count > 0;
            if (_runBalanceHeads is int rh)
            {
                heads += rh;
                headCounts.Add(rh);
                pools += _runBalancePools ?? 0;
                poolCounts.Add(_runBalancePools ?? 0);
            }
            diffs += _verifyLines.Count;
            string line;
            if (n == 0)
            {
                line = "not verified: no ioctl completed";
            }
            else if (wrong == 0 && diffs == 0 && !oops)
            {
                string balance = headCounts.Count == 0 ? ""
                    : $", and {(perIoctlBalance ? "after each put" : "after all threads")} the refcount and pincount of {SelftestVerification.Range(headCounts)} compound head{(headCounts.Max() == 1 ? "" : "s")} and the pool counts of {SelftestVerification.Range(poolCounts)} hstate{(poolCounts.Max() == 1 ? "" : "s")} are back where they were";
                line = string.Create(CultureInfo.InvariantCulture,
                    $"verified {SelftestVerification.Count(n, "ioctl", "ioctls")}: each of {entries} pages[] entries is the struct page of the pfn the page table maps at its address (by GupSim's own pfn→struct page map){balance}");
            }
            else
            {
                var parts = new List<string>();
                if (wrong > 0)
                    parts.Add(string.Create(CultureInfo.InvariantCulture,
                        $"{wrongIoctls} of {SelftestVerification.Count(n, "ioctl", "ioctls")} returned wrong pages[] entries ({wrong} of {entries}; first pages[{firstIndex}] of ioctl {firstIoctl})"));
                if (diffs > 0) parts.Add(SelftestVerification.Count(diffs, "count", "counts") + " not back after the put");
                if (oops) parts.Add("the put loop oopsed");
                line = "verification FAILED: " + string.Join("; ", parts);
            }
            var failures = new List<string>();
            foreach (var r in _reports)
            {
                if (r.Oracle is { AllCorrect: false } or) failures.Add(string.Create(CultureInfo.InvariantCulture, $"{or.Wrong} of {or.Checked} pages[] entries wrong; first {or.FirstWrongText} (call {r.FirstWrongCall})"));
                foreach (var l in r.Imbalances) failures.Add("after put: " + l);
            }
            foreach (var l in _verifyLines) failures.Add("after all threads: " + l);
            return new SelftestVerification
            {
                Enabled = true,
                Ioctls = n,
                EntriesChecked = entries,
                WrongEntries = wrong,
                WrongIoctls = wrongIoctls,
                FirstWrongIoctl = firstIoctl,
                FirstWrongIndex = firstIndex,
                HeadsChecked = heads,
                PoolsChecked = pools,
                CountDifferences = diffs,
                Failures = oops ? [.. failures, "the put loop oopsed"] : failures,
                Line = line,
            };
        }
    }

    /// <summary>The selftest's parsed command line.</summary>
    private sealed class Options
    {
        public GupTestCmd Cmd = GupTestCmd.GupFastBenchmark;
        public int Repeats = 1, NrPages = 1, Thp = -1, Nthreads = 1;
        public bool Write, Touch;
        public ulong Size = 128 * MB;
        public MapFlags Flags = MapFlags.Private;
        public string File = "/dev/zero";
        public GupTestArgs Gup;
    }

    /// <summary>Runs <c>gup_test ARGS</c>; returns the process exit status.</summary>
    /// <param name="args">The selftest's arguments, exactly as on the kernel's command line.</param>
    /// <param name="stdout">The selftest's standard output.</param>
    /// <param name="stderr">Its standard error.</param>
    /// <exception cref="GupSimException">Thrown when the file is not on a filesystem GupSim models.</exception>
    public int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        _reports.Clear();
        _runs.Clear();
        _verifyLines.Clear();
        _runBalanceHeads = _runBalancePools = null;
        VerificationFailed = false;
        var o = new Options { Write = Dialect.HasV513Options, Size = DefaultSizeBytes };
        if (!ParseOptions(args, o, stdout, stderr, out int exit)) return exit;
        var ksft = Dialect.KselftestOutput ? new KselftestTap(stdout) : null;
        ksft?.PrintHeader();
        ksft?.SetPlan(o.Nthreads);

        using var process = Setup(o, ksft, stdout, stderr, out exit);
        if (process is null) return exit;
        return RunThreads(process, o, ksft, stdout, stderr);
    }

    /// <summary>
    /// The selftest up to its first ioctl — parse, open, mmap, madvise, touch — without printing anything but errors:
    /// the process a benchmark drives with <see cref="GupTestModule.Ioctl"/> itself. Null when the selftest would have
    /// exited already (<paramref name="exitCode"/> says how).
    /// </summary>
    public GupTestProcess? Prepare(IReadOnlyList<string> args, TextWriter stderr, out int exitCode)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        var o = new Options { Write = Dialect.HasV513Options, Size = DefaultSizeBytes };
        if (!ParseOptions(args, o, TextWriter.Null, stderr, out exitCode)) return null;
        return Setup(o, null, TextWriter.Null, stderr, out exitCode);
    }

    private GupTestProcess? Setup(Options o, KselftestTap? ksft, TextWriter stdout, TextWriter stderr, out int exit)
    {
        o.Gup.NrPagesPerCall = unchecked((uint)o.NrPages);
        if (o.Write) o.Gup.GupFlags |= GupTestDialect.SelftestFollWrite;
        var mm = MmStruct.Create(_m) ?? throw new GupSimException("gup_test: the machine has no memory left for a page table");
        try
        {
            exit = MapAndTouch(mm, o, ksft, stdout, stderr);
            if (exit == 0)
            {
                var files = _openFiles.ToArray();
                _openFiles.Clear();
                return new GupTestProcess(mm, o.Cmd, o.Gup, o.Size, o.Repeats, o.Nthreads, files);
            }
        }
        catch
        {
            EndProcess(mm);
            throw;
        }
        EndProcess(mm);
        return null;
    }

    private void EndProcess(MmStruct mm)
    {
        mm.Destroy(); // exit_mmap(): the process ends, its mappings go, and its files are closed
        foreach (var f in _openFiles) f.Close();
        _openFiles.Clear();
    }

    private int MapAndTouch(MmStruct mm, Options o, KselftestTap? ksft, TextWriter stdout, TextWriter stderr)
    {
        // open(file, O_RDWR|O_CREAT): /dev/zero (MAP_PRIVATE: anonymous memory; MAP_SHARED: a shmem object), a hugetlbfs
        // file, or a file on another simulated mount. With -H the mapping is anonymous and the fd is not used.
        bool anonymous = (o.Flags & MapFlags.Anonymous) != 0;
        int rc = _m.Vfs.TryOpen(o.File, create: true, out var open);
        if (rc < 0)
        {
            // v6.8+: ksft_exit_fail_msg("Unable to open %s: %s\n", file, strerror(errno)); before: perror("open"); exit(filed),
            // and filed is -1, so the exit status is 255.
            if (Dialect.KselftestOutput) return Fail(ksft, stderr, $"Unable to open {o.File}: {ErrnoText.Strerror(rc)}");
            stderr.WriteLine("open: " + ErrnoText.Strerror(rc));
            return 255;
        }
        _openFiles.Add(open!);
        Fs.Inode? file = anonymous ? null : open!.Inode;

        long p = mm.Mmap(0, o.Size, Prot.Read | Prot.Write, o.Flags, file, 0);
        if (p < 0) return Fail(ksft, stderr, "mmap: " + ErrnoText.Strerror((int)p));
        ulong addr = (ulong)p;
        o.Gup.Addr = addr;
        if (o.Thp == 1) mm.Madvise(addr, o.Size, Madvise.HugePage);
        else if (o.Thp == 0) mm.Madvise(addr, o.Size, Madvise.NoHugePage);

        if (o.Touch)
        {
            o.Gup.GupFlags |= GupTestDialect.SelftestFollTouch;
        }
        else
        {
            // for (; p < gup.addr + size; p += PAGE_SIZE) p[0] = 0;
            ulong pageSize = _m.Arch.PageSize;
            for (ulong va = addr; va < addr + o.Size;)
            {
                var fault = mm.UserAccess(va, write: true, out ulong leafBytes);
                if ((fault & VmFault.Error) != 0)
                {
                    bool bus = (fault & (VmFault.SigBus | VmFault.Oom)) != 0;
                    stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"gup_test: killed by {(bus ? "SIGBUS" : "SIGSEGV")} writing 0x{va:x} ({FaultNames(fault)})"));
                    return 128 + (bus ? 7 : 11);
                }
                ulong next = (va & ~(leafBytes - 1)) + leafBytes;
                va = next > va ? next : va + pageSize;
            }
        }
        return 0;
    }

    private int RunThreads(GupTestProcess process, Options o, KselftestTap? ksft, TextWriter stdout, TextWriter stderr)
    {
        var mm = process.Mm;
        ulong addr = o.Gup.Addr;
        int status = 0;
        if (o.Nthreads == 1)
        {
            status = GupThread(mm, o, o.Gup, 0, ksft, stdout, stderr, checkBalance: true);
        }
        else if (o.Nthreads > 1)
        {
            // Each ioctl's own balance check would see the other threads' pins: check the whole run instead.
            var balance = _module.Verify ? PinBalance.Take(mm, addr, o.Size) : null;
            var threads = new Thread[o.Nthreads];
            var results = new int[o.Nthreads];
            Exception? failure = null;
            for (int t = 0; t < threads.Length; t++)
            {
                int index = t;
                var copy = o.Gup; // struct gup_test gup = *(struct gup_test *)data;
                threads[t] = new Thread(() =>
                {
                    try
                    {
                        results[index] = GupThread(mm, o, copy, index, ksft, stdout, stderr, checkBalance: false);
                    }
                    catch (Exception e) when (e is KernelOops or GupSimException)
                    {
                        Interlocked.CompareExchange(ref failure, e, null);
                    }
                });
                threads[t].Start();
            }
            foreach (var th in threads) th.Join();
            if (failure is not null) throw failure;
            foreach (int r in results) if (r != 0) status = r;
            if (balance is not null && failure is null)
            {
                _runBalanceHeads = balance.Heads.Count;
                _runBalancePools = _m.Hugetlb.Hstates.Count;
            }
            foreach (var line in balance?.Differences() ?? [])
            {
                VerificationFailed = true;
                _verifyLines.Add(line);
                stdout.WriteLine("gupsim: verify: after all threads: " + line);
            }
        }
        if (status != 0) return status;
        if (VerificationFailed)
        {
            stdout.WriteLine("gupsim: verification failed (see the lines above); the kernel's selftest would not have noticed");
            return KsftFail;
        }
        return ksft?.ExitPass() ?? KsftPass;
    }

    /// <summary>gup_thread(): the ioctl per repeat for the benchmarks, once for the tests; the selftest's lines.</summary>
    private int GupThread(MmStruct mm, Options o, GupTestArgs gup, int thread, KselftestTap? ksft, TextWriter stdout, TextWriter stderr, bool checkBalance)
    {
        bool bench = GupTestUapi.IsBenchmark(o.Cmd);
        string name = GupTestUapi.Name(o.Cmd);
        int rounds = bench ? o.Repeats : 1;
        int status = 0;
        for (int r = 0; r < rounds; r++)
        {
            gup.Size = o.Size;
            status = _module.Ioctl(mm, o.Cmd, ref gup, out var report, checkBalance);
            lock (_printLock) _runs.Add(new GupTestRun(thread, r + 1, o.Cmd, status, report));
            if (report?.PutOops is { } oops)
            {
                lock (_printLock) Record(report, stdout);
                throw oops;
            }
            if (status != 0)
            {
                if (ksft is not null)
                {
                    status = -1; // ioctl() returns -1 and sets errno
                    break;
                }
                lock (_printLock) stderr.WriteLine("ioctl: " + ErrnoText.Strerror(status));
                return KsftFail; // perror("ioctl"), exit(1)
            }
            lock (_printLock)
            {
                if (bench)
                {
                    string line = string.Create(CultureInfo.InvariantCulture, $"{name}: Time: get:{gup.GetDeltaUsec} put:{gup.PutDeltaUsec} us");
                    string truncated = gup.Size != o.Size ? string.Create(CultureInfo.InvariantCulture, $", truncated (size: {(long)gup.Size})") : "";
                    // kselftest's ksft_print_msg() puts "# " before each of the three printf calls of the line.
                    stdout.WriteLine(ksft is null ? line + truncated : "# " + line + (truncated.Length > 0 ? "# " + truncated : "") + "# ");
                }
                else
                {
                    stdout.WriteLine((ksft is null ? "" : "# ") + name + ": done");
                    if (gup.Size != o.Size)
                        stdout.WriteLine((ksft is null ? "" : "# ") + string.Create(CultureInfo.InvariantCulture, $"Truncated (size: {(long)gup.Size})"));
                }
                if (report is not null) Record(report, stdout);
            }
        }
        ksft?.Result(status == 0, string.Create(CultureInfo.InvariantCulture, $"ioctl status {status}\n"));
        return 0;
    }

    private void Record(GupTestIoctlReport report, TextWriter stdout)
    {
        _reports.Add(report);
        if (PrintCounters)
        {
            var c = report.GetCounters;
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"gupsim: counters (get): calls {report.Calls}, pages {report.NrPages}, atomics {c.Atomics}, struct pages touched {c.StructPagesTouched}, pfn_to_page {c.PfnToPageCalls}, page_to_pfn {c.PageToPfnCalls}, section lookups {c.SectionLookups}, entries read {c.PageTableEntriesRead}, pages[] writes {c.PagesWrites}"));
        }
        if (report.Verified) return;
        VerificationFailed = true;
        if (report.Oracle is { AllCorrect: false } or)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"gupsim: verify: {or.Wrong} of {or.Checked} pages[] entries wrong; first {or.FirstWrongText} (call {report.FirstWrongCall})"));
        foreach (var line in report.Imbalances) stdout.WriteLine("gupsim: verify: after put: " + line);
    }

    /// <summary>The VM_FAULT_* error bits of a fault result as include/linux/mm_types.h names them ("VM_FAULT_SIGBUS").</summary>
    private static string FaultNames(VmFault fault)
    {
        var names = new List<string>(2);
        if ((fault & VmFault.Oom) != 0) names.Add("VM_FAULT_OOM");
        if ((fault & VmFault.SigBus) != 0) names.Add("VM_FAULT_SIGBUS");
        if ((fault & VmFault.HwPoison) != 0) names.Add("VM_FAULT_HWPOISON");
        if ((fault & VmFault.SigSegv) != 0) names.Add("VM_FAULT_SIGSEGV");
        return string.Join('|', names);
    }

    private static int Fail(KselftestTap? ksft, TextWriter stderr, string message)
    {
        if (ksft is not null) return ksft.ExitFailMessage(message + "\n");
        stderr.WriteLine(message);
        return KsftFail;
    }

    /// <summary>main()'s getopt loop and the page indices after it.</summary>
    private bool ParseOptions(IReadOnlyList<string> args, Options o, TextWriter stdout, TextWriter stderr, out int exit)
    {
        exit = 0;
        var parsed = Getopt.Parse("gup_test", args, Dialect.Optstring, out var operands);
        foreach (var opt in parsed)
        {
            string arg = opt.Argument ?? "";
            switch (opt.Option)
            {
                case 'a': o.Cmd = GupTestCmd.PinFastBenchmark; break;
                case 'b': o.Cmd = GupTestCmd.PinBasicTest; break;
                case 'L': o.Cmd = GupTestCmd.PinLongtermBenchmark; break;
                case 'c':
                    o.Cmd = GupTestCmd.DumpUserPagesTest;
                    o.Gup.WhichPages[0] = 1; // dump page 0 unless page indices follow
                    break;
                case 'p': o.Gup.TestFlags |= GupTestUapi.FlagDumpPagesUsePin; break;
                case 'F': o.Gup.GupFlags = unchecked((uint)CLib.Strtol(arg, 0)); break;
                case 'j': o.Nthreads = CLib.Atoi(arg); break;
                case 'm': o.Size = unchecked((ulong)(long)CLib.Atoi(arg) * MB); break;
                case 'r': o.Repeats = CLib.Atoi(arg); break;
                case 'n':
                    o.NrPages = CLib.Atoi(arg);
                    if (o.NrPages < 0 && Dialect.NegativeNrIsWholeRange) o.NrPages = unchecked((int)(o.Size >> _m.Arch.PageShift));
                    break;
                case 't': o.Thp = 1; break;
                case 'T': o.Thp = 0; break;
                case 'U': o.Cmd = GupTestCmd.GupBasicTest; break;
                case 'u': o.Cmd = GupTestCmd.GupFastBenchmark; break;
                case 'w': o.Write = true; break;
                case 'W': o.Write = false; break;
                case 'f': o.File = arg; break;
                case 'S':
                    o.Flags &= ~MapFlags.Private;
                    o.Flags |= MapFlags.Shared;
                    break;
                case 'H': o.Flags |= MapFlags.Hugetlb | MapFlags.Anonymous; break;
                case 'z' when Dialect.HandlesTouchOption: o.Touch = true; break;
                default:
                    // glibc's getopt prints its line only for an option not in the string ('?'); v7.1's 'z' is in the
                    // string and has no case, so it comes here silently.
                    if (opt.Error is not null) stderr.WriteLine(opt.Error);
                    if (Dialect.KselftestOutput)
                    {
                        exit = new KselftestTap(stdout).ExitFailMessage("Wrong argument\n");
                    }
                    else
                    {
                        exit = 255; // return -1 from main()
                    }
                    return false;
            }
        }
        // Up to GUP_TEST_MAX_PAGES_TO_DUMP page indices, 0-based on the command line, stored 1-based.
        for (int k = 0; k < operands.Count && k < GupTestUapi.MaxPagesToDump; k++)
            o.Gup.WhichPages[k] = unchecked((uint)(CLib.Strtol(operands[k], 0) + 1));
        if (o.Nthreads < 0) o.Nthreads = 0;
        return true;
    }
}

/// <summary>One gup_test ioctl of a run: which thread (0-based) and repeat (1-based) made it, its status, and GupSim's report (null when it failed).</summary>
/// <param name="Thread">The selftest thread (0 without -j).</param>
/// <param name="Repeat">The repeat (-r), from 1.</param>
/// <param name="Cmd">The command.</param>
/// <param name="Status">0, or the negative errno the ioctl returned.</param>
/// <param name="Report">What GupSim saw, or null when the ioctl failed before its loops.</param>
public sealed record GupTestRun(int Thread, int Repeat, GupTestCmd Cmd, int Status, GupTestIoctlReport? Report);

/// <summary>
/// A gup_test process after its setup (mapped and touched), ready for ioctls: what <see cref="GupTestSelftest.Prepare"/>
/// gives a benchmark. Disposing it ends the process (exit_mmap()).
/// </summary>
public sealed class GupTestProcess : IDisposable
{
    private readonly Fs.OpenFile[] _files;

    internal GupTestProcess(MmStruct mm, GupTestCmd cmd, GupTestArgs args, ulong size, int repeats, int threads, Fs.OpenFile[] files)
    {
        _files = files;
        Mm = mm;
        Cmd = cmd;
        Args = args;
        Size = size;
        Repeats = repeats;
        Threads = threads;
    }

    /// <summary>The process's address space.</summary>
    public MmStruct Mm { get; }
    /// <summary>The ioctl the flags chose.</summary>
    public GupTestCmd Cmd { get; }
    /// <summary>struct gup_test as the selftest filled it (addr, nr_pages_per_call, flags, which_pages).</summary>
    public GupTestArgs Args { get; }
    /// <summary>The mapping's size (-m).</summary>
    public ulong Size { get; }
    /// <summary>-r.</summary>
    public int Repeats { get; }
    /// <summary>-j.</summary>
    public int Threads { get; }

    /// <summary>Ends the process: its mappings go and its files are closed.</summary>
    public void Dispose()
    {
        Mm.Destroy();
        foreach (var f in _files) f.Close();
    }
}

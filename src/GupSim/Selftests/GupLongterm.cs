using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Gup;
using GupSim.Mm;

namespace GupSim.Selftests;

/// <summary>How the gup_longterm selftest is run (docs/gup-longterm.md).</summary>
public sealed record GupLongtermOptions
{
    /// <summary>Where the selftest runs from: its "local tmpfile" is created here (<c>__FILE__"_tmpfile_XXXXXX"</c> relative to the working directory).</summary>
    public const string DefaultTestDirectory = "/usr/src/linux/tools/testing/selftests/mm";

    /// <summary>
    /// The filesystem mounted on /tmp before the run (where glibc's tmpfile() creates its O_TMPFILE file), or null to
    /// leave the machine's /tmp as it is (ext4 on "/" on a fresh machine, as on a Debian or Ubuntu install; Fedora and
    /// Arch mount tmpfs there).
    /// </summary>
    public FsType? TmpFs { get; init; }

    /// <summary>The filesystem of the test's directory (the "local tmpfile" backing); mounted there when the directory lies on another one. Default ext4.</summary>
    public FsType LocalFs { get; init; } = FsType.Ext4;

    /// <summary>The test's working directory (absolute).</summary>
    public string TestDirectory { get; init; } = DefaultTestDirectory;

    /// <summary>
    /// The kernel tree the selftest was built from (v6.5 or later), or null for the machine's version — or v6.5 on an
    /// older kernel, where the tree has no gup_longterm: GupSim then runs the v6.5 program against the older kernel,
    /// as a developer running a newer kselftest tree would, and says so on stderr.
    /// </summary>
    public KernelVersion? SelftestVersion { get; init; }

    /// <summary>Whether /sys/kernel/debug/gup_test can be opened (CONFIG_GUP_TEST=y, debugfs mounted, root). The kernel must also have it (v5.11+).</summary>
    public bool GupTestAvailable { get; init; } = true;

    /// <summary>False when KSFT_TAP_LEVEL is set in the environment (runner.sh nesting): no "TAP version 13" line.</summary>
    public bool PrintTapHeader { get; init; } = true;

    /// <summary>The GUP code the gup_test module runs (null: the version's own).</summary>
    public GupStrategy? Strategy { get; init; }

    /// <summary>GupSim's own checks: every pinned entry against the page table, the counts after each STOP, and the free pages and pools after the run.</summary>
    public bool Verify { get; init; } = true;
}

/// <summary>What the gup_longterm source of one kernel tree prints.</summary>
/// <param name="Version">The tree the selftest was built from.</param>
public sealed record GupLongtermDialect(KernelVersion Version)
{
    /// <summary>v6.5: David Hildenbrand's "selftests/mm: gup_longterm: new functional test for FOLL_LONGTERM" (May 2023), merged with the file-write rule.</summary>
    public static KernelVersion FirstVersion => KernelVersion.FromNumbers(6, 5);

    /// <summary>
    /// Mark Brown's "selftests/mm: Fix test result reporting in gup_longterm" (posted 27 May 2025, after the v6.16 merge
    /// window opened; v6.17 is GupSim's inference): each result line carries the "[RUN]" name instead of the message,
    /// which goes to a "# " line.
    /// </summary>
    public static KernelVersion UniqueNamesSince => KernelVersion.FromNumbers(6, 17);

    /// <summary>Whether result lines are named after the test (log_test_start()/log_test_result() in vm_util.h).</summary>
    public bool UniqueTestNames => Version >= UniqueNamesSince;

    /// <summary>
    /// LOCAL_CONFIG_HAVE_LIBURING: GupSim models a build without liburing (check_config.sh found no liburing headers),
    /// so the two io_uring test cases are not compiled in and the plan is 8 × (3 + hugetlb sizes).
    /// </summary>
    public bool HasLiburing => false;
}

/// <summary>One planned test of a gup_longterm run.</summary>
/// <param name="Name">"&lt;case&gt; ... with &lt;backing&gt;", the "[RUN]" line's text.</param>
/// <param name="Number">The TAP test number, or 0 when the selftest printed no result for it.</param>
/// <param name="Result">The result, or null when none was printed.</param>
/// <param name="Message">The result line's text after the number and directive (the message, or the name on v6.17+).</param>
public sealed record GupLongtermResult(string Name, int Number, KsftResult? Result, string Message)
{
    /// <summary>Why, in the selftest's words: the result message before v6.17, the "# " line before the result from v6.17 (null when it printed none).</summary>
    public string? Reason { get; init; }
}

/// <summary>
/// The gup_longterm selftest (tools/testing/selftests/mm/gup_longterm.c) run as a process on the simulated machine:
/// detect the hugetlb sizes (detect_hugetlb_page_sizes() in vm_util.c: the hugepages-*kB directories of
/// /sys/kernel/mm/hugepages in readdir order), print the TAP header and plan, open /sys/kernel/debug/gup_test, and run
/// each test case over memfd, tmpfile(), a local tmpfile and memfd hugetlb of every size: ftruncate, fallocate, mmap,
/// memset, mprotect(PROT_READ) for the R/O cases, then PIN_LONGTERM_TEST_START/STOP (<see cref="PinLongtermTest"/>).
/// <c>should_work = !shared || !rw || fs in {tmpfs, hugetlbfs}</c>; shared R/W on a filesystem other than tmpfs,
/// hugetlbfs, ext4, xfs and btrfs is skipped ("Unknown filesystem"); −EFAULT passes only when the pin should fail.
/// The output is the selftest's, character for character; GupSim adds "gupsim:" lines only when its own checks find
/// something.
/// </summary>
public sealed class GupLongterm
{
    /// <summary>The program's name (its binary in tools/testing/selftests/mm).</summary>
    public const string ProgramName = "gup_longterm";

    private enum TestType { Ro, RoFast, Rw, RwFast }

    private static readonly (string Desc, TestType Type, bool Shared)[] TestCases =
    [
        ("R/W longterm GUP pin in MAP_SHARED file mapping", TestType.Rw, true),
        ("R/W longterm GUP-fast pin in MAP_SHARED file mapping", TestType.RwFast, true),
        ("R/O longterm GUP pin in MAP_SHARED file mapping", TestType.Ro, true),
        ("R/O longterm GUP-fast pin in MAP_SHARED file mapping", TestType.RoFast, true),
        ("R/W longterm GUP pin in MAP_PRIVATE file mapping", TestType.Rw, false),
        ("R/W longterm GUP-fast pin in MAP_PRIVATE file mapping", TestType.RwFast, false),
        ("R/O longterm GUP pin in MAP_PRIVATE file mapping", TestType.Ro, false),
        ("R/O longterm GUP-fast pin in MAP_PRIVATE file mapping", TestType.RoFast, false),
    ];

    private readonly Machine _m;
    private readonly List<GupLongtermResult> _results = [];
    private readonly List<string> _verifyLines = [];
    private KselftestTap _tap = null!;
    private MmStruct _mm = null!;
    private PinLongtermTest? _gupFd;
    private string _testName = "";
    private int _mkstempCounter;
    // GupSim's checks of the last run: pins checked, entries compared and wrong, heads and pools compared.
    private int _pinsChecked, _wrongPins, _poolsChecked;
    private int? _firstWrongPin;
    private long _entriesChecked, _wrongEntries, _headsChecked;
    private long? _firstWrongIndex;
    private bool _freePagesChecked;

    /// <summary>The selftest on <paramref name="machine"/>.</summary>
    /// <exception cref="GupSimException">Thrown when the options ask for a selftest tree before v6.5, the local filesystem is hugetlbfs, or the test directory is not absolute.</exception>
    public GupLongterm(Machine machine, GupLongtermOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        _m = machine;
        Options = options ?? new GupLongtermOptions();
        var first = GupLongtermDialect.FirstVersion;
        var version = Options.SelftestVersion ?? (machine.Version >= first ? machine.Version : first);
        if (version < first)
            throw new GupSimException($"gup_longterm did not exist before v{first} (the v{version} tree has no tools/testing/selftests/mm/gup_longterm.c)");
        if (Options.LocalFs == FsType.Hugetlbfs || Options.TmpFs == FsType.Hugetlbfs)
            throw new GupSimException("gup-longterm: the test directory and /tmp take tmpfs, ext4, xfs, btrfs or other, not hugetlbfs");
        VfsPaths.Normalize(Options.TestDirectory);
        Dialect = new GupLongtermDialect(version);
    }

    /// <summary>The run's options.</summary>
    public GupLongtermOptions Options { get; }

    /// <summary>The selftest source's behaviour.</summary>
    public GupLongtermDialect Dialect { get; }

    /// <summary>Every test of the last run in order (printed or not).</summary>
    public IReadOnlyList<GupLongtermResult> Results => _results;

    /// <summary>Whether GupSim's own checks found a wrong pinned entry or a count that did not come back in the last run.</summary>
    public bool VerificationFailed => _verifyLines.Count > 0;

    /// <summary>The last run's TAP plan (ksft_set_plan()).</summary>
    public int Plan => _tap?.Plan ?? 0;

    /// <summary>ksft_cnt of the last run: passed, failed, skipped.</summary>
    public (int Passed, int Failed, int Skipped) Totals => _tap is null ? (0, 0, 0) : (_tap.Passed, _tap.Failed, _tap.Skipped);

    /// <summary>What GupSim's checks covered in the last run and what they found, with the closing line that says so.</summary>
    public SelftestVerification Verification
    {
        get
        {
            if (!Options.Verify) return new SelftestVerification { Enabled = false, Line = SelftestVerification.OffLine };
            int diffs = _verifyLines.Count - _wrongPins;
            string line;
            if (_pinsChecked == 0 && _verifyLines.Count == 0)
            {
                line = "not verified: no PIN_LONGTERM_TEST_START succeeded";
            }
            else if (_verifyLines.Count == 0)
            {
                line = string.Create(CultureInfo.InvariantCulture,
                    $"verified {SelftestVerification.Count(_pinsChecked, "PIN_LONGTERM_TEST_START/STOP pair", "PIN_LONGTERM_TEST_START/STOP pairs")}: each of {_entriesChecked} pinned entries is the struct page of the pfn the page table maps at its address (by GupSim's own pfn→struct page map); after each test the refcount and pincount of every compound head it mapped ({_headsChecked} in all) and the hugetlb pools are back where they were, and after exit the free pages and pools are back to their values before the run");
            }
            else
            {
                var parts = new List<string>();
                if (_wrongEntries > 0)
                    parts.Add(string.Create(CultureInfo.InvariantCulture,
                        $"{_wrongPins} of {SelftestVerification.Count(_pinsChecked, "pin", "pins")} returned wrong entries ({_wrongEntries} of {_entriesChecked}; first entry {_firstWrongIndex} of pin {_firstWrongPin})"));
                if (diffs > 0) parts.Add(SelftestVerification.Count(diffs, "count", "counts") + " not back after a test or after exit");
                line = "verification FAILED: " + string.Join("; ", parts);
            }
            return new SelftestVerification
            {
                Enabled = true,
                Ioctls = _pinsChecked,
                EntriesChecked = _entriesChecked,
                WrongEntries = _wrongEntries,
                WrongIoctls = _wrongPins,
                FirstWrongIoctl = _firstWrongPin,
                FirstWrongIndex = _firstWrongIndex,
                HeadsChecked = _headsChecked,
                PoolsChecked = _poolsChecked,
                FreePagesChecked = _freePagesChecked,
                CountDifferences = diffs,
                Failures = [.. _verifyLines],
                Line = line,
            };
        }
    }

    /// <summary>The test cases (8; liburing is not modelled).</summary>
    public static IReadOnlyList<string> TestCaseNames { get; } = [.. TestCases.Select(t => t.Desc)];

    /// <summary>
    /// detect_hugetlb_page_sizes(): the machine's hstate sizes in the order readdir() returns the hugepages-*kB
    /// directories of /sys/kernel/mm/hugepages. kernfs lists a directory in the order of its rbtree, by
    /// kernfs_name_hash() (fs/kernfs/dir.c): on x86_64 2048 kB comes before 1048576 kB; on arm64 4K pages
    /// 2048, 32768, 64, 1048576 kB — the orders public gup_longterm logs show. At most 10 sizes.
    /// </summary>
    public static IReadOnlyList<ulong> DetectHugetlbPageSizes(Machine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        return [.. machine.Hugetlb.Hstates
            .Select(h => (Bytes: h.Size.Bytes, Hash: KernfsNameHash(h.Name, machine.Arch.BitsPerLong)))
            .OrderBy(x => x.Hash)
            .Take(10)
            .Select(x => x.Bytes)];
    }

    /// <summary>
    /// kernfs_name_hash(name, ns = NULL) (fs/kernfs/dir.c): full_name_hash over the bytes with partial_name_hash()
    /// (<c>(prev + (c &lt;&lt; 4) + (c &gt;&gt; 4)) * 11</c> in an unsigned long), end_name_hash() (hash_long(h, 32)),
    /// then kept in [2, INT_MAX − 1] (0, 1 and INT_MAX are reserved for "." , ".." and the end).
    /// </summary>
    public static uint KernfsNameHash(string name, int bitsPerLong)
    {
        ArgumentNullException.ThrowIfNull(name);
        ulong mask = bitsPerLong == 64 ? ulong.MaxValue : uint.MaxValue;
        ulong hash = 0;
        foreach (char c in name)
        {
            ulong b = (byte)c;
            hash = unchecked((hash + (b << 4) + (b >> 4)) * 11) & mask;
        }
        uint h = bitsPerLong == 64
            ? (uint)(unchecked(hash * 0x61C8864680B583EBUL) >> 32) // hash_64(val, 32)
            : unchecked((uint)hash * 0x61C88647u);                 // hash_32(val, 32)
        h &= 0x7fffffffu;
        if (h < 2) h += 2;
        if (h >= int.MaxValue) h = int.MaxValue - 1;
        return h;
    }

    /// <summary>
    /// Runs the selftest; returns its exit status (ksft_finished(): 0 when every planned test passed or skipped, else 1;
    /// 128 + signal when the process was killed). The files it uses (/tmp, the test directory) are mounted first as
    /// <see cref="Options"/> asks. A note about the version goes to <paramref name="stderr"/> when the kernel predates
    /// the selftest.
    /// </summary>
    public int Run(TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        _results.Clear();
        _verifyLines.Clear();
        _pinsChecked = _wrongPins = _poolsChecked = 0;
        _entriesChecked = _wrongEntries = _headsChecked = 0;
        _firstWrongPin = null;
        _firstWrongIndex = null;
        _freePagesChecked = false;
        if (_m.Version < GupLongtermDialect.FirstVersion)
            stderr.WriteLine($"gupsim: {ProgramName} is not in the v{_m.Version} tree (it arrived in v{GupLongtermDialect.FirstVersion}); running the v{Dialect.Version} selftest against the v{_m.Version} kernel");
        PrepareFilesystems();

        // Slab caches keep their current slab and min_partial empty slabs after the objects go (mm/slub.c), as the
        // kernel's do: those pages count as given back; objects still allocated do not.
        ulong free0 = FreeOrSlabPages();
        long objects0 = SlabObjectsInUse();
        var pools0 = _m.Hugetlb.Hstates.Select(h => (h.Name, h.NrHugePages, h.FreeHugePages, h.ResvHugePages, h.SurplusHugePages)).ToArray();

        _tap = new KselftestTap(stdout);
        ulong pagesize = _m.Arch.PageSize;
        var sizes = DetectHugetlbPageSizes(_m);
        foreach (ulong s in sizes)
            _tap.PrintMsg(string.Create(CultureInfo.InvariantCulture, $"[INFO] detected hugetlb page size: {s / 1024} KiB\n"));

        _tap.PrintHeader(tapLevelSet: !Options.PrintTapHeader);
        _tap.SetPlan(TestCases.Length * (3 + sizes.Count));

        _mm = MmStruct.Create(_m) ?? throw new GupSimException($"{ProgramName}: the machine has no memory left for a page table");
        // gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR);
        _gupFd = Options.GupTestAvailable && _m.Version >= PinLongtermTest.GupTestSince ? new PinLongtermTest(_m, Options.Strategy) : null;
        var openFiles = new List<OpenFile>();
        int exit;
        try
        {
            foreach (var tc in TestCases)
            {
                RunWithMemfd(tc, pagesize, openFiles);
                RunWithTmpfile(tc, pagesize, openFiles);
                RunWithLocalTmpfile(tc, pagesize, openFiles);
                foreach (ulong s in sizes) RunWithMemfdHugetlb(tc, s, openFiles);
            }
            exit = _tap.Finished();
        }
        catch (ProcessKilled k)
        {
            stderr.WriteLine($"{ProgramName}: killed by {k.Signal} ({k.Why})");
            exit = 128 + k.Number;
        }
        finally
        {
            // exit(): the files close (gup_test_release() stops a running test), the mappings go.
            _gupFd?.Release();
            _mm.Destroy();
            foreach (var f in openFiles) if (!f.IsClosed) f.Close();
        }

        if (Options.Verify)
        {
            _freePagesChecked = true;
            _poolsChecked += pools0.Length;
            if (FreeOrSlabPages() != free0)
                _verifyLines.Add(string.Create(CultureInfo.InvariantCulture, $"after exit: free pages {free0} -> {FreeOrSlabPages()}"));
            if (SlabObjectsInUse() != objects0)
                _verifyLines.Add(string.Create(CultureInfo.InvariantCulture, $"after exit: slab objects in use {objects0} -> {SlabObjectsInUse()}"));
            var hs = _m.Hugetlb.Hstates;
            for (int i = 0; i < hs.Count && i < pools0.Length; i++)
            {
                var now = (hs[i].Name, hs[i].NrHugePages, hs[i].FreeHugePages, hs[i].ResvHugePages, hs[i].SurplusHugePages);
                if (now != pools0[i])
                    _verifyLines.Add(string.Create(CultureInfo.InvariantCulture,
                        $"after exit: {now.Name}: total/free/resv/surplus {pools0[i].NrHugePages}/{pools0[i].FreeHugePages}/{pools0[i].ResvHugePages}/{pools0[i].SurplusHugePages} -> {now.NrHugePages}/{now.FreeHugePages}/{now.ResvHugePages}/{now.SurplusHugePages}"));
            }
            foreach (string line in _verifyLines) stdout.WriteLine("gupsim: verify: " + line);
            if (_verifyLines.Count > 0)
            {
                stdout.WriteLine("gupsim: verification failed (see the lines above); the kernel's selftest would not have noticed");
                return (int)KsftResult.Fail;
            }
        }
        return exit;
    }

    private ulong FreeOrSlabPages() => _m.FreePagesTotal + _m.Slub.SlabPages;

    private long SlabObjectsInUse()
    {
        long n = 0;
        foreach (var c in _m.Slub.Caches) n += c.ObjectsInUse;
        return n;
    }

    private void PrepareFilesystems()
    {
        var vfs = _m.Vfs;
        if (Options.TmpFs is FsType tmp && vfs.FsTypeOf("/tmp/x") != tmp) vfs.Mount(tmp, "/tmp");
        string dir = VfsPaths.Normalize(Options.TestDirectory);
        if (vfs.FsTypeOf(VfsPaths.Join(dir, "x")) != Options.LocalFs) vfs.Mount(Options.LocalFs, dir);
    }

    /// <summary>ksft_print_msg("[RUN] ...") / log_test_start(): the test's name, printed.</summary>
    private void LogTestStart(string name)
    {
        _testName = name;
        _tap.PrintMsg("[RUN] " + name + "\n");
    }

    /// <summary>
    /// One result. Before v6.17 the line is <c>ksft_test_result_*(oldText)</c>; from v6.17 <paramref name="newMsg"/>
    /// (if any) goes to a "# " line and the result line carries the test's name (log_test_result()).
    /// </summary>
    private void Report(KsftResult result, string oldText, string? newMsg = null)
    {
        string text;
        if (Dialect.UniqueTestNames)
        {
            if (newMsg is not null) _tap.PrintMsg(newMsg);
            text = _testName + "\n";
        }
        else
        {
            text = oldText;
        }
        _tap.Result(result, text);
        string? reason = Dialect.UniqueTestNames ? newMsg : oldText;
        _results.Add(new GupLongtermResult(_testName, _tap.TestNumber, result, text.TrimEnd('\n')) { Reason = string.IsNullOrEmpty(reason) ? null : reason.TrimEnd('\n') });
    }

    /// <summary>A test that ends without a result line (v6.17+'s "Unknown filesystem" path returns before log_test_result()).</summary>
    private void NoReport(string msg)
    {
        _tap.PrintMsg(msg);
        _results.Add(new GupLongtermResult(_testName, 0, null, msg.TrimEnd('\n')) { Reason = msg.TrimEnd('\n') });
    }

    private void RunWithMemfd((string Desc, TestType Type, bool Shared) tc, ulong pagesize, List<OpenFile> files)
    {
        LogTestStart(tc.Desc + " ... with memfd");
        int rc = _m.Vfs.MemfdCreate("test", out var f);
        if (rc < 0)
        {
            string msg = $"memfd_create() failed ({ErrnoText.Strerror(rc)})\n";
            if (Dialect.UniqueTestNames) Report(KsftResult.Skip, "", msg);
            else Report(KsftResult.Fail, msg);
            return;
        }
        files.Add(f!);
        DoTest(f!, pagesize, tc.Type, tc.Shared);
        f!.Close();
    }

    private void RunWithTmpfile((string Desc, TestType Type, bool Shared) tc, ulong pagesize, List<OpenFile> files)
    {
        LogTestStart(tc.Desc + " ... with tmpfile");
        // glibc tmpfile(): open(P_tmpdir, O_TMPFILE | O_RDWR | O_EXCL), P_tmpdir = "/tmp".
        var f = _m.Vfs.OpenTmpfile("/tmp");
        files.Add(f);
        DoTest(f, pagesize, tc.Type, tc.Shared);
        f.Close(); // fclose()
    }

    private void RunWithLocalTmpfile((string Desc, TestType Type, bool Shared) tc, ulong pagesize, List<OpenFile> files)
    {
        LogTestStart(tc.Desc + " ... with local tmpfile");
        // mkstemp(__FILE__"_tmpfile_XXXXXX") in the working directory, then unlink(): only the open file holds it.
        string path = VfsPaths.Join(VfsPaths.Normalize(Options.TestDirectory),
            string.Create(CultureInfo.InvariantCulture, $"gup_longterm.c_tmpfile_{++_mkstempCounter:x6}"));
        var f = _m.Vfs.Open(path, create: true);
        files.Add(f);
        int rc = _m.Vfs.Unlink(path);
        if (rc < 0)
        {
            string msg = $"unlink() failed ({ErrnoText.Strerror(rc)})\n";
            if (Dialect.UniqueTestNames)
            {
                _tap.PrintMsg(msg);
                f.Close();
                Report(KsftResult.Fail, ""); // do_test(fd = -1): result = KSFT_FAIL
            }
            else
            {
                Report(KsftResult.Fail, msg);
                f.Close();
            }
            return;
        }
        DoTest(f, pagesize, tc.Type, tc.Shared);
        f.Close();
    }

    private void RunWithMemfdHugetlb((string Desc, TestType Type, bool Shared) tc, ulong hugetlbsize, List<OpenFile> files)
    {
        LogTestStart(string.Create(CultureInfo.InvariantCulture, $"{tc.Desc} ... with memfd hugetlb ({hugetlbsize / 1024} kB)"));
        // memfd_create("test", MFD_HUGETLB | __builtin_ctzll(size) << MFD_HUGE_SHIFT)
        int rc = _m.Vfs.MemfdCreate("test", out var f, hugetlb: true, hugePageSize: hugetlbsize);
        if (rc < 0)
        {
            string msg = $"memfd_create() failed ({ErrnoText.Strerror(rc)})\n";
            Report(KsftResult.Skip, msg, msg);
            return;
        }
        files.Add(f!);
        DoTest(f!, hugetlbsize, tc.Type, tc.Shared);
        f!.Close();
    }

    /// <summary>fs_is_unknown(): anything but tmpfs, hugetlbfs, btrfs, ext4 and xfs (by statfs f_type).</summary>
    private static bool FsIsUnknown(long fsType) =>
        fsType != FsType.Tmpfs.Magic() && fsType != FsType.Hugetlbfs.Magic() && fsType != FsType.Btrfs.Magic()
        && fsType != FsType.Ext4.Magic() && fsType != FsType.Xfs.Magic();

    /// <summary>fs_supports_writable_longterm_pinning(): tmpfs and hugetlbfs.</summary>
    private static bool FsSupportsWritableLongtermPinning(long fsType) =>
        fsType == FsType.Tmpfs.Magic() || fsType == FsType.Hugetlbfs.Magic();

    /// <summary>do_test() of gup_longterm.c.</summary>
    private void DoTest(OpenFile f, ulong size, TestType type, bool shared)
    {
        long fsType = f.FsMagic; // get_fs_type(): fstatfs() f_type
        ulong pagesize = _m.Arch.PageSize;

        int rc = f.Ftruncate(size);
        if (rc < 0)
        {
            string msg = $"ftruncate() failed ({ErrnoText.Strerror(rc)})\n";
            if (rc == -(int)Errno.ENOENT)
            {
                // skip_test_dodgy_fs(): a result line of its own in every version that has it.
                _tap.Skip("ftruncate() failed with ENOENT. Filesystem might be buggy (9pfs?)\n");
                _results.Add(new GupLongtermResult(_testName, _tap.TestNumber, KsftResult.Skip, "ftruncate() failed with ENOENT. Filesystem might be buggy (9pfs?)") { Reason = "ftruncate() failed with ENOENT. Filesystem might be buggy (9pfs?)" });
                return;
            }
            Report(KsftResult.Fail, msg, msg);
            return;
        }

        rc = f.Fallocate(0, size);
        if (rc < 0)
        {
            if (size == pagesize)
            {
                string msg = $"fallocate() failed ({ErrnoText.Strerror(rc)})\n";
                Report(KsftResult.Fail, msg, msg);
            }
            else
            {
                Report(KsftResult.Skip, "need more free huge pages\n", "need more free huge pages\n");
            }
            return;
        }

        long mem = _mm.Mmap(0, size, Prot.Read | Prot.Write, shared ? MapFlags.Shared : MapFlags.Private, f.Inode);
        if (mem < 0)
        {
            if (size == pagesize || shared)
            {
                string msg = $"mmap() failed ({ErrnoText.Strerror((int)mem)})\n";
                Report(KsftResult.Fail, msg, msg);
            }
            else
            {
                Report(KsftResult.Skip, "need more free huge pages\n", "need more free huge pages\n");
            }
            return;
        }
        ulong addr = (ulong)mem;

        // memset(mem, 0, size): fault in the page such that GUP-fast can pin it directly.
        Memset(addr, size);

        bool fast = type is TestType.RoFast or TestType.RwFast;
        bool rw = type is TestType.Rw or TestType.RwFast;
        if (!rw)
        {
            rc = _mm.Mprotect(addr, size, Prot.Read);
            if (rc < 0)
            {
                string msg = $"mprotect() failed ({ErrnoText.Strerror(rc)})\n";
                Report(KsftResult.Fail, msg, msg);
                _mm.Munmap(addr, size);
                return;
            }
        }

        if (_gupFd is null)
        {
            Report(KsftResult.Skip, "gup_test not available\n", "gup_test not available\n");
            _mm.Munmap(addr, size);
            return;
        }

        if (rw && shared && FsIsUnknown(fsType))
        {
            // Both versions return here without munmap(); the mapping lives until the process exits. v6.17+ prints no result.
            if (Dialect.UniqueTestNames) NoReport("Unknown filesystem\n");
            else Report(KsftResult.Skip, "Unknown filesystem\n");
            return;
        }
        // R/O pinning or pinning in a private mapping is always expected to work; long-term R/W pinning in a shared
        // mapping only on the special filesystems.
        bool shouldWork = !shared || !rw || FsSupportsWritableLongtermPinning(fsType);

        var args = new PinLongtermTestArgs
        {
            Addr = addr,
            Size = size,
            Flags = (fast ? PinLongtermTest.FlagUseFast : 0) | (rw ? PinLongtermTest.FlagUseWrite : 0),
        };
        var balance = Options.Verify ? PinBalance.Take(_mm, addr, size) : null;
        int migrated0 = _gupFd.Gup.Migrated.Count;
        int ret = _gupFd.Start(_mm, args);
        if (ret == 0 && Options.Verify)
        {
            var oracle = PagesOracle.Check(_mm, addr, _gupFd.PinnedPagesSnapshot());
            _pinsChecked++;
            _entriesChecked += oracle.Checked;
            _wrongEntries += oracle.Wrong;
            if (!oracle.AllCorrect)
            {
                _wrongPins++;
                _firstWrongPin ??= _pinsChecked;
                _firstWrongIndex ??= oracle.FirstWrongIndex;
                _verifyLines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{_testName}: {oracle.Wrong} of {oracle.Checked} pinned entries wrong; first {oracle.FirstWrongText}"));
            }
        }
        if (ret == -(int)Errno.EINVAL)
        {
            // The selftest's format string lacks the backslash: no newline, so the next line runs on.
            Report(KsftResult.Skip, "PIN_LONGTERM_TEST_START failed (EINVAL)n", "PIN_LONGTERM_TEST_START failed (EINVAL)n");
        }
        else if (ret == -(int)Errno.EFAULT)
        {
            Report(shouldWork ? KsftResult.Fail : KsftResult.Pass, "Should have failed\n");
        }
        else if (ret < 0)
        {
            string msg = $"PIN_LONGTERM_TEST_START failed ({ErrnoText.Strerror(ret)})\n";
            Report(KsftResult.Fail, msg, msg);
        }
        else
        {
            int stop = _gupFd.Stop();
            if (stop < 0) _tap.PrintMsg($"[INFO] PIN_LONGTERM_TEST_STOP failed ({ErrnoText.Strerror(stop)})\n");
            Report(shouldWork ? KsftResult.Pass : KsftResult.Fail, "Should have worked\n");
        }
        if (balance is not null)
        {
            var moved = _gupFd.Gup.Migrated;
            for (int i = migrated0; i < moved.Count; i++) balance.Moved(moved[i].OldPfn, moved[i].NewPfn, moved[i].NewRefcount, moved[i].NewPincount);
            _headsChecked += balance.Heads.Count;
            _poolsChecked += _m.Hugetlb.Hstates.Count;
            foreach (string line in balance.Differences()) _verifyLines.Add($"{_testName}: after PIN_LONGTERM_TEST_STOP: {line}");
        }
        _mm.Munmap(addr, size);
    }

    /// <summary>memset(mem, 0, size) from user space: a store to every page (a whole leaf at a time); a failed fault kills the process.</summary>
    private void Memset(ulong addr, ulong size)
    {
        ulong pageSize = _m.Arch.PageSize;
        for (ulong va = addr; va < addr + size;)
        {
            var fault = _mm.UserAccess(va, write: true, out ulong leafBytes);
            if ((fault & VmFault.Error) != 0)
            {
                bool bus = (fault & (VmFault.SigBus | VmFault.Oom)) != 0;
                throw new ProcessKilled(bus ? "SIGBUS" : "SIGSEGV", bus ? 7 : 11,
                    string.Create(CultureInfo.InvariantCulture, $"memset() writing 0x{va:x}: {fault}"));
            }
            ulong next = (va & ~(leafBytes - 1)) + leafBytes;
            va = next > va ? next : va + pageSize;
        }
    }

    /// <summary>The selftest process died of a signal.</summary>
    private sealed class ProcessKilled(string signal, int number, string why) : Exception(why)
    {
        public string Signal { get; } = signal;
        public int Number { get; } = number;
        public string Why { get; } = why;
    }
}

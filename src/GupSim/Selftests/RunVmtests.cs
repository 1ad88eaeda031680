using System.Diagnostics;
using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Hugetlb;

namespace GupSim.Selftests;

/// <summary>
/// What the gup part of tools/testing/selftests/mm/run_vmtests.sh (selftests/vm before v6.3) looks like in one kernel
/// version. Each switch is one property with the commit or patch mail behind it; releases that could not be confirmed
/// are marked "inferred". The table, with the copies each switch was read from, is in docs/run-vmtests.md and
/// docs/gup-test.md.
/// </summary>
public sealed record RunVmtestsDialect(KernelVersion Version)
{
    /// <summary>The selftest directory: "mm" from v6.3 (SeongJae Park's rename of selftests/vm to selftests/mm), "vm" before.</summary>
    public string SelftestDir => Version >= KernelVersion.FromNumbers(6, 3) ? "mm" : "vm";

    /// <summary>
    /// The script's <c>-t CATEGORIES</c> and <c>CATEGORY=</c> on each run_test: Joel Savitz, 98b3add737b4 "selftests/vm:
    /// enable running select groups of tests" (v6 posted 2022-10-18; its stray <c>echo "running: $1"</c> was removed in
    /// the same cycle by "selftests/vm: remove extraneous echo"; inferred: v6.2, the 6.1 script has neither).
    /// </summary>
    public bool HasCategories => Version >= KernelVersion.FromNumbers(6, 2);

    /// <summary>
    /// The closing <c>SUMMARY: PASS=N SKIP=N FAIL=N</c> line: Peter Xu, "selftests/mm: Dump a summary in
    /// run_vmtests.sh" (patch 3 of the userfaultfd selftest rework, v2 posted 2023-04-12; commit id not found; inferred:
    /// v6.4, the merge window after it). The v6.2 categories patch has no counters.
    /// </summary>
    public bool HasSummary => Version >= KernelVersion.FromNumbers(6, 4);

    /// <summary><c>./gup_longterm</c> after the dump test (David Hildenbrand's gup_longterm test, May 2023; inferred: v6.5).</summary>
    public bool HasGupLongterm => Version >= KernelVersion.FromNumbers(6, 5);

    /// <summary>
    /// <c>-a</c> and <c>run_gup_matrix()</c>: Peter Xu, the last patches of "mm/gup: Unify hugetlb, speed up thp" (v4
    /// 2023-06-28), the series whose 4849807114b8 ("mm/gup: retire follow_hugetlb_page()") merged in the v6.6 window.
    /// </summary>
    public bool HasMatrix => Version >= KernelVersion.V6_6;

    /// <summary>
    /// The script prints TAP itself (<c>tap_prefix</c> before every other line, <c>ok N name</c> per run, <c>TAP version
    /// 13</c> before the first run and <c>1..N</c> at the end, <c>-n</c> to opt out): Ryan Roberts' a3c5cc5129ef (posted
    /// 2023-12-14, before the v6.8 merge window; 6.6-stable took it as a backport in August 2024, so not v6.6: v6.8). Before, only the kselftest runner around the whole script printed TAP.
    /// </summary>
    public bool TapOutput => Version >= KernelVersion.FromNumbers(6, 8);

    /// <summary><c>-n -1</c> in the default list and in the matrix (David Hildenbrand, 2025-09-10, with gup_test's own
    /// <c>-n -1</c>: <see cref="GupTestDialect.NegativeNrIsWholeRange"/>; inferred: v6.18).</summary>
    public bool HasWholeRangeRuns => Version.HasMaxFolioOrderInvariant;

    /// <summary>
    /// Peter Xu's "Fix hugetlb mem size calculation" (March 2024; inferred: v6.10): needmem_KB = max(2 × nr_cpus huge
    /// pages, 256 MiB), and a shortage of huge pages is printed but no longer ends the script. Before:
    /// half_ufd_size_MB rounded up to 128 MB, needmem_KB twice that, and a shortage is <c>exit 1</c>.
    /// </summary>
    public bool HasSimpleNeedmem => Version >= KernelVersion.FromNumbers(6, 10);
}

/// <summary>One <c>run_test</c> line of run_vmtests.sh: its category, the program and its words after the shell split them.</summary>
public sealed record VmtestsEntry(string Category, string Program, IReadOnlyList<string> Args)
{
    /// <summary>"$*" of run_test: the words joined by single spaces.</summary>
    public string CommandLine => Args.Count == 0 ? Program : Program + " " + string.Join(' ', Args);

    /// <summary>run_test's <c>pretty_name</c>: the command line without a leading "./" (the name on the TAP line).</summary>
    public string PrettyName => CommandLine.StartsWith("./", StringComparison.Ordinal) ? CommandLine[2..] : CommandLine;
}

/// <summary>pass, fail or skip, as run_test reads the exit status (0, <c>$ksft_skip</c> = 4, anything else).</summary>
public enum VmtestsOutcome
{
    /// <summary>Exit status 0.</summary>
    Pass,
    /// <summary>Any other status.</summary>
    Fail,
    /// <summary>Exit status 4 (KSFT_SKIP).</summary>
    Skip,
}

/// <summary>One program run of the suite.</summary>
/// <param name="Number">1-based, in the script's order.</param>
/// <param name="Entry">What ran.</param>
/// <param name="ExitCode">The status the shell saw (137 when an oops killed the process).</param>
/// <param name="Outcome">What run_test made of it.</param>
/// <param name="Output">The program's stdout and stderr lines (2&gt;&amp;1), then GupSim's lines about the run.</param>
/// <param name="Oops">The oops that killed the process, or null.</param>
/// <param name="Milliseconds">Wall-clock time of the run in the simulator.</param>
public sealed record VmtestsRunResult(int Number, VmtestsEntry Entry, int ExitCode, VmtestsOutcome Outcome,
    IReadOnlyList<string> Output, string? Oops, double Milliseconds)
{
    /// <summary>What GupSim's own checks covered in this run, or null when the program reported none.</summary>
    public SelftestVerification? Verification { get; init; }
}

/// <summary>
/// The script's hugetlb setup before the tests: HugePages_Free and Hugepagesize from /proc/meminfo, needmem_KB from
/// nr_cpus, up to two writes of nr_hugepages (the default hstate) to make needmem_KB free, and hugetlb_mb for the matrix.
/// </summary>
/// <param name="NrCpus">nproc.</param>
/// <param name="HugepageSizeKb">Hugepagesize (kB) of the default hstate; 0 when the machine has no hugetlb.</param>
/// <param name="FreeBefore">HugePages_Free before.</param>
/// <param name="NeedmemKb">needmem_KB.</param>
/// <param name="NeedPages">needpgs.</param>
/// <param name="NrHugepagesBefore">/proc/sys/vm/nr_hugepages before.</param>
/// <param name="NrHugepagesAfter">nr_hugepages after the writes.</param>
/// <param name="FreeAfter">HugePages_Free after.</param>
/// <param name="HugetlbMb">run_gup_matrix's hugetlb_mb = needmem_KB / 1024.</param>
/// <param name="Messages">What the script printed (unprefixed) while doing it.</param>
/// <param name="ExitCode">Non-null when the script ends here (old scripts: not enough huge pages, or no hugetlb).</param>
public sealed record VmtestsHugetlbSetup(int NrCpus, ulong HugepageSizeKb, ulong FreeBefore, ulong NeedmemKb, ulong NeedPages,
    ulong NrHugepagesBefore, ulong NrHugepagesAfter, ulong FreeAfter, ulong HugetlbMb, IReadOnlyList<string> Messages, int? ExitCode);

/// <summary>A program of the suite: its exit status for a command line; stdout and stderr may be the same writer.</summary>
public delegate int VmtestsProgram(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr);

/// <summary>What the whole suite did.</summary>
/// <param name="Setup">The hugetlb setup.</param>
/// <param name="Runs">Every run, in order.</param>
/// <param name="ExitCode">The script's <c>exit $exitcode</c>: 0, or the status of the last failing (1) or skipped (4) run, whichever came last.</param>
public sealed record VmtestsResult(VmtestsHugetlbSetup Setup, IReadOnlyList<VmtestsRunResult> Runs, int ExitCode)
{
    /// <summary>Runs that passed.</summary>
    public int Passed => Runs.Count(r => r.Outcome == VmtestsOutcome.Pass);
    /// <summary>Runs that failed.</summary>
    public int Failed => Runs.Count(r => r.Outcome == VmtestsOutcome.Fail);
    /// <summary>Runs that were skipped.</summary>
    public int Skipped => Runs.Count(r => r.Outcome == VmtestsOutcome.Skip);

    /// <summary>True when GupSim's checks ran and every run they covered was verified (at least one).</summary>
    public bool Verified
    {
        get
        {
            int verified = 0;
            foreach (var r in Runs)
            {
                if (r.Verification is not { } v || v.Enabled && v.Ioctls == 0 && v.Failures.Count == 0) continue;
                if (!v.Verified) return false;
                verified++;
            }
            return verified > 0;
        }
    }

    /// <summary>
    /// The closing line (without "gupsim: ") over every run's checks: "verified N runs …", "verification FAILED in
    /// runs …", or "not verified (--verify off)".
    /// </summary>
    public string VerificationLine
    {
        get
        {
            var failed = new List<int>();
            int verified = 0, off = 0, none = 0, ioctls = 0;
            long entries = 0, heads = 0;
            foreach (var r in Runs)
            {
                if (r.Verification is not { } v) continue;
                if (!v.Enabled) off++;
                else if (v.Ioctls == 0 && v.Failures.Count == 0) none++;
                else if (!v.Verified) failed.Add(r.Number);
                else
                {
                    verified++;
                    ioctls += v.Ioctls;
                    entries += v.EntriesChecked;
                    heads += v.HeadsChecked;
                }
            }
            if (off > 0 && verified == 0 && failed.Count == 0) return SelftestVerification.OffLine;
            string nothing = none > 0 ? $"; {SelftestVerification.Count(none, "run", "runs")} completed no GUP call to check" : "";
            if (failed.Count > 0)
                return string.Create(CultureInfo.InvariantCulture,
                    $"verification FAILED in {(failed.Count == 1 ? "run" : "runs")} {string.Join(", ", failed)} (see their \"gupsim: verify:\" lines); {SelftestVerification.Count(verified, "other run", "other runs")} verified{nothing}");
            if (verified == 0) return "not verified: no run completed a GUP call to check";
            return string.Create(CultureInfo.InvariantCulture,
                $"verified {SelftestVerification.Count(verified, "run", "runs")} ({ioctls} GUP calls): each of {entries} pages[] entries is the struct page of the pfn the page table maps at its address (by GupSim's own pfn→struct page map), and after each release the refcount and pincount of the compound heads mapped ({heads} in all) and the hugetlb pools are back where they were{nothing}");
        }
    }
}

/// <summary>
/// The gup part of run_vmtests.sh (tools/testing/selftests/mm/run_vmtests.sh; selftests/vm before v6.3) on a simulated
/// machine: the hugetlb setup, the version's <c>run_test ./gup_test …</c> lines or, with <c>-a</c>,
/// <c>run_gup_matrix()</c>, each run a fresh simulated process on the same machine, in order, and the output as the
/// version prints it — the script's own TAP from v6.8, the kselftest runner's (kselftest/runner.sh) around the script
/// before. The other categories of the script (mmap, userfaultfd, …) are not simulated and print nothing.
/// </summary>
public sealed class RunVmtests
{
    /// <summary>The category of every gup line.</summary>
    public const string GupCategory = "gup_test";

    /// <summary>The gup_test program's name in the script.</summary>
    public const string GupTestProgram = "./gup_test";

    /// <summary>The gup_longterm program's name in the script (registered by whoever simulates it).</summary>
    public const string GupLongtermProgram = "./gup_longterm";

    /// <summary>KSFT_SKIP, <c>$ksft_skip</c> in the script.</summary>
    public const int KsftSkip = 4;

    /// <summary>The status bash sees for a process an oops killed: oops_end() → make_task_dead(SIGKILL), 128 + 9.</summary>
    public const int OopsExitCode = 128 + 9;

    private readonly Machine _m;
    private readonly Dictionary<string, VmtestsProgram> _programs = new(StringComparer.Ordinal);

    /// <summary>The suite on <paramref name="machine"/>; <c>./gup_test</c> runs <see cref="GupTestSelftest"/> against
    /// <paramref name="module"/>, a fresh process per run.</summary>
    public RunVmtests(Machine machine, GupTestModule module)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(module);
        _m = machine;
        Dialect = new RunVmtestsDialect(machine.Version);
        _programs[GupTestProgram] = (args, stdout, stderr) =>
        {
            var selftest = new GupTestSelftest(_m, module) { DefaultSizeBytes = GupTestDefaultSizeBytes };
            try
            {
                return selftest.Run(args, stdout, stderr);
            }
            finally
            {
                NoteVerification(selftest.Verification);
            }
        };
    }

    /// <summary>The version's script.</summary>
    public RunVmtestsDialect Dialect { get; }

    /// <summary>nproc as the script reads it (GupSim's machine has no CPUs; docs/run-vmtests.md: default 2).</summary>
    public int NrCpus { get; init; } = 2;

    /// <summary><c>-a</c>: run_gup_matrix() instead of the default gup_test lines (v6.6+).</summary>
    public bool RunAll { get; init; }

    /// <summary><c>-t "CATEGORIES"</c> (v6.2+), or null for the script's "default" (every category).</summary>
    public IReadOnlyList<string>? Categories { get; init; }

    /// <summary>Print the kernel log lines of each run after its output ("dmesg: …"), as gup-test does.</summary>
    public bool IncludeKernelLog { get; init; }

    /// <summary>
    /// gup_test's default mapping size (128 MiB in the selftest) for every run: a GupSim knob for fast tests, not a
    /// flag of the script; the command lines stay the script's.
    /// </summary>
    public ulong GupTestDefaultSizeBytes { get; init; } = GupTestSelftest.DefaultSize;

    /// <summary>
    /// Overrides run_gup_matrix's hugetlb_mb (GupSim's knob for fast tests; null: needmem_KB / 1024 as the script computes it).
    /// </summary>
    public ulong? HugetlbMbOverride { get; init; }

    /// <summary>
    /// The programs by the name the script runs them with. <c>./gup_test</c> is there; <c>./gup_longterm</c> joins the
    /// plan (v6.5+) once a program is registered under <see cref="GupLongtermProgram"/>.
    /// </summary>
    public IDictionary<string, VmtestsProgram> Programs => _programs;

    private SelftestVerification? _runVerification;

    /// <summary>A program's report of what GupSim's checks covered in the run now going (kept with its <see cref="VmtestsRunResult"/>).</summary>
    public void NoteVerification(SelftestVerification verification) => _runVerification = verification;

    /// <summary>Called before each run with its number, the plan's size and the entry (progress displays).</summary>
    public Action<int, int, VmtestsEntry>? RunStarting { get; init; }

    /// <summary>Called after each run.</summary>
    public Action<VmtestsRunResult>? RunFinished { get; init; }

    /// <summary>
    /// The script's hugetlb setup (both versions of it): read HugePages_Free and Hugepagesize from the simulated
    /// /proc/meminfo, compute needmem_KB from <see cref="NrCpus"/>, and write <c>lackpgs + nr_hugepgs</c> to
    /// /proc/sys/vm/nr_hugepages (the default hstate) up to twice until needmem_KB is free.
    /// </summary>
    public VmtestsHugetlbSetup SetupHugetlb()
    {
        ulong? freepgs = null, hpgsizeKb = null;
        if (_m.Hugetlb.Default is not null)
        {
            foreach (string line in _m.Hugetlb.MeminfoLines())
            {
                var w = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (w.Length < 2 || !ulong.TryParse(w[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)) continue;
                if (w[0] == "HugePages_Free:") freepgs = v;
                else if (w[0] == "Hugepagesize:") hpgsizeKb = v;
            }
        }
        ulong cpus = (ulong)NrCpus;
        ulong sizeKb = hpgsizeKb ?? 0;
        ulong needmemKb;
        if (Dialect.HasSimpleNeedmem)
        {
            ulong uffdMinKb = sizeKb * cpus * 2, hugetlbMinKb = 256 * 1024;
            needmemKb = uffdMinKb > hugetlbMinKb ? uffdMinKb : hugetlbMinKb;
        }
        else
        {
            ulong hpgsizeMb = sizeKb / 1024;
            ulong halfUfdSizeMb = (cpus * hpgsizeMb + 127) / 128 * 128;
            needmemKb = halfUfdSizeMb * 2 * 1024;
        }
        ulong hugetlbMb = HugetlbMbOverride ?? needmemKb / 1024;
        var messages = new List<string>();
        var h = _m.Hugetlb.Default;
        if (freepgs is null || hpgsizeKb is null || h is null)
        {
            messages.Add("no hugetlbfs support in kernel?");
            return new VmtestsHugetlbSetup(NrCpus, 0, 0, needmemKb, 0, 0, 0, 0, hugetlbMb, messages, Dialect.HasSimpleNeedmem ? null : 1);
        }
        ulong free = freepgs.Value, before = h.PersistentHugePages;
        ulong needpgs = sizeKb == 0 ? 0 : needmemKb / sizeKb;
        for (int tries = 2; tries > 0 && free < needpgs; tries--)
        {
            ulong lackpgs = needpgs - free;
            _m.Hugetlb.SetMaxHugePages(h, lackpgs + before); // echo $((lackpgs + nr_hugepgs)) > /proc/sys/vm/nr_hugepages
            free = h.FreeHugePages;
        }
        int? exit = null;
        if (free < needpgs)
        {
            messages.Add(string.Create(CultureInfo.InvariantCulture, $"Not enough huge pages available ({free} < {needpgs})"));
            if (!Dialect.HasSimpleNeedmem) exit = 1;
        }
        return new VmtestsHugetlbSetup(NrCpus, sizeKb, freepgs.Value, needmemKb, needpgs, before, h.PersistentHugePages, free, hugetlbMb, messages, exit);
    }

    /// <summary>
    /// The gup lines of the version's script, in order, that <c>-t</c> selects: the default gup_test lines or
    /// run_gup_matrix(), the dump test, and <c>./gup_longterm</c> (v6.5+) when a program is registered for it.
    /// </summary>
    public IReadOnlyList<VmtestsEntry> Plan(ulong hugetlbMb)
    {
        var plan = new List<VmtestsEntry>();
        if (!Selected(GupCategory)) return plan;
        void Add(params string[] args) => plan.Add(new VmtestsEntry(GupCategory, GupTestProgram, args));
        if (RunAll)
        {
            // run_gup_matrix(): -t thp on, -T thp off, -H hugetlb; $huge and $num are unquoted, so they split into words,
            // and the private case of $share (" ") vanishes.
            string mb = hugetlbMb.ToString(CultureInfo.InvariantCulture);
            string[][] huge = [["-t"], ["-T"], ["-H", "-m", mb]];
            string[] cmds = ["-u", "-U", "-a", "-b", "-L"];
            string[] writes = ["-w", "-W"];
            string[][] shares = [["-S"], []];
            string[] nums = Dialect.HasWholeRangeRuns ? ["1", "512", "123", "-1"] : ["1", "512", "123"];
            foreach (var hg in huge)
                foreach (string c in cmds)
                    foreach (string w in writes)
                        foreach (var s in shares)
                            foreach (string n in nums)
                                Add([.. hg, c, w, .. s, "-n", n]);
        }
        else if (Dialect.HasWholeRangeRuns)
        {
            Add("-u", "-n", "1");
            Add("-u", "-n", "-1");
            Add("-a", "-n", "1");
            Add("-a", "-n", "-1");
        }
        else
        {
            Add("-u"); // get_user_pages_fast() benchmark
            Add("-a"); // pin_user_pages_fast() benchmark
        }
        Add("-ct", "-F", "0x1", "0", "19", "0x1000"); // dump pages 0, 19 and 4096, using pin_user_pages
        if (Dialect.HasGupLongterm && _programs.ContainsKey(GupLongtermProgram))
            plan.Add(new VmtestsEntry(GupCategory, GupLongtermProgram, []));
        return plan;
    }

    /// <summary>test_selected(): every category when no -t was given, else the listed ones.</summary>
    public bool Selected(string category) => Categories is null || Categories.Contains(category, StringComparer.Ordinal);

    /// <summary>
    /// run_test for one entry: the program in a fresh simulated process, its stdout and stderr in one stream (the
    /// script's <c>2&gt;&amp;1</c>). An oops kills the process (status 137) and the suite goes on; the machine keeps
    /// whatever state the oops left.
    /// </summary>
    public VmtestsRunResult RunOne(int number, VmtestsEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!_programs.TryGetValue(entry.Program, out var program))
            throw new GupSimException($"run_vmtests: no simulated program '{entry.Program}'");
        var output = new StringWriter(CultureInfo.InvariantCulture);
        int logSeen = _m.KernelLog.Count;
        _runVerification = null;
        var sw = Stopwatch.StartNew();
        int status;
        string? oops = null;
        try
        {
            status = program(entry.Args, output, output);
        }
        catch (KernelOops e)
        {
            oops = e.Message;
            status = OopsExitCode;
        }
        sw.Stop();
        var lines = SplitLines(output.ToString());
        if (oops is not null) lines.Add("gupsim: the process was killed by a kernel oops (exit 137): " + oops);
        if (IncludeKernelLog)
            for (int i = logSeen; i < _m.KernelLog.Count; i++) lines.Add("dmesg: " + _m.KernelLog[i]);
        var outcome = status == 0 ? VmtestsOutcome.Pass : status == KsftSkip ? VmtestsOutcome.Skip : VmtestsOutcome.Fail;
        return new VmtestsRunResult(number, entry, status, outcome, lines, oops, sw.Elapsed.TotalMilliseconds) { Verification = _runVerification };
    }

    /// <summary>
    /// The whole suite — the hugetlb setup, every planned run in order, the restore of nr_hugepages (the script's
    /// cleanup) — written as the version prints it, each run as soon as it ends, then GupSim's own closing line
    /// <c># gupsim: N passed, N failed, N skipped</c>. The result's exit code is the script's <c>$exitcode</c>, which
    /// before v6.8 the kselftest runner turns into the <c>ok</c>/<c>not ok</c> of the whole script.
    /// </summary>
    public VmtestsResult Run(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var setup = SetupHugetlb();
        bool tap = Dialect.TapOutput;
        const string prefix = "# ";
        // Before v6.8 the TAP is the kselftest runner's (kselftest/runner.sh run_many/run_one) around the whole script:
        // its plan of one test, the script's lines behind "# ", and ok/not ok for the script's exit status.
        string header = $"selftests: {Dialect.SelftestDir}: run_vmtests.sh";
        if (!tap)
        {
            output.WriteLine("TAP version 13");
            output.WriteLine("1..1");
            output.WriteLine(prefix + header);
        }
        // The setup's messages come before the script's own "TAP version 13", unprefixed.
        foreach (string line in setup.Messages) output.WriteLine(tap ? line : prefix + line);
        var runs = new List<VmtestsRunResult>();
        int exitcode = setup.ExitCode ?? 0;
        if (setup.ExitCode is null)
        {
            if (tap) output.WriteLine("TAP version 13");
            var plan = Plan(setup.HugetlbMb);
            for (int i = 0; i < plan.Count; i++)
            {
                RunStarting?.Invoke(i + 1, plan.Count, plan[i]);
                var r = RunOne(i + 1, plan[i]);
                runs.Add(r);
                if (r.Outcome == VmtestsOutcome.Skip) exitcode = KsftSkip;
                else if (r.Outcome == VmtestsOutcome.Fail) exitcode = 1;
                WriteRun(output, r, tap);
                RunFinished?.Invoke(r);
            }
            if (_m.Hugetlb.Default is { } h && setup.HugepageSizeKb != 0)
                _m.Hugetlb.SetMaxHugePages(h, setup.NrHugepagesBefore); // echo "$nr_hugepgs" > /proc/sys/vm/nr_hugepages
        }
        var result = new VmtestsResult(setup, runs, exitcode);
        if (setup.ExitCode is null)
        {
            if (Dialect.HasSummary)
                output.WriteLine(prefix + string.Create(CultureInfo.InvariantCulture, $"SUMMARY: PASS={result.Passed} SKIP={result.Skipped} FAIL={result.Failed}"));
            if (tap) output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"1..{runs.Count}"));
        }
        if (!tap)
        {
            output.WriteLine(exitcode switch
            {
                0 => "ok 1 " + header,
                KsftSkip => "ok 1 " + header + " # SKIP",
                _ => string.Create(CultureInfo.InvariantCulture, $"not ok 1 {header} # exit={exitcode}"),
            });
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# gupsim: {result.Passed} passed, {result.Failed} failed, {result.Skipped} skipped"));
        return result;
    }

    /// <summary>run_test's lines for one run: the title between two rules of dashes, the output, [PASS]/[SKIP]/[FAIL],
    /// and from v6.8 the TAP line (<c>ok N name</c>, <c>ok N name # SKIP</c>, <c>not ok N name # exit=RET</c>).</summary>
    private static void WriteRun(TextWriter output, VmtestsRunResult r, bool tap)
    {
        const string prefix = "# ";
        string title = "running " + r.Entry.CommandLine;
        string rule = new('-', title.Length);
        output.WriteLine(prefix + rule);
        output.WriteLine(prefix + title);
        output.WriteLine(prefix + rule);
        foreach (string line in r.Output) output.WriteLine(prefix + line);
        output.WriteLine(prefix + r.Outcome switch
        {
            VmtestsOutcome.Pass => "[PASS]",
            VmtestsOutcome.Skip => "[SKIP]",
            _ => "[FAIL]",
        });
        if (!tap) return;
        output.WriteLine(r.Outcome switch
        {
            VmtestsOutcome.Pass => string.Create(CultureInfo.InvariantCulture, $"ok {r.Number} {r.Entry.PrettyName}"),
            VmtestsOutcome.Skip => string.Create(CultureInfo.InvariantCulture, $"ok {r.Number} {r.Entry.PrettyName} # SKIP"),
            _ => string.Create(CultureInfo.InvariantCulture, $"not ok {r.Number} {r.Entry.PrettyName} # exit={r.ExitCode}"),
        });
    }

    private static List<string> SplitLines(string text)
    {
        var lines = new List<string>(text.Replace("\r", "", StringComparison.Ordinal).Split('\n'));
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return lines;
    }
}

using System.Globalization;
using System.Text.RegularExpressions;
using GupSim.Config;
using GupSim.Selftests;

using GupSim.Tests.Cli;

namespace GupSim.Tests.Selftests;

/// <summary>
/// gup_test's and run_vmtests.sh's output on each side of each switch point of docs/gup-test.md ("gup_test per
/// version"). Every expected line is written out from that version's source: the printf/ksft_* calls of
/// tools/testing/selftests/{vm,mm}/gup_test.c, kselftest.h's formats, glibc getopt's message, and run_test's lines.
/// Only the microseconds of a benchmark line are wall-clock; they are replaced by N before comparing.
/// </summary>
public sealed partial class GupTestVersionOutputTests
{
    private const string Totals0 = "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n";
    private const string Totals1 = "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n";

    [GeneratedRegex(@"get:\d+ put:\d+ us")]
    private static partial Regex Micros();

    private static string Normalize(string s) => Micros().Replace(s, "get:N put:N us");

    private static CliResult GupTest(string kernel, params string[] args) => CliRun.Run(["gup-test", "--kernel", kernel, .. args]);

    // ---- a bad option: glibc's line on stderr, then `return -1` (255) before cb6e7cae1886, ksft_exit_fail_msg() (1) after ----

    [Theory]
    [InlineData("5.11")]
    [InlineData("6.1")]
    [InlineData("6.6")]
    [InlineData("6.7")]
    public void BadOption_BeforeV6_8_IsGetoptsLine_AndExit255(string kernel)
    {
        var r = GupTest(kernel, "-X");
        Assert.Equal(255, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Equal("gup_test: invalid option -- 'X'\n", r.Stderr);
    }

    [Theory]
    [InlineData("6.8")]
    [InlineData("6.18")]
    [InlineData("7.0")]
    [InlineData("7.1")]
    public void BadOption_FromV6_8_BailsOutBeforeTheHeader(string kernel)
    {
        // The default: case runs inside the getopt loop, before ksft_print_header() and ksft_set_plan(): no "TAP
        // version 13", plan 0 = 0 tests run, so no "Planned tests" line.
        var r = GupTest(kernel, "-X");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("Bail out! Wrong argument\n" + Totals0, r.Stdout);
        Assert.Equal("gup_test: invalid option -- 'X'\n", r.Stderr);
    }

    // ---- -z: unknown before v5.13, FOLL_TOUCH from v5.13, a silent "Wrong argument" once its case is gone (v7.1) ----

    [Theory]
    [InlineData("5.10")]
    [InlineData("5.11")]
    [InlineData("5.12")]
    public void TouchOption_BeforeV5_13_IsNotInTheOptionString(string kernel)
    {
        var r = GupTest(kernel, "-z", "-U", "-m", "2");
        Assert.Equal(255, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Equal("gup_test: invalid option -- 'z'\n", r.Stderr);
    }

    [Theory]
    [InlineData("5.13")]
    [InlineData("5.14")]
    [InlineData("6.1")]
    [InlineData("6.7")]
    public void TouchOption_FromV5_13_FaultsThePagesInThroughGup(string kernel)
    {
        // touch = 1: no user-space loop, gup_flags |= FOLL_TOUCH; get_user_pages() faults the 512 pages in itself.
        var r = GupTest(kernel, "-z", "-U", "-m", "2");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("GUP_BASIC_TEST: done\n", r.Stdout);
        Assert.StartsWith("gupsim: verified 1 ioctl: each of 512 pages[] entries is", r.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5.13", true)]
    [InlineData("6.2", true)]
    [InlineData("6.3", false)] // 2c2241081f7d: FOLL_GET is 1 << 1, the selftest's FOLL_TOUCH 0x02
    [InlineData("6.7", false)]
    public void TouchOption_WithAPin_IsFollGetFromV6_3_SoIsValidGupArgsRefusesIt(string kernel, bool pins)
    {
        // -z -b: gup_flags = FOLL_WRITE 0x01 | the selftest's FOLL_TOUCH 0x02 = 0x03, PIN_BASIC_TEST. Until v6.2 the
        // kernel reads 0x03 as FOLL_WRITE | FOLL_TOUCH: pin_user_pages() pins all 512 pages. From v6.3 it reads
        // FOLL_WRITE | FOLL_GET: with the pin's FOLL_PIN, is_valid_gup_args() WARNs (FOLL_GET and FOLL_PIN are mutually
        // exclusive) and the call returns -EINVAL before anything is taken; gup_test's loop stops at nr <= 0 and
        // reports size 0, which the selftest prints as "Truncated" and still counts as done.
        var r = GupTest(kernel, "-z", "-b", "-m", "2");
        Assert.Equal(0, r.ExitCode);
        if (pins)
        {
            Assert.Equal("PIN_BASIC_TEST: done\n", r.Stdout);
            Assert.StartsWith("gupsim: verified 1 ioctl: each of 512 pages[] entries is", r.Stderr, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal("PIN_BASIC_TEST: done\nTruncated (size: 0)\ndmesg: WARNING: CPU: 0 PID: 1 at mm/gup.c pin_user_pages_remote\n", r.Stdout);
            Assert.StartsWith("gupsim: verified 1 ioctl: each of 0 pages[] entries is", r.Stderr, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("6.8")]
    [InlineData("6.18")]
    [InlineData("6.19")]
    [InlineData("7.0")]
    public void TouchOption_V6_8ToV7_0_StillWorks_InsideTheTap(string kernel)
    {
        var r = GupTest(kernel, "-z", "-U", "-m", "2");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("TAP version 13\n1..1\n# GUP_BASIC_TEST: done\nok 1 ioctl status 0\n" + Totals1, r.Stdout);
    }

    [Fact]
    public void TouchOption_V7_1_ReachesDefault_WithoutGetoptsLine()
    {
        // 'z' is still in "m:r:n:F:f:abcj:tTLUuwWSHpz", so getopt returns it without a message; no case takes it.
        var r = GupTest("7.1", "-z", "-U", "-m", "2");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("Bail out! Wrong argument\n" + Totals0, r.Stdout);
        Assert.Equal("", r.Stderr);
    }

    // ---- -W and the default write: v5.13 ----

    [Theory]
    [InlineData("5.10", 0u)]
    [InlineData("5.11", 0u)]
    [InlineData("5.12", 0u)]
    [InlineData("5.13", 1u)] // write = 1: gup_flags |= FOLL_WRITE (0x01)
    [InlineData("6.1", 1u)]
    [InlineData("7.1", 1u)]
    public void DefaultGupFlags_AreFollWriteFromV5_13(string kernel, uint flags)
    {
        using var p = Prepare(kernel, "-U", "-m", "2");
        Assert.Equal(flags, p.Args.GupFlags);
    }

    [Theory]
    [InlineData("5.11")]
    [InlineData("5.12")]
    public void ReadOption_BeforeV5_13_IsUnknown(string kernel)
    {
        var r = GupTest(kernel, "-W", "-U", "-m", "2");
        Assert.Equal((255, "", "gup_test: invalid option -- 'W'\n"), (r.ExitCode, r.Stdout, r.Stderr));
    }

    [Theory]
    [InlineData("5.13")]
    [InlineData("5.14")]
    [InlineData("6.7")]
    public void ReadOption_FromV5_13_ClearsWrite(string kernel)
    {
        var r = GupTest(kernel, "-W", "-U", "-m", "2");
        Assert.Equal((0, "GUP_BASIC_TEST: done\n"), (r.ExitCode, r.Stdout));
        using var p = Prepare(kernel, "-W", "-U", "-m", "2");
        Assert.Equal(0u, p.Args.GupFlags);
    }

    // ---- -j: v5.14 ----

    [Theory]
    [InlineData("5.11")]
    [InlineData("5.12")]
    [InlineData("5.13")]
    public void Threads_BeforeV5_14_AreUnknown(string kernel)
    {
        var r = GupTest(kernel, "-j", "2", "-U", "-m", "2");
        Assert.Equal((255, "", "gup_test: invalid option -- 'j'\n"), (r.ExitCode, r.Stdout, r.Stderr));
    }

    [Theory]
    [InlineData("5.14")]
    [InlineData("6.1")]
    [InlineData("6.7")]
    public void Threads_FromV5_14_EachPrintTheirLine(string kernel)
    {
        var r = GupTest(kernel, "-j", "2", "-U", "-m", "2");
        Assert.Equal((0, "GUP_BASIC_TEST: done\nGUP_BASIC_TEST: done\n"), (r.ExitCode, r.Stdout));
    }

    [Theory]
    [InlineData("6.8")]
    [InlineData("6.18")]
    [InlineData("7.1")]
    public void Threads_FromV6_8_PlanOneTestPerThread(string kernel)
    {
        // ksft_set_plan(nthreads); each thread's ksft_test_result() runs outside print_mutex, so only the set of lines
        // between the plan and the totals is fixed, not their order.
        var r = GupTest(kernel, "-j", "2", "-U", "-m", "2");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Lines;
        Assert.Equal(["TAP version 13", "1..2"], lines[..2]);
        Assert.Equal("# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0", lines[^1]);
        string[] middle = [.. lines[2..^1]];
        Array.Sort(middle, StringComparer.Ordinal);
        Assert.Equal(["# GUP_BASIC_TEST: done", "# GUP_BASIC_TEST: done", "ok 1 ioctl status 0", "ok 2 ioctl status 0"], middle);
    }

    // ---- the benchmark line and TAP: cb6e7cae1886 (v6.8) ----

    [Theory]
    [InlineData("6.1")]
    [InlineData("6.6")]
    [InlineData("6.7")]
    public void HugetlbWholeRangeBenchmark_BeforeV6_8_IsOnePrintfLine(string kernel)
    {
        var r = GupTest(kernel, "--hugepages", "hugepagesz=2M hugepages=1", "--verify", "off", "-m", "2", "-H", "-n", "-1", "-w");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("GUP_FAST_BENCHMARK: Time: get:N put:N us\n", Normalize(r.Stdout));
        Assert.Equal("gupsim: not verified (--verify off)\n", r.Stderr);
    }

    [Theory]
    [InlineData("6.8")]
    [InlineData("6.18")]
    [InlineData("7.0")]
    [InlineData("7.1")]
    public void HugetlbWholeRangeBenchmark_FromV6_8_IsThreeKsftMessages_AndAResult(string kernel)
    {
        // ksft_print_msg("%s: Time: get:%lld put:%lld us", ...) then ksft_print_msg("\n"): "# " before each, so the
        // line ends in "# "; then ksft_test_result(!status, "ioctl status %d\n", 0) and ksft_exit_pass()'s totals.
        var r = GupTest(kernel, "--hugepages", "hugepagesz=2M hugepages=1", "--verify", "off", "-m", "2", "-H", "-n", "-1", "-w");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("TAP version 13\n1..1\n# GUP_FAST_BENCHMARK: Time: get:N put:N us# \nok 1 ioctl status 0\n" + Totals1, Normalize(r.Stdout));
        Assert.Equal("gupsim: not verified (--verify off)\n", r.Stderr);
    }

    [Theory]
    [InlineData("6.7", "mmap: Cannot allocate memory\n", "")]
    [InlineData("6.8", "", "TAP version 13\n1..1\nBail out! mmap: Cannot allocate memory\n# Planned tests != run tests (1 != 0)\n" + Totals0)]
    public void HugetlbWithAnEmptyPool_FailsTheMmap_AsEachVersionReportsIt(string kernel, string stderr, string stdout)
    {
        // The default machine's 2 MiB pool is empty: hugetlb_reserve_pages() fails, mmap() is ENOMEM. Before v6.8
        // perror("mmap"), exit(1); from v6.8 ksft_exit_fail_msg("mmap: %s\n") after the header and a plan of 1.
        var r = GupTest(kernel, "-m", "2", "-H", "-n", "-1", "-w");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(stdout, r.Stdout);
        Assert.Equal(stderr, r.Stderr);
    }

    // ---- -n -1: nr_pages = size / psize() from v6.18 ----

    [Theory]
    [InlineData("6.6")]
    [InlineData("6.7")]
    [InlineData("6.17")]
    public void WholeRange_BeforeV6_18_IsMinusOneAsAU32(string kernel)
    {
        using var p = Prepare(kernel, "-U", "-m", "2", "-n", "-1");
        Assert.Equal(0xffff_ffffu, p.Args.NrPagesPerCall); // gup.nr_pages_per_call = nr_pages (-1)
    }

    [Theory]
    [InlineData("6.18", "-m", "2", "-n", "-1", 512u)] // 2 MiB / 4 KiB
    [InlineData("6.19", "-m", "2", "-n", "-1", 512u)]
    [InlineData("7.1", "-m", "2", "-n", "-1", 512u)]
    [InlineData("6.18", "-n", "-1", "-m", "2", 32768u)] // the size when -n is parsed: the default 128 MiB / 4 KiB
    public void WholeRange_FromV6_18_IsTheSizeSoFarInPages(string kernel, string a, string b, string c, string d, uint nr)
    {
        using var p = Prepare(kernel, "-U", a, b, c, d);
        Assert.Equal(nr, p.Args.NrPagesPerCall);
    }

    [Theory]
    [InlineData("6.17")]
    [InlineData("6.18")]
    public void WholeRange_PrintsTheSameOnBothSides_BecauseTheModuleClampsTheCall(string kernel)
    {
        // __gup_test_ioctl(): next = addr + nr * PAGE_SIZE > end, so nr = (end - addr) / PAGE_SIZE = 512 either way,
        // and gup.size comes back whole: no "Truncated" line on either side of the switch.
        var r = GupTest(kernel, "-U", "-m", "2", "-n", "-1", "--counters");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("# GUP_BASIC_TEST: done", r.Lines[2]);
        Assert.StartsWith("gupsim: counters (get): calls 1, pages 512,", r.Lines[3], StringComparison.Ordinal);
    }

    // ---- run_vmtests.sh's gup lines per version ----

    private static string Rule(string title) => "# " + new string('-', title.Length) + "\n";

    private static string Block(string command, string output, string result = "[PASS]")
    {
        string title = "running " + command;
        return Rule(title) + "# " + title + "\n" + Rule(title) + output + "# " + result + "\n";
    }

    private static string Suite(string kernel)
    {
        var m = new MachineOptions { Kernel = kernel, Mem = "4G" }.Boot();
        var suite = new RunVmtests(m, new GupTestModule(m)) { GupTestDefaultSizeBytes = 8UL << 20 };
        var output = new StringWriter(CultureInfo.InvariantCulture);
        var result = suite.Run(output);
        Assert.Equal(0, result.ExitCode);
        return Normalize(output.ToString().Replace("\r", "", StringComparison.Ordinal));
    }

    // Before v6.8 the script prints no TAP: kselftest/runner.sh's plan of one, its "# " before every line, and one
    // result for the script's exit status. gup_test prints plain printf lines there.
    private static string OldGupLines =>
        Block("./gup_test -u", "# GUP_FAST_BENCHMARK: Time: get:N put:N us\n")
        + Block("./gup_test -a", "# PIN_FAST_BENCHMARK: Time: get:N put:N us\n")
        + Block("./gup_test -ct -F 0x1 0 19 0x1000", "# DUMP_USER_PAGES_TEST: done\n");

    [Theory]
    [InlineData("5.12")]
    [InlineData("6.1")]
    public void RunVmtests_BeforeV6_2_VmDirectory_NoSummary(string kernel)
    {
        Assert.Equal("TAP version 13\n1..1\n# selftests: vm: run_vmtests.sh\n" + OldGupLines
            + "ok 1 selftests: vm: run_vmtests.sh\n# gupsim: 3 passed, 0 failed, 0 skipped\n", Suite(kernel));
    }

    [Theory]
    [InlineData("6.2", "vm")] // 98b3add737b4's categories print nothing of their own
    [InlineData("6.3", "mm")] // selftests/vm became selftests/mm
    public void RunVmtests_V6_2AndV6_3_SameLines_NoSummaryYet(string kernel, string dir)
    {
        Assert.Equal($"TAP version 13\n1..1\n# selftests: {dir}: run_vmtests.sh\n" + OldGupLines
            + $"ok 1 selftests: {dir}: run_vmtests.sh\n# gupsim: 3 passed, 0 failed, 0 skipped\n", Suite(kernel));
    }

    [Theory]
    [InlineData("6.4")]
    [InlineData("6.6")]
    [InlineData("6.7")]
    public void RunVmtests_V6_4ToV6_7_AddTheSummary_StillInsideTheRunnersTap(string kernel)
    {
        Assert.Equal("TAP version 13\n1..1\n# selftests: mm: run_vmtests.sh\n" + OldGupLines
            + "# SUMMARY: PASS=3 SKIP=0 FAIL=0\nok 1 selftests: mm: run_vmtests.sh\n# gupsim: 3 passed, 0 failed, 0 skipped\n", Suite(kernel));
    }

    private static string KsftGupTest(string message) =>
        "# TAP version 13\n# 1..1\n# " + message + "\n# ok 1 ioctl status 0\n# " + Totals1;

    [Theory]
    [InlineData("6.8")]
    [InlineData("6.10")]
    [InlineData("6.17")]
    public void RunVmtests_FromV6_8_TheScriptsOwnTap(string kernel)
    {
        // a3c5cc5129ef: run_test pipes everything through tap_prefix and adds "ok N <pretty name>"; gup_test's own TAP
        // (cb6e7cae1886, same release) sits inside it behind "# ".
        Assert.Equal("TAP version 13\n"
            + Block("./gup_test -u", KsftGupTest("# GUP_FAST_BENCHMARK: Time: get:N put:N us# ")) + "ok 1 gup_test -u\n"
            + Block("./gup_test -a", KsftGupTest("# PIN_FAST_BENCHMARK: Time: get:N put:N us# ")) + "ok 2 gup_test -a\n"
            + Block("./gup_test -ct -F 0x1 0 19 0x1000", KsftGupTest("# DUMP_USER_PAGES_TEST: done")) + "ok 3 gup_test -ct -F 0x1 0 19 0x1000\n"
            + "# SUMMARY: PASS=3 SKIP=0 FAIL=0\n1..3\n# gupsim: 3 passed, 0 failed, 0 skipped\n", Suite(kernel));
    }

    [Theory]
    [InlineData("6.18")]
    [InlineData("7.0")]
    [InlineData("7.1")]
    public void RunVmtests_FromV6_18_AddsTheWholeRangeRuns(string kernel)
    {
        string Bench(string name) => KsftGupTest("# " + name + ": Time: get:N put:N us# ");
        Assert.Equal("TAP version 13\n"
            + Block("./gup_test -u -n 1", Bench("GUP_FAST_BENCHMARK")) + "ok 1 gup_test -u -n 1\n"
            + Block("./gup_test -u -n -1", Bench("GUP_FAST_BENCHMARK")) + "ok 2 gup_test -u -n -1\n"
            + Block("./gup_test -a -n 1", Bench("PIN_FAST_BENCHMARK")) + "ok 3 gup_test -a -n 1\n"
            + Block("./gup_test -a -n -1", Bench("PIN_FAST_BENCHMARK")) + "ok 4 gup_test -a -n -1\n"
            + Block("./gup_test -ct -F 0x1 0 19 0x1000", KsftGupTest("# DUMP_USER_PAGES_TEST: done")) + "ok 5 gup_test -ct -F 0x1 0 19 0x1000\n"
            + "# SUMMARY: PASS=5 SKIP=0 FAIL=0\n1..5\n# gupsim: 5 passed, 0 failed, 0 skipped\n", Suite(kernel));
    }

    [Theory]
    [InlineData("6.1", false, false, false, false)]
    [InlineData("6.2", true, false, false, false)]
    [InlineData("6.4", true, true, false, false)]
    [InlineData("6.6", true, true, true, false)]
    [InlineData("6.7", true, true, true, false)]
    [InlineData("6.8", true, true, true, true)]
    public void RunVmtestsDialect_SwitchPoints(string kernel, bool categories, bool summary, bool matrix, bool tap)
    {
        var d = new RunVmtestsDialect(Arch.KernelVersion.Parse(kernel));
        Assert.Equal((categories, summary, matrix, tap), (d.HasCategories, d.HasSummary, d.HasMatrix, d.TapOutput));
    }

    private static GupTestProcess Prepare(string kernel, params string[] args)
    {
        var m = new MachineOptions { Kernel = kernel, Mem = "2G" }.Boot();
        var selftest = new GupTestSelftest(m, new GupTestModule(m));
        var p = selftest.Prepare(args, TextWriter.Null, out int exit);
        Assert.True(p is not null, $"exit {exit}");
        return p;
    }
}

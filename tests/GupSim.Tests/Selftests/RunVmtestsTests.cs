using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using GupSim.Arch;
using GupSim.Cli;
using GupSim.Config;
using GupSim.Selftests;

using GupSim.Tests.Cli;

namespace GupSim.Tests.Selftests;

/// <summary>`gupsim run-vmtests`: the gup part of run_vmtests.sh per kernel version, its TAP, its plan and its exit code.</summary>
public sealed partial class RunVmtestsTests
{

    private static CliResult Run(params string[] args) => CliRun.Run(["run-vmtests", .. args]);

    [GeneratedRegex(@"^# (GUP|PIN)_FAST_BENCHMARK: Time: get:\d+ put:\d+ us$")]
    private static partial Regex V61BenchmarkLine();

    [GeneratedRegex(@"^# # (GUP|PIN)_FAST_BENCHMARK: Time: get:\d+ put:\d+ us# $")]
    private static partial Regex V618BenchmarkLine();

    private static string[] Block(string command, params string[] output)
    {
        string title = "running " + command;
        string rule = "# " + new string('-', title.Length);
        return [rule, "# " + title, rule, .. output];
    }

    [Fact]
    public void V6_1_DefaultLines_InsideTheKselftestRunnersTap()
    {
        var r = Run("--kernel", "6.1", "--mem", "4G", "--gup-test-default-mb", "8");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        string[] expected =
        [
            "TAP version 13",
            "1..1",
            "# selftests: vm: run_vmtests.sh",
            .. Block("./gup_test -u", "BENCH", "# [PASS]"),
            .. Block("./gup_test -a", "BENCH", "# [PASS]"),
            .. Block("./gup_test -ct -F 0x1 0 19 0x1000", "# DUMP_USER_PAGES_TEST: done", "# [PASS]"),
            "ok 1 selftests: vm: run_vmtests.sh",
            "# gupsim: 3 passed, 0 failed, 0 skipped",
        ];
        Assert.Equal(expected.Length, r.Lines.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] == "BENCH") Assert.Matches(V61BenchmarkLine(), r.Lines[i]);
            else Assert.Equal(expected[i], r.Lines[i]);
        }
        // GupSim's closing line: three ioctls of 8 MiB (2048 entries each); -u and -a over 2048 4 KiB pages of /dev/zero
        // (one head each), -ct over 4 THPs of 2 MiB.
        Assert.Equal("gupsim: verified 3 runs (3 GUP calls): each of 6144 pages[] entries is the struct page of the pfn the page table maps at its address "
            + "(by GupSim's own pfn→struct page map), and after each release the refcount and pincount of the compound heads mapped (4100 in all) and the hugetlb pools are back where they were\n", r.Stderr);
    }

    [Fact]
    public void V6_18_DefaultLines_AsTheScriptsOwnTap()
    {
        var r = Run("--kernel", "6.18", "--gup-test-default-mb", "8");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        string[] Ksft(params string[] lines) => ["# TAP version 13", "# 1..1", .. lines, "# ok 1 ioctl status 0",
            "# # Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0", "# [PASS]"];
        string[] expected =
        [
            "TAP version 13",
            .. Block("./gup_test -u -n 1", Ksft("BENCH")), "ok 1 gup_test -u -n 1",
            .. Block("./gup_test -u -n -1", Ksft("BENCH")), "ok 2 gup_test -u -n -1",
            .. Block("./gup_test -a -n 1", Ksft("BENCH")), "ok 3 gup_test -a -n 1",
            .. Block("./gup_test -a -n -1", Ksft("BENCH")), "ok 4 gup_test -a -n -1",
            .. Block("./gup_test -ct -F 0x1 0 19 0x1000", Ksft("# # DUMP_USER_PAGES_TEST: done")), "ok 5 gup_test -ct -F 0x1 0 19 0x1000",
        ];
        // Then ./gup_longterm (v6.5+), whose own TAP block docs/gup-longterm.md and GupLongtermTests cover.
        Assert.Equal("ok 6 gup_longterm", r.Lines[^4]);
        Assert.Equal(["# SUMMARY: PASS=6 SKIP=0 FAIL=0", "1..6", "# gupsim: 6 passed, 0 failed, 0 skipped"], r.Lines[^3..]);
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] == "BENCH") Assert.Matches(V618BenchmarkLine(), r.Lines[i]);
            else Assert.Equal(expected[i], r.Lines[i]);
        }
    }

    [Theory]
    [InlineData("5.12", false, 3)] // -u, -a, the dump test
    [InlineData("6.1", false, 3)]
    [InlineData("6.6", false, 3)]
    [InlineData("6.6", true, 181)] // run_gup_matrix: 3 × 5 × 2 × 2 × 3 = 180, then the dump test
    [InlineData("6.17", true, 181)]
    [InlineData("6.18", false, 5)] // -u -n 1, -u -n -1, -a -n 1, -a -n -1, the dump test
    [InlineData("6.18", true, 241)] // "-n -1" joins the matrix: 3 × 5 × 2 × 2 × 4 = 240
    public void Plan_HasTheVersionsRuns(string kernel, bool all, int count)
    {
        var suite = Suite(kernel, all);
        var plan = suite.Plan(256);
        Assert.Equal(count, plan.Count);
        Assert.All(plan, e => Assert.Equal("./gup_test", e.Program));
        Assert.Equal("./gup_test -ct -F 0x1 0 19 0x1000", plan[^1].CommandLine);
        if (all)
        {
            Assert.Equal("./gup_test -t -u -w -S -n 1", plan[0].CommandLine);
            Assert.Equal("./gup_test -t -u -w -n 1", plan[kernel == "6.18" ? 4 : 3].CommandLine); // the private case: no word
            Assert.Equal(kernel == "6.18" ? "./gup_test -H -m 256 -L -W -n -1" : "./gup_test -H -m 256 -L -W -n 123", plan[^2].CommandLine);
            Assert.Equal(count, plan.Select(e => e.CommandLine).Distinct().Count());
        }
    }

    [Fact]
    public void GupLongterm_JoinsThePlanFromV6_5_OnceAProgramIsRegistered()
    {
        var v65 = Suite("6.5", false);
        Assert.Equal(3, v65.Plan(256).Count);
        v65.Programs[RunVmtests.GupLongtermProgram] = (_, o, _) =>
        {
            o.WriteLine("stand-in");
            return 0;
        };
        var plan = v65.Plan(256);
        Assert.Equal(["./gup_test -u", "./gup_test -a", "./gup_test -ct -F 0x1 0 19 0x1000", "./gup_longterm"], plan.Select(e => e.CommandLine));
        Assert.Equal("gup_longterm", plan[^1].PrettyName);
        var v64 = Suite("6.4", false);
        v64.Programs[RunVmtests.GupLongtermProgram] = (_, _, _) => 0;
        Assert.Equal(3, v64.Plan(256).Count);
    }

    [Theory]
    [InlineData("6.6", 2, 256UL)] // ((2 × 2 + 127) / 128) × 128 × 2 MB
    [InlineData("6.6", 100, 512UL)] // ((100 × 2 + 127) / 128) × 128 × 2
    [InlineData("6.18", 2, 256UL)] // max(2 MB × 2 × 2, 256 MB)
    [InlineData("6.18", 100, 400UL)] // 2 MB × 100 × 2
    public void HugetlbSetup_RaisesTheDefaultPoolAsTheScriptComputesIt(string kernel, int cpus, ulong hugetlbMb)
    {
        var m = new MachineOptions { Kernel = kernel, Mem = "4G" }.Boot();
        var suite = new RunVmtests(m, new GupTestModule(m)) { NrCpus = cpus };
        var setup = suite.SetupHugetlb();
        Assert.Equal(hugetlbMb, setup.HugetlbMb);
        Assert.Equal((2048UL, 0UL, 0UL), (setup.HugepageSizeKb, setup.FreeBefore, setup.NrHugepagesBefore));
        Assert.Equal(hugetlbMb / 2, setup.NeedPages);
        Assert.Equal(hugetlbMb / 2, m.Hugetlb.Default!.FreeHugePages);
        Assert.Contains(m.Hugetlb.MeminfoLines(), l => l == string.Create(CultureInfo.InvariantCulture, $"HugePages_Free:  {hugetlbMb / 2,5}"));
        Assert.Null(setup.ExitCode);
    }

    [Fact]
    public void NotEnoughHugePages_EndsTheOldScript_ButNotTheNewOne()
    {
        // 1 GiB default pages on a 3 GiB machine: needmem is 4 GiB (two pages for each of two CPUs), more than the RAM,
        // and no second gigantic page can be allocated at runtime.
        const string pages = "default_hugepagesz=1G hugepagesz=1G hugepages=1";
        // v6.8 (a3c5cc5129ef): the script's own TAP, whose "TAP version 13" comes only after the setup, so the exit 1
        // leaves just the printf line, unprefixed.
        var old = Run("--kernel", "6.8", "--mem", "3G", "--hugepages", pages);
        Assert.Equal(1, old.ExitCode);
        Assert.Equal(["Not enough huge pages available (1 < 4)", "# gupsim: 0 passed, 0 failed, 0 skipped"], old.Lines);
        // v6.6: no TAP of its own yet; the kselftest runner wraps the script's line and reports its exit status.
        var v66 = Run("--kernel", "6.6", "--mem", "3G", "--hugepages", pages);
        Assert.Equal(1, v66.ExitCode);
        Assert.Equal(["TAP version 13", "1..1", "# selftests: mm: run_vmtests.sh", "# Not enough huge pages available (1 < 4)",
            "not ok 1 selftests: mm: run_vmtests.sh # exit=1", "# gupsim: 0 passed, 0 failed, 0 skipped"], v66.Lines);
        var v61 = Run("--kernel", "6.1", "--mem", "3G", "--hugepages", pages);
        Assert.Equal(1, v61.ExitCode);
        Assert.Equal(["TAP version 13", "1..1", "# selftests: vm: run_vmtests.sh", "# Not enough huge pages available (1 < 4)",
            "not ok 1 selftests: vm: run_vmtests.sh # exit=1", "# gupsim: 0 passed, 0 failed, 0 skipped"], v61.Lines);
        var current = Run("--kernel", "6.18", "--mem", "3G", "--hugepages", pages, "--gup-test-default-mb", "4");
        Assert.Equal("Not enough huge pages available (1 < 4)", current.Lines[0]);
        Assert.Equal("TAP version 13", current.Lines[1]);
        Assert.Equal("# gupsim: 6 passed, 0 failed, 0 skipped", current.Lines[^1]); // five gup_test runs and gup_longterm
        Assert.Equal(0, current.ExitCode);
    }

    [Fact]
    public void WrongStrategyOnScatteredMemmaps_FailsTheGigantic_H_Runs_AndTheExitCodeSaysSo()
    {
        // Classic SPARSEMEM with per-section memmaps scattered in memory, 1 GiB default huge pages and page++ instead
        // of v6.6's own code: GUP-fast records pages[] across section boundaries by pointer arithmetic, GupSim's oracle
        // finds 229376 of 262144 entries wrong. The per-section fallback puts each memmap right below the previous one,
        // so the wrong entries are valid struct pages of the sections below (pages[32768] of the page at pfn 0x180000,
        // section 48, is the first struct page of section 47: pfn 0x178000); the put loop drops their counts instead of
        // the head's without an oops, and GupSim's verification fails runs 121-123 (exit 1). The runs after find the
        // pool short (a page whose references never came back), and fail as before.
        var r = Run("--kernel", "6.6", "--model", "sparsemem", "--placement", "scattered", "--mem", "8G",
            "--hugepages", "default_hugepagesz=1G hugepagesz=1G hugepages=2", "--nr-cpus", "1", "--strategy", "page++",
            "-a", "--hugetlb-mb", "1024", "--gup-test-default-mb", "2");
        Assert.Equal(1, r.ExitCode);
        // v6.6's script prints no TAP of its own (that came with v6.8): each run ends in "[PASS]" or "[FAIL]" behind the
        // kselftest runner's "# ", and the runner's one result says how the script exited.
        string[] results = [.. r.Lines.Where(l => l is "# [PASS]" or "# [FAIL]" or "# [SKIP]")];
        Assert.Equal(182, results.Length); // the matrix (180), the dump test, gup_longterm
        Assert.All(results[..120], l => Assert.Equal("# [PASS]", l)); // every -t and -T run
        Assert.All(results[120..180], l => Assert.Equal("# [FAIL]", l)); // every -H run
        Assert.Equal(["# [PASS]", "# [PASS]"], results[180..]);
        int first = Array.IndexOf(r.Lines, "# running ./gup_test -H -m 1024 -u -w -S -n 1");
        Assert.True(first > 0, r.Stdout);
        Assert.Equal("# running ./gup_test -H -m 1024 -u -w -S -n 512", r.Lines.Skip(first + 1).First(l => l.StartsWith("# running ", StringComparison.Ordinal)));
        Assert.Equal(["TAP version 13", "1..1", "# selftests: mm: run_vmtests.sh"], r.Lines[..3]);
        Assert.Equal("not ok 1 selftests: mm: run_vmtests.sh # exit=1", r.Lines[^2]);
        Assert.Contains("# gupsim: verify: 229376 of 262144 pages[] entries wrong; first pages[32768] = 0xffff88823ae00000: the struct page of pfn 0x178000", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("killed by a kernel oops", r.Stdout, StringComparison.Ordinal);
        Assert.Equal("# SUMMARY: PASS=122 SKIP=0 FAIL=60", r.Lines[^3]); // the dump test (on /dev/zero) and gup_longterm pass too
        Assert.Equal("# gupsim: 122 passed, 60 failed, 0 skipped", r.Lines[^1]);
    }

    [Fact]
    public void Json_ListsEveryRun()
    {
        var r = Run("--kernel", "6.6", "--mem", "4G", "--gup-test-default-mb", "4", "--json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal("6.6", root.GetProperty("kernel").GetString());
        Assert.Equal(256UL, root.GetProperty("setup").GetProperty("hugetlbMb").GetUInt64());
        var runs = root.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(["./gup_test -u", "./gup_test -a", "./gup_test -ct -F 0x1 0 19 0x1000", "./gup_longterm"], runs.Select(x => x.GetProperty("command").GetString()));
        Assert.All(runs, x => Assert.Equal("pass", x.GetProperty("result").GetString()));
        Assert.Equal(4, root.GetProperty("passed").GetInt32());
    }

    [Fact]
    public void BadInput_GetsOneLine()
    {
        var noMatrix = Run("--kernel", "6.1", "--mem", "2G", "-a");
        Assert.Equal(1, noMatrix.ExitCode);
        Assert.Equal("gupsim: run_vmtests.sh of v6.1 has no -a: run_gup_matrix() came with v6.6", noMatrix.Stderr.Trim());
        var noCategories = Run("--kernel", "6.1", "--mem", "2G", "-t", "gup_test");
        Assert.Equal(1, noCategories.ExitCode);
        Assert.Single(noCategories.Stderr.Trim().Split('\n'));
        var unknown = Run("--bogus");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Equal("gupsim: run-vmtests: unrecognized option '--bogus' (try 'gupsim run-vmtests --help')\n", unknown.Stderr);
        var strategy = Run("--mem", "2G", "--strategy", "nope");
        Assert.Equal(1, strategy.ExitCode);
        Assert.StartsWith("gupsim: unknown strategy 'nope'", strategy.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void OtherCategories_RunNothing()
    {
        var r = Run("--kernel", "6.18", "--mem", "2G", "-t", "mmap");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["TAP version 13", "# SUMMARY: PASS=0 SKIP=0 FAIL=0", "1..0", "# gupsim: 0 passed, 0 failed, 0 skipped"], r.Lines);
        Assert.Equal("gupsim: category 'mmap' is not simulated and runs nothing", r.Stderr.Trim());
    }

    private static RunVmtests Suite(string kernel, bool all)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(kernel)),
            Model = MemoryModel.SparsememVmemmap,
            Ram = Memory.TestMachines.Ram((0, 1UL << 30)),
        });
        return new RunVmtests(m, new GupTestModule(m)) { RunAll = all };
    }
}

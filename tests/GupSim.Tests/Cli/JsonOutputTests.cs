using System.Globalization;
using System.Text.Json;
using GupSim.Cli;

namespace GupSim.Tests.Cli;

/// <summary>
/// The --json documents of gup-test, gup-longterm, scenario, run-vmtests and bench (docs/cli.md), and the closing
/// stderr line that says what GupSim verified. Expected counts are worked out from the workload: a 2 MiB mapping of
/// 4 KiB pages is 512 entries; the default machine has two hstates (2 MiB and 1 GiB).
/// </summary>
public sealed class JsonOutputTests
{
    private const int PagesPer2M = (2 << 20) / 4096; // 512
    private const int PagesPerSection = 32768;        // x86_64 classic SPARSEMEM: SECTION_SIZE_BITS 27, PAGE_SHIFT 12

    private const string VerifiedOne2MPage =
        "gupsim: verified 1 ioctl: each of 512 pages[] entries is the struct page of the pfn the page table maps at its address " +
        "(by GupSim's own pfn→struct page map), and after each put the refcount and pincount of 1 compound head and the pool counts of 2 hstates are back where they were";

    private static readonly string[] SmallPinLongterm =
        ["gup-test", "--hugepages", "2M=16", "--mount", "/mnt/huge=2M", "-f", "/mnt/huge/file", "-m", "2", "-L", "-S", "-n", "512", "-w"];

    // The README's classic-SPARSEMEM example: v5.12's merged recorder with 1000-page calls over one 1 GiB page.
    private static readonly string[] ScatteredMerged =
        ["gup-test", "--model", "sparsemem", "--placement", "scattered", "--seed", "3", "--ram", "0-3G,4G-12G", "--hugepages", "1G=1",
            "-f", "/mnt/huge/f", "-m", "1024", "-b", "-S", "-n", "1000", "-w"];


    private static CliResult Run(params string[] args) => CliRun.Run(args);

    /// <summary>
    /// The wrong entries of 1000-page calls over 262144 subpages when every section boundary b = 32768·j is one
    /// the merged recorder runs past: the call holding b is wrong from b to its end, 1000 − (b mod 1000) entries.
    /// </summary>
    private static long MergedWrongEntries(long pages, long batch)
    {
        long wrong = 0;
        for (long b = PagesPerSection; b < pages; b += PagesPerSection)
            if (b % batch != 0) wrong += batch - b % batch;
        return wrong;
    }

    // ---- gup-test ----

    [Fact]
    public void GupTest_Json_OnePinLongtermOfOne2MPage()
    {
        var r = Run([.. SmallPinLongterm, "--json"]);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal("", r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout); // stdout is the document and nothing else
        var root = doc.RootElement;
        Assert.Equal("x86_64", root.GetProperty("machine").GetProperty("arch").GetString());
        Assert.Equal("5.12", root.GetProperty("machine").GetProperty("kernel").GetString());
        Assert.Equal("v5.12", root.GetProperty("machine").GetProperty("strategy").GetString());
        Assert.Equal(0, root.GetProperty("exitCode").GetInt32());
        Assert.True(root.GetProperty("verified").GetBoolean());

        var v = root.GetProperty("verification");
        Assert.True(v.GetProperty("enabled").GetBoolean());
        Assert.Equal(1, v.GetProperty("ioctls").GetInt32());
        Assert.Equal(PagesPer2M, v.GetProperty("entriesChecked").GetInt64());
        Assert.Equal(0, v.GetProperty("wrongEntries").GetInt64());
        Assert.Equal(1, v.GetProperty("headsChecked").GetInt64()); // one 2 MiB huge page
        Assert.Equal(2, v.GetProperty("poolsChecked").GetInt64()); // hugepages-2048kB and hugepages-1048576kB
        Assert.Equal(JsonValueKind.Null, v.GetProperty("firstWrongIndex").ValueKind);
        Assert.Equal(VerifiedOne2MPage, v.GetProperty("line").GetString());

        var run = Assert.Single(root.GetProperty("runs").EnumerateArray());
        Assert.Equal("PIN_LONGTERM_BENCHMARK", run.GetProperty("cmd").GetString());
        Assert.Equal(3, run.GetProperty("cmdNr").GetInt32()); // _IOWR('g', 3, struct gup_test)
        Assert.Equal(0, run.GetProperty("thread").GetInt32());
        Assert.Equal(1, run.GetProperty("repeat").GetInt32());
        Assert.Equal(0, run.GetProperty("status").GetInt32());
        Assert.Equal(PagesPer2M, run.GetProperty("pages").GetInt64());
        Assert.Equal(1, run.GetProperty("calls").GetInt64()); // -n 512: one call covers the 512 pages
        Assert.Equal(2UL << 20, run.GetProperty("size").GetUInt64());
        Assert.Equal(2UL << 20, run.GetProperty("sizeWalked").GetUInt64());
        Assert.False(run.GetProperty("truncated").GetBoolean());
        Assert.Equal(512U, run.GetProperty("nrPagesPerCall").GetUInt32());
        Assert.Equal("0x1", run.GetProperty("gupFlags").GetString()); // -w: FOLL_WRITE
        Assert.True(run.GetProperty("verified").GetBoolean());
        Assert.Equal(PagesPer2M, run.GetProperty("counters").GetProperty("pagesWrites").GetInt64());

        // The selftest's own line, with the printed microseconds equal to the run's getUs/putUs.
        string line = Assert.Single(root.GetProperty("output").EnumerateArray()).GetString()!;
        Assert.Equal($"PIN_LONGTERM_BENCHMARK: Time: get:{run.GetProperty("getUs").GetUInt64()} put:{run.GetProperty("putUs").GetUInt64()} us", line);
        Assert.Empty(root.GetProperty("dmesg").EnumerateArray());
    }

    [Fact]
    public void GupTest_Text_StdoutIsTheSelftestsAndStderrSaysVerified()
    {
        var r = Run([.. SmallPinLongterm, "-r", "2"]);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^PIN_LONGTERM_BENCHMARK: Time: get:\d+ put:\d+ us$", l));
        Assert.Equal(
            "gupsim: verified 2 ioctls: each of 1024 pages[] entries is the struct page of the pfn the page table maps at its address " +
            "(by GupSim's own pfn→struct page map), and after each put the refcount and pincount of 1 compound head and the pool counts of 2 hstates are back where they were",
            Assert.Single(r.StderrLines));
    }

    [Fact]
    public void GupTest_VerifyOff_SaysNotVerified()
    {
        var r = Run([.. SmallPinLongterm, "--verify", "off"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("gupsim: not verified (--verify off)", Assert.Single(r.StderrLines));

        var j = Run([.. SmallPinLongterm, "--verify", "off", "--json"]);
        using var doc = JsonDocument.Parse(j.Stdout);
        Assert.False(doc.RootElement.GetProperty("verified").GetBoolean());
        var v = doc.RootElement.GetProperty("verification");
        Assert.False(v.GetProperty("enabled").GetBoolean());
        Assert.Equal("gupsim: not verified (--verify off)", v.GetProperty("line").GetString());
        var run = Assert.Single(doc.RootElement.GetProperty("runs").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, run.GetProperty("verified").ValueKind);
        Assert.Equal(JsonValueKind.Null, run.GetProperty("entriesChecked").ValueKind);
    }

    [Fact]
    public void GupTest_Json_ScatteredSparsemem_MergedRecorder_NotVerified_FirstWrongAtTheSectionBoundary()
    {
        long pages = (1L << 30) / 4096, wrong = MergedWrongEntries(pages, 1000);
        Assert.Equal(3496, wrong); // 232 + 464 + 696 + 928 + 160 + 392 + 624
        var r = Run([.. ScatteredMerged, "--json"]);
        // The fallback places section 79's memmap right above section 80's (top-down, nothing between), so the
        // wrong entries are valid struct pages of the RAM below the huge page: unpinning them does not oops, it drops
        // the wrong pages' counts and leaves the head's (exit 1: GupSim's verification failed).
        Assert.Equal(1, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.False(root.GetProperty("verified").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("oops").ValueKind);
        var v = root.GetProperty("verification");
        Assert.Equal(1, v.GetProperty("ioctls").GetInt32());
        Assert.Equal(pages, v.GetProperty("entriesChecked").GetInt64());
        Assert.Equal(wrong, v.GetProperty("wrongEntries").GetInt64());
        Assert.Equal(1, v.GetProperty("firstWrongIoctl").GetInt32());
        Assert.Equal(PagesPerSection, v.GetProperty("firstWrongIndex").GetInt64());
        Assert.Equal(
            "gupsim: verification FAILED: 1 of 1 ioctl returned wrong pages[] entries (3496 of 262144; first pages[32768] of ioctl 1); 1 count not back after the put",
            v.GetProperty("line").GetString());
        // pages[32768] is one past section 80's memmap: the first struct page of section 79's, pfn 79 × 32768 = 0x278000.
        Assert.StartsWith("3496 of 262144 pages[] entries wrong; first pages[32768] = 0xffff8882f6e00000: the struct page of pfn 0x278000",
            v.GetProperty("failures")[0].GetString(), StringComparison.Ordinal);
        // Call 32 (pages 32000..32999) pinned the head 1000 times; its 232 entries past 32767 are unpinned on pfn
        // 0x278000.. instead, so the head keeps 232 pins and 232 references above its 2.
        Assert.Equal("after put: head pfn 0x280000: refcount 2 -> 234, pincount 0 -> 232", v.GetProperty("failures")[1].GetString());

        var run = Assert.Single(root.GetProperty("runs").EnumerateArray());
        Assert.Equal("PIN_BASIC_TEST", run.GetProperty("cmd").GetString());
        Assert.Equal(5, run.GetProperty("cmdNr").GetInt32());
        Assert.False(run.GetProperty("verified").GetBoolean());
        Assert.Equal(PagesPerSection, run.GetProperty("firstWrongIndex").GetInt64());
        Assert.Equal(PagesPerSection / 1000, run.GetProperty("firstWrongCall").GetInt64()); // call 32 (0-based) starts at 32000
        Assert.Equal((pages + 999) / 1000, run.GetProperty("calls").GetInt64()); // 263 calls of up to 1000 pages
    }

    [Fact]
    public void GupTest_Text_ScatteredSparsemem_ClosingLineSaysFailed()
    {
        var r = Run(ScatteredMerged);
        Assert.Equal(1, r.ExitCode);
        var err = r.StderrLines;
        Assert.Equal("gupsim: verification FAILED: 1 of 1 ioctl returned wrong pages[] entries (3496 of 262144; first pages[32768] of ioctl 1); 1 count not back after the put", Assert.Single(err));
    }

    [Fact]
    public void GupTest_NoIoctl_PrintsNoClosingLine()
    {
        // v5.12's getopt has no -j: the selftest's own error, and nothing claimed.
        var r = Run("gup-test", "-j", "2");
        Assert.Equal(255, r.ExitCode);
        Assert.Equal("gup_test: invalid option -- 'j'", Assert.Single(r.StderrLines));
    }

    // ---- gup-longterm ----

    [Fact]
    public void GupLongterm_Json_V61_FourSharedRwExt4PinsFail()
    {
        // 2 MiB pool only: the 1 GiB hstate has no pages, so its 8 tests skip ("need more free huge pages").
        var r = Run("gup-longterm", "--kernel", "6.1", "--mem", "4G", "--hugepages", "2M=4", "--json");
        Assert.True(r.ExitCode == 1, r.Stdout + r.Stderr); // ksft_finished(): failures
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal("6.5", root.GetProperty("selftest").GetString()); // v6.1's tree has no gup_longterm
        Assert.Equal(8 * (3 + 2), root.GetProperty("plan").GetInt32());
        var totals = root.GetProperty("totals");
        Assert.Equal(4, totals.GetProperty("fail").GetInt32());
        Assert.Equal(8, totals.GetProperty("skip").GetInt32());
        Assert.Equal(40 - 4 - 8, totals.GetProperty("pass").GetInt32());

        var tests = root.GetProperty("tests").EnumerateArray().ToList();
        Assert.Equal(40, tests.Count);
        var failed = tests.Where(t => t.GetProperty("result").GetString() == "fail").Select(t => t.GetProperty("name").GetString()).ToList();
        // Shared R/W pins of an ext4 file (tmpfile() on ext4 /tmp, and the local tmpfile): v6.1 lets them through.
        Assert.Equal(
        [
            "R/W longterm GUP pin in MAP_SHARED file mapping ... with tmpfile",
            "R/W longterm GUP pin in MAP_SHARED file mapping ... with local tmpfile",
            "R/W longterm GUP-fast pin in MAP_SHARED file mapping ... with tmpfile",
            "R/W longterm GUP-fast pin in MAP_SHARED file mapping ... with local tmpfile",
        ], failed);
        Assert.All(tests.Where(t => t.GetProperty("result").GetString() == "fail"), t => Assert.Equal("Should have worked", t.GetProperty("reason").GetString()));
        Assert.All(tests.Where(t => t.GetProperty("result").GetString() == "skip"), t =>
        {
            Assert.EndsWith("(1048576 kB)", t.GetProperty("name").GetString(), StringComparison.Ordinal);
            Assert.Equal("need more free huge pages", t.GetProperty("reason").GetString());
        });

        Assert.True(root.GetProperty("verified").GetBoolean());
        var v = root.GetProperty("verification");
        Assert.Equal(32, v.GetProperty("ioctls").GetInt32());                      // every test that reached PIN_LONGTERM_TEST_START
        Assert.Equal(8 * (3 * 1 + PagesPer2M), v.GetProperty("entriesChecked").GetInt64()); // 4 KiB files and one 2 MiB page per case
        Assert.Equal(32, v.GetProperty("headsChecked").GetInt64());
        Assert.Equal(32 * 2 + 2, v.GetProperty("poolsChecked").GetInt64());        // both hstates after each test, and after exit
        Assert.True(v.GetProperty("freePagesChecked").GetBoolean());
        Assert.Equal("# Totals: pass:28 fail:4 xfail:0 xpass:0 skip:8 error:0", root.GetProperty("output").EnumerateArray().Last().GetString());
    }

    [Fact]
    public void GupLongterm_Text_ClosingLineOnStderr()
    {
        var r = Run("gup-longterm", "--kernel", "6.6", "--mem", "4G", "--hugepages", "2M=4");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal("# Totals: pass:32 fail:0 xfail:0 xpass:0 skip:8 error:0", r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
        Assert.Equal(
            "gupsim: verified 28 PIN_LONGTERM_TEST_START/STOP pairs: each of 4116 pinned entries is the struct page of the pfn the page table maps at its address " +
            "(by GupSim's own pfn→struct page map); after each test the refcount and pincount of every compound head it mapped (32 in all) and the hugetlb pools are back where they were, " +
            "and after exit the free pages and pools are back to their values before the run",
            Assert.Single(r.StderrLines));
    }

    // ---- scenario ----

    [Fact]
    public void Scenario_Json_Trap2_EachStepAndExpectation()
    {
        var r = Run("scenario", "../../../../../examples/trap2-merged-slow-batch1000.scenario", "--json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal("sparsemem", root.GetProperty("machine").GetProperty("memoryModel").GetString());
        var steps = root.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(["machine", "mmap", "touch", "pin", "expect", "pin", "expect", "pin", "expect"], steps.Select(s => s.GetProperty("op").GetString()));
        // The script's own line number of its machine line (read from the file, not from the runner).
        int machineLine = Array.FindIndex(File.ReadAllLines("../../../../../examples/trap2-merged-slow-batch1000.scenario"), l => l.StartsWith("machine ", StringComparison.Ordinal)) + 1;
        Assert.Equal(machineLine, steps[0].GetProperty("line").GetInt32());
        Assert.Equal(JsonValueKind.Null, steps[0].GetProperty("result").ValueKind);
        Assert.Equal("ok", steps[1].GetProperty("result").GetString());

        var gup = steps[3].GetProperty("gup");
        Assert.Equal("v5.12", gup.GetProperty("strategy").GetString());
        Assert.Equal(1000, gup.GetProperty("batch").GetInt64());
        Assert.Equal(262144, gup.GetProperty("pages").GetInt64());
        Assert.Equal(MergedWrongEntries(262144, 1000), gup.GetProperty("wrong").GetInt64());
        Assert.Equal(PagesPerSection, gup.GetProperty("firstWrongIndex").GetInt64());
        Assert.Equal("pin A (v5.12, batch 1000): 262144 of 262144 pages, 3496 wrong", steps[3].GetProperty("output")[0].GetString());

        var x = steps[4].GetProperty("expectation");
        Assert.Equal("wrong-pages", x.GetProperty("what").GetString());
        Assert.Equal(["3496"], x.GetProperty("args").EnumerateArray().Select(a => a.GetString()));
        Assert.True(x.GetProperty("ok").GetBoolean());
        Assert.Equal("3496 wrong entries", x.GetProperty("detail").GetString());
        Assert.Equal(0, steps[5].GetProperty("gup").GetProperty("wrong").GetInt64()); // 512-page calls align to sections
        Assert.Equal("section-run", steps[7].GetProperty("gup").GetProperty("strategy").GetString());
        Assert.Equal(3, root.GetProperty("expectationsPassed").GetInt32());
        Assert.Equal(0, root.GetProperty("expectationsFailed").GetInt32());
        Assert.Equal(0, root.GetProperty("exitCode").GetInt32());
    }

    [Fact]
    public void Scenario_Json_FailedExpectation_ExitCode3_AndTheResultOfEachStep()
    {
        string path = Path.Combine(Path.GetTempPath(), "gupsim-json-" + Guid.NewGuid().ToString("N") + ".scenario");
        File.WriteAllText(path, "machine --mem 2G --hugepages 2M=1\nmmap A 4M hugetlb=2M\nexpect result ENOMEM\nexpect result ok\n");
        try
        {
            var r = Run("scenario", path, "--json");
            Assert.Equal(3, r.ExitCode);
            using var doc = JsonDocument.Parse(r.Stdout);
            var steps = doc.RootElement.GetProperty("steps").EnumerateArray().ToList();
            // Two 2 MiB pages asked of a pool of one: mmap's reservation fails with ENOMEM.
            Assert.Equal("ENOMEM", steps[1].GetProperty("result").GetString());
            Assert.True(steps[2].GetProperty("expectation").GetProperty("ok").GetBoolean());
            Assert.False(steps[3].GetProperty("expectation").GetProperty("ok").GetBoolean());
            Assert.Equal("last result ENOMEM", steps[3].GetProperty("expectation").GetProperty("detail").GetString());
            Assert.Equal(1, doc.RootElement.GetProperty("expectationsFailed").GetInt32());
            Assert.Equal(3, doc.RootElement.GetProperty("exitCode").GetInt32());
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- run-vmtests ----

    [Fact]
    public void RunVmtests_VerifiedPerRun_AndTheClosingLine()
    {
        var r = Run("run-vmtests", "--kernel", "6.6", "--mem", "4G", "--gup-test-default-mb", "4", "--json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToList();
        Assert.All(runs, x => Assert.True(x.GetProperty("verified").GetBoolean()));
        // ./gup_test -u and -a: one ioctl each over 4 MiB of 4 KiB pages = 1024 entries.
        Assert.StartsWith("gupsim: verified 1 ioctl: each of 1024 pages[] entries is", runs[0].GetProperty("verification").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("gupsim: verified 1 ioctl: each of 1024 pages[] entries is", runs[1].GetProperty("verification").GetString(), StringComparison.Ordinal);
        Assert.True(doc.RootElement.GetProperty("verified").GetBoolean());
        Assert.StartsWith("gupsim: verified 4 runs (", doc.RootElement.GetProperty("verification").GetString(), StringComparison.Ordinal);

        var off = Run("run-vmtests", "--kernel", "6.6", "--mem", "4G", "--gup-test-default-mb", "4", "--verify", "off");
        Assert.Equal(0, off.ExitCode);
        Assert.Equal("gupsim: not verified (--verify off)", Assert.Single(off.StderrLines));
    }

    // ---- bench ----

    [Fact]
    public void Bench_Json_NamesTheIoctl()
    {
        var r = Run("bench", "--strategies", "merged", "--rounds", "1", "--json", "-f", "/mnt/huge/file", "-m", "1024", "-L", "-S", "-n", "512", "-w");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var result = doc.RootElement.GetProperty("result");
        Assert.Equal("PIN_LONGTERM_BENCHMARK", result.GetProperty("cmd").GetString());
        Assert.Equal(3, result.GetProperty("cmdNr").GetInt32());
        Assert.Equal(262144, result.GetProperty("pages").GetInt64());
    }
}

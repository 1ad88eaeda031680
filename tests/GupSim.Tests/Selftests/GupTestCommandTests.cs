using System.Globalization;
using System.Text.RegularExpressions;
using GupSim.Cli;

using GupSim.Tests.Cli;

namespace GupSim.Tests.Selftests;

/// <summary>`gupsim gup-test`: the selftest's lines, exit codes and flags per version, and GupSim's verification.</summary>
public sealed partial class GupTestCommandTests
{

    private static CliResult Run(params string[] args) => CliRun.Run(["gup-test", .. args]);

    [GeneratedRegex(@"^PIN_LONGTERM_BENCHMARK: Time: get:\d+ put:\d+ us$")]
    private static partial Regex PinLongtermLine();

    [GeneratedRegex(@"^# PIN_FAST_BENCHMARK: Time: get:\d+ put:\d+ us# $")]
    private static partial Regex KsftPinFastLine();

    [GeneratedRegex(@"^GUP_FAST_BENCHMARK: Time: get:\d+ put:\d+ us, truncated \(size: 0\)$")]
    private static partial Regex TruncatedLine();

    [Fact]
    public void SeedCommand_OnTheDefaultMachine_PrintsOneLinePerRepeat()
    {
        var r = Run("-f", "/mnt/huge/file", "-m", "2048", "-r", "3", "-L", "-S", "-n", "512", "-w");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal(3, r.Lines.Length);
        Assert.All(r.Lines, l => Assert.Matches(PinLongtermLine(), l));
        // stdout is the selftest's alone; GupSim's closing line on stderr: 3 × 2 GiB / 4 KiB entries, two 1 GiB heads.
        Assert.Equal("gupsim: verified 3 ioctls: each of 1572864 pages[] entries is the struct page of the pfn the page table maps at its address "
            + "(by GupSim's own pfn→struct page map), and after each put the refcount and pincount of 2 compound heads and the pool counts of 2 hstates are back where they were\n", r.Stderr);
    }

    [Fact]
    public void Counters_AreDeterministic()
    {
        // 2 GiB of 1 GiB pages in 512-page calls on v5.12 (82e5d378b0e4): 1024 calls, one grab per call.
        var r = Run("-f", "/mnt/huge/file", "-m", "2048", "-L", "-S", "-n", "512", "-w", "--counters");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(
            "gupsim: counters (get): calls 1024, pages 524288, atomics 2048, struct pages touched 3068, pfn_to_page 2044, page_to_pfn 1020, section lookups 0, entries read 1024, pages[] writes 524288",
            r.Lines[1]);
    }

    [Fact]
    public void Trap2_MergedRecorderWith1000PageCalls_IsCaughtAtTheSectionBoundary_ThenTheUnpinMissesTheHead()
    {
        var r = Run("--kernel", "5.12", "--model", "sparsemem", "--placement", "scattered", "--seed", "3", "--ram", "0-3G,4G-12G",
            "--hugepages", "hugepagesz=1G hugepages=1", "-f", "/mnt/huge/f", "-m", "1024", "-b", "-S", "-n", "1000", "-w");
        // Section 79's memmap lies right above section 80's (top-down fallback, nothing between), so pages[32768] is
        // the valid struct page of pfn 79 × 32768 = 0x278000: the unpin drops that page's count, not the head's, and
        // nothing oopses; GupSim's verification fails (exit 1).
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("PIN_BASIC_TEST: done", r.Lines[0]);
        Assert.Equal("gupsim: verify: 3496 of 262144 pages[] entries wrong; first pages[32768] = 0xffff8882f6e00000: the struct page of pfn 0x278000 (section memmap (own memblock allocation, node 0)), expected the struct page of pfn 0x288000 (call 32)", r.Lines[1]);
        Assert.DoesNotContain("BUG: unable to handle page fault", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Trap2_SectionRunStrategy_IsRightAndBalanced()
    {
        var r = Run("--kernel", "5.12", "--model", "sparsemem", "--placement", "scattered", "--seed", "3", "--ram", "0-3G,4G-12G",
            "--hugepages", "hugepagesz=1G hugepages=1", "--strategy", "section-run", "-f", "/mnt/huge/f", "-m", "1024", "-b", "-S", "-n", "1000", "-w");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["PIN_BASIC_TEST: done"], r.Lines);
    }

    [Fact]
    public void OptionsAVersionDidNotHave_AreRefusedAsItsSelftestRefusedThem()
    {
        var old = Run("--kernel", "5.12", "-W");
        Assert.Equal(255, old.ExitCode);
        Assert.Equal("gup_test: invalid option -- 'W'", old.Stderr.Trim());
        var noThreads = Run("--kernel", "5.13", "-j", "2");
        Assert.Equal(255, noThreads.ExitCode);
        var ksft = Run("--kernel", "6.18", "-X");
        Assert.Equal(1, ksft.ExitCode);
        Assert.Equal(["Bail out! Wrong argument", "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0"], ksft.Lines);
    }

    [Fact]
    public void Kselftest_Output_OnRecentKernels()
    {
        var r = Run("--kernel", "6.18", "-a", "-n", "-1", "-m", "4");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal(5, r.Lines.Length);
        Assert.Equal("TAP version 13", r.Lines[0]);
        Assert.Equal("1..1", r.Lines[1]);
        Assert.Matches(KsftPinFastLine(), r.Lines[2]);
        Assert.Equal("ok 1 ioctl status 0", r.Lines[3]);
        Assert.Equal("# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0", r.Lines[4]);
    }

    [Theory]
    [InlineData("-1", false)] // one call for all 1024 pages: two PMD leaves in one gup-fast walk
    [InlineData("123", false)] // the call at page 492 runs into the second leaf
    [InlineData("1", true)] // -n 1 can never show it: one page per call
    [InlineData("512", true)] // each call is exactly one leaf, filled from pages[0] of that call
    public void MmUnstable202509_OnlyACallSpanningTwoLeavesOopses(string n, bool passes)
    {
        var r = Run("--kernel", "6.18", "--strategy", "mm-unstable-2025-09", "--mem", "4G", "--hugepages", "hugepagesz=2M hugepages=2",
            "-a", "-H", "-m", "4", "-n", n);
        if (passes)
        {
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            Assert.Matches(KsftPinFastLine(), r.Lines[2]);
            return;
        }
        // The second leaf's entries went to pages[0 …] of the call, its own slots stayed NULL (kvcalloc), and
        // verify_dma_pinned() oopses at the first NULL reading page->compound_head: the process dies after the TAP
        // header and plan, before the benchmark line (exit 2, docs/gup-test.md).
        Assert.Equal(2, r.ExitCode);
        Assert.Equal(["TAP version 13", "1..1"], r.Lines);
        Assert.Contains("BUG: unable to handle page fault for address: 0000000000000008", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Threads_EachPrintTheirLines()
    {
        var r = Run("--kernel", "6.1", "-a", "-m", "8", "-n", "64", "-r", "2", "-j", "3");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal(6, r.Lines.Length);
        Assert.All(r.Lines, l => Assert.StartsWith("PIN_FAST_BENCHMARK: Time: get:", l, StringComparison.Ordinal));
    }

    [Fact]
    public void FollTouchWithGupFast_IsRefused_SoNothingIsWalked()
    {
        // v5.13+ -z sets FOLL_TOUCH, which internal_get_user_pages_fast()'s allow-list refuses: WARN_ON_ONCE, then
        // -EINVAL on the first call.
        var r = Run("--kernel", "6.1", "-z", "-u", "-m", "4");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(2, r.Lines.Length);
        Assert.Matches(TruncatedLine(), r.Lines[0]);
        Assert.Equal("dmesg: WARNING: CPU: 0 PID: 1 at mm/gup.c internal_get_user_pages_fast", r.Lines[1]);
    }

    [Fact]
    public void DumpTest_DumpsTheChosenPages_AndZeroesOutOfRangeOnes()
    {
        var r = Run("-c", "-m", "1", "-T", "0", "19", "0x1000");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("DUMP_USER_PAGES_TEST: done", r.Lines[0]);
        Assert.Contains("dmesg: ZEROING due to out of range: .which_pages[2]: 4097", r.Lines);
        Assert.Contains(r.Lines, l => l.StartsWith("dmesg: ---- page #0, starting from user virt addr: 0x", StringComparison.Ordinal));
        Assert.Contains(r.Lines, l => l.StartsWith("dmesg: ---- page #19, starting from user virt addr: 0x", StringComparison.Ordinal));
        Assert.Equal(2, r.Lines.Count(l => l == "dmesg: page dumped because: gup_test: dump_pages() test"));
    }

    [Theory]
    [InlineData("5.12", "-w", 1025)] // flags &= FOLL_WRITE, and FOLL_WRITE == GUP_TEST_FLAG_DUMP_PAGES_USE_PIN: -w pins
    [InlineData("5.12", "-T", 2)]
    [InlineData("6.1", "-w", 2)] // v5.13 split gup_flags and test_flags
    [InlineData("6.1", "-p", 1025)]
    public void DumpTest_PinsOrGets_AsEachVersionReadsItsFlags(string kernel, string flag, int refcount)
    {
        var r = Run("--kernel", kernel, "-c", "-m", "1", "-T", flag);
        Assert.Equal(0, r.ExitCode);
        string page = r.Lines.First(l => l.StartsWith("dmesg: page:", StringComparison.Ordinal));
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $" refcount:{refcount} "), page, StringComparison.Ordinal);
    }

    [Fact]
    public void MmapFailure_IsTheSelftestsFailure()
    {
        var r = Run("-m", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("mmap: Invalid argument", r.Stderr.Trim());
    }

    [Fact]
    public void BadGupSimOptions_GetOneLine()
    {
        var r = Run("--bogus");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("gupsim: gup-test: unrecognized option '--bogus' (gup_test's own flags are single letters; try 'gupsim gup-test --help')\n", r.Stderr);
        var s = Run("--strategy", "nope", "-m", "1");
        Assert.Equal(1, s.ExitCode);
        Assert.StartsWith("gupsim: unknown strategy 'nope'", s.Stderr, StringComparison.Ordinal);
        var f = Run("-f", "relative/file", "-m", "1");
        Assert.Equal(1, f.ExitCode);
        Assert.Single(f.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void NewEmptyFileOnExt4_TheTouchLoopDiesOfSigbus()
    {
        // open(O_CREAT) makes an empty file; writing to its mapping past i_size is SIGBUS, as on Linux.
        var r = Run("-f", "/tmp/gup-file", "-m", "1");
        Assert.Equal(128 + 7, r.ExitCode);
        Assert.StartsWith("gup_test: killed by SIGBUS writing 0x", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void SharedDevZero_IsShmem_AndTheMatrixShapesRun()
    {
        foreach (var args in new[] { new[] { "-S", "-t", "-a", "-n", "123", "-m", "8" }, ["-S", "-T", "-U", "-n", "1", "-m", "4"], ["--kernel", "6.1", "-S", "-T", "-L", "-W", "-n", "512", "-m", "4"] })
        {
            var r = Run(args);
            Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
            Assert.DoesNotContain("gupsim:", r.Stdout, StringComparison.Ordinal);
        }
    }
}

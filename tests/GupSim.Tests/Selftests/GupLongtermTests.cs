using System.Globalization;
using System.Text;
using GupSim.Arch;
using GupSim.Cli;
using GupSim.Config;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Selftests;

using GupSim.Tests.Cli;

namespace GupSim.Tests.Selftests;

/// <summary>
/// `gupsim gup-longterm`: the TAP stream of tools/testing/selftests/mm/gup_longterm.c line for line on kernels before
/// (v6.1) and after (v6.5) the FOLL_LONGTERM file-write rule, the v6.17 result names, old kernels without the
/// ioctls or the module, and the gup_test PIN_LONGTERM_TEST ioctls on their own.
/// </summary>
public sealed class GupLongtermTests
{
    private static CliResult Cli(params string[] args) => CliRun.Run(["gup-longterm", .. args]);

    private static readonly string[] Cases =
    [
        "R/W longterm GUP pin in MAP_SHARED file mapping",
        "R/W longterm GUP-fast pin in MAP_SHARED file mapping",
        "R/O longterm GUP pin in MAP_SHARED file mapping",
        "R/O longterm GUP-fast pin in MAP_SHARED file mapping",
        "R/W longterm GUP pin in MAP_PRIVATE file mapping",
        "R/W longterm GUP-fast pin in MAP_PRIVATE file mapping",
        "R/O longterm GUP pin in MAP_PRIVATE file mapping",
        "R/O longterm GUP-fast pin in MAP_PRIVATE file mapping",
    ];

    /// <summary>
    /// The output the v6.5 selftest prints, built from the selftest's own test table (tools/testing/selftests/mm/gup_longterm.c) rather than from GupSim's code:
    /// <paramref name="outcome"/> gives the result text after "ok N " / "not ok N " for (case index, backing) and
    /// whether it is an "ok" line.
    /// </summary>
    private static (string Text, int Pass, int Fail, int Skip) Expected(int[] hugeKb, Func<int, string, (bool Ok, string Text)> outcome)
    {
        var sb = new StringBuilder();
        foreach (int kb in hugeKb) sb.Append(CultureInfo.InvariantCulture, $"# [INFO] detected hugetlb page size: {kb} KiB\n");
        sb.Append("TAP version 13\n");
        sb.Append(CultureInfo.InvariantCulture, $"1..{Cases.Length * (3 + hugeKb.Length)}\n");
        int n = 0, pass = 0, fail = 0, skip = 0;
        var backings = new List<string> { "memfd", "tmpfile", "local tmpfile" };
        backings.AddRange(hugeKb.Select(kb => string.Create(CultureInfo.InvariantCulture, $"memfd hugetlb ({kb} kB)")));
        for (int c = 0; c < Cases.Length; c++)
        {
            foreach (string b in backings)
            {
                var (ok, text) = outcome(c, b);
                sb.Append(CultureInfo.InvariantCulture, $"# [RUN] {Cases[c]} ... with {b}\n");
                sb.Append(CultureInfo.InvariantCulture, $"{(ok ? "ok" : "not ok")} {++n} {text}\n");
                if (!ok) fail++;
                else if (text.StartsWith("# SKIP", StringComparison.Ordinal)) skip++;
                else pass++;
            }
        }
        sb.Append(CultureInfo.InvariantCulture, $"# Totals: pass:{pass} fail:{fail} xfail:0 xpass:0 skip:{skip} error:0\n");
        return (sb.ToString(), pass, fail, skip);
    }

    private const string NeedMore = "# SKIP need more free huge pages";

    /// <summary>gup_longterm.c: shared R/W on ext4 must fail from v6.5 and is reported as a failure before.</summary>
    private static (bool, string) Table(int c, string backing, bool rule, bool tmpIsExt4, bool localIsExt4, Func<int, string, string?>? huge = null)
    {
        if (huge?.Invoke(c, backing) is { } h) return (true, h);
        bool sharedRw = c < 2;
        bool ext4 = (backing == "tmpfile" && tmpIsExt4) || (backing == "local tmpfile" && localIsExt4);
        if (sharedRw && ext4) return rule ? (true, "Should have failed") : (false, "Should have worked");
        return (true, "Should have worked");
    }

    [Fact]
    public void DefaultMachine_V6_5_SharedRwOnExt4Fails_No2MPagesSkips_Exit0()
    {
        var r = Cli(); // the command's default kernel is v6.5, the selftest's first release
        var (text, pass, fail, skip) = Expected([2048, 1048576],
            (c, b) => Table(c, b, rule: true, tmpIsExt4: true, localIsExt4: true, (_, bk) => bk == "memfd hugetlb (2048 kB)" ? NeedMore : null));
        Assert.Equal(text, r.Stdout);
        Assert.Equal((32, 0, 8), (pass, fail, skip));
        Assert.Equal(0, r.ExitCode);
        // GupSim's closing line: 32 tests reach PIN_LONGTERM_TEST_START (the 8 of 2 MiB skip before), 4 of them get the
        // expected -EFAULT, so 28 pins are checked: 20 of one 4 KiB page, 8 of a 1 GiB page (262144 entries); every test
        // that reached START has its one head's counts compared.
        Assert.Equal("gupsim: verified 28 PIN_LONGTERM_TEST_START/STOP pairs: each of " + (20 + 8 * 262144) + " pinned entries is the struct page of the pfn the page table maps at its address (by GupSim's own pfn→struct page map); after each test the refcount and pincount of every compound head it mapped (32 in all) and the hugetlb pools are back where they were, and after exit the free pages and pools are back to their values before the run\n", r.Stderr);
        // Literal spot checks against the selftest's own strings.
        Assert.Contains("# [RUN] R/W longterm GUP-fast pin in MAP_SHARED file mapping ... with local tmpfile\nok 8 Should have failed\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("# [RUN] R/O longterm GUP-fast pin in MAP_PRIVATE file mapping ... with memfd hugetlb (2048 kB)\nok 39 # SKIP need more free huge pages\n", r.Stdout, StringComparison.Ordinal);
    }

    private const string TwoMegMachine = "hugepagesz=2M hugepages=2 hugepagesz=1G hugepages=2";

    [Fact]
    public void TwoMegPages_V6_1_SharedRwOnExt4PinsAndTheSelftestFails_Exit1()
    {
        var r = Cli("--kernel", "6.1", "--mem", "4G", "--hugepages", TwoMegMachine);
        var (text, pass, fail, skip) = Expected([2048, 1048576], (c, b) => Table(c, b, rule: false, tmpIsExt4: true, localIsExt4: true));
        Assert.Equal(text, r.Stdout);
        Assert.Equal((36, 4, 0), (pass, fail, skip));
        Assert.Contains("# [RUN] R/W longterm GUP pin in MAP_SHARED file mapping ... with tmpfile\nnot ok 2 Should have worked\n", r.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("# Totals: pass:36 fail:4 xfail:0 xpass:0 skip:0 error:0\n", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, r.ExitCode);
        // Then GupSim's closing line: v6.1 pins all 40 (24 files of one 4 KiB page, 8 of 2 MiB = 512 entries, 8 of 1 GiB).
        Assert.Equal("gupsim: gup_longterm is not in the v6.1 tree (it arrived in v6.5); running the v6.5 selftest against the v6.1 kernel\n"
            + "gupsim: verified 40 PIN_LONGTERM_TEST_START/STOP pairs: each of " + (24 + 8 * 512 + 8 * 262144) + " pinned entries is the struct page of the pfn the page table maps at its address (by GupSim's own pfn→struct page map); after each test the refcount and pincount of every compound head it mapped (40 in all) and the hugetlb pools are back where they were, and after exit the free pages and pools are back to their values before the run\n", r.Stderr);
    }

    [Fact]
    public void TwoMegPages_V6_6_TmpfsOnTmp_AllPass_OnePrivate2MPageShortSkips()
    {
        // One free 2 MiB page: the shared cases use the page cache page; a private mapping also needs a reservation
        // for its COW copy, so mmap() fails and the selftest skips.
        var r = Cli("--kernel", "6.6", "--mem", "4G", "--hugepages", "hugepagesz=2M hugepages=1 hugepagesz=1G hugepages=2", "--tmp-fs", "tmpfs");
        var (text, pass, fail, skip) = Expected([2048, 1048576],
            (c, b) => Table(c, b, rule: true, tmpIsExt4: false, localIsExt4: true, (ci, bk) => ci >= 4 && bk == "memfd hugetlb (2048 kB)" ? NeedMore : null));
        Assert.Equal(text, r.Stdout);
        Assert.Equal((36, 0, 4), (pass, fail, skip));
        Assert.Contains("... with tmpfile\nok 2 Should have worked\n", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, r.ExitCode);
    }

    [Fact]
    public void V6_17_ResultLinesCarryTheTestName_UnknownFsPrintsNoResult_PlannedNotRun()
    {
        var r = Cli("--kernel", "6.17", "--mem", "2G", "--hugepages", "hugepagesz=2M hugepages=0", "--local-fs", "other");
        string[] lines = r.Stdout.Split('\n');
        Assert.Equal("1..40", lines[3]);
        Assert.Contains("# [RUN] R/W longterm GUP pin in MAP_SHARED file mapping ... with memfd\nok 1 R/W longterm GUP pin in MAP_SHARED file mapping ... with memfd\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("... with tmpfile\nok 2 R/W longterm GUP pin in MAP_SHARED file mapping ... with tmpfile\n", r.Stdout, StringComparison.Ordinal);
        // The "Unknown filesystem" path returns before log_test_result(): no result line, the next test takes number 3.
        Assert.Contains("# [RUN] R/W longterm GUP pin in MAP_SHARED file mapping ... with local tmpfile\n# Unknown filesystem\n"
            + "# [RUN] R/W longterm GUP pin in MAP_SHARED file mapping ... with memfd hugetlb (2048 kB)\n# need more free huge pages\n"
            + "ok 3 # SKIP R/W longterm GUP pin in MAP_SHARED file mapping ... with memfd hugetlb (2048 kB)\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("... with local tmpfile\nok 11 R/O longterm GUP pin in MAP_SHARED file mapping ... with local tmpfile\n", r.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("# Planned tests != run tests (40 != 38)\n# Totals: pass:22 fail:0 xfail:0 xpass:0 skip:16 error:0\n", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, r.ExitCode); // ksft_finished(): 38 passed or skipped of 40 planned
    }

    [Fact]
    public void V6_5_UnknownFs_SkipsSharedRwOnly_Exit0()
    {
        var m = SmallMachine("6.5", "hugepagesz=2M hugepages=0");
        var (run, stdout) = RunApi(m, new GupLongtermOptions { LocalFs = FsType.Other });
        Assert.Equal(0, run.Exit);
        Assert.Contains("... with local tmpfile\nok 3 # SKIP Unknown filesystem\n", stdout, StringComparison.Ordinal);
        Assert.Contains("... with local tmpfile\nok 8 # SKIP Unknown filesystem\n", stdout, StringComparison.Ordinal);
        Assert.Contains("... with local tmpfile\nok 13 Should have worked\n", stdout, StringComparison.Ordinal);
        Assert.Equal(40, run.Program.Results.Count);
        Assert.All(run.Program.Results, t => Assert.NotNull(t.Result));
    }

    [Fact]
    public void BeforeV6_1_StartIsAnUnknownIoctl_TheSkipMessageHasNoNewline()
    {
        var r = Cli("--kernel", "5.12", "--mem", "2G", "--hugepages", "hugepagesz=2M hugepages=0");
        // "PIN_LONGTERM_TEST_START failed (EINVAL)n": the format lacks its backslash, so the next line runs on.
        Assert.Contains("# [RUN] R/W longterm GUP pin in MAP_SHARED file mapping ... with memfd\n"
            + "ok 1 # SKIP PIN_LONGTERM_TEST_START failed (EINVAL)n# [RUN] R/W longterm GUP pin in MAP_SHARED file mapping ... with tmpfile\n"
            + "ok 2 # SKIP PIN_LONGTERM_TEST_START failed (EINVAL)n# [RUN] ", r.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("ok 40 # SKIP need more free huge pages\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:40 error:0\n", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("running the v6.5 selftest against the v5.12 kernel", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void BeforeV5_11_NoGupTestFile_SkipsAfterTheSetup()
    {
        var r = Cli("--kernel", "5.10", "--mem", "2G", "--hugepages", "hugepagesz=2M hugepages=0");
        Assert.Contains("... with memfd\nok 1 # SKIP gup_test not available\n", r.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:40 error:0\n", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, r.ExitCode);
    }

    [Theory]
    [InlineData("--selftest", "6.1", "gupsim: gup_longterm did not exist before v6.5")]
    [InlineData("--local-fs", "hugetlbfs", "gupsim: gup-longterm: the test directory and /tmp take tmpfs")]
    [InlineData("--tmp-fs", "zfs", "gupsim: unknown filesystem 'zfs'")]
    [InlineData("--verify", "maybe", "gupsim: --verify maybe: use on or off")]
    public void BadInput_OneLineError_Exit1(string option, string value, string error)
    {
        var r = Cli("--kernel", "6.5", "--mem", "2G", option, value);
        Assert.Equal(ExitCodes.BadInput, r.ExitCode);
        Assert.StartsWith(error, r.Stderr, StringComparison.Ordinal);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void SelftestOption_V6_17TreeOnAV6_5Kernel_UsesTheNewNames()
    {
        var m = SmallMachine("6.5", "hugepagesz=2M hugepages=0");
        var (run, stdout) = RunApi(m, new GupLongtermOptions { SelftestVersion = KernelVersion.FromNumbers(6, 17) });
        Assert.Contains("... with tmpfile\nok 2 R/W longterm GUP pin in MAP_SHARED file mapping ... with tmpfile\n", stdout, StringComparison.Ordinal);
        Assert.Equal(0, run.Exit);
        Assert.Equal("", run.Stderr);
    }

    [Fact]
    public void Run_LeavesFreePagesAndPoolsAsTheyWere_AndPrintsNoTapHeaderUnderKsftTapLevel()
    {
        var m = SmallMachine("6.6", TwoMegMachine);
        ulong free0 = m.FreePagesTotal, slab0 = m.Slub.SlabPages;
        var pools0 = m.Hugetlb.Hstates.Select(h => (h.NrHugePages, h.FreeHugePages, h.ResvHugePages, h.SurplusHugePages)).ToArray();
        var (run, stdout) = RunApi(m, new GupLongtermOptions { PrintTapHeader = false, LocalFs = FsType.Xfs, TmpFs = FsType.Btrfs });
        Assert.Equal(0, run.Exit);
        Assert.False(run.Program.VerificationFailed);
        Assert.DoesNotContain("TAP version", stdout, StringComparison.Ordinal);
        Assert.StartsWith("# [INFO] detected hugetlb page size: 2048 KiB\n# [INFO] detected hugetlb page size: 1048576 KiB\n1..40\n", stdout, StringComparison.Ordinal);
        Assert.Equal(4, run.Program.Results.Count(t => t.Message == "Should have failed"));
        // The inode and anon_vma caches keep their slab pages after the run: free pages balance with them counted.
        Assert.Equal(free0 + slab0, m.FreePagesTotal + m.Slub.SlabPages);
        Assert.Equal(0, m.Vfs.Objects.InUse);
        Assert.Equal(pools0, m.Hugetlb.Hstates.Select(h => (h.NrHugePages, h.FreeHugePages, h.ResvHugePages, h.SurplusHugePages)).ToArray());
        Assert.Equal(FsType.Btrfs, m.Vfs.FsTypeOf("/tmp/x"));
        Assert.Equal(FsType.Xfs, m.Vfs.FsTypeOf(GupLongtermOptions.DefaultTestDirectory + "/x"));
        Assert.All(m.Vfs.Mounts, mt => Assert.Empty(mt.Files)); // mkstemp()'s files were unlinked
        Assert.Empty(m.Vfs.LiveInodes);
    }

    [Fact]
    public void DetectHugetlbPageSizes_FollowsKernfsHashOrder()
    {
        // The orders of public gup_longterm logs: x86_64 2048, 1048576; arm64 4K 2048, 32768, 64, 1048576 (KiB).
        static string[] Sorted(params string[] names) => [.. names.OrderBy(n => GupLongterm.KernfsNameHash(n, 64))];
        Assert.Equal(["hugepages-2048kB", "hugepages-1048576kB"], Sorted("hugepages-1048576kB", "hugepages-2048kB"));
        Assert.Equal(["hugepages-2048kB", "hugepages-32768kB", "hugepages-64kB", "hugepages-1048576kB"],
            Sorted("hugepages-64kB", "hugepages-2048kB", "hugepages-32768kB", "hugepages-1048576kB"));
        Assert.Equal(710056882u, GupLongterm.KernfsNameHash("hugepages-2048kB", 64));
        var arm = new MachineOptions { Arch = "arm64-4k", Kernel = "6.6", Mem = "2G" }.Boot();
        Assert.Equal([2UL << 20, 32UL << 20, 64UL << 10, 1UL << 30], GupLongterm.DetectHugetlbPageSizes(arm));
    }

    [Fact]
    public void KselftestTap_PrintsLikeKselftestH()
    {
        var w = new StringWriter(CultureInfo.InvariantCulture);
        var tap = new KselftestTap(w);
        tap.PrintHeader();
        tap.SetPlan(4);
        tap.PrintMsg("[RUN] x\n");
        tap.Result(true, "a\n");
        tap.Result(false, "b\n");
        tap.Skip("c\n");
        tap.Result(KsftResult.XFail, "d\n");
        Assert.Equal(0 + 1, tap.Finished()); // one failure
        Assert.Equal("TAP version 13\n1..4\n# [RUN] x\nok 1 a\nnot ok 2 b\nok 3 # SKIP c\nok 4 # XFAIL d\n# Totals: pass:1 fail:1 xfail:1 xpass:0 skip:1 error:0\n", w.ToString());
        var all = new KselftestTap(TextWriter.Null);
        all.SetPlan(1);
        all.Skip("only\n");
        Assert.Equal(0, all.Finished()); // everything skipped still passes
    }

    [Fact]
    public void PinLongtermTestIoctls_ArgumentChecks_StartStopRead_AndTheFileWriteRule()
    {
        var m = SmallMachine("6.5", "hugepagesz=2M hugepages=0");
        var mm = MmStruct.Create(m)!;
        var t = new PinLongtermTest(m);
        Assert.Equal(0, m.Vfs.MemfdCreate("test", out var memfd));
        Assert.Equal(0, memfd!.Ftruncate(2 * 4096));
        ulong a = (ulong)mm.Mmap(0, 2 * 4096, Prot.Read | Prot.Write, MapFlags.Shared, memfd.Inode);
        ulong buf = (ulong)mm.Mmap(0, 2 * 4096, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        ulong free0 = m.FreePagesTotal, slab0 = m.Slub.SlabPages;
        int EINVAL = -(int)Errno.EINVAL;

        Assert.Equal(EINVAL, t.Start(mm, new PinLongtermTestArgs { Addr = a, Size = 4096, Flags = 4 }));
        Assert.Equal(EINVAL, t.Start(mm, new PinLongtermTestArgs { Addr = a + 1, Size = 4096 }));
        Assert.Equal(EINVAL, t.Start(mm, new PinLongtermTestArgs { Addr = a, Size = 100 }));
        Assert.Equal(EINVAL, t.Start(mm, new PinLongtermTestArgs { Addr = a, Size = 0 }));
        Assert.Equal(EINVAL, t.Read(mm, buf)); // nothing started
        Assert.Equal(0, t.Stop());             // stopping nothing is fine

        // The user writes a pattern into each memfd page (the cow selftest's memset()).
        Assert.Equal(VmFault.None, mm.UserWritePage(a, PageContents.UserPattern(a)));
        Assert.Equal(VmFault.None, mm.UserWritePage(a + 4096, PageContents.UserPattern(a + 4096)));

        // START keeps the memfd pages pinned until STOP.
        Assert.Equal(0, t.Ioctl(mm, PinLongtermTestCmd.Start, new PinLongtermTestArgs { Addr = a, Size = 2 * 4096, Flags = PinLongtermTest.FlagUseWrite }));
        Assert.Equal(2, t.PinnedPages);
        var pinned = t.PinnedPagesSnapshot();
        Assert.All(pinned, p => Assert.True(m.Grab.PageMaybeDmaPinned(p)));
        Assert.Equal(EINVAL, t.Start(mm, new PinLongtermTestArgs { Addr = a, Size = 4096 })); // one test at a time
        Assert.Equal(0, t.Ioctl(mm, PinLongtermTestCmd.Read, userAddr: buf));
        // READ copied each pinned page into the buffer, in order: the buffer reads what the user wrote into the memfd.
        Assert.Equal(VmFault.None, mm.UserReadPage(buf, out ulong got0, out bool patched0));
        Assert.Equal(VmFault.None, mm.UserReadPage(buf + 4096, out ulong got1, out _));
        Assert.Equal((PageContents.UserPattern(a), false), (got0, patched0));
        Assert.Equal(PageContents.UserPattern(a + 4096), got1);
        Assert.Equal(-(int)Errno.EFAULT, t.Read(mm, 0x1000)); // nothing mapped there
        // Unaligned: each page's copy straddles two buffer pages; the second copy reaches a hole (the third page, unmapped).
        ulong buf3 = (ulong)mm.Mmap(0, 3 * 4096, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(0, mm.Munmap(buf3 + 2 * 4096, 4096));
        Assert.Equal(-(int)Errno.EFAULT, t.Read(mm, buf3 + 8));
        Assert.Equal(VmFault.None, mm.UserReadPage(buf3, out ulong mixed, out _));
        Assert.NotEqual(PageContents.UserPattern(a), mixed);
        Assert.NotEqual(PageContents.Zero, mixed);
        Assert.Equal(0, t.Ioctl(mm, PinLongtermTestCmd.Stop));
        Assert.Equal(0, t.PinnedPages);
        Assert.All(pinned, p => Assert.False(m.Grab.PageMaybeDmaPinned(p)));

        // Shared R/W ext4: −EFAULT from v6.5, slow and fast, with nothing left pinned.
        var ext4 = m.Vfs.Open("/data-file");
        Assert.Equal(0, ext4.Ftruncate(4096));
        ulong e = (ulong)mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Shared, ext4.Inode);
        Assert.Equal(VmFault.None, mm.UserAccess(e, write: true, out _));
        foreach (uint fast in new[] { 0u, PinLongtermTest.FlagUseFast })
        {
            Assert.Equal(-(int)Errno.EFAULT, t.Start(mm, new PinLongtermTestArgs { Addr = e, Size = 4096, Flags = PinLongtermTest.FlagUseWrite | fast }));
            Assert.False(t.IsStarted);
            Assert.Equal(0, t.Start(mm, new PinLongtermTestArgs { Addr = e, Size = 4096, Flags = fast })); // R/O works
            Assert.Equal(0, t.Release()); // close(): gup_test_release() stops it
            Assert.False(t.IsStarted);
        }
        mm.Destroy();
        Assert.Equal(0, memfd.Close());
        Assert.Equal(0, ext4.Close());
        Assert.Equal(0, m.Vfs.Unlink("/data-file"));
        Assert.True(m.FreePagesTotal + m.Slub.SlabPages >= free0 + slab0); // slab pages stay with their caches
    }

    [Fact]
    public void PinLongtermTestIoctls_BeforeV6_1_AreUnknown()
    {
        var m = SmallMachine("5.18", "hugepagesz=2M hugepages=0");
        var mm = MmStruct.Create(m)!;
        var t = new PinLongtermTest(m);
        ulong a = (ulong)mm.Mmap(0, 4096, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(-(int)Errno.EINVAL, t.Start(mm, new PinLongtermTestArgs { Addr = a, Size = 4096 }));
        Assert.Equal(-(int)Errno.EINVAL, t.Stop());
        Assert.Equal(-(int)Errno.EINVAL, t.Read(mm, a));
        Assert.False(PinLongtermTest.Exists(KernelVersion.V5_18));
        Assert.True(PinLongtermTest.Exists(KernelVersion.V6_1));
        mm.Destroy();
    }

    private static Machine SmallMachine(string kernel, string hugepages) =>
        new MachineOptions { Kernel = kernel, Mem = "4G", Hugepages = hugepages }.Boot();

    private sealed record ApiRun(int Exit, GupLongterm Program, string Stderr);

    private static (ApiRun Run, string Stdout) RunApi(Machine m, GupLongtermOptions options)
    {
        var program = new GupLongterm(m, options);
        var stdout = new StringWriter(CultureInfo.InvariantCulture);
        var stderr = new StringWriter(CultureInfo.InvariantCulture);
        int exit = program.Run(stdout, stderr);
        return (new ApiRun(exit, program, stderr.ToString()), stdout.ToString());
    }
}

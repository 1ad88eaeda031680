using System.Globalization;
using System.IO.Compression;
using GupSim.Arch;
using GupSim.Cli;
using GupSim.Config;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Memory;

namespace GupSim.Tests.Cli;

/// <summary>
/// Bad input gets one line on stderr, <c>gupsim: …</c>, in the system's words (strerror(3), getopt), with what to do
/// next, and exit 1; stdout stays empty (no help dump, no stack trace). Issue 9 §4, case by case.
/// </summary>
public sealed class CliErrorTests : IDisposable
{
    private const string ConfigAdvice = "(--config wants a kernel .config: /boot/config-$(uname -r), /proc/config.gz or a build tree's .config)";
    private const string AssemblyAdvice = "(--strategy-assembly wants the .dll that dotnet build makes of a project implementing GupSim.Gup.ISubpageRecorder, e.g. samples/GupSim.Samples.Recorder)";
    private const string ScenarioAdvice = "(scenario wants a script file (docs/scenarios.md), or - for standard input)";
    private const string PlotAdvice = "(--plot wants a .png or .svg file in a folder you can write to)";
    private const string Modelled = "GupSim models v5.10 to v7.1 (documented: 5.11, 5.12, 5.14, 5.18, 6.1, 6.6, 6.7, 6.18, 6.19, 7.0, 7.1)";

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gupsim-errors-" + Guid.NewGuid().ToString("N"));

    public CliErrorTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);


    private static CliResult Run(params string[] args) => CliRun.Run(args);

    /// <summary>Exit 1, exactly <paramref name="line"/> and a newline on stderr, nothing on stdout.</summary>
    private static void AssertOneLine(CliResult r, string line)
    {
        Assert.Equal(line + "\n", r.Stderr);
        Assert.Equal(ExitCodes.BadInput, r.ExitCode);
        Assert.Equal("", r.Stdout);
    }

    private static string KernelConfig(string name) => Path.Combine(AppContext.BaseDirectory, "data", "kernel-configs", name);

    // ---- --config, scenario, --strategy-assembly: missing, a folder, not the right kind of file ----

    [Fact]
    public void Config_MissingFile_NoSuchFileOrDirectory()
    {
        string path = Path.Combine(_dir, "no-such.config");
        AssertOneLine(Run("layout", "--config", path), $"gupsim: {path}: No such file or directory {ConfigAdvice}");
    }

    [Fact]
    public void Config_MissingFolderOnTheWay_NoSuchFileOrDirectory()
    {
        // .NET says "Could not find a part of the path" here; open(2) says ENOENT.
        string path = Path.Combine(_dir, "no-such-dir", "x.config");
        AssertOneLine(Run("layout", "--config", path), $"gupsim: {path}: No such file or directory {ConfigAdvice}");
    }

    [Fact]
    public void Config_Folder_IsADirectory()
    {
        AssertOneLine(Run("layout", "--config", _dir), $"gupsim: {_dir}: Is a directory {ConfigAdvice}");
    }

    [Fact]
    public void Config_GzipMagicButNoGzip_OneLine()
    {
        string path = Path.Combine(_dir, "broken.gz");
        File.WriteAllBytes(path, [0x1f, 0x8b, 0x00, 0x01, 0x02]);
        AssertOneLine(Run("layout", "--config", path),
            $"gupsim: {path}: not in gzip format: the file starts like gzip (1f 8b) but does not decompress {ConfigAdvice}");
    }

    [Fact]
    public void Config_Gzipped_ReadsAsThePlainFile()
    {
        // /proc/config.gz: the same .config gzip-compressed, found by its magic bytes, not its name.
        string plain = KernelConfig("6.1-amd64_none_amd64.config");
        string gz = Path.Combine(_dir, "config-no-extension");
        using (var output = File.Create(gz))
        using (var zip = new GZipStream(output, CompressionLevel.Fastest))
            zip.Write(File.ReadAllBytes(plain));
        Assert.Equal(new byte[] { 0x1f, 0x8b }, File.ReadAllBytes(gz)[..2]);

        var fromPlain = Run("layout", "--config", plain, "--json");
        var fromGzip = Run("layout", "--config", gz, "--json");

        Assert.Equal(0, fromGzip.ExitCode);
        Assert.Equal(fromPlain.Stderr, fromGzip.Stderr);
        // The header "# Linux/x86 6.1.192 Kernel Configuration", CONFIG_X86_5LEVEL=y and CONFIG_SPARSEMEM_VMEMMAP=y, read from the gzip.
        Assert.Contains("\"arch\": \"x86_64-5level\"", fromGzip.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"kernel\": \"6.1\"", fromGzip.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"memoryModel\": \"sparsemem-vmemmap\"", fromGzip.Stdout, StringComparison.Ordinal);
        // The source line names the file as given; everything else is the plain file's layout.
        Assert.Equal(fromPlain.Stdout.Replace(Path.GetFileName(plain), "F", StringComparison.Ordinal),
            fromGzip.Stdout.Replace(Path.GetFileName(gz), "F", StringComparison.Ordinal));
    }

    [Fact]
    public void Scenario_MissingFile_NoSuchFileOrDirectory()
    {
        string path = Path.Combine(_dir, "no-such.scenario");
        AssertOneLine(Run("scenario", path), $"gupsim: {path}: No such file or directory {ScenarioAdvice}");
    }

    [Fact]
    public void Scenario_Folder_IsADirectory()
    {
        AssertOneLine(Run("scenario", _dir), $"gupsim: {_dir}: Is a directory {ScenarioAdvice}");
    }

    [Fact]
    public void StrategyAssembly_MissingFile_NoSuchFileOrDirectory()
    {
        string path = Path.Combine(_dir, "no-such.dll");
        AssertOneLine(Run("gup-test", "--mem", "2G", "--strategy-assembly", path, "-m", "2"),
            $"gupsim: --strategy-assembly {path}: No such file or directory {AssemblyAdvice}");
    }

    [Fact]
    public void StrategyAssembly_Folder_IsADirectory()
    {
        AssertOneLine(Run("gup-test", "--mem", "2G", "--strategy-assembly", _dir, "-m", "2"),
            $"gupsim: --strategy-assembly {_dir}: Is a directory {AssemblyAdvice}");
    }

    [Fact]
    public void StrategyAssembly_NotAnAssembly_SaysSo()
    {
        // .NET says "Bad IL format. The format of the file ... is invalid."
        string path = Path.Combine(_dir, "text.dll");
        File.WriteAllText(path, "not a PE image");
        AssertOneLine(Run("gup-test", "--mem", "2G", "--strategy-assembly", path, "-m", "2"),
            $"gupsim: --strategy-assembly {path}: not a .NET assembly {AssemblyAdvice}");
    }

    // ---- option values ----

    [Fact]
    public void Seed_NotANumber_NoSystemUInt64()
    {
        AssertOneLine(Run("layout", "--seed", "abc"), "gupsim: --seed: 'abc' is not a number (use a decimal or 0x… value)");
    }

    [Fact]
    public void Seed_HexAccepted()
    {
        var r = Run("layout", "--mem", "1G", "--seed", "0x10");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public void IntOption_NotANumber_NoSystemInt32()
    {
        AssertOneLine(Run("bench", "--rounds", "many"), "gupsim: --rounds: 'many' is not a number (use a decimal number)");
    }

    // ---- parser errors: one line and where to look, no help dump ----

    [Fact]
    public void UnknownOption_OneLineAndTryHelp()
    {
        AssertOneLine(Run("layout", "--bogus"), "gupsim: layout: unrecognized option '--bogus' (try 'gupsim layout --help')");
    }

    [Fact]
    public void UnknownCommand_ListsTheCommands()
    {
        AssertOneLine(Run("bogus"),
            "gupsim: 'bogus' is not a gupsim command: use one of layout, walk, page, pfn, scenario, gup-test, gup-longterm, bench, run-vmtests, check, history, report, crash, explain, audit (try 'gupsim --help')");
    }

    [Fact]
    public void NoCommand_ListsTheCommands()
    {
        AssertOneLine(Run(), "gupsim: give a command: layout, walk, page, pfn, scenario, gup-test, gup-longterm, bench, run-vmtests, check, history, report, crash, explain, audit (try 'gupsim --help')");
    }

    [Fact]
    public void UnexpectedArgument_OneLine()
    {
        AssertOneLine(Run("layout", "extra"), "gupsim: layout: unexpected argument 'extra' (try 'gupsim layout --help')");
    }

    [Fact]
    public void MissingArgument_OneLine()
    {
        AssertOneLine(Run("scenario"), "gupsim: scenario: missing the <file> argument: the script, or - for standard input (try 'gupsim scenario --help')");
    }

    [Fact]
    public void MissingOptionValue_OneLine()
    {
        AssertOneLine(Run("layout", "--config"), "gupsim: layout: option '--config' requires an argument (file) (try 'gupsim layout --help')");
    }

    [Fact]
    public void MissingRequiredOption_OneLine()
    {
        AssertOneLine(Run("walk"), "gupsim: walk: option '--pfn' is required: start pfn (decimal or 0x hex) (try 'gupsim walk --help')");
    }

    [Fact]
    public void UnknownLongOptionToGupTestAndBench_OneLine()
    {
        AssertOneLine(Run("gup-test", "--bogus"),
            "gupsim: gup-test: unrecognized option '--bogus' (gup_test's own flags are single letters; try 'gupsim gup-test --help')");
        AssertOneLine(Run("bench", "--bogus"),
            "gupsim: bench: unrecognized option '--bogus' (gup_test's own flags are single letters; try 'gupsim bench --help')");
        AssertOneLine(Run("run-vmtests", "--bogus"), "gupsim: run-vmtests: unrecognized option '--bogus' (try 'gupsim run-vmtests --help')");
    }

    [Fact]
    public void Help_NamesGupsim_AndTheGupTestFlags_NotTheAdditionalArguments()
    {
        var r = Run("gup-test", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Stderr);
        Assert.Contains("Usage:\n  gupsim gup-test [options] [gup_test flags...]\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("  -L       PIN_LONGTERM_BENCHMARK                 -c       DUMP_USER_PAGES_TEST [page indices]\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("  -m MB    mapping size in MiB (default 128)      -r N     repeats of each ioctl (default 1)\n", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("additional arguments", r.Stdout, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Arguments passed to the application", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("GupSim.Cli", r.Stdout, StringComparison.Ordinal);

        var root = Run("--help");
        Assert.Contains("Usage:\n  gupsim [command] [options]\n", root.Stdout, StringComparison.Ordinal);
        var bench = Run("bench", "--help");
        Assert.Contains("Usage:\n  gupsim bench [options] [gup_test flags...]\n", bench.Stdout, StringComparison.Ordinal);
        var vmtests = Run("run-vmtests", "--help");
        Assert.Contains("Usage:\n  gupsim run-vmtests [options]\n", vmtests.Stdout, StringComparison.Ordinal);
        Assert.Contains("  -c       DUMP_USER_PAGES_TEST", vmtests.Stdout, StringComparison.Ordinal);
        var scenario = Run("scenario", "--help");
        Assert.Contains("Usage:\n  gupsim scenario <file> [options]\n", scenario.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void RewriteHelp_DropsTheAdditionalArgumentsSection()
    {
        const string help = "Description:\n  d\n\nUsage:\n  testhost gup-test [options] [[--] <additional arguments>...]]\n\n"
            + "Options:\n  --x  y\n\nAdditional Arguments:\n  Arguments passed to the application that is being run.\n";
        Assert.Equal("Description:\n  d\n\nUsage:\n  gupsim gup-test [options] [gup_test flags...]\n\nOptions:\n  --x  y\n",
            Program.RewriteHelp(help, "testhost"));
    }

    // ---- --kernel outside the modelled range ----

    [Theory]
    [InlineData("4.2")]
    [InlineData("9.9")]
    [InlineData("5.9")]
    [InlineData("7.2")]
    public void Kernel_OutsideTheModelledRange_Refused(string version)
    {
        AssertOneLine(Run("layout", "--kernel", version), $"gupsim: --kernel: v{version} is not modelled: {Modelled}");
    }

    [Fact]
    public void Kernel_NotAVersion_OneLine()
    {
        AssertOneLine(Run("layout", "--kernel", "abc"), "gupsim: --kernel: 'abc' is not a kernel version: use major.minor, e.g. 5.11 or 6.1");
    }

    [Fact]
    public void Kernels_ForBench_OutsideTheModelledRange_RefusedBeforeTheRun()
    {
        AssertOneLine(Run("bench", "--mem", "2G", "--kernels", "4.2,5.12", "-m", "2"), $"gupsim: --kernel: v4.2 is not modelled: {Modelled}");
    }

    [Theory]
    [InlineData("5.10")]
    [InlineData("6.18")]
    public void Kernel_TheRangesEnds_Accepted(string version)
    {
        var r = Run("layout", "--mem", "1G", "--kernel", version);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Stderr);
    }

    // ---- boot-time refusals: logged as the kernel logs them, and a warning ----

    [Fact]
    public void Hugepages_UnsupportedSize_LoggedAndWarned()
    {
        var r = Run("layout", "--mem", "1G", "--hugepages", "3M=4");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("gupsim: warning: --hugepages: HugeTLB: unsupported hugepagesz=3M, hugepages=4 ignored: the huge page sizes of x86_64 here are 2M, 1G\n", r.Stderr);

        var m = new MachineOptions { Mem = "1G", Hugepages = "hugepagesz=3M hugepages=4" }.Boot();
        Assert.Contains("HugeTLB: unsupported hugepagesz=3M", m.KernelLog);
        Assert.Contains("HugeTLB: hugepages=4 does not follow a valid hugepagesz, ignoring", m.KernelLog);
        Assert.Equal(0UL, m.Hugetlb.Find(2UL << 20)!.NrHugePages);
    }

    [Fact]
    public void Cma_LargerThanTheMachine_LoggedAndWarned()
    {
        var r = Run("layout", "--mem", "1G", "--cma", "100T");
        Assert.Equal(0, r.ExitCode);
        // 100T = 100 << 40 bytes = 100 << 20 MiB = 104857600 MiB (cma_declare_contiguous_nid(): "Failed to reserve %ld MiB").
        Assert.Equal("gupsim: warning: --cma: cma: Failed to reserve 104857600 MiB: no free 100T block of RAM (the machine has 1G); booting without it, give a smaller size\n", r.Stderr);

        var m = new MachineOptions { Mem = "1G", Cma = "100T" }.Boot();
        Assert.Contains("cma: Failed to reserve 104857600 MiB", m.KernelLog);
        Assert.Equal(0UL, m.FreeCmaPagesTotal);
    }

    [Fact]
    public void Hotplug_Fraction_BlamesHotplugNotRam()
    {
        AssertOneLine(Run("layout", "--mem", "1G", "--hotplug", "8G-8.5G"),
            "gupsim: --hotplug: '8G-8.5G' is not a range: write START-END or START+SIZE with sizes like 4G, 512M or 0x1000 (memparse() takes whole numbers: write 512M, not 0.5G)");
    }

    [Fact]
    public void Hotplug_OverlappingRam_NamesTheRam()
    {
        // --mem 20G on x86_64: 0-3G and 4G-21G (the PCI hole), so 8G-12G lies inside the second range.
        AssertOneLine(Run("layout", "--hotplug", "8G-12G"),
            "gupsim: --hotplug 8G-12G: File exists (-EEXIST): it overlaps RAM 0x100000000-0x53fffffff (17G): hot-add above the end of RAM (21G), e.g. 21G-25G");
    }

    [Fact]
    public void Hotplug_Unaligned_NamesTheMemoryBlockSize()
    {
        // x86_64 SECTION_SIZE_BITS 27: 128M blocks; 24G + 64M ends mid-block.
        AssertOneLine(Run("layout", "--hotplug", "24G+64M"),
            "gupsim: --hotplug 24G-24640M: Invalid argument (-EINVAL): add_memory() takes whole memory blocks of 128M (one section, SECTION_SIZE_BITS 27 on x86_64): start and end on multiples of 128M, e.g. 24G-24704M");
    }

    [Fact]
    public void HotAdd_Refused_LeavesEveryCountAsItWas()
    {
        var m = new MachineOptions { Mem = "4G" }.Boot(); // 0-3G, 4G-5G
        ulong free = m.FreePagesTotal;
        int sections = m.PresentSections.Count;
        int ramRanges = m.Ram.Count;
        ulong maxPfn = m.MaxPfn;
        int log = m.KernelLog.Count;

        // 64M into a 128M block: check_hotplug_memory_range() refuses, and says so in the kernel log.
        Assert.Equal(-(int)Errno.EINVAL, m.HotAdd(PhysRange.FromStartEnd(0x180000000, 0x184000000), 0, false, out string? unaligned));
        Assert.Equal("Block size [0x8000000] unaligned hotplug range: start 0x180000000, size 0x4000000", m.KernelLog[log]);
        Assert.StartsWith("add_memory() takes whole memory blocks of 128M", unaligned, StringComparison.Ordinal);
        // 4.5G-5.5G overlaps the RAM at 4G-5G.
        Assert.Equal(-(int)Errno.EEXIST, m.HotAdd(PhysRange.FromStartEnd(0x120000000, 0x160000000), 0, false, out string? overlap));
        Assert.Equal("it overlaps RAM 0x100000000-0x13fffffff (1G): hot-add above the end of RAM (5G), e.g. 5G-6G", overlap);
        // No such node.
        Assert.Equal(-(int)Errno.EINVAL, m.HotAdd(PhysRange.FromStartEnd(0x180000000, 0x188000000), 7, false, out string? node));
        Assert.Equal("node 7 does not exist", node);

        Assert.Equal(free, m.FreePagesTotal);
        Assert.Equal(sections, m.PresentSections.Count);
        Assert.Equal(ramRanges, m.Ram.Count);
        Assert.Equal(maxPfn, m.MaxPfn);
        Assert.Equal(log + 1, m.KernelLog.Count);
        Assert.Empty(m.Warnings);

        // And the block-aligned range right above RAM goes in: 8 sections of 128M, 262144 pages more.
        Assert.Equal(0, m.HotAdd(PhysRange.FromStartEnd(0x140000000, 0x180000000), 0));
        Assert.Equal(sections + 8, m.PresentSections.Count);
    }

    // ---- gup_test's open(file, O_RDWR|O_CREAT) ----

    [Fact]
    public void GupTest_FileInAMissingFolder_OpenFailsWithEnoent_V5()
    {
        // v5.x gup_test.c: perror("open"); exit(filed) with filed == -1, so the exit status is 255.
        var r = Run("gup-test", "--mem", "2G", "-f", "/no/such/dir/file", "-m", "2");
        Assert.Equal("open: No such file or directory\n", r.Stderr);
        Assert.Equal(255, r.ExitCode);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void GupTest_FileInAMissingFolder_OpenFailsWithEnoent_Kselftest()
    {
        // v6.8+: ksft_exit_fail_msg("Unable to open %s: %s\n", file, strerror(errno)) after the header and plan.
        var r = Run("gup-test", "--kernel", "6.8", "--mem", "2G", "-f", "/no/such/dir/file", "-m", "2");
        Assert.StartsWith("TAP version 13\n1..1\nBail out! Unable to open /no/such/dir/file: No such file or directory\n", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, r.ExitCode);
        Assert.DoesNotContain("SIGBUS", r.Stdout + r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void GupTest_FileIsADirectory_OpenFailsWithEisdir()
    {
        var r = Run("gup-test", "--mem", "2G", "-f", "/mnt", "-m", "2");
        Assert.Equal("open: Is a directory\n", r.Stderr);
        Assert.Equal(255, r.ExitCode);
    }

    [Fact]
    public void GupTest_Sigbus_NamesTheKernelsFaultBit_NotACSharpEnum()
    {
        var r = Run("gup-test", "--mem", "2G", "-f", "/tmp/gup-file", "-m", "1");
        Assert.Equal(128 + 7, r.ExitCode);
        Assert.Matches(@"^gup_test: killed by SIGBUS writing 0x[0-9a-f]+ \(VM_FAULT_SIGBUS\)\n$", r.Stderr);
    }

    [Fact]
    public void Vfs_OpenAndMkdir_ReturnTheErrnosOfOpen2()
    {
        var m = new MachineOptions { Mem = "1G" }.Boot();
        var vfs = m.Vfs;
        Assert.Equal(-(int)Errno.ENOENT, vfs.TryOpen("/no/such/dir/file", create: true, out var none));
        Assert.Null(none);
        Assert.Equal(-(int)Errno.EISDIR, vfs.TryOpen("/tmp", create: true, out _));
        Assert.Equal(0, vfs.TryOpen("/tmp/f", create: true, out var f));
        Assert.Equal(-(int)Errno.ENOTDIR, vfs.TryOpen("/tmp/f/x", create: true, out _));
        Assert.Equal(-(int)Errno.ENOENT, vfs.TryOpen("/tmp/g", create: false, out _));
        Assert.Equal(-(int)Errno.ENOENT, vfs.Mkdir("/a/b"));
        Assert.Equal(0, vfs.Mkdir("/a"));
        Assert.Equal(-(int)Errno.EEXIST, vfs.Mkdir("/a"));
        Assert.Equal(-(int)Errno.ENOTDIR, vfs.Mkdir("/tmp/f/d"));
        Assert.Equal(0, vfs.TryOpen("/a/file", create: true, out var g));
        var e = Assert.Throws<GupSimException>(() => vfs.Open("/no/such/dir/file"));
        Assert.StartsWith("/no/such/dir/file: No such file or directory (", e.Message, StringComparison.Ordinal);
        f!.Close();
        g!.Close();
    }

    // ---- bench --plot: checked before the run ----

    [Fact]
    public void Plot_IntoAFolder_FailsBeforeTheRun()
    {
        string folder = Path.Combine(_dir, "plot.png");
        Directory.CreateDirectory(folder);
        // Nothing on stdout: the bench header and table come only after the run.
        AssertOneLine(Run("bench", "--mem", "2G", "--plot", folder, "-m", "2"), $"gupsim: --plot {folder}: Is a directory {PlotAdvice}");
    }

    [Fact]
    public void Plot_WhereNothingCanBeCreated_FailsBeforeTheRun()
    {
        // Tests run as root, so a read-only folder would not stop them: /proc takes no new files (ENOENT) and
        // sysfs refuses them (EACCES), for root too.
        AssertOneLine(Run("bench", "--mem", "2G", "--plot", "/proc/x.png", "-m", "2"), $"gupsim: --plot /proc/x.png: No such file or directory {PlotAdvice}");
        AssertOneLine(Run("bench", "--mem", "2G", "--plot", "/sys/x.png", "-m", "2"), $"gupsim: --plot /sys/x.png: Permission denied {PlotAdvice}");
        string missing = Path.Combine(_dir, "no-such-dir", "x.svg");
        AssertOneLine(Run("bench", "--mem", "2G", "--plot", missing, "-m", "2"), $"gupsim: --plot {missing}: No such file or directory {PlotAdvice}");
        Assert.False(File.Exists("/proc/x.png"));
    }

    [Fact]
    public void Plot_CheckLeavesNoProbeBehind()
    {
        string file = Path.Combine(_dir, "ok.svg");
        Assert.Equal(".svg", GupSim.Cli.Commands.BenchPlot.CheckFile(file));
        Assert.False(File.Exists(file));
    }

    // ---- the errno mapping itself ----

    [Fact]
    public void HostFile_MapsDotNetExceptionsToErrnos()
    {
        Assert.Equal(Errno.ENOENT, HostFile.ErrnoOf(new FileNotFoundException()));
        Assert.Equal(Errno.ENOENT, HostFile.ErrnoOf(new DirectoryNotFoundException()));
        Assert.Equal(Errno.EACCES, HostFile.ErrnoOf(new UnauthorizedAccessException()));
        Assert.Equal(Errno.ENAMETOOLONG, HostFile.ErrnoOf(new PathTooLongException()));
        Assert.Equal(Errno.EROFS, HostFile.ErrnoOf(new IOException("x", 30)));
        Assert.Equal(Errno.EIO, HostFile.ErrnoOf(new IOException("x")));
        Assert.Equal(Errno.EISDIR, HostFile.ErrnoOf(new UnauthorizedAccessException(), _dir));
        Assert.Equal("Permission denied", ErrnoText.Strerror((int)Errno.EACCES));
        Assert.Equal("Is a directory", ErrnoText.Strerror(-(int)Errno.EISDIR));
        Assert.Equal("Not a directory", ErrnoText.Strerror((int)Errno.ENOTDIR));
        Assert.Equal("Read-only file system", ErrnoText.Strerror((int)Errno.EROFS));
    }

    [Fact]
    public void KernelVersion_ParseModelled()
    {
        Assert.Equal(KernelVersion.V6_18, KernelVersion.ParseModelled("6.18", "--kernel"));
        Assert.Equal("--kernel: v5.9 is not modelled: " + Modelled, Assert.Throws<GupSimException>(() => KernelVersion.ParseModelled("5.9", "--kernel")).Message);
    }
}

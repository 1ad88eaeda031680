using System.Text.Json;
using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using GupSim.Check;
using GupSim.Cli;
using GupSim.Cli.Commands;
using GupSim.Gup;
using GupSim.Samples.Recorder;
using GupSim.Tests.Cli;

namespace GupSim.Tests.Check;

/// <summary>
/// `gupsim check` and `gupsim check merge` end to end, with a fake engine whose failures are a fixed predicate: exit
/// codes (0 none failed, 1 failures, 2 bad input), one-line errors, --json, --shard and merge, --out, --config,
/// --strategy-assembly.
/// </summary>
public sealed class CheckCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gupsim-check-" + Guid.NewGuid().ToString("N"));

    public CheckCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The options of <see cref="SweepTests.Options"/> on the command line: 324 configurations, 24 fail.</summary>
    private static readonly string[] s_space =
    [
        "check", "--arch", "x86_64", "--kernel", "5.12", "--model", "sparsemem", "--placement", "boot,scattered", "--hugepage-size", "1G",
        "--churn", "0,1G", "--seeds", "2", "--path", "slow-pin,fast-pin", "--offset", "0,boundary-1,boundary,boundary+1",
        "--length", "1,cross,huge", "--batch", "1,512,all",
    ];

    private sealed class Fake
    {
        public IReadOnlyList<ISubpageRecorder>? Recorders { get; set; }
        public List<CheckConfiguration> Seen { get; } = [];
    }

    private static CliResult Run(Func<CheckConfiguration, bool> fails, Fake? fake, params string[] args) => Run(fails, null, fake, args);

    private static CliResult Run(Func<CheckConfiguration, bool> fails, Func<CheckConfiguration, bool>? notApplicable, Fake? fake, params string[] args)
    {
        var root = new RootCommand("test");
        root.Subcommands.Add(CheckCommand.Create(recorders =>
        {
            if (fake is not null) fake.Recorders = recorders;
            return new PredicateRunner(c =>
            {
                if (fake is not null) lock (fake.Seen) fake.Seen.Add(c);
                return fails(c);
            }, notApplicable: notApplicable);
        }, _ => new RecordingShrinker()));
        var stdout = new StringWriter(CultureInfo.InvariantCulture);
        var stderr = new StringWriter(CultureInfo.InvariantCulture);
        int rc = Program.RunOn(root, args, stdout, stderr);
        return new CliResult(rc, stdout.ToString().Replace("\r", "", StringComparison.Ordinal), stderr.ToString());
    }

    private static CliResult Run(params string[] args) => Run(SweepTests.Fails, null, args);

    private static void AssertBadInput(CliResult r, string line)
    {
        Assert.Equal(line + "\n", r.Stderr);
        Assert.Equal(CheckCommand.BadInput, r.ExitCode);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void UnknownDimensionValue_OneLine_Exit2()
    {
        // Through the real program: bad input is refused before any configuration runs.
        var r = CliRun.Run("check", "--arch", "x86_64,foo");
        AssertBadInput(r, "gupsim: --arch: unknown value 'foo': use one of x86_64, x86_64-5level, i386, i386-pae, arm64-4k, arm64-16k, arm64-64k, ppc64, ppc64-radix, s390x, armhf, armhf-lpae, riscv64, sh (a comma list)");
        AssertBadInput(CliRun.Run("check", "--batch", "1,many"), "gupsim: --batch: unknown value 'many': use one of a number of pages above 0, all, random (a comma list)");
    }

    [Theory]
    // update_and_free_page()'s page[i] (dbfee5aee7e5 in v5.12): v5.11 fails only with the pool freed.
    [InlineData("--teardown", "free", "keep, free-pool, all", "teardown", "free-pool", "stray writes: 229376 (")]
    // copy_huge_page_from_user()'s dst_page + i (3272cfc2525b in v5.12): v5.11 fails only when the pages are copied in.
    [InlineData("--populate", "uffd", "fault, uffd-copy, all", "populate", "uffd-copy", "in setup 'uffd-copy A S': stray writes: 229376 (")]
    public void ByNameDimension_V5_11FailsOnlyWithIt_V5_12Passes(string option, string bad, string values, string field, string value, string detail)
    {
        AssertBadInput(CliRun.Run("check", option, bad), $"gupsim: {option}: unknown value '{bad}': use one of {values} (a comma list)");
        string[] shape = ["check", "--arch", "x86_64", "--model", "sparsemem", "--placement", "scattered", "--hugepage-size", "1G", "--churn", "0",
            "--path", "slow-pin", "--offset", "0", "--length", "1", "--batch", "1", "--json"];
        var r = CliRun.Run([.. shape, "--kernel", "5.11,5.12", option, "all"]);
        Assert.Equal(1, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        var groups = doc.RootElement.GetProperty("groups");
        Assert.Equal(2, groups.GetArrayLength());
        // Per group: without and with it, one configuration each; only v5.11's with it fails.
        var g511 = groups[0];
        Assert.Equal(("5.11", 2L, 1L), (g511.GetProperty("kernel").GetString(), g511.GetProperty("configurations").GetInt64(), g511.GetProperty("failures").GetInt64()));
        var min = g511.GetProperty("minimal");
        Assert.Equal("stray-writes", min.GetProperty("kind").GetString());
        Assert.Equal(value, min.GetProperty("configuration").GetProperty(field).GetString());
        Assert.StartsWith(detail, min.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(("5.12", 0L), (groups[1].GetProperty("kernel").GetString(), groups[1].GetProperty("failures").GetInt64()));
    }

    [Fact]
    public void FastLongtermUmem_AskedForByName_ReleasesByRanges_V5_12HasTrap1First_V5_18Passes()
    {
        // Not in --path all (nor the default): the same 6 paths either way.
        AssertBadInput(CliRun.Run("check", "--path", "umem"), "gupsim: --path: unknown value 'umem': use one of slow-get, slow-pin, slow-longterm, fast-get, fast-pin, fast-longterm, fast-longterm-umem, slow, fast, all (a comma list)");
        string[] shape = ["check", "--arch", "x86_64", "--model", "sparsemem", "--placement", "scattered", "--hugepage-size", "1G", "--churn", "0",
            "--offset", "boundary", "--length", "1", "--batch", "1", "--json"];
        var r = CliRun.Run([.. shape, "--kernel", "5.12,5.18", "--path", "fast-longterm-umem"]);
        Assert.Equal(1, r.ExitCode);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        var groups = doc.RootElement.GetProperty("groups").EnumerateArray().ToList();
        Assert.Equal(2, groups.Count);
        Assert.All(groups, g => Assert.Equal("fast-longterm-umem", g.GetProperty("path").GetString()));
        var v512 = groups.Single(g => g.GetProperty("kernel").GetString() == "5.12");
        var v518 = groups.Single(g => g.GetProperty("kernel").GetString() == "5.18");
        Assert.Equal(0, v518.GetProperty("failures").GetInt64());
        // pin_user_pages_fast() over the 1 GiB PUD leaf records page++ (trap 1) before the release can go wrong: the
        // entry at the first section boundary is the struct page just past the first section's memmap, not the second's;
        // the release's unpin through it stores to that other page, a stray write, as on the fast-longterm path.
        var min = v512.GetProperty("minimal");
        Assert.Equal("stray-writes", min.GetProperty("kind").GetString());
        string script = min.GetProperty("scenario").GetString()!;
        Assert.Contains("pin A fast write longterm batch=1 offset=0x8000000 pages=1\nexpect wrong-pages 1\nunpin A range\n", script, StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, min.GetProperty("gupTest").ValueKind);
    }

    [Fact]
    public void EmptySpace_OneLine_Exit2()
    {
        var r = CliRun.Run("check", "--arch", "x86_64", "--kernel", "5.12", "--model", "flatmem", "--placement", "boot", "--hugepage-size", "1G",
            "--churn", "0", "--path", "slow-pin", "--offset", "0", "--length", "1", "--batch", "all");
        AssertBadInput(r, "gupsim: the sweep is empty: every combination was skipped, 1 with a memory model the arch does not offer in that version (--model flatmem with --arch x86_64 with --kernel 5.12): widen those options (docs/cli.md, gupsim check)");
    }

    [Theory]
    [InlineData("cma")]
    [InlineData("hotplug-cma")]
    public void CmaPlacementWithANonGiganticSize_EmptySpace_OneLine_Exit2(string placement)
    {
        // x86_64's 2 MiB pages are order 9, below the buddy allocator's largest block (order 10, MAX_ORDER 11 in v5.12): hugetlb_cma= never serves them.
        var r = CliRun.Run("check", "--arch", "x86_64", "--kernel", "5.12", "--model", "sparsemem", "--placement", placement, "--hugepage-size", "2M",
            "--churn", "0", "--path", "slow-pin", "--offset", "0", "--length", "1", "--batch", "all");
        AssertBadInput(r, $"gupsim: the sweep is empty: every combination was skipped, 1 with the cma or hotplug-cma placement and a huge page size that is not gigantic (--placement {placement} with --hugepage-size 2M: hugetlb_cma= only serves gigantic pages, larger than the buddy allocator's largest block): widen those options (docs/cli.md, gupsim check)");
    }

    [Theory]
    [InlineData("3/2", "gupsim: --shard 3/2: the index is 0-based and must be below the count: the shards of 2 are 0/2 to 1/2")]
    [InlineData("a/b", "gupsim: --shard: 'a/b' is not I/N: give the shard's 0-based index and the shard count, e.g. --shard 0/4 ($SLURM_ARRAY_TASK_ID/N)")]
    [InlineData("0/0", "gupsim: --shard 0/0: the shard count must be at least 1 (e.g. --shard 0/4)")]
    public void BadShardSpec_OneLine_Exit2(string spec, string line) => AssertBadInput(CliRun.Run("check", "--shard", spec), line);

    [Fact]
    public void RepeatedOption_SaysItTakesOneValue_Exit2()
    {
        AssertBadInput(CliRun.Run("check", "--arch", "x86_64", "--arch", "arm64-4k"),
            "gupsim: check: option '--arch' takes one value but was given 2 ('x86_64', 'arm64-4k'): give it once, with a comma list: --arch x86_64,arm64-4k (try 'gupsim check --help')");
        AssertBadInput(CliRun.Run("check", "--seeds", "1", "--seeds", "2"),
            "gupsim: check: option '--seeds' takes one value but was given 2 ('1', '2'): give it once (try 'gupsim check --help')");
    }

    [Fact]
    public void UnknownOption_OneLine_Exit2() =>
        AssertBadInput(CliRun.Run("check", "--bogus"), "gupsim: check: unrecognized option '--bogus' (try 'gupsim check --help')");

    [Fact]
    public void MergeOfAMissingFile_NoSuchFileOrDirectory_Exit2()
    {
        string path = Path.Combine(_dir, "shard-0.json");
        AssertBadInput(CliRun.Run("check", "merge", path), $"gupsim: {path}: No such file or directory (check merge wants the JSON files 'gupsim check --shard I/N --json' wrote)");
        AssertBadInput(CliRun.Run("check", "merge", _dir), $"gupsim: {_dir}: Is a directory (check merge wants the JSON files 'gupsim check --shard I/N --json' wrote)");
    }

    [Fact]
    public void Config_Missing_NoSuchFileOrDirectory_Exit2()
    {
        string path = Path.Combine(_dir, "no.config");
        AssertBadInput(CliRun.Run("check", "--config", path), $"gupsim: {path}: No such file or directory (--config wants a kernel .config: /boot/config-$(uname -r), /proc/config.gz or a build tree's .config)");
    }

    [Fact]
    public void Iomem_WithoutConfig_OneLine_Exit2() =>
        AssertBadInput(CliRun.Run("check", "--iomem", "/proc/iomem"), "gupsim: --iomem: give it with --config FILE (your machine's kernel .config, e.g. /proc/config.gz): the layout alone does not say which kernel runs on it");

    [Fact]
    public void Failures_Exit1_Json_HasTheCounts()
    {
        var r = Run([.. s_space, "--json"]);
        Assert.Equal(CheckCommand.FailuresFound, r.ExitCode);
        var node = JsonNode.Parse(r.Stdout)!.AsObject();
        Assert.Equal(["configurations", "failures", "elapsedSeconds", "groups"], node.Select(p => p.Key).Take(4).ToArray());
        Assert.Equal(324, (long)node["configurations"]!);
        Assert.Equal(24, (long)node["failures"]!);
        var groups = node["groups"]!.AsArray();
        Assert.Equal(4, groups.Count);
        var sf = groups.Select(g => g!.AsObject()).Single(g => (string)g["placement"]! == "scattered" && (string)g["path"]! == "fast-pin");
        Assert.Equal(18, (long)sf["failures"]!);
        Assert.Equal(3, (int)sf["manifestedSeeds"]!);
        Assert.Equal("wrong-pages", (string)sf["minimal"]!["kind"]!);
        Assert.Equal(196, (long)sf["minimal"]!["index"]!);
    }

    [Fact]
    public void NoFailures_Exit0_TextTable()
    {
        var r = Run(_ => false, null, s_space);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Lines;
        Assert.Equal("ARCH    KERNEL  MODEL      PLACEMENT  PATH      SIZE  CONFIGS  FAILED  N/A  HISTORIES  FIRST", lines[0]);
        Assert.Equal("x86_64  5.12    sparsemem  boot       slow-pin  1G         81       0    0        0/3  -", lines[1]);
        Assert.Equal(6, lines.Length); // header, 4 groups, totals
        Assert.StartsWith("check: 324 configurations in 4 groups, 0 failed (0 groups); 324 in the sweep, 108 combinations skipped; ", lines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void ShardsMergedByTheCli_EqualOneRun()
    {
        string one = Run([.. s_space, "--json"]).Stdout;
        var files = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            var r = Run([.. s_space, "--shard", $"{i}/3", "--json"]);
            string f = Path.Combine(_dir, $"shard-{i}.json");
            File.WriteAllText(f, r.Stdout);
            files.Add(f);
        }
        var merged = Run(["check", "merge", .. files, "--json"]);
        Assert.Equal(CheckCommand.FailuresFound, merged.ExitCode);
        Assert.Equal(SummaryJson.WithoutElapsed(one), SummaryJson.WithoutElapsed(merged.Stdout));
        // The text merge prints the same table as one run.
        var text = Run(["check", "merge", .. files]);
        var oneText = Run(s_space);
        Assert.Equal(oneText.Lines[..^1], text.Lines[..^1]);
    }

    [Fact]
    public void Out_WritesEachMinimalCase_NamedByItsGroup()
    {
        string dir = Path.Combine(_dir, "cases");
        var r = Run([.. s_space, "--out", dir]);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(["x86_64-v5.12-sparsemem-scattered-fast-pin-1G.scenario", "x86_64-v5.12-sparsemem-scattered-slow-pin-1G.scenario"],
            Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal("# minimal: scattered slow-pin offset 32767 seed 2\n", File.ReadAllText(Path.Combine(dir, "x86_64-v5.12-sparsemem-scattered-slow-pin-1G.scenario")));
    }

    [Fact]
    public void Out_OnAFile_NotADirectory_Exit2()
    {
        string file = Path.Combine(_dir, "file");
        File.WriteAllText(file, "x");
        AssertBadInput(Run([.. s_space, "--out", file]), $"gupsim: --out {file}: Not a directory (--out wants a folder to write the minimal cases' scenario files in (made if missing))");
    }

    private static string KernelConfig(string name) => Path.Combine(AppContext.BaseDirectory, "data", "kernel-configs", name);

    [Fact]
    public void YourMachine_ShippedConfig_OneLinePerSizeAndPath()
    {
        // Debian's 6.1 amd64 kernel: X86_5LEVEL=y (VMEMMAP forced), huge pages 2M and 1G, MEMORY_HOTPLUG=y.
        var fake = new Fake();
        var r = Run(_ => false, fake, "check", "--config", KernelConfig("6.1-amd64_none_amd64.config"), "--churn", "0", "--offset", "0", "--length", "1", "--batch", "all");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Lines;
        Assert.Equal($"Your machine: x86_64-5level, v6.1, sparsemem-vmemmap (from {KernelConfig("6.1-amd64_none_amd64.config")}, the arch's default RAM layout)", lines[0]);
        // Placements boot and hotplug (scattered is classic SPARSEMEM's): 2 configurations per size and path.
        Assert.Equal("2M slow-get:      safe (2 configurations)", lines[1]);
        Assert.Equal("1G fast-longterm: safe (2 configurations)", lines[12]);
        Assert.Equal(24, fake.Seen.Count);
        Assert.All(fake.Seen, c => Assert.Equal(("x86_64-5level", "6.1", GupSim.Arch.MemoryModel.SparsememVmemmap), (c.Shape.Arch, c.Shape.Kernel.ToString(), c.Shape.Model)));
        Assert.All(fake.Seen, c => Assert.Equal(KernelConfig("6.1-amd64_none_amd64.config"), c.Shape.ConfigFile));
    }

    [Fact]
    public void YourMachine_NotApplicable_IsNotCountedAsSafe()
    {
        // The same 24 configurations, those of the hot-plug placement not applicable (a pool from boot memory): each
        // size and path keeps 1 boot configuration that ran; 2M's hot-plug ones never ran.
        var r = Run(_ => false, c => c.Shape.Placement == CheckPlacement.Hotplug, null,
            "check", "--config", KernelConfig("6.1-amd64_none_amd64.config"), "--churn", "0", "--offset", "0", "--length", "1", "--batch", "all");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("2M slow-get:      safe (1 configuration; 1 not applicable)", r.Lines[1]);
        // Only the hot-plug placement left: nothing ran, so nothing is called safe.
        var h = Run(_ => false, c => c.Shape.Placement == CheckPlacement.Hotplug, null,
            "check", "--config", KernelConfig("6.1-amd64_none_amd64.config"), "--churn", "0", "--offset", "0", "--length", "1", "--batch", "all", "--placement", "hotplug");
        Assert.Equal("2M slow-get:      not checked (all 1 configuration not applicable on this machine's shapes)", h.Lines[1]);
        Assert.Contains("\"notApplicable\": 12", Run(_ => false, c => c.Shape.Placement == CheckPlacement.Hotplug, null,
            "check", "--config", KernelConfig("6.1-amd64_none_amd64.config"), "--churn", "0", "--offset", "0", "--length", "1", "--batch", "all", "--json").Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void YourMachine_Unsafe_SaysTheKindTheMinimalCaseAndTheGupTestLine()
    {
        var r = Run(c => c.Shape.HugepageBytes == 1UL << 30 && c.Path == CheckPath.FastPin && c.Shape.Placement == CheckPlacement.Hotplug, null,
            "check", "--config", KernelConfig("6.1-amd64_none_amd64.config"), "--churn", "0", "--offset", "0", "--length", "1", "--batch", "all", "--path", "fast-pin");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("2M fast-pin: safe (2 configurations)", r.Lines[1]);
        // A hot-plug shape boots with 4 GiB on a 64-bit arch and no room for the pool (the pool's memory is hot-added).
        Assert.Equal("1G fast-pin: UNSAFE: wrong-pages, 1 of 2 configurations failed; minimal case: offset 0, length 1, batch 1, 1 huge page of 1G, RAM 4G, fresh boot, hotplug memmaps, 7 wrong entries (script below), shown by: gupsim gup-test -m 1024 -n 1 offset=0", r.Lines[2]);
    }

    [Fact]
    public void YourMachine_WithIomem_TheShapesCarryTheLayout()
    {
        string machine = Path.Combine(AppContext.BaseDirectory, "data", "machines", "x86_64-vm-24g");
        var fake = new Fake();
        var r = Run(_ => false, fake, "check", "--config", KernelConfig("6.1-amd64_none_amd64.config"), "--iomem", machine, "--churn", "0", "--offset", "0", "--length", "1", "--batch", "all", "--path", "slow-pin");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal($"Your machine: x86_64-5level, v6.1, sparsemem-vmemmap (from {KernelConfig("6.1-amd64_none_amd64.config")}, RAM from {machine})", r.Lines[0]);
        Assert.Equal(4, fake.Seen.Count);
        Assert.All(fake.Seen, c => Assert.Equal(machine, c.Shape.IomemFile));
    }

    [Fact]
    public void YourMachine_MissingIomem_OneLine_Exit2()
    {
        string path = Path.Combine(_dir, "iomem");
        AssertBadInput(CliRun.Run("check", "--config", KernelConfig("6.1-amd64_none_amd64.config"), "--iomem", path),
            $"gupsim: {path}: No such file or directory (--iomem wants a copy of /proc/iomem (read as root), a /sys/firmware/memmap listing, a memory-block listing, or a directory holding one)");
    }

    [Fact]
    public void YourMachine_WithoutHugetlb_NothingToCheck_Exit2() =>
        AssertBadInput(CliRun.Run("check", "--config", KernelConfig("6.1-armhf_none_armmp.config")),
            $"gupsim: --config {KernelConfig("6.1-armhf_none_armmp.config")}: CONFIG_HUGETLB_PAGE is not set, so this kernel has no hugetlb pages for GUP to pin: nothing to check");

    [Fact]
    public void YourMachine_WithArch_IsRefused() =>
        AssertBadInput(CliRun.Run("check", "--config", KernelConfig("6.1-amd64_none_amd64.config"), "--arch", "x86_64"),
            $"gupsim: --arch: --config {KernelConfig("6.1-amd64_none_amd64.config")} gives the arch and memory model: drop --arch (or --config to sweep other machines)");

    /// <summary>Debian's 6.1 amd64 config with its "# Linux/x86 6.1.192 Kernel Configuration" line taken out.</summary>
    private string HeaderlessConfig()
    {
        string path = Path.Combine(_dir, "headerless.config");
        File.WriteAllLines(path, File.ReadAllLines(KernelConfig("6.1-amd64_none_amd64.config")).Where(l => !l.StartsWith("# Linux/", StringComparison.Ordinal)));
        return path;
    }

    [Fact]
    public void Out_BadInput_MakesNoFolder()
    {
        // The space is checked before --out's folder is made: a refused command line leaves nothing behind.
        string dir = Path.Combine(_dir, "cases");
        AssertBadInput(CliRun.Run("check", "--arch", "x86_64,foo", "--out", dir), "gupsim: --arch: unknown value 'foo': use one of x86_64, x86_64-5level, i386, i386-pae, arm64-4k, arm64-16k, arm64-64k, ppc64, ppc64-radix, s390x, armhf, armhf-lpae, riscv64, sh (a comma list)");
        Assert.False(Directory.Exists(dir));
        AssertBadInput(CliRun.Run("check", "--config", HeaderlessConfig(), "--out", dir), $"gupsim: --config {Path.Combine(_dir, "headerless.config")}: no '# Linux/<arch> <version> Kernel Configuration' header says which release it is for: pass the release it was built for with --kernel (one, e.g. --kernel 6.1)");
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void YourMachine_HeaderlessConfig_WithOneKernel_Runs()
    {
        string config = HeaderlessConfig();
        var fake = new Fake();
        var r = Run(_ => false, fake, "check", "--config", config, "--kernel", "6.1", "--churn", "0", "--offset", "0", "--length", "1", "--batch", "all", "--path", "slow-pin");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Stderr);
        Assert.Equal($"Your machine: x86_64-5level, v6.1, sparsemem-vmemmap (from {config}, the arch's default RAM layout)", r.Lines[0]);
        // 2M and 1G, boot and hotplug: 4 configurations of slow-pin, each on the 6.1 kernel the flag named.
        Assert.Equal(4, fake.Seen.Count);
        Assert.All(fake.Seen, c => Assert.Equal(("x86_64-5level", "6.1", config), (c.Shape.Arch, c.Shape.Kernel.ToString(), c.Shape.ConfigFile)));
    }

    [Fact]
    public void YourMachine_KernelOtherThanTheHeader_Warns()
    {
        var fake = new Fake();
        var r = Run(_ => false, fake, "check", "--config", KernelConfig("6.1-amd64_none_amd64.config"), "--kernel", "6.6", "--churn", "0", "--offset", "0", "--length", "1", "--batch", "all", "--path", "slow-pin");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("gupsim: warning: the file is for Linux 6.1.192; GupSim models 6.6 as asked\n", r.Stderr);
        Assert.All(fake.Seen, c => Assert.Equal("6.6", c.Shape.Kernel.ToString()));
    }

    [Fact]
    public void YourMachine_HeaderlessConfig_WithoutKernel_SaysToPassOne() =>
        AssertBadInput(CliRun.Run("check", "--config", HeaderlessConfig()),
            $"gupsim: --config {Path.Combine(_dir, "headerless.config")}: no '# Linux/<arch> <version> Kernel Configuration' header says which release it is for: pass the release it was built for with --kernel (one, e.g. --kernel 6.1)");

    [Fact]
    public void YourMachine_TwoKernels_OneLine_Exit2() =>
        AssertBadInput(CliRun.Run("check", "--config", HeaderlessConfig(), "--kernel", "5.12,6.1"),
            $"gupsim: --kernel 5.12,6.1: --config {Path.Combine(_dir, "headerless.config")} is one machine running one kernel: give one release (e.g. --kernel 5.12), or drop --config to sweep several");

    [Fact]
    public void StrategyAssembly_SampleRecorder_IsSweptByName()
    {
        string dll = typeof(PfnEachRecorder).Assembly.Location;
        var fake = new Fake();
        var r = Run(_ => false, fake, "check", "--strategy-assembly", dll, "--arch", "x86_64", "--kernel", "5.12", "--model", "sparsemem", "--placement", "scattered",
            "--hugepage-size", "1G", "--churn", "0", "--path", "slow-pin", "--offset", "0", "--length", "1", "--batch", "all", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["pfn-each"], fake.Recorders!.Select(x => x.Name).ToArray());
        var c = Assert.Single(fake.Seen);
        Assert.Equal("pfn-each", c.Strategy);
        Assert.Equal("pfn-each", (string)JsonNode.Parse(r.Stdout)!["groups"]![0]!["strategy"]!);
    }
}

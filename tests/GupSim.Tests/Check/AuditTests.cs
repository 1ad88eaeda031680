using System.IO.Compression;
using System.Text.Json.Nodes;
using GupSim.Check;
using GupSim.Config;
using GupSim.Cli;
using GupSim.Cli.Commands;
using GupSim.Tests.Cli;

namespace GupSim.Tests.Check;

/// <summary>
/// <c>gupsim audit</c> over the 13 shipped Debian configs (tests/data/kernel-configs, copies of
/// ../shared/data/kernel-configs) with the real check engine, crafted configs for the cases no shipped one has, and
/// the command's bad input. The sweep runs with a small budget (the verdict still comes from running the model).
/// </summary>
public sealed class AuditTests : IDisposable
{
    private static readonly string ConfigDir = Path.Combine(AppContext.BaseDirectory, "data", "kernel-configs");
    private readonly string _tmp = Directory.CreateTempSubdirectory("gupsim-audit-").FullName;

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    private static AuditConfigResult Audit(string file, long budget)
    {
        var options = new ConfigAuditOptions { Budget = budget };
        var input = ConfigAudit.Load(file, options);
        var runner = new CheckEngine([]);
        var shrinker = new CheckShrinker(runner);
        return ConfigAudit.Run(input, options, space => new CheckSweep(runner, shrinker) { MaxDegreeOfParallelism = 2 }.Run(space));
    }

    private static readonly string[] Paths = ["slow-get", "slow-pin", "slow-longterm", "fast-get", "fast-pin", "fast-longterm"];

    /// <summary>
    /// The expected verdict of every shipped config, worked out from the versions' code:
    /// <list type="bullet">
    /// <item>amd64 (6.1, 6.12; generic, cloud, rt) and arm64 6.1: CONFIG_SPARSEMEM_VMEMMAP=y. pfn_to_page() is
    /// vmemmap + pfn, one virtually contiguous array, so page + n, nth_page(page, n) and pfn_to_page(pfn + n) are
    /// the same address for every n: v6.1's slow GUP (follow_hugetlb_page(), nth_page()), v6.1's gup-fast
    /// (record_subpages() over page + ...), v6.12's hugetlb_follow_page_mask() (page += offset) and v6.12's gup-fast
    /// all record the right struct pages, for 2M and 1G pages (x86: PMD and PUD leaves; arm64 4K: 64K contiguous
    /// PTEs, 2M PMD, 32M contiguous PMDs, 1G PUD). Every path × size is safe. The sizes are what
    /// arch_hugetlb_valid_size() accepts (arm64: 64K, 2M, 32M, 1G with 4K pages; x86_64: 2M, and 1G with GBPAGES),
    /// none above v6.1/v6.12's (absent) MAX_FOLIO_ORDER, so none is refused. CONFIG_MEMORY_HOTPLUG=y in all of them,
    /// so the hot-plug placement runs too.</item>
    /// <item>i386 686 and 686-pae: CONFIG_FLATMEM=y (x86_32 without NUMA: ARCH_FLATMEM_ENABLE, and the memory-model
    /// choice defaults to FLATMEM when ARCH_SPARSEMEM_DEFAULT = X86_64 || (NUMA &amp;&amp; X86_32) is off). mem_map is
    /// one array over every pfn, lowmem and HIGHMEM alike (HIGHMEM changes which pages have a kernel mapping, not
    /// where their struct page lives), so page + n is right everywhere: 4M (non-PAE PSE) and 2M (PAE) are safe on
    /// every path. No CONFIG_MEMORY_HOTPLUG: boot placement only.</item>
    /// <item>armhf armmp (generic, rt): no CONFIG_ARM_LPAE, so no CONFIG_HUGETLB_PAGE and no huge page size at all:
    /// no line, a note.</item>
    /// </list>
    /// </summary>
    [Theory]
    [InlineData("6.1-amd64_none_amd64.config", "x86_64-5level", "6.1", "sparsemem-vmemmap", "2M,1G", true)]
    [InlineData("6.1-amd64_none_cloud-amd64.config", "x86_64-5level", "6.1", "sparsemem-vmemmap", "2M,1G", true)]
    [InlineData("6.1-amd64_rt_amd64.config", "x86_64-5level", "6.1", "sparsemem-vmemmap", "2M,1G", true)]
    [InlineData("6.1-arm64_none_arm64.config", "arm64-4k", "6.1", "sparsemem-vmemmap", "64K,2M,32M,1G", true)]
    [InlineData("6.1-arm64_none_cloud-arm64.config", "arm64-4k", "6.1", "sparsemem-vmemmap", "64K,2M,32M,1G", true)]
    [InlineData("6.1-arm64_rt_arm64.config", "arm64-4k", "6.1", "sparsemem-vmemmap", "64K,2M,32M,1G", true)]
    [InlineData("6.1-armhf_none_armmp.config", "armhf", "6.1", "flatmem", "", false)]
    [InlineData("6.1-armhf_rt_armmp.config", "armhf", "6.1", "flatmem", "", false)]
    [InlineData("6.1-i386_none_686-pae.config", "i386-pae", "6.1", "flatmem", "2M", false)]
    [InlineData("6.1-i386_none_686.config", "i386", "6.1", "flatmem", "4M", false)]
    [InlineData("6.12-amd64_none_amd64.config", "x86_64-5level", "6.12", "sparsemem-vmemmap", "2M,1G", true)]
    [InlineData("6.12-amd64_none_cloud-amd64.config", "x86_64-5level", "6.12", "sparsemem-vmemmap", "2M,1G", true)]
    [InlineData("6.12-amd64_rt_amd64.config", "x86_64-5level", "6.12", "sparsemem-vmemmap", "2M,1G", true)]
    public void ShippedConfig_GivesTheVerdictsWorkedOutFromTheCode(string file, string arch, string kernel, string model, string sizes, bool hotplug)
    {
        var r = Audit(Path.Combine(ConfigDir, file), budget: 24);
        Assert.Equal((arch, kernel, model, hotplug, false), (r.Arch, r.Kernel, r.Model, r.Hotplug, r.DebugVm));
        var expected = new List<(string, string, string)>();
        // Every shipped config sets CONFIG_INFINIBAND_USER_MEM, so each size also has the RDMA memory-region line:
        // ib_umem_release()'s unpin_user_page_range_dirty_lock() steps with nth_page() (from v5.18, c228afb11ac6),
        // and page + i would be right too on one memmap array (vmemmap, mem_map) for every i.
        foreach (string s in sizes.Split(',', StringSplitOptions.RemoveEmptyEntries))
            foreach (string p in Paths.Append("fast-longterm-umem")) expected.Add((s, p, "safe"));
        Assert.Equal(expected, r.Paths.Select(p => (p.HugepageSize, p.Path, p.Verdict)).ToList());
        Assert.All(r.Paths, p => Assert.True(p.Configurations > 0));
        Assert.All(r.Paths, p => Assert.Empty(p.Warnings));
        if (sizes.Length == 0)
        {
            Assert.Equal(0, r.Configurations);
            Assert.Contains("no huge page sizes: 32-bit ARM has hugetlb only with CONFIG_ARM_LPAE, which this config does not set", r.Notes);
        }
        Assert.Equal(!hotplug, r.Notes.Contains("CONFIG_MEMORY_HOTPLUG is not set: no hot-plug placement"));
    }

    [Fact]
    public void I386WithNumaOnClassicSparse_4MPagesNeverCrossASection_Safe()
    {
        // x86_32 with NUMA: ARCH_SPARSEMEM_DEFAULT, classic SPARSEMEM (no VMEMMAP on 32-bit). SECTION_SIZE_BITS 26
        // (64 MiB) on non-PAE; a 4M page is naturally aligned, so it lies inside one section and v6.1's page++ in
        // gup-fast's record_subpages() never leaves that section's memmap: every path is safe, on boot and on
        // scattered (per-section) memmaps alike.
        string f = Write("i386-numa-sparse.config", "# Linux/x86 6.1.0 Kernel Configuration\nCONFIG_X86_32=y\nCONFIG_NUMA=y\nCONFIG_SPARSEMEM=y\nCONFIG_SPARSEMEM_STATIC=y\nCONFIG_HAVE_FAST_GUP=y\nCONFIG_HUGETLB_PAGE=y\n");
        var r = Audit(f, budget: 24);
        Assert.Equal(("i386", "sparsemem"), (r.Arch, r.Model));
        Assert.Equal(Paths.Select(p => ("4M", p, "safe")).ToList(), r.Paths.Select(p => (p.HugepageSize, p.Path, p.Verdict)).ToList());
    }

    private const string ClassicSparseX86 = "CONFIG_X86_64=y\nCONFIG_SPARSEMEM=y\nCONFIG_SPARSEMEM_EXTREME=y\n# CONFIG_SPARSEMEM_VMEMMAP is not set\nCONFIG_MEMORY_HOTPLUG=y\nCONFIG_HAVE_FAST_GUP=y\nCONFIG_HUGETLB_PAGE=y\nCONFIG_X86_DIRECT_GBPAGES=y\n";

    [Fact]
    public void V511ClassicSparse_GupFastPagePlusPlusOver1G_IsUnsafe_SlowGupIsSafe()
    {
        // x86_64 classic SPARSEMEM: SECTION_SIZE_BITS 27, so a section is 128 MiB = 32768 struct pages, each section's
        // memmap its own allocation. A 1 GiB page spans 8 sections. v5.11's gup-fast record_subpages() fills
        // page + n from the leaf's head: entry 32768 (the first subpage of the second section) is 32768 × 64 B past
        // the head's memmap, which is not the second section's memmap when the memmaps are scattered, so the smallest
        // failing call is 1 page at offset 32768. v5.11's follow_hugetlb_page() records mem_map_offset(page,
        // pfn_offset) per subpage (pfn_to_page() at each section): right. 2M pages never leave a section: right.
        string f = Write("v511-classic.config", "# Linux/x86 5.11.0 Kernel Configuration\n" + ClassicSparseX86);
        var r = Audit(f, budget: 24);
        Assert.Equal(("x86_64", "5.11", "sparsemem", true), (r.Arch, r.Kernel, r.Model, r.Hotplug));
        var expected = Paths.Select(p => ("2M", p, "safe")).Concat(Paths.Select(p => ("1G", p, p.StartsWith("fast", StringComparison.Ordinal) ? "unsafe" : "safe"))).ToList();
        Assert.Equal(expected, r.Paths.Select(p => (p.HugepageSize, p.Path, p.Verdict)).ToList());
        Assert.All(r.Paths.Where(p => p.Verdict == "unsafe"), p => Assert.Contains("offset=0x8000000 pages=1", p.Minimal!.Scenario, StringComparison.Ordinal));
    }

    [Fact]
    public void V618ClassicSparse_ConfigTheKconfigForbids_IsAudited_1GWarnsAndRecordsAcrossSections()
    {
        // The same config claimed for v6.18: x86_64's Kconfig forces SPARSEMEM_VMEMMAP there, so a note says no real
        // build gives it, and the audit runs it as the file says (before, it stopped with "cannot build sparsemem").
        // The file sets no CONFIG_ARCH_HAS_GIGANTIC_PAGE, so HAVE_GIGANTIC_FOLIOS is off and MAX_FOLIO_ORDER is
        // MAX_PAGE_ORDER (10); 7b4f21f5e038 only WARNs at hstate registration for order 18 > 10, so 1G is registered; v6.18 records every path with page + n (nth_page() is gone), so each 1G path fails at
        // the second section, offset 32768; 2M stays inside a section.
        string f = Write("v618-classic.config", "# Linux/x86 6.18.0 Kernel Configuration\n" + ClassicSparseX86);
        var r = Audit(f, budget: 24);
        Assert.Equal(("x86_64", "6.18", "sparsemem"), (r.Arch, r.Kernel, r.Model));
        var expected = Paths.Select(p => ("2M", p, "safe")).Concat(Paths.Select(p => ("1G", p, "unsafe"))).ToList();
        Assert.Equal(expected, r.Paths.Select(p => (p.HugepageSize, p.Path, p.Verdict)).ToList());
        Assert.Contains(r.Paths.First(p => p.HugepageSize == "1G").Warnings, w => w.StartsWith("hugetlb_add_hstate(): WARN_ON(order 18 > MAX_FOLIO_ORDER", StringComparison.Ordinal));
    }

    [Fact]
    public void ConfigWithoutHugetlb_EverySizeRefused_NothingRuns()
    {
        string f = Write("no-hugetlb.config", "# Linux/x86 6.1.0 Kernel Configuration\nCONFIG_X86_64=y\nCONFIG_SPARSEMEM=y\nCONFIG_SPARSEMEM_VMEMMAP=y\n# CONFIG_HUGETLB_PAGE is not set\n");
        var r = Audit(f, budget: 24);
        Assert.Equal(0, r.Configurations);
        Assert.Equal(12, r.Paths.Count);
        Assert.All(r.Paths, p => Assert.Equal(("refused", "CONFIG_HUGETLB_PAGE is not set"), (p.Verdict, p.Why)));
        Assert.Equal(["2M", "1G"], r.Paths.Select(p => p.HugepageSize).Distinct());
    }

    [Fact]
    public void Cli_FolderWithGzippedConfigWithoutGzName_IsReadByMagic_JsonHasTheSchema()
    {
        // config-6.1-686 is gzip inside; its name does not say so.
        string dir = Directory.CreateDirectory(Path.Combine(_tmp, "boot")).FullName;
        using (var fs = File.Create(Path.Combine(dir, "config-6.1-686")))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(ConfigDir, "6.1-i386_none_686.config"));
            gz.Write(bytes);
        }
        File.WriteAllText(Path.Combine(dir, "README"), "not a config, and not named like one: skipped\n");
        var r = CliRun.Run("audit", "--config", dir, "--budget", "6", "--json", "--jobs", "1");
        Assert.Equal(0, r.ExitCode);
        var cfg = Assert.Single(JsonNode.Parse(r.Stdout)!["configs"]!.AsArray())!;
        Assert.Equal(Path.Combine(dir, "config-6.1-686"), (string?)cfg["file"]);
        Assert.Equal(("i386", "6.1", "flatmem"), ((string?)cfg["arch"], (string?)cfg["kernel"], (string?)cfg["model"]));
        var paths = cfg["paths"]!.AsArray();
        Assert.Equal(7, paths.Count); // the six paths and fast-longterm-umem (CONFIG_INFINIBAND_USER_MEM=y)
        Assert.All(paths, p => Assert.Equal(("4M", "safe"), ((string?)p!["hugepageSize"], (string?)p["verdict"])));
        Assert.All(paths, p => Assert.Null(p!["minimal"]));
        Assert.Equal("slow-get", (string?)paths[0]!["path"]);
    }

    [Fact]
    public void Cli_UnsafeLine_PrintsKindAndGupTestLine_Exits1()
    {
        // A fake runner that fails every fast-pin configuration: the UNSAFE line and exit code come from the sweep.
        var root = new System.CommandLine.RootCommand("test");
        root.Subcommands.Add(AuditCommand.Create(() => new PredicateRunner(c => c.Path == CheckPath.FastPin), _ => new RecordingShrinker()));
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = Program.RunOn(root, ["audit", "--config", Path.Combine(ConfigDir, "6.1-i386_none_686.config"), "--budget", "12"], stdout, stderr);
        Assert.Equal(1, rc);
        string[] lines = stdout.ToString().ReplaceLineEndings("\n").Split('\n');
        // Labels are padded to the longest, "4M fast-longterm-umem:" (the config sets CONFIG_INFINIBAND_USER_MEM).
        Assert.Contains(lines, l => l.StartsWith("  4M fast-pin:           UNSAFE (wrong-pages, gupsim gup-test -m 1024 -n 1 offset=", StringComparison.Ordinal));
        Assert.Contains("  4M fast-get:           safe (2 configurations)", lines);
        Assert.Contains(lines, l => l.StartsWith("audit: 1 config, 7 path × size lines: 6 safe or not checked, 1 unsafe, 0 refused; ", StringComparison.Ordinal));
    }

    [Fact]
    public void Cli_MissingFile_IsOneLine_Exit2()
    {
        var r = CliRun.Run("audit", "--config", "/x");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        string line = Assert.Single(r.StderrLines);
        Assert.StartsWith("gupsim: audit: /x: No such file or directory (audit wants kernel .config files", line);
    }

    [Fact]
    public void Cli_NotAConfig_IsOneLine_Exit2_BeforeAnythingRuns()
    {
        string bad = Write("notes.config", "hello world\n");
        var r = CliRun.Run("audit", "--config", Path.Combine(ConfigDir, "6.1-i386_none_686.config"), bad);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Equal($"gupsim: audit: {bad}:1: malformed line: hello world", Assert.Single(r.StderrLines));

        string empty = Write("empty.config", "# just a comment\n");
        r = CliRun.Run("audit", "--config", empty);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith($"gupsim: audit: {empty}: not a kernel config: no CONFIG_ line", Assert.Single(r.StderrLines));
    }

    [Fact]
    public void Cli_FolderWithoutConfigs_AndBadBudget_AreOneLine_Exit2()
    {
        string dir = Directory.CreateDirectory(Path.Combine(_tmp, "empty")).FullName;
        var r = CliRun.Run("audit", "--config", dir);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith($"gupsim: audit: {dir}: no kernel configs in this folder", Assert.Single(r.StderrLines));
        r = CliRun.Run("audit", "--config", Path.Combine(ConfigDir, "6.1-i386_none_686.config"), "--budget", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("gupsim: --budget: 0: give at least 1 configuration per config", Assert.Single(r.StderrLines));
        r = CliRun.Run("audit");
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.StderrLines);
    }

    private string Write(string name, string text)
    {
        string f = Path.Combine(_tmp, name);
        File.WriteAllText(f, text);
        return f;
    }

    [Theory]
    [InlineData(false, false, "boot,scattered")]
    [InlineData(true, false, "boot,scattered,hotplug")]
    [InlineData(false, true, "boot,scattered,cma")]
    [InlineData(true, true, "boot,scattered,hotplug,cma,hotplug-cma")]
    public void Placements_AreThoseTheConfigCanHave_CmaOnlyWithConfigCma_ForGiganticSizes(bool hotplug, bool cma, string placements)
    {
        // x86_64 classic SPARSEMEM v5.11: boot and scattered always; hot-plug with CONFIG_MEMORY_HOTPLUG; hugetlb_cma=
        // (cma, and hotplug-cma with hot-plug too) with CONFIG_CMA, for the gigantic size only (1G: order 18 >
        // MAX_ORDER − 1 = 10; 2M is a buddy page, which hugetlb_cma_reserve() never serves).
        string text = "# Linux/x86 5.11.0 Kernel Configuration\n" + ClassicSparseX86.Replace("CONFIG_MEMORY_HOTPLUG=y\n", hotplug ? "CONFIG_MEMORY_HOTPLUG=y\n" : "", StringComparison.Ordinal)
            + (cma ? "CONFIG_CMA=y\n" : "");
        string f = Write("v511-placements.config", text);
        var options = new ConfigAuditOptions { Budget = 1 };
        CheckSpace? swept = null;
        var r = ConfigAudit.Run(ConfigAudit.Load(f, options), options, space =>
        {
            swept = space;
            return CheckSummary.FromRun(space, space.Entries.Select(_ => CheckVerdict.Pass).ToList(), new Dictionary<CheckGroupKey, (long, CheckMinimalCase)>(), 0);
        });
        var got = swept!.Entries.Select(e => (e.Configuration.Shape.Placement.ToName(), GupSim.Core.ByteSize.Format(e.Configuration.Shape.HugepageBytes))).Distinct().ToHashSet();
        var want = new HashSet<(string, string)>();
        foreach (string p in placements.Split(','))
            foreach (string size in new[] { "2M", "1G" })
                if (!p.Contains("cma", StringComparison.Ordinal) || size == "1G") want.Add((p, size));
        Assert.Equal(want, got);
        // One configuration per group (budget 1 is raised to the group count): 6 paths × the (placement, size) pairs.
        Assert.Equal(6 * want.Count, swept.Entries.Count);
        Assert.Equal(!hotplug, r.Notes.Contains("CONFIG_MEMORY_HOTPLUG is not set: no hot-plug placement"));
        Assert.Equal(!cma, r.Notes.Contains("CONFIG_CMA is not set: no hugetlb_cma= placement"));
        // No CONFIG_INFINIBAND_USER_MEM in the file: no RDMA memory-region line, and a note that says so.
        Assert.Contains("CONFIG_INFINIBAND_USER_MEM is not set: no RDMA memory-region line (fast-longterm-umem)", r.Notes);
        Assert.DoesNotContain(swept.Entries, e => e.Configuration.Path == CheckPath.FastLongtermUmem);
    }

    [Fact]
    public void BudgetBelowTheGroupCount_OneBuild_RunsExactlyOnePerGroup()
    {
        // What audit asks of the space: at least one configuration per path × size × placement group, from one build.
        var o = new CheckSpaceOptions { Arches = "x86_64", Kernels = "6.18", Budget = 1 };
        var floored = CheckSpace.Build(o with { BudgetAtLeastOnePerGroup = true });
        var plain = CheckSpace.Build(o);
        Assert.Single(plain.Entries);
        Assert.Equal(plain.Groups, floored.Groups);
        Assert.True(floored.Groups > 1);
        Assert.Equal(floored.Groups, floored.Entries.Count);
        var keys = new HashSet<CheckGroupKey>();
        foreach (var e in floored.Entries) Assert.True(keys.Add(CheckGroupKey.Of(e.Configuration)), "two configurations of one group");
        Assert.NotEqual(plain.Fingerprint, floored.Fingerprint); // the budget that ran is in the fingerprint
    }

    [Fact]
    public void MachinePoolsAndAudit_DecideBySameGates()
    {
        // sh v6.18 classic SPARSEMEM: MAX_FOLIO_ORDER = PFN_SECTION_SHIFT 14; 512M is order 17. The audit's
        // HstateSetup (with a machine's config) and a booted machine's pools read the same HstateGates.
        var sh = GupSim.Arch.ArchProfiles.Get("sh", GupSim.Arch.KernelVersion.V6_18);
        int? max = GupSim.Hugetlb.HstateSetup.KernelMaxFolioOrder(sh, GupSim.Arch.MemoryModel.Sparsemem, GupSim.Hugetlb.HstateConfig.ForMachine(sh));
        Assert.Equal(14, max);
        var size512 = Assert.Single(sh.HugePageSizes, z => z.Name == "512M");
        var g = GupSim.Hugetlb.HstateSetup.Gates(sh, max, size512);
        Assert.Equal((17, true, true), (g.Order, g.Gigantic, g.AboveMaxFolioOrder));
        var audit = GupSim.Hugetlb.HstateSetup.Simulate(sh, GupSim.Arch.MemoryModel.Sparsemem, GupSim.Hugetlb.HstateConfig.ForMachine(sh));
        Assert.False(Assert.Single(audit, h => h.Size.Name == "512M").RuntimeAllocation);
        Assert.True(Assert.Single(audit, h => h.Size.Name == "64M").RuntimeAllocation);
    }

    [Theory]
    // Debian's 6.12 amd64 config read as v6.18 on SPARSEMEM_VMEMMAP: HAVE_GIGANTIC_FOLIOS is
    // (HUGETLB_PAGE && ARCH_HAS_GIGANTIC_PAGE) || (ZONE_DEVICE && HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD), both halves
    // true here, so MAX_FOLIO_ORDER = PUD_ORDER = 18 and 1G (order 18 = 30 - 12) registers quietly. The same file
    // without ARCH_HAS_GIGANTIC_PAGE and ZONE_DEVICE has no gigantic folios, MAX_FOLIO_ORDER = MAX_PAGE_ORDER = 10,
    // and hugetlb_add_hstate() WARNs. The machine reads its own .config, as the audit of that file does.
    [InlineData(true, 0)]
    [InlineData(false, 1)]
    public void AMachineBootedFromAConfig_WarnsByThatConfigsMaxFolioOrder(bool archHasGiganticPage, int warnings)
    {
        var lines = new List<string>(File.ReadAllLines(Path.Combine(ConfigDir, "6.12-amd64_none_amd64.config")));
        if (!archHasGiganticPage)
        {
            Assert.True(lines.Remove("CONFIG_ARCH_HAS_GIGANTIC_PAGE=y"));
            Assert.True(lines.Remove("CONFIG_ZONE_DEVICE=y"));
        }
        string file = Path.Combine(_tmp, "gigantic.config");
        File.WriteAllLines(file, lines);
        var spec = new MachineOptions { ConfigFile = file, Kernel = "6.18", Mem = "4G", Hugepages = "hugepagesz=1G hugepages=1" }.ToSpec();
        var m = Machine.Boot(spec);
        var warned = m.KernelLog.Where(l => l.Contains("hugetlb_add_hstate", StringComparison.Ordinal)).ToList();
        Assert.Equal(warnings, warned.Count);
        if (warnings == 1) Assert.Equal("WARNING: CPU: 0 PID: 0 at mm/hugetlb.c hugetlb_add_hstate: order 18 > MAX_FOLIO_ORDER 10 (hugepagesz=1G)", warned[0]);
    }
}

using System.Globalization;
using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Hugetlb;

namespace GupSim.Check;

/// <summary>What <c>gupsim audit</c> was asked: the configs and the per-config sweep.</summary>
public sealed record ConfigAuditOptions
{
    /// <summary>The default <c>--budget</c>: configurations per config (spread over its groups by <c>check --budget</c>).</summary>
    public const long DefaultBudget = 144;

    /// <summary>Configurations per config (<c>--budget</c>).</summary>
    public long Budget { get; init; } = DefaultBudget;

    /// <summary><c>--seed</c>: the first history's seed and the budget's choice.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary><c>--kernel</c>: the release of files without a version header (and read as that release otherwise).</summary>
    public string? Kernel { get; init; }
}

/// <summary>One config read and derived, before anything runs.</summary>
/// <param name="File">The path as given (or found in a folder).</param>
/// <param name="Config">The parsed file.</param>
/// <param name="Derived">What GupSim derives from it.</param>
/// <param name="Hstates">The hstate/folio simulation for each size the arch accepts.</param>
public sealed record AuditInput(string File, KernelConfig Config, DerivedConfig Derived, IReadOnlyList<HstateSetupResult> Hstates)
{
    /// <summary>CONFIG_MEMORY_HOTPLUG: hot-plug placements are swept only with it.</summary>
    public bool Hotplug => Config.IsSet("MEMORY_HOTPLUG");

    /// <summary>
    /// CONFIG_INFINIBAND_USER_MEM (drivers/infiniband/core/umem.c): the kernel can register RDMA memory regions, so
    /// the audit has a <c>fast-longterm-umem</c> line (pin_user_pages_fast(FOLL_LONGTERM), released by ib_umem_release()).
    /// </summary>
    public bool IbUmem => Config.IsSet("INFINIBAND_USER_MEM");

    /// <summary>CONFIG_CMA: the hugetlb_cma= placements (<c>cma</c>, and <c>hotplug-cma</c> with hot-plug) are swept only with it.</summary>
    public bool Cma => Config.IsSet("CMA");
}

/// <summary>The minimal case of an unsafe line.</summary>
/// <param name="Kind">"wrong-pages", "oops", ... (<see cref="CheckNames.Kind"/>).</param>
/// <param name="WrongEntries">pages[] entries that were wrong in it.</param>
/// <param name="Description">"offset 0, length 262145, batch all, 2 huge pages of 1G, ..., scattered memmaps".</param>
/// <param name="GupTest">The gup_test command line that shows it, or null when only the scenario does.</param>
/// <param name="Scenario">The gupsim scenario script reproducing it.</param>
public sealed record AuditMinimal(string Kind, long WrongEntries, string Description, string? GupTest, string Scenario);

/// <summary>The verdict on one GUP path at one huge page size of one config.</summary>
/// <param name="Path">"slow-get", ... "fast-longterm", and "fast-longterm-umem" where the config has CONFIG_INFINIBAND_USER_MEM.</param>
/// <param name="HugepageSize">"2M", "1G".</param>
/// <param name="Verdict">"safe", "unsafe", "refused", or "not-checked" (every configuration was not applicable).</param>
/// <param name="Why">For refused and not-checked: why; else null.</param>
/// <param name="Configurations">Configurations run for the line.</param>
/// <param name="Failures">Those that failed.</param>
/// <param name="Minimal">The earliest failure's minimal case (unsafe only).</param>
/// <param name="Warnings">What the kernel WARNs about for this size (hstate registration, folio allocation).</param>
public sealed record AuditPathVerdict(string Path, string HugepageSize, string Verdict, string? Why, long Configurations, long Failures, AuditMinimal? Minimal, IReadOnlyList<string> Warnings);

/// <summary>The audit of one config.</summary>
/// <param name="File">The file.</param>
/// <param name="Arch">GupSim's arch profile ("x86_64-5level").</param>
/// <param name="Kernel">The release ("6.12").</param>
/// <param name="Model">The memory model ("sparsemem-vmemmap").</param>
/// <param name="Hotplug">CONFIG_MEMORY_HOTPLUG.</param>
/// <param name="DebugVm">CONFIG_DEBUG_VM.</param>
/// <param name="Paths">One verdict per GUP path × huge page size, smallest size first.</param>
/// <param name="Notes">What the config leaves out (no hugetlb, no gup-fast) and what reading it found.</param>
/// <param name="Configurations">Configurations run for the config.</param>
/// <param name="ElapsedSeconds">Wall time of its sweep.</param>
public sealed record AuditConfigResult(string File, string Arch, string Kernel, string Model, bool Hotplug, bool DebugVm, IReadOnlyList<AuditPathVerdict> Paths, IReadOnlyList<string> Notes, long Configurations, double ElapsedSeconds);

/// <summary>
/// <c>gupsim audit</c> (issue 12 §1): for each kernel <c>.config</c>, build that kernel's machines and run the checker
/// restricted to them (<c>gupsim check --config FILE</c>: its arch, release and memory model, every placement the
/// model has code for, hot-plug only with CONFIG_MEMORY_HOTPLUG, the hugetlb_cma= placements (cma, hotplug-cma) only
/// with CONFIG_CMA and for gigantic sizes, DEBUG_VM as configured, a fresh boot and a lived-in
/// history), over the huge page sizes <see cref="HstateSetup"/> says that kernel registers; sizes it refuses get the
/// verdict refused without running. Verdicts come from running the model: a line is unsafe only when some
/// configuration failed.
/// </summary>
public static class ConfigAudit
{
    /// <summary>The placements an audit asks for (<c>check --placement</c>); the space drops what the config cannot have.</summary>
    private const string AllPlacements = "boot,scattered,hotplug,cma,hotplug-cma";

    /// <summary>What bad input's message tells the user to give.</summary>
    public const string Advice = "audit wants kernel .config files (plain or gzipped: /boot/config-*, /proc/config.gz) or folders of them";

    /// <summary>
    /// The files the arguments name: a file as given; a folder's regular files named *.config, *.gz, config-* or
    /// .config (not recursive), sorted by name. Gzip is told later by its magic bytes, not the name.
    /// </summary>
    /// <exception cref="GupSimException">Thrown for a missing path or a folder without such files.</exception>
    public static IReadOnlyList<string> ExpandArguments(IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var files = new List<string>();
        foreach (string a in arguments)
        {
            if (Directory.Exists(a))
            {
                var found = new List<string>();
                try
                {
                    foreach (string f in Directory.EnumerateFiles(a))
                    {
                        string name = System.IO.Path.GetFileName(f);
                        if (name.EndsWith(".config", StringComparison.Ordinal) || name.EndsWith(".gz", StringComparison.Ordinal)
                            || name.StartsWith("config-", StringComparison.Ordinal) || name == ".config")
                            found.Add(f);
                    }
                }
                catch (Exception e) when (HostFile.IsFileError(e))
                {
                    throw new GupSimException("audit: " + HostFile.Error(a, e, Advice).Message);
                }
                if (found.Count == 0)
                    throw new GupSimException($"audit: {a}: no kernel configs in this folder (files named *.config, *.gz, config-* or .config): {Advice}");
                found.Sort(StringComparer.Ordinal);
                files.AddRange(found);
            }
            else if (File.Exists(a)) files.Add(a);
            else throw new GupSimException("audit: " + HostFile.Error(a, Errno.ENOENT, Advice).Message);
        }
        if (files.Count == 0) throw new GupSimException($"audit: no config given: {Advice}");
        return files;
    }

    /// <summary>Reads and derives one config and simulates its hstate setup; nothing runs yet.</summary>
    /// <exception cref="GupSimException">Thrown with <c>audit: FILE: …</c> for a file that cannot be read or is not a config.</exception>
    public static AuditInput Load(string file, ConfigAuditOptions options)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            string text = HostFile.ReadAllText(file, Advice);
            var config = KernelConfig.Parse(text, file);
            if (config.Count == 0 && config.HeaderArch is null)
                throw new GupSimException($"{file}: not a kernel config: no CONFIG_ line and no '# Linux/<arch> <version> Kernel Configuration' header ({Advice})");
            KernelVersion? kernel = null;
            if (options.Kernel is not null)
            {
                if (!KernelVersion.TryParse(options.Kernel, out var k) || !k.IsModelled)
                    throw new GupSimException($"--kernel: unknown value '{options.Kernel}': use one release from v{KernelVersion.OldestModelled} to v{KernelVersion.NewestModelled}, e.g. 6.1");
                kernel = k;
            }
            var derived = config.Derive(kernel);
            var hstates = HstateSetup.Simulate(derived.Arch, derived.Model, HstateConfig.FromConfig(config, derived));
            return new AuditInput(file, config, derived, hstates);
        }
        catch (GupSimException e) when (!e.Message.StartsWith("audit: ", StringComparison.Ordinal) && !e.Message.StartsWith("--", StringComparison.Ordinal))
        {
            throw new GupSimException("audit: " + e.Message, e);
        }
    }

    /// <summary>
    /// Runs one config: the check sweep restricted to its kernel and to the sizes it registers, at most
    /// <see cref="ConfigAuditOptions.Budget"/> configurations, then one verdict per path × size.
    /// </summary>
    public static AuditConfigResult Run(AuditInput input, ConfigAuditOptions options, Func<CheckSpace, CheckSummary> sweep)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(sweep);
        var d = input.Derived;
        var notes = new List<string>(d.Warnings);
        var lines = new List<AuditPathVerdict>();
        var registered = new List<HstateSetupResult>();
        foreach (var h in input.Hstates)
            if (h.Registered) registered.Add(h);
        if (input.Hstates.Count == 0)
            notes.Add(d.Arch.KernelArch == "arm"
                ? "no huge page sizes: 32-bit ARM has hugetlb only with CONFIG_ARM_LPAE, which this config does not set"
                : $"no huge page sizes: {d.Arch.Name} has none");
        else if (!d.Hugetlb)
            notes.Add("CONFIG_HUGETLB_PAGE is not set: no hugetlb pages for GUP to pin");
        if (!input.Hotplug) notes.Add("CONFIG_MEMORY_HOTPLUG is not set: no hot-plug placement");
        if (!input.Cma) notes.Add("CONFIG_CMA is not set: no hugetlb_cma= placement");
        if (!input.IbUmem) notes.Add("CONFIG_INFINIBAND_USER_MEM is not set: no RDMA memory-region line (fast-longterm-umem)");
        var pathNames = new List<string>(CheckLine.DefaultPathNames);
        if (input.IbUmem) pathNames.Add(CheckPath.FastLongtermUmem.ToName());

        CheckSummary? summary = null;
        if (registered.Count > 0)
        {
            var sizes = new List<string>();
            foreach (var h in registered) sizes.Add(h.Size.Name);
            var spaceOptions = new CheckSpaceOptions
            {
                ConfigFile = input.File,
                Kernels = options.Kernel is null ? null : d.Version.ToString(),
                HugepageSizes = string.Join(",", sizes),
                // Every placement the kernel can have: the space skips those the model has no code for, hot-plug
                // without CONFIG_MEMORY_HOTPLUG, hugetlb_cma= without CONFIG_CMA or below gigantic sizes.
                Placements = AllPlacements,
                Paths = string.Join(",", pathNames),
                Seed = options.Seed,
            };
            // The budget is spread over the groups (path × size × placement); below one per group some line would
            // not run at all, so the space raises it to the group count.
            var space = CheckSpace.Build(spaceOptions with { Budget = options.Budget, BudgetAtLeastOnePerGroup = true });
            if (space.Groups > options.Budget)
                notes.Add(string.Create(CultureInfo.InvariantCulture, $"--budget {options.Budget} is below this kernel's {space.Groups} path × size × placement groups: {space.Groups} configurations run, one per group"));
            if (space.SkippedBy.ContainsKey("config") && !HasFastPaths(space))
                notes.Add("no CONFIG_HAVE_FAST_GUP / CONFIG_HAVE_GUP_FAST: no gup-fast paths");
            summary = sweep(space);
        }

        var folded = summary is null ? [] : CheckLine.Fold(summary.Groups);
        foreach (var h in input.Hstates)
        {
            if (!h.Registered)
            {
                foreach (string p in pathNames)
                    lines.Add(new AuditPathVerdict(p, h.Size.Name, "refused", h.Refusal, 0, 0, null, h.Warnings));
                continue;
            }
            foreach (var line in folded) // CheckLine.Fold orders each size's lines by path already
                if (line.HugepageSize == h.Size.Name) lines.Add(Verdict(line, h));
        }
        return new AuditConfigResult(input.File, d.Arch.Name, d.Version.ToString(), d.Model.ToName(), input.Hotplug, d.DebugVm, lines, notes,
            summary?.Configurations ?? 0, summary?.ElapsedSeconds ?? 0);
    }

    private static bool HasFastPaths(CheckSpace space)
    {
        foreach (var e in space.Entries)
            if (e.Configuration.Path is CheckPath.FastGet or CheckPath.FastPin or CheckPath.FastLongterm or CheckPath.FastLongtermUmem) return true;
        return false;
    }

    private static AuditPathVerdict Verdict(CheckLine line, HstateSetupResult h)
    {
        if (line.FirstUnsafe is { Minimal: { } m })
            return new AuditPathVerdict(line.Path, h.Size.Name, "unsafe", null, line.Configurations, line.Failures,
                new AuditMinimal(m.Kind, m.WrongEntries, CheckLine.Describe(m.Configuration), m.GupTest, m.Scenario), h.Warnings);
        if (line.Ran == 0)
            return new AuditPathVerdict(line.Path, h.Size.Name, "not-checked",
                string.Create(CultureInfo.InvariantCulture, $"all {line.Configurations} configurations were not applicable on this kernel's machines"), line.Configurations, 0, null, h.Warnings);
        return new AuditPathVerdict(line.Path, h.Size.Name, "safe", null, line.Ran, 0, null, h.Warnings);
    }
}

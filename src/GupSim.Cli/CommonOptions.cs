using System.CommandLine;
using GupSim.Arch;
using GupSim.Config;

namespace GupSim.Cli;

/// <summary>The machine options shared by every command, made fresh per command (System.CommandLine options cannot be shared).</summary>
public sealed class MachineOptionSet
{
    public Option<string?> Arch { get; } = new("--arch") { Description = $"Arch profile: {string.Join(", ", ArchProfiles.Names)} (default {ArchProfiles.DefaultName})", HelpName = "name" };
    public Option<string?> Kernel { get; } = new("--kernel") { Description = $"Kernel version major.minor, v{KernelVersion.OldestModelled} to v{KernelVersion.NewestModelled} (default {KernelVersion.Default}; documented: {string.Join(", ", KernelVersion.Known)})", HelpName = "version" };
    public Option<string?> Model { get; } = new("--model") { Description = "Memory model: " + MemoryModelNames.AllNames + " (default: the arch's)", HelpName = "model" };
    public Option<string?> Placement { get; } = new("--placement") { Description = "Classic SPARSEMEM boot memmaps: boot (one buffer per node) or scattered (per-section fallback)", HelpName = "boot|scattered" };
    public Option<string?> Mem { get; } = new("--mem") { Description = $"RAM size on the arch's default layout (default {MachineOptions.DefaultMem} on 64-bit arches, 2G on 32-bit)", HelpName = "size" };
    public Option<string?> Ram { get; } = new("--ram") { Description = "Explicit RAM ranges, e.g. 0-3G,4G-20G", HelpName = "ranges" };
    public Option<string?> Nodes { get; } = new("--nodes") { Description = "NUMA nodes: a count, or nid:start-end,...", HelpName = "spec" };
    public Option<string?> Config { get; } = new("--config") { Description = "A kernel .config to take arch, version and memory model from", HelpName = "file" };
    public Option<string?> Iomem { get; } = new("--iomem") { Description = "RAM from a /proc/iomem or /sys/firmware/memmap listing (or a folder holding one)", HelpName = "file" };
    public Option<string[]> Hotplug { get; } = new("--hotplug") { Description = "Hot-add a range after boot, whole memory blocks (sections) above the RAM, e.g. 24G-28G (repeatable)", HelpName = "range", AllowMultipleArgumentsPerToken = false };
    public Option<string?> Hugepages { get; } = new("--hugepages") { Description = "Boot-time huge pages as on the kernel command line, e.g. \"hugepagesz=1G hugepages=16\" or 1G=16", HelpName = "spec" };
    public Option<string?> Cma { get; } = new("--cma") { Description = "Kernel cma=SIZE[@START]: a CMA area (MIGRATE_CMA pageblocks) reserved at boot", HelpName = "size[@start]" };
    public Option<string?> HugetlbCma { get; } = new("--hugetlb-cma") { Description = "Kernel hugetlb_cma=SIZE: CMA areas for gigantic hugetlb pages", HelpName = "size" };
    public Option<string?> Kernelcore { get; } = new("--kernelcore") { Description = "Kernel kernelcore=SIZE|N%: memory kept out of ZONE_MOVABLE", HelpName = "size|N%" };
    public Option<string?> Movablecore { get; } = new("--movablecore") { Description = "Kernel movablecore=SIZE|N%: memory given to ZONE_MOVABLE", HelpName = "size|N%" };
    // Boot reservations (helper C, issue 10 item 3): one block.
    public Option<string?> Crashkernel { get; } = new("--crashkernel") { Description = "Kernel crashkernel=SIZE[@OFFSET|,high]: memory reserved at boot for a kdump kernel", HelpName = "size[@offset|,high]" };
    public Option<string?> Initrd { get; } = new("--initrd") { Description = "An initrd of SIZE the boot loader loaded (at ADDR, or where the arch's usual loader puts it), reserved at boot", HelpName = "size[@addr]" };

    public Option<ulong> Seed { get; } = new("--seed")
    {
        Description = "Seed for the contents of unmodelled kernel memory and the --churn workload (decimal or 0x hex)",
        DefaultValueFactory = _ => 1UL,
        HelpName = "n",
        CustomParser = r => CommonOptions.ParseUInt64(r, "--seed"),
    };

    // --debug-vm (issue 10 item 6): CONFIG_DEBUG_VM when no --config gives it; checked by MachineOptions.ToSpec.
    public Option<string?> DebugVm { get; } = new("--debug-vm") { Description = "CONFIG_DEBUG_VM when no --config says: on or off (default off, as distributions ship); a .config decides it", HelpName = "on|off" };
    // --churn SIZE (issue 10 item 4): a machine that has lived.
    public Option<string?> Churn { get; } = new("--churn") { Description = "After boot, a seeded workload (page cache, tmpfs, anonymous 4K and THP, kernel pages) allocates SIZE in total and leaves part of it allocated, so hot-plug, huge pages and GUP run on lived-in free lists (default 0: a fresh boot)", HelpName = "size" };

    /// <summary>Adds every option to a command.</summary>
    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Arch, Kernel, Model, Placement, Mem, Ram, Nodes, Config, Iomem, Hotplug, Hugepages, Cma, HugetlbCma, Kernelcore, Movablecore, Crashkernel, Initrd, Seed })
            command.Options.Add(o);
        command.Options.Add(DebugVm);
        command.Options.Add(Churn);
    }

    /// <summary>Reads the options into a <see cref="MachineOptions"/>.</summary>
    public MachineOptions Read(ParseResult pr) => new()
    {
        Arch = pr.GetValue(Arch),
        Kernel = pr.GetValue(Kernel),
        Model = pr.GetValue(Model),
        Placement = pr.GetValue(Placement),
        Mem = pr.GetValue(Mem),
        RamSpec = pr.GetValue(Ram),
        Nodes = pr.GetValue(Nodes),
        ConfigFile = pr.GetValue(Config),
        IomemFile = pr.GetValue(Iomem),
        Hotplug = pr.GetValue(Hotplug) ?? [],
        Hugepages = pr.GetValue(Hugepages),
        Cma = pr.GetValue(Cma),
        HugetlbCma = pr.GetValue(HugetlbCma),
        Kernelcore = pr.GetValue(Kernelcore),
        Movablecore = pr.GetValue(Movablecore),
        Crashkernel = pr.GetValue(Crashkernel),
        Initrd = pr.GetValue(Initrd),
        Seed = pr.GetValue(Seed),
        DebugVm = pr.GetValue(DebugVm),
        Churn = pr.GetValue(Churn),
    };
}

/// <summary>Factories for options used by several commands.</summary>
public static class CommonOptions
{
    /// <summary>A CustomParser for a ulong option: decimal or 0x hex, else the one-line "is not a number" error.</summary>
    public static ulong ParseUInt64(System.CommandLine.Parsing.ArgumentResult r, string name)
    {
        string text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
        if (Core.Numbers.TryParseUInt64(text, out ulong v)) return v;
        r.AddError(Core.Numbers.NotANumber(name, text));
        return 0;
    }

    /// <summary>--json: machine-readable output (docs/cli.md).</summary>
    public static Option<bool> CreateJsonOption() => new("--json") { Description = "Print JSON (stable; see docs/cli.md)" };

    /// <summary>
    /// <c>--trace GROUP</c>: record a kernel trace event group (only page_ref is modelled, <see cref="GupSim.Debug.PageRefTrace"/>)
    /// and print its lines; <paramref name="when"/> says when (after the run, after each step).
    /// </summary>
    public static Option<string?> CreateTraceOption(string when) => new("--trace")
    {
        Description = $"Record a kernel trace event group and print its lines, each as 'trace: EVENT: FIELDS', {when} (only page_ref is modelled)",
        HelpName = "page_ref",
    };

    /// <summary>--verify on|off: GupSim's own checks, described by <paramref name="what"/>.</summary>
    public static Option<string> CreateVerifyOption(string what) => new("--verify")
    {
        Description = what + ": on (default) or off",
        DefaultValueFactory = _ => "on",
        HelpName = "on|off",
    };

    /// <summary>Reads --verify.</summary>
    /// <exception cref="Core.GupSimException">Thrown for anything but on/off (true/false, yes/no).</exception>
    public static bool ReadVerify(ParseResult pr, Option<string> verify) => (pr.GetValue(verify) ?? "on").ToLowerInvariant() switch
    {
        "on" or "true" or "yes" => true,
        "off" or "false" or "no" => false,
        var v => throw new Core.GupSimException($"--verify {v}: use on or off"),
    };

    /// <summary>--strategy NAME: the recording strategy instead of the kernel version's own code.</summary>
    public static Option<string?> CreateStrategyOption() => new("--strategy")
    {
        Description = $"Recording strategy instead of the kernel version's own code: {string.Join(", ", Gup.GupStrategy.Names)}, or a recorder's name from --strategy-assembly or --strategy-c",
        HelpName = "name",
    };

    /// <summary>--strategy-assembly PATH.dll: user recorders (samples/GupSim.Samples.Recorder).</summary>
    public static Option<string[]> CreateStrategyAssemblyOption() => new("--strategy-assembly")
    {
        Description = "An assembly with ISubpageRecorder implementations (repeatable); without --strategy its only recorder is used",
        HelpName = "path.dll",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>--strategy-c FILE.c: a record_subpages() in C, compiled against gupsim/kernel.h (samples/c).</summary>
    public static Option<string[]> CreateStrategyCOption() => new("--strategy-c")
    {
        Description = "A C file defining record_subpages() and GUPSIM_RECORDER(fn, \"name\") against <gupsim/kernel.h>, compiled with the system C compiler (repeatable; samples/c); without --strategy its only recorder is used",
        HelpName = "file.c",
        AllowMultipleArgumentsPerToken = false,
    };
}

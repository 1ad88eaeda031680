using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Config;

/// <summary>
/// The machine options every command shares (--arch --kernel --model --placement --mem --ram --nodes --config
/// --iomem --hotplug --seed --churn ...), as text, and the one place that turns them into a <see cref="MachineSpec"/>.
/// Precedence: --config gives arch, version and model unless --arch/--kernel/--model override them; --iomem or
/// --ram give the RAM, else --mem on the arch's default layout.
/// </summary>
public sealed record MachineOptions
{
    /// <summary>The default machine's RAM on 64-bit arches (<see cref="ArchProfile.DefaultMemBytes"/>; 2G on 32-bit).</summary>
    public const string DefaultMem = "20G";

    public string? Arch { get; init; }
    public string? Kernel { get; init; }
    public string? Model { get; init; }
    public string? Placement { get; init; }
    public string? Mem { get; init; }
    public string? RamSpec { get; init; }
    public string? Nodes { get; init; }
    public string? ConfigFile { get; init; }
    public string? IomemFile { get; init; }
    public IReadOnlyList<string> Hotplug { get; init; } = [];
    public ulong Seed { get; init; } = 1;

    /// <summary>Boot-time huge pages (kernel command line form or SIZE=COUNT shorthand).</summary>
    public string? Hugepages { get; init; }

    /// <summary><c>cma=SIZE[@START]</c>: a CMA area reserved at boot.</summary>
    public string? Cma { get; init; }
    /// <summary><c>hugetlb_cma=SIZE</c>: CMA areas for gigantic hugetlb pages.</summary>
    public string? HugetlbCma { get; init; }
    /// <summary><c>kernelcore=SIZE|N%</c>: memory kept out of ZONE_MOVABLE.</summary>
    public string? Kernelcore { get; init; }
    /// <summary><c>movablecore=SIZE|N%</c>: memory for ZONE_MOVABLE.</summary>
    public string? Movablecore { get; init; }

    // Boot reservations (helper C, issue 10 item 3).
    /// <summary><c>crashkernel=SIZE[@OFFSET]</c> or <c>crashkernel=SIZE,high</c>.</summary>
    public string? Crashkernel { get; init; }
    /// <summary><c>--initrd SIZE[@ADDR]</c>: an initrd the boot loader loaded.</summary>
    public string? Initrd { get; init; }

    /// <summary>
    /// <c>--debug-vm on|off</c>: CONFIG_DEBUG_VM when no <c>.config</c> is loaded (default off, as distributions
    /// ship). With <c>--config</c> the file decides; a <c>--debug-vm</c> that contradicts it is an error.
    /// </summary>
    public string? DebugVm { get; init; }
    /// <summary><c>--churn SIZE</c>: the lived-in workload after boot (<see cref="Mm.Churn"/>); null = a fresh boot.</summary>
    public string? Churn { get; init; }

    /// <summary>
    /// Parses the machine options from words, as a scenario's <c>machine</c> line gives them
    /// (<c>--arch x86_64 --model sparsemem --mem 8G</c>); the same names as the command line.
    /// </summary>
    /// <exception cref="GupSimException">Thrown on an unknown option or a missing value.</exception>
    public static MachineOptions FromArgs(IReadOnlyList<string> args)
    {
        var o = new MachineOptions();
        var hot = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new GupSimException($"{name} needs a value");
            o = name switch
            {
                "--arch" => o with { Arch = Value() },
                "--kernel" => o with { Kernel = Value() },
                "--model" => o with { Model = Value() },
                "--placement" => o with { Placement = Value() },
                "--mem" => o with { Mem = Value() },
                "--ram" => o with { RamSpec = Value() },
                "--nodes" => o with { Nodes = Value() },
                "--config" => o with { ConfigFile = Value() },
                "--iomem" => o with { IomemFile = Value() },
                "--hugepages" => o with { Hugepages = Value() },
                "--cma" => o with { Cma = Value() },
                "--hugetlb-cma" => o with { HugetlbCma = Value() },
                "--kernelcore" => o with { Kernelcore = Value() },
                "--movablecore" => o with { Movablecore = Value() },
                "--crashkernel" => o with { Crashkernel = Value() },
                "--initrd" => o with { Initrd = Value() },
                "--debug-vm" => o with { DebugVm = Value() },
                "--churn" => o with { Churn = Value() },
                "--seed" => o with { Seed = Numbers.ParseUInt64(Value(), "--seed") },
                "--hotplug" => o,
                _ => throw new GupSimException($"unknown machine option '{name}'"),
            };
            if (name == "--hotplug") hot.Add(Value());
        }
        return o with { Hotplug = hot };
    }

    /// <summary>Warnings collected while building (e.g. from a .config the real Kconfig would not allow).</summary>
    public List<string> Warnings { get; } = [];

    /// <summary>Builds the spec.</summary>
    /// <exception cref="GupSimException">Thrown on any bad option, with a one-line message.</exception>
    public MachineSpec ToSpec()
    {
        KernelVersion? kernel = Kernel is null ? null : KernelVersion.ParseModelled(Kernel, "--kernel");
        ArchProfile arch;
        MemoryModel? model = null;
        bool? extreme = null;
        bool pageExt = false;
        bool fromConfig = false;
        Hugetlb.HstateConfig? hstateConfig = null;
        string source = "defaults";
        bool? debugVmFlag = ParseDebugVm(DebugVm);
        bool debugVm = debugVmFlag ?? false;
        if (ConfigFile is not null)
        {
            var config = KernelConfig.Load(ConfigFile);
            var derived = config.Derive(kernel);
            debugVm = ResolveDebugVm(debugVmFlag, derived.DebugVm, config);
            Warnings.AddRange(derived.Warnings);
            arch = Arch is null ? derived.Arch : ArchProfiles.Get(Arch, kernel ?? derived.Version);
            model = derived.Model;
            fromConfig = true;
            extreme = derived.SparsememExtreme ? true : derived.SparsememStatic ? false : null;
            pageExt = derived.PageExtension;
            hstateConfig = Hugetlb.HstateConfig.FromConfig(config, derived);
            source = "--config " + Path.GetFileName(ConfigFile);
        }
        else
        {
            arch = ArchProfiles.Get(Arch ?? ArchProfiles.DefaultName, kernel ?? KernelVersion.Default);
        }
        if (Model is not null)
        {
            if (!MemoryModelNames.TryParse(Model, out var m))
                throw new GupSimException($"unknown memory model '{Model}': use one of {MemoryModelNames.AllNames}");
            // --model naming the model the .config derives (as check's scenarios write it) keeps the config's
            // authority to build what its Kconfig allows; another model is the user's machine, not the config's.
            if (m != model) fromConfig = false;
            model = m;
        }
        var placement = (Placement?.Trim().ToLowerInvariant()) switch
        {
            null or "boot" or "buffer" => MemmapPlacement.BootBuffer,
            "scattered" or "fallback" => MemmapPlacement.Scattered,
            _ => throw new GupSimException($"unknown placement '{Placement}': use boot or scattered"),
        };
        ulong sectionBytes = 1UL << arch.SectionSizeBits;
        RamLayout ram;
        if (IomemFile is not null && RamSpec is not null)
            throw new GupSimException("give either --iomem or --ram, not both");
        if (IomemFile is not null) ram = MachineInput.LoadMachineFile(IomemFile);
        else if (RamSpec is not null) ram = MachineInput.ParseRamSpec(RamSpec);
        else ram = MachineInput.DefaultRam(Mem is null ? arch.DefaultMemBytes : ByteSize.Parse(Mem), arch);
        if (Nodes is not null) ram = MachineInput.ParseNodesSpec(Nodes, ram, sectionBytes);
        var hotplug = new List<PhysRange>();
        foreach (var h in Hotplug)
            hotplug.AddRange(MachineInput.ParseRamSpec(h, 1, "--hotplug").AllRanges);
        var hugepages = Hugepages is null
            ? Hugetlb.HugepagesCmdline.None
            : Hugetlb.HugepagesCmdline.Parse(Hugepages, arch.DefaultHugePageSize?.Bytes);
        return new MachineSpec
        {
            Hugepages = hugepages,
            Cma = ParseCma(Cma),
            HugetlbCmaBytes = HugetlbCma is null ? 0 : ByteSize.Parse(HugetlbCma),
            MovableCore = ParseMovableCore(Kernelcore, Movablecore),
            Crashkernel = ParseCrashkernel(Crashkernel),
            Initrd = ParseInitrd(Initrd),
            ChurnBytes = ParseChurn(Churn),
            Arch = arch,
            Model = model,
            Placement = placement,
            Ram = ram,
            Seed = Seed,
            SparsememExtreme = extreme,
            PageExtension = pageExt,
            Hotplug = hotplug,
            Source = source,
            AllowKconfigViolations = fromConfig,
            HstateConfig = hstateConfig,
            DebugVm = debugVm,
        };
    }

    /// <summary>Parses <c>--debug-vm on|off</c>; null when not given.</summary>
    /// <exception cref="GupSimException">Thrown for anything but on or off.</exception>
    private static bool? ParseDebugVm(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null => null,
        "on" => true,
        "off" => false,
        _ => throw new GupSimException($"--debug-vm: expected on or off, got '{text}'"),
    };

    /// <summary>
    /// CONFIG_DEBUG_VM when a .config is loaded: the file's value. A --debug-vm that agrees is accepted; one that
    /// contradicts it is refused, so the flag is never silently ignored.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when --debug-vm says the opposite of the file.</exception>
    private static bool ResolveDebugVm(bool? flag, bool fromFile, KernelConfig config)
    {
        if (flag is not bool f || f == fromFile) return fromFile;
        string says = fromFile
            ? $"{config.FileName}:{config.LineOf("DEBUG_VM")} sets CONFIG_DEBUG_VM=y"
            : config.LineOf("DEBUG_VM") is int line
                ? $"{config.FileName}:{line} says '# CONFIG_DEBUG_VM is not set'"
                : $"{config.FileName} has no CONFIG_DEBUG_VM (off)";
        throw new GupSimException($"--debug-vm {(f ? "on" : "off")}: {says}, and a loaded .config decides CONFIG_DEBUG_VM: drop --debug-vm or edit the file");
    }

    /// <summary>Parses <c>--churn SIZE</c> (memparse() syntax, as --mem).</summary>
    private static ulong ParseChurn(string? text)
    {
        if (text is null) return 0;
        if (!ByteSize.TryParse(text, out ulong bytes))
            throw new GupSimException($"--churn: '{text}' is not a size: use a number with an optional K, M, G, T or P suffix, e.g. 1G (0 for a fresh boot)");
        return bytes;
    }

    /// <summary>Parses <c>SIZE[@START]</c> (cmdline_parse_cma()).</summary>
    private static CmaSpec? ParseCma(string? text)
    {
        if (text is null) return null;
        int at = text.IndexOf('@');
        ulong size = ByteSize.Parse(at < 0 ? text : text[..at]);
        if (size == 0) throw new GupSimException("--cma: the size must not be 0");
        return new CmaSpec(size, at < 0 ? null : ByteSize.Parse(text[(at + 1)..]));
    }

    /// <summary>
    /// Parses <c>SIZE[@OFFSET]</c> or <c>SIZE,high</c> (kernel/crash_core.c parse_crashkernel_simple() and the
    /// ",high" suffix; the range form "RANGE:SIZE,..." is not modelled).
    /// </summary>
    /// <exception cref="GupSimException">Thrown on anything else, or a zero size.</exception>
    public static CrashkernelSpec? ParseCrashkernel(string? text)
    {
        if (text is null) return null;
        string t = text.Trim();
        bool high = t.EndsWith(",high", StringComparison.Ordinal);
        if (high) t = t[..^",high".Length];
        int at = t.IndexOf('@', StringComparison.Ordinal);
        string size = at < 0 ? t : t[..at];
        if (t.Contains(':', StringComparison.Ordinal) || t.Contains(',', StringComparison.Ordinal) || (high && at >= 0)
            || !ByteSize.TryParse(size, out ulong bytes) || (at >= 0 && !ByteSize.TryParse(t[(at + 1)..], out _)))
            throw new GupSimException($"--crashkernel {text}: not SIZE, SIZE@OFFSET or SIZE,high (e.g. --crashkernel 256M, 256M@4G, 512M,high): the RANGE:SIZE form is not modelled");
        if (bytes == 0) throw new GupSimException($"--crashkernel {text}: the size must not be 0: give e.g. --crashkernel 256M");
        ulong? offset = at < 0 ? null : ByteSize.Parse(t[(at + 1)..]);
        return new CrashkernelSpec(bytes, offset, high);
    }

    /// <summary>Parses <c>SIZE[@ADDR]</c> for <c>--initrd</c>.</summary>
    /// <exception cref="GupSimException">Thrown on anything else, or a zero size.</exception>
    public static InitrdSpec? ParseInitrd(string? text)
    {
        if (text is null) return null;
        string t = text.Trim();
        int at = t.IndexOf('@', StringComparison.Ordinal);
        if (!ByteSize.TryParse(at < 0 ? t : t[..at], out ulong bytes) || (at >= 0 && !ByteSize.TryParse(t[(at + 1)..], out _)))
            throw new GupSimException($"--initrd {text}: not SIZE or SIZE@ADDR (e.g. --initrd 64M, or 64M@0x37000000 where the boot loader put it)");
        if (bytes == 0) throw new GupSimException($"--initrd {text}: the size must not be 0: give the initrd's size, e.g. --initrd 64M");
        return new InitrdSpec(bytes, at < 0 ? null : ByteSize.Parse(t[(at + 1)..]));
    }

    /// <summary>Parses <c>kernelcore=</c> / <c>movablecore=</c>: a size or <c>N%</c> (cmdline_parse_core()).</summary>
    private static MovableCoreSpec? ParseMovableCore(string? kernelcore, string? movablecore)
    {
        if (kernelcore is null && movablecore is null) return null;
        static (ulong?, int?) One(string? t, string name)
        {
            if (t is null) return (null, null);
            if (t.EndsWith('%'))
            {
                if (!int.TryParse(t[..^1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pct) || pct > 100)
                    throw new GupSimException($"{name}: '{t}' is not a percentage from 0% to 100%");
                return (null, pct);
            }
            return (ByteSize.Parse(t), null);
        }
        var (kb, kp) = One(kernelcore, "--kernelcore");
        var (mb, mp) = One(movablecore, "--movablecore");
        return new MovableCoreSpec(kb, kp, mb, mp);
    }

    /// <summary>Builds the spec and boots it.</summary>
    /// <remarks>What the kernel refused at boot (<see cref="Machine.Warnings"/>) joins <see cref="Warnings"/>.</remarks>
    public Machine Boot()
    {
        var m = Machine.Boot(ToSpec());
        foreach (var w in m.Warnings)
            if (!Warnings.Contains(w)) Warnings.Add(w);
        return m;
    }
}

using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Config;

/// <summary>
/// The machine options every command shares (--arch --kernel --model --placement --mem --ram --nodes --config
/// --iomem --hotplug --seed), as text, and the one place that turns them into a <see cref="MachineSpec"/>.
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

    /// <summary>Warnings collected while building (e.g. from a .config the real Kconfig would not allow).</summary>
    public List<string> Warnings { get; } = [];

    /// <summary>Builds the spec.</summary>
    /// <exception cref="GupSimException">Thrown on any bad option, with a one-line message.</exception>
    public MachineSpec ToSpec()
    {
        KernelVersion? kernel = Kernel is null ? null : KernelVersion.Parse(Kernel);
        ArchProfile arch;
        MemoryModel? model = null;
        bool? extreme = null;
        bool pageExt = false;
        bool fromConfig = false;
        string source = "defaults";
        if (ConfigFile is not null)
        {
            var derived = KernelConfig.Load(ConfigFile).Derive(kernel);
            Warnings.AddRange(derived.Warnings);
            arch = Arch is null ? derived.Arch : ArchProfiles.Get(Arch, kernel ?? derived.Version);
            model = derived.Model;
            fromConfig = true;
            extreme = derived.SparsememExtreme ? true : derived.SparsememStatic ? false : null;
            pageExt = derived.PageExtension;
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
            model = m;
            fromConfig = false;
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
            hotplug.AddRange(MachineInput.ParseRamSpec(h).AllRanges);
        return new MachineSpec
        {
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
        };
    }

    /// <summary>Builds the spec and boots it.</summary>
    public Machine Boot() => Machine.Boot(ToSpec());
}

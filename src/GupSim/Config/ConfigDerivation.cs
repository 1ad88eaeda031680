using GupSim.Arch;
using GupSim.Core;

namespace GupSim.Config;

/// <summary>
/// GupSim's machine parameters as a kernel <c>.config</c> fixes them: the arch profile (with the values the
/// config overrides), the kernel release, the memory model (mm/Kconfig "Memory model" choice), SECTION_SIZE_BITS,
/// MAX_ORDER, CONFIG_HUGETLB_PAGE and CONFIG_PGTABLE_LEVELS. Made by <see cref="KernelConfig.Derive"/>.
/// </summary>
public sealed record DerivedConfig
{
    /// <summary>
    /// The arch profile (<see cref="ArchProfiles.Get"/>) for the config's arch and release, with MAX_ORDER,
    /// pageblock_order and MAX_PHYSMEM_BITS replaced where the config sets them.
    /// </summary>
    public required ArchProfile Arch { get; init; }

    /// <summary>The kernel release (major.minor): the header's, or the one passed to <see cref="KernelConfig.Derive"/>.</summary>
    public required KernelVersion Version { get; init; }

    /// <summary>The memory model: CONFIG_FLATMEM, CONFIG_DISCONTIGMEM, CONFIG_SPARSEMEM(_VMEMMAP).</summary>
    public required MemoryModel Model { get; init; }

    /// <summary>SECTION_SIZE_BITS (asm/sparsemem.h) under SPARSEMEM; null for FLATMEM and DISCONTIGMEM, which have no sections.</summary>
    public required int? SectionSizeBits { get; init; }

    /// <summary>
    /// MAX_ORDER in the v5.11 meaning (exclusive: the largest buddy block has order MaxOrder − 1), whatever the
    /// release: from CONFIG_FORCE_MAX_ZONEORDER (≤ 6.0) or CONFIG_ARCH_FORCE_MAX_ORDER (6.1–6.3, exclusive; from 6.4
    /// inclusive, so plus one), else the arch default.
    /// </summary>
    public required int MaxOrder { get; init; }

    /// <summary>CONFIG_HUGETLB_PAGE.</summary>
    public required bool Hugetlb { get; init; }

    /// <summary>CONFIG_PGTABLE_LEVELS, or the profile's levels when the file does not set it.</summary>
    public required int PgtableLevels { get; init; }

    /// <summary>CONFIG_SPARSEMEM_EXTREME: mem_section is a dynamically allocated array of root pointers.</summary>
    public required bool SparsememExtreme { get; init; }

    /// <summary>CONFIG_SPARSEMEM_STATIC: mem_section is a static 2-D array (selected by x86_32 even when FLATMEM is chosen).</summary>
    public required bool SparsememStatic { get; init; }

    /// <summary>CONFIG_PAGE_EXTENSION: struct page_ext beside each memmap (page_owner, idle tracking).</summary>
    public required bool PageExtension { get; init; }

    /// <summary>
    /// CONFIG_DEBUG_VM (lib/Kconfig.debug, bool, depends on DEBUG_KERNEL): <c>=y</c> → true; <c># … is not set</c> or
    /// no line at all (a config without DEBUG_KERNEL has none) → false. A loaded <c>.config</c> always decides it.
    /// </summary>
    public bool DebugVm { get; init; }

    /// <summary>
    /// One line each: combinations the real Kconfig would not produce (the file still loads), values GupSim's
    /// profile does not model, and repeated assignments. Empty for a config the kernel's own tools wrote.
    /// </summary>
    public required IReadOnlyList<string> Warnings { get; init; }
}

public sealed partial class KernelConfig
{
    /// <summary>The kernel arch directories GupSim models, for messages.</summary>
    public const string ModelledArches = "x86 (x86_64, i386), arm64, arm, powerpc (64-bit), s390, riscv (64-bit), sh";

    private static readonly string[] s_modelledArchDirs = ["x86", "arm64", "arm", "powerpc", "s390", "riscv", "sh"];

    // Arch-selecting symbols of arches GupSim does not model, to name the arch when the header is missing.
    private static readonly (string Symbol, string Arch)[] s_otherArchSymbols =
    [
        ("MIPS", "mips"), ("SPARC", "sparc"), ("IA64", "ia64"), ("ALPHA", "alpha"), ("PARISC", "parisc"),
        ("M68K", "m68k"), ("LOONGARCH", "loongarch"), ("MICROBLAZE", "microblaze"), ("XTENSA", "xtensa"),
        ("ARC", "arc"), ("CSKY", "csky"), ("HEXAGON", "hexagon"), ("NIOS2", "nios2"), ("OPENRISC", "openrisc"),
        ("UML", "um"),
    ];

    /// <summary>
    /// Derives GupSim's machine parameters from the config: the arch profile from the arch symbols (X86_64 +
    /// X86_5LEVEL, X86_32 + X86_PAE, ARM64 + ARM64_*K_PAGES, ARM + ARM_LPAE, PPC64 + PPC_RADIX_MMU_DEFAULT, S390,
    /// RISCV + 64BIT, SUPERH), the memory model, MAX_ORDER, hugetlb and page-table levels.
    /// </summary>
    /// <param name="kernel">The release to use instead of the header's (the CLI's --kernel); required when the file has none.</param>
    /// <returns>The parameters, with a warning for each combination the real Kconfig would not produce.</returns>
    /// <exception cref="GupSimException">
    /// Thrown when the arch is not modelled or cannot be told, when no release is known, or when the MAX_ORDER or
    /// PGTABLE_LEVELS symbol is out of range.
    /// </exception>
    public DerivedConfig Derive(KernelVersion? kernel = null)
    {
        var warnings = new List<string>(_parseNotes);
        KernelVersion version = ResolveVersion(kernel, warnings);
        ArchProfile profile = ArchProfiles.Get(DetectProfileName(warnings), version);
        MemoryModel model = DetectModel(profile, warnings);
        int maxOrder = ResolveMaxOrder(profile, version, warnings);
        bool hugetlb = IsSet("HUGETLB_PAGE");
        int levels = ResolvePgtableLevels(profile, warnings);
        bool extreme = IsSet("SPARSEMEM_EXTREME");
        bool isStatic = IsSet("SPARSEMEM_STATIC");

        profile = profile with
        {
            MaxOrder = maxOrder,
            PageblockOrder = PageblockOrder(profile, maxOrder, hugetlb),
            MaxPhysmemBits = ResolveMaxPhysmemBits(profile, warnings),
        };
        bool hasSections = model is MemoryModel.Sparsemem or MemoryModel.SparsememVmemmap;
        CheckModel(profile, version, model, warnings);
        if (hasSections) CheckMaxOrderFitsSection(profile, warnings);
        if (hasSections && extreme && isStatic)
            warnings.Add("CONFIG_SPARSEMEM_EXTREME and CONFIG_SPARSEMEM_STATIC are both set but EXTREME depends on !STATIC; the real Kconfig would not produce this file");
        if (hugetlb && profile.HugePageSizes.Count == 0)
        {
            string why = profile.KernelArch == "arm" ? " (32-bit ARM has hugetlb only with CONFIG_ARM_LPAE)" : "";
            warnings.Add($"CONFIG_HUGETLB_PAGE is set but {profile.Name} has no huge page sizes{why}; the real Kconfig would not produce this file");
        }

        return new DerivedConfig
        {
            Arch = profile,
            Version = version,
            Model = model,
            SectionSizeBits = hasSections ? profile.SectionSizeBits : null,
            MaxOrder = maxOrder,
            Hugetlb = hugetlb,
            PgtableLevels = levels,
            SparsememExtreme = extreme,
            SparsememStatic = isStatic,
            PageExtension = IsSet("PAGE_EXTENSION"),
            DebugVm = ResolveDebugVm(warnings),
            Warnings = warnings,
        };
    }

    /// <summary>CONFIG_DEBUG_VM as the file sets it, with a warning for what Kconfig would not write.</summary>
    private bool ResolveDebugVm(List<string> warnings)
    {
        const string Symbol = "DEBUG_VM";
        if (!Contains(Symbol)) return false;
        if (GetTristate(Symbol) == Tristate.Module)
            warnings.Add("CONFIG_DEBUG_VM=m but CONFIG_DEBUG_VM is a bool (y or n); GupSim reads it as y");
        bool on = IsSet(Symbol);
        if (on && !IsSet("DEBUG_KERNEL"))
            warnings.Add("CONFIG_DEBUG_VM is set without CONFIG_DEBUG_KERNEL (it depends on it); the real Kconfig would not produce this file");
        return on;
    }

    private KernelVersion ResolveVersion(KernelVersion? kernel, List<string> warnings)
    {
        if (kernel is KernelVersion k)
        {
            if (Version is KernelVersion fileVersion && fileVersion != k)
                warnings.Add($"the file is for Linux {VersionText}; GupSim models {k} as asked");
            return k;
        }
        if (Version is KernelVersion v)
        {
            if (!v.IsModelled) throw new GupSimException($"{FileName}: Linux {VersionText} is not modelled: GupSim models v{KernelVersion.OldestModelled} to v{KernelVersion.NewestModelled}; pass --kernel with one of them to read the file as that release");
            return v;
        }
        throw new GupSimException($"{FileName}: no '# Linux/<arch> <version> Kernel Configuration' header: pass --kernel");
    }

    /// <summary>The kernel's $(ARCH) spellings folded onto arch directory names.</summary>
    private static string ArchDir(string arch) => arch switch
    {
        "x86" or "x86_64" or "i386" => "x86",
        "powerpc" or "ppc" or "ppc64" or "ppc64le" => "powerpc",
        "arm64" or "aarch64" => "arm64",
        "s390" or "s390x" => "s390",
        "riscv" or "riscv64" => "riscv",
        "sh" or "sh64" or "superh" => "sh",
        "sparc64" or "sparc32" => "sparc",
        _ => arch,
    };

    private GupSimException NotModelled(string arch, string qualifier = "") =>
        new($"{FileName}: architecture '{arch}'{qualifier} is not modelled by GupSim (modelled: {ModelledArches})");

    private string DetectProfileName(List<string> warnings)
    {
        string? headerDir = HeaderArch == null ? null : ArchDir(HeaderArch);
        if (headerDir != null && Array.IndexOf(s_modelledArchDirs, headerDir) < 0) throw NotModelled(HeaderArch!);

        (string name, string dir, string symbol) = DetectFromSymbols(warnings);
        if (headerDir != null && headerDir != dir)
            warnings.Add($"the header says Linux/{HeaderArch} but CONFIG_{symbol} is set; GupSim follows the symbols ({name})");
        return name;
    }

    private (string Name, string Dir, string Symbol) DetectFromSymbols(List<string> warnings)
    {
        if (IsSet("X86_64")) return (IsSet("X86_5LEVEL") ? "x86_64-5level" : "x86_64", "x86", "X86_64");
        if (IsSet("X86_32")) return (IsSet("X86_PAE") ? "i386-pae" : "i386", "x86", "X86_32");
        if (IsSet("ARM64")) return (Arm64ProfileName(warnings), "arm64", "ARM64");
        if (IsSet("ARM")) return (IsSet("ARM_LPAE") ? "armhf-lpae" : "armhf", "arm", "ARM");
        if (IsSet("PPC64"))
        {
            if (IsSet("PPC_4K_PAGES") || IsSet("PPC_16K_PAGES") || IsSet("PPC_256K_PAGES"))
                warnings.Add("the config does not use 64K pages (CONFIG_PPC_64K_PAGES) but GupSim's powerpc64 profiles have only 64K pages; sizes follow the profile");
            return (IsSet("PPC_RADIX_MMU_DEFAULT") ? "ppc64-radix" : "ppc64", "powerpc", "PPC64");
        }
        if (IsSet("PPC")) throw NotModelled(HeaderArch ?? "powerpc", " without CONFIG_PPC64");
        if (IsSet("S390")) return ("s390x", "s390", "S390");
        if (IsSet("RISCV"))
        {
            if (!IsSet("64BIT")) throw NotModelled(HeaderArch ?? "riscv", " without CONFIG_64BIT");
            return ("riscv64", "riscv", "RISCV");
        }
        if (IsSet("SUPERH")) return ("sh", "sh", "SUPERH");

        if (HeaderArch != null)
            throw new GupSimException($"{FileName}: the header says Linux/{HeaderArch} but none of its arch symbols (CONFIG_X86_64, CONFIG_X86_32, CONFIG_ARM64, CONFIG_ARM, CONFIG_PPC64, CONFIG_S390, CONFIG_RISCV, CONFIG_SUPERH) is set");
        foreach ((string symbol, string arch) in s_otherArchSymbols)
            if (IsSet(symbol)) throw NotModelled(arch);
        throw new GupSimException($"{FileName}: no '# Linux/<arch> <version> Kernel Configuration' header and no arch symbol (CONFIG_X86_64, CONFIG_ARM64, ...): GupSim cannot tell the architecture");
    }

    private string Arm64ProfileName(List<string> warnings)
    {
        if (GetNumber("ARM64_VA_BITS") is long va && va != 48)
            warnings.Add($"CONFIG_ARM64_VA_BITS={va} but GupSim's arm64 profiles have the 48-bit VA layout; addresses follow the profile");
        if (IsSet("ARM64_64K_PAGES")) return "arm64-64k";
        if (IsSet("ARM64_16K_PAGES")) return "arm64-16k";
        if (!IsSet("ARM64_4K_PAGES"))
            warnings.Add("no CONFIG_ARM64_{4K,16K,64K}_PAGES is set; GupSim takes the Kconfig default, 4K pages");
        return "arm64-4k";
    }

    private MemoryModel DetectModel(ArchProfile profile, List<string> warnings)
    {
        bool flat = IsSet("FLATMEM"), discontig = IsSet("DISCONTIGMEM"), sparse = IsSet("SPARSEMEM"), vmemmap = IsSet("SPARSEMEM_VMEMMAP");
        int chosen = (flat ? 1 : 0) + (discontig ? 1 : 0) + (sparse ? 1 : 0);
        // include/asm-generic/memory_model.h tests FLATMEM, then DISCONTIGMEM, then SPARSEMEM_VMEMMAP, then SPARSEMEM.
        MemoryModel model = flat ? MemoryModel.Flatmem
            : discontig ? MemoryModel.Discontigmem
            : vmemmap ? MemoryModel.SparsememVmemmap
            : sparse ? MemoryModel.Sparsemem
            : profile.DefaultModel;
        if (chosen > 1)
            warnings.Add($"more than one of CONFIG_FLATMEM, CONFIG_DISCONTIGMEM, CONFIG_SPARSEMEM is set but the \"Memory model\" choice allows one; GupSim takes {model.ToName()} as memory_model.h does");
        if (chosen == 0 && !vmemmap)
            warnings.Add($"no memory model (CONFIG_FLATMEM, CONFIG_SPARSEMEM, ...) is set; GupSim takes {profile.Name}'s default, {model.ToName()}");
        if (vmemmap && !sparse)
            warnings.Add("CONFIG_SPARSEMEM_VMEMMAP is set without CONFIG_SPARSEMEM (it depends on it); the real Kconfig would not produce this file");
        return model;
    }

    private static void CheckModel(ArchProfile profile, KernelVersion version, MemoryModel model, List<string> warnings)
    {
        if (model == MemoryModel.Discontigmem && !version.HasDiscontigmem)
        {
            warnings.Add($"CONFIG_DISCONTIGMEM is set but DISCONTIGMEM was removed in 5.14; the real Kconfig of {version} would not produce this file");
            return;
        }
        if (model == MemoryModel.Sparsemem && profile.VmemmapForced)
        {
            warnings.Add($"CONFIG_SPARSEMEM_VMEMMAP is off but {profile.Name} forces it in {version} ({VmemmapForcedReason(profile, version)}); the real Kconfig would not produce this file");
            return;
        }
        bool available = false;
        foreach (var m in profile.Models)
            available |= m == model;
        if (!available)
        {
            var names = new List<string>();
            foreach (var m in profile.Models) names.Add(m.ToName());
            warnings.Add($"memory model {model.ToName()} is not available on {profile.Name} in {version} (available: {string.Join(", ", names)}); the real Kconfig would not produce this file");
        }
    }

    private static string VmemmapForcedReason(ArchProfile profile, KernelVersion version)
    {
        if (version.VmemmapMandatoryWhereSupported) return "SPARSEMEM_VMEMMAP is mandatory wherever supported from 6.18";
        if (profile.Name == "x86_64-5level") return "X86_5LEVEL selects it";
        return $"arch/{profile.KernelArch}/Kconfig selects it";
    }

    /// <summary>include/linux/mmzone.h: <c>#if (MAX_ORDER - 1 + PAGE_SHIFT) > SECTION_SIZE_BITS</c> → <c>#error Allocator MAX_ORDER exceeds SECTION_SIZE</c>.</summary>
    private static void CheckMaxOrderFitsSection(ArchProfile profile, List<string> warnings)
    {
        int bits = profile.MaxOrder - 1 + profile.PageShift;
        if (bits > profile.SectionSizeBits)
            warnings.Add($"MAX_ORDER {profile.MaxOrder} (largest block order {profile.MaxOrder - 1}) exceeds a section: {profile.MaxOrder - 1} + PAGE_SHIFT {profile.PageShift} = {bits} > SECTION_SIZE_BITS {profile.SectionSizeBits}; the kernel fails to build (#error Allocator MAX_ORDER exceeds SECTION_SIZE)");
    }

    /// <summary>
    /// MAX_ORDER in the v5.11 meaning. The arch symbol is CONFIG_FORCE_MAX_ZONEORDER up to 6.0, CONFIG_ARCH_FORCE_MAX_ORDER
    /// from 6.1 (0192445cb2f7); it is exclusive until 6.3 and inclusive from 6.4 (23baf831a32c, "redefine MAX_ORDER sanely").
    /// </summary>
    private int ResolveMaxOrder(ArchProfile profile, KernelVersion version, List<string> warnings)
    {
        const string OldName = "FORCE_MAX_ZONEORDER", NewName = "ARCH_FORCE_MAX_ORDER";
        bool newName = version >= KernelVersion.V6_1;
        string expected = newName ? NewName : OldName, other = newName ? OldName : NewName;
        string used = expected;
        long? value = GetNumber(expected);
        if (value == null && GetNumber(other) is long otherValue)
        {
            value = otherValue;
            used = other;
            warnings.Add($"CONFIG_{other} does not exist in {version} (it is called CONFIG_{expected} there); GupSim reads it as CONFIG_{expected}");
        }
        if (value is not long v) return profile.MaxOrder;
        long exclusive = version.MaxOrderIsInclusive ? v + 1 : v;
        if (exclusive is < 1 or > 32)
            throw new GupSimException($"{FileName}:{LineOf(used)}: CONFIG_{used}={v} is out of range for {version}: the largest buddy order must be in [0-31]");
        return (int)exclusive;
    }

    /// <summary>
    /// pageblock_order (include/linux/pageblock-flags.h, 6.1): min(HUGETLB_PAGE_ORDER, MAX_ORDER − 1) with
    /// CONFIG_HUGETLB_PAGE (the profile's value is HUGETLB_PAGE_ORDER, or the boot value for powerpc), else MAX_ORDER − 1.
    /// </summary>
    private static int PageblockOrder(ArchProfile profile, int maxOrder, bool hugetlb) =>
        hugetlb ? Math.Min(profile.PageblockOrder, maxOrder - 1) : maxOrder - 1;

    private int ResolvePgtableLevels(ArchProfile profile, List<string> warnings)
    {
        if (GetNumber("PGTABLE_LEVELS") is not long levels) return profile.PgtableLevels;
        if (levels is < 2 or > 5)
            throw new GupSimException($"{FileName}:{LineOf("PGTABLE_LEVELS")}: CONFIG_PGTABLE_LEVELS={levels} is out of range [2-5]");
        if (levels != profile.PgtableLevels)
            warnings.Add($"CONFIG_PGTABLE_LEVELS={levels} but GupSim's {profile.Name} profile has {profile.PgtableLevels} levels; page-table shifts follow the profile");
        return (int)levels;
    }

    /// <summary>MAX_PHYSMEM_BITS from CONFIG_ARM64_PA_BITS (arm64) or CONFIG_MAX_PHYSMEM_BITS (s390), else the profile's.</summary>
    private int ResolveMaxPhysmemBits(ArchProfile profile, List<string> warnings)
    {
        string? symbol = profile.KernelArch switch
        {
            "arm64" => "ARM64_PA_BITS",
            "s390" => "MAX_PHYSMEM_BITS",
            _ => null,
        };
        if (symbol == null || GetNumber(symbol) is not long bits) return profile.MaxPhysmemBits;
        if (bits <= profile.SectionSizeBits || bits > 64)
        {
            warnings.Add($"CONFIG_{symbol}={bits} is out of range (SECTION_SIZE_BITS {profile.SectionSizeBits} to 64); GupSim keeps {profile.MaxPhysmemBits}");
            return profile.MaxPhysmemBits;
        }
        return (int)bits;
    }
}

using GupSim.Core;

namespace GupSim.Arch;

/// <summary>
/// The arch profiles GupSim models. Values come from the v5.11 and v6.1 trees'
/// arch/*/include/asm/{sparsemem,page,pgtable}.h, include/linux/mmzone.h, arch/*/Kconfig and mm/Kconfig; version-dependent values switch on
/// <see cref="KernelVersion"/>. Kernel virtual address maps follow each arch's documented layout
/// (Documentation/{x86/x86_64,arm64,riscv}/...); bases that the kernel picks at boot (KASLR, s390) are fixed here.
/// </summary>
public static class ArchProfiles
{
    private const ulong K = 1UL << 10, M = 1UL << 20, G = 1UL << 30, T = 1UL << 40;

    /// <summary>Every profile name, in the order `gupsim layout --help` lists them.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "x86_64", "x86_64-5level", "i386", "i386-pae", "arm64-4k", "arm64-16k", "arm64-64k",
        "ppc64", "ppc64-radix", "s390x", "armhf", "armhf-lpae", "riscv64", "sh",
    ];

    /// <summary>The profile used when none is given.</summary>
    public const string DefaultName = "x86_64";

    /// <summary>Returns the named profile as <paramref name="version"/> builds it.</summary>
    /// <exception cref="GupSimException">Thrown when the name is not one of <see cref="Names"/>.</exception>
    public static ArchProfile Get(string name, KernelVersion version)
    {
        return name.Trim().ToLowerInvariant() switch
        {
            "x86_64" or "x86-64" or "amd64" or "x86_64-4level" => X86_64(version, fiveLevel: false),
            "x86_64-5level" => X86_64(version, fiveLevel: true),
            "i386" or "x86_32" or "i686" => I386(version, pae: false),
            "i386-pae" or "x86_32-pae" => I386(version, pae: true),
            "arm64-4k" or "arm64" or "aarch64" => Arm64(version, pageShift: 12),
            "arm64-16k" => Arm64(version, pageShift: 14),
            "arm64-64k" => Arm64(version, pageShift: 16),
            "ppc64" or "ppc64-hash" or "ppc64le" => Ppc64(version, radix: false),
            "ppc64-radix" => Ppc64(version, radix: true),
            "s390x" or "s390" => S390x(version),
            "armhf" or "arm" => Armhf(version, lpae: false),
            "armhf-lpae" or "arm-lpae" => Armhf(version, lpae: true),
            "riscv64" or "riscv" => Riscv64(version),
            "sh" or "superh" or "sh4" => SuperH(version),
            _ => throw new GupSimException($"unknown arch '{name}': use one of {string.Join(", ", Names)}"),
        };
    }

    /// <summary>Whether <paramref name="name"/> names a profile.</summary>
    public static bool IsKnown(string name)
    {
        try
        {
            Get(name, KernelVersion.Default);
            return true;
        }
        catch (GupSimException)
        {
            return false;
        }
    }

    private static List<MemoryModel> SparseModels(KernelVersion v, bool vmemmapForced, bool flatmem, bool discontig)
    {
        var list = new List<MemoryModel>();
        if (flatmem) list.Add(MemoryModel.Flatmem);
        list.Add(MemoryModel.SparsememVmemmap);
        if (!vmemmapForced) list.Add(MemoryModel.Sparsemem);
        if (discontig && v.HasDiscontigmem) list.Add(MemoryModel.Discontigmem);
        return list;
    }

    private static ArchProfile X86_64(KernelVersion v, bool fiveLevel)
    {
        // X86_5LEVEL selects SPARSEMEM_VMEMMAP; in 2025 x86-64 selects it unconditionally (arch/x86/Kconfig, v6.18).
        bool forced = fiveLevel || v.VmemmapMandatoryWhereSupported;
        return new ArchProfile
        {
            Name = fiveLevel ? "x86_64-5level" : "x86_64",
            KernelArch = "x86",
            Version = v,
            Description = fiveLevel ? "x86-64, 5-level paging (LA57)" : "x86-64, 4-level paging",
            BitsPerLong = 64,
            PageShift = 12,
            PgtableLevels = fiveLevel ? 5 : 4,
            PmdShift = 21,
            PudShift = 30,
            P4dShift = 39,
            PgdirShift = fiveLevel ? 48 : 39,
            SectionSizeBits = 27,
            MaxPhysmemBits = fiveLevel ? 52 : 46,
            MaxOrder = 11,
            PageblockOrder = 9,
            Models = SparseModels(v, forced, flatmem: false, discontig: false),
            VmemmapSupported = true,
            VmemmapForced = forced,
            HugePageSizes = [new(2 * M, HugeMapping.PmdLeaf), new(1 * G, HugeMapping.PudLeaf)],
            DefaultHugePageSize = new(2 * M, HugeMapping.PmdLeaf),
            PageOffset = fiveLevel ? 0xff11000000000000UL : 0xffff888000000000UL,
            LinearMapStartsAtRam = false,
            LowmemBytes = fiveLevel ? 4096 * T : 64 * T,
            VmemmapBase = fiveLevel ? 0xffd4000000000000UL : 0xffffea0000000000UL,
            VmallocStart = fiveLevel ? 0xffa0000000000000UL : 0xffffc90000000000UL,
            VmallocEnd = fiveLevel ? 0xffd1ffffffffffffUL : 0xffffe8ffffffffffUL,
            Zones = [new(ZoneType.Dma, 16 * M), new(ZoneType.Dma32, 4 * G), new(ZoneType.Normal, ulong.MaxValue)],
            DefaultRamStart = 0,
            KernelImageStart = 16 * M,
            KernelImageBytes = 48 * M,
        };
    }

    private static ArchProfile I386(KernelVersion v, bool pae)
    {
        return new ArchProfile
        {
            Name = pae ? "i386-pae" : "i386",
            KernelArch = "x86",
            Version = v,
            Description = pae ? "x86-32 with PAE (HIGHMEM64G), 3-level paging" : "x86-32, 2-level paging",
            BitsPerLong = 32,
            PageShift = 12,
            PgtableLevels = pae ? 3 : 2,
            PmdShift = pae ? 21 : 22,
            PudShift = pae ? 30 : 22,
            P4dShift = pae ? 30 : 22,
            PgdirShift = pae ? 30 : 22,
            SectionSizeBits = pae ? 29 : 26,
            MaxPhysmemBits = pae ? 36 : 32,
            MaxOrder = 11,
            PageblockOrder = pae ? 9 : 10,
            // ARCH_FLATMEM_ENABLE (X86_32 && !NUMA) is the default; SPARSEMEM_STATIC; DISCONTIGMEM with NUMA before v5.14.
            Models = v.HasDiscontigmem
                ? [MemoryModel.Flatmem, MemoryModel.Sparsemem, MemoryModel.Discontigmem]
                : [MemoryModel.Flatmem, MemoryModel.Sparsemem],
            VmemmapSupported = false,
            VmemmapForced = false,
            HugePageSizes = [pae ? new(2 * M, HugeMapping.PmdLeaf) : new(4 * M, HugeMapping.PmdLeaf)],
            DefaultHugePageSize = pae ? new(2 * M, HugeMapping.PmdLeaf) : new(4 * M, HugeMapping.PmdLeaf),
            PageOffset = 0xC0000000UL,
            LinearMapStartsAtRam = false,
            LowmemBytes = 896 * M,
            VmemmapBase = 0,
            VmallocStart = 0xF8000000UL,
            VmallocEnd = 0xFF7FE000UL,
            Zones = [new(ZoneType.Dma, 16 * M), new(ZoneType.Normal, 896 * M), new(ZoneType.HighMem, ulong.MaxValue)],
            DefaultRamStart = 0,
            KernelImageStart = 16 * M,
            KernelImageBytes = 16 * M,
        };
    }

    private static ArchProfile Arm64(KernelVersion v, int pageShift)
    {
        // Page-table shift formula (arch/arm64/include/asm/pgtable-hwdef.h ARM64_HW_PGTABLE_LEVEL_SHIFT): level n shift = (PAGE_SHIFT - 3) * (4 - n) + 3.
        int levels = pageShift == 16 ? 3 : 4;
        int Shift(int n) => (pageShift - 3) * (4 - n) + 3;
        int pgdir = Shift(4 - levels);
        int pmd = Shift(2);
        int pud = levels >= 4 ? Shift(1) : pgdir;
        int sectionBits = v.HasArm64SmallSections ? (pageShift == 16 ? 29 : 27) : 30;
        int maxOrder = pageShift switch { 16 => 14, 14 => 12, _ => 11 };
        // The v6.1 tree selects SPARSEMEM_VMEMMAP on arm64; v5.11 only SPARSEMEM_VMEMMAP_ENABLE (arch/arm64/Kconfig).
        bool forced = v >= KernelVersion.V6_1;
        HugePageSize[] sizes = pageShift switch
        {
            12 => [new(64 * K, HugeMapping.ContPte, 16), new(2 * M, HugeMapping.PmdLeaf), new(32 * M, HugeMapping.ContPmd, 16), new(1 * G, HugeMapping.PudLeaf)],
            14 => [new(2 * M, HugeMapping.ContPte, 128), new(32 * M, HugeMapping.PmdLeaf), new(1 * G, HugeMapping.ContPmd, 32)],
            _ => [new(2 * M, HugeMapping.ContPte, 32), new(512 * M, HugeMapping.PmdLeaf), new(16 * G, HugeMapping.ContPmd, 32)],
        };
        // VMEMMAP_START = -(1 << (VA_BITS - VMEMMAP_SHIFT)), VMEMMAP_SHIFT = PAGE_SHIFT - STRUCT_PAGE_MAX_SHIFT (v6.1).
        ulong vmemmapStart = 0UL - (1UL << (48 - (pageShift - 6)));
        return new ArchProfile
        {
            Name = pageShift switch { 16 => "arm64-64k", 14 => "arm64-16k", _ => "arm64-4k" },
            KernelArch = "arm64",
            Version = v,
            Description = $"arm64, {1 << (pageShift - 10)}K pages, 48-bit VA, {levels} levels",
            BitsPerLong = 64,
            PageShift = pageShift,
            PgtableLevels = levels,
            PmdShift = pmd,
            PudShift = pud,
            P4dShift = pgdir,
            PgdirShift = pgdir,
            SectionSizeBits = sectionBits,
            MaxPhysmemBits = 48,
            MaxOrder = maxOrder,
            PageblockOrder = pmd - pageShift,
            Models = SparseModels(v, forced, flatmem: false, discontig: false),
            VmemmapSupported = true,
            VmemmapForced = forced,
            HugePageSizes = sizes,
            DefaultHugePageSize = sizes.First(s => s.Mapping == HugeMapping.PmdLeaf),
            PageOffset = 0xffff000000000000UL,
            LinearMapStartsAtRam = true,
            LowmemBytes = 128 * T,
            VmemmapBase = vmemmapStart,
            VmemmapBiasedByMemstart = true,
            MemstartAlign = pageShift switch { 16 => 512 * M, 14 => 32 * M, _ => 1 * G },
            VmallocStart = 0xffff800008000000UL,
            VmallocEnd = 0xfffffbfff0000000UL,
            Zones = [new(ZoneType.Dma32, 4 * G), new(ZoneType.Normal, ulong.MaxValue)],
            DefaultRamStart = 1 * G,
            KernelImageStart = 1 * G + 2 * M,
            KernelImageBytes = 48 * M,
        };
    }

    private static ArchProfile Ppc64(KernelVersion v, bool radix)
    {
        // Book3S-64 with 64K pages. Hash: PTE/PMD/PUD index sizes 8/10/10 → PMD 24 (16M), PUD 34 (16G), PGD 44.
        // Radix: 5/9/9/13 → PMD 21 (2M), PUD 30 (1G), PGD 39.
        bool forced = v.VmemmapMandatoryWhereSupported;
        HugePageSize[] sizes = radix
            ? [new(2 * M, HugeMapping.PmdLeaf), new(1 * G, HugeMapping.PudLeaf)]
            : [new(16 * M, HugeMapping.PmdLeaf), new(16 * G, HugeMapping.PudLeaf)];
        return new ArchProfile
        {
            Name = radix ? "ppc64-radix" : "ppc64",
            KernelArch = "powerpc",
            Version = v,
            Description = radix ? "powerpc64 Book3S, 64K pages, radix MMU" : "powerpc64 Book3S, 64K pages, hash MMU",
            BitsPerLong = 64,
            PageShift = 16,
            PgtableLevels = 4,
            PmdShift = radix ? 21 : 24,
            PudShift = radix ? 30 : 34,
            P4dShift = radix ? 39 : 44,
            PgdirShift = radix ? 39 : 44,
            SectionSizeBits = 24,
            MaxPhysmemBits = 51,
            MaxOrder = 9,
            // HUGETLB_PAGE_SIZE_VARIABLE: pageblock_order = min(HPAGE_SHIFT - PAGE_SHIFT, MAX_ORDER - 1).
            PageblockOrder = Math.Min((radix ? 21 : 24) - 16, 8),
            Models = SparseModels(v, forced, flatmem: false, discontig: false),
            VmemmapSupported = true,
            VmemmapForced = forced,
            HugePageSizes = sizes,
            DefaultHugePageSize = sizes[0],
            PageOffset = 0xc000000000000000UL,
            LinearMapStartsAtRam = false,
            LowmemBytes = 2048 * T,
            VmemmapBase = 0xc00c000000000000UL,
            VmallocStart = 0xc008000000000000UL,
            VmallocEnd = 0xc009000000000000UL,
            Zones = [new(ZoneType.Normal, ulong.MaxValue)],
            DefaultRamStart = 0,
            KernelImageStart = 0,
            KernelImageBytes = 64 * M,
        };
    }

    private static ArchProfile S390x(KernelVersion v)
    {
        return new ArchProfile
        {
            Name = "s390x",
            KernelArch = "s390",
            Version = v,
            Description = "s390x (z/Architecture), identity-mapped kernel",
            BitsPerLong = 64,
            PageShift = 12,
            PgtableLevels = 5,
            PmdShift = 20,
            PudShift = 31,
            P4dShift = 42,
            PgdirShift = 53,
            // SECTION_SIZE_BITS 28 → 27 in 2024 (arch/s390/include/asm/sparsemem.h).
            SectionSizeBits = v >= KernelVersion.V6_18 ? 27 : 28,
            MaxPhysmemBits = 46,
            MaxOrder = 11,
            PageblockOrder = 8,
            Models = [MemoryModel.SparsememVmemmap],
            VmemmapSupported = true,
            VmemmapForced = true,
            HugePageSizes = [new(1 * M, HugeMapping.PmdLeaf), new(2 * G, HugeMapping.PudLeaf)],
            DefaultHugePageSize = new(1 * M, HugeMapping.PmdLeaf),
            PageOffset = 0,
            LinearMapStartsAtRam = false,
            LowmemBytes = 64 * T,
            VmemmapBase = 0x0000400000000000UL,
            VmallocStart = 0x0000500000000000UL,
            VmallocEnd = 0x0000600000000000UL,
            Zones = [new(ZoneType.Dma, 2 * G), new(ZoneType.Normal, ulong.MaxValue)],
            DefaultRamStart = 0,
            KernelImageStart = 1 * M,
            KernelImageBytes = 32 * M,
        };
    }

    private static ArchProfile Armhf(KernelVersion v, bool lpae)
    {
        return new ArchProfile
        {
            Name = lpae ? "armhf-lpae" : "armhf",
            KernelArch = "arm",
            Version = v,
            Description = lpae ? "32-bit ARM with LPAE, 3-level paging" : "32-bit ARM, classic 2-level paging (no hugetlb)",
            BitsPerLong = 32,
            PageShift = 12,
            PgtableLevels = lpae ? 3 : 2,
            PmdShift = 21,
            PudShift = lpae ? 30 : 21,
            P4dShift = lpae ? 30 : 21,
            PgdirShift = lpae ? 30 : 21,
            SectionSizeBits = 28,
            MaxPhysmemBits = 36,
            MaxOrder = 11,
            PageblockOrder = lpae ? 9 : 10,
            Models = [MemoryModel.Flatmem, MemoryModel.Sparsemem],
            VmemmapSupported = false,
            VmemmapForced = false,
            HugePageSizes = lpae ? [new(2 * M, HugeMapping.PmdLeaf)] : [],
            DefaultHugePageSize = lpae ? new(2 * M, HugeMapping.PmdLeaf) : null,
            PageOffset = 0xC0000000UL,
            LinearMapStartsAtRam = true,
            LowmemBytes = 768 * M,
            VmemmapBase = 0,
            VmallocStart = 0xF0000000UL,
            VmallocEnd = 0xFF800000UL,
            Zones = [new(ZoneType.Normal, 1 * G + 768 * M), new(ZoneType.HighMem, ulong.MaxValue)],
            DefaultRamStart = 1 * G,
            KernelImageStart = 1 * G + 32 * K,
            KernelImageBytes = 16 * M,
        };
    }

    private static ArchProfile Riscv64(KernelVersion v)
    {
        bool forced = v.VmemmapMandatoryWhereSupported;
        return new ArchProfile
        {
            Name = "riscv64",
            KernelArch = "riscv",
            Version = v,
            Description = "riscv64, Sv39 (3 levels)",
            BitsPerLong = 64,
            PageShift = 12,
            PgtableLevels = 3,
            PmdShift = 21,
            PudShift = 30,
            P4dShift = 30,
            PgdirShift = 30,
            SectionSizeBits = 27,
            MaxPhysmemBits = 56,
            MaxOrder = 11,
            PageblockOrder = 9,
            Models = forced
                ? [MemoryModel.SparsememVmemmap, MemoryModel.Flatmem]
                : [MemoryModel.SparsememVmemmap, MemoryModel.Sparsemem, MemoryModel.Flatmem],
            VmemmapSupported = true,
            VmemmapForced = forced,
            HugePageSizes = [new(2 * M, HugeMapping.PmdLeaf), new(1 * G, HugeMapping.PudLeaf)],
            DefaultHugePageSize = new(2 * M, HugeMapping.PmdLeaf),
            PageOffset = 0xffffffd800000000UL,
            LinearMapStartsAtRam = true,
            LowmemBytes = 124 * G,
            VmemmapBase = 0xffffffc700000000UL,
            // vmemmap = VMEMMAP_START until "riscv: Sparse-Memory/vmemmap out-of-bounds fix" (v6.8, Fixes: d95f1a542c3d)
            // subtracted phys_ram_base >> PAGE_SHIFT; before it pfn 0's struct page sits at VMEMMAP_START.
            VmemmapBiasedByMemstart = v >= KernelVersion.FromNumbers(6, 8),
            VmallocStart = 0xffffffc800000000UL,
            VmallocEnd = 0xffffffd800000000UL,
            Zones = [new(ZoneType.Dma32, 4 * G), new(ZoneType.Normal, ulong.MaxValue)],
            DefaultRamStart = 2 * G,
            KernelImageStart = 2 * G + 2 * M,
            KernelImageBytes = 32 * M,
        };
    }

    private static ArchProfile SuperH(KernelVersion v)
    {
        HugePageSize[] sizes =
        [
            new(64 * K, HugeMapping.PteLeaf), new(256 * K, HugeMapping.PteLeaf), new(1 * M, HugeMapping.PteLeaf),
            new(4 * M, HugeMapping.PteLeaf), new(64 * M, HugeMapping.PteLeaf), new(512 * M, HugeMapping.PteLeaf),
        ];
        return new ArchProfile
        {
            Name = "sh",
            KernelArch = "sh",
            Version = v,
            Description = "SuperH (sh4), 29-bit P1 direct map, 2-level paging",
            BitsPerLong = 32,
            PageShift = 12,
            PgtableLevels = 2,
            PmdShift = 22,
            PudShift = 22,
            P4dShift = 22,
            PgdirShift = 22,
            SectionSizeBits = 26,
            MaxPhysmemBits = 32,
            MaxOrder = 11,
            PageblockOrder = 8,
            Models = [MemoryModel.Flatmem, MemoryModel.Sparsemem],
            VmemmapSupported = false,
            VmemmapForced = false,
            HugePageSizes = sizes,
            DefaultHugePageSize = sizes[2],
            PageOffset = 0x80000000UL,
            LinearMapStartsAtRam = false,
            LowmemBytes = 512 * M,
            VmemmapBase = 0,
            VmallocStart = 0xC0000000UL,
            VmallocEnd = 0xE0000000UL,
            Zones = [new(ZoneType.Normal, ulong.MaxValue)],
            DefaultRamStart = 0x0C000000UL,
            KernelImageStart = 0x0C001000UL,
            KernelImageBytes = 8 * M,
        };
    }
}

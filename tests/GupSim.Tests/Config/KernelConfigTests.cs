using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;

namespace GupSim.Tests.Config;

public class KernelConfigTests
{
    private static string DataPath(string name) => Path.Combine(AppContext.BaseDirectory, "data", "kernel-configs", name);

    private static KernelConfig Text(params string[] lines) => KernelConfig.Parse(string.Join('\n', lines), "test.config");

    // Expected values worked out from each file's own lines (grep) and the kernel sources:
    // profile from CONFIG_X86_64/X86_5LEVEL, X86_32/X86_PAE, ARM64/ARM64_4K_PAGES, ARM/ARM_LPAE; version from the
    // "# Linux/<arch> <version> Kernel Configuration" header (line 3); model from FLATMEM / SPARSEMEM_VMEMMAP;
    // SECTION_SIZE_BITS from arch/*/include/asm/sparsemem.h (x86_64 27, arm64 4K v5.12+ 27 since f0b13ee23241; none
    // under FLATMEM); MAX_ORDER from include/linux/mmzone.h (11 unless the arch's Kconfig sets it).
    [Theory]
    // Linux/x86 6.1.192; X86_5LEVEL=y, PGTABLE_LEVELS=5; SPARSEMEM_VMEMMAP=y + EXTREME → sections of 2^27 (sparsemem.h);
    // no MAX_ORDER symbol on x86 → 11 (mmzone.h); HUGETLB_PAGE=y; PAGE_EXTENSION=y.
    [InlineData("6.1-amd64_none_amd64.config", "x86_64-5level", "x86", "6.1", MemoryModel.SparsememVmemmap, 27, 11, true, 5, true, false, true)]
    // Same as amd64 but "# CONFIG_PAGE_EXTENSION is not set".
    [InlineData("6.1-amd64_none_cloud-amd64.config", "x86_64-5level", "x86", "6.1", MemoryModel.SparsememVmemmap, 27, 11, true, 5, true, false, false)]
    // RT flavour: no THP, but HUGETLB_PAGE=y and PAGE_EXTENSION=y; otherwise as amd64.
    [InlineData("6.1-amd64_rt_amd64.config", "x86_64-5level", "x86", "6.1", MemoryModel.SparsememVmemmap, 27, 11, true, 5, true, false, true)]
    // Linux/arm64 6.1.176; ARM64_4K_PAGES, VA_BITS=48, PGTABLE_LEVELS=4; VMEMMAP + EXTREME → 27 (f0b13ee23241, v5.12+);
    // ARCH_FORCE_MAX_ORDER=11, exclusive in 6.1 → 11; HUGETLB_PAGE=y; PAGE_EXTENSION=y.
    [InlineData("6.1-arm64_none_arm64.config", "arm64-4k", "arm64", "6.1", MemoryModel.SparsememVmemmap, 27, 11, true, 4, true, false, true)]
    // As arm64 but "# CONFIG_PAGE_EXTENSION is not set".
    [InlineData("6.1-arm64_none_cloud-arm64.config", "arm64-4k", "arm64", "6.1", MemoryModel.SparsememVmemmap, 27, 11, true, 4, true, false, false)]
    // RT flavour, same memory symbols as arm64.
    [InlineData("6.1-arm64_rt_arm64.config", "arm64-4k", "arm64", "6.1", MemoryModel.SparsememVmemmap, 27, 11, true, 4, true, false, true)]
    // Linux/arm 6.1.176; "# CONFIG_ARM_LPAE is not set", PGTABLE_LEVELS=2; FLATMEM=y → no sections;
    // ARCH_FORCE_MAX_ORDER=12 (exclusive in 6.1) → 12; no HUGETLB_PAGE line (no ARCH_SUPPORTS_HUGETLBFS without LPAE).
    [InlineData("6.1-armhf_none_armmp.config", "armhf", "arm", "6.1", MemoryModel.Flatmem, null, 12, false, 2, false, false, true)]
    // RT flavour, same memory symbols as armmp.
    [InlineData("6.1-armhf_rt_armmp.config", "armhf", "arm", "6.1", MemoryModel.Flatmem, null, 12, false, 2, false, false, true)]
    // Linux/x86 6.1.176; X86_32 + X86_PAE (HIGHMEM64G), PGTABLE_LEVELS=3; FLATMEM=y wins over the arch-selected
    // SPARSEMEM_STATIC=y (arch/x86/Kconfig) → no sections; x86 MAX_ORDER 11; HUGETLB_PAGE=y.
    [InlineData("6.1-i386_none_686-pae.config", "i386-pae", "x86", "6.1", MemoryModel.Flatmem, null, 11, true, 3, false, true, true)]
    // Linux/x86 6.1.176; X86_32 without PAE (HIGHMEM4G), PGTABLE_LEVELS=2; FLATMEM=y + SPARSEMEM_STATIC=y; MAX_ORDER 11.
    [InlineData("6.1-i386_none_686.config", "i386", "x86", "6.1", MemoryModel.Flatmem, null, 11, true, 2, false, true, true)]
    // Linux/x86 6.12.117; as 6.1 amd64: X86_5LEVEL=y, PGTABLE_LEVELS=5, VMEMMAP + EXTREME → 27; no MAX_ORDER symbol:
    // default MAX_ORDER 10 inclusive (v6.4+) = 11 in the v5.11 meaning.
    [InlineData("6.12-amd64_none_amd64.config", "x86_64-5level", "x86", "6.12", MemoryModel.SparsememVmemmap, 27, 11, true, 5, true, false, true)]
    // As 6.12 amd64 but "# CONFIG_PAGE_EXTENSION is not set".
    [InlineData("6.12-amd64_none_cloud-amd64.config", "x86_64-5level", "x86", "6.12", MemoryModel.SparsememVmemmap, 27, 11, true, 5, true, false, false)]
    // RT flavour, same memory symbols as 6.12 amd64.
    [InlineData("6.12-amd64_rt_amd64.config", "x86_64-5level", "x86", "6.12", MemoryModel.SparsememVmemmap, 27, 11, true, 5, true, false, true)]
    public void Derive_ShippedDebianConfig_GivesExpectedMachine(string file, string profile, string kernelArch, string version,
        MemoryModel model, int? sectionSizeBits, int maxOrder, bool hugetlb, int levels, bool extreme, bool isStatic, bool pageExt)
    {
        var config = KernelConfig.Load(DataPath(file));
        var d = config.Derive();

        Assert.Equal(profile, d.Arch.Name);
        Assert.Equal(kernelArch, config.HeaderArch);
        Assert.Equal(kernelArch, d.Arch.KernelArch);
        Assert.Equal(version, d.Version.ToString());
        Assert.Equal(d.Version, d.Arch.Version);
        Assert.Equal(model, d.Model);
        Assert.Equal(sectionSizeBits, d.SectionSizeBits);
        Assert.Equal(maxOrder, d.MaxOrder);
        Assert.Equal(maxOrder, d.Arch.MaxOrder);
        Assert.Equal(hugetlb, d.Hugetlb);
        Assert.Equal(levels, d.PgtableLevels);
        Assert.Equal(levels, d.Arch.PgtableLevels);
        Assert.Equal(extreme, d.SparsememExtreme);
        Assert.Equal(isStatic, d.SparsememStatic);
        Assert.Equal(pageExt, d.PageExtension);
        Assert.Empty(d.Warnings);
    }

    [Fact]
    public void Load_ShippedConfig_ReadsHeaderAndValues()
    {
        var config = KernelConfig.Load(DataPath("6.1-amd64_none_amd64.config"));

        Assert.Equal("x86", config.HeaderArch);
        Assert.Equal("6.1.192", config.VersionText);
        Assert.Equal(KernelVersion.V6_1, config.Version);
        Assert.Equal("gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", config.GetString("CONFIG_CC_VERSION_TEXT"));
        Assert.Equal(5, config.GetNumber("PGTABLE_LEVELS"));
        Assert.Equal(0x1000000, config.GetNumber("CONFIG_PHYSICAL_START"));
        Assert.Equal(0xdead000000000000UL, config.GetUnsignedNumber("ILLEGAL_POINTER_VALUE"));
        Assert.Equal(Tristate.Module, config.GetTristate("X86_MCE_INJECT"));
        Assert.Equal(5, config.LineOf("CONFIG_CC_VERSION_TEXT"));
    }

    [Fact]
    public void Derive_ArmhfWithoutHugetlb_PageblockOrderIsMaxOrderMinusOne()
    {
        // pageblock-flags.h (6.1): pageblock_order = MAX_ORDER - 1 without CONFIG_HUGETLB_PAGE; MAX_ORDER 12 here.
        var d = KernelConfig.Load(DataPath("6.1-armhf_none_armmp.config")).Derive();

        Assert.Equal(11, d.Arch.PageblockOrder);
    }

    [Theory]
    [InlineData("CONFIG_FOO")]
    [InlineData("FOO=y")]
    [InlineData("CONFIG_X=\"unterminated")]
    [InlineData("CONFIG_X=")]
    [InlineData("CONFIG_X=maybe")]
    [InlineData("CONFIG_X=\"a\" trailing")]
    [InlineData("CONFIG_X=\"ends in backslash\\")]
    [InlineData("CONFIG_=y")]
    [InlineData("CONFIG_X-Y=y")]
    [InlineData("CONFIG_X=0x")]
    [InlineData("CONFIG_X=0xZZ")]
    [InlineData("CONFIG_X=12abc")]
    public void Parse_MalformedLine_ThrowsWithFileAndLineNumber(string bad)
    {
        var e = Assert.Throws<GupSimException>(() => Text(
            "#",
            "# Linux/x86 6.1.0 Kernel Configuration",
            "CONFIG_X86_64=y",
            "",
            "# a comment",
            bad,
            "CONFIG_Y=y"));

        Assert.Equal($"test.config:6: malformed line: {bad}", e.Message);
    }

    [Fact]
    public void Parse_MalformedLineDeepInShippedFile_CountsLinesExactly()
    {
        string[] lines = File.ReadAllLines(DataPath("6.1-arm64_none_arm64.config"));
        var edited = new List<string>(lines);
        edited.Insert(4999, "CONFIG_BROKEN"); // becomes line 5000

        var e = Assert.Throws<GupSimException>(() => KernelConfig.Parse(string.Join('\n', edited), "arm64.config"));

        Assert.Equal("arm64.config:5000: malformed line: CONFIG_BROKEN", e.Message);
    }

    [Fact]
    public void Parse_CrLfLineEndings_AreAccepted()
    {
        var config = KernelConfig.Parse("# Linux/x86 6.1.0 Kernel Configuration\r\nCONFIG_X86_64=y\r\nCONFIG_S=\"x\"\r\n", "crlf.config");

        Assert.True(config.IsSet("X86_64"));
        Assert.Equal("x", config.GetString("S"));
    }

    [Fact]
    public void Derive_UnknownArchInHeader_ThrowsNamingIt()
    {
        var config = Text("# Linux/mips 6.1.0 Kernel Configuration", "CONFIG_MIPS=y", "CONFIG_SPARSEMEM=y");

        var e = Assert.Throws<GupSimException>(() => config.Derive());

        Assert.StartsWith("test.config: architecture 'mips' is not modelled by GupSim (modelled: x86", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Derive_UnknownArchWithoutHeader_NamesItFromItsSymbol()
    {
        var config = Text("CONFIG_SPARC=y", "CONFIG_64BIT=y");

        var e = Assert.Throws<GupSimException>(() => config.Derive(KernelVersion.V6_1));

        Assert.StartsWith("test.config: architecture 'sparc' is not modelled by GupSim", e.Message);
    }

    [Fact]
    public void Derive_Riscv32_IsNotModelled()
    {
        var config = Text("# Linux/riscv 6.1.0 Kernel Configuration", "CONFIG_RISCV=y", "# CONFIG_64BIT is not set");

        var e = Assert.Throws<GupSimException>(() => config.Derive());

        Assert.StartsWith("test.config: architecture 'riscv' without CONFIG_64BIT is not modelled by GupSim", e.Message);
    }

    [Fact]
    public void Derive_FiveLevelWithClassicSparsemem_LoadsWithWarning()
    {
        var config = Text(
            "# Linux/x86 6.1.0 Kernel Configuration",
            "CONFIG_X86_64=y",
            "CONFIG_X86_5LEVEL=y",
            "CONFIG_PGTABLE_LEVELS=5",
            "CONFIG_SPARSEMEM=y",
            "CONFIG_SPARSEMEM_EXTREME=y",
            "# CONFIG_SPARSEMEM_VMEMMAP is not set");

        var d = config.Derive();

        Assert.Equal("x86_64-5level", d.Arch.Name);
        Assert.Equal(MemoryModel.Sparsemem, d.Model);
        Assert.Equal(27, d.SectionSizeBits);
        var w = Assert.Single(d.Warnings);
        Assert.Equal("CONFIG_SPARSEMEM_VMEMMAP is off but x86_64-5level forces it in 6.1 (X86_5LEVEL selects it); the real Kconfig would not produce this file", w);
    }

    [Fact]
    public void Derive_FourLevelWithClassicSparsemem_IsAllowed()
    {
        // mm/Kconfig, arch/x86/Kconfig: with X86_5LEVEL=n VMEMMAP is user-deselectable before 6.18.
        var config = Text(
            "# Linux/x86 6.1.0 Kernel Configuration",
            "CONFIG_X86_64=y",
            "# CONFIG_X86_5LEVEL is not set",
            "CONFIG_PGTABLE_LEVELS=4",
            "CONFIG_SPARSEMEM=y",
            "CONFIG_SPARSEMEM_EXTREME=y",
            "# CONFIG_SPARSEMEM_VMEMMAP is not set");

        var d = config.Derive();

        Assert.Equal("x86_64", d.Arch.Name);
        Assert.Equal(MemoryModel.Sparsemem, d.Model);
        Assert.Equal(4, d.PgtableLevels);
        Assert.Empty(d.Warnings);
    }

    [Fact]
    public void Accessors_StringsNumbersAndTristates_Parse()
    {
        var config = Text(
            "CONFIG_S=\"a \\\"quoted\\\" back\\\\slash\"",
            "CONFIG_EMPTY=\"\"",
            "CONFIG_N=123",
            "CONFIG_NEG=-1",
            "CONFIG_H=0x1000",
            "CONFIG_BIG=0xdead000000000000",
            "CONFIG_Y=y",
            "CONFIG_M=m",
            "CONFIG_NO=n");

        Assert.Equal("a \"quoted\" back\\slash", config.GetString("CONFIG_S"));
        Assert.Equal("a \"quoted\" back\\slash", config.GetString("S"));
        Assert.Equal("", config.GetString("EMPTY"));
        Assert.Equal(123, config.GetNumber("N"));
        Assert.Equal(123, config.GetNumber("CONFIG_N"));
        Assert.Equal(-1, config.GetNumber("NEG"));
        Assert.Equal(0x1000, config.GetNumber("H"));
        Assert.Equal(0x1000UL, config.GetUnsignedNumber("H"));
        Assert.Equal(0xdead000000000000UL, config.GetUnsignedNumber("BIG"));
        Assert.Throws<GupSimException>(() => config.GetNumber("BIG"));
        Assert.Throws<GupSimException>(() => config.GetUnsignedNumber("NEG"));
        Assert.True(config.IsSet("Y"));
        Assert.True(config.IsSet("CONFIG_M"));
        Assert.False(config.IsSet("NO"));
        Assert.False(config.IsSet("N")); // a number is not y or m
        Assert.Equal(Tristate.Yes, config.GetTristate("Y"));
        Assert.Equal(Tristate.Module, config.GetTristate("M"));
        Assert.Equal(Tristate.No, config.GetTristate("NO"));
        Assert.Null(config.GetNumber("ABSENT"));
        Assert.Null(config.GetString("ABSENT"));
        Assert.False(config.IsSet("ABSENT"));
        var e = Assert.Throws<GupSimException>(() => config.GetNumber("S"));
        Assert.StartsWith("test.config:1: CONFIG_S=", e.Message);
        Assert.Throws<GupSimException>(() => config.GetTristate("N"));
        Assert.Throws<GupSimException>(() => config.GetString("N"));
    }

    [Fact]
    public void Accessors_IsNotSetComment_ReadsAsNotSet()
    {
        var config = Text("CONFIG_X=y", "# CONFIG_X is not set", "# CONFIG_Z is not set", "# CONFIG_W is a comment");

        Assert.False(config.IsSet("X")); // the later line wins
        Assert.False(config.IsSet("CONFIG_Z"));
        Assert.True(config.Contains("Z"));
        Assert.False(config.Contains("W"));
        Assert.Equal(Tristate.No, config.GetTristate("Z"));
        Assert.Null(config.GetNumber("Z"));
        Assert.Null(config.GetString("Z"));
        Assert.Equal(2, config.Count);
    }

    [Fact]
    public void Derive_RepeatedAssignment_WarnsWithLines()
    {
        var config = Text("# Linux/x86 6.1.0 Kernel Configuration", "CONFIG_X86_64=y", "CONFIG_SPARSEMEM=y",
            "CONFIG_SPARSEMEM_VMEMMAP=y", "CONFIG_SPARSEMEM_VMEMMAP=y");

        var w = Assert.Single(config.Derive().Warnings);

        Assert.Equal("line 5: CONFIG_SPARSEMEM_VMEMMAP is assigned again (first on line 4); the later value wins", w);
    }

    [Theory]
    // v6.4+ (23baf831a32c): ARCH_FORCE_MAX_ORDER is inclusive → +1 in the v5.11 meaning.
    [InlineData("6.4.0", "arm64", "CONFIG_ARM64=y", "CONFIG_ARCH_FORCE_MAX_ORDER=10", 11)]
    [InlineData("6.12.0", "arm64", "CONFIG_ARM64=y\nCONFIG_ARM64_64K_PAGES=y", "CONFIG_ARCH_FORCE_MAX_ORDER=13", 14)]
    // 6.1–6.3: ARCH_FORCE_MAX_ORDER, still exclusive.
    [InlineData("6.3.0", "arm64", "CONFIG_ARM64=y", "CONFIG_ARCH_FORCE_MAX_ORDER=11", 11)]
    [InlineData("6.1.0", "arm", "CONFIG_ARM=y", "CONFIG_ARCH_FORCE_MAX_ORDER=12", 12)]
    // ≤ 6.0: FORCE_MAX_ZONEORDER, exclusive.
    [InlineData("5.11.0", "arm64", "CONFIG_ARM64=y\nCONFIG_ARM64_16K_PAGES=y", "CONFIG_FORCE_MAX_ZONEORDER=12", 12)]
    // No symbol: the arch default (x86 11, include/linux/mmzone.h), whatever the version's meaning.
    [InlineData("6.6.0", "x86", "CONFIG_X86_64=y", "", 11)]
    public void Derive_MaxOrderSymbol_GivesExclusiveMaxOrder(string version, string arch, string archLines, string maxOrderLine, int expected)
    {
        var config = Text($"# Linux/{arch} {version} Kernel Configuration", archLines, maxOrderLine);

        var d = config.Derive();

        Assert.Equal(expected, d.MaxOrder);
        Assert.Equal(expected, d.Arch.MaxOrder);
    }

    [Fact]
    public void Derive_OldMaxOrderNameOnNewKernel_WarnsAndReadsIt()
    {
        var config = Text("# Linux/arm64 6.1.0 Kernel Configuration", "CONFIG_ARM64=y", "CONFIG_ARM64_4K_PAGES=y",
            "CONFIG_SPARSEMEM=y", "CONFIG_SPARSEMEM_VMEMMAP=y", "CONFIG_FORCE_MAX_ZONEORDER=12");

        var d = config.Derive();

        Assert.Equal(12, d.MaxOrder);
        Assert.Contains("CONFIG_FORCE_MAX_ZONEORDER does not exist in 6.1", Assert.Single(d.Warnings));
    }

    [Theory]
    // arm64 4K, 6.1: SECTION_SIZE_BITS 27. MAX_ORDER 16 → 15 + 12 = 27, fits; 17 → 28 > 27, the kernel's #error.
    [InlineData(16, false)]
    [InlineData(17, true)]
    public void Derive_MaxOrderBeyondSection_Warns(int maxOrder, bool warns)
    {
        var config = Text("# Linux/arm64 6.1.0 Kernel Configuration", "CONFIG_ARM64=y", "CONFIG_ARM64_4K_PAGES=y",
            "CONFIG_SPARSEMEM=y", "CONFIG_SPARSEMEM_VMEMMAP=y", $"CONFIG_ARCH_FORCE_MAX_ORDER={maxOrder}");

        var d = config.Derive();

        if (warns)
            Assert.Equal("MAX_ORDER 17 (largest block order 16) exceeds a section: 16 + PAGE_SHIFT 12 = 28 > SECTION_SIZE_BITS 27; the kernel fails to build (#error Allocator MAX_ORDER exceeds SECTION_SIZE)", Assert.Single(d.Warnings));
        else
            Assert.Empty(d.Warnings);
    }

    [Fact]
    public void Derive_MaxOrderOutOfRange_ThrowsWithLine()
    {
        var config = Text("# Linux/arm64 6.1.0 Kernel Configuration", "CONFIG_ARM64=y", "CONFIG_ARCH_FORCE_MAX_ORDER=0");

        var e = Assert.Throws<GupSimException>(() => config.Derive());

        Assert.StartsWith("test.config:3: CONFIG_ARCH_FORCE_MAX_ORDER=0 is out of range", e.Message);
    }

    [Fact]
    public void Derive_DiscontigmemAfter514_Warns()
    {
        var config = Text("# Linux/x86 6.1.0 Kernel Configuration", "CONFIG_X86_32=y", "CONFIG_DISCONTIGMEM=y");

        var d = config.Derive();

        Assert.Equal(MemoryModel.Discontigmem, d.Model);
        Assert.Null(d.SectionSizeBits);
        Assert.Equal("CONFIG_DISCONTIGMEM is set but DISCONTIGMEM was removed in 5.14; the real Kconfig of 6.1 would not produce this file", Assert.Single(d.Warnings));
    }

    [Fact]
    public void Derive_DiscontigmemOn511I386_IsAllowed()
    {
        var d = Text("# Linux/x86 5.11.0 Kernel Configuration", "CONFIG_X86_32=y", "CONFIG_DISCONTIGMEM=y").Derive();

        Assert.Equal(MemoryModel.Discontigmem, d.Model);
        Assert.Empty(d.Warnings);
    }

    [Fact]
    public void Derive_VmemmapOnI386_WarnsModelNotAvailable()
    {
        var d = Text("# Linux/x86 6.1.0 Kernel Configuration", "CONFIG_X86_32=y", "CONFIG_SPARSEMEM=y", "CONFIG_SPARSEMEM_VMEMMAP=y").Derive();

        Assert.Equal("memory model sparsemem-vmemmap is not available on i386 in 6.1 (available: flatmem, sparsemem); the real Kconfig would not produce this file", Assert.Single(d.Warnings));
    }

    [Fact]
    public void Derive_HugetlbOnArmWithoutLpae_Warns()
    {
        var d = Text("# Linux/arm 6.1.0 Kernel Configuration", "CONFIG_ARM=y", "CONFIG_FLATMEM=y", "CONFIG_HUGETLB_PAGE=y").Derive();

        Assert.True(d.Hugetlb);
        Assert.Equal("CONFIG_HUGETLB_PAGE is set but armhf has no huge page sizes (32-bit ARM has hugetlb only with CONFIG_ARM_LPAE); the real Kconfig would not produce this file", Assert.Single(d.Warnings));
    }

    [Theory]
    [InlineData("CONFIG_ARM64=y\nCONFIG_ARM64_16K_PAGES=y", "arm64-16k")]
    [InlineData("CONFIG_ARM64=y\nCONFIG_ARM64_64K_PAGES=y", "arm64-64k")]
    [InlineData("CONFIG_ARM=y\nCONFIG_ARM_LPAE=y", "armhf-lpae")]
    [InlineData("CONFIG_PPC=y\nCONFIG_PPC64=y\nCONFIG_PPC_64K_PAGES=y", "ppc64")]
    [InlineData("CONFIG_PPC=y\nCONFIG_PPC64=y\nCONFIG_PPC_64K_PAGES=y\nCONFIG_PPC_RADIX_MMU_DEFAULT=y", "ppc64-radix")]
    [InlineData("CONFIG_S390=y\nCONFIG_64BIT=y", "s390x")]
    [InlineData("CONFIG_RISCV=y\nCONFIG_64BIT=y", "riscv64")]
    [InlineData("CONFIG_SUPERH=y", "sh")]
    public void Derive_ArchSymbols_PickProfile(string archLines, string profile)
    {
        var d = Text(archLines).Derive(KernelVersion.V6_1);

        Assert.Equal(profile, d.Arch.Name);
    }

    [Fact]
    public void Derive_NoHeader_ThrowsAskingForKernel()
    {
        var config = Text("CONFIG_X86_64=y", "CONFIG_SPARSEMEM=y", "CONFIG_SPARSEMEM_VMEMMAP=y");

        var e = Assert.Throws<GupSimException>(() => config.Derive());

        Assert.Equal("test.config: no '# Linux/<arch> <version> Kernel Configuration' header: pass --kernel", e.Message);
        Assert.Equal(KernelVersion.V5_12, config.Derive(KernelVersion.V5_12).Version);
    }

    [Fact]
    public void Parse_NoHeaderButVersionSignature_TakesVersionFromIt()
    {
        var config = Text("CONFIG_X86_64=y", "CONFIG_VERSION_SIGNATURE=\"Ubuntu 5.15.0-91.101-generic 5.15.131\"");

        Assert.Equal(KernelVersion.FromNumbers(5, 15), config.Version);
    }

    [Fact]
    public void Derive_KernelOverride_WarnsWhenItDiffersFromHeader()
    {
        var config = KernelConfig.Load(DataPath("6.1-amd64_none_amd64.config"));

        var d = config.Derive(KernelVersion.V6_6);

        Assert.Equal(KernelVersion.V6_6, d.Version);
        Assert.Equal("the file is for Linux 6.1.192; GupSim models 6.6 as asked", Assert.Single(d.Warnings));
    }

    [Fact]
    public void Load_MissingFile_ThrowsOneLine()
    {
        string path = DataPath("no-such.config");

        var e = Assert.Throws<GupSimException>(() => KernelConfig.Load(path));

        Assert.Equal($"{path}: No such file or directory (--config wants a kernel .config: /boot/config-$(uname -r), /proc/config.gz or a build tree's .config)", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}

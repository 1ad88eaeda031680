using System.Globalization;
using System.Text.Json;
using GupSim.Cli;

namespace GupSim.Tests.Cli;

/// <summary>The gupsim command line, run in-process through <see cref="Program.Run"/>.</summary>
public sealed class CliTests
{
    private const ulong PagesPerSection = 32768; // x86_64: SECTION_SIZE_BITS 27, PAGE_SHIFT 12
    private const ulong StructPageSize = 64;


    private static CliResult Run(params string[] args) => CliRun.Run(args);

    private static JsonDocument RunJson(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.ExitCode == 0, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
        return JsonDocument.Parse(r.Stdout);
    }

    private static ulong ParseHex(string s)
    {
        Assert.StartsWith("0x", s, StringComparison.Ordinal);
        return ulong.Parse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
    }

    private static string TempFile(string contents)
    {
        string path = Path.Combine(Path.GetTempPath(), "gupsim-cli-" + Guid.NewGuid().ToString("N") + ".txt");
        File.WriteAllText(path, contents);
        return path;
    }

    // ---- layout --json ----

    [Fact]
    public void Layout_Json_DefaultMachine()
    {
        using var doc = RunJson("layout", "--json");
        var root = doc.RootElement;
        Assert.Equal("x86_64", root.GetProperty("arch").GetString());
        Assert.Equal("5.12", root.GetProperty("kernel").GetString());
        Assert.Equal(12, root.GetProperty("pageShift").GetInt32());
        Assert.Equal("sparsemem-vmemmap", root.GetProperty("memoryModel").GetString());
        Assert.Equal(27, root.GetProperty("sectionSizeBits").GetInt32());
        Assert.Equal(11, root.GetProperty("maxOrder").GetInt32());
        Assert.Equal(new ulong[] { 2097152, 1073741824 },
            root.GetProperty("hugepageSizes").EnumerateArray().Select(e => e.GetUInt64()).ToArray());
        Assert.Equal(1, root.GetProperty("nodes").GetArrayLength());

        var sections = root.GetProperty("sections").EnumerateArray().ToList();
        var first = sections[0];
        Assert.Equal(0UL, first.GetProperty("nr").GetUInt64());
        Assert.Equal("0xffffea0000000000", first.GetProperty("memmapVa").GetString());
        Assert.Equal("vmemmap", first.GetProperty("placement").GetString());

        // Default RAM is [0,3G) and [4G,21G): section 32 starts at 4 GiB, pfn 0x100000, and its struct pages sit at
        // vmemmap + pfn * sizeof(struct page) = 0xffffea0000000000 + 0x100000 * 64.
        var s32 = Assert.Single(sections, s => s.GetProperty("nr").GetUInt64() == 32);
        Assert.Equal(1048576UL, s32.GetProperty("startPfn").GetUInt64());
        Assert.Equal("0xffffea0004000000", s32.GetProperty("memmapVa").GetString());
    }

    [Fact]
    public void Layout_Json_Flatmem_I386_HasNullSectionSizeBitsAndNoSections()
    {
        using var doc = RunJson("layout", "--json", "--model", "flatmem", "--arch", "i386", "--mem", "768M");
        var root = doc.RootElement;
        Assert.Equal(JsonValueKind.Null, root.GetProperty("sectionSizeBits").ValueKind);
        Assert.Equal("flatmem", root.GetProperty("memoryModel").GetString());
        Assert.Equal(0, root.GetProperty("sections").GetArrayLength());
    }

    [Fact]
    public void Layout_Json_ClassicSparsemem_BootBufferMemmapsAreContiguous()
    {
        using var doc = RunJson("layout", "--json", "--model", "sparsemem", "--ram", "0-8G");
        var sections = doc.RootElement.GetProperty("sections").EnumerateArray().ToList();
        Assert.Equal(64, sections.Count); // 8 GiB / 128 MiB
        ulong? prev = null;
        foreach (var s in sections)
        {
            Assert.Equal("boot-buffer", s.GetProperty("placement").GetString());
            ulong va = ParseHex(s.GetProperty("memmapVa").GetString()!);
            if (prev is ulong p) Assert.Equal(p + PagesPerSection * StructPageSize, va);
            prev = va;
        }
    }

    // ---- walk ----

    [Fact]
    public void Walk_ClassicSparsemem_AcrossHole_ReachesWrongStructPage()
    {
        using var doc = RunJson("walk", "--model", "sparsemem", "--ram", "0-3G,4G-8G", "--pfn", "0xbffff", "--count", "2", "--json");
        var steps = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, steps.Count);
        Assert.Equal("page", steps[0].GetProperty("kind").GetString());
        Assert.Equal(786431UL, steps[0].GetProperty("pfn").GetUInt64());

        // Classic SPARSEMEM allocates every present section's memmap from one boot sparsemap_buf per node, back to
        // back. Sections 24..31 (the 3-4 GiB hole) are absent, so section 32's memmap starts right after section
        // 23's: page++ from the last struct page of pfn 0xbffff lands on the struct page of pfn 0x100000, not 0xc0000.
        var step1 = steps[1];
        Assert.Equal("page", step1.GetProperty("kind").GetString());
        Assert.Equal(1048576UL, step1.GetProperty("pfn").GetUInt64());
        Assert.Equal(786432UL, step1.GetProperty("expectedPfn").GetUInt64());
    }

    [Fact]
    public void Walk_Vmemmap_AcrossHole_IsUnmapped()
    {
        // The vmemmap is virtually contiguous by pfn; the hole's struct pages are not backed.
        using var doc = RunJson("walk", "--ram", "0-3G,4G-8G", "--pfn", "0xbffff", "--count", "2", "--json");
        var step1 = doc.RootElement[1];
        Assert.Equal("unmapped", step1.GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, step1.GetProperty("pfn").ValueKind);
        Assert.Equal(786432UL, step1.GetProperty("expectedPfn").GetUInt64());
    }

    // ---- bad input ----

    private static string AssertBadInput(params string[] args)
    {
        var r = Run(args);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.Stdout);
        string[] lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        string line = Assert.Single(lines);
        Assert.StartsWith("gupsim: ", line, StringComparison.Ordinal);
        return line;
    }

    [Theory]
    [InlineData("layout", "--arch", "foo")]
    [InlineData("layout", "--mem", "3Q")]
    [InlineData("walk", "--pfn", "zz")]
    [InlineData("layout", "--model", "nonsense")]
    [InlineData("layout", "--kernel", "x.y")]
    [InlineData("layout", "--model", "sparsemem", "--arch", "x86_64-5level")] // 5-level paging forces vmemmap
    public void BadInput_ExitsOneWithOneStderrLine(params string[] args) => AssertBadInput(args);

    [Fact]
    public void BadInput_IomemWithHiddenAddresses()
    {
        string path = TempFile("00000000-00000000 : System RAM\n");
        try
        {
            string line = AssertBadInput("layout", "--iomem", path);
            Assert.Equal("gupsim: addresses hidden: read /proc/iomem as root", line);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BadInput_MalformedConfigLine_NamesTheLine()
    {
        string path = TempFile("# comment\nCONFIG_X86_64=y\nthis is not a config line\n");
        try
        {
            string line = AssertBadInput("layout", "--config", path);
            Assert.Contains(":3:", line, StringComparison.Ordinal);
        }
        finally { File.Delete(path); }
    }

    // ---- pfn ----

    [Fact]
    public void Pfn_ClassicSparsemem_ShowsStructPageAndDumpPage()
    {
        var r = Run("pfn", "0x100000", "--model", "sparsemem", "--ram", "0-8G");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("struct page of pfn 0x100000", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(r.Stdout.Split('\n'), l => l.StartsWith("page:ffff", StringComparison.Ordinal));
    }

    // ---- --iomem snapshot ----

    [Fact]
    public void Layout_IomemSnapshot_X86Vm24G_HasThreeRamRangesAndTheHole()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "data", "machines", "x86_64-vm-24g");
        using var doc = RunJson("layout", "--json", "--iomem", path);
        var root = doc.RootElement;
        var ram = root.GetProperty("ram").EnumerateArray().ToList();
        Assert.Equal(3, ram.Count);
        Assert.All(ram, e => Assert.Equal(JsonValueKind.String, e.ValueKind));

        // The 3-4 GiB PCI hole: sections 24..31 (pfn 0xc0000..0xfffff) are not present.
        var sections = root.GetProperty("sections").EnumerateArray().ToList();
        Assert.NotEmpty(sections);
        Assert.DoesNotContain(sections, s =>
        {
            ulong pfn = s.GetProperty("startPfn").GetUInt64();
            return pfn >= 0xc0000 && pfn < 0x100000;
        });
    }
}

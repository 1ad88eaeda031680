using System.Globalization;
using System.Text.Json;
using GupSim.Cli;

namespace GupSim.Tests.Cli;

/// <summary>
/// `gupsim layout`'s opening summary line, the `prev` column (adjacent / not adjacent / RAM hole) and the JSON
/// `summary` and `previous` fields. Expected values come from the placement rules, worked out here: x86_64 sections
/// are 128 MiB (32768 pfns), a section's memmap is 32768 × 64 bytes = 2 MiB; the vmemmap sits at 0xffffea0000000000
/// and the struct page of pfn P at 0xffffea0000000000 + P × 64; classic SPARSEMEM carves one node's memmaps in
/// section order from one sparsemap_buf; the per-section fallback allocates each memmap top-down from memblock.
/// </summary>
public sealed class LayoutSummaryTests
{
    private const ulong MapBytes = 32768UL * 64; // one section's memmap: 2 MiB
    private const ulong X86Vmemmap = 0xffffea0000000000;

    private static (int Rc, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter(CultureInfo.InvariantCulture);
        var stderr = new StringWriter(CultureInfo.InvariantCulture);
        int rc = Program.Run(args, stdout, stderr);
        return (rc, stdout.ToString(), stderr.ToString());
    }

    private static JsonElement Json(params string[] args)
    {
        var (rc, o, e) = Run([.. args, "--json"]);
        Assert.True(rc == 0, $"exit code {rc}; stderr: {e}");
        using var doc = JsonDocument.Parse(o);
        return doc.RootElement.Clone();
    }

    private static ulong Hex(string? s)
    {
        Assert.NotNull(s);
        Assert.StartsWith("0x", s, StringComparison.Ordinal);
        return ulong.Parse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
    }

    private sealed record Sec(ulong Nr, ulong StartPfn, ulong Va, bool Adjacent, string Previous);

    private static List<Sec> Sections(JsonElement root) =>
        [.. root.GetProperty("sections").EnumerateArray().Select(s => new Sec(
            s.GetProperty("nr").GetUInt64(), s.GetProperty("startPfn").GetUInt64(), Hex(s.GetProperty("memmapVa").GetString()),
            s.GetProperty("adjacentToPrevious").GetBoolean(), s.GetProperty("previous").GetString()!))];

    private static void AssertSummary(JsonElement root, int present, int adjacent, int notAdjacent, params (ulong Start, ulong End, ulong Sections)[] holes)
    {
        var sm = root.GetProperty("summary");
        Assert.Equal(present, sm.GetProperty("presentSections").GetInt32());
        Assert.Equal(adjacent, sm.GetProperty("adjacent").GetInt32());
        Assert.Equal(notAdjacent, sm.GetProperty("notAdjacent").GetInt32());
        var got = sm.GetProperty("holes").EnumerateArray()
            .Select(h => (h.GetProperty("startPfn").GetUInt64(), h.GetProperty("endPfn").GetUInt64(), h.GetProperty("sections").GetUInt64())).ToArray();
        Assert.Equal(holes, got);
    }

    [Fact]
    public void DefaultMachine_VmemmapAllAdjacent_OneHoleBelow4G()
    {
        // RAM [0, 3G) and [4G, 21G): sections 0–23 and 32–167 (3G/128M = 24, 17G/128M = 136), 160 present.
        var root = Json("layout");
        AssertSummary(root, 160, 158, 0, (0xc0000, 0x100000, 8));
        var secs = Sections(root);
        Assert.Equal(160, secs.Count);
        ulong[] expectedNrs = [.. Enumerable.Range(0, 24).Select(i => (ulong)i), .. Enumerable.Range(32, 136).Select(i => (ulong)i)];
        Assert.Equal(expectedNrs, secs.Select(s => s.Nr).ToArray());
        for (int i = 0; i < secs.Count; i++)
        {
            ulong nr = expectedNrs[i];
            Assert.Equal(nr * 32768, secs[i].StartPfn);
            Assert.Equal(X86Vmemmap + nr * MapBytes, secs[i].Va); // vmemmap + pfn × 64
            string expected = i == 0 ? "first" : nr == 32 ? "hole" : "adjacent";
            Assert.Equal(expected, secs[i].Previous);
            Assert.Equal(i != 0 && nr != 32, secs[i].Adjacent); // across the hole page++ lands on pfn 0xc0000's unbacked struct page
        }
        Assert.Equal(0xffffea0004000000, secs[24].Va);
    }

    [Fact]
    public void DefaultMachine_Text_OpensWithSummary_LegendAndMarks()
    {
        var (rc, o, _) = Run("layout");
        Assert.Equal(0, rc);
        var lines = o.Split('\n');
        Assert.Equal("summary         160 present sections: 158 memmaps adjacent to the previous section's, 0 not adjacent; 1 RAM hole (pfn 0xc0000-0x100000, 8 sections)", lines[0]);
        int header = Array.FindIndex(lines, l => l.StartsWith("   nr  start pfn", StringComparison.Ordinal));
        Assert.True(header > 1);
        Assert.Equal("present sections (160):", lines[header - 2]);
        Assert.Equal("  prev: '+' memmap starts where the previous section's ends (page++ off its last struct page lands here), 'x' memmap elsewhere (not adjacent), 'h' RAM hole before this section", lines[header - 1]);
        Assert.Equal("   nr  start pfn  node  memmap VA (of start pfn)  prev  placement", lines[header]);
        Assert.Equal("    0        0x0     0  0xffffea0000000000              vmemmap", lines[header + 1]);
        Assert.Equal("    1     0x8000     0  0xffffea0000200000         +    vmemmap", lines[header + 2]);
        Assert.Equal("   32   0x100000     0  0xffffea0004000000         h    vmemmap", lines[header + 25]);
    }

    [Fact]
    public void ClassicSparsemem_Boot_HoleBetween3GAnd4G()
    {
        // RAM [0, 3G) and [4G, 8G): sections 0–23 and 32–63 = 56. One node, one sparsemap_buf: section k's memmap is
        // the buffer's k-th 2 MiB slice, so the memmaps run on across the hole (adjacentToPrevious) but it is a hole.
        var root = Json("layout", "--model", "sparsemem", "--ram", "0-3G,4G-8G");
        AssertSummary(root, 56, 54, 0, (0xc0000, 0x100000, 8));
        var secs = Sections(root);
        Assert.Equal(56, secs.Count);
        ulong buf = secs[0].Va;
        Assert.Equal(0UL, buf % MapBytes); // the buffer is section_map_size() aligned
        for (int i = 0; i < secs.Count; i++)
        {
            Assert.Equal(buf + (ulong)i * MapBytes, secs[i].Va);
            Assert.Equal(i == 0 ? "first" : secs[i].Nr == 32 ? "hole" : "adjacent", secs[i].Previous);
            Assert.Equal(i != 0, secs[i].Adjacent);
        }
        Assert.Equal(32UL, secs[24].Nr);
        Assert.Equal(0x100000UL, secs[24].StartPfn);

        var (_, o, _) = Run("layout", "--model", "sparsemem", "--ram", "0-3G,4G-8G");
        Assert.Equal("summary         56 present sections: 54 memmaps adjacent to the previous section's, 0 not adjacent; 1 RAM hole (pfn 0xc0000-0x100000, 8 sections)", o.Split('\n')[0]);
        string sec32 = o.Split('\n').Single(l => l.StartsWith("   32 ", StringComparison.Ordinal));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"   32   0x100000     0  0x{buf + 24 * MapBytes:x}         h    boot-buffer"), sec32);
    }

    [Fact]
    public void ClassicSparsemem_Scattered_Seed1_NoneAdjacent()
    {
        // The per-section fallback: each memmap is its own top-down memblock allocation, so section k+1's memmap lies
        // below section k's (at best ending where k's begins, which page++ does not reach). 55 pairs, one a hole.
        var root = Json("layout", "--model", "sparsemem", "--ram", "0-3G,4G-8G", "--placement", "scattered", "--seed", "1");
        AssertSummary(root, 56, 0, 54, (0xc0000, 0x100000, 8));
        var secs = Sections(root);
        for (int i = 1; i < secs.Count; i++)
        {
            Assert.True(secs[i].Va + MapBytes <= secs[i - 1].Va, $"section {secs[i].Nr}: memmap not below section {secs[i - 1].Nr}'s");
            Assert.False(secs[i].Adjacent);
            Assert.Equal(secs[i].Nr == 32 ? "hole" : "not-adjacent", secs[i].Previous);
        }
        // Seed 1 places section 1's memmap right below section 0's: adjacent the wrong way round, still 'x'.
        Assert.Equal(secs[0].Va, secs[1].Va + MapBytes);

        var (_, o, _) = Run("layout", "--model", "sparsemem", "--ram", "0-3G,4G-8G", "--placement", "scattered", "--seed", "1");
        var lines = o.Split('\n');
        Assert.Equal("summary         56 present sections: 0 memmaps adjacent to the previous section's, 54 not adjacent; 1 RAM hole (pfn 0xc0000-0x100000, 8 sections)", lines[0]);
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"    1     0x8000     0  0x{secs[1].Va:x}         x    scattered"), lines.Single(l => l.StartsWith("    1 ", StringComparison.Ordinal)));
    }

    [Fact]
    public void HotplugIntoTheHole_SortedByNumber_HoleShrinks()
    {
        // --hotplug 3G-3.5G adds sections 24–27; vmemmap keeps them adjacent; the hole is now sections 28–31.
        var root = Json("layout", "--hotplug", "3G-3584M");
        AssertSummary(root, 164, 162, 0, (0xe0000, 0x100000, 4));
        var secs = Sections(root);
        Assert.Equal(Enumerable.Range(0, 28).Select(i => (ulong)i).ToArray(), secs.Take(28).Select(s => s.Nr).ToArray());
        Assert.Equal(X86Vmemmap + 24 * MapBytes, secs[24].Va);
        Assert.Equal("adjacent", secs[24].Previous);
        Assert.Equal(32UL, secs[28].Nr);
        Assert.Equal("hole", secs[28].Previous);
    }

    [Fact]
    public void Flatmem_NoSections_SummarySaysSo()
    {
        var root = Json("layout", "--model", "flatmem", "--arch", "i386", "--mem", "768M");
        AssertSummary(root, 0, 0, 0);
        Assert.Equal(0, root.GetProperty("sections").GetArrayLength());
        var (_, o, _) = Run("layout", "--model", "flatmem", "--arch", "i386", "--mem", "768M");
        Assert.Equal("summary         flatmem: no memory sections; 1 memmap array", o.Split('\n')[0]);
    }
}

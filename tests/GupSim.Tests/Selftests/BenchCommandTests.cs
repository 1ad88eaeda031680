using System.Globalization;
using System.Text.Json;
using GupSim.Cli;
using GupSim.Pages;
using GupSim.Selftests;

namespace GupSim.Tests.Selftests;

/// <summary>`gupsim bench`: rows, counters, verification and outputs (no time is asserted: benchmarks are not tests).</summary>
public sealed class BenchCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(CultureInfo.InvariantCulture);
        var e = new StringWriter(CultureInfo.InvariantCulture);
        int rc = Program.Run(["bench", .. args], o, e);
        return (rc, o.ToString(), e.ToString());
    }

    [Fact]
    public void Json_HasOneVerifiedRowPerStrategy_WithTheModelsCounters()
    {
        var (code, output, err) = Run("--strategies", "merged,section-run", "--rounds", "1", "--json",
            "-f", "/mnt/huge/file", "-m", "2048", "-L", "-S", "-n", "512", "-w");
        Assert.True(code == 0, output + err);
        using var doc = JsonDocument.Parse(output);
        var result = doc.RootElement.GetProperty("result");
        Assert.Equal(524288, result.GetProperty("pages").GetInt64());
        var rows = result.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(["merged", "section-run", "page++"], rows.Select(r => r.GetProperty("name").GetString()));
        Assert.All(rows, r => Assert.True(r.GetProperty("verified").GetBoolean()));
        // Two pfn_to_page per 512-page call for section-run: pte_page() of the huge entry, and the one run of the
        // call (512-page calls never cross a section here).
        Assert.Equal(2048, rows[1].GetProperty("counters").GetProperty("pfnToPageCalls").GetInt64());
        Assert.Equal(524288, rows[1].GetProperty("counters").GetProperty("pagesWrites").GetInt64());
        // 2 GiB = two 1 GiB pages, 1024 calls of 512 (x86_64 v5.12 VMEMMAP). Every code grabs once per call: 2 atomics
        // (_refcount, compound pincount). merged: pte_page() per call plus a pfn round trip for base =
        // mem_map_offset(page, off) in the 1020 calls at off ≥ 1024; page++: pte_page() per call only.
        static (long, long, long, long) Counted(JsonElement row)
        {
            var c = row.GetProperty("counters");
            return (c.GetProperty("atomics").GetInt64(), c.GetProperty("pfnToPageCalls").GetInt64(), c.GetProperty("pageToPfnCalls").GetInt64(), c.GetProperty("pagesWrites").GetInt64());
        }
        Assert.Equal((2048L, 2044L, 1020L, 524288L), Counted(rows[0]));
        Assert.Equal((2048L, 1024L, 0L, 524288L), Counted(rows[2]));
        // The ratio column is each row's median over page++'s.
        Assert.Equal(rows[0].GetProperty("getMedianUs").GetDouble() / rows[2].GetProperty("getMedianUs").GetDouble(),
            rows[0].GetProperty("getPerPagePlusPlus").GetDouble(), 9);
    }

    [Fact]
    public void WrongStrategy_IsReportedUnverified_AndTheExitCodeSaysSo()
    {
        var (code, output, err) = Run("--kernel", "5.12", "--model", "sparsemem", "--placement", "scattered", "--seed", "3", "--ram", "0-3G,4G-12G",
            "--hugepages", "1G=1", "--strategies", "section-run,page++", "--rounds", "1", "-f", "/mnt/huge/f", "-m", "1024", "-a", "-S", "-n", "512", "-w");
        // page++ on scattered classic SPARSEMEM records 229376 wrong entries (every subpage past the first 128 MiB
        // section). The fallback's memmaps descend with nothing between them, so the wrong entries are valid struct
        // pages of the sections below (pages[32768] → section 79's first, pfn 0x278000): the unpin does not oops, the
        // row is printed unverified and the exit code is 3.
        Assert.Equal(3, code);
        Assert.Contains("page++: 229376 wrong entries; first pages[32768] = 0xffff8882f6e00000: the struct page of pfn 0x278000", output, StringComparison.Ordinal);
        Assert.Matches(@"\npage\+\+ .* NO ", output);
        Assert.DoesNotContain("BUG: unable to handle page fault", err, StringComparison.Ordinal);
    }

    [Fact]
    public void PutFillTarget_OnlyForTheOwnCodeOfVersionsThatPutPerHead()
    {
        // Issue 11's release target (put within 4x the fill limit) is one GupBench target per own row of a version
        // whose put drops one reference per run of entries with the same head (v5.12 on); v5.11 puts each entry, and
        // a strategy row (page++) is not the version's own code. GUP_FAST_BENCHMARK has none of issue 5's targets.
        var (code, output, err) = Run("--kernels", "5.11,5.12", "--rounds", "1", "--json", "-f", "/mnt/huge/file", "-m", "1024", "-u", "-S", "-n", "512", "-w");
        Assert.True(code == 0, output + err);
        using var doc = JsonDocument.Parse(output);
        var result = doc.RootElement.GetProperty("result");
        Assert.Equal(["v5.11 (own)", "v5.12 (own)", "page++"], result.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("name").GetString()));
        var targets = result.GetProperty("targets").EnumerateArray().ToList();
        Assert.Equal(["put / fill limit (v5.12 (own))"], targets.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(4.0, targets[0].GetProperty("limit").GetDouble());
        Assert.True(targets[0].GetProperty("atMost").GetBoolean());
        // The value is the row's put/fill column.
        Assert.Equal(result.GetProperty("putPerFill")[1].GetDouble(), targets[0].GetProperty("value").GetDouble(), 9);
        var (_, text, _) = Run("--strategies", "page++", "--rounds", "1", "-f", "/mnt/huge/file", "-m", "1024", "-u", "-S", "-n", "512", "-w");
        Assert.DoesNotContain("put / fill limit", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Plot_WritesAPng()
    {
        string file = Path.Combine(Path.GetTempPath(), "gupsim-bench-" + Guid.NewGuid().ToString("N") + ".png");
        var (code, output, err) = Run("--strategies", "page++", "--rounds", "1", "--plot", file, "-f", "/mnt/huge/file", "-m", "1024", "-a", "-S", "-n", "512", "-w");
        Assert.True(code == 0, output + err);
        var bytes = File.ReadAllBytes(file);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        File.Delete(file);
        Assert.Contains("fill limit: min ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void FillProgression_WritesEveryEntry()
    {
        var words = new ulong[37];
        GupBench.FillProgression(words, 0x1000, 64);
        for (int i = 0; i < words.Length; i++) Assert.Equal(0x1000UL + (ulong)i * 64, words[i]);
        var pages = new PagePtr[5];
        GupBench.MeasureFill(pages, PagePtr.FromAddress(0x2000), 64);
        for (int i = 0; i < pages.Length; i++) Assert.Equal(PagePtr.FromAddress(0x2000UL + (ulong)i * 64), pages[i]);
    }

    [Theory]
    // x86_64 VMEMMAP, RAM from 0: vmemmap_base (0xffffea0000000000) + pfn 0 × 64.
    [InlineData("x86_64", null, KnownAddresses.X86_64Vmemmap)]
    // arm64-4K VMEMMAP, RAM from 1 GiB: memstart_addr = 1 GiB, so pfn 0x40000 is VMEMMAP_START's first struct page.
    [InlineData("arm64-4k", null, KnownAddresses.Arm64_4kVmemmapStart)]
    // ppc64 VMEMMAP, RAM from 0: 0xc00c000000000000 + 0.
    [InlineData("ppc64", null, KnownAddresses.Ppc64Vmemmap)]
    public void FillLimit_StartsAtTheMachinesFirstStructPage(string arch, string? model, ulong expected)
    {
        var m = new GupSim.Config.MachineOptions { Arch = arch, Model = model, Kernel = "6.1" }.Boot();
        Assert.Equal(expected, GupBench.FirstStructPage(m).Address);
    }

    [Fact]
    public void BadInput_OneLine()
    {
        var (code, _, err) = Run("--strategies", "merged", "--kernels", "5.11");
        Assert.Equal(1, code);
        Assert.Equal("gupsim: give --strategies or --kernels, not both", err.Trim());
        var (code2, _, err2) = Run("--strategies", "page++", "--plot", "/tmp/x.gif", "--rounds", "1", "-m", "1");
        Assert.Equal(1, code2);
        Assert.StartsWith("gupsim: --plot /tmp/x.gif: give a .png or .svg file", err2, StringComparison.Ordinal);
    }
}

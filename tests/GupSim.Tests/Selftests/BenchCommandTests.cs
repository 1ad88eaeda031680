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
        Assert.Equal(1.0, rows[2].GetProperty("getPerPagePlusPlus").GetDouble());
    }

    [Fact]
    public void WrongStrategy_IsReportedUnverified_AndTheExitCodeSaysSo()
    {
        var (code, output, _) = Run("--kernel", "5.12", "--model", "sparsemem", "--placement", "scattered", "--seed", "3", "--ram", "0-3G,4G-12G",
            "--hugepages", "1G=1", "--strategies", "section-run,page++", "--rounds", "1", "-f", "/mnt/huge/f", "-m", "1024", "-a", "-S", "-n", "512", "-w");
        // page++ on scattered classic SPARSEMEM records 229376 wrong entries and its unpin oopses.
        Assert.Equal(ExitCodes.Oops, code);
        Assert.DoesNotContain("section-run: ", output, StringComparison.Ordinal);
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
        Assert.True(GupBench.MeasureFill(pages, 64) >= 0);
        Assert.Equal(PagePtr.FromAddress(0xffffea0000000000UL + 4 * 64), pages[4]);
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

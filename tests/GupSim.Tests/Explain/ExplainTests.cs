using System.Xml.Linq;
using CsCheck;
using GupSim.Explain;
using GupSim.Pages;
using GupSim.Scenario;
using GupSim.Tests.Cli;
using SkiaSharp;

namespace GupSim.Tests.Explain;

/// <summary>
/// `gupsim explain` (docs/cli.md, "explain"): the SVG's marks add up to the call's entries and are the runs worked
/// out by hand; each class (right, wrong, other, unmapped) from where a pointer lands; PNG size; no escape codes
/// without a terminal; one-line errors.
/// </summary>
public class ExplainTests
{
    // x86_64 v5.11 classic SPARSEMEM, memmaps placed by the per-section fallback (own memblock allocation each), 4 GiB on
    // the PC layout: RAM [0, 3G) + [4G, 5G). By hand:
    //  * SECTION_SIZE_BITS 27: a section is 128 MiB = 32768 pages; its memmap 32768 × 64 B = 2 MiB.
    //  * memblock allocates top-down, one section after the other in section order, so section n + 1's memmap lies
    //    directly below section n's: the 2 MiB above a section's memmap is the previous section's memmap.
    //  * hugepages=1 (hugetlb_nrpages_setup, a __setup handler: after setup_arch, so after sparse_init) takes the
    //    highest free 1 GiB-aligned GiB: [4G, 5G) holds the memmaps, so [2G, 3G), pfn 0x80000 (section 16).
    //  * v5.11's gup_huge_pud() records subpages with page++ from pfn_to_page(0x80000): entries 0..32767 walk section
    //    16's memmap (right); entry 32768 is one byte past it, section 15's first struct page (pfn 0x78000), and so on
    //    down: entries 32768·k .. 32768·k + 32767 are section (16 − k)'s struct pages, k = 1..7, all valid and wrong.
    // So two runs: right 32768 from 0, wrong 229376 (7 × 32768) from 32768; seven landing stretches, pfns 0x78000,
    // 0x70000, ... 0x48000.
    private static readonly string[] ScatteredOneGig =
        ["--arch", "x86_64", "--kernel", "5.11", "--model", "sparsemem", "--placement", "scattered", "--mem", "4G", "--seed", "3",
         "--hugepages", "hugepagesz=1G hugepages=1"];

    private static string Temp(string ext) => Path.Combine(Path.GetTempPath(), $"gupsim-explain-{Guid.NewGuid():N}.{ext}");

    [Theory]
    // The same machine and call as the page++ picture below; the C recorders of samples/c record instead of v5.11's
    // gup_huge_pud(): nth_page() (pfn_to_page(page_to_pfn(head) + i), the section looked up per entry) is right for all
    // 262144 entries; page++ from the head gives the by-hand split below, 229376 wrong from entry 32768.
    [InlineData("nth-page.c", "c-nth_page", "all 262144 entries right")]
    [InlineData("page-plus-plus.c", "c-page++", "229376 of 262144 entries wrong")]
    public void StrategyC_TheUserRecorderDrawsTheCall(string file, string name, string says)
    {
        string c = Path.Combine(AppContext.BaseDirectory, "samples", "c", file);
        var r = CliRun.Run(["explain", .. ScatteredOneGig, "--pin", "--fast", "--write", "--strategy-c", c, "--strategy", name]);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains(says, r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Svg_OneGigPageWithPagePlusPlus_MarksSumToTheEntries_AndAreTheRunsWorkedOutByHand()
    {
        string svg = Temp("svg");
        try
        {
            var r = CliRun.Run(["explain", .. ScatteredOneGig, "--pin", "--fast", "--write", "--svg", svg]);
            Assert.Equal(0, r.ExitCode);
            var doc = XDocument.Load(svg);
            var marks = doc.Descendants().Where(e => e.Attribute("data-count") is not null).ToList();
            long sum = marks.Sum(e => long.Parse(e.Attribute("data-count")!.Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(262144, sum);
            var runs = marks.Select(e => (e.Attribute("data-class")!.Value, e.Attribute("data-count")!.Value, e.Attribute("data-first")!.Value)).ToList();
            Assert.Equal([("right", "32768", "0"), ("wrong", "229376", "32768")], runs);
            long wrong = marks.Where(e => e.Attribute("data-class")!.Value != "right").Sum(e => long.Parse(e.Attribute("data-count")!.Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(229376, wrong);
            Assert.Contains("229376 of 262144 entries wrong", doc.Root!.Element(XName.Get("title", "http://www.w3.org/2000/svg"))!.Value, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(svg);
        }
    }

    [Fact]
    public void Scene_OneGigPageWithPagePlusPlus_LandsOnTheSevenSectionsBelowInPfn()
    {
        var scene = ExplainRun.FromScenario(string.Join('\n',
            "machine " + string.Join(' ', ScatteredOneGig.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a)),
            "mmap A 1G hugetlb=1G shared",
            "touch A write",
            "pin A fast write"), "test", 4);
        Assert.Equal((262144L, 229376L), (scene.Entries, scene.Wrong));
        Assert.Equal([0x80000000UL], scene.HugePageSpans.Select(h => h.Start));
        var right = scene.Marks[0];
        Assert.Equal((ExplainClass.Right, 0x80000UL, 0x87fffUL), (right.Class, right.Landings[0].FirstPfn!.Value, right.Landings[0].LastPfn!.Value));
        var wrong = scene.Marks[1];
        Assert.Equal(ExplainClass.Wrong, wrong.Class);
        Assert.Equal(0x88000UL, wrong.ExpectedFirstPfn);
        Assert.Equal(Enumerable.Range(1, 7).Select(k => (32768L * k, 32768L, 0x80000UL - 0x8000UL * (ulong)k, 0x80000UL - 0x8000UL * (ulong)k + 0x7fff)),
            wrong.Landings.Select(l => (l.FirstIndex, l.Count, l.FirstPfn!.Value, l.LastPfn!.Value)));
        // Each stretch begins one byte past the one before in kernel virtual memory: the memmaps are back to back.
        for (int k = 1; k < 7; k++) Assert.Equal(wrong.Landings[k - 1].LastAddress + 64, wrong.Landings[k].FirstAddress);
        Assert.Equal(right.Landings[0].LastAddress + 64, wrong.Landings[0].FirstAddress);
        // The eight memmaps that hold the huge page's own struct pages are drawn and marked.
        Assert.Equal(8, scene.Va.SelectMany(c => c.Memmaps).Count(m => m.OfHugePage));
    }

    [Fact]
    public void Sweep_AnyRangeOfTheOneGigPage_MarksAddUp_AndRightIsWhatStaysInTheHeadSection()
    {
        // gup_huge_pud() in v5.11: page = pud_page() + (offset in the 1 GiB >> PAGE_SHIFT), then page++ per subpage,
        // all from section 16's memmap: subpage s's entry is right exactly when s < 32768 (the head section), and a
        // wrong one is a valid struct page (the sections below lie back to back above it, see the file's top).
        var runner = new ScenarioRunner(TextWriter.Null);
        runner.Run(string.Join('\n',
            "machine " + string.Join(' ', ScatteredOneGig.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a)),
            "mmap A 1G hugetlb=1G shared",
            "touch A write"), "test");
        Gen.Select(Gen.Int[0, 262143], Gen.Int[1, 70000]).Sample((first, count) =>
        {
            int n = Math.Min(count, 262144 - first);
            runner.Run($"get A fast offset={(long)first * 4096} pages={n}\nput A", "sweep");
            var (start, pages, done) = runner.LastGup!.Value;
            var scene = ExplainBuilder.Build(runner.Process!, start, pages.AsSpan(0, (int)done), "v5.11", "sweep");
            long right = Math.Clamp(32768L - first, 0, n);
            Assert.Equal(n, scene.Marks.Sum(k => k.Count));
            Assert.Equal((right, n - right, 0L, 0L),
                (scene.CountOf(ExplainClass.Right), scene.CountOf(ExplainClass.Wrong), scene.CountOf(ExplainClass.Other), scene.CountOf(ExplainClass.Unmapped)));
            Assert.Equal(n - right, scene.Wrong);
            Assert.Equal(right > 0 && right < n ? 2 : 1, scene.Marks.Count);
        }, iter: 12, threads: 1);
    }

    [Fact]
    public void Build_EachClassFromWhereThePointerLands()
    {
        var runner = new ScenarioRunner(TextWriter.Null);
        runner.Run(string.Join('\n',
            "machine " + string.Join(' ', ScatteredOneGig.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a)),
            "mmap A 1G hugetlb=1G shared",
            "touch A write"), "test");
        var m = runner.Machine!;
        Assert.True(runner.TryGetMapping("A", out ulong addr, out _));
        // Section 16 (pfn 0x80000, the huge page's head) has its memmap at MemmapVa: subpage i's right struct page is MemmapVa + 64·i.
        ulong head = m.PresentSections.Single(s => s.Nr == 16).MemmapVa;
        ulong directMap = m.Arch.PageOffset + 0x1000; // pfn 1: low RAM through the direct map, not a memmap
        PagePtr[] pages =
        [
            PagePtr.FromAddress(head), // right
            PagePtr.FromAddress(head + 64), // right
            PagePtr.FromAddress(head), // pfn 0x80000's struct page at subpage 2: wrong, a valid struct page
            PagePtr.FromAddress(head + 3 * 64 + 8), // 8 bytes into the right struct page: other
            PagePtr.FromAddress(directMap), // other kernel data
            PagePtr.Null, // unmapped
            PagePtr.FromAddress(0xdead000000000000), // non-canonical: unmapped
            PagePtr.FromAddress(head + 7 * 64), // right again
        ];
        var scene = ExplainBuilder.Build(runner.Process!, addr, pages, "test", "crafted");
        Assert.Equal(
            [(ExplainClass.Right, 0L, 2L), (ExplainClass.Wrong, 2L, 1L), (ExplainClass.Other, 3L, 2L), (ExplainClass.Unmapped, 5L, 2L), (ExplainClass.Right, 7L, 1L)],
            scene.Marks.Select(k => (k.Class, k.FirstIndex, k.Count)));
        Assert.Equal(5, scene.Wrong);
        Assert.Equal(0x80000UL, scene.Marks[1].Landings[0].FirstPfn);
        Assert.Equal(0x80002UL, scene.Marks[1].ExpectedFirstPfn);
        Assert.StartsWith("direct map", scene.Marks[2].Landings[1].Region, StringComparison.Ordinal);
        Assert.Equal(2, scene.Marks[2].Landings.Count);
    }

    [Fact]
    public void Png_DecodesWithTheSizeAskedFor()
    {
        string png = Temp("png");
        try
        {
            var r = CliRun.Run(["explain", .. ScatteredOneGig, "--pin", "--fast", "--write", "--pages", "40000", "--png", png, "--width", "900", "--height", "560"]);
            Assert.Equal(0, r.ExitCode);
            using var bitmap = SKBitmap.Decode(png);
            Assert.NotNull(bitmap);
            Assert.Equal((900, 560), (bitmap.Width, bitmap.Height));
        }
        finally
        {
            File.Delete(png);
        }
    }

    [Fact]
    public void Terminal_WithoutATty_HasNoEscapeCodes_AndShowsTheRuns()
    {
        var r = CliRun.Run(["explain", .. ScatteredOneGig, "--pin", "--fast", "--write", "--pages", "40000"]);
        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain('\u001b', r.Stdout);
        Assert.Contains("pages[0..32767] right (32768): struct pages of pfn 0x80000-0x87fff", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("pages[32768..39999] wrong (7232): struct pages of pfn 0x78000-0x79c3f", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("7232 of 40000 entries wrong", r.Stdout, StringComparison.Ordinal);
        var pagesRow = r.Lines.Single(l => l.StartsWith("pages[]    |", StringComparison.Ordinal));
        Assert.Contains(ExplainText.Glyph(ExplainClass.Right), pagesRow);
        Assert.Contains(ExplainText.Glyph(ExplainClass.Wrong), pagesRow);
        // The whose row marks pfns with its own glyph, not the physical row's hot-plugged one; a machine without
        // hot-added memory has no hot-plugged kind in the legend.
        var whoseRow = r.Lines.Single(l => l.StartsWith("whose      |", StringComparison.Ordinal));
        Assert.Contains('×', whoseRow);
        Assert.DoesNotContain('▓', whoseRow);
        Assert.DoesNotContain("hot-plugged", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("(█ present at boot", r.Stdout, StringComparison.Ordinal);
        // unpin_user_pages() on the 7232 wrong entries: v5.11 unpins page by page, each a refcount store (GUP_PIN_COUNTING_BIAS) on the wrong struct page.
        Assert.Contains("stray writes: ", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Errors_AreOneLine()
    {
        var none = CliRun.Run("explain", "--mem", "2G");
        Assert.Equal((1, ""), (none.ExitCode, none.Stdout));
        Assert.Equal(["gupsim: explain: give the call: --pin or --get (with --fast, --write, --offset, --pages, --batch), or --scenario FILE --step LINE"], none.StderrLines);
        string script = Temp("scenario");
        try
        {
            File.WriteAllText(script, "machine --mem 2G --hugepages 2M=4\nmmap A 8M hugetlb=2M\ntouch A write\npin A\n");
            var notGup = CliRun.Run("explain", "--scenario", script, "--step", "3");
            Assert.Equal(1, notGup.ExitCode);
            Assert.Equal([$"gupsim: --step 3: line 3 of {script} is 'touch A write', not a pin or get step: give the line number of one"], notGup.StderrLines);
            var mixed = CliRun.Run("explain", "--scenario", script, "--step", "4", "--mem", "4G");
            Assert.Equal([$"gupsim: explain: --mem does not go with --scenario: the script's own lines say the machine and the call (drop --mem)"], mixed.StderrLines);
            var ok = CliRun.Run("explain", "--scenario", script, "--step", "4");
            Assert.Equal(0, ok.ExitCode);
            Assert.Contains("all 2048 entries right", ok.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(script);
        }
    }
}

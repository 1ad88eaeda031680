using GupSim.Arch;
using GupSim.Check;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Gup.C;
using GupSim.Scenario;
using GupSim.Tests.Cli;
using static GupSim.Tests.Check.EngineTestShapes;

namespace GupSim.Tests.Gup;

/// <summary>
/// <c>--strategy-c</c>: the samples in samples/c give their built-in twins' verdicts, a C recorder's helpers act on
/// the simulated kernel (an oops is the kernel's, not a crash), and bad files are the one-line (or one-block) errors.
/// </summary>
public class CRecorderTests
{
    private static readonly string Samples = Path.Combine(AppContext.BaseDirectory, "samples", "c");

    private static string Sample(string file) => Path.Combine(Samples, file);

    /// <summary>Each sample and its built-in twin (samples/c/*.c's headers say which kernel code each is).</summary>
    public static TheoryData<string, string, string> Twins => new()
    {
        { "page-plus-plus.c", "c-page++", "page++" },
        { "nth-page.c", "c-nth_page", "nth_page" },
        { "mem-map-offset.c", "c-mem_map_offset", "merged" },
    };

    [Theory]
    [MemberData(nameof(Twins))]
    public void Sample_GivesItsTwinsVerdicts_OnHotpluggedClassicSparsemem_AndOnVmemmap(string file, string name, string twin)
    {
        var recorder = CRecorder.Load(Sample(file));
        Assert.Equal(name, recorder.Name);
        var engine = new CheckEngine([recorder]);
        // Classic SPARSEMEM whose pool sits in hot-added memory after a history (EngineTests' hot-plug shape), and
        // SPARSEMEM_VMEMMAP; v5.11 (page++'s gup-fast) and v5.12 (the merged slow path).
        var shapes = new[]
        {
            OneGig("5.11", MemoryModel.Sparsemem, CheckPlacement.Hotplug) with { RamBytes = 2 * G, ChurnBytes = 512 * M, HugePages = 2 },
            OneGig("5.12", MemoryModel.Sparsemem, CheckPlacement.Hotplug) with { RamBytes = 2 * G, ChurnBytes = 512 * M, HugePages = 2 },
            OneGig("5.12", MemoryModel.SparsememVmemmap, CheckPlacement.Hotplug) with { RamBytes = 2 * G, ChurnBytes = 512 * M, HugePages = 2 },
        };
        int failedTwins = 0;
        foreach (var shape in shapes)
        {
            foreach (var path in new[] { CheckPath.FastPin, CheckPath.SlowPin })
            {
                // Across the second section boundary (65536: where the hot-added memmaps stop being back to back on
                // v5.11's shape) from an offset that is not MAX_ORDER_NR_PAGES-aligned, one call over the whole page,
                // and two subpages either side of that boundary.
                foreach (var (offset, length, batch) in new (long, long, long)[] { (2 * S - 500, 1000, 1000), (0, Pphp1G, -1), (2 * S - 1, 2, 2) })
                {
                    var c = new CheckConfiguration(shape, twin, path, offset, length, batch);
                    var expected = engine.Run(c);
                    var got = engine.Run(c with { Strategy = name });
                    Assert.Equal(expected, got);
                    if (expected.Failed) failedTwins++;
                    if (shape.Model == MemoryModel.SparsememVmemmap) Assert.Equal(CheckVerdict.Pass, got); // one virtually contiguous memmap
                }
            }
        }
        // nth_page() is right on every model; page++ and mem_map_offset() go wrong past a section boundary of the
        // hot-added classic-SPARSEMEM memmap (its sections' memmaps are not back to back after the history).
        if (twin == "nth_page") Assert.Equal(0, failedTwins);
        else Assert.True(failedTwins > 0, $"{twin} never failed: the twin comparison would show nothing");
    }

    [Fact]
    public void PagePlusPlus_OnScatteredClassicSparsemem_IsWrongFromTheSecondSection_AsTheBuiltIn()
    {
        // v5.11, classic SPARSEMEM, per-section memmaps (scattered): page++ from the head leaves the first section's
        // memmap at subpage 32768, so 7 of the 8 sections of the 1 GiB page are wrong: 7 × 32768 = 229376.
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(
            "machine --kernel 5.11 --model sparsemem --placement scattered --seed 3 --ram 0-3G,4G-12G --hugepages \"hugepagesz=1G hugepages=1\"\n" +
            $"strategy-c {Sample("page-plus-plus.c")}\nstrategy-c {Sample("nth-page.c")}\n" +
            "mmap A 1G hugetlb=1G\ntouch A write\n" +
            "pin A fast write strategy=c-page++\nexpect wrong-pages 229376\nunpin A\n" +
            "pin A fast write strategy=page++\nexpect wrong-pages 229376\nunpin A\n" +
            "pin A fast write strategy=c-nth_page\nexpect pages-correct\nunpin A\nexpect no-leak\n", "t");
        Assert.Equal(0, r.ExpectationsFailed);
        string o = sw.ToString();
        Assert.Contains($"strategy-c: recorder 'c-page++' ({Sample("page-plus-plus.c")})", o, StringComparison.Ordinal);
        Assert.Contains("pin-fast A (c-nth_page, batch 262144): 262144 of 262144 pages, 0 wrong", o, StringComparison.Ordinal);
    }

    [Fact]
    public void FastLeaf_GrabsAndCountsWhatRecordSubpagesReturns()
    {
        // v5.12 gup-fast: refs = record_subpages(page, addr, end, pages + *nr); *nr += refs. A recorder that fills
        // all 512 entries of a 2 MiB leaf but returns 511, over 4 MiB (two leaves, one call): leaf A grabs 511 and
        // nr = 511; leaf B fills pages[511..1022] with B's subpages 0..511 and returns 511, nr = 1022; the two
        // pages left go through slow GUP from address 1022 × 4 KiB, right. So entries 511..1021 hold the page one
        // after theirs (A's subpage 511 is never recorded; entry 511 is B's head): 511 wrong. Heads: A 511 refs, B
        // 511 + 2; the release walks entries 0..510 (A) and 511..1023 (B): both balance.
        string file = WriteC("short.c", """
            #include <gupsim/kernel.h>
            static int record_subpages(struct page *page, unsigned long addr, unsigned long end, struct page **pages)
            {
                int nr;
                for (nr = 0; addr != end; nr++, addr += PAGE_SIZE)
                    pages[nr] = page + nr;
                return nr - 1;
            }
            GUPSIM_RECORDER(record_subpages, "c-short");
            """);
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(
            "machine --kernel 5.12 --model sparsemem-vmemmap --mem 4G --hugepages \"hugepagesz=2M hugepages=2\"\n" +
            $"strategy-c {file}\nmmap A 4M hugetlb=2M\ntouch A write\npin A fast write strategy=c-short\nexpect wrong-pages 511\nunpin A\nexpect no-leak\nexpect no-oops\n", "t");
        Assert.Equal(0, r.ExpectationsFailed);
        Assert.Contains("(c-short, batch 1024): 1024 of 1024 pages, 511 wrong", sw.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    // v5.12 gup-fast grabs and counts what record_subpages() returns: more than the 512 entries of a 2 MiB leaf, or
    // a negative count, would have the kernel grab that many and write past pages[]. The recorder is what is wrong:
    // one line naming it, exit code for bad input, nothing thrown through.
    [InlineData("nr + 1", "513")]
    [InlineData("-1", "-1")]
    public void FastLeaf_ARecorderReturningOutside0ToN_IsOneLine(string returned, string shown)
    {
        string file = WriteC("over.c", $$"""
            #include <gupsim/kernel.h>
            static int record_subpages(struct page *page, unsigned long addr, unsigned long end, struct page **pages)
            {
                int nr;
                for (nr = 0; addr != end; nr++, addr += PAGE_SIZE)
                    pages[nr] = page + nr;
                return {{returned}};
            }
            GUPSIM_RECORDER(record_subpages, "c-over");
            """);
        string script = Path.Combine(Path.GetDirectoryName(file)!, "over.scenario");
        File.WriteAllText(script,
            "machine --kernel 5.12 --model sparsemem-vmemmap --mem 4G --hugepages \"hugepagesz=2M hugepages=2\"\n" +
            $"strategy-c {file}\nmmap A 4M hugetlb=2M\ntouch A write\npin A fast write strategy=c-over\n");
        var r = CliRun.Run("scenario", script);
        Assert.Equal(GupSim.Cli.ExitCodes.BadInput, r.ExitCode);
        string[] lines = r.Stderr.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        string line = Assert.Single(lines);
        Assert.StartsWith("gupsim: ", line, StringComparison.Ordinal);
        Assert.Contains($"c-over: record_subpages() returned {shown} for 512 subpages: gup-fast grabs and counts what it returns, so return 0 to 512", line, StringComparison.Ordinal);
    }

    [Fact]
    public void HelperGivenAPfnWithNoSection_OopsesTheSimulatedKernel_NotGupSim()
    {
        // pfn 2^33 is phys 2^45 (< x86_64's 2^46): section 2^33 >> 15 = 262144, whose mem_section root was never
        // allocated on a 12 GiB machine, so pfn_to_page() dereferences NULL, as the kernel's would.
        string file = WriteC("oops.c", """
            #include <gupsim/kernel.h>
            static int record_subpages(struct page *page, unsigned long addr, unsigned long end, struct page **pages)
            {
                int nr;
                for (nr = 0; addr != end; nr++, addr += PAGE_SIZE)
                    pages[nr] = pfn_to_page(1UL << 33);
                return nr;
            }
            GUPSIM_RECORDER(record_subpages, "c-oops");
            """);
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(
            "machine --kernel 5.11 --model sparsemem --placement scattered --seed 3 --ram 0-3G,4G-12G --hugepages \"hugepagesz=1G hugepages=1\"\n" +
            $"strategy-c {file}\nmmap A 1G hugetlb=1G\ntouch A write\npin A fast write pages=4 strategy=c-oops\nexpect oops\n", "t");
        Assert.Equal(0, r.ExpectationsFailed);
        Assert.Contains("BUG: unable to handle page fault for address: 0000000000000000 (__pfn_to_section(0x200000000) is NULL (section 262144 has no mem_section root))", sw.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Header_GivesTheMachinesGeometry_AndStructPageArithmetic_PerArch()
    {
        // Each entry encodes a constant: sizeof(struct page), PAGE_SHIFT, PMD_SHIFT, PFN_SECTION_SHIFT, (page + 1) - page in bytes.
        string file = WriteC("geometry.c", """
            #include <gupsim/kernel.h>
            static int record_subpages(struct page *page, unsigned long addr, unsigned long end, struct page **pages)
            {
                pages[0] = (struct page *)sizeof(struct page);
                pages[1] = (struct page *)PAGE_SHIFT;
                pages[2] = (struct page *)PMD_SHIFT;
                pages[3] = (struct page *)PFN_SECTION_SHIFT;
                pages[4] = (struct page *)((char *)(page + 1) - (char *)page);
                return 5;
            }
            GUPSIM_RECORDER(record_subpages, "c-geometry");
            """);
        var rec = CRecorder.Load(file);
        // x86_64: 64-byte struct page, 4 KiB pages, 2 MiB PMD, 128 MiB sections (27 - 12 = 15).
        Assert.Equal([64UL, 12, 21, 15, 64], RecordFive(rec, "x86_64"));
        // i386 without PAE: 32-byte struct page, 4 MiB PMD (two-level: PGDIR_SHIFT 22), SECTION_SIZE_BITS 26.
        Assert.Equal([32UL, 12, 22, 14, 32], RecordFive(rec, "i386"));
    }

    private static ulong[] RecordFive(CRecorder rec, string arch)
    {
        var m = GupSim.Selftests.GupTestMachine.Boot(new GupSim.Config.MachineOptions { Arch = arch, Kernel = "5.12", Mem = "1G" });
        var pages = new GupSim.Pages.PagePtr[5];
        var ctx = new SubpageRecordContext(m, m.PfnToPage(Pfn.FromUInt64(0x1000)), Pfn.FromUInt64(0x1000), 0, new GupCounters());
        rec.Record(ctx, pages);
        return [.. pages.Select(p => p.Address)];
    }

    [Fact]
    public void FileThatDoesNotCompile_IsTheCompilersMessageInOneBlock_NonZeroExit()
    {
        string file = WriteC("broken.c", "#include <gupsim/kernel.h>\nstatic int record_subpages(struct page *page)\n{\n\treturn page->flags;\n}\n");
        var r = CliRun.Run("gup-test", "--mem", "2G", "--strategy-c", file, "-m", "2");
        Assert.Equal(GupSim.Cli.ExitCodes.BadInput, r.ExitCode);
        string[] lines = r.Stderr.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal($"gupsim: --strategy-c {file}: cc could not compile it (exit 1):", lines[0]);
        // The rest is the compiler's own diagnostics, naming the file and line as given.
        Assert.Contains(lines, l => l.StartsWith($"{file}:4:", StringComparison.Ordinal) && l.Contains("error:", StringComparison.Ordinal) && l.Contains("flags", StringComparison.Ordinal));
        Assert.DoesNotContain(lines[1..], l => l.StartsWith("gupsim:", StringComparison.Ordinal));
    }

    [Fact]
    public void FileWithoutGupsimRecorder_IsOneLine()
    {
        string file = WriteC("norecorder.c", "#include <gupsim/kernel.h>\nint record_subpages(struct page *page, unsigned long addr, unsigned long end, struct page **pages) { return 0; }\n");
        var r = CliRun.Run("gup-test", "--mem", "2G", "--strategy-c", file, "-m", "2");
        Assert.Equal(GupSim.Cli.ExitCodes.BadInput, r.ExitCode);
        Assert.Equal($"gupsim: {file}: no GUPSIM_RECORDER(...) in the file: add GUPSIM_RECORDER(fn, \"name\") after the function\n", r.Stderr.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void NoCompiler_NamesWhatWasLookedFor()
    {
        var e = Assert.Throws<GupSimException>(() => CCompiler.FindIn("--strategy-c x.c", null, "/nonexistent"));
        Assert.Equal("--strategy-c x.c: no C compiler: none of cc, gcc, clang is on PATH; install one (apt-get install gcc) or set CC", e.Message);
        e = Assert.Throws<GupSimException>(() => CCompiler.FindIn("--strategy-c x.c", "tcc", "/nonexistent"));
        Assert.Equal("--strategy-c x.c: the C compiler CC=tcc is not on PATH or does not run: install it, or unset CC to use cc, gcc or clang", e.Message);
        // A file that is there but is no program (exec fails): the same line, no .NET exception text.
        e = Assert.Throws<GupSimException>(() => CCompiler.FindIn("--strategy-c x.c", "/etc/passwd", "/nonexistent"));
        Assert.Equal("--strategy-c x.c: the C compiler CC=/etc/passwd is not on PATH or does not run: install it, or unset CC to use cc, gcc or clang", e.Message);
    }

    [Fact]
    public void WarnOnOnce_IsOncePerMachine()
    {
        // WARN_ON_ONCE(1) in every call: each booted machine logs its first hit only (each kernel has its own
        // __warned), at the file and line of the macro (line 6 of the file).
        string file = WriteC("warn.c", """
            #include <gupsim/kernel.h>
            static int record_subpages(struct page *page, unsigned long addr, unsigned long end, struct page **pages)
            {
                int nr;
                for (nr = 0; addr != end; nr++, addr += PAGE_SIZE) pages[nr] = nth_page(page, nr);
                WARN_ON_ONCE(nr > 0);
                return nr;
            }
            GUPSIM_RECORDER(record_subpages, "c-warn");
            """);
        string machine = "machine --kernel 5.12 --model sparsemem-vmemmap --mem 4G --hugepages \"hugepagesz=2M hugepages=2\"\n";
        string calls = "mmap A 4M hugetlb=2M\ntouch A write\npin A fast write strategy=c-warn\nunpin A\npin A fast write strategy=c-warn\nunpin A\ndmesg\n";
        var sw = new StringWriter();
        string load = $"strategy-c {file}\n";
        var r = new ScenarioRunner(sw).Run(machine + load + calls + machine + load + calls, "t");
        Assert.Equal(0, r.ExpectationsFailed);
        string at = $"WARNING: CPU: 0 PID: 1 at {file}:6";
        Assert.Equal(2, sw.ToString().Split(at).Length - 1);
    }

    [Fact]
    public void Check_WritesTheStrategyCLine_IntoEachMinimalCase_AndTheCaseReproduces()
    {
        // v5.11 classic SPARSEMEM, the pool in hot-added memory after a 1 GiB history, gup-fast over the first section
        // boundary of the 1 GiB page (32768 subpages of 4 KiB per 128 MiB section): c-page++ fails, and check shrinks
        // it to a scenario that must name the C file, or the recorder it selects does not exist when it is run.
        string file = Path.GetFullPath(Sample("page-plus-plus.c"));
        string dir = Path.Combine(Path.GetTempPath(), "gupsim-crec-check-" + Guid.NewGuid().ToString("N"));
        try
        {
            var r = CliRun.Run("check", "--strategy-c", file, "--arch", "x86_64", "--kernel", "5.11", "--model", "sparsemem",
                "--placement", "hotplug", "--hugepage-size", "1G", "--churn", "1G", "--seeds", "1", "--path", "fast-pin",
                "--offset", "boundary-1", "--length", "2", "--batch", "all", "--out", dir);
            Assert.Equal(1, r.ExitCode); // failures found
            string scenario = File.ReadAllText(Assert.Single(Directory.GetFiles(dir, "*.scenario")));
            string[] lines = scenario.Split('\n');
            int load = Array.IndexOf(lines, "strategy-c " + file);
            int pin = Array.FindIndex(lines, l => l.StartsWith("pin A fast", StringComparison.Ordinal));
            Assert.True(load > 0 && load < pin, "the strategy-c line comes before the pin that selects c-page++:\n" + scenario);
            Assert.EndsWith(" strategy=c-page++", lines[pin], StringComparison.Ordinal);
            // The printed minimal case is the file's text, indented.
            Assert.Contains("  strategy-c " + file + "\n", r.Stdout, StringComparison.Ordinal);

            var sw = new StringWriter();
            var run = new ScenarioRunner(sw).Run(scenario, "minimal");
            Assert.Equal(0, run.ExpectationsFailed);
            Assert.Contains("(c-page++, batch 1): 1 of 1 pages, 1 wrong", sw.ToString(), StringComparison.Ordinal);

            // The same machine, the whole 1 GiB page in one call. page++ from the head is right for the first
            // section's 32768 subpages (one memmap allocation) and, for each later section s = 1..7, right for all
            // its 32768 subpages if that section's memmap starts exactly s × 32768 × 64 bytes after the first one's,
            // else wrong for all 32768 (each hot-added section's memmap is its own allocation). The starts come from
            // the mem_section table: the struct pages nth_page() (the pfn round trip on classic SPARSEMEM) records,
            // checked right against GupSim's own pfn map, not from the recorder under test.
            int mmap = Array.FindIndex(lines, l => l.StartsWith("mmap ", StringComparison.Ordinal));
            string machine = string.Join('\n', lines[..mmap].Where(l => !l.StartsWith('#'))) + "\n";
            string map = $"strategy-c {file}\nmmap A 1G hugetlb=1G\ntouch A write\n";
            var whole = new ScenarioRunner(new StringWriter());
            Assert.Equal(0, whole.Run(machine + map + "pin A fast write strategy=nth_page\nexpect pages-correct\n", "whole").ExpectationsFailed);
            var right = whole.LastGup!.Value.Pages;
            ulong first = right[0].Address;
            int wrongSections = 0;
            for (int sec = 1; sec < 8; sec++)
                if (right[sec * 32768].Address != first + (ulong)sec * 32768 * 64) wrongSections++;
            Assert.NotEqual(first + 32768 * 64, right[32768].Address); // the minimal case's entry: the second section's first subpage
            // Each of the seven later sections of the hot-added 1 GiB page has its own memmap allocation, none of them
            // where page++ from the first lands: all seven wrong, 7 × 32768 = 229376 entries.
            Assert.Equal(7, wrongSections);
            var sw2 = new StringWriter();
            var r2 = new ScenarioRunner(sw2).Run(machine + map + "pin A fast write strategy=c-page++\nexpect wrong-pages " + (wrongSections * 32768) + "\nunpin A\n", "whole");
            Assert.Equal(0, r2.ExpectationsFailed);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void OnlyAnObjectThatKeepsAHelperCall_IsMarkedAsCallingBack()
    {
        // gupsim/kernel.h's helpers each define gupsim_calls_back where the compiler keeps a call to them: page++ is
        // address arithmetic only; nth-page.c calls nth_page(); mem-map-offset.c calls mem_map_offset(); a WARN_ON on
        // a run-time condition keeps its warn() call; WARN_ON(0) is folded away by the compiler, and so is its call.
        Assert.False(CRecorder.Load(Sample("page-plus-plus.c")).CallsBack);
        Assert.True(CRecorder.Load(Sample("nth-page.c")).CallsBack);
        Assert.True(CRecorder.Load(Sample("mem-map-offset.c")).CallsBack);
        const string Body = """
            #include <gupsim/kernel.h>
            static int record_subpages(struct page *page, unsigned long addr, unsigned long end, struct page **pages)
            {
                int nr;
                for (nr = 0; addr != end; nr++, addr += PAGE_SIZE) pages[nr] = page + nr;
                WARN_ON(COND);
                return nr;
            }
            GUPSIM_RECORDER(record_subpages, "c-marked");
            """;
        Assert.True(CRecorder.Load(WriteC("marked-warn.c", Body.Replace("COND", "nr > 512", StringComparison.Ordinal))).CallsBack);
        Assert.False(CRecorder.Load(WriteC("marked-none.c", Body.Replace("COND", "0", StringComparison.Ordinal))).CallsBack);
        // The ops table named directly marks the object too (its name expands to the marker and the table).
        const string Direct = """
            #include <gupsim/kernel.h>
            static int record_subpages(struct page *page, unsigned long addr, unsigned long end, struct page **pages)
            {
                int nr;
                for (nr = 0; addr != end; nr++, addr += PAGE_SIZE) pages[nr] = __gupsim_ops->nth_page(page, nr);
                return nr;
            }
            GUPSIM_RECORDER(record_subpages, "c-direct");
            """;
        Assert.True(CRecorder.Load(WriteC("marked-direct.c", Direct)).CallsBack);
    }

    [Fact]
    public void CompiledObject_IsCachedByContentHash()
    {
        string file = WriteC("cached.c", $"#include <gupsim/kernel.h>\n/* {Guid.NewGuid()} */\nstatic int f(struct page *p, unsigned long a, unsigned long e, struct page **pages) {{ return 0; }}\nGUPSIM_RECORDER(f, \"c-cached\");\n");
        var before = Directory.Exists(CCompiler.CacheDir()) ? Directory.GetFiles(CCompiler.CacheDir(), "*.so").ToHashSet() : [];
        CRecorder.Load(file);
        var added = Directory.GetFiles(CCompiler.CacheDir(), "*.so").Where(f => !before.Contains(f)).ToArray();
        string so = Assert.Single(added, f => File.GetLastWriteTimeUtc(f) >= File.GetLastWriteTimeUtc(file));
        Assert.Matches("^[0-9a-f]{64}\\.so$", Path.GetFileName(so));
        var written = File.GetLastWriteTimeUtc(so);
        try
        {
            CRecorder.Load(file); // the same content: the cached object, not compiled again
            Assert.Equal(written, File.GetLastWriteTimeUtc(so));
        }
        finally
        {
            File.Delete(so); // its content is unique to this run: leave no object behind in the user's cache
        }
    }

    private static string WriteC(string name, string text)
    {
        string dir = Path.Combine(Path.GetTempPath(), "gupsim-crec-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        return path;
    }
}

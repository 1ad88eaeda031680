using GupSim.Core;
using GupSim.Scenario;

namespace GupSim.Tests.Hugetlb;

public class ScenarioTests
{
    private static string Example(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", name));

    [Fact]
    public void HotplugGigantic_V511_FreshBoot_IsLatent_AdjacentHotMemmaps()
    {
        // Fresh boot (examples/hotplug-gigantic-v5.11.scenario): the hot-added memmaps are adjacent, so v5.11's
        // page[i] is latently right and no write goes astray. Worked out from the rules (allocator-facts §7):
        // memblock_free_all() leaves ZONE_NORMAL's MOVABLE order-10 list ascending, head pfn 0x100000. The first
        // UNMOVABLE request (a slab page's pcp refill) steals it: expand() returns 0x100000 and lists its high half
        // 0x100200 at the UNMOVABLE order-9 head; section 64's memmap takes 0x100200, section 65 steals 0x100400 (low
        // half), 66 its high half 0x100600, ..., section 119 at 0x100200 + 55·0x200 = 0x107000. Each memmap k+1 starts
        // at memmap k + 32768 × 64 B, so page[32768·n + j] of a gigantic page is the struct page of its own subpage.
        // Pages: 7 in hot 8G–15G, 5G–6G and 6G–7G (4G–5G holds the hot memmaps, 7G–8G the boot memmaps), 1G–2G and
        // 2G–3G (0–1G holds the kernel image) = 11 of the 12 asked.
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(Example("hotplug-gigantic-v5.11.scenario"), "v5.11");
        Assert.Equal(0, r.ExpectationsFailed);
        Assert.Equal(3, r.ExpectationsPassed);
        string text = sw.ToString();
        Assert.Contains("walk 0x200000 +32769: 32769 right, 0 wrong", text);
        Assert.Contains("expect no-wrong-subpage-writes: ok", text);
        Assert.Contains("expect no-stray-writes: ok (stray writes: 0 (struct pages in use 0, free struct pages 0, page tables 0, slab 0, other kernel data 0, unmapped 0), bits changed 0)", text);
        Assert.DoesNotContain("update_and_free_page wrote flags through", text);
        Assert.Contains("hugepages 1G: nr_hugepages 0 -> 11 (asked 12), free 11", text);
    }

    [Fact]
    public void HotplugGigantic_V512_IsClean()
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(Example("hotplug-gigantic-v5.12.scenario"), "v5.12");
        Assert.Equal(0, r.ExpectationsFailed);
        Assert.Equal(3, r.ExpectationsPassed);
        Assert.DoesNotContain("oracle:", sw.ToString());
    }

    [Fact]
    public void FailedExpectation_IsCounted()
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run("machine --ram 0-4G\nexpect bad-page-state\n", "t");
        Assert.Equal(1, r.ExpectationsFailed);
        Assert.Contains("expect bad-page-state: FAILED (0 bad page report(s))", sw.ToString());
    }

    [Fact]
    public void BadLine_NamesFileAndLine()
    {
        var e = Assert.Throws<GupSimException>(() => new ScenarioRunner(new StringWriter()).Run("machine --ram 0-4G\n\nfrobnicate\n", "s.txt"));
        Assert.StartsWith("s.txt:3: unknown operation 'frobnicate'", e.Message);
        var e2 = Assert.Throws<GupSimException>(() => new ScenarioRunner(new StringWriter()).Run("hugepages 1G=1\n", "s.txt"));
        Assert.Equal("s.txt:1: no machine yet: start with a 'machine ...' line", e2.Message);
    }

    [Fact]
    public void Hotplug_ReportsErrno()
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run("machine --ram 0-4G\nhotplug 3G-5G\nhotplug 4G-4100M\n", "t");
        // 3G-5G overlaps boot RAM [3G, 4G): add_memory() → register_memory_resource() → -EEXIST.
        // 4G-4100M is 4 MiB, not a multiple of the 128 MiB section: check_hotplug_memory_range() → -EINVAL.
        Assert.Equal(
            "machine: x86_64 v5.12 sparsemem-vmemmap, RAM 4G, 32 present sections\n" +
            "hotplug 0xc0000000-0x13fffffff (2G): -EEXIST\n" +
            "hotplug 0x100000000-0x1003fffff (4M): -EINVAL\n" +
            "scenario: 0 expectations passed, 0 failed\n", sw.ToString().ReplaceLineEndings("\n"));
        Assert.Equal((0, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
    }
}

public class MmScenarioTests
{
    private static ScenarioResult RunExample(string name, out string output)
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", name)), name);
        output = sw.ToString();
        return r;
    }

    [Theory]
    [InlineData("hugetlb-shared-file.scenario", 9)]
    [InlineData("hugetlb-private-sigbus.scenario", 6)]
    [InlineData("gup-longterm-files.scenario", 14)]
    [InlineData("trap3-uffd-copy-v5.11.scenario", 3)] // 229376 stray copies, verify's count: TrapsCheckTests and HistoryTests work them out
    public void Example_AllExpectationsHold(string name, int expectations)
    {
        var r = RunExample(name, out string output);
        Assert.Equal(0, r.ExpectationsFailed);
        Assert.Equal(expectations, r.ExpectationsPassed);
        Assert.DoesNotContain("FAILED", output);
    }

    [Fact]
    public void FileOps_OnKernelBeforeTheRule_SharedExt4LongtermWritePinWorks()
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(
            "machine --kernel 6.1 --mem 4G\nmount xfs /data\nopen E /data/f 8K\nmmap S 8K file=E shared\ntouch S write\n" +
            "pin S fast longterm write\nexpect result ok\nunpin S\nexpect no-leak\nexpect cached E 2\nftruncate E 4K\nexpect cached E 1\n" +
            "munmap S\nclose E\nrm /data/f\nexpect result ok\nrm /data/f\nexpect result ENOENT\n", "t");
        Assert.Equal((0, 6), (r.ExpectationsFailed, r.ExpectationsPassed));
    }

    [Fact]
    public void FileOps_BadInput_IsOneLineError()
    {
        var e = Assert.Throws<GupSimException>(() => new ScenarioRunner(new StringWriter()).Run("machine --mem 4G\nmount ntfs /x\n", "t"));
        Assert.Equal("t:2: unknown filesystem 'ntfs': use tmpfs, ext4, xfs, btrfs, hugetlbfs or other", e.Message);
        e = Assert.Throws<GupSimException>(() => new ScenarioRunner(new StringWriter()).Run("machine --mem 4G\nmmap A 4K file=NOPE\n", "t"));
        Assert.Equal("t:2: mmap: 'NOPE' is neither an open file nor an absolute path", e.Message);
    }

    [Fact]
    public void Touch_WithoutAVma_IsSigsegv()
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run("machine --mem 4G\nmmap A 1M\nmprotect A none\ntouch A\nexpect result SIGSEGV\n", "t");
        Assert.Equal((1, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
        // PROT_NONE: access_error() refuses the first read; nothing is faulted in.
        Assert.Contains("touch A read (0 pages faulted): SIGSEGV\n", sw.ToString().ReplaceLineEndings("\n"));
        Assert.Contains("expect result SIGSEGV: ok (last result SIGSEGV)\n", sw.ToString().ReplaceLineEndings("\n"));
    }
}

public class GupScenarioTests
{
    [Theory]
    [InlineData("trap1-gup-fast-pud-v5.11.scenario", 3)]
    [InlineData("trap1-gup-fast-pud-v5.18.scenario", 2)]
    [InlineData("trap2-merged-slow-batch1000.scenario", 3)]
    public void TrapExamples_AllExpectationsHold(string name, int expectations)
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", name)), name);
        Assert.Equal(0, r.ExpectationsFailed);
        Assert.Equal(expectations, r.ExpectationsPassed);
    }
}

using GupSim.Scenario;

namespace GupSim.Tests.Hugetlb;

/// <summary>Scenario operations that had no test: hotremove, get/put, expect leak, madvise dontneed (docs/scenarios.md).</summary>
public class ScenarioOpsTests
{
    private static (ScenarioResult R, string[] Lines) Run(string script)
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(script, "t");
        return (r, sw.ToString().ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Hotremove_OfAnIdleRange_IsOk_ThenEinval_AndEbusyWhileInUse()
    {
        var (r, lines) = Run("machine --ram 0-4G\nhotplug 4G-5G\nhotremove 4G-5G\nhotremove 4G-5G\n");
        Assert.Equal(
        [
            "machine: x86_64 v5.12 sparsemem-vmemmap, RAM 4G, 32 present sections",
            "hotplug 0x100000000-0x13fffffff (1G): ok",
            "hotremove 0x100000000-0x13fffffff (1G): ok",
            // offline_pages() on sections that are no longer present: -EINVAL.
            "hotremove 0x100000000-0x13fffffff (1G): -EINVAL",
            "scenario: 0 expectations passed, 0 failed",
        ], lines);
        Assert.Equal((0, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
        // The buddy allocator hands out the hot-added (highest) memory first: an anonymous page faulted there keeps
        // the range busy, and offline_pages() cannot migrate it away here: -EBUSY.
        var (_, busy) = Run("machine --ram 0-4G\nhotplug 4G-5G\nmmap A 2M\ntouch A write\nhotremove 4G-5G\n");
        Assert.Equal("hotremove 0x100000000-0x13fffffff (1G): -EBUSY", busy[^2]);
    }

    [Fact]
    public void GetPut_OnAnonymousPages_BalanceAndMadviseDontneedUnmaps()
    {
        var (r, lines) = Run("machine --ram 0-4G\nmmap A 2M\ntouch A write\nget A\nexpect pages-correct\nput A\nexpect no-leak\n" +
            "madvise A dontneed\nexpect result ok\n");
        Assert.Equal(
        [
            "machine: x86_64 v5.12 sparsemem-vmemmap, RAM 4G, 32 present sections",
            "mmap A 2M at 0x7ffff7e00000: ok",
            "touch A write (512 pages faulted): ok",
            "get A (v5.12, batch 512): 512 of 512 pages, 0 wrong",
            // FOLL_GET on 512 small pages: one atomic (_refcount++) per page, flags + refcount touched per page.
            "  counters: atomics 512, struct pages touched 1024, pfn_to_page 0, page_to_pfn 0, section lookups 0, entries read 512, pages[] writes 512",
            "expect pages-correct: ok (0 wrong entries)",
            "put A (512 pages): ok",
            "expect no-leak: ok (every head back where it was)",
            "madvise A dontneed: ok",
            "expect result ok: ok (last result ok)",
            "scenario: 3 expectations passed, 0 failed",
        ], lines);
        Assert.Equal((3, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
    }

    [Fact]
    public void GetOnHugetlb_IsOneGrabPerCall_AndExpectLeakFailsWhenNothingLeaked()
    {
        var (r, lines) = Run("machine --ram 0-4G --hugepages 2M=2\nmmap H 2M hugetlb\ntouch H write\nget H fast\nput H\nexpect leak\n");
        Assert.Equal(
        [
            "machine: x86_64 v5.12 sparsemem-vmemmap, RAM 4G, 32 present sections",
            "mmap H 2M at 0x7ffff7e00000: ok",
            "touch H write (1 pages faulted): ok",
            "get-fast H (v5.12, batch 512): 512 of 512 pages, 0 wrong",
            // gup-fast's PMD leaf: one try_grab_compound_head() (+512 on the head's _refcount: one atomic) per call;
            // the walk reads pgd, pud and pmd.
            "  counters: atomics 1, struct pages touched 2, pfn_to_page 1, page_to_pfn 0, section lookups 0, entries read 3, pages[] writes 512",
            "put H (512 pages): ok",
            "expect leak: FAILED (every head back where it was)",
            "scenario: 0 expectations passed, 1 failed",
        ], lines);
        Assert.Equal((0, 1), (r.ExpectationsPassed, r.ExpectationsFailed));
    }
}

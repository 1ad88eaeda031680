using GupSim.Scenario;

namespace GupSim.Tests.Gup;

/// <summary>
/// A long-term pin of a hugetlb page in CMA through slow GUP, version by version. The machine: 5 GiB of RAM
/// (0–3G, 4G–6G) with hugetlb_cma=1G, which cma_declare_contiguous_nid() places at 0x100000000 (pfn 0x100000, the
/// cma line), and 3 GiB hot-added at 8G–11G. Two 1 GiB pages fill the 2 GiB mapping: the first from hot-added memory,
/// the second the CMA one at pfn 0x100000; a third pool page (pfn 0x240000, hot-added memory at 9G) is the migration
/// target. gup_test's loop asks 100000 pages per call and stops at the first short call.
/// <list type="bullet">
/// <item>v5.11: follow_hugetlb_page() grabs with try_grab_page() per subpage (no FOLL_LONGTERM test), so all 524288
/// pages come back and check_and_migrate_cma_pages() moves the CMA page 0x100000 → 0x240000.</item>
/// <item>v5.12–v6.9: the grab is try_grab_compound_head()/try_grab_folio() (0fa5bc4023c1; from v6.6 in
/// __get_user_pages()), whose FOLL_LONGTERM test fails the CMA page: WARN_ON_ONCE, and the third call (pages
/// 200000–299999) returns the 62144 pages left in the first huge page, so 2 × 100000 + 62144 = 262144 = one GiB of 4 KiB
/// pages; nothing is migrated.</item>
/// <item>v6.10+ (f442fa614137): slow GUP's try_grab_folio() has no such test; v6.18 pins all and migrates.</item>
/// </list>
/// </summary>
public sealed class LongtermCmaHugetlbTests
{
    private static string Script(string kernel, string model) => $"""
        machine --arch x86_64 --kernel {kernel} --model {model} --ram 0-3G,4G-6G --hugetlb-cma 1G
        hotplug 8G-11G
        hugepages 1G=2
        mmap M 2G hugetlb=1G
        touch M write
        hugepages 1G=3
        pin M longterm write batch=100000
        dmesg
        unpin M
        """;

    private static string Run(string kernel, string model)
    {
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(Script(kernel, model), "longterm-cma");
        Assert.Equal(0, r.ExpectationsFailed);
        return sw.ToString();
    }

    [Theory]
    [InlineData("5.11", "sparsemem")]
    [InlineData("5.11", "sparsemem-vmemmap")]
    [InlineData("6.10", "sparsemem-vmemmap")]
    [InlineData("6.18", "sparsemem-vmemmap")]
    public void GrabWithoutTheTest_PinsAll_AndMigratesTheCmaPage(string kernel, string model)
    {
        string text = Run(kernel, model);
        Assert.Contains("  cma: Reserved 1024 MiB at 0x0000000100000000\n", text, StringComparison.Ordinal);
        Assert.Contains($"pin M (v{kernel}, batch 100000): 524288 of 524288 pages, 0 wrong\n", text, StringComparison.Ordinal);
        Assert.Contains("  longterm: 1 migrated (first pfn 0x100000 -> 0x240000), 0 pinned head(s) in CMA or ZONE_MOVABLE\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("WARNING", text, StringComparison.Ordinal);
        Assert.Contains("unpin M (524288 pages): ok\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5.12", "sparsemem", "mm/hugetlb.c follow_hugetlb_page")]
    [InlineData("5.14", "sparsemem-vmemmap", "mm/hugetlb.c follow_hugetlb_page")]
    [InlineData("6.1", "sparsemem-vmemmap", "mm/hugetlb.c follow_hugetlb_page")]
    [InlineData("6.6", "sparsemem", "mm/gup.c __get_user_pages")]
    [InlineData("6.7", "sparsemem-vmemmap", "mm/gup.c __get_user_pages")]
    [InlineData("6.9", "sparsemem-vmemmap", "mm/gup.c __get_user_pages")]
    public void GrabWithTheTest_WarnsAndStopsAtTheCmaPage_NothingMigrated(string kernel, string model, string site)
    {
        string text = Run(kernel, model);
        Assert.Contains($"pin M (v{kernel}, batch 100000): 262144 of 524288 pages, 0 wrong\n", text, StringComparison.Ordinal);
        Assert.Contains("  longterm: 0 migrated, 0 pinned head(s) in CMA or ZONE_MOVABLE\n", text, StringComparison.Ordinal);
        Assert.Contains($"  WARNING: CPU: 0 PID: 1 at {site}\n", text, StringComparison.Ordinal);
        Assert.Equal(1, text.Split("WARNING").Length - 1); // WARN_ON_ONCE
        Assert.Contains("unpin M (262144 pages): ok\n", text, StringComparison.Ordinal);
    }
}

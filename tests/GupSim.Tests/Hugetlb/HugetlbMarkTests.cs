using GupSim.Arch;
using GupSim.Debug;
using GupSim.Hugetlb;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Hugetlb;

/// <summary>
/// Where each version marks a hugetlb folio, read back at the struct page's own offsets (x86_64 VMEMMAP: pfn p's
/// struct page at 0xffffea0000000000 + 64p; flags at +0, _mapcount (page_type) at +48; page[1] = +64):
/// HUGETLB_PAGE_DTOR (2) in page[1]'s byte at +16 before v6.6; PG_hugetlb (PG_active, bit 8 in the v6.6 numbering,
/// above the order in page[1]'s low byte) in page[1].flags on v6.6–v6.8 (9c5ccf2db04b); the head's page type from v6.9 (d99e3140a4d3): 0xffffffff with
/// PG_hugetlb 0x00000800 cleared = 0xfffff7ff, v6.11 (8db00ad56461) 0x04000000 cleared = 0xfbffffff, v6.12
/// (4ffca5a96678) PGTY_hugetlb 0xf4 in the top byte = 0xf4000000. Freed to the buddy, each mark is gone.
/// </summary>
public class HugetlbMarkTests
{
    private static ulong At(ulong pfn) => KnownAddresses.X86_64Vmemmap + (pfn * 64);

    private static (Machine M, MmStruct Mm, ulong Head) Faulted(string version) => PageHugeTests.FaultedHugetlbPage(version);

    [Theory]
    [InlineData("6.1", 2, 0UL, 0xffffffffU, "page:")]
    [InlineData("6.6", 0, 1UL << 8, 0xffffffffU, "page_type: 0xffffffff()")] // %pGt of an untyped head, printed for every page
    [InlineData("6.9", 0, 0UL, 0xfffff7ffU, "page_type: 0xfffff7ff(hugetlb)")]
    [InlineData("6.11", 0, 0UL, 0xfbffffffU, "page_type: 0xfbffffff(hugetlb)")]
    [InlineData("6.12", 0, 0UL, 0xf4000000U, "page_type: f4(hugetlb)")]
    [InlineData("6.18", 0, 0UL, 0xf4000000U, "page_type: f4(hugetlb)")]
    public void EachVersionMarksTheFolioWhereItsKernelDoes_AndTheFreeTakesTheMarkOff(string version, byte dtor, ulong secondFlag, uint headWord, string dumpLine)
    {
        var (m, mm, head) = Faulted(version);
        ulong h = At(head);
        if (dtor != 0) Assert.Equal(dtor, m.Memory.ReadU8(h + 64 + 16, "test"));
        Assert.Equal(secondFlag, m.Memory.ReadWord(h + 64, "test") & (1UL << 8));
        Assert.Equal(headWord, m.Memory.ReadU32(h + 48, "test"));
        Assert.True(m.Hugetlb.PageHuge(PagePtr.FromAddress(h)));
        Assert.True(m.Hugetlb.PageHuge(PagePtr.FromAddress(h + (511 * 64))));
        var dump = DumpPage.Lines(m, PagePtr.FromAddress(h), null);
        Assert.Contains(dump, l => l.StartsWith(dumpLine, StringComparison.Ordinal));
        // The typed head's page line reads its own mapcount as 0 (v6.9 clamps below 0, v6.10 page_mapcount_is_type()),
        // plus v6.9's entire_mapcount (the page is mapped once): 1 on v6.9, 0 from v6.10 (this page's alone).
        if (version is "6.9") Assert.Contains("page: refcount:1 mapcount:1 ", dump[0], StringComparison.Ordinal);
        if (version is "6.11" or "6.12" or "6.18") Assert.Contains("page: refcount:1 mapcount:0 ", dump[0], StringComparison.Ordinal);

        Assert.Equal(0, mm.Munmap(mm.Vmas[0].Start, 2 * M));
        var hs = m.Hugetlb.Find(2 * M)!;
        Assert.Equal(0UL, m.Hugetlb.SetMaxHugePages(hs, 0));
        Assert.Equal(0xffffffffU, m.Memory.ReadU32(h + 48, "test"));
        Assert.Equal(0UL, m.Memory.ReadWord(h + 64, "test") & (1UL << 8));
        Assert.False(m.Hugetlb.PageHuge(PagePtr.FromAddress(h)));
        Assert.DoesNotContain(m.KernelLog, l => l.StartsWith("BUG: Bad page state", StringComparison.Ordinal));
    }

    [Fact]
    public void V6_12_AStoreOverThePageTypeUnmarksTheFolio_ASmallPageGivenTheTypeIsHugetlb()
    {
        var (m, _, head) = Faulted("6.12");
        // PageHuge() reads the word at the pointer, not who allocated the page: -1 over the head's page_type.
        m.Memory.WriteU32(At(head) + 48, 0xffffffffU, "test");
        Assert.False(m.Hugetlb.PageHuge(PagePtr.FromAddress(At(head))));
        // v6.9+ does not ask PageCompound() first: any page whose (compound_head's) page_type says hugetlb is one.
        Assert.True(m.TryAllocPages(0, 0, "test", out var pfn));
        m.Memory.WriteU32(At(pfn.Value) + 48, 0xf4000000U, "test");
        Assert.True(m.Hugetlb.PageHuge(PagePtr.FromAddress(At(pfn.Value))));
    }
}

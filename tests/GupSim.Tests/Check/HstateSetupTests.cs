using GupSim.Arch;
using GupSim.Hugetlb;

namespace GupSim.Tests.Check;

/// <summary>
/// MAX_FOLIO_ORDER (include/linux/mm.h, v6.18 with 39231e8d6ba7) and the hstate/folio setup simulation
/// (<see cref="HstateSetup"/>). Every expected order is worked out from the profile's shifts by hand.
/// </summary>
public sealed class HstateSetupTests
{
    private static readonly HstateConfig Full = new(HugetlbPage: true, ArchHasGiganticPage: true, ContigAlloc: true, ZoneDevice: false, ThpPud: false, DebugVm: false);

    [Fact]
    public void MaxFolioOrder_BeforeV6_18_DoesNotExist()
    {
        Assert.Null(MaxFolioOrder.Of(ArchProfiles.Get("x86_64", KernelVersion.FromNumbers(6, 17)), MemoryModel.SparsememVmemmap, gigantic: true, hugetlbPage: true));
    }

    [Fact]
    public void MaxFolioOrder_V6_18_FollowsTheLadder()
    {
        // x86_64 (PAGE_SHIFT 12, MAX_ORDER 11 → MAX_PAGE_ORDER 10, PUD_SHIFT 30):
        var x86 = ArchProfiles.Get("x86_64", KernelVersion.V6_18);
        // !HAVE_GIGANTIC_FOLIOS → MAX_PAGE_ORDER = 10.
        Assert.Equal(10, MaxFolioOrder.Of(x86, MemoryModel.SparsememVmemmap, gigantic: false, hugetlbPage: true));
        // HUGETLB_PAGE → get_order(SZ_16G) = 34 − 12 = 22.
        Assert.Equal(22, MaxFolioOrder.Of(x86, MemoryModel.SparsememVmemmap, gigantic: true, hugetlbPage: true));
        // Gigantic folios without hugetlb (ZONE_DEVICE + THP PUD) → PUD_ORDER = 30 − 12 = 18.
        Assert.Equal(18, MaxFolioOrder.Of(x86, MemoryModel.SparsememVmemmap, gigantic: true, hugetlbPage: false));
        // sh (SECTION_SIZE_BITS 26, PAGE_SHIFT 12) on classic SPARSEMEM → PFN_SECTION_SHIFT = 14.
        Assert.Equal(14, MaxFolioOrder.Of(ArchProfiles.Get("sh", KernelVersion.V6_18), MemoryModel.Sparsemem, gigantic: true, hugetlbPage: true));
        // 32-bit (i386-pae, PAGE_SHIFT 12) with hugetlb on a flat memmap → get_order(SZ_1G) = 30 − 12 = 18.
        Assert.Equal(18, MaxFolioOrder.Of(ArchProfiles.Get("i386-pae", KernelVersion.V6_18), MemoryModel.Flatmem, gigantic: true, hugetlbPage: true));
    }

    [Fact]
    public void Ppc64Hash16G_WarnsWithout39231e8d6ba7_AndNotWithIt()
    {
        // ppc64 hash, 64K pages (PAGE_SHIFT 16), MAX_ORDER 9 → MAX_PAGE_ORDER 8; 16M = order 8, 16G = order 18.
        // Before 39231e8d6ba7 hash did not select ARCH_HAS_GIGANTIC_PAGE (only PPC_RADIX_MMU did), so MAX_FOLIO_ORDER
        // was MAX_PAGE_ORDER 8 and 16G WARNed in hugetlb_add_hstate() (still registered), boot-time pages only.
        var ppc = ArchProfiles.Get("ppc64", KernelVersion.V6_18);
        var before = HstateSetup.Simulate(ppc, MemoryModel.SparsememVmemmap, Full with { ArchHasGiganticPage = false, WithPowerpcFix = false });
        Assert.Equal(["16M", "16G"], before.Select(h => h.Size.Name));
        Assert.Empty(before[0].Warnings);
        Assert.True(before[1].Registered);
        Assert.True(before[1].Gigantic);
        Assert.False(before[1].RuntimeAllocation);
        Assert.Equal("hugetlb_add_hstate(): WARN_ON(order 18 > MAX_FOLIO_ORDER 8) for 16G (7b4f21f5e038); the hstate is registered anyway", before[1].Warnings[0]);
        // With it, powerpc selects ARCH_HAS_GIGANTIC_PAGE, HAVE_GIGANTIC_FOLIOS holds and the cap is 16G: order 18, no WARN.
        var after = HstateSetup.Simulate(ppc, MemoryModel.SparsememVmemmap, Full);
        Assert.All(after, h => Assert.Empty(h.Warnings));
        Assert.True(after[1].RuntimeAllocation);
    }

    [Fact]
    public void Sh512M_OnClassicSparse_V6_18_WarnsAndHasNoRuntimePages()
    {
        // sh: MAX_FOLIO_ORDER = PFN_SECTION_SHIFT 14 (64 MiB sections); 512M is order 17 > 14. Registered with a WARN;
        // alloc_contig_range_noprof() refuses its runtime pages; DEBUG_VM adds folio_set_order()'s VM_WARN_ON_ONCE.
        var sh = ArchProfiles.Get("sh", KernelVersion.V6_18);
        var r = HstateSetup.Simulate(sh, MemoryModel.Sparsemem, Full with { DebugVm = true });
        var h512 = Assert.Single(r, h => h.Size.Name == "512M");
        Assert.True(h512.Registered);
        Assert.False(h512.RuntimeAllocation);
        Assert.Equal(
        [
            "hugetlb_add_hstate(): WARN_ON(order 17 > MAX_FOLIO_ORDER 14) for 512M (7b4f21f5e038); the hstate is registered anyway",
            "alloc_contig_range_noprof(): WARN_ON_ONCE(order 17 > MAX_FOLIO_ORDER 14), -EINVAL: no runtime 512M pages (0bf2edf041dc); boot-time ones still come from memblock",
            "folio_set_order(): VM_WARN_ON_ONCE(order 17 > MAX_FOLIO_ORDER 14) for each boot-time 512M page (99132d24d765, CONFIG_DEBUG_VM)",
        ], h512.Warnings);
        // 64M is order 14 = MAX_FOLIO_ORDER: silent.
        Assert.Empty(Assert.Single(r, h => h.Size.Name == "64M").Warnings);
        // v6.6 has no MAX_FOLIO_ORDER: nothing to warn about.
        Assert.All(HstateSetup.Simulate(ArchProfiles.Get("sh", KernelVersion.V6_6), MemoryModel.Sparsemem, Full), h => Assert.Empty(h.Warnings));
    }

    [Fact]
    public void WithoutHugetlbPage_EverySizeIsRefused()
    {
        var r = HstateSetup.Simulate(ArchProfiles.Get("x86_64", KernelVersion.V6_1), MemoryModel.SparsememVmemmap, Full with { HugetlbPage = false });
        Assert.Equal(["2M", "1G"], r.Select(h => h.Size.Name));
        Assert.All(r, h => Assert.Equal("CONFIG_HUGETLB_PAGE is not set", h.Refusal));
    }

    [Fact]
    public void GiganticWithoutContigAlloc_IsBootTimeOnly()
    {
        // x86_64 1G is order 18 ≥ MAX_ORDER 11: alloc_gigantic_folio() is a stub without CONFIG_CONTIG_ALLOC.
        var r = HstateSetup.Simulate(ArchProfiles.Get("x86_64", KernelVersion.V6_1), MemoryModel.SparsememVmemmap, Full with { ContigAlloc = false });
        Assert.True(r[0].RuntimeAllocation);
        Assert.False(r[1].RuntimeAllocation);
        Assert.Equal("1G is gigantic and CONFIG_CONTIG_ALLOC is not set: only boot-time pages (hugepagesz=1G hugepages=N)", Assert.Single(r[1].Warnings));
    }
}

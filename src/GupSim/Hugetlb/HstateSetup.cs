using System.Globalization;
using GupSim.Arch;
using GupSim.Config;

namespace GupSim.Hugetlb;

/// <summary>The config symbols hstate registration and huge folio allocation depend on.</summary>
/// <param name="HugetlbPage">CONFIG_HUGETLB_PAGE.</param>
/// <param name="ArchHasGiganticPage">CONFIG_ARCH_HAS_GIGANTIC_PAGE (selected by the arch).</param>
/// <param name="ContigAlloc">CONFIG_CONTIG_ALLOC (alloc_contig_pages(), runtime gigantic pages).</param>
/// <param name="ZoneDevice">CONFIG_ZONE_DEVICE.</param>
/// <param name="ThpPud">CONFIG_HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD.</param>
/// <param name="DebugVm">CONFIG_DEBUG_VM (VM_WARN_ON_ONCE() is compiled in only with it).</param>
/// <param name="WithPowerpcFix">Whether 39231e8d6ba7 is in (v6.18 as released: yes).</param>
public sealed record HstateConfig(bool HugetlbPage, bool ArchHasGiganticPage, bool ContigAlloc, bool ZoneDevice, bool ThpPud, bool DebugVm, bool WithPowerpcFix = true)
{
    /// <summary>
    /// The config of a machine booted without a .config: hugetlb on; ARCH_HAS_GIGANTIC_PAGE when the arch has a
    /// gigantic size (every modelled arch with one selects it in v6.18, powerpc since 39231e8d6ba7); CONTIG_ALLOC on;
    /// no ZONE_DEVICE, no PUD THP, no DEBUG_VM.
    /// </summary>
    public static HstateConfig ForMachine(ArchProfile arch)
    {
        ArgumentNullException.ThrowIfNull(arch);
        bool gigantic = false;
        foreach (var s in arch.HugePageSizes) gigantic |= arch.IsGigantic(s);
        return new HstateConfig(HugetlbPage: true, ArchHasGiganticPage: gigantic, ContigAlloc: true, ZoneDevice: false, ThpPud: false, DebugVm: false);
    }

    /// <summary>The symbols as a loaded .config sets them (<paramref name="derived"/> is what GupSim derived from it).</summary>
    public static HstateConfig FromConfig(KernelConfig config, DerivedConfig derived)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(derived);
        // 39231e8d6ba7 makes powerpc select ARCH_HAS_GIGANTIC_PAGE whenever it supports hugetlbfs (before: only
        // PPC_RADIX_MMU did); a config written by an older release but read as v6.18 does not say so itself.
        bool gigantic = config.IsSet("ARCH_HAS_GIGANTIC_PAGE")
            || (derived.Arch.KernelArch == "powerpc" && derived.Version.HasMaxFolioOrderInvariant && config.IsSet("ARCH_SUPPORTS_HUGETLBFS"));
        return new HstateConfig(derived.Hugetlb, gigantic, config.IsSet("CONTIG_ALLOC"), config.IsSet("ZONE_DEVICE"),
            config.IsSet("HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD"), derived.DebugVm);
    }
}

/// <summary>The checks one huge page size meets in one kernel: its order against MAX_FOLIO_ORDER, and whether it is gigantic.</summary>
/// <param name="Order">The size's order in base pages.</param>
/// <param name="Gigantic">hstate_is_gigantic() (order ≥ MAX_ORDER, v5.11 meaning).</param>
/// <param name="MaxFolioOrder">The kernel's MAX_FOLIO_ORDER, or null before v6.18.</param>
public readonly record struct HstateGates(int Order, bool Gigantic, int? MaxFolioOrder)
{
    /// <summary>
    /// order &gt; MAX_FOLIO_ORDER: hugetlb_add_hstate() WARNs (7b4f21f5e038) and registers the hstate anyway, and
    /// alloc_contig_range_noprof() refuses a gigantic folio of that order with WARN_ON_ONCE and -EINVAL (0bf2edf041dc).
    /// </summary>
    public bool AboveMaxFolioOrder => MaxFolioOrder is int mf && Order > mf;
}

/// <summary>What the kernel does with one huge page size at boot and at run time.</summary>
/// <param name="Size">The size (one the arch's arch_hugetlb_valid_size() accepts).</param>
/// <param name="Refusal">Why the kernel sets up no hstate for it, or null when it registers one.</param>
/// <param name="Gigantic">hstate_is_gigantic(): order ≥ MAX_ORDER (v5.11 meaning): pages come from memblock or alloc_contig_pages(), not the buddy.</param>
/// <param name="RuntimeAllocation">Whether nr_hugepages can grow the pool at run time (buddy, or alloc_contig_pages() for gigantic).</param>
/// <param name="Warnings">The WARNs the kernel prints for it (hstate registration, folio allocation), one line each.</param>
public sealed record HstateSetupResult(HugePageSize Size, string? Refusal, bool Gigantic, bool RuntimeAllocation, IReadOnlyList<string> Warnings)
{
    /// <summary>Whether hugetlb_add_hstate() registers the size.</summary>
    public bool Registered => Refusal is null;
}

/// <summary>
/// Simulates hstate registration and huge folio allocation for one kernel, size by size: hugepagesz_setup() /
/// hugetlb_add_hstate() (mm/hugetlb.c), alloc_gigantic_folio() → alloc_contig_pages() (mm/page_alloc.c) and the
/// boot-time memblock path, with the checks each release has:
/// <list type="bullet">
/// <item>without CONFIG_HUGETLB_PAGE there is no hugetlb at all (hugetlbfs cannot be built): every size is refused;</item>
/// <item>v6.18, 7b4f21f5e038: <c>WARN_ON(order &gt; MAX_FOLIO_ORDER)</c> in hugetlb_add_hstate(); the hstate is still
/// registered (the WARN is the only effect);</item>
/// <item>v6.18, 0bf2edf041dc: alloc_contig_range_noprof() returns −EINVAL with <c>WARN_ON_ONCE</c> for a __GFP_COMP
/// range of order &gt; MAX_FOLIO_ORDER, so such a size gets no runtime pages; memblock (boot-time hugepages=) has no
/// such check, only folio_set_order()'s <c>VM_WARN_ON_ONCE</c> (99132d24d765) under CONFIG_DEBUG_VM;</item>
/// <item>gigantic pages at run time need CONFIG_ARCH_HAS_GIGANTIC_PAGE and CONFIG_CONTIG_ALLOC
/// (alloc_gigantic_folio() is a stub without them); boot-time ones need neither.</item>
/// </list>
/// MAX_FOLIO_ORDER itself is <see cref="MaxFolioOrder.Of"/>. The result is what the model's code does, not a table:
/// the audit runs the checker only over the sizes registered here.
/// </summary>
public static class HstateSetup
{
    /// <summary>
    /// MAX_FOLIO_ORDER of the kernel <paramref name="config"/> describes (<see cref="MaxFolioOrder.Of"/>, keyed on
    /// CONFIG_HAVE_GIGANTIC_FOLIOS with 39231e8d6ba7, on ARCH_HAS_GIGANTIC_PAGE before it), or null before v6.18.
    /// </summary>
    public static int? KernelMaxFolioOrder(ArchProfile arch, MemoryModel model, HstateConfig config)
    {
        ArgumentNullException.ThrowIfNull(arch);
        ArgumentNullException.ThrowIfNull(config);
        bool gigantic = config.WithPowerpcFix
            ? MaxFolioOrder.HaveGiganticFolios(config.HugetlbPage, config.ArchHasGiganticPage, config.ZoneDevice, config.ThpPud)
            : config.ArchHasGiganticPage;
        return MaxFolioOrder.Of(arch, model, gigantic, config.HugetlbPage, config.WithPowerpcFix);
    }

    /// <summary>The gates of <paramref name="size"/> under <paramref name="maxFolioOrder"/> (<see cref="KernelMaxFolioOrder"/>): what both the audit and a machine's pools decide by.</summary>
    public static HstateGates Gates(ArchProfile arch, int? maxFolioOrder, HugePageSize size)
    {
        ArgumentNullException.ThrowIfNull(arch);
        return new HstateGates(size.Order(arch.PageShift), arch.IsGigantic(size), maxFolioOrder);
    }

    /// <summary>The setup of every size the arch profile accepts, smallest first.</summary>
    public static IReadOnlyList<HstateSetupResult> Simulate(ArchProfile arch, MemoryModel model, HstateConfig config)
    {
        int? maxFolio = KernelMaxFolioOrder(arch, model, config);
        var results = new List<HstateSetupResult>();
        foreach (var size in arch.HugePageSizes)
        {
            var gates = Gates(arch, maxFolio, size);
            int order = gates.Order;
            bool isGigantic = gates.Gigantic;
            if (!config.HugetlbPage)
            {
                results.Add(new(size, "CONFIG_HUGETLB_PAGE is not set", isGigantic, false, []));
                continue;
            }
            var warnings = new List<string>();
            bool tooLarge = gates.AboveMaxFolioOrder;
            if (tooLarge)
                warnings.Add(I($"hugetlb_add_hstate(): WARN_ON(order {order} > MAX_FOLIO_ORDER {maxFolio}) for {size.Name} (7b4f21f5e038); the hstate is registered anyway"));
            bool runtime = true;
            if (isGigantic)
            {
                if (!config.ArchHasGiganticPage || !config.ContigAlloc)
                {
                    runtime = false;
                    warnings.Add($"{size.Name} is gigantic and CONFIG_{(config.ArchHasGiganticPage ? "CONTIG_ALLOC" : "ARCH_HAS_GIGANTIC_PAGE")} is not set: only boot-time pages (hugepagesz={size.Name} hugepages=N)");
                }
                else if (tooLarge)
                {
                    runtime = false;
                    warnings.Add(I($"alloc_contig_range_noprof(): WARN_ON_ONCE(order {order} > MAX_FOLIO_ORDER {maxFolio}), -EINVAL: no runtime {size.Name} pages (0bf2edf041dc); boot-time ones still come from memblock"));
                }
                if (tooLarge && config.DebugVm)
                    warnings.Add(I($"folio_set_order(): VM_WARN_ON_ONCE(order {order} > MAX_FOLIO_ORDER {maxFolio}) for each boot-time {size.Name} page (99132d24d765, CONFIG_DEBUG_VM)"));
            }
            results.Add(new(size, null, isGigantic, runtime, warnings));
        }
        return results;
    }

    private static string I(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}

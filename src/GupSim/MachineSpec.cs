using GupSim.Arch;
using GupSim.Memory;

namespace GupSim;

/// <summary>A <c>cma=SIZE[@START]</c> request.</summary>
/// <param name="Bytes">Size of the area.</param>
/// <param name="Base">Fixed physical start (<c>@START</c>), or null to let the kernel place it.</param>
public sealed record CmaSpec(ulong Bytes, ulong? Base);

/// <summary>
/// <c>crashkernel=SIZE[@OFFSET]</c> or <c>crashkernel=SIZE,high</c> (kernel/crash_core.c parse_crashkernel(),
/// parse_crashkernel_high()).
/// </summary>
/// <param name="Bytes">Size of the reservation.</param>
/// <param name="Offset">Fixed physical start (<c>@OFFSET</c>), or null to let the kernel place it.</param>
/// <param name="High">The <c>,high</c> form: placed above 4 GiB first, plus a low reservation (x86 reserve_crashkernel_low()).</param>
public sealed record CrashkernelSpec(ulong Bytes, ulong? Offset, bool High);

/// <summary>An initial ramdisk the boot loader placed in RAM (boot_params.hdr.ramdisk_image/size, or the FDT's linux,initrd-start).</summary>
/// <param name="Bytes">Size of the image.</param>
/// <param name="Address">Where the loader put it, or null for the arch's usual loader placement (docs/architecture.md).</param>
public sealed record InitrdSpec(ulong Bytes, ulong? Address);

/// <summary>
/// <c>kernelcore=</c> and <c>movablecore=</c> (mm/page_alloc.c cmdline_parse_kernelcore/movablecore): each a byte size
/// or a percentage of all memory; null when not given.
/// </summary>
public sealed record MovableCoreSpec(ulong? KernelcoreBytes, int? KernelcorePercent, ulong? MovablecoreBytes, int? MovablecorePercent);

/// <summary>Everything that defines a simulated machine before it boots.</summary>
public sealed record MachineSpec
{
    /// <summary>The arch profile (carries the kernel version).</summary>
    public required ArchProfile Arch { get; init; }
    /// <summary>The memory model; null = the arch's default.</summary>
    public MemoryModel? Model { get; init; }
    /// <summary>
    /// How classic SPARSEMEM places boot memmaps: <see cref="MemmapPlacement.BootBuffer"/> (the kernel's normal path)
    /// or <see cref="MemmapPlacement.Scattered"/> (the per-section fallback). Ignored by the other models.
    /// </summary>
    public MemmapPlacement Placement { get; init; } = MemmapPlacement.BootBuffer;
    /// <summary>RAM per node at boot.</summary>
    public required RamLayout Ram { get; init; }
    /// <summary>Seed for everything random (scattered placement, garbage contents).</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>CONFIG_SPARSEMEM_EXTREME; null = the arch's choice (STATIC on 32-bit x86 and riscv32, EXTREME elsewhere).</summary>
    public bool? SparsememExtreme { get; init; }
    /// <summary>CONFIG_PAGE_EXTENSION (doubles struct mem_section).</summary>
    public bool PageExtension { get; init; }
    /// <summary>CONFIG_NODES_SHIFT; null = 6 on 64-bit, 2 on 32-bit (0 when one node).</summary>
    public int? NodesShift { get; init; }
    /// <summary>Boot-time huge pages, as the kernel command line gives them.</summary>
    public Hugetlb.HugepagesCmdline Hugepages { get; init; } = Hugetlb.HugepagesCmdline.None;
    /// <summary>
    /// <c>cma=SIZE[@START]</c>: the default CMA area (dma_contiguous_reserve()), MIGRATE_CMA pageblocks in the buddy
    /// after boot; null = none.
    /// </summary>
    public CmaSpec? Cma { get; init; }
    /// <summary><c>hugetlb_cma=SIZE</c> (v5.7+): CMA areas for gigantic hugetlb pages, split over the nodes; 0 = none.</summary>
    public ulong HugetlbCmaBytes { get; init; }
    /// <summary><c>kernelcore=</c> / <c>movablecore=</c>: what is left for ZONE_MOVABLE at boot; null = no ZONE_MOVABLE.</summary>
    public MovableCoreSpec? MovableCore { get; init; }
    /// <summary><c>crashkernel=</c>: memory reserved for a kdump kernel at boot; null = none.</summary>
    public CrashkernelSpec? Crashkernel { get; init; }
    /// <summary>The initrd the boot loader loaded (<c>--initrd</c>), reserved by early_reserve_initrd(); null = none.</summary>
    public InitrdSpec? Initrd { get; init; }
    /// <summary>Ranges to hot-add right after boot.</summary>
    public IReadOnlyList<PhysRange> Hotplug { get; init; } = [];
    /// <summary>
    /// Boot a memory model the arch's Kconfig would not offer in this version (a `.config` that says so was loaded
    /// with a warning). The model must still be buildable: VMEMMAP needs a vmemmap area.
    /// </summary>
    public bool AllowKconfigViolations { get; init; }

    /// <summary>
    /// The hstate symbols of the loaded .config (CONFIG_ARCH_HAS_GIGANTIC_PAGE, CONTIG_ALLOC, …) that v6.18's
    /// MAX_FOLIO_ORDER derives from; null without a .config (<see cref="Hugetlb.HstateConfig.ForMachine"/>).
    /// </summary>
    public Hugetlb.HstateConfig? HstateConfig { get; init; }
    /// <summary>
    /// CONFIG_DEBUG_VM: from the <c>.config</c> when one is given, else <c>--debug-vm on|off</c>; default off, as
    /// distributions ship. Gates the free-time struct page checks as the kernel version gates them.
    /// </summary>
    public bool DebugVm { get; init; }
    /// <summary>
    /// <c>--churn SIZE</c>: bytes the lived-in workload allocates in total after boot and before the experiment
    /// (0 = a fresh boot).
    /// </summary>
    public ulong ChurnBytes { get; init; }
    /// <summary>Where the spec came from, for printouts ("--config ...", "defaults").</summary>
    public string Source { get; init; } = "defaults";
}

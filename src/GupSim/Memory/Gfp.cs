namespace GupSim.Memory;

/// <summary>
/// gfp_t (include/linux/gfp.h): how an allocation may be served. The single-bit values are v5.11's ___GFP_* bits;
/// the composite members are the kernel's GFP_* masks built from them. Later kernels renumbered some bits (6.0
/// dropped ___GFP_ATOMIC; 6.8 derived the values from an enum) without changing what the masks mean, and GupSim only
/// ever reads the masks through their names.
/// </summary>
[Flags]
public enum Gfp : uint
{
    /// <summary>No flags (GFP_NOWAIT minus kswapd: never used alone).</summary>
    None = 0,
    /// <summary>__GFP_DMA: ZONE_DMA.</summary>
    Dma = 0x01,
    /// <summary>__GFP_HIGHMEM: ZONE_HIGHMEM allowed.</summary>
    Highmem = 0x02,
    /// <summary>__GFP_DMA32: ZONE_DMA32.</summary>
    Dma32 = 0x04,
    /// <summary>__GFP_MOVABLE: the page can be migrated (MIGRATE_MOVABLE; ZONE_MOVABLE allowed with __GFP_HIGHMEM).</summary>
    Movable = 0x08,
    /// <summary>__GFP_RECLAIMABLE: slab pages that shrinkers can free (MIGRATE_RECLAIMABLE).</summary>
    Reclaimable = 0x10,
    /// <summary>__GFP_HIGH: may dip into reserves.</summary>
    High = 0x20,
    /// <summary>__GFP_IO.</summary>
    Io = 0x40,
    /// <summary>__GFP_FS.</summary>
    Fs = 0x80,
    /// <summary>__GFP_ZERO: returned zeroed.</summary>
    Zero = 0x100,
    /// <summary>__GFP_ATOMIC (removed in v6.3).</summary>
    Atomic = 0x200,
    /// <summary>__GFP_DIRECT_RECLAIM.</summary>
    DirectReclaim = 0x400,
    /// <summary>__GFP_KSWAPD_RECLAIM.</summary>
    KswapdReclaim = 0x800,
    /// <summary>__GFP_WRITE.</summary>
    Write = 0x1000,
    /// <summary>__GFP_NOWARN: no allocation-failure report.</summary>
    Nowarn = 0x2000,
    /// <summary>__GFP_RETRY_MAYFAIL.</summary>
    RetryMayfail = 0x4000,
    /// <summary>__GFP_NOFAIL.</summary>
    Nofail = 0x8000,
    /// <summary>__GFP_NORETRY: fail rather than reclaim hard.</summary>
    Noretry = 0x10000,
    /// <summary>__GFP_MEMALLOC.</summary>
    Memalloc = 0x20000,
    /// <summary>__GFP_COMP: make a compound page.</summary>
    Comp = 0x40000,
    /// <summary>__GFP_NOMEMALLOC.</summary>
    Nomemalloc = 0x80000,
    /// <summary>__GFP_HARDWALL: stay in the task's cpuset.</summary>
    Hardwall = 0x100000,
    /// <summary>__GFP_THISNODE: no fallback to other nodes.</summary>
    Thisnode = 0x200000,
    /// <summary>__GFP_ACCOUNT: charge to the memory cgroup.</summary>
    Account = 0x400000,

    /// <summary>__GFP_RECLAIM: direct and kswapd reclaim.</summary>
    Reclaim = DirectReclaim | KswapdReclaim,
    /// <summary>GFP_ATOMIC (v5.11: __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM).</summary>
    GfpAtomic = High | Atomic | KswapdReclaim,
    /// <summary>GFP_KERNEL: __GFP_RECLAIM | __GFP_IO | __GFP_FS (MIGRATE_UNMOVABLE).</summary>
    Kernel = Reclaim | Io | Fs,
    /// <summary>GFP_KERNEL_ACCOUNT.</summary>
    KernelAccount = Kernel | Account,
    /// <summary>GFP_USER: GFP_KERNEL | __GFP_HARDWALL.</summary>
    User = Kernel | Hardwall,
    /// <summary>GFP_HIGHUSER: GFP_USER | __GFP_HIGHMEM.</summary>
    HighUser = User | Highmem,
    /// <summary>GFP_HIGHUSER_MOVABLE: user pages that can be migrated (anonymous memory, page cache, THP).</summary>
    HighUserMovable = HighUser | Movable,
    /// <summary>GFP_TRANSHUGE_LIGHT: (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) without __GFP_RECLAIM.</summary>
    TransHugeLight = (HighUserMovable | Comp | Nomemalloc | Nowarn) & ~Reclaim,
    /// <summary>GFP_TRANSHUGE: GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM.</summary>
    TransHuge = TransHugeLight | DirectReclaim,
    /// <summary>GFP_PGTABLE_USER (include/asm-generic/pgalloc.h): GFP_KERNEL_ACCOUNT | __GFP_ZERO.</summary>
    PgtableUser = KernelAccount | Zero,
}

/// <summary>enum migratetype (include/linux/mmzone.h): which free lists a pageblock's free pages sit on.</summary>
public enum MigrateType
{
    /// <summary>MIGRATE_UNMOVABLE.</summary>
    Unmovable = 0,
    /// <summary>MIGRATE_MOVABLE.</summary>
    Movable = 1,
    /// <summary>MIGRATE_RECLAIMABLE.</summary>
    Reclaimable = 2,
    /// <summary>MIGRATE_HIGHATOMIC (= MIGRATE_PCPTYPES: the pcp lists hold the three types before it).</summary>
    HighAtomic = 3,
    /// <summary>MIGRATE_CMA (CONFIG_CMA).</summary>
    Cma = 4,
    /// <summary>MIGRATE_ISOLATE (CONFIG_MEMORY_ISOLATION).</summary>
    Isolate = 5,
}

/// <summary>Helpers over <see cref="Gfp"/> as include/linux/gfp.h defines them.</summary>
public static class GfpExtensions
{
    /// <summary>MIGRATE_PCPTYPES: the migratetypes with per-cpu lists.</summary>
    public const int MigratePcptypes = 3;

    /// <summary>gfp_migratetype(): (gfp &amp; GFP_MOVABLE_MASK) &gt;&gt; GFP_MOVABLE_SHIFT.</summary>
    public static MigrateType Migratetype(this Gfp gfp) => (MigrateType)(((uint)gfp & (uint)(Gfp.Movable | Gfp.Reclaimable)) >> 3);

    /// <summary>Whether every flag of <paramref name="flags"/> is set (no boxing, unlike Enum.HasFlag on old runtimes).</summary>
    public static bool Has(this Gfp gfp, Gfp flags) => (gfp & flags) == flags;
}

using GupSim.Arch;

namespace GupSim.Check;

/// <summary>Where the memmaps under the huge pages come from (the placement dimension of <c>gupsim check</c>).</summary>
public enum CheckPlacement
{
    /// <summary>Boot memmaps from the node's sparse buffer (mm/sparse.c sparse_buffer_init()): adjacent on a fresh boot.</summary>
    Boot,
    /// <summary>Boot memmaps from the per-section memblock fallback (mm/sparse.c __populate_section_memmap() top-down).</summary>
    Scattered,
    /// <summary>The huge pages live in hot-added memory (mm/memory_hotplug.c add_memory()): memmaps from the buddy.</summary>
    Hotplug,
    /// <summary>
    /// The huge pages come from the hugetlb CMA area (<c>hugetlb_cma=</c>, mm/hugetlb.c hugetlb_cma_reserve(), then
    /// alloc_gigantic_page()'s cma_alloc() when the pool is written at run time): memmaps from the node's sparse
    /// buffer as for <see cref="Boot"/>, the pool in MIGRATE_CMA pageblocks, which FOLL_LONGTERM may not pin.
    /// </summary>
    Cma,
    /// <summary>
    /// A pool in two parts: one gigantic page from a hugetlb CMA area of that size on boot memory, the rest from
    /// memory hot-added after boot (<see cref="Hotplug"/>), written at run time so that the allocators decide the
    /// order (alloc_gigantic_page() tries cma_alloc() first; the free list hands the pages out last-in first). Where a
    /// FOLL_LONGTERM call starts inside a hot-added page and runs on into the CMA one, a pre-v5.13
    /// check_and_migrate_cma_pages() steps from the hot page's pages[] entry to its head by pointer difference.
    /// </summary>
    HotplugCma,
}

/// <summary>The GUP entry point a configuration calls (mm/gup.c).</summary>
public enum CheckPath
{
    /// <summary>get_user_pages() (slow GUP, FOLL_GET).</summary>
    SlowGet,
    /// <summary>pin_user_pages() (slow GUP, FOLL_PIN).</summary>
    SlowPin,
    /// <summary>pin_user_pages() with FOLL_LONGTERM.</summary>
    SlowLongterm,
    /// <summary>get_user_pages_fast().</summary>
    FastGet,
    /// <summary>pin_user_pages_fast().</summary>
    FastPin,
    /// <summary>pin_user_pages_fast() with FOLL_LONGTERM.</summary>
    FastLongterm,
    /// <summary>
    /// An RDMA memory region (drivers/infiniband/core/umem.c): pin_user_pages_fast() with FOLL_LONGTERM, released by
    /// ib_umem_release(): unpin_user_page_range_dirty_lock() per pfn-contiguous run (<see cref="Gup.IbUmem"/>), where
    /// trap 3's compound_range_next() lives. Asked for by name (not in the default sweep or in "all").
    /// </summary>
    FastLongtermUmem,
}

/// <summary>
/// What a configuration does after its release and the count check (the teardown dimension of <c>gupsim check</c>,
/// <c>--teardown</c>).
/// </summary>
public enum CheckTeardown
{
    /// <summary>Nothing more: the mapping and the pool stay (the default sweep).</summary>
    Keep,
    /// <summary>
    /// munmap() the mapping, then write 0 to the pool's nr_hugepages (mm/hugetlb.c set_max_huge_pages()): every huge
    /// page goes back to the buddy through update_and_free_page(), whose subpage flag clearing walks the memmap by
    /// <c>page[i]</c> until dbfee5aee7e5 (v5.12), trap 3. Judged like the release: no "BUG: Bad page state", no stray
    /// store. Asked for by name (not in the default sweep): a freed pool cannot be rolled back, so each such
    /// configuration boots its machine again.
    /// </summary>
    FreePool,
}

/// <summary>
/// How a configuration's hugetlb mapping gets its pages before GUP runs (the populate dimension of
/// <c>gupsim check</c>, <c>--populate</c>): part of the machine shape, since the setup runs once per shape.
/// </summary>
public enum CheckPopulate
{
    /// <summary>The user writes every huge page (<c>touch A write</c>): hugetlb_no_page() faults each in. The default sweep.</summary>
    Fault,
    /// <summary>
    /// userfaultfd: the mapping is registered (MISSING mode) and filled with UFFDIO_COPY from a user buffer of the same
    /// length that the user wrote first (<c>fill S</c>), then the user compares the two (<c>verify A S</c>):
    /// hugetlb_mcopy_atomic_pte() → copy_huge_page_from_user(), whose <c>dst_page + i</c> before 3272cfc2525b (v5.12)
    /// copies the data into whatever page a wrong struct page stands for (trap 3's other half). Its stray stores and
    /// the data the user finds are judged with the setup. Asked for by name.
    /// </summary>
    UffdCopy,
}

/// <summary>What went wrong in one configuration; several can hold at once.</summary>
[Flags]
public enum CheckSymptoms
{
    /// <summary>Every check passed.</summary>
    None = 0,
    /// <summary>Some pages[] entry is not pfn_to_page() of the pfn mapped at its address.</summary>
    WrongPages = 1,
    /// <summary>The simulated kernel oopsed (NULL or garbage dereference).</summary>
    Oops = 2,
    /// <summary>After release, some refcount or pincount is not back at its baseline.</summary>
    Leak = 4,
    /// <summary>"BUG: Bad page state" was reported.</summary>
    BadPageState = 8,
    /// <summary>A store hit a struct page (or other memory) that was not one of the entries' right pages.</summary>
    StrayWrites = 16,
    /// <summary>The watchdog reported a soft lockup ("watchdog: BUG: soft lockup"): a kernel loop that never ends.</summary>
    SoftLockup = 32,
    /// <summary>
    /// A FOLL_LONGTERM pin returned a huge page the kernel may not pin long-term (MIGRATE_CMA; ZONE_MOVABLE from v5.13)
    /// although no migration failed: the longterm check never looked at it.
    /// </summary>
    Unpinnable = 64,
}

/// <summary>
/// One machine shape of the sweep: everything that decides how the machine boots and what history it lived
/// before the experiment. Every configuration of one shape can share one booted machine.
/// </summary>
/// <param name="Arch">Arch profile name (<see cref="ArchProfiles.Names"/>): "x86_64", "arm64-4k", ....</param>
/// <param name="Kernel">Kernel version the machine runs.</param>
/// <param name="Model">Memory model.</param>
/// <param name="Placement">Where the memmaps under the huge pages come from.</param>
/// <param name="HugepageBytes">Huge page size in bytes (one of the arch's hstates).</param>
/// <param name="HugePages">Huge pages in the pool (enough for every configuration of the shape).</param>
/// <param name="RamBytes">RAM the machine boots with, on the arch's default layout (<c>--mem</c>); the shrinker makes it as small as still fails. Ignored when <paramref name="IomemFile"/> is given.</param>
/// <param name="ChurnBytes">Lived-in history before the experiment (<c>--churn</c>); 0 = fresh boot.</param>
/// <param name="Seed">Seed of the history and of every random choice (<c>--seed</c>).</param>
/// <param name="ConfigFile">The user's kernel <c>.config</c> ("your machine" mode, <c>--config</c>), or null.</param>
/// <param name="IomemFile">The user's <c>/proc/iomem</c> (<c>--iomem</c>), giving the RAM layout, or null.</param>
public sealed record CheckShape(
    string Arch,
    KernelVersion Kernel,
    MemoryModel Model,
    CheckPlacement Placement,
    ulong HugepageBytes,
    int HugePages,
    ulong RamBytes,
    ulong ChurnBytes,
    ulong Seed,
    string? ConfigFile = null,
    string? IomemFile = null)
{
    /// <summary>How the mapping is populated (<c>--populate</c>; default <see cref="CheckPopulate.Fault"/>).</summary>
    public CheckPopulate Populate { get; init; }
}

/// <summary>
/// One configuration of <c>gupsim check</c>: a machine shape and one GUP call sequence over a hugetlb mapping of
/// <see cref="CheckShape.HugePages"/> huge pages, touched (faulted in, written) before GUP runs.
/// </summary>
/// <param name="Shape">The machine.</param>
/// <param name="Strategy">The recorder (<c>--strategy</c> name, built-in or from <c>--strategy-assembly</c>); null = the kernel version's own code.</param>
/// <param name="Path">GUP entry point.</param>
/// <param name="OffsetPages">First base page GUP is asked for, counted from the mapping's start.</param>
/// <param name="LengthPages">Base pages asked for in total.</param>
/// <param name="Batch">Pages per GUP call (gup_test's <c>-n</c>); −1 = all in one call.</param>
public sealed record CheckConfiguration(
    CheckShape Shape,
    string? Strategy,
    CheckPath Path,
    long OffsetPages,
    long LengthPages,
    long Batch)
{
    /// <summary>
    /// Bytes past the first page's start where GUP's <c>start</c> lies (0 ≤ ByteOffset &lt; PAGE_SIZE; default 0 =
    /// page-aligned). Slow GUP takes an unaligned start as it is (access_process_vm(), process_vm_readv() pass one);
    /// d08af0a59684's refs = 0 (v5.12–v5.14-rc) needs it. Added by the engine (issue 11): a member, not a change.
    /// </summary>
    public long ByteOffset { get; init; }

    /// <summary>What runs after the release (<c>--teardown</c>; default <see cref="CheckTeardown.Keep"/>).</summary>
    public CheckTeardown Teardown { get; init; }
}

/// <summary>The verdict on one configuration.</summary>
/// <param name="Symptoms">What went wrong (<see cref="CheckSymptoms.None"/> = pass).</param>
/// <param name="WrongEntries">pages[] entries that were wrong.</param>
/// <param name="FirstWrongIndex">Index (from the configuration's first page) of the first wrong entry, or −1.</param>
/// <param name="Detail">One line about the first failure (the oops text, the first wrong entry, ...), or null.</param>
public sealed record CheckVerdict(CheckSymptoms Symptoms, long WrongEntries, long FirstWrongIndex, string? Detail)
{
    /// <summary>A pass.</summary>
    public static CheckVerdict Pass { get; } = new(CheckSymptoms.None, 0, -1, null);

    /// <summary>Whether the configuration failed.</summary>
    public bool Failed => Symptoms != CheckSymptoms.None;

    /// <summary>With <see cref="CheckSymptoms.Unpinnable"/>: how many huge pages the FOLL_LONGTERM pin left where it may not; else 0.</summary>
    public long UnpinnableHugePages { get; init; }
}

/// <summary>Runs configurations through the real GUP code and judges them (implemented by the check engine).</summary>
public interface ICheckRunner
{
    /// <summary>Runs one configuration; thread-safe (the sweep calls it from every core).</summary>
    CheckVerdict Run(CheckConfiguration configuration);
}

/// <summary>The names <c>gupsim check</c> prints and writes to JSON for its dimension values and failure kinds.</summary>
public static class CheckNames
{
    /// <summary>"boot", "scattered", "hotplug", "cma" or "hotplug-cma".</summary>
    public static string ToName(this CheckPlacement placement) => placement switch
    {
        CheckPlacement.Boot => "boot",
        CheckPlacement.Scattered => "scattered",
        CheckPlacement.Cma => "cma",
        CheckPlacement.HotplugCma => "hotplug-cma",
        _ => "hotplug",
    };

    /// <summary>Whether the placement hot-adds memory for the pool (<see cref="CheckPlacement.Hotplug"/>, <see cref="CheckPlacement.HotplugCma"/>).</summary>
    public static bool HotAddsPool(this CheckPlacement placement) => placement is CheckPlacement.Hotplug or CheckPlacement.HotplugCma;

    /// <summary>Whether the placement boots with a hugetlb CMA area (<see cref="CheckPlacement.Cma"/>, <see cref="CheckPlacement.HotplugCma"/>).</summary>
    public static bool UsesHugetlbCma(this CheckPlacement placement) => placement is CheckPlacement.Cma or CheckPlacement.HotplugCma;

    /// <summary>
    /// How many of a shape's huge pages the placement expects from the hugetlb CMA area: all for
    /// <see cref="CheckPlacement.Cma"/>, one for <see cref="CheckPlacement.HotplugCma"/>, none otherwise.
    /// </summary>
    public static int CmaHugePages(this CheckPlacement placement, int hugePages) => placement switch
    {
        CheckPlacement.Cma => hugePages,
        CheckPlacement.HotplugCma => Math.Min(1, hugePages),
        _ => 0,
    };

    /// <summary>"slow-get", "slow-pin", "slow-longterm", "fast-get", "fast-pin", "fast-longterm" or "fast-longterm-umem".</summary>
    public static string ToName(this CheckPath path) => path switch
    {
        CheckPath.SlowGet => "slow-get",
        CheckPath.SlowPin => "slow-pin",
        CheckPath.SlowLongterm => "slow-longterm",
        CheckPath.FastGet => "fast-get",
        CheckPath.FastPin => "fast-pin",
        CheckPath.FastLongtermUmem => "fast-longterm-umem",
        _ => "fast-longterm",
    };

    /// <summary>"fault" or "uffd-copy".</summary>
    public static string ToName(this CheckPopulate populate) => populate == CheckPopulate.UffdCopy ? "uffd-copy" : "fault";

    /// <summary>"keep" or "free-pool".</summary>
    public static string ToName(this CheckTeardown teardown) => teardown == CheckTeardown.FreePool ? "free-pool" : "keep";

    /// <summary>
    /// The kind a failure is reported as, the most severe symptom first: "oops", "soft-lockup", "bad-page-state",
    /// "stray-writes", "wrong-pages", "leak", "unpinnable"; null for a pass.
    /// </summary>
    public static string? Kind(this CheckSymptoms symptoms) =>
        (symptoms & CheckSymptoms.Oops) != 0 ? "oops"
        : (symptoms & CheckSymptoms.SoftLockup) != 0 ? "soft-lockup"
        : (symptoms & CheckSymptoms.BadPageState) != 0 ? "bad-page-state"
        : (symptoms & CheckSymptoms.StrayWrites) != 0 ? "stray-writes"
        : (symptoms & CheckSymptoms.WrongPages) != 0 ? "wrong-pages"
        : (symptoms & CheckSymptoms.Leak) != 0 ? "leak"
        : (symptoms & CheckSymptoms.Unpinnable) != 0 ? "unpinnable"
        : null;
}

/// <summary>A failure shrunk to its smallest form, and how to reproduce it.</summary>
/// <param name="Configuration">The minimal configuration (fewest sections and smallest RAM, shortest length, smallest batch, no churn unless needed).</param>
/// <param name="Verdict">Its verdict (still a failure).</param>
/// <param name="Scenario">A <c>gupsim scenario</c> script that reproduces it, its expect lines asserting the failure.</param>
/// <param name="GupTestCommand">
/// The <c>gupsim gup-test …</c> command line that shows it (a gup_test run over the whole mapping that was judged and
/// fails the same way), or null when no gup_test run can (an unaligned or sub-range start that no <c>-n</c> reaches,
/// a pool hot-added at run time, fast FOLL_LONGTERM): the scenario is then the only reproduction.
/// </param>
public sealed record CheckMinimalCase(CheckConfiguration Configuration, CheckVerdict Verdict, string Scenario, string? GupTestCommand);

/// <summary>Shrinks a failing configuration to a minimal case (implemented beside the check engine).</summary>
public interface ICheckShrinker
{
    /// <summary>Shrinks <paramref name="failing"/>, whose verdict was <paramref name="verdict"/>; thread-safe.</summary>
    CheckMinimalCase Shrink(CheckConfiguration failing, CheckVerdict verdict);
}

using System.Globalization;
using GupSim.Core;

namespace GupSim.Arch;

/// <summary>
/// A Linux kernel release, major.minor (e.g. 5.11). The model's behaviour switches on it wherever the kernel
/// changed something that GupSim simulates; each switch is a named property here, so a reader finds every
/// version-dependent rule in one place (the doc comments of the releases below name the commits).
/// </summary>
/// <remarks>Immutable value type; ordered by (major, minor). The default value is 0.0, which no rule accepts as a real release.</remarks>
public readonly struct KernelVersion : IEquatable<KernelVersion>, IComparable<KernelVersion>
{
    private KernelVersion(int major, int minor)
    {
        Major = major;
        Minor = minor;
    }

    public int Major { get; }
    public int Minor { get; }

    /// <summary>v5.11: before the 2021 series (gup_test as in the thread, per-subpage follow_hugetlb_page).</summary>
    public static KernelVersion V5_11 => new(5, 11);
    /// <summary>v5.12: both hugetlb patches merged; arm64 SECTION_SIZE_BITS reduced (f0b13ee23241).</summary>
    public static KernelVersion V5_12 => new(5, 12);
    /// <summary>v5.14: DISCONTIGMEM removed; nth_page() optimised for contiguous memmaps; refs fix d08af0a59684.</summary>
    public static KernelVersion V5_14 => new(5, 14);
    /// <summary>v5.18: gup.c nth_page fixes (c228afb11ac6); pincount in the first tail page (5232c63f46fd).</summary>
    public static KernelVersion V5_18 => new(5, 18);
    /// <summary>v6.1: mem_map_offset()/mem_map_next() replaced by nth_page() (Cheng Li, Sept 2022).</summary>
    public static KernelVersion V6_1 => new(6, 1);
    /// <summary>v6.6: follow_hugetlb_page() retired (4849807114b8); hugetlb through follow_page_mask() and hugetlb_follow_page_mask()'s <c>page +=</c>.</summary>
    public static KernelVersion V6_6 => new(6, 6);
    /// <summary>v6.7: hugetlb_follow_page_mask() computes the subpage with nth_page() (426056efe835).</summary>
    public static KernelVersion V6_7 => new(6, 7);
    /// <summary>v6.18: folios never span a section on !VMEMMAP (MAX_FOLIO_ORDER); nth_page() removed; VMEMMAP mandatory where supported.</summary>
    public static KernelVersion V6_18 => new(6, 18);
    /// <summary>
    /// v6.19: no change to what GupSim models was found in mm/gup.c, mm/hugetlb.c or mm/sparse.c; runs as v6.18.
    /// (num_pages_contiguous(), the VFIO helper in mm_inline.h that stops at a section boundary, is 929bf010e059 in
    /// v6.18 and outside the model.)
    /// </summary>
    public static KernelVersion V6_19 => new(6, 19);
    /// <summary>v7.0: runs as v6.18 (no change to what GupSim models was found; docs/architecture.md, "Modelled kernel versions").</summary>
    public static KernelVersion V7_0 => new(7, 0);
    /// <summary>
    /// v7.1: struct page's compound_head word renamed compound_info (d50569612c29); with
    /// CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP and a power-of-two sizeof(struct page) a tail stores a mask and the head is
    /// found by AND (8c846c879e22); MAX_FOLIO_ORDER in mmzone.h with the MAX_FOLIO_VMEMMAP_ALIGN memmap check.
    /// </summary>
    public static KernelVersion V7_1 => new(7, 1);

    /// <summary>The releases GupSim documents and tests explicitly. Any other major.minor in [<see cref="OldestModelled"/>, <see cref="NewestModelled"/>] is accepted too.</summary>
    public static IReadOnlyList<KernelVersion> Known { get; } = [V5_11, V5_12, V5_14, V5_18, V6_1, V6_6, V6_7, V6_18, V6_19, V7_0, V7_1];

    /// <summary>
    /// The releases of <see cref="Known"/> that GupSim runs with the code of the release before them in Known: v6.19
    /// and v7.0 run v6.18's (no modelled switch lies between; docs/architecture.md's version table). A release added to
    /// Known is distinct unless it is named here.
    /// </summary>
    public static IReadOnlyList<KernelVersion> RunAsTheReleaseBefore { get; } = [V6_19, V7_0];

    /// <summary>
    /// <see cref="Known"/> without <see cref="RunAsTheReleaseBefore"/>: the releases whose code GupSim runs differently
    /// from the release before, so a sweep of them (check's default) runs no exact duplicates.
    /// </summary>
    public static IReadOnlyList<KernelVersion> DistinctlyModelled { get; } = [.. Known.Where(v => !RunAsTheReleaseBefore.Contains(v))];

    /// <summary>
    /// v5.10, the oldest release GupSim models: the last one before gup_test (v5.11 renamed gup_benchmark), kept so
    /// a selftest can see /sys/kernel/debug/gup_test missing; mm/sparse.c as v5.10 has it.
    /// </summary>
    public static KernelVersion OldestModelled => new(5, 10);

    /// <summary>v7.1, the newest release GupSim models (compound_info, the head found by mask).</summary>
    public static KernelVersion NewestModelled => V7_1;

    /// <summary>Whether the version lies in the range whose rules GupSim models.</summary>
    public bool IsModelled => this >= OldestModelled && this <= NewestModelled;

    /// <summary>
    /// Parses a version and refuses one outside [<see cref="OldestModelled"/>, <see cref="NewestModelled"/>]: before
    /// or after that range the model would silently run some other release's rules.
    /// </summary>
    /// <param name="text">The version as given.</param>
    /// <param name="what">What gave it, for the message ("--kernel", "--config FILE").</param>
    /// <exception cref="GupSimException">Thrown when the text is not a version or the version is not modelled.</exception>
    public static KernelVersion ParseModelled(string text, string what)
    {
        if (!TryParse(text, out var v)) throw new GupSimException($"{what}: '{text}' is not a kernel version: use major.minor, e.g. 5.11 or 6.1");
        if (!v.IsModelled) throw NotModelled(v, what);
        return v;
    }

    /// <summary>The one-line error for a version outside the modelled range.</summary>
    public static GupSimException NotModelled(KernelVersion v, string what) =>
        new($"{what}: v{v} is not modelled: GupSim models v{OldestModelled} to v{NewestModelled} (documented: {string.Join(", ", Known)})");

    /// <summary>The version a machine has when none is given: v5.12, the first release with the 2021 series.</summary>
    public static KernelVersion Default => V5_12;

    /// <summary>Makes a version from its numbers.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Thrown when major is not in [2, 99] or minor not in [0, 99].</exception>
    public static KernelVersion FromNumbers(int major, int minor)
    {
        if (major is < 2 or > 99) throw new ArgumentOutOfRangeException(nameof(major), major, "Value should be in range [2-99]");
        if (minor is < 0 or > 99) throw new ArgumentOutOfRangeException(nameof(minor), minor, "Value should be in range [0-99]");
        return new KernelVersion(major, minor);
    }

    /// <summary>Parses "5.11", "v5.11", "6.1.192" or "6.1.0-28-amd64" (anything after major.minor is ignored).</summary>
    /// <exception cref="GupSimException">Thrown when the text is not a kernel version.</exception>
    public static KernelVersion Parse(string text)
    {
        if (TryParse(text, out var v)) return v;
        throw new GupSimException($"'{text}' is not a kernel version: use major.minor, e.g. 5.11 or 6.1");
    }

    /// <summary>Like <see cref="Parse"/>, returning false instead of throwing.</summary>
    public static bool TryParse(string? text, out KernelVersion version)
    {
        version = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        string s = text.Trim();
        if (s.StartsWith('v') || s.StartsWith('V')) s = s[1..];
        int dot = s.IndexOf('.');
        if (dot <= 0) return false;
        int end = dot + 1;
        while (end < s.Length && char.IsAsciiDigit(s[end])) end++;
        if (end == dot + 1) return false;
        if (end < s.Length && s[end] is not ('.' or '-' or '+' or ' ')) return false;
        if (!int.TryParse(s.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out int major)) return false;
        if (!int.TryParse(s.AsSpan(dot + 1, end - dot - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int minor)) return false;
        if (major is < 2 or > 99 || minor > 99) return false;
        version = new KernelVersion(major, minor);
        return true;
    }

    /// <summary>arm64 f0b13ee23241: SECTION_SIZE_BITS 30 → 27 (4K/16K) or 29 (64K), from v5.12.</summary>
    public bool HasArm64SmallSections => this >= V5_12;

    /// <summary>x86 f1d4d47c5851 ("x86/setup: Always reserve the first 1M of RAM"), v5.13: memblock_reserve(0, SZ_1M) at boot.</summary>
    public bool X86ReservesFirstMegabyte => this >= FromNumbers(5, 13);

    /// <summary>arm64 crashkernel=SIZE,high (v5.19, unverified id); before, ",high" is an "unrecognized char" and nothing is reserved.</summary>
    public bool Arm64CrashkernelHigh => this >= FromNumbers(5, 19);

    /// <summary>DISCONTIGMEM exists before v5.14 (removed by Mike Rapoport).</summary>
    public bool HasDiscontigmem => this < V5_14;

    /// <summary>v6.4 made MAX_ORDER inclusive (largest block order = MAX_ORDER); before, it was exclusive.</summary>
    public bool MaxOrderIsInclusive => this >= FromNumbers(6, 4);

    /// <summary>
    /// v6.4 (700d2e9a36b9, "mm, page_alloc: reduce page alloc/free sanity checks"): the free-time struct page checks
    /// run only when the check_pages_enabled static key is on (by default only with CONFIG_DEBUG_VM); before, always.
    /// </summary>
    public bool HasCheckPagesStaticKey => this >= FromNumbers(6, 4);

    /// <summary>v6.8 renamed MAX_ORDER to MAX_PAGE_ORDER.</summary>
    public bool NamesMaxPageOrder => this >= FromNumbers(6, 8);

    /// <summary>
    /// Since ~v5.14 ("mm: Optimise nth_page for contiguous memmap") nth_page() is a pfn round trip only on
    /// SPARSEMEM &amp;&amp; !VMEMMAP and plain <c>page + n</c> elsewhere; before, always the round trip.
    /// </summary>
    public bool NthPageIsPointerAddOnContiguousMemmap => this >= V5_14;

    /// <summary>mem_map_offset()/mem_map_next() exist until v6.1 replaced them by nth_page().</summary>
    public bool HasMemMapOffset => this < V6_1;

    /// <summary>v5.18 (5232c63f46fd): compound_pincount lives in page[1] for every compound page; before, in page[2] and only for order ≥ 2.</summary>
    public bool PincountInFirstTail => this >= V5_18;

    /// <summary>
    /// v6.5 (Lorenzo Stoakes, "mm/gup: disallow FOLL_LONGTERM GUP-nonfast writing to file-backed mappings" and the
    /// GUP-fast counterpart, May 2023): FOLL_PIN|FOLL_LONGTERM|FOLL_WRITE fails with −EFAULT on a shared writable
    /// mapping whose file needs dirty tracking (check_vma_flags() → writable_file_mapping_allowed()), and gup-fast
    /// refuses such folios (folio_fast_pin_allowed(): only anonymous, shmem and hugetlb folios pass).
    /// </summary>
    public bool HasLongtermFileWriteRule => this >= FromNumbers(6, 5);

    /// <summary>
    /// 4849807114b8 (Peter Xu, "mm/gup: retire follow_hugetlb_page()", with ec8a638d3f8b's page_increm loop in
    /// __get_user_pages(); merged in the v6.6 window, Aug 2023): slow GUP on a hugetlb VMA goes through
    /// follow_page_mask() → hugetlb_follow_page_mask(), which grabs the first subpage and sets the page mask, and
    /// __get_user_pages() grabs the other page_increm − 1 with try_grab_folio() and fills <c>nth_page(page, j)</c>.
    /// v6.5 still runs follow_hugetlb_page() with <c>record_subpages(nth_page(page, pfn_offset), …)</c> (Lorenzo
    /// Stoakes' vmas removal, the v6.5 form).
    /// </summary>
    public bool HugetlbGupThroughFollowPageMask => this >= V6_6;

    /// <summary>
    /// 426056efe835 (Zi Yan, "mm/hugetlb: use nth_page() in place of direct struct page manipulation", Fixes:
    /// 57a196a58421): hugetlb_follow_page_mask() computes the subpage with <c>nth_page(page, offset)</c> instead of
    /// <c>page += offset</c>. Merged for v6.7 (greg k-h's stable mail of 2023-11-23 quotes it from Linus's tree; v6.6
    /// shipped with <c>page +=</c>, the 6.6.y stable series took it later, which GupSim does not model).
    /// </summary>
    public bool HugetlbFollowPageMaskUsesNthPage => this >= V6_7;

    /// <summary>
    /// v6.3: the FOLL_* flags are renumbered (2c2241081f7d: an enum in include/linux/mm_types.h from bit 0, the
    /// internal ones in mm/internal.h from bit 16; <see cref="Gup.FollFlagsAbi"/>).
    /// </summary>
    public bool FollFlagsRenumbered => this >= new KernelVersion(6, 3);

    /// <summary>
    /// v6.7: linear_page_index() (include/linux/pagemap.h) lost its hugetlb case (a08c7193e4f1, "mm/filemap: remove
    /// hugetlb special casing in filemap.c"), so a hugetlb folio's page->index is in base pages like any other page;
    /// before, linear_hugepage_index(): in huge pages.
    /// </summary>
    public bool HugetlbIndexInBasePages => this >= V6_7;

    /// <summary>
    /// v6.7: the same commit (a08c7193e4f1) made __filemap_add_folio() (mm/filemap.c) take
    /// <c>folio_ref_add(folio, folio_nr_pages(folio))</c> for a hugetlb folio as for any large folio, and
    /// filemap_free_folio() drop as many (<c>folio_put_refs(folio, nr)</c>): the page cache holds one reference per
    /// base page (513 on a mapped 2 MiB page, as the hugetlb hwpoison fix of January 2024 and the memfd_pin_folios()
    /// fix of September 2024 count them). Before, <c>long nr = 1</c> for hugetlb (v6.1's __filemap_add_folio()) and one
    /// get_page()/put_page() (add_to_page_cache() and page_cache_free_page() before v5.16).
    /// </summary>
    public bool HugetlbPageCacheRefsPerBasePage => this >= V6_7;

    /// <summary>
    /// v6.3: a36f1e902474 (Sidhartha Kumar, "mm/hugetlb: convert dequeue_hugetlb_page functions to folios") has
    /// dequeue_hugetlb_folio_node_exact() give a free pool page its reference with <c>folio_ref_unfreeze(folio, 1)</c>
    /// (the page_ref_unfreeze event); before, dequeue_huge_page_node_exact()'s <c>set_page_refcounted(page)</c>
    /// (set_page_count(): page_ref_set).
    /// </summary>
    public bool HugetlbDequeueUnfreezes => this >= new KernelVersion(6, 3);

    /// <summary>
    /// v6.17 (inferred): Oscar Salvador's series "mm,hugetlb: change mechanism to detect a COW on private mapping" and
    /// "mm,hugetlb: sort out folio locking in the faulting path" (June–July 2025, tested on v6.16-rc3 and carried in the
    /// mm tree for the v6.17 merge window; the mainline ids were not found here). hugetlb_fault() on a present entry
    /// then takes a reference only to hand a read-only entry's folio to hugetlb_wp() (folio_get() … folio_put(), the
    /// folio locked only when anonymous) and no longer looks the page-cache folio up (hugetlb_wp() tests
    /// folio_test_anon() instead); hugetlb_no_page() unlocks a page-cache folio before its hugetlb_wp(). Before, every
    /// hugetlb_fault() on a present entry took get_page()/put_page() with the page locked (trylock_page()), and a
    /// private write to a read-only entry first took (and locked) the page-cache page with find_lock_page().
    /// </summary>
    public bool HugetlbFaultRefsOnlyForWp => this >= new KernelVersion(6, 17);

    /// <summary>
    /// How the version marks a hugetlb folio (folio_set_hugetlb(), folio_test_hugetlb()): before v6.6 HUGETLB_PAGE_DTOR
    /// in page[1]'s compound_dtor byte; v6.6 (9c5ccf2db04b, "mm: remove HUGETLB_PAGE_DTOR") PG_hugetlb, an alias of
    /// PG_active, in page[1].flags; v6.9 (d99e3140a4d3, "mm: turn folio_test_hugetlb into a PageType") a page type in
    /// the head's page_type, the word _mapcount overlays.
    /// </summary>
    public HugetlbMark HugetlbMark => this >= FromNumbers(6, 9) ? HugetlbMark.PageType : this >= V6_6 ? HugetlbMark.SecondPageFlag : HugetlbMark.CompoundDtor;

    /// <summary>
    /// The page_type encoding: v6.9–v6.10 PAGE_TYPE_BASE 0xf0000000 with a type's bit cleared (PG_hugetlb 0x00000800);
    /// v6.11 (8db00ad56461) PAGE_TYPE_BASE 0x80000000, PG_hugetlb 0x04000000, still cleared to set; v6.12
    /// (4ffca5a96678, "mm: support only one page_type per page") one type in the top byte (PGTY_hugetlb 0xf4), the rest
    /// 0, and UINT_MAX when none.
    /// </summary>
    public PageTypeEncoding PageTypeEncoding => this >= FromNumbers(6, 12) ? PageTypeEncoding.TopByte
        : this >= FromNumbers(6, 11) ? PageTypeEncoding.ClearedBitV611 : PageTypeEncoding.ClearedBitV69;

    /// <summary>v6.18: nth_page() removed; folios may not exceed one section on !VMEMMAP (MAX_FOLIO_ORDER = PFN_SECTION_SHIFT).</summary>
    public bool HasMaxFolioOrderInvariant => this >= V6_18;

    /// <summary>
    /// v7.1 (Kiryl Shutsemau, "mm: Eliminate fake head pages from vmemmap optimization": d50569612c29 renames
    /// page->compound_head to compound_info, 8c846c879e22 adds compound_info_has_mask()): when the kernel is built with
    /// CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP and sizeof(struct page) is a power of two, set_compound_head() stores
    /// <c>GENMASK(BITS_PER_LONG − 1, order + log2(sizeof(struct page))) | 1</c> in every tail and _compound_head()
    /// returns <c>page &amp; (((info &amp; 1) − 1) | info)</c>; otherwise the word stays head | 1. sparse_init() checks
    /// that pfn_to_page(0) is aligned to MAX_FOLIO_VMEMMAP_ALIGN (mmzone.h).
    /// </summary>
    public bool HasCompoundInfoMask => this >= V7_1;

    /// <summary>v6.18: SPARSEMEM_VMEMMAP is no longer user-selectable where the arch supports it.</summary>
    public bool VmemmapMandatoryWhereSupported => this >= V6_18;

    /// <summary>v5.14 inserted SECTION_TAINT_ZONE_DEVICE (bit 4) and moved SECTION_MAP_LAST_BIT to bit 5.</summary>
    public bool HasSectionTaintZoneDevice => this >= V5_14;

    /// <summary>
    /// v5.13 (Pavel Tatashin's "prohibit pinning pages in ZONE_MOVABLE" series): FOLL_LONGTERM migrates pages out of
    /// ZONE_MOVABLE as well as CMA (check_and_migrate_movable_pages(), is_pinnable_page()), the walk checks every
    /// entry's head instead of stepping by compound_nr − (pages[i] − head), PF_MEMALLOC_PIN drops __GFP_MOVABLE, and a
    /// failed migration is −ENOMEM instead of pinning in place.
    /// </summary>
    public bool LongtermPinsMigrateMovable => this >= FromNumbers(5, 13);

    /// <summary>
    /// The v6.1 tree's form of the same: collect_longterm_unpinnable_pages() walks folios and
    /// migrate_longterm_unpinnable_pages() unpins entry by entry and returns −EAGAIN to retry; FOLL_LONGTERM without
    /// FOLL_PIN is −EINVAL; is_longterm_pinnable_page() checks the CMA pageblock before the zero page. (The release
    /// that first had this shape between v5.13 and v6.1 is not pinned down; GupSim switches at v6.1.)
    /// </summary>
    public bool LongtermWalksFolios => this >= V6_1;

    /// <summary>
    /// f442fa614137 (Yang Shi, "mm: gup: stop abusing try_grab_folio", v6.10; 6.6.47 in stable, which GupSim does not
    /// model): the FOLL_LONGTERM pinnability test ("can't do FOLL_LONGTERM + FOLL_PIN gup fast path if not in a right
    /// zone") moves into try_grab_folio_fast(), gup-fast's own grab; slow GUP's try_grab_folio() no longer has it. Up
    /// to v6.9 slow GUP over hugetlb grabbed through the function with the test — follow_hugetlb_page() from 0fa5bc4023c1
    /// (v5.12) to v6.5, __get_user_pages()' page_increm grab from 57edfcfd3419 (v6.6) — so a long-term pin of a huge
    /// page in CMA (or ZONE_MOVABLE, v5.13+) stopped there with a WARN and a short return instead of migrating it
    /// (Mike Kravetz, linux-mm 2022-05: "one could easily allocate a hugetlb page from CMA and trigger this warning").
    /// </summary>
    public bool SlowGrabSkipsLongtermCheck => this >= FromNumbers(6, 10);

    public static bool operator ==(KernelVersion a, KernelVersion b) => a.Equals(b);
    public static bool operator !=(KernelVersion a, KernelVersion b) => !a.Equals(b);
    public static bool operator <(KernelVersion a, KernelVersion b) => a.CompareTo(b) < 0;
    public static bool operator >(KernelVersion a, KernelVersion b) => a.CompareTo(b) > 0;
    public static bool operator <=(KernelVersion a, KernelVersion b) => a.CompareTo(b) <= 0;
    public static bool operator >=(KernelVersion a, KernelVersion b) => a.CompareTo(b) >= 0;

    public bool Equals(KernelVersion other) => Major == other.Major && Minor == other.Minor;
    public override bool Equals(object? obj) => obj is KernelVersion other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Major, Minor);
    public int CompareTo(KernelVersion other) => Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);

    /// <summary>"5.11".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Major}.{Minor}");
}

/// <summary>Where a kernel version records that a folio is a hugetlb folio (<see cref="KernelVersion.HugetlbMark"/>).</summary>
public enum HugetlbMark
{
    /// <summary>page[1].compound_dtor == HUGETLB_PAGE_DTOR (2): v5.11 … v6.5.</summary>
    CompoundDtor,
    /// <summary>PG_hugetlb (= PG_active) in page[1].flags: v6.6 … v6.8.</summary>
    SecondPageFlag,
    /// <summary>A page type in the head's page_type (over _mapcount): v6.9 on.</summary>
    PageType,
}

/// <summary>How page_type holds a type (<see cref="KernelVersion.PageTypeEncoding"/>).</summary>
public enum PageTypeEncoding
{
    /// <summary>v6.9–v6.10: PAGE_TYPE_BASE 0xf0000000; a type is its bit cleared (PG_hugetlb 0x00000800).</summary>
    ClearedBitV69,
    /// <summary>v6.11: PAGE_TYPE_BASE 0x80000000; PG_hugetlb 0x04000000, cleared to set.</summary>
    ClearedBitV611,
    /// <summary>v6.12 on: the type in bits 24–31 (PGTY_hugetlb 0xf4), UINT_MAX for none.</summary>
    TopByte,
}

using GupSim.Core;

namespace GupSim.History;

/// <summary>
/// The catalogue of <c>gupsim history</c> (issue 12 §2): each known bug of GUP over huge pages and the memmap, with
/// its commits and the machines that show it. The facts (commit ids, versions, the faulty expressions) are those of
/// shared/reference/history.md and kernel-facts.md §8; the machines are ones the kernel could have (placements from
/// the allocators: hot-plug, the per-section memblock fallback, lived-in <c>--churn</c> histories), never a layout
/// chosen so the bug shows. The figures are not here: they emerge when <see cref="HistoryRunner"/> runs the scripts.
/// </summary>
public static class HistoryEntries
{
    private const string HotplugMachine = "machine --arch x86_64 --kernel {kernel} --model {model} --ram 0-3G,4G-8G";
    private const string ScatteredMachine =
        "machine --arch x86_64 --kernel {kernel} --model {model} --placement scattered --seed 3 --ram 0-3G,4G-12G --hugepages \"hugepagesz=1G hugepages=1\"";

    private const string ScatteredWhy =
        "x86_64, classic SPARSEMEM, 11 GiB, one 1 GiB boot page; each section's memmap from the per-section memblock fallback " +
        "(sparse_init_nid() when the per-node buffer cannot be had: top-down, section k+1's memmap right below section k's)";

    // Declared before All: static fields initialise in order, and the entries read this one.
    private static readonly string[] s_uffdCopySteps =
        ["mmap S 1G", "fill S", "mmap A 1G hugetlb=1G", "uffd-register A", "uffd-copy A S", "verify A S"];

    /// <summary>Every entry, in the order of the issue.</summary>
    public static IReadOnlyList<HistoryEntry> All { get; } =
    [
        UpdateAndFreePage(),
        CopyHugePageFromUser(),
        GupFastPud(),
        CompoundRangeNext(),
        MergedOddBatch(),
        RefsZero(),
        CmaStep(),
        FollowPageMask(),
        MaxFolioOrder(),
        RecordSubpagesRemoval(),
    ];

    /// <summary>The entry named <paramref name="name"/>.</summary>
    /// <exception cref="GupSimException">Thrown when there is none, naming those there are.</exception>
    public static HistoryEntry Find(string name)
    {
        foreach (var e in All)
            if (string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)) return e;
        var names = new List<string>();
        foreach (var e in All) names.Add(e.Name);
        throw new GupSimException($"history: no entry '{name}': use one of {string.Join(", ", names)} (gupsim history lists them)");
    }

    private static HistoryEntry UpdateAndFreePage() => new(
        "update-and-free-page",
        "update_and_free_page() clears subpage flags through page[i] across a gigantic page's sections (Zi Yan's hot-plug reproduction, Feb 2021)",
        "update_and_free_page(), mm/hugetlb.c",
        "944d9fec8d7a",
        "dbfee5aee7e5",
        "5.11",
        "5.12",
        [
            new("fresh", "x86_64, classic SPARSEMEM, 7 GiB hot-added to a fresh 8 GiB machine, twelve 1 GiB pages asked for (eleven fit), then freed; " +
                "each hot section's memmap is an order-9 kmalloc_large the buddy hands out",
                "sparsemem",
                [HotplugMachine, "hotplug 8G-15G", "hugepages 1G=12", "walk 0x200000 32769", "hugepages 1G=0"]),
            new("lived-in", "the same machine after the documented lived-in workload (--churn 2G, seed 1) ran before the hot-add, as Zi Yan's QEMU guest had lived",
                "sparsemem",
                [HotplugMachine + " --seed 1 --churn 2G", "hotplug 8G-15G", "hugepages 1G=12", "walk 0x200000 32769", "hugepages 1G=0"]),
        ])
    {
        Notes =
        [
            "On the fresh boot the 56 hot-added memmaps come out back to back (pairs in stolen MOVABLE 4 MiB blocks, ascending), so page[i] past section k's memmap is section k+1's struct page: the bug is latent and both sides are the same.",
            "On the lived-in machine the free lists are in a used order and page[i] walks onto other struct pages: v5.11's stores are stray; v5.12 walks with mem_map_next() and makes none.",
            "v5.11 only clears flags through page[i]; a 'BUG: Bad page state' is reported only where a later free-time check of the model reads a changed struct page (Zi Yan's report gives the message, not the page).",
            "gupsim check sweeps the same free with --teardown free-pool (munmap, then nr_hugepages 0 after each configuration's release).",
        ],
    };

    private static HistoryEntry CopyHugePageFromUser() => new(
        "copy-huge-page-from-user",
        "copy_huge_page_from_user() kmaps dst_page + i across a gigantic page's sections: UFFDIO_COPY writes the user's data into unrelated pages (Mike Kravetz, Feb 2021)",
        "copy_huge_page_from_user(), mm/memory.c, from hugetlb_mcopy_atomic_pte() and __mcopy_atomic_hugetlb() (UFFDIO_COPY)",
        "8fb5debc5fcd",
        "3272cfc2525b",
        "5.11",
        "5.12",
        [
            new("scattered", ScatteredWhy + "; a user buffer of 1 GiB written page by page, copied into a registered 1 GiB mapping with UFFDIO_COPY, then compared",
                "sparsemem",
                [ScatteredMachine, .. s_uffdCopySteps]),
            new("lived-in", "x86_64, classic SPARSEMEM, the documented lived-in workload (--churn 2G, seed 1), then 7 GiB hot-added and twelve 1 GiB pages asked for (eleven fit, from the hot memory); " +
                "the whole pool mapped (11 GiB) and filled with UFFDIO_COPY one GiB at a time from the same 1 GiB buffer, each GiB compared after its copy",
                "sparsemem",
                [HotplugMachine + " --seed 1 --churn 2G", "hotplug 8G-15G", "hugepages 1G=12", "mmap S 1G", "fill S", "mmap A 11G hugetlb=1G", "uffd-register A",
                 .. Enumerable.Range(0, 11).SelectMany(k => new[] { $"uffd-copy A S {k}G", $"verify A S {k}G" })]),
        ])
    {
        Notes =
        [
            "Each subpage's data is copied through kmap(dst_page + i): page_address() of page_to_pfn(), which on classic SPARSEMEM takes the section from that struct page's flags. Where dst_page + i is another section's struct page, the data lands in that pfn's page; where it is other data, its flags name some section and the pfn that gives may be no RAM (the copy's store faults: an oops).",
            "The fix walks with mem_map_next(); v6.1 uses nth_page(), v6.4 copy_folio_from_user() folio_page().",
            "verify is the user comparing the mapping with the buffer page by page, as the userfaultfd selftest compares each page's counter (it checks only the first bytes of each huge page, so a gigantic page's later subpages would go unnoticed there).",
            "gupsim check sweeps the same copy with --populate uffd-copy.",
        ],
    };

    private static HistoryEntry GupFastPud() => new(
        "gup-fast-pud",
        "gup-fast records 1 GiB PUD leaves with page++ (gup_huge_pud()/gup_huge_pgd(), record_subpages())",
        "gup_huge_pud(), gup_huge_pgd(), record_subpages(), mm/gup.c",
        "none of its own: page++ over a PUD leaf is as old as gup-fast's huge PUD support (Joao Martins pointed at it in the Jan 2021 thread)",
        "c228afb11ac6",
        "5.17",
        "5.18",
        [
            new("scattered", ScatteredWhy, "sparsemem",
                [ScatteredMachine, "mmap A 1G hugetlb=1G", "touch A write", "pin A fast write", "unpin A"]),
        ])
    {
        Notes =
        [
            "v5.17 is not one of GupSim's named releases: every version switch is a >= comparison, so v5.17 runs the v5.14 rules (refs from the aligned vaddr, nth_page() a pointer add on contiguous memmaps, no DISCONTIGMEM, v5.13's FOLL_LONGTERM) and keeps gup-fast's page++ and the pincount in page[2] until v5.18 (c228afb11ac6, 5232c63f46fd).",
            "The head is grabbed right (try_grab_compound_head(pud_page(orig), refs)); only pages[] is wrong. The release then drops references and pins from the wrong struct pages, so the 1 GiB head keeps what they should have dropped.",
        ],
    };

    private static HistoryEntry CompoundRangeNext() => new(
        "compound-range-next",
        "unpin_user_page_range_dirty_lock() steps with compound_range_next()'s page + i over a pfn-contiguous range of huge pages",
        "unpin_user_page_range_dirty_lock(), compound_range_next(), mm/gup.c",
        "the v5.12 range variant of unpin_user_pages_dirty_lock() (Joao Martins' series for RDMA/umem's batched unpin; id not in the reference notes)",
        "c228afb11ac6",
        "5.17",
        "5.18",
        [
            new("scattered", "x86_64, classic SPARSEMEM, 11 GiB, two 1 GiB boot pages back to back (pfn 0x240000 and 0x280000); each section's memmap from the per-section memblock fallback " +
                "(top-down, section k+1's memmap right below section k's); pinned in one slow call (pages[] right), released as ib_umem_release() does: one unpin_user_page_range_dirty_lock() per pfn-contiguous run",
                "sparsemem",
                [ScatteredMachine.Replace("hugepages=1", "hugepages=2", StringComparison.Ordinal), "mmap A 2G hugetlb=1G", "touch A write", "pin A write", "unpin A range"]),
        ])
    {
        Notes =
        [
            "pages[] is right: the bug is the release's own arithmetic. The first step covers the first huge page exactly; the second computes head + 262144 struct pages from the first page's section memmap, which on this placement is the struct page of pfn 0x200000, a free page: it and the next 262143 take one base-page unpin each (refcount 0 -> -1024), and the second huge page keeps all 262144 pins.",
            "In v5.12-v5.17 the function's one caller, ib_umem_release(), pins with pin_user_pages_fast(), whose PUD leaf recording is wrong first on these pages (gup-fast-pud; gupsim check --path fast-longterm-umem finds that); the slow pin here gives a right pages[] so that compound_range_next()'s own arithmetic shows.",
            "Where the memmaps lie back to back (the boot buffer, a fresh boot) the same arithmetic lands on the second head: latent. From v6.18 the scatterlist no longer merges across a section on classic SPARSEMEM (80e7bb74d4ff) and a folio never spans one, so page + i is right by invariant.",
        ],
    };

    private static HistoryEntry MergedOddBatch() => new(
        "merged-odd-batch",
        "82e5d378b0e4 as merged: mem_map_offset(base, nr) on a base already advanced by pfn_offset, with run_vmtests' odd batch (-n 123)",
        "follow_hugetlb_page() → record_subpages_vmas(), mm/hugetlb.c",
        "82e5d378b0e4",
        "14455eabd840 (Cheng Li, 'mm: use nth_page instead of mem_map_offset mem_map_next', v6.1; id from shortlog)",
        "5.12",
        "6.1",
        [
            new("scattered", ScatteredWhy, "sparsemem",
                [ScatteredMachine, "mmap A 1G hugetlb=1G", "touch A write", "pin A write batch=123", "unpin A"]),
        ])
    {
        Notes =
        [
            "Wrong iff 1 <= nr < MAX_ORDER_NR_PAGES and (pfn_offset mod PAGES_PER_SECTION) + nr >= PAGES_PER_SECTION: with 123-page calls, each of the seven calls that straddles a section boundary inside the 1 GiB page records its entries past the boundary as base + nr.",
            "-n 512 and -n 1024 align every call to the sections and never show it; one call over the whole page (-n -1 on later kernels) neither, since every nr < 1024 lies below the first boundary.",
        ],
    };

    private static HistoryEntry RefsZero() => new(
        "refs-zero",
        "refs = 0 for an unaligned vaddr inside the last page of the VMA: nothing recorded, then a NULL pages[] entry is grabbed",
        "follow_hugetlb_page(), mm/hugetlb.c",
        "82e5d378b0e4",
        "d08af0a59684",
        "5.12",
        "5.14",
        [
            new("vmemmap", "x86_64, SPARSEMEM_VMEMMAP (the bug does not depend on the memory model), 4 GiB, one 2 MiB page; one page pinned from 0x80 bytes below the mapping's end, as access_process_vm() passes an unaligned address",
                "sparsemem-vmemmap",
                ["machine --arch x86_64 --kernel {kernel} --model {model} --mem 4G --hugepages \"hugepagesz=2M hugepages=1\"",
                 "mmap A 2M hugetlb=2M", "touch A write", "pin A write offset=0x1fff80 pages=1", "unpin A"]),
        ])
    {
        Notes =
        [
            "(vm_end - vaddr) >> PAGE_SHIFT is 0 for a vaddr inside the last page, so min3() gives refs = 0; syzbot found it (Reported-by syzbot+a3fcd59df1b372066f5a); d08af0a59684 aligns vaddr down first (v5.14-rc, stable).",
        ],
    };

    private static HistoryEntry CmaStep() => new(
        "cma-step",
        "check_and_migrate_cma_pages() steps by compound_nr(head) - (pages[i] - head), a pointer difference across sections' memmaps",
        "check_and_migrate_cma_pages(), mm/gup.c (v5.7-v5.12)",
        "none of its own: the step arithmetic is as old as check_and_migrate_cma_pages() (v5.7)",
        "the v5.13 rewrite (Pavel Tatashin's series, d1e153fea2a8 'mm/gup: migrate pinned pages out of movable zone'): every entry's head, no step",
        "5.11",
        "5.11",
        [
            new("fresh", "x86_64, classic SPARSEMEM, 5 GiB with hugetlb_cma=1G, 3 GiB hot-added; page A from the hot-added memory, page B from hugetlb_cma; FOLL_LONGTERM in 100000-page calls (the trap-3a examples)",
                "sparsemem",
                ["machine --arch x86_64 --kernel {kernel} --model {model} --ram 0-3G,4G-6G --hugetlb-cma 1G", "hotplug 8G-11G", "hugepages 1G=2",
                 "mmap M 2G hugetlb=1G", "touch M write", "hugepages 1G=3", "pin M longterm write batch=100000", "unpin M"]),
            new("lived-in-seed-1", "the same machine that lived: B taken from hugetlb_cma first, then the lived-in workload (churn 2G, seed 1), then the hot-add and A; the hot memmaps are where the used free lists put them",
                "sparsemem",
                ["machine --arch x86_64 --kernel {kernel} --model {model} --ram 0-3G,4G-6G --hugetlb-cma 1G --seed 1", "hugepages 1G=1", "churn 2G", "hotplug 8G-11G",
                 "hugepages 1G=2", "mmap M 2G hugetlb=1G", "touch M write", "hugepages 1G=3", "pin M longterm write batch=100000", "unpin M"]),
            new("lived-in-seed-3", "as lived-in-seed-1 with seed 3 of the same workload",
                "sparsemem",
                ["machine --arch x86_64 --kernel {kernel} --model {model} --ram 0-3G,4G-6G --hugetlb-cma 1G --seed 3", "hugepages 1G=1", "churn 2G", "hotplug 8G-11G",
                 "hugepages 1G=2", "mmap M 2G hugetlb=1G", "touch M write", "hugepages 1G=3", "pin M longterm write batch=100000", "unpin M"]),
        ])
    {
        FixedModel = "sparsemem-vmemmap",
        Notes =
        [
            "The fixed side is the same v5.11 kernel on SPARSEMEM_VMEMMAP, where pages[i] - head is the subpage index (the pair of the trap-3a examples). The code fix, v5.13's per-entry walk, is not shown: from v5.12 (0fa5bc4023c1) to v6.9 slow GUP grabs a huge page through try_grab_compound_head()/try_grab_folio(), whose FOLL_LONGTERM test refuses the CMA page, so on these machines the pin WARNs and stops at the first huge page (262144 of 524288) and the walk never sees B; f442fa614137 (v6.10) took the test out of slow GUP (LongtermCmaHugetlbTests).",
            "On the fresh boot the hot memmaps are adjacent, so the step is the pfn difference and B is migrated on both sides (latent). After the lived-in history the step lands anywhere: B stays pinned in CMA (seed 1), or i comes back to where it was and the walk never ends (seed 3: a soft lockup).",
            "kernel-facts.md dates the pointer arithmetic's fix to v5.18 (4c6542290115); the step itself is gone from v5.13's check_and_migrate_movable_pages(), which GupSim follows.",
        ],
    };

    private static HistoryEntry FollowPageMask() => new(
        "follow-page-mask",
        "v6.6 hugetlb_follow_page_mask() computes the subpage with page += offset (the issue says v6.5/v6.6: v6.5 still ran follow_hugetlb_page())",
        "hugetlb_follow_page_mask(), mm/hugetlb.c",
        "57a196a58421",
        "426056efe835",
        "6.6",
        "6.7",
        [
            new("scattered", ScatteredWhy, "sparsemem",
                [ScatteredMachine, "mmap A 1G hugetlb=1G", "touch A write", "pin A write batch=123", "unpin A"]),
        ])
    {
        Notes =
        [
            "Zi Yan's fix says 'No bug is reported. It comes from code inspection.' A call that starts past the first section of the 1 GiB page gets head + offset by pointer arithmetic: another section's struct page, whose grab fails when it is free (try_grab_page(): WARN_ON_ONCE(refcount <= 0), -ENOMEM), so GUP stops there.",
            "426056efe835 reached Linus's tree for v6.7; the 6.6.y stable series took it later, which GupSim does not model. The path itself came with 4849807114b8 (Peter Xu, 'mm/gup: retire follow_hugetlb_page()', v6.6): v6.5 still recorded with record_subpages(nth_page(...)) and is right.",
        ],
    };

    private static HistoryEntry MaxFolioOrder() => new(
        "max-folio-order",
        "what v6.18's invariant refuses: a gigantic folio across sections on SPARSEMEM without VMEMMAP",
        "MAX_FOLIO_ORDER (include/linux/mm.h), hugetlb_add_hstate() (mm/hugetlb.c), mm/Kconfig",
        "none: folios spanning sections were allowed from the start; correct only where every walker used nth_page()",
        "4751c39eee0c (MAX_FOLIO_ORDER = PFN_SECTION_SHIFT on SPARSEMEM && !VMEMMAP), f8f03eb5f0f9 (VMEMMAP no longer user-selectable), 7b4f21f5e038 (hstate check)",
        "6.17",
        "6.18",
        [
            new("x86_64", ScatteredWhy, "sparsemem",
                [ScatteredMachine, "mmap A 1G hugetlb=1G", "touch A write", "pin A fast write", "unpin A"]),
        ])
    {
        Notes =
        [
            "v6.17 lets a 1 GiB folio span eight sections' memmaps; GUP is right there only because gup-fast and slow GUP use nth_page(). v6.18 makes SPARSEMEM_VMEMMAP mandatory on x86_64, so the machine cannot be built at all: the refusal is the configuration's.",
            "Where v6.18 keeps SPARSEMEM without VMEMMAP (32-bit, sh), MAX_FOLIO_ORDER = PFN_SECTION_SHIFT; sh's largest hugetlb size (64 MiB) is one section, so no real configuration loses a size. 7b4f21f5e038's check in hugetlb_add_hstate() is WARN_ON(order > MAX_FOLIO_ORDER), and the hstate is still registered.",
        ],
    };

    private const string TwoLeavesMachine =
        "machine --arch x86_64 --kernel {kernel} --model {model} --ram 0-3G,4G-5G --hugepages \"hugepagesz=2M hugepages=2\"";

    private static HistoryEntry RecordSubpagesRemoval() => new(
        "record-subpages-removal",
        "September 2025 mm tree: 'mm/gup: remove record_subpages()' filled the PMD/PUD leaves' pages without the *nr offset (syzbot, three reports)",
        "gup_fast_pmd_leaf(), gup_fast_pud_leaf(), mm/gup.c (mm-unstable, 2025-09-01 to 2025-09-05)",
        "none in a release: v2 19/37 of David Hildenbrand's 'mm: remove nth_page()' as first applied to mm-unstable",
        "the fixup folded into e3c05b6e370c ('mm/gup: remove record_subpages()', mainline v6.18): pages += *nr",
        "6.18",
        "6.18",
        [
            new("one-call", "x86_64, SPARSEMEM_VMEMMAP, 4 GiB, two 2 MiB boot pages mapped and pinned by gup-fast in one call over both " +
                "PMD leaves, as io_uring's buffer registration (and gup_test -n -1) asks",
                "sparsemem-vmemmap",
                [TwoLeavesMachine, "mmap A 4M hugetlb=2M", "touch A write", "pin A fast write {strategy}", "unpin A"]),
            new("batch-1", "the same machine pinned one page per call, as gup_test's default -n 1 does: each call sees one leaf",
                "sparsemem-vmemmap",
                [TwoLeavesMachine, "mmap A 4M hugetlb=2M", "touch A write", "pin A fast write batch=1 {strategy}", "unpin A"]),
        ])
    {
        BuggyStrategy = Gup.GupStrategy.MmUnstable202509,
        Notes =
        [
            "Both sides run v6.18's code; the buggy side is --strategy mm-unstable-2025-09, the mm tree between 2025-09-01 and the fixup of 2025-09-05 (David Hildenbrand, lore 5090355d-546a-4d06-99e1-064354d156b5@redhat.com), which never reached a release.",
            "syzbot reported it three times on linux-next: a general protection fault in bio_iov_iter_get_pages, a KASAN null-ptr-deref in io_sqe_buffer_register (extid 1ab243d3eebb2aabf4a4) and a KASAN wild-memory-access in crypto_nhpoly1305_update_helper.",
            "A call that spans one leaf is filled from its own pages[0] and is right, so gup_test -n 1 (and -n 512 on 2 MiB pages) can never show it; David added -n -1 (all pages in one call, a5883fa94295) because 'we recently missed detecting an issue during early testing'.",
        ],
    };
}

using GupSim.Arch;
using GupSim.Check;
using static GupSim.Tests.Check.EngineTestShapes;

namespace GupSim.Tests.Check;

/// <summary>
/// kernel-facts.md §8's traps found by the check engine in the versions that had them and not in those that fixed
/// them, each asserted by its minimal case (offset, length, batch, sections, wrong entries) worked out by hand from
/// the kernel's rules, and its emitted scenario run back through the scenario runner.
/// </summary>
public class TrapsCheckTests
{
    // ---- Trap 2: 82e5d378b0e4 (v5.12 … v6.0), follow_hugetlb_page() records mem_map_offset(base', nr), base' = mem_map_offset(head, pfn_offset).

    [Fact]
    public void Trap2_MergedSlowPath_v5_12_ShrinksToOneTwoPageCallFromTheLastSubpageOfASection()
    {
        var shape = OneGig("5.12", MemoryModel.Sparsemem, CheckPlacement.Scattered);
        var engine = new CheckEngine([]);
        var failing = new CheckConfiguration(shape, null, CheckPath.SlowPin, 0, Pphp1G, 1000);
        var v = engine.Run(failing);
        Assert.True(v.Failed);
        // Calls of 1000 from subpage 0: call k starts at 1000k. The 7 calls straddling b = 32768j (j = 1…7) record
        // nr ≥ b − 1000k wrong (all < M = 1024): 1000 − (b mod 1000) = 232 + 464 + 696 + 928 + 160 + 392 + 624 = 3496.
        // The first is call 32 (from 32000), nr 768: entry 32768.
        Assert.Equal(3496, v.WrongEntries);
        Assert.Equal(32768, v.FirstWrongIndex);

        var mc = new CheckShrinker(engine).Shrink(failing, v);
        var c = mc.Configuration;
        // By hand: an entry is wrong iff its call started at pfn_offset p with (p mod S) + nr ≥ S and 1 ≤ nr < M.
        // nr = 0 is always right, so one-page calls (batch 1) never fail; the shortest failing call is 2 pages with
        // nr = 1 crossing the boundary: p mod S = S − 1, the smallest p = 32767. One call: batch = length = 2.
        Assert.Equal((32767L, 2L, 2L, 0L), (c.OffsetPages, c.LengthPages, c.Batch, c.ByteOffset));
        Assert.Equal((1, 0UL), (c.Shape.HugePages, c.Shape.ChurnBytes));
        Assert.Equal((1L, 1L), (mc.Verdict.WrongEntries, mc.Verdict.FirstWrongIndex));
        // Smallest RAM, in whole 128 MiB sections. The first GiB holds the kernel image (loaded at 16 MiB), so the
        // 1 GiB page can only be [1G, 2G); memblock allocates top-down from the end of RAM (the 17 scattered 2 MiB
        // memmaps, NODE_DATA, usemaps, page tables: well under 128 MiB), so [1G, 2G) stays free only when RAM reaches
        // past 2G: 2G + one section = 2176M. One section less, no pool can be allocated: not applicable, not a pass.
        Assert.Equal(2176 * M, c.Shape.RamBytes);
        Assert.True(CheckEngine.IsNotApplicable(engine.Run(c with { Shape = c.Shape with { RamBytes = c.Shape.RamBytes - (128 * M) } })));

        var (r, runner) = RunScript(mc.Scenario);
        Assert.Equal((5, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
        Assert.Contains("pin A write batch=2 offset=0x7fff000 pages=2\nexpect wrong-pages 1\nunpin A\n", mc.Scenario, StringComparison.Ordinal);
        // pages[1] = base' + 1 with base' = the struct page of head + 32767, the last of its section's memmap: the
        // address right after it, from the placement (not pfn_to_page), which is not head + 32768's struct page
        // (the next section, a memmap of its own).
        ulong head = HeadPfn(runner);
        var m = runner.Machine!;
        ulong wrongVa = KnownAddresses.StructPageVa(m, head + 32767) + 64;
        Assert.Equal(wrongVa, FirstWrongPointer(mc.Verdict));
        Assert.NotEqual(KnownAddresses.StructPageVa(m, head + 32768), wrongVa);
        Assert.Equal((head + 32767) / (ulong)S + 1, (head + 32768) / (ulong)S); // the two pages lie in two sections
        // gup_test's calls start at k × n over the whole mapping. n = 2 (the minimal batch) starts every call at an
        // even page: none starts at 32767, none crosses a boundary with nr ≥ 1. The smallest n ≥ 2 dividing 32767 =
        // 7 × 31 × 151 is 7: call 4681 starts at 32767. With n = 7 the call straddling b = 32768j (32768 ≡ 1 mod 7, so
        // b ≡ j mod 7) starts at b − (j mod 7) and records 7 − (j mod 7) wrong entries; j = 7 starts on the boundary
        // (nr = 0, right): 6 + 5 + 4 + 3 + 2 + 1 = 21.
        Assert.Equal(
            $"gupsim gup-test --arch x86_64 --kernel 5.12 --model sparsemem --placement scattered --mem {GupSim.Core.ByteSize.Format(c.Shape.RamBytes)} --seed 3 "
            + "--hugepages \"hugepagesz=1G hugepages=1\" --mount /mnt/huge=1G -f /mnt/huge/check -m 1024 -n 7 -w -S -b",
            mc.GupTestCommand);
        var g = Cli.CliRun.Run(ShellWords(mc.GupTestCommand!)[1..]);
        Assert.Equal(1, g.ExitCode);
        Assert.Contains("gupsim: verification FAILED: 1 of 1 ioctl returned wrong pages[] entries (21 of 262144;", g.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Trap 2's rule, by hand: wrong entries of calls of <paramref name="batch"/> over [off, off + len) of one 1 GiB page.</summary>
    private static long Trap2Wrong(long off, long len, long batch)
    {
        long wrong = 0;
        for (long s = off; s < off + len; s += batch)
        {
            long n = Math.Min(batch, off + len - s);
            for (long nr = 1; nr < Math.Min(n, 1024); nr++)
                if ((s % S) + nr >= S) wrong++;
        }
        return wrong;
    }

    [Theory]
    [InlineData("5.12", true)]  // 82e5d378b0e4 as merged
    [InlineData("5.11", false)] // pre-series: mem_map_offset() from the aligned head
    [InlineData("6.1", false)]  // nth_page() (Cheng Li)
    public void Trap2_SameSpace_FailsExactlyWhereTheRuleSays_AndNotInTheFixedVersions(string kernel, bool buggy)
    {
        var shape = OneGig(kernel, MemoryModel.Sparsemem, CheckPlacement.Scattered);
        var engine = new CheckEngine([]);
        foreach (var path in new[] { CheckPath.SlowPin, CheckPath.SlowGet })
            foreach (long off in new long[] { 0, 32000, 32767 })
                foreach (long len in new long[] { 2, 1000 })
                    foreach (long batch in new long[] { 2, 1000 })
                    {
                        var v = engine.Run(new CheckConfiguration(shape, null, path, off, len, batch));
                        long want = buggy ? Trap2Wrong(off, len, batch) : 0;
                        Assert.True(want == v.WrongEntries, $"{kernel} {path} offset {off} length {len} batch {batch}: {v}");
                        Assert.Equal(want > 0, v.Failed);
                    }
        if (!buggy) Assert.Equal(CheckVerdict.Pass, engine.Run(new CheckConfiguration(shape, null, CheckPath.SlowLongterm, 0, Pphp1G, 1000)));
    }

    // ---- Trap 1: gup_huge_pud() records head + offset, then page++ (v5.11–v5.17; nth_page() from c228afb11ac6, v5.18).

    [Fact]
    public void Trap1_GupFastPud_v5_11_ShrinksToTheFirstSubpageOfTheSecondSection()
    {
        var shape = OneGig("5.11", MemoryModel.Sparsemem, CheckPlacement.Scattered);
        var engine = new CheckEngine([]);
        var failing = new CheckConfiguration(shape, null, CheckPath.FastPin, 0, Pphp1G, -1);
        var v = engine.Run(failing);
        // Every subpage past the first section is a pointer off section 0's memmap: 262144 − 32768 wrong, the first at 32768.
        Assert.Equal((229376L, 32768L), (v.WrongEntries, v.FirstWrongIndex));

        var mc = new CheckShrinker(engine).Shrink(failing, v);
        var c = mc.Configuration;
        // By hand: the recorded pointer of subpage k is head + k (an address), wrong iff k ≥ S whatever the call's
        // start, so one page is enough, and the smallest such subpage is S = 32768 on x86_64.
        Assert.Equal((32768L, 1L, 1L, 0L), (c.OffsetPages, c.LengthPages, c.Batch, c.ByteOffset));
        Assert.Equal((1, 0UL), (c.Shape.HugePages, c.Shape.ChurnBytes));
        Assert.Equal((1L, 0L), (mc.Verdict.WrongEntries, mc.Verdict.FirstWrongIndex));
        Assert.Equal(2176 * M, c.Shape.RamBytes); // [1G, 2G) free needs RAM past 2G, as for trap 2
        // gup_test over the whole page in one-page calls (the minimal batch): every subpage k ≥ 32768 is wrong,
        // 262144 − 32768 = 229376.
        Assert.EndsWith(" -m 1024 -n 1 -w -S -a", mc.GupTestCommand, StringComparison.Ordinal);
        var g = Cli.CliRun.Run(ShellWords(mc.GupTestCommand!)[1..]);
        Assert.Contains("gupsim: verification FAILED: 1 of 1 ioctl returned wrong pages[] entries (229376 of 262144;", g.Stderr, StringComparison.Ordinal);

        var (r, runner) = RunScript(mc.Scenario);
        Assert.Equal((5, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
        ulong head = HeadPfn(runner);
        var m = runner.Machine!;
        // pages[0] = head's struct page + 32768 × 64, from the placement; not the struct page of head + 32768.
        ulong wrongVa = KnownAddresses.StructPageVa(m, head) + (32768 * 64);
        Assert.Equal(wrongVa, FirstWrongPointer(mc.Verdict));
        Assert.NotEqual(KnownAddresses.StructPageVa(m, head + 32768), wrongVa);
    }

    [Theory]
    [InlineData("5.11", true)]
    [InlineData("5.17", true)]
    [InlineData("5.18", false)] // c228afb11ac6
    [InlineData("6.1", false)]
    public void Trap1_SameSpace_WrongExactlyPastTheFirstSection_AndNotInTheFixedVersions(string kernel, bool buggy)
    {
        var shape = OneGig(kernel, MemoryModel.Sparsemem, CheckPlacement.Scattered);
        var engine = new CheckEngine([]);
        foreach (var path in new[] { CheckPath.FastPin, CheckPath.FastGet })
            foreach (long off in new long[] { 0, 32767, 40000 })
                foreach (long len in new long[] { 1, 2 })
                    foreach (long batch in new long[] { 1, 2 })
                    {
                        var v = engine.Run(new CheckConfiguration(shape, null, path, off, len, batch));
                        // By hand: every subpage k ≥ S of the range is wrong.
                        long want = buggy ? Math.Max(0, off + len - Math.Max(off, S)) : 0;
                        Assert.True(want == v.WrongEntries, $"{kernel} {path} offset {off} length {len} batch {batch}: {v}");
                        Assert.Equal(want > 0, v.Failed);
                    }
    }

    // ---- Trap 3a: check_and_migrate_cma_pages() (before v5.13) walks pages[] by step = compound_nr(head) − (pages[i] −
    // head), a pointer difference, which is the subpage's index only where the head's and the entry's memmaps are one
    // array. On classic SPARSEMEM each hot-added section's memmap is its own allocation, adjacent on a fresh boot
    // (allocator-facts §7) and apart once the machine has lived. The hotplug-cma placement's pool is in two parts: the
    // hugetlb CMA area's one page B, allocated first (alloc_gigantic_page() tries cma_alloc() before
    // alloc_contig_pages()), and a hot-added page A, allocated last and so handed out first (the free list is LIFO):
    // the mapping is A then B.

    [Fact]
    public void Trap3a_LongtermCmaStep_v5_11_LeavesTheCmaPagePinned_OnlyOnALivedInMachine()
    {
        var shape = new CheckShape("x86_64", V("5.11"), MemoryModel.Sparsemem, CheckPlacement.HotplugCma, G, 2, 4 * G, G, 1);
        var engine = new CheckEngine([]);
        // From the sweep's "boundary" offset (A's second section) up to B's first subpage, in calls of 123: 229376 =
        // 262144 − 32768 is not a multiple of 123, so the last call starts in A's last section and ends at B's head.
        // (Had the range gone on into B, a later call starting inside B — boot memmaps, one array per node — would
        // have stepped to B's head rightly and isolated it.)
        var failing = new CheckConfiguration(shape, null, CheckPath.SlowLongterm, S, Pphp1G - S + 1, 123);
        var v = engine.Run(failing);
        Assert.True(v.Symptoms.Kind() == "unpinnable", v.ToString());
        Assert.Equal((0L, 1L), (v.WrongEntries, v.UnpinnableHugePages)); // v5.11's slow path records by mem_map_offset(): every entry right

        var mc = new CheckShrinker(engine).Shrink(failing, v);
        var c = mc.Configuration;
        // By hand, from offset S: the range must reach B's first subpage (length 262144 − S + 1 = 229377, already the
        // shortest), and a call must start in A and end in B: batch b with (262144 − S) mod b ≠ 0; 229376 = 2^15 × 7, so 1 and 2 divide it
        // and 3 is the smallest that does not (the call from A + 262142 covers A's last two subpages and B's head).
        // A smaller offset with that length ends before B. Two huge pages (one of each kind).
        Assert.Equal((S, Pphp1G - S + 1, 3L, 0L), (c.OffsetPages, c.LengthPages, c.Batch, c.ByteOffset));
        Assert.Equal(2, c.Shape.HugePages);
        Assert.Equal("unpinnable", mc.Verdict.Symptoms.Kind());
        Assert.Equal((0L, 1L), (mc.Verdict.WrongEntries, mc.Verdict.UnpinnableHugePages));
        // hugetlb_cma=1G takes the one free 1 GiB-aligned GiB below 2G, [1G, 2G): B's head is pfn 1G / 4K = 0x40000.
        Assert.Contains("pinned in MIGRATE_CMA (first head pfn 0x40000) with no failed migration", mc.Verdict.Detail, StringComparison.Ordinal);
        // Latent on a fresh boot: the hot memmaps lie back to back, the step is right, B is isolated (and, with no free
        // 1 GiB page outside CMA to move it to, the migration fails and the kernel pins it where it is, as designed).
        Assert.True(c.Shape.ChurnBytes > 0);
        Assert.False(engine.Run(c with { Shape = c.Shape with { ChurnBytes = 0 } }).Failed);
        // Minimal in RAM and churn: one section less RAM, or 64 MiB less churn, does not fail this way.
        var lessRam = engine.Run(c with { Shape = c.Shape with { RamBytes = c.Shape.RamBytes - (128 * M) } });
        Assert.NotEqual("unpinnable", lessRam.Symptoms.Kind());
        if (c.Shape.ChurnBytes > 64 * M)
            Assert.NotEqual("unpinnable", engine.Run(c with { Shape = c.Shape with { ChurnBytes = c.Shape.ChurnBytes - (64 * M) } }).Symptoms.Kind());
        Assert.Contains(" --hugetlb-cma 1G\nhotplug ", mc.Scenario, StringComparison.Ordinal);
        Assert.Contains("\nhugepages 1G=2\nmmap A 2G hugetlb=1G\n", mc.Scenario, StringComparison.Ordinal);
        Assert.Contains("\npin A write longterm batch=3 offset=0x8000000 pages=229377\nexpect unpinnable 1\n", mc.Scenario, StringComparison.Ordinal);
        var (r, _) = RunScript(mc.Scenario);
        Assert.Equal(0, r.ExpectationsFailed);

        // The same minimal case where the walk is right: SPARSEMEM_VMEMMAP (one virtually contiguous memmap), and
        // v5.13's walk, which takes every entry's compound_head(). On v5.13 the batch of 3 also crosses A's section
        // boundaries inside a call, which 82e5d378b0e4's mem_map_offset(base', nr) gets wrong (trap 2, fixed in v6.1),
        // so the fixed walk is checked on v6.1 (where the slow grab refuses the CMA page: -ENOMEM, a short pass) and
        // v6.10 (which grabs it and leaves it to the migration, which finds no page to move it to: -ENOMEM).
        Assert.False(engine.Run(c with { Shape = c.Shape with { Model = MemoryModel.SparsememVmemmap } }).Failed);
        foreach (string fixedIn in new[] { "6.1", "6.10" })
        {
            var f = engine.Run(c with { Shape = c.Shape with { Kernel = V(fixedIn) } });
            Assert.False(f.Failed, $"v{fixedIn}: {f}");
        }
    }

    // ---- Trap 3: update_and_free_page() clears each subpage's flags through page[i] (v5.11; dbfee5aee7e5 in v5.12 walks
    // with mem_map_next()). check runs it with --teardown free-pool: munmap, then nr_hugepages 0.

    [Fact]
    public void Trap3_UpdateAndFreePage_v5_11_FreePool_ShrinksToOnePagePinned_AndStoresPastTheFirstSection()
    {
        var shape = OneGig("5.11", MemoryModel.Sparsemem, CheckPlacement.Scattered);
        var engine = new CheckEngine([]);
        var failing = new CheckConfiguration(shape, null, CheckPath.SlowPin, 0, Pphp1G, 512) { Teardown = CheckTeardown.FreePool };
        var v = engine.Run(failing);
        // v5.11's slow path records with mem_map_offset() (pages[] right, counts back); the free walks page[i] = head + i
        // off the first section's memmap: every subpage i ≥ S = 32768 is a store through a pointer that is not subpage
        // i's struct page (the next section's memmap is elsewhere), 262144 − 32768 = 229376.
        Assert.Equal(CheckSymptoms.StrayWrites, v.Symptoms);
        Assert.Equal(0, v.WrongEntries);
        Assert.StartsWith("stray writes: 229376 (", v.Detail, StringComparison.Ordinal);
        Assert.Equal(CheckVerdict.Pass, engine.Run(failing with { Teardown = CheckTeardown.Keep }));

        var mc = new CheckShrinker(engine).Shrink(failing, v);
        var c = mc.Configuration;
        // The GUP call does not matter (any one page); the teardown does: without it nothing fails.
        Assert.Equal((0L, 1L, 1L, CheckTeardown.FreePool), (c.OffsetPages, c.LengthPages, c.Batch, c.Teardown));
        Assert.Equal((1, 0UL, 2176 * M), (c.Shape.HugePages, c.Shape.ChurnBytes, c.Shape.RamBytes)); // [1G, 2G) free, as for trap 2
        Assert.StartsWith("stray writes: 229376 (", mc.Verdict.Detail, StringComparison.Ordinal);
        Assert.Contains("unpin A\nmunmap A\nhugepages 1G=0\nexpect no-oops\nexpect no-leak\nexpect no-bad-page-state\nexpect stray-writes\n", mc.Scenario, StringComparison.Ordinal);
        Assert.Null(mc.GupTestCommand); // gup_test never frees the pool

        var (r, runner) = RunScript(mc.Scenario);
        Assert.Equal((5, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
        // page[32768] = head's struct page + 32768 × 64: from the placement, not the struct page of head + 32768. The
        // mapping is gone; the page was [1G, 2G), the only free 1 GiB-aligned GiB of 2176M (as for trap 2): pfn 0x40000.
        const ulong head = 0x40000;
        var m = runner.Machine!;
        Assert.NotEqual(KnownAddresses.StructPageVa(m, head + 32768), KnownAddresses.StructPageVa(m, head) + (32768 * 64));
    }

    [Theory]
    [InlineData("5.11", CheckPlacement.Scattered, true)]
    [InlineData("5.11", CheckPlacement.Boot, false)] // the node's sparse buffer: adjacent memmaps, page[i] right by accident (latent)
    [InlineData("5.12", CheckPlacement.Scattered, false)] // dbfee5aee7e5
    [InlineData("6.1", CheckPlacement.Scattered, false)]
    public void Trap3_UpdateAndFreePage_FreePool_FailsOnlyWhereTheMemmapIsNotOneArray(string kernel, CheckPlacement placement, bool buggy)
    {
        var shape = OneGig(kernel, MemoryModel.Sparsemem, placement);
        var engine = new CheckEngine([]);
        var keep = new CheckConfiguration(shape, null, CheckPath.SlowPin, 0, 1, 1);
        Assert.Equal(CheckVerdict.Pass, engine.Run(keep));
        Assert.Equal(1, engine.Boots);
        var v = engine.Run(keep with { Teardown = CheckTeardown.FreePool });
        Assert.Equal(buggy ? CheckSymptoms.StrayWrites : CheckSymptoms.None, v.Symptoms);
        if (buggy) Assert.StartsWith("stray writes: 229376 (", v.Detail, StringComparison.Ordinal);
        else Assert.Equal(CheckVerdict.Pass, v);
        // A freed pool is outside the machine's journal: the next configuration of the shape boots it again, and
        // finds the pool as booted.
        Assert.Equal(CheckVerdict.Pass, engine.Run(keep));
        Assert.Equal(2, engine.Boots);
    }

    // ---- Trap 3, the other half: copy_huge_page_from_user()'s kmap(dst_page + i) (UFFDIO_COPY, until 3272cfc2525b, v5.12).

    [Fact]
    public void Trap3_CopyHugePageFromUser_v5_11_UffdCopy_ShrinksToAFreshBootAndCopiesPastTheFirstSection()
    {
        var shape = OneGig("5.11", MemoryModel.Sparsemem, CheckPlacement.Scattered) with { Populate = CheckPopulate.UffdCopy };
        var engine = new CheckEngine([]);
        var failing = new CheckConfiguration(shape, null, CheckPath.SlowPin, 0, Pphp1G, 512);
        var v = engine.Run(failing);
        // Every subpage i ≥ S = 32768 is copied through dst_page + i, past the head's section memmap: 262144 − 32768
        // stores into pages that are not subpage i's. The GUP afterwards is right (v5.11's slow path uses mem_map_offset()).
        Assert.Equal(CheckSymptoms.StrayWrites, v.Symptoms);
        Assert.StartsWith(CheckEngine.SetupPrefix + "'uffd-copy A S': stray writes: 229376 (", v.Detail, StringComparison.Ordinal);
        // None of those subpages got its data: at least 229376 pages of A differ from S.
        Assert.True(DifferingPages(v.Detail!) >= 229376, v.Detail);
        Assert.Equal(CheckVerdict.Pass, engine.Run(failing with { Shape = shape with { Populate = CheckPopulate.Fault } }));

        var mc = new CheckShrinker(engine).Shrink(failing, v);
        var c = mc.Configuration;
        Assert.Equal(CheckPopulate.UffdCopy, c.Shape.Populate);
        // One huge page, a fresh boot, and the least RAM both the pool and the 1 GiB source fit in: the pool's page is
        // [1G, 2G), the only 1 GiB-aligned free GiB below 2 GiB + one section; 2048M would leave under 1 GiB outside it
        // for the source and the kernel (fill S: OOM), 2176M leaves 1152M.
        Assert.Equal((1, 0UL, 2176 * M), (c.Shape.HugePages, c.Shape.ChurnBytes, c.Shape.RamBytes));
        Assert.Contains("mmap S 1G\nfill S\nmmap A 1G hugetlb=1G\nuffd-register A\nuffd-copy A S\nverify A S\nexpect no-oops\nexpect no-leak\nexpect no-bad-page-state\nexpect stray-writes\n", mc.Scenario, StringComparison.Ordinal);
        Assert.DoesNotContain("pin A", mc.Scenario, StringComparison.Ordinal); // the setup fails: no GUP call needed
        Assert.Null(mc.GupTestCommand); // gup_test has no userfaultfd

        var (r, runner) = RunScript(mc.Scenario);
        Assert.Equal((4, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
        // dst_page + 32768 = the head's struct page + 32768 × 64, from the placement: another pfn's struct page, whose
        // page received subpage 32768's data.
        const ulong head = 0x40000;
        var m = runner.Machine!;
        Assert.True(runner.TryGetMapping("S", out ulong src, out _));
        ulong? p = KnownAddresses.OwnerPfn(m, KnownAddresses.StructPageVa(m, head) + (32768 * 64));
        Assert.NotNull(p);
        Assert.NotEqual(head + 32768, p);
        Assert.Equal(GupSim.Memory.PageContents.UserPattern(src + (32768UL << 12)), m.Memory.Contents.Read(p!.Value));
    }

    private static long DifferingPages(string detail)
    {
        int at = detail.IndexOf("verify: ", StringComparison.Ordinal) + "verify: ".Length;
        return long.Parse(detail[at..detail.IndexOf(' ', at)], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Theory]
    [InlineData("5.11", CheckPlacement.Boot, 0UL, CheckSymptoms.None)] // the node's sparse buffer: adjacent memmaps (latent)
    [InlineData("5.11", CheckPlacement.Hotplug, 0UL, CheckSymptoms.None)] // a fresh hot-add: the sections' memmaps adjacent (latent)
    [InlineData("5.11", CheckPlacement.Hotplug, G, CheckSymptoms.Oops | CheckSymptoms.StrayWrites)] // lived in: copies into other pages, then a "struct page" that is none
    [InlineData("5.12", CheckPlacement.Scattered, 0UL, CheckSymptoms.None)] // 3272cfc2525b: mem_map_next()
    [InlineData("5.12", CheckPlacement.Hotplug, G, CheckSymptoms.None)]
    [InlineData("6.1", CheckPlacement.Scattered, 0UL, CheckSymptoms.None)] // nth_page()
    public void Trap3_CopyHugePageFromUser_FailsOnlyWhereTheWalkLeavesTheMemmap(string kernel, CheckPlacement placement, ulong churn, CheckSymptoms expected)
    {
        // Hot-plug boots with the sweep's RAM: 4 GiB for the rest of the machine plus the source (1 GiB of pages and
        // 4 MiB for their tables), in whole 128 MiB sections: 5248M; the pool comes from the hot-added GiB.
        var shape = OneGig(kernel, MemoryModel.Sparsemem, placement) with
        {
            Populate = CheckPopulate.UffdCopy,
            ChurnBytes = churn,
            Seed = 1,
            RamBytes = placement == CheckPlacement.Hotplug ? 5248 * M : 4 * G,
        };
        var v = new CheckEngine([]).Run(new CheckConfiguration(shape, null, CheckPath.SlowPin, 0, 1, 1));
        Assert.Equal((expected, (string?)null), (v.Symptoms, expected == CheckSymptoms.None ? v.Detail : null));
        // The oops: page_to_pfn() of a wrong "struct page" that is other data takes the section its garbage flags
        // name, and the pfn that gives is no RAM: the copy into its direct-map address faults with no fixup.
        if ((expected & CheckSymptoms.Oops) != 0)
            Assert.Matches(@"^in setup 'uffd-copy A S': BUG: unable to handle page fault for address: [0-9a-f]{16} \(copy_from_user\(\) into page_address\(0x[0-9a-f]+\) = 0x[0-9a-f]+: no RAM there \(pfn 0x[0-9a-f]+\)\)$", v.Detail);
    }

    // ---- Trap 4: refs = (vm_end − vaddr) >> PAGE_SHIFT = 0 for an unaligned vaddr in the VMA's last page (v5.12 until d08af0a59684, v5.14).

    [Theory]
    [InlineData(MemoryModel.Sparsemem)]
    [InlineData(MemoryModel.SparsememVmemmap)]
    public void Trap4_RefsZero_v5_12_ShrinksToOneByteIntoTheLastPage_OnAnyModel(MemoryModel model)
    {
        var shape = new CheckShape("x86_64", V("5.12"), model, CheckPlacement.Boot, 2 * M, 2, 4 * G, 0, 1);
        var engine = new CheckEngine([]);
        // The last page of a 2 x 2 MiB mapping, 2048 bytes in.
        var failing = new CheckConfiguration(shape, null, CheckPath.SlowPin, 1023, 1, 1) { ByteOffset = 2048 };
        var v = engine.Run(failing);
        Assert.Equal(CheckSymptoms.Oops, v.Symptoms);
        // Nothing recorded, then try_grab_compound_head(pages[0] = NULL, 0): compound_head at offset 8 of NULL.
        Assert.StartsWith(CheckEngine.OopsInGupPrefix + "BUG: unable to handle page fault for address: 0000000000000008", v.Detail, StringComparison.Ordinal);

        var mc = new CheckShrinker(engine).Shrink(failing, v);
        var c = mc.Configuration;
        // By hand: refs = min3(pages_per_huge_page − pfn_offset, (vm_end − vaddr) >> 12, remainder) is 0 exactly when
        // vaddr is 1…4095 bytes into the VMA's last page; with one 2 MiB page that is subpage 511, one byte in, one page.
        Assert.Equal((511L, 1L, 1L, 1L), (c.OffsetPages, c.LengthPages, c.Batch, c.ByteOffset));
        Assert.Equal((1, 0UL), (c.Shape.HugePages, c.Shape.ChurnBytes));
        Assert.Equal(128 * M, c.Shape.RamBytes); // one section: the pool's one 2 MiB page fits in the smallest machine

        var (r, _) = RunScript(mc.Scenario);
        Assert.Equal((3, 0), (r.ExpectationsPassed, r.ExpectationsFailed)); // expect oops, no-bad-page-state, no-stray-writes
        Assert.DoesNotContain("unpin", mc.Scenario, StringComparison.Ordinal);
        Assert.Null(mc.GupTestCommand); // gup_test starts page-aligned: no run of it shows a start one byte in

        Assert.Equal(CheckSymptoms.Oops, engine.Run(c with { Shape = c.Shape with { Kernel = V("5.13") } }).Symptoms);
        Assert.Equal(CheckVerdict.Pass, engine.Run(c with { Shape = c.Shape with { Kernel = V("5.14") } })); // d08af0a59684
        Assert.Equal(CheckVerdict.Pass, engine.Run(c with { ByteOffset = 0 })); // aligned: refs = 1
    }

    // ---- Trap 5: patch 1's follow_hugetlb_page() grabs once per group after counting its refs subpages in i, so a
    // grab that fails returns them as if grabbed. try_grab_compound_head() fails a FOLL_LONGTERM pin of a page in a
    // MIGRATE_CMA pageblock (before v5.13; !is_pinnable_page() later), which the cma placement's pool is.

    [Theory]
    [InlineData(MemoryModel.Sparsemem)]
    [InlineData(MemoryModel.SparsememVmemmap)]
    public void Trap5_Patch1GroupGrab_LongtermPinOfACmaPage_ShrinksToOnePage_AndTheKernelsOwnCodeIsShort(MemoryModel model)
    {
        var shape = OneGig("5.12", model, CheckPlacement.Cma) with { HugePages = 2, RamBytes = 8 * G };
        var engine = new CheckEngine([]);
        var failing = new CheckConfiguration(shape, "patch1", CheckPath.SlowLongterm, 100, 1000, 123);
        var v = engine.Run(failing);
        Assert.Equal(CheckSymptoms.Leak, v.Symptoms);
        // The same calls through v5.12's own code (82e5d378b0e4: i += refs after the grab): the grab fails, WARN, and
        // the call ends with -ENOMEM before anything is counted: a short pass, nothing returned, nothing to undo.
        var own = engine.Run(failing with { Strategy = null });
        Assert.False(own.Failed);
        Assert.True(CheckEngine.IsShort(own), own.Detail);

        var mc = new CheckShrinker(engine).Shrink(failing, v);
        var c = mc.Configuration;
        // Any one page fails the same way (the failure needs no section boundary, no batch, no churn, no second page):
        // offset 0, one page, batch 1, one huge page, a fresh boot; any memory model.
        Assert.Equal((0L, 1L, 1L, 0L), (c.OffsetPages, c.LengthPages, c.Batch, c.ByteOffset));
        Assert.Equal((1, 0UL), (c.Shape.HugePages, c.Shape.ChurnBytes));
        Assert.Equal(0L, mc.Verdict.WrongEntries);
        // hugetlb_cma=1G reserves one 1 GiB-aligned GiB top-down from memblock; below 2G + one section the only such
        // GiB, [1G, 2G), is not free (as for trap 2's pool), so RAM is 2176M and the CMA page is pfn 1G / 4K = 0x40000.
        // The one pin counted but never taken is dropped twice: by check_and_migrate_cma_pages(), which isolates the CMA
        // head, puts every page GUP returned, fails to migrate it (no free 1 GiB page outside CMA to move it to), stops
        // migrating and GUPs again (getting the same uncounted page, left in CMA), and by the caller's unpin_user_pages(). Each drop takes one reference and one pincount (hugetlb heads count pins
        // exactly): refcount 1 (the page table's mapping) -> -1, pincount 0 -> -2.
        Assert.Equal(2176 * M, c.Shape.RamBytes);
        Assert.Contains("head pfn 0x40000: refcount 1 -> -1, pincount 0 -> -2", mc.Verdict.Detail, StringComparison.Ordinal);
        Assert.Contains(" --hugetlb-cma 1G\nhugepages 1G=1\nmmap A 1G hugetlb=1G\n", mc.Scenario, StringComparison.Ordinal);
        Assert.Null(mc.GupTestCommand); // gup_test has no run-time pool

        var (r, _) = RunScript(mc.Scenario);
        Assert.Equal(0, r.ExpectationsFailed);
        Assert.True(r.ExpectationsPassed >= 5);
        // Patch 2 as merged (the kernel's own v5.12 code) on the minimal case: short, not failed.
        Assert.True(CheckEngine.IsShort(engine.Run(c with { Strategy = null })));
    }
}

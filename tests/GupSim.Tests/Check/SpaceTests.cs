using GupSim.Arch;
using GupSim.Check;
using GupSim.Core;

namespace GupSim.Tests.Check;

/// <summary>
/// CheckSpace: sizes worked out by hand (the product of the dimensions minus what the kernel cannot have and the
/// repeats), the positions each symbolic value resolves to, the budget's spread and the shards' partition.
/// </summary>
public sealed class SpaceTests
{
    private const long S = 32768;      // x86_64 PAGES_PER_SECTION (SECTION_SIZE_BITS 27, 4K pages)
    private const long Hp1G = 262144;  // base pages in a 1 GiB page

    /// <summary>x86_64 v5.12, SPARSEMEM boot, 1G, a fresh boot, slow-pin; the position dimensions as given.</summary>
    private static CheckSpaceOptions X86OneGig(string offsets = "0,boundary-1,boundary,boundary+1", string lengths = "1,cross,huge", string batches = "1,512,all") => new()
    {
        Arches = "x86_64",
        Kernels = "5.12",
        Models = "sparsemem",
        Placements = "boot",
        HugepageSizes = "1G",
        Churn = "0",
        Paths = "slow-pin",
        Offsets = offsets,
        Lengths = lengths,
        Batches = batches,
    };

    [Fact]
    public void ModelsAndPlacements_TheKernelCannotHave_AreSkippedNotRun()
    {
        // 3 models × 3 placements = 9. x86_64 offers SPARSEMEM_VMEMMAP and SPARSEMEM (no FLATMEM: ARCH_FLATMEM_ENABLE
        // needs X86_32): flatmem × 3 skipped; scattered is classic SPARSEMEM's fallback: vmemmap × scattered skipped.
        var space = CheckSpace.Build(X86OneGig("0", "1", "all") with { Models = "sparsemem,sparsemem-vmemmap,flatmem", Placements = "boot,scattered,hotplug" });
        Assert.Equal(5, space.SpaceConfigurations);
        Assert.Equal(4, space.Skipped);
        Assert.Equal(3, space.SkippedBy["model"]);
        Assert.Equal(1, space.SkippedBy["placement"]);
        var got = space.Entries.Select(e => (e.Configuration.Shape.Model, e.Configuration.Shape.Placement)).ToArray();
        Assert.Equal(
            [(MemoryModel.Sparsemem, CheckPlacement.Boot), (MemoryModel.Sparsemem, CheckPlacement.Scattered), (MemoryModel.Sparsemem, CheckPlacement.Hotplug),
             (MemoryModel.SparsememVmemmap, CheckPlacement.Boot), (MemoryModel.SparsememVmemmap, CheckPlacement.Hotplug)], got);
    }

    [Fact]
    public void ArchAndKernel_ModelsOfferedPerVersion()
    {
        // x86_64 keeps classic SPARSEMEM until v6.18 made VMEMMAP mandatory; arm64 selects SPARSEMEM_VMEMMAP from v6.1.
        // 2 arches × 3 kernels × 2 paths = 12; sparsemem is offered for x86_64 5.11, 6.1 and arm64-4k 5.11 only.
        var space = CheckSpace.Build(X86OneGig("0", "1", "all") with { Arches = "x86_64,arm64-4k", Kernels = "5.11,6.1,6.18", Paths = "slow-pin,fast-pin" });
        Assert.Equal(6, space.SpaceConfigurations);
        Assert.Equal(6, space.Skipped);
        Assert.Equal(6, space.SkippedBy["model"]);
        var shapes = space.Entries.Select(e => $"{e.Configuration.Shape.Arch} {e.Configuration.Shape.Kernel} {e.Configuration.Path.ToName()}").ToArray();
        Assert.Equal(["x86_64 5.11 slow-pin", "x86_64 5.11 fast-pin", "x86_64 6.1 slow-pin", "x86_64 6.1 fast-pin", "arm64-4k 5.11 slow-pin", "arm64-4k 5.11 fast-pin"], shapes);
    }

    [Fact]
    public void HugepageSizes_TheArchDoesNotHave_AreSkipped()
    {
        // x86_64 has 2M and 1G; arm64-4k 64K, 2M, 32M, 1G (arch_hugetlb_valid_size). 2 arches × 3 sizes: x86 32M skipped.
        var space = CheckSpace.Build(X86OneGig("0", "1", "all") with { Arches = "x86_64,arm64-4k", Kernels = "5.12", Models = "sparsemem-vmemmap", HugepageSizes = "2M,32M,1G" });
        Assert.Equal(5, space.SpaceConfigurations);
        Assert.Equal(1, space.SkippedBy["hugepage-size"]);
    }

    [Fact]
    public void Positions_Resolve_FromTheSectionSize_AndRepeatsAreSkipped()
    {
        // 1G on x86_64 spans 8 sections: the boundary is PAGES_PER_SECTION = 32768. cross = to one page past the next
        // boundary; huge = 262144. A batch ≥ the length is one call (-1). By hand, per offset:
        //   0:     len 1 (1 batch), 32769 (1, 512, all), 262144 (1, 512, all)        = 7
        //   32767: len 1 (1),       2 (1, all),          262144 (3)                   = 6
        //   32768: len 1 (1),       32769 (3),           262144 (3)                   = 7
        //   32769: len 1 (1),       32768 (3),           262144 (3)                   = 7
        // 27 of 4 × 3 × 3 = 36; 9 repeats.
        var space = CheckSpace.Build(X86OneGig());
        Assert.Equal(27, space.SpaceConfigurations);
        Assert.Equal(9, space.Skipped);
        Assert.Equal(9, space.SkippedBy["repeat"]);
        var t = space.Entries.Select(e => (e.Configuration.OffsetPages, e.Configuration.LengthPages, e.Configuration.Batch)).ToArray();
        Assert.Equal((0L, 1L, -1L), t[0]);
        Assert.Equal((0L, S + 1, 1L), t[1]);
        Assert.Equal((0L, S + 1, 512L), t[2]);
        Assert.Equal((0L, S + 1, -1L), t[3]);
        Assert.Equal((0L, Hp1G, 1L), t[4]);
        Assert.Equal((S - 1, 1L, -1L), t[7]);
        Assert.Equal((S - 1, 2L, 1L), t[8]);
        Assert.Equal((S - 1, 2L, -1L), t[9]);
        Assert.Equal((S, 1L, -1L), t[13]);
        Assert.Equal((S, S + 1, 1L), t[14]);
        Assert.Equal((S + 1, S, 1L), t[21]);
        // The shape holds enough huge pages for the farthest end: 32769 + 262144 pages → 2 huge pages; RAM the
        // arch's default 20G (2G of pool + 4G is less).
        var shape = space.Entries[0].Configuration.Shape;
        Assert.All(space.Entries, e => Assert.Same(shape, e.Configuration.Shape));
        Assert.Equal(2, shape.HugePages);
        Assert.Equal(20UL << 30, shape.RamBytes);
        Assert.Equal(1UL << 30, shape.HugepageBytes);
    }

    [Fact]
    public void Boundary_OfAPageSmallerThanASection_IsTheNextHugePage()
    {
        // 2M = 512 pages < a 128M section: the first place the memmap can change is the next huge page (512).
        var space = CheckSpace.Build(X86OneGig("boundary-1,boundary,boundary+1", "1", "all") with { HugepageSizes = "2M" });
        Assert.Equal([511L, 512L, 513L], space.Entries.Select(e => e.Configuration.OffsetPages).ToArray());
        // 513 + 1 pages reach into the second huge page.
        Assert.Equal(2, space.Entries[0].Configuration.Shape.HugePages);
    }

    [Fact]
    public void Random_Values_ComeFromTheSeed_WithinTheirRanges()
    {
        var a = CheckSpace.Build(X86OneGig("random", "random", "random") with { Seed = 5 });
        var b = CheckSpace.Build(X86OneGig("random", "random", "random") with { Seed = 5 });
        Assert.Equal(a.Entries.Select(e => e.Configuration).ToArray(), b.Entries.Select(e => e.Configuration).ToArray());
        var c = Assert.Single(a.Entries).Configuration;
        Assert.InRange(c.OffsetPages, 0, Hp1G - 1);
        Assert.InRange(c.LengthPages, 1, Hp1G);
        Assert.True(c.Batch == -1 || c.Batch is >= 2 and <= 2048);
        // Over a few seeds the draws are not all the same.
        var offsets = new HashSet<long>();
        for (ulong seed = 1; seed <= 6; seed++) offsets.Add(CheckSpace.Build(X86OneGig("random", "1", "all") with { Seed = seed }).Entries[0].Configuration.OffsetPages);
        Assert.True(offsets.Count > 1);
    }

    [Fact]
    public void Histories_AreOneFreshBoot_AndSeedsPerChurnSize()
    {
        // churn 0 is one history (seed --seed); 1G and 2G get --seeds 3 each: seeds 7, 8, 9. 1 + 3 + 3 = 7 shapes.
        var space = CheckSpace.Build(X86OneGig("0", "1", "all") with { Churn = "0,1G,2G", Seeds = 3, Seed = 7 });
        var h = space.Entries.Select(e => (e.Configuration.Shape.ChurnBytes, e.Configuration.Shape.Seed)).ToArray();
        Assert.Equal([(0UL, 7UL), (1UL << 30, 7UL), (1UL << 30, 8UL), (1UL << 30, 9UL), (2UL << 30, 7UL), (2UL << 30, 8UL), (2UL << 30, 9UL)], h);
    }

    [Fact]
    public void Teardown_KeepsByDefault_AndAllPutsTheFreesLastInEachShape()
    {
        var keep = CheckSpace.Build(X86OneGig("0", "1", "all"));
        Assert.All(keep.Entries, e => Assert.Equal(CheckTeardown.Keep, e.Configuration.Teardown));
        // One shape, offsets 0 and 1: the two that keep the pool come before the two that free it (so those that keep
        // share the booted machine), and the digest says the space changed while the default's does not carry it.
        var both = CheckSpace.Build(X86OneGig("0,1", "1", "all") with { Teardowns = "free-pool,all" });
        var got = both.Entries.Select(e => (e.Configuration.OffsetPages, e.Configuration.Teardown)).ToArray();
        Assert.Equal([(0L, CheckTeardown.Keep), (1L, CheckTeardown.Keep), (0L, CheckTeardown.FreePool), (1L, CheckTeardown.FreePool)], got);
        Assert.Equal(4, both.SpaceConfigurations);
        Assert.NotEqual(CheckSpace.Build(X86OneGig("0,1", "1", "all")).Fingerprint, both.Fingerprint);
        Assert.Equal(CheckSpace.Build(X86OneGig("0,1", "1", "all")).Fingerprint, CheckSpace.Build(X86OneGig("0,1", "1", "all") with { Teardowns = "keep" }).Fingerprint);
    }

    [Fact]
    public void Populate_FaultsByDefault_UffdCopyIsItsOwnShapeWithRoomForTheSource()
    {
        var fault = CheckSpace.Build(X86OneGig("0", "1", "all"));
        Assert.All(fault.Entries, e => Assert.Equal(CheckPopulate.Fault, e.Configuration.Shape.Populate));
        var both = CheckSpace.Build(X86OneGig("0", "1", "all") with { Populates = "uffd-copy,fault" });
        var shapes = both.Entries.Select(e => e.Configuration.Shape).ToArray();
        Assert.Equal([CheckPopulate.Fault, CheckPopulate.UffdCopy], shapes.Select(s => s.Populate).ToArray());
        // RAM: the pool's 1 GiB plus 4 GiB for the rest (5G), with the source's 1 GiB of pages and 4 MiB of tables
        // 6G + 4M: both under x86_64's default 20G, which they get. (A hot-plug shape's boot RAM is the rest and the
        // source alone: TrapsCheckTests' 5248M.)
        Assert.Equal((20UL << 30, 20UL << 30), (shapes[0].RamBytes, shapes[1].RamBytes));
        Assert.NotEqual(fault.Fingerprint, CheckSpace.Build(X86OneGig("0", "1", "all") with { Populates = "uffd-copy" }).Fingerprint);
        Assert.Equal(fault.Fingerprint, CheckSpace.Build(X86OneGig("0", "1", "all") with { Populates = "fault" }).Fingerprint);
        // The setup: the source written first, then the mapping registered, copied into and compared.
        Assert.Equal(
            ["mmap S 1G", "fill S", "mmap A 1G hugetlb=1G", "uffd-register A", "uffd-copy A S", "verify A S"],
            CheckScenario.SetupLines(shapes[1]).Skip(1).ToArray());
        Assert.Equal(["mmap A 1G hugetlb=1G", "touch A write"], CheckScenario.SetupLines(shapes[0]).Skip(1).ToArray());
    }

    [Fact]
    public void Strategies_AreBuiltInNamesUserRecordersOrKernel()
    {
        var space = CheckSpace.Build(X86OneGig("0", "1", "all") with { Strategies = "kernel,merged,pfn-each", UserRecorders = ["pfn-each"] });
        Assert.Equal(new string?[] { null, "merged", "pfn-each" }, space.Entries.Select(e => e.Configuration.Strategy).ToList());
        // --strategy-assembly alone: its recorders.
        var user = CheckSpace.Build(X86OneGig("0", "1", "all") with { UserRecorders = ["pfn-each"] });
        Assert.Equal(new string?[] { "pfn-each" }, user.Entries.Select(e => e.Configuration.Strategy).ToList());
    }

    [Theory]
    [InlineData("--arch", "foo")]
    [InlineData("--kernel", "4.19")]
    [InlineData("--model", "paged")]
    [InlineData("--placement", "numa")]
    [InlineData("--path", "slow")]
    [InlineData("--offset", "edge")]
    [InlineData("--length", "0")]
    [InlineData("--batch", "some")]
    [InlineData("--strategy", "page--")]
    [InlineData("--hugepage-size", "3M")]
    [InlineData("--churn", "lots")]
    [InlineData("--teardown", "free")]
    [InlineData("--populate", "uffd")]
    public void UnknownValue_NamesTheDimension(string option, string value)
    {
        var o = option switch
        {
            "--arch" => new CheckSpaceOptions { Arches = value },
            "--kernel" => new CheckSpaceOptions { Kernels = value },
            "--model" => new CheckSpaceOptions { Models = value },
            "--placement" => new CheckSpaceOptions { Placements = value },
            "--path" => new CheckSpaceOptions { Paths = "slow-pin," + value + "x" },
            "--offset" => new CheckSpaceOptions { Offsets = value },
            "--length" => new CheckSpaceOptions { Lengths = value },
            "--batch" => new CheckSpaceOptions { Batches = value },
            "--strategy" => new CheckSpaceOptions { Strategies = value },
            "--hugepage-size" => new CheckSpaceOptions { HugepageSizes = value },
            "--teardown" => new CheckSpaceOptions { Teardowns = value },
            "--populate" => new CheckSpaceOptions { Populates = value },
            _ => new CheckSpaceOptions { Churn = value },
        };
        string shown = option == "--path" ? value + "x" : value;
        var e = Assert.Throws<GupSimException>(() => CheckSpace.Build(o));
        Assert.StartsWith($"{option}: unknown value '{shown}': use ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownArch_ListsTheArches()
    {
        var e = Assert.Throws<GupSimException>(() => CheckSpace.Build(new CheckSpaceOptions { Arches = "x86_64,foo" }));
        Assert.Equal("--arch: unknown value 'foo': use one of x86_64, x86_64-5level, i386, i386-pae, arm64-4k, arm64-16k, arm64-64k, ppc64, ppc64-radix, s390x, armhf, armhf-lpae, riscv64, sh (a comma list)", e.Message);
    }

    [Fact]
    public void EmptySpace_SaysWhichFiltersEmptiedIt()
    {
        var e = Assert.Throws<GupSimException>(() => CheckSpace.Build(X86OneGig("0", "1", "all") with { Models = "flatmem,discontigmem" }));
        Assert.Equal("the sweep is empty: every combination was skipped, 2 with a memory model the arch does not offer in that version (--model flatmem,discontigmem with --arch x86_64 with --kernel 5.12): widen those options (docs/cli.md, gupsim check)", e.Message);
    }

    [Fact]
    public void Discontigmem_IsGoneAfter514()
    {
        // i386 offers DISCONTIGMEM (NUMA) before v5.14 only: 2 kernels, one offers it.
        var space = CheckSpace.Build(X86OneGig("0", "1", "all") with { Arches = "i386", Kernels = "5.11,5.14", Models = "discontigmem", HugepageSizes = "4M" });
        Assert.Equal(1, space.SpaceConfigurations);
        Assert.Equal(KernelVersion.V5_11, space.Entries[0].Configuration.Shape.Kernel);
    }

    /// <summary>Four groups: 2M and 1G, slow-pin and fast-pin (20, 20, 27, 27 configurations).</summary>
    private static CheckSpaceOptions ThreeGroups(long budget, ulong seed = 1) => X86OneGig() with { HugepageSizes = "2M,1G", Paths = "slow-pin,fast-pin", Budget = budget, Seed = seed };

    [Fact]
    public void Budget_IsSpreadOverEveryGroup()
    {
        // Groups (size, path): 2M has 20 configurations per path (offsets 0, 511, 512, 513: 6 + 5 + 6 + 3 after
        // repeats), 1G 27 per path: groups of 20, 20, 27, 27 = 94. Budget 60, smallest first: 60/4 = 15, 45/3 = 15,
        // 30/2 = 15, 15/1 = 15.  Budget 90: 22 → 20, 70/3 = 23 → 20, 50/2 = 25, 25.
        var full = CheckSpace.Build(ThreeGroups(1000));
        Assert.Equal(94, full.SpaceConfigurations);
        Assert.Equal(94, full.Entries.Count);
        foreach (var (budget, expected) in new[] { (60L, new[] { 15, 15, 15, 15 }), (90L, new[] { 20, 20, 25, 25 }) })
        {
            var space = CheckSpace.Build(ThreeGroups(budget));
            Assert.Equal(budget, space.Entries.Count);
            Assert.Equal(94, space.SpaceConfigurations);
            var per = space.Entries.GroupBy(e => (e.Configuration.Shape.HugepageBytes, e.Configuration.Path)).OrderBy(g => g.Key).Select(g => g.Count()).ToArray();
            Assert.Equal(expected, per);
            // Global indices: distinct, increasing, and those of the full enumeration.
            for (int i = 1; i < space.Entries.Count; i++) Assert.True(space.Entries[i].Index > space.Entries[i - 1].Index);
            foreach (var e in space.Entries) Assert.Equal(full.Entries[(int)e.Index].Configuration, e.Configuration);
        }
    }

    [Fact]
    public void Budget_WithinAGroup_IsEvenlySpaced_AndTheSeedChoosesWhich()
    {
        var choices = new HashSet<string>();
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var space = CheckSpace.Build(ThreeGroups(60, seed));
            var g = space.Entries.Where(e => e.Configuration.Shape.HugepageBytes == 1UL << 30 && e.Configuration.Path == CheckPath.SlowPin).Select(e => e.Index).ToArray();
            Assert.Equal(15, g.Length);
            // 15 of 27: consecutive picks are 1 or 2 apart within the group's own order (27/15 = 1.8).
            var full = CheckSpace.Build(ThreeGroups(1000)).Entries.Where(e => e.Configuration.Shape.HugepageBytes == 1UL << 30 && e.Configuration.Path == CheckPath.SlowPin).Select(e => e.Index).ToList();
            var pos = g.Select(i => full.IndexOf(i)).ToArray();
            for (int k = 1; k < pos.Length; k++) Assert.InRange(pos[k] - pos[k - 1], 1, 2);
            choices.Add(string.Join(",", g));
            // The same seed chooses the same.
            Assert.Equal(g, CheckSpace.Build(ThreeGroups(60, seed)).Entries.Where(e => e.Configuration.Shape.HugepageBytes == 1UL << 30 && e.Configuration.Path == CheckPath.SlowPin).Select(e => e.Index).ToArray());
        }
        Assert.True(choices.Count > 1);
    }

    /// <summary>108 shapes (6 kernels × 3 placements × 2 sizes × 3 histories) of slow-pin configurations.</summary>
    private static CheckSpace ManyShapes() => CheckSpace.Build(new CheckSpaceOptions
    {
        Arches = "x86_64",
        Kernels = "5.11,5.12,5.14,5.18,6.1,6.6",
        Models = "sparsemem",
        HugepageSizes = "2M,1G",
        Churn = "0,1G",
        Seeds = 2,
        Paths = "slow-pin",
        Offsets = "0,boundary",
        Lengths = "1,huge",
        Batches = "512,all",
    });

    [Fact]
    public void Shards_PartitionTheSpace_ForOneToFiveShards()
    {
        var space = ManyShapes();
        // Per shape: offsets 0 and boundary × lengths 1 (1 batch) and huge (512 → 2M: all; 1G: 512, all):
        // 2M: 2 × (1 + 1) = 4, 1G: 2 × (1 + 2) = 6. 6 kernels × 3 placements × 3 histories × (4 + 6) = 540.
        Assert.Equal(540, space.Entries.Count);
        for (int n = 1; n <= 5; n++)
        {
            var seen = new HashSet<long>();
            long max = 0;
            for (int i = 0; i < n; i++)
            {
                var shard = space.ForShard(new CheckShardSpec(i, n));
                Assert.Equal(new CheckShardSpec(i, n), shard.Shard);
                foreach (var e in shard.Entries) Assert.True(seen.Add(e.Index), $"index {e.Index} in two shards of {n}");
                for (int k = 1; k < shard.Entries.Count; k++) Assert.True(shard.Entries[k].Index > shard.Entries[k - 1].Index);
                max = Math.Max(max, shard.Entries.Count);
                // Whole shapes: every shape (4 or 6 configurations, below a quarter of a share) is in one shard only.
                foreach (var sh in shard.Entries.Select(e => e.Configuration.Shape).Distinct())
                    Assert.Equal(space.Entries.Count(e => ReferenceEquals(e.Configuration.Shape, sh)), shard.Entries.Count(e => ReferenceEquals(e.Configuration.Shape, sh)));
            }
            Assert.Equal(540, seen.Count);
            // Balanced: no shard more than a shape above its share.
            Assert.InRange(max, 540 / n, 540 / n + 6);
        }
    }

    [Fact]
    public void Shards_CutAShapeLargerThanAShare()
    {
        // One shape of 27 over 4 shards: pieces of ceil(27 / 16) = 2, so 13 pieces of 2 (starts 0, 2, …, 24) and one of
        // 1 (start 26). Largest first, each to the least loaded shard (the lowest index on a tie): the 13 twos go
        // round-robin 0, 1, 2, 3, 0, … so shard 0 gets 4 of them (8), shards 1–3 three (6 each); the last 1 goes to
        // shard 1, the first of the least loaded: 8, 7, 6, 6.
        var space = CheckSpace.Build(X86OneGig());
        var sizes = Enumerable.Range(0, 4).Select(i => space.ForShard(new CheckShardSpec(i, 4)).Entries.Count).ToArray();
        Assert.Equal([8, 7, 6, 6], sizes);
    }

    [Fact]
    public void Offset_PastThePhysicalAddressSpace_OneLine()
    {
        // x86_64 (4-level) MAX_PHYSMEM_BITS 46: 64 TiB = 2^34 pages of 4 KiB. Page 2^34 is past it.
        var e = Assert.Throws<GupSimException>(() => CheckSpace.Build(X86OneGig("17179869184", "1", "all")));
        Assert.Equal("--offset 17179869184: page 17179869184 is past x86_64's physical address space (64T, MAX_PHYSMEM_BITS 46), so no mapping there can be backed: give a smaller offset", e.Message);
        // A number past long's range is not a number of pages at all.
        e = Assert.Throws<GupSimException>(() => CheckSpace.Build(X86OneGig("99999999999999999999", "1", "all")));
        Assert.Equal("--offset: unknown value '99999999999999999999': use one of a number of pages, boundary-1, boundary, boundary+1, random (a comma list)", e.Message);
    }

    [Fact]
    public void Shape_LargerThanThePhysicalAddressSpace_OneLine()
    {
        // Page 2^34 − 1 and one page: (2^34) / 262144 = 65536 huge pages of 1 GiB = 64 TiB, plus 4 GiB of other RAM:
        // more than 64 TiB.
        var e = Assert.Throws<GupSimException>(() => CheckSpace.Build(X86OneGig("17179869183", "1", "all")));
        Assert.Equal("--offset 17179869183 --length 1: the mapping needs 65536 huge pages of 1G, more than x86_64's physical address space holds (64T, MAX_PHYSMEM_BITS 46, with 4G of other RAM): give a smaller offset or length", e.Message);
        // The most that fit: (64 TiB − 4 GiB) / 1 GiB = 65532 huge pages; offset 65531 × 262144 and a length of one
        // huge page end at 65532. One more page is refused.
        var ok = CheckSpace.Build(X86OneGig("17178558464", "huge", "all"));
        Assert.Equal(65532, ok.Entries[0].Configuration.Shape.HugePages);
        Assert.Throws<GupSimException>(() => CheckSpace.Build(X86OneGig("17178558465", "huge", "all")));
    }

    [Fact]
    public void Length_AboveIntMaxValue_OneLine()
    {
        var e = Assert.Throws<GupSimException>(() => CheckSpace.Build(X86OneGig("0", "2147483648", "all")));
        Assert.Equal("--length: 2147483648 pages is more than a pages[] array holds (2147483647 entries; gup_test's nr_pages is an unsigned int too): give a smaller length", e.Message);
        // int.MaxValue pages is 8 TiB − 4 KiB: 8192 huge pages of 1 GiB.
        Assert.Equal(8192, CheckSpace.Build(X86OneGig("0", "2147483647", "all")).Entries[0].Configuration.Shape.HugePages);
    }

    [Theory]
    [InlineData("i386", "4M")]
    [InlineData("i386-pae", "2M")]
    public void Hotplug_On32Bit_BootsWith512M(string arch, string size)
    {
        // A hot-plug shape boots with only its other RAM, 512 MiB on 32-bit: whole sections (i386 SECTION_SIZE_BITS
        // 26 = 64 MiB, PAE 29 = 512 MiB), not rounded up to 1 GiB. Boot shapes keep the arch default, 2 GiB.
        var space = CheckSpace.Build(X86OneGig("0", "1", "all") with { Arches = arch, Models = "sparsemem", Placements = "boot,hotplug", HugepageSizes = size });
        var ram = space.Entries.Select(e => (e.Configuration.Shape.Placement, e.Configuration.Shape.RamBytes)).ToArray();
        Assert.Equal([(CheckPlacement.Boot, 2UL << 30), (CheckPlacement.Hotplug, 512UL << 20)], ram);
    }

    [Fact]
    public void Fingerprint_IsOfTheResolvedValues_NotTheirSpelling()
    {
        string a = CheckSpace.Build(X86OneGig("0,boundary-1", "1,huge", "1,all")).Fingerprint;
        Assert.Equal(a, CheckSpace.Build(X86OneGig("00, BOUNDARY-1", "1,Huge", "01,-1")).Fingerprint);
        Assert.NotEqual(a, CheckSpace.Build(X86OneGig("0,boundary", "1,huge", "1,all")).Fingerprint);
    }

    private static string ConfigWithout(string name, string symbol, bool keepHeader)
    {
        string src = Path.Combine(AppContext.BaseDirectory, "data", "kernel-configs", "6.1-amd64_none_amd64.config");
        string path = Path.Combine(Path.GetTempPath(), $"gupsim-space-{name}-{Guid.NewGuid():N}.config");
        File.WriteAllLines(path, File.ReadAllLines(src).Where(l => !l.Contains(symbol, StringComparison.Ordinal) && (keepHeader || !l.StartsWith("# Linux/", StringComparison.Ordinal))));
        return path;
    }

    [Fact]
    public void FastPaths_AKconfigWrittenFileWithoutHaveFastGup_HasNone()
    {
        // CONFIG_HAVE_FAST_GUP is selected, never asked: Kconfig writes no line when it is not set. A headered file
        // without it: the 3 fast paths are skipped ("config"), the 3 slow ones run (boot, 2M, one position each).
        string headered = ConfigWithout("headered", "HAVE_FAST_GUP", keepHeader: true);
        string fragment = ConfigWithout("fragment", "HAVE_FAST_GUP", keepHeader: false);
        try
        {
            var options = new CheckSpaceOptions { ConfigFile = headered, Placements = "boot", HugepageSizes = "2M", Churn = "0", Offsets = "0", Lengths = "1", Batches = "all" };
            var space = CheckSpace.Build(options);
            Assert.Equal([CheckPath.SlowGet, CheckPath.SlowPin, CheckPath.SlowLongterm], space.Entries.Select(e => e.Configuration.Path).ToArray());
            Assert.Equal(3, space.SkippedBy["config"]);
            // A header-less fragment does not say: every path runs.
            var all = CheckSpace.Build(options with { ConfigFile = fragment, Kernels = "6.1" });
            Assert.Equal(6, all.Entries.Count);
            Assert.False(all.SkippedBy.ContainsKey("config"));
        }
        finally
        {
            File.Delete(headered);
            File.Delete(fragment);
        }
    }

    [Theory]
    [InlineData("3/2", "--shard 3/2: the index is 0-based and must be below the count: the shards of 2 are 0/2 to 1/2")]
    [InlineData("2/2", "--shard 2/2: the index is 0-based and must be below the count: the shards of 2 are 0/2 to 1/2")]
    [InlineData("a/b", "--shard: 'a/b' is not I/N: give the shard's 0-based index and the shard count, e.g. --shard 0/4 ($SLURM_ARRAY_TASK_ID/N)")]
    [InlineData("0/0", "--shard 0/0: the shard count must be at least 1 (e.g. --shard 0/4)")]
    [InlineData("-1/4", "--shard: '-1/4' is not I/N: give the shard's 0-based index and the shard count, e.g. --shard 0/4 ($SLURM_ARRAY_TASK_ID/N)")]
    [InlineData("1", "--shard: '1' is not I/N: give the shard's 0-based index and the shard count, e.g. --shard 0/4 ($SLURM_ARRAY_TASK_ID/N)")]
    public void BadShardSpec_OneLine(string spec, string message)
    {
        var e = Assert.Throws<GupSimException>(() => CheckShardSpec.Parse(spec));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void ShardSpec_Parses()
    {
        Assert.Equal(new CheckShardSpec(3, 4), CheckShardSpec.Parse("3/4"));
        Assert.Equal("0/1", CheckShardSpec.Parse("0/1").ToString());
    }
}

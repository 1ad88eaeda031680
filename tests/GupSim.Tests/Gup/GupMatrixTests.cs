using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>
/// The "never wrong" matrix (page + n == pfn_to_page(pfn + n) on FLATMEM, DISCONTIGMEM, VMEMMAP, pages within one section) across arches, huge page sizes, memory models and versions, the Trap-2 batch
/// sweep, and GUP's error and edge cases. Every expectation is computed from the placement of the section memmaps
/// (<see cref="KnownAddresses"/>: literal vmemmap bases, memblock addresses through the literal linear map), never
/// from the simulator's own pfn_to_page.
/// </summary>
internal static class GupMatrix
{
    public const int AllInOneCall = 0;
    public static readonly int[] Batches = [1, 123, 512, AllInOneCall];

    public sealed record Setup(Machine M, MmStruct Mm, ulong Addr, ulong HeadPfn, int Pages, ulong Size);

    public static Setup BootAndFault(string arch, string sizeText, string version, MemoryModel model, MemmapPlacement placement, ulong ram = 8 * G)
    {
        var a = ArchProfiles.Get(arch, KernelVersion.Parse(version));
        ulong size = ByteSize.Parse(sizeText);
        var m = Machine.Boot(new MachineSpec
        {
            Arch = a,
            Model = model,
            Placement = placement,
            Seed = 7,
            Ram = Ram((a.DefaultRamStart, a.DefaultRamStart + ram)),
            Hugepages = HugepagesCmdline.Parse($"hugepagesz={sizeText} hugepages=2", null),
        });
        Assert.Equal(model, m.Model);
        var mm = MmStruct.Create(m)!;
        long addr = mm.Mmap(0, size, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(size));
        Assert.True(addr > 0, $"mmap returned {addr}");
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)addr, FaultFlags.Write));
        ulong head = mm.PageTable.Read(mm.PageTable.HugePteOffset((ulong)addr, size)!.Value).Pfn.Value;
        int pages = (int)(size >> a.PageShift);
        Assert.Equal(0UL, head % (ulong)pages); // naturally aligned
        return new Setup(m, mm, (ulong)addr, head, pages, size);
    }

    /// <summary>
    /// The section memmaps as boot placed them, the independent oracle: <see cref="KnownAddresses"/> (the literal
    /// vmemmap base under VMEMMAP; the memblock address of each classic memmap through the literal linear map).
    /// </summary>
    public sealed class Placement(Machine m)
    {
        /// <summary>Where the struct page of <paramref name="pfn"/> lives.</summary>
        public ulong CorrectVa(ulong pfn) => KnownAddresses.StructPageVa(m, pfn);

        /// <summary>The pfn whose struct page starts at <paramref name="va"/>, or null when none does.</summary>
        public ulong? OwnerPfn(ulong va) => KnownAddresses.OwnerPfn(m, va);
    }

    /// <summary>The struct page of <paramref name="pfn"/>, from <see cref="KnownAddresses"/> (never pfn_to_page).</summary>
    public static PagePtr Page(Machine m, ulong pfn) => PagePtr.FromAddress(KnownAddresses.StructPageVa(m, pfn));

    public static int PinCountOnPage(Machine m, PagePtr head, int tail) =>
        (int)m.Memory.ReadU32(head.Address + (ulong)(tail * m.StructPageSize) + (ulong)m.Layout.Pincount, "test: pincount");

    /// <summary>
    /// Trap 2 for calls of n &lt; M: a call straddling a boundary has every entry past it wrong (the second way of
    /// counting, by boundaries rather than by entries).
    /// </summary>
    public static int Trap2Wrong(int pphp, int s, int n)
    {
        int count = 0;
        for (int off = 0; off < pphp; off += n)
        {
            int len = Math.Min(n, pphp - off), toBoundary = s - off % s;
            if (toBoundary < len) count += len - toBoundary;
        }
        return count;
    }

    private static readonly (string Arch, string Size)[] ArchSizes =
    [
        ("x86_64", "2M"), ("x86_64", "1G"),
        ("arm64-4k", "64K"), ("arm64-4k", "2M"), ("arm64-4k", "32M"), ("arm64-4k", "1G"),
        ("arm64-64k", "2M"), ("arm64-64k", "512M"),
        ("ppc64", "16M"),
    ];

    /// <summary>
    /// "Never wrong" (include/asm-generic/memory_model.h: VMEMMAP is vmemmap + pfn): each arch/size × model available in the version (VMEMMAP always; classic
    /// SPARSEMEM with the boot buffer where Kconfig offers it) × v5.11/v5.12/v6.1, kept when the huge page fits in one
    /// section or the model is VMEMMAP; plus arm64-4K 1 GiB on v5.11 with scattered memmaps (1 GiB sections).
    /// </summary>
    public static List<(string Arch, string Size, string Version, MemoryModel Model, MemmapPlacement Placement)> AllNeverWrongRows()
    {
        var rows = new List<(string, string, string, MemoryModel, MemmapPlacement)>();
        foreach (var (arch, size) in ArchSizes)
            foreach (string v in new[] { "5.11", "5.12", "6.1" })
            {
                var a = ArchProfiles.Get(arch, KernelVersion.Parse(v));
                ulong bytes = ByteSize.Parse(size);
                ulong sectionBytes = 1UL << a.SectionSizeBits;
                if (a.Models.Contains(MemoryModel.SparsememVmemmap)) rows.Add((arch, size, v, MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer));
                if (a.Models.Contains(MemoryModel.Sparsemem) && bytes <= sectionBytes) rows.Add((arch, size, v, MemoryModel.Sparsemem, MemmapPlacement.BootBuffer));
            }
        rows.Add(("arm64-4k", "1G", "5.11", MemoryModel.Sparsemem, MemmapPlacement.Scattered));
        return rows;
    }

    /// <summary>The rows of one slice ("small": pages below 1 GiB; "x86_64-1G", "arm64-4k-1G"), for parallel test classes.</summary>
    public static TheoryData<string, string, string, MemoryModel, MemmapPlacement> NeverWrongRows(string slice)
    {
        var data = new TheoryData<string, string, string, MemoryModel, MemmapPlacement>();
        foreach (var r in AllNeverWrongRows())
            if (slice == (r.Size == "1G" ? r.Arch + "-1G" : "small")) data.Add(r.Arch, r.Size, r.Version, r.Model, r.Placement);
        return data;
    }

    /// <summary>
    /// Pins the whole huge page with pin_user_pages_fast and pin_user_pages_remote, in calls of 1, 123, 512 and one
    /// call for all; checks every entry, the count, the head's refcount and pincount deltas, and that unpinning
    /// restores both.
    /// </summary>
    public static void RunNeverWrong(string arch, string size, string version, MemoryModel model, MemmapPlacement placement, ulong ram = 8 * G)
    {
        var s = BootAndFault(arch, size, version, model, placement, ram);
        var m = s.M;
        var pl = new Placement(m);
        var sp = m.StructPages;
        var head = m.PfnToPage(Pfn.FromUInt64(s.HeadPfn));
        Assert.Equal(pl.CorrectVa(s.HeadPfn), head.Address);
        // Pincount location (include/linux/mm_types.h; 5232c63f46fd, v5.18): page[2] before v5.18, page[1] from v5.18.
        int pincountPage = m.Version >= KernelVersion.V5_18 ? 1 : 2;
        Assert.Equal(pincountPage, m.Layout.PincountPage);
        var expected = new ulong[s.Pages];
        for (int i = 0; i < s.Pages; i++) expected[i] = pl.CorrectVa(s.HeadPfn + (ulong)i);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[s.Pages];
        int ref0 = sp.Refcount(head);
        Assert.Equal(0, sp.CompoundPincount(head));
        foreach (bool fast in new[] { true, false })
            foreach (int batch in Batches)
            {
                string what = $"{(fast ? "pin_user_pages_fast" : "pin_user_pages_remote")} in calls of {(batch == AllInOneCall ? "all" : batch)}";
                Array.Clear(pages);
                int n = batch == AllInOneCall ? s.Pages : batch;
                for (int done = 0; done < s.Pages;)
                {
                    int len = Math.Min(n, s.Pages - done);
                    ulong at = s.Addr + ((ulong)done << m.Arch.PageShift);
                    var span = pages.AsSpan(done, len);
                    long got = fast ? gup.PinUserPagesFast(s.Mm, at, len, FollFlags.Write, span) : gup.PinUserPagesRemote(s.Mm, at, len, FollFlags.Write, span);
                    if (got != len) Assert.Fail($"{what}: call at subpage {done} returned {got}, want {len}");
                    done += len;
                }
                for (int i = 0; i < s.Pages; i++)
                    if (pages[i].Address != expected[i])
                        Assert.Fail($"{what}: pages[{i}] = {pages[i]} (struct page of pfn {pl.OwnerPfn(pages[i].Address):x}), want {expected[i]:x} (pfn {s.HeadPfn + (ulong)i:x})");
                // FOLL_PIN on order ≥ 2: _refcount += n and pincount += n (mm/gup.c try_grab_compound_head(), v5.11).
                Assert.Equal(ref0 + s.Pages, sp.Refcount(head));
                Assert.Equal(s.Pages, sp.CompoundPincount(head));
                Assert.Equal(s.Pages, PinCountOnPage(m, head, pincountPage));
                Assert.True(m.Grab.PageMaybeDmaPinned(pages[s.Pages - 1]));
                m.Grab.UnpinUserPages(pages);
                Assert.Equal(ref0, sp.Refcount(head));
                Assert.Equal(0, sp.CompoundPincount(head));
                Assert.False(m.Grab.PageMaybeDmaPinned(head));
                Assert.Equal(m.Grab.FollPinAcquired, m.Grab.FollPinReleased);
            }
        Assert.DoesNotContain(m.KernelLog, l => l.Contains("BUG") || l.Contains("WARNING"));
    }
}

/// <summary>The "never wrong" matrix, huge pages below 1 GiB.</summary>
public class GupMatrixNeverWrongTests
{
    [Fact]
    public void NeverWrongRows_CoverTheExpectedConfigurations()
    {
        var rows = GupMatrix.AllNeverWrongRows().Select(r => $"{r.Arch} {r.Size} v{r.Version} {r.Model.ToName()} {r.Placement}").ToList();
        Assert.Equal(rows.Count, rows.Distinct().Count());
        // x86_64: 1 GiB on classic SPARSEMEM spans 8 sections → only VMEMMAP rows; 2 MiB on both.
        Assert.DoesNotContain("x86_64 1G v5.12 sparsemem BootBuffer", rows);
        Assert.Contains("x86_64 2M v5.12 sparsemem BootBuffer", rows);
        Assert.Contains("x86_64 1G v6.1 sparsemem-vmemmap BootBuffer", rows);
        // arm64 forces VMEMMAP from v6.1; v5.12 shrank the 4K section to 128 MiB (1 GiB no longer fits).
        Assert.DoesNotContain("arm64-4k 2M v6.1 sparsemem BootBuffer", rows);
        Assert.Contains("arm64-4k 1G v5.11 sparsemem BootBuffer", rows);
        Assert.DoesNotContain("arm64-4k 1G v5.12 sparsemem BootBuffer", rows);
        Assert.Contains("arm64-4k 1G v5.11 sparsemem Scattered", rows);
        Assert.Contains("arm64-64k 512M v5.12 sparsemem BootBuffer", rows); // 512 MiB section = 512 MiB page
        Assert.Contains("ppc64 16M v6.1 sparsemem BootBuffer", rows);       // 16 MiB section = 16 MiB page
        // x86 2M: 6; x86 1G: 3; arm64-4k 64K/2M/32M: 5 each, 1G: 4 + scattered; arm64-64k: 5 + 5; ppc64 16M: 6.
        Assert.Equal(45, rows.Count);
        Assert.Equal(45, new[] { "small", "x86_64-1G", "arm64-4k-1G" }.Sum(sl => GupMatrix.NeverWrongRows(sl).Count()));
    }

    [Theory]
    [MemberData(nameof(GupMatrix.NeverWrongRows), "small", MemberType = typeof(GupMatrix))]
    public void NeverWrong_PinWholeHugePage_FastAndRemote_EveryBatch(string arch, string size, string version, MemoryModel model, MemmapPlacement placement) =>
        GupMatrix.RunNeverWrong(arch, size, version, model, placement);
}

/// <summary>The "never wrong" matrix, x86_64 1 GiB pages (VMEMMAP only: 8 sections per page).</summary>
public class GupMatrixNeverWrongX86_1GTests
{
    [Theory]
    [MemberData(nameof(GupMatrix.NeverWrongRows), "x86_64-1G", MemberType = typeof(GupMatrix))]
    public void NeverWrong_PinWholeHugePage_FastAndRemote_EveryBatch(string arch, string size, string version, MemoryModel model, MemmapPlacement placement) =>
        GupMatrix.RunNeverWrong(arch, size, version, model, placement);
}

/// <summary>The "never wrong" matrix, arm64-4K 1 GiB pages (1 GiB sections on v5.11).</summary>
public class GupMatrixArm64_1GTests
{
    [Theory]
    [MemberData(nameof(GupMatrix.NeverWrongRows), "arm64-4k-1G", MemberType = typeof(GupMatrix))]
    public void NeverWrong_PinWholeHugePage_FastAndRemote_EveryBatch(string arch, string size, string version, MemoryModel model, MemmapPlacement placement) =>
        GupMatrix.RunNeverWrong(arch, size, version, model, placement);
}

/// <summary>arm64-4K 1 GiB pages on v5.12 with scattered classic SPARSEMEM memmaps: the row where they go wrong.</summary>
public class GupMatrixArm64_1GV5_12Tests
{
    /// <summary>
    /// The v5.12 counterpart of the arm64-4K 1 GiB v5.11 row: 128 MiB sections (f0b13ee23241), 8 per huge page,
    /// scattered memmaps. gup-fast's PUD leaf uses page++ until v5.18 (Trap 1): every subpage past the first section
    /// is wrong. The slow path (82e5d378b0e4 as merged) is wrong by the Trap-2 formula only. Each entry's address is
    /// predicted from the version's arithmetic over the placement, and the wrong count from what lives there.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void V5_12_Scattered_WrongExactlyAsThePlacementPredicts(bool fast)
    {
        var s = GupMatrix.BootAndFault("arm64-4k", "1G", "5.12", MemoryModel.Sparsemem, MemmapPlacement.Scattered);
        var m = s.M;
        var pl = new GupMatrix.Placement(m);
        const int S = 32768; // 128 MiB / 4 KiB
        int mx = (int)m.MemMap.MaxOrderNrPages;
        Assert.Equal((ulong)S, m.Arch.PagesPerSection);
        Assert.Equal(1024, mx);
        var sp = m.StructPages;
        var head = GupMatrix.Page(m, s.HeadPfn);
        ulong headVa = pl.CorrectVa(s.HeadPfn);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[s.Pages];
        foreach (int batch in GupMatrix.Batches)
        {
            string what = $"{(fast ? "pin_user_pages_fast" : "pin_user_pages_remote")} in calls of {(batch == GupMatrix.AllInOneCall ? "all" : batch)}";
            int n = batch == GupMatrix.AllInOneCall ? s.Pages : batch;
            int ref0 = sp.Refcount(head), pin0 = sp.CompoundPincount(head);
            int predictedWrong = 0, wrong = 0, formula = 0;
            Array.Clear(pages);
            for (int done = 0; done < s.Pages;)
            {
                int len = Math.Min(n, s.Pages - done);
                ulong at = s.Addr + ((ulong)done << 12);
                var span = pages.AsSpan(done, len);
                long got = fast ? gup.PinUserPagesFast(s.Mm, at, len, FollFlags.Write, span) : gup.PinUserPagesRemote(s.Mm, at, len, FollFlags.Write, span);
                Assert.Equal(len, got);
                ulong callBase = pl.CorrectVa(s.HeadPfn + (ulong)done); // mem_map_offset(head, off): right for off < M and ≥ M
                for (int nr = 0; nr < len; nr++)
                {
                    ulong pfn = s.HeadPfn + (ulong)(done + nr);
                    // gup-fast: pud_page + offset, then page++ (pointer arithmetic from the head);
                    // slow: mem_map_offset(base, nr) = base + nr for 1 ≤ nr < M, a pfn round trip otherwise.
                    ulong predictedVa = fast ? headVa + (ulong)(done + nr) * 64
                        : nr >= 1 && nr < mx ? callBase + (ulong)nr * 64 : pl.CorrectVa(pfn);
                    if (span[nr].Address != predictedVa) Assert.Fail($"{what}: pages[{done + nr}] = {span[nr]}, predicted {predictedVa:x}");
                    if (pl.OwnerPfn(predictedVa) != pfn) predictedWrong++;
                    if (span[nr].Address != pl.CorrectVa(pfn)) wrong++;
                    if (nr >= 1 && nr < mx && done % S + nr >= S) formula++;
                }
                done += len;
            }
            Assert.Equal(predictedWrong, wrong);
            // Trap 1: everything past the first section, whatever the batch; Trap 2: the formula (0 for 1, 512, all).
            Assert.Equal(fast ? s.Pages - S : formula, wrong);
            if (!fast) Assert.Equal(batch == 123 ? GupMatrix.Trap2Wrong(s.Pages, S, 123) : 0, wrong);
            // The head is grabbed right either way: gup_huge_pud() grabs pud_page(orig) (mm/gup.c, v5.11).
            Assert.Equal(ref0 + s.Pages, sp.Refcount(head));
            Assert.Equal(pin0 + s.Pages, sp.CompoundPincount(head));
            if (wrong != 0) continue; // releasing wrong entries would act on whatever they point at
            m.Grab.UnpinUserPages(pages);
            Assert.Equal(ref0, sp.Refcount(head));
            Assert.Equal(pin0, sp.CompoundPincount(head));
        }
    }
}

/// <summary>82e5d378b0e4 (mm/hugetlb.c, v5.12) mem_map_offset() on an advanced base: x86_64, classic SPARSEMEM with scattered memmaps, 1 GiB page, slow path in calls of n.</summary>
public class GupMatrixTrap2SweepTests
{
    [Theory]
    [InlineData("5.12", 1)]
    [InlineData("5.12", 123)]
    [InlineData("5.12", 512)]
    [InlineData("5.12", 1000)]
    [InlineData("5.12", 4096)]
    [InlineData("5.12", 262144)]
    [InlineData("6.1", 1)]
    [InlineData("6.1", 123)]
    [InlineData("6.1", 512)]
    [InlineData("6.1", 1000)]
    [InlineData("6.1", 4096)]
    [InlineData("6.1", 262144)]
    public void Trap2_BatchSweep_X86_1G_ScatteredSparse(string version, int n)
    {
        // A machine of its own per row: nothing one row pins (or leaves pinned) is seen by another.
        var s = GupMatrix.BootAndFault("x86_64", "1G", version, MemoryModel.Sparsemem, MemmapPlacement.Scattered);
        var m = s.M;
        var pl = new GupMatrix.Placement(m);
        const int S = 32768, Mx = 1024, Pphp = 262144;
        Assert.Equal((ulong)S, m.Arch.PagesPerSection);
        Assert.Equal((ulong)Mx, m.MemMap.MaxOrderNrPages);
        var sp = m.StructPages;
        var head = GupMatrix.Page(m, s.HeadPfn);
        int ref0 = sp.Refcount(head), pin0 = sp.CompoundPincount(head);
        long acquired0 = m.Grab.FollPinAcquired, released0 = m.Grab.FollPinReleased;
        // A freshly faulted private hugetlb page: one reference (the mapping), no pins, none taken yet.
        Assert.Equal((1, 0, 0L, 0L), (ref0, pin0, acquired0, released0));
        var gup = new GetUserPages(m);
        var pages = new PagePtr[Pphp];
        for (int off = 0; off < Pphp; off += n)
        {
            int len = Math.Min(n, Pphp - off);
            Assert.Equal(len, gup.PinUserPagesRemote(s.Mm, s.Addr + (ulong)off * 4096, len, FollFlags.Write, pages.AsSpan(off, len)));
        }
        int wrong = 0;
        for (int i = 0; i < Pphp; i++)
            if (pages[i].Address != pl.CorrectVa(s.HeadPfn + (ulong)i)) wrong++;
        // Trap 2: wrong iff 1 ≤ nr < M and (pfn_offset mod S) + nr ≥ S, call k at pfn_offset = k·n (v5.12 only).
        int expected = 0;
        if (version == "5.12")
            for (int off = 0; off < Pphp; off += n)
            {
                int len = Math.Min(n, Pphp - off);
                for (int nr = 1; nr < Math.Min(len, Mx); nr++)
                    if (off % S + nr >= S) expected++;
            }
        Assert.Equal(expected, wrong);
        if (version == "5.12")
        {
            // Calls of 512 or 4096 and one whole-page call never trigger; calls of 1 cannot (nr = 0).
            if (n is 1 or 512 or 4096 or 262144) Assert.Equal(0, wrong);
            else Assert.Equal(GupMatrix.Trap2Wrong(Pphp, S, n), wrong);
            if (n == 1000)
                for (int nr = 0; nr < 1000; nr++) // the chunk at 32000: exactly nr 768…999 are wrong
                    Assert.Equal(nr >= 768, pages[32000 + nr].Address != pl.CorrectVa(s.HeadPfn + 32000 + (ulong)nr));
        }
        Assert.Equal(ref0 + Pphp, sp.Refcount(head));
        Assert.Equal(pin0 + Pphp, sp.CompoundPincount(head));
        Assert.Equal(acquired0 + Pphp, m.Grab.FollPinAcquired);
        if (wrong != 0) return; // releasing wrong entries would act on whatever they point at (can oops)
        m.Grab.UnpinUserPages(pages);
        Assert.Equal(ref0, sp.Refcount(head));
        Assert.Equal(pin0, sp.CompoundPincount(head));
        Assert.Equal(released0 + Pphp, m.Grab.FollPinReleased);
    }
}

/// <summary>GUP errors and edge cases, with exact return values.</summary>
public class GupMatrixEdgeCaseTests
{
    private static ulong Va(Machine m, ulong pfn) => new GupMatrix.Placement(m).CorrectVa(pfn);

    private static (Machine M, MmStruct Mm) BootX86(string version, int hugepages2M)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
            Model = MemoryModel.SparsememVmemmap,
            Ram = Ram((0, 8 * G)),
            Hugepages = HugepagesCmdline.Parse($"hugepagesz=2M hugepages={hugepages2M}", null),
        });
        return (m, MmStruct.Create(m)!);
    }

    private static long MapHuge2M(MmStruct mm, ulong len, Prot prot) =>
        mm.Mmap(0, len, prot, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(2 * M));

    [Theory]
    [InlineData("5.11", true)]
    [InlineData("5.11", false)]
    [InlineData("5.12", true)]
    [InlineData("5.12", false)]
    [InlineData("6.1", true)]
    [InlineData("6.1", false)]
    public void PinAcrossTheEndOfTheMapping_ReturnsThePartialCount(string version, bool fast)
    {
        var (m, mm) = BootX86(version, 2);
        long a = MapHuge2M(mm, 2 * M, Prot.Read | Prot.Write);
        Assert.True(a > 0);
        Assert.Null(mm.VmaAt((ulong)a + 2 * M)); // nothing mapped right after
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.Write));
        ulong head = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value;
        var headPage = GupMatrix.Page(m, head);
        int ref0 = m.StructPages.Refcount(headPage);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[8];
        ulong start = (ulong)a + 2 * M - 3 * 4096;
        long got = fast ? gup.PinUserPagesFast(mm, start, 8, FollFlags.Write, pages) : gup.PinUserPagesRemote(mm, start, 8, FollFlags.Write, pages);
        Assert.Equal(3, got);
        for (int i = 0; i < 3; i++) Assert.Equal(Va(m, head + 509 + (ulong)i), pages[i].Address);
        for (int i = 3; i < 8; i++) Assert.Equal(default, pages[i]);
        Assert.Equal(ref0 + 3, m.StructPages.Refcount(headPage));
        Assert.Equal(3, m.StructPages.CompoundPincount(headPage));
        m.Grab.UnpinUserPages(pages.AsSpan(0, 3));
        Assert.Equal(ref0, m.StructPages.Refcount(headPage));
        Assert.Equal(0, m.StructPages.CompoundPincount(headPage));
        // Entirely past the end: nothing taken, −EFAULT.
        got = fast ? gup.PinUserPagesFast(mm, (ulong)a + 2 * M, 4, FollFlags.Write, pages) : gup.PinUserPagesRemote(mm, (ulong)a + 2 * M, 4, FollFlags.Write, pages);
        Assert.Equal(-(long)Errno.EFAULT, got);
        Assert.Equal(m.Grab.FollPinAcquired, m.Grab.FollPinReleased);
    }

    [Theory]
    [InlineData("5.11")]
    [InlineData("5.12")]
    [InlineData("6.1")]
    public void FastOnly_OnARangeNotFaultedIn_ReturnsZero_AndFaultsNothing(string version)
    {
        var (m, mm) = BootX86(version, 4);
        long a = MapHuge2M(mm, 4 * M, Prot.Read | Prot.Write);
        Assert.True(a > 0);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[1024];
        ulong free0 = m.Hugetlb.Find(2 * M)!.FreeHugePages;
        Assert.Equal(0, gup.InternalGetUserPagesFast(mm, (ulong)a, 1024, FollFlags.Pin | FollFlags.FastOnly, pages));
        Assert.Equal(0, gup.InternalGetUserPagesFast(mm, (ulong)a, 1024, FollFlags.Get | FollFlags.FastOnly | FollFlags.Write, pages));
        Assert.Equal(0, m.Grab.FollPinAcquired);
        Assert.Equal(free0, m.Hugetlb.Find(2 * M)!.FreeHugePages);
        Assert.All(pages, p => Assert.Equal(default, p));
        var slot = mm.PageTable.HugePteOffset((ulong)a, 2 * M);
        Assert.True(slot is null || mm.PageTable.Read(slot.Value).IsNone);
        // Half faulted in: FAST_ONLY stops at the first missing huge page and returns what it took (never an error).
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.Write));
        Assert.Equal(512, gup.InternalGetUserPagesFast(mm, (ulong)a, 1024, FollFlags.Pin | FollFlags.FastOnly | FollFlags.Write, pages));
        ulong head = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value;
        for (int i = 0; i < 512; i++) Assert.Equal(Va(m, head + (ulong)i), pages[i].Address);
        Assert.Equal(default, pages[512]);
        m.Grab.UnpinUserPages(pages.AsSpan(0, 512));
        Assert.Equal(m.Grab.FollPinAcquired, m.Grab.FollPinReleased);
    }

    [Theory]
    [InlineData("5.11")]
    [InlineData("5.12")]
    [InlineData("6.1")]
    public void GetUserPagesFast_WriteOnReadOnlyMapping_IsEfault(string version)
    {
        var (m, mm) = BootX86(version, 2);
        var gup = new GetUserPages(m);
        var pages = new PagePtr[4];
        // Read-only private hugetlb mapping, faulted in by a read.
        long h = MapHuge2M(mm, 2 * M, Prot.Read);
        Assert.True(h > 0);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)h, FaultFlags.None));
        ulong head = mm.WalkLeaf((ulong)h)!.Value.Entry.Pfn.Value;
        var headPage = GupMatrix.Page(m, head);
        int ref0 = m.StructPages.Refcount(headPage);
        Assert.Equal(-(long)Errno.EFAULT, gup.GetUserPagesFast(mm, (ulong)h, 4, FollFlags.Write, pages));
        Assert.Equal(ref0, m.StructPages.Refcount(headPage));
        Assert.False(mm.WalkLeaf((ulong)h)!.Value.Entry.IsWrite);
        // Not faulted in at all: the same.
        long h2 = MapHuge2M(mm, 2 * M, Prot.Read);
        Assert.True(h2 > 0);
        Assert.Equal(-(long)Errno.EFAULT, gup.GetUserPagesFast(mm, (ulong)h2, 4, FollFlags.Write, pages));
        // Read-only anonymous 4 KiB memory (zero page mapped by a read fault).
        long ro = mm.Mmap(0, 64 * 1024, Prot.Read, MapFlags.Private | MapFlags.Anonymous);
        Assert.True(ro > 0);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)ro, FaultFlags.None));
        Assert.Equal(-(long)Errno.EFAULT, gup.GetUserPagesFast(mm, (ulong)ro, 4, FollFlags.Write, pages));
        // Reading is fine: exactly the pages, one reference each on the head.
        Assert.Equal(4, gup.GetUserPagesFast(mm, (ulong)h, 4, FollFlags.None, pages));
        for (int i = 0; i < 4; i++) Assert.Equal(Va(m, head + (ulong)i), pages[i].Address);
        Assert.Equal(ref0 + 4, m.StructPages.Refcount(headPage));
        m.Grab.PutPages(pages);
        Assert.Equal(ref0, m.StructPages.Refcount(headPage));
    }

    /// <summary>
    /// A MAP_PRIVATE mapping of a hugetlbfs page-cache page is mapped read-only; pinning it with FOLL_WRITE faults with
    /// FAULT_FLAG_WRITE (follow_hugetlb_page → hugetlb_fault → hugetlb_cow): a private copy replaces it, writable, and
    /// pages[] points into the copy. The page cache and the shared mapping keep the original.
    /// </summary>
    [Theory]
    [InlineData("5.11", true)]
    [InlineData("5.11", false)]
    [InlineData("5.12", true)]
    [InlineData("5.12", false)]
    [InlineData("6.1", true)]
    [InlineData("6.1", false)]
    public void PinWithWrite_OfAPrivateReadOnlyMappedHugetlbPage_BreaksCow(string version, bool fast)
    {
        var (m, mm) = BootX86(version, 4);
        m.Hugetlb.Mounts.Mount("/mnt/huge", 2 * M);
        var file = m.Hugetlb.Mounts.OpenOrCreate("/mnt/huge/f");
        long shared = mm.Mmap(0, 2 * M, Prot.Read | Prot.Write, MapFlags.Shared, file);
        Assert.True(shared > 0);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)shared, FaultFlags.Write));
        ulong cached = file.PageCache[0];
        long priv = mm.Mmap(0, 2 * M, Prot.Read | Prot.Write, MapFlags.Private, file);
        Assert.True(priv > 0);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)priv, FaultFlags.None));
        var before = mm.WalkLeaf((ulong)priv)!.Value.Entry;
        Assert.Equal(cached, before.Pfn.Value);
        Assert.False(before.IsWrite);
        var sp = m.StructPages;
        var oldPage = GupMatrix.Page(m, cached);
        int oldRef = sp.Refcount(oldPage);

        var gup = new GetUserPages(m);
        var pages = new PagePtr[512];
        long got = fast ? gup.PinUserPagesFast(mm, (ulong)priv, 512, FollFlags.Write, pages) : gup.PinUserPagesRemote(mm, (ulong)priv, 512, FollFlags.Write, pages);
        Assert.Equal(512, got);
        var after = mm.WalkLeaf((ulong)priv)!.Value.Entry;
        Assert.True(after.IsWrite);
        ulong copy = after.Pfn.Value;
        Assert.NotEqual(cached, copy);
        for (int i = 0; i < 512; i++) Assert.Equal(Va(m, copy + (ulong)i), pages[i].Address);
        var copyPage = GupMatrix.Page(m, copy);
        Assert.Equal(1 + 512, sp.Refcount(copyPage)); // the private mapping's reference + the pins
        Assert.Equal(512, sp.CompoundPincount(copyPage));
        Assert.Equal(0, sp.CompoundPincount(oldPage));
        Assert.Equal(oldRef - 1, sp.Refcount(oldPage)); // the private mapping let go of the cached page
        Assert.Equal(cached, file.PageCache[0]);
        Assert.Equal(cached, mm.WalkLeaf((ulong)shared)!.Value.Entry.Pfn.Value);
        m.Grab.UnpinUserPages(pages);
        Assert.Equal(1, sp.Refcount(copyPage));
        Assert.Equal(0, sp.CompoundPincount(copyPage));
        Assert.Equal(m.Grab.FollPinAcquired, m.Grab.FollPinReleased);
    }

    /// <summary>
    /// A read fault on a MAP_PRIVATE hugetlb mapping maps the new page read-only: hugetlb_no_page() builds the entry
    /// with make_huge_pte(vma, page, (vm_flags &amp; VM_WRITE) &amp;&amp; (vm_flags &amp; VM_SHARED)) in every version
    /// covered; only a write fault on a private mapping COWs (reuses) it at once. So gup-fast with FOLL_WRITE cannot
    /// take it (pXd_access_permitted) and FOLL_FAST_ONLY returns 0. GupSim's HugetlbNoPage follows the kernel here
    /// (<c>writable = VM_WRITE &amp;&amp; VM_SHARED</c>), so the assertion below is the kernel's answer: no page.
    /// </summary>
    [Fact] // regression: private hugetlb pages are mapped read-only on a read fault (make_huge_pte)
    public void ReadFaultOnPrivateHugetlb_MapsReadOnly_SoFastOnlyWritePinTakesNothing()
    {
        var (m, mm) = BootX86("5.12", 2);
        long a = MapHuge2M(mm, 2 * M, Prot.Read | Prot.Write);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.None));
        Assert.False(mm.WalkLeaf((ulong)a)!.Value.Entry.IsWrite);
        var pages = new PagePtr[512];
        Assert.Equal(0, new GetUserPages(m).InternalGetUserPagesFast(mm, (ulong)a, 512, FollFlags.Pin | FollFlags.FastOnly | FollFlags.Write, pages));
    }

    /// <summary>The end result both ways: a FOLL_WRITE pin after a read fault gets the same (exclusive) page, writable.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WritePinAfterReadFault_OnPrivateHugetlb_KeepsTheSamePage(bool fast)
    {
        var (m, mm) = BootX86("5.12", 2);
        long a = MapHuge2M(mm, 2 * M, Prot.Read | Prot.Write);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.None));
        ulong head = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value;
        var gup = new GetUserPages(m);
        var pages = new PagePtr[512];
        long got = fast ? gup.PinUserPagesFast(mm, (ulong)a, 512, FollFlags.Write, pages) : gup.PinUserPagesRemote(mm, (ulong)a, 512, FollFlags.Write, pages);
        Assert.Equal(512, got);
        var leaf = mm.WalkLeaf((ulong)a)!.Value.Entry;
        Assert.True(leaf.IsWrite);
        Assert.Equal(head, leaf.Pfn.Value);
        for (int i = 0; i < 512; i++) Assert.Equal(Va(m, head + (ulong)i), pages[i].Address);
        m.Grab.UnpinUserPages(pages);
        Assert.Equal(m.Grab.FollPinAcquired, m.Grab.FollPinReleased);
    }
}

using CsCheck;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Tests.Memory;

/// <summary>
/// Property tests over random 64-bit machines: arch, version, model, placement, 1–3 RAM ranges of whole sections with
/// holes, seed. What <c>page + n</c> reaches is computed independently from the placement (mm/sparse.c: one memmap per section).
/// </summary>
public class ModelPropertyTests
{
    private const int Iter = 60;

    private static readonly string[] Arches = ["x86_64", "arm64-4k", "riscv64", "ppc64"];

    /// <summary>A random machine, printable so a failing sample says how to rebuild it.</summary>
    public sealed record RandomMachine(string Arch, KernelVersion Version, MemoryModel Model, MemmapPlacement Placement,
        (ulong StartSection, ulong Sections)[] Ranges, ulong Seed)
    {
        public ArchProfile Profile => ArchProfiles.Get(Arch, Version);

        public Machine Boot()
        {
            var p = Profile;
            ulong sectionBytes = 1UL << p.SectionSizeBits;
            var ranges = Ranges.Select(r => PhysRange.FromStartEnd(r.StartSection * sectionBytes, (r.StartSection + r.Sections) * sectionBytes)).ToList();
            return Machine.Boot(new MachineSpec
            {
                Arch = p,
                Model = Model,
                Placement = Placement,
                Ram = new RamLayout([new NodeRam(0, ranges)], "property"),
                Seed = Seed,
            });
        }

        public override string ToString() =>
            $"{Arch} v{Version} {Model.ToName()} placement={Placement} seed={Seed} ram(sections)=" +
            string.Join(",", Ranges.Select(r => $"[{r.StartSection},{r.StartSection + r.Sections})"));
    }

    private static Gen<RandomMachine> GenMachine(Func<MemoryModel, bool> modelFilter) =>
        Gen.Select(
            Gen.OneOf(Arches),
            Gen.OneOf(KernelVersion.V5_11, KernelVersion.V5_12),
            Gen.Int[0, 11],
            Gen.OneOf(MemmapPlacement.BootBuffer, MemmapPlacement.Scattered),
            Gen.Select(Gen.ULong[0, 16], Gen.ULong[1, 64]).Array[1, 3],
            Gen.ULong[1, 1UL << 40],
            (arch, v, modelIx, placement, pieces, seed) =>
        {
            var p = ArchProfiles.Get(arch, v);
            var models = p.Models.Where(modelFilter).ToList();
            if (models.Count == 0) return null;
            var model = models[modelIx % models.Count];
            // RAM starts at the arch's default RAM start; each range is preceded by a gap of 0–16 sections. The
            // first range holds at least twice the kernel image (ppc64: 64 MiB image, 16 MiB sections), else the
            // machine legitimately cannot boot (the image fills RAM: "not enough memory below the lowmem limit").
            ulong minFirst = (2 * p.KernelImageBytes + (1UL << p.SectionSizeBits) - 1) >> p.SectionSizeBits;
            ulong next = p.DefaultRamStart >> p.SectionSizeBits;
            var ranges = new (ulong, ulong)[pieces.Length];
            for (int i = 0; i < pieces.Length; i++)
            {
                ulong start = next + pieces[i].Item1;
                ranges[i] = (start, i == 0 ? Math.Max(minFirst, pieces[i].Item2) : pieces[i].Item2);
                next = start + ranges[i].Item2;
            }
            return new RandomMachine(arch, v, model, placement, ranges, seed);
        })
        .Where(r => r is not null)
        .Select(r => r!);

    /// <summary>A few RAM pfns per range (first, second, last, a seeded section boundary), deterministically.</summary>
    private static List<ulong> SamplePfns(RandomMachine r)
    {
        var p = r.Profile;
        ulong pps = p.PagesPerSection;
        var rng = new Random((int)(r.Seed % int.MaxValue));
        var pfns = new List<ulong>();
        foreach (var (startSection, sections) in r.Ranges)
        {
            ulong first = startSection * pps, end = (startSection + sections) * pps;
            pfns.Add(first);
            pfns.Add(first + 1);
            pfns.Add(end - 1);
            ulong s = (ulong)rng.NextInt64(0, (long)sections);
            pfns.Add(first + s * pps + pps - 1);
            pfns.Add(first + s * pps + (ulong)rng.NextInt64(0, (long)pps));
        }
        return pfns;
    }

    // (P1) every sampled RAM pfn round-trips through pfn_to_page / page_to_pfn and is described as its own struct page.
    [Fact]
    public void P1_EverySampledRamPfn_RoundTrips()
    {
        GenMachine(_ => true).Sample(r =>
        {
            var m = r.Boot();
            foreach (ulong pfn in SamplePfns(r))
            {
                var page = m.PfnToPage(Pfn.FromUInt64(pfn));
                Assert.Equal(pfn, m.PageToPfn(page).Value);
                var info = m.Describe(page);
                Assert.Equal(AddressKind.Page, info.Kind);
                Assert.Equal(pfn, info.Pfn);
            }
        }, iter: Iter);
    }

    // (P2) page + 1 off the last struct page of every present section lands where the placement says.
    [Fact]
    public void P2_PagePlusOneOffASection_IsWhatThePlacementPutThere()
    {
        GenMachine(model => model is MemoryModel.Sparsemem or MemoryModel.SparsememVmemmap)
            .Sample(CheckP2, iter: Iter);
    }

    private static void CheckP2(RandomMachine r)
    {
        var m = r.Boot();
        ulong pps = m.Arch.PagesPerSection;
        ulong sps = (ulong)m.StructPageSize;
        ulong arrayBytes = pps * sps;
        var sections = m.PresentSections;
        Assert.NotEmpty(sections);
        // Sections sorted by memmap address, for the independent lookup.
        var byVa = sections.OrderBy(s => s.MemmapVa).ToArray();
        for (int i = 0; i < sections.Count; i++)
        {
            var s = sections[i];
            ulong lastPfn = s.StartPfn + pps - 1;
            var last = m.PfnToPage(Pfn.FromUInt64(lastPfn));
            Assert.Equal(s.MemmapVa + (pps - 1) * sps, last.Address);
            var next = m.PageAdd(last, 1);
            ulong a = s.MemmapVa + arrayBytes;
            Assert.Equal(a, next.Address);

            SectionInfo? owner = null;
            foreach (var t in byVa)
            {
                if (t.MemmapVa > a) break;
                if (a < t.MemmapVa + arrayBytes) owner = t;
            }
            var info = m.Describe(next);
            if (owner is not null)
            {
                ulong off = a - owner.MemmapVa;
                Assert.Equal(off % sps == 0 ? AddressKind.Page : AddressKind.Misaligned, info.Kind);
                Assert.Equal(owner.StartPfn + off / sps, info.Pfn);
            }
            else
            {
                Assert.True(info.Kind is AddressKind.Other or AddressKind.Unmapped, $"{r}: section {s.Nr}: expected no struct page at 0x{a:x}, got {info.Kind} pfn {info.Pfn}");
            }

            if (m.Model == MemoryModel.SparsememVmemmap)
            {
                bool nextPresent = i + 1 < sections.Count && sections[i + 1].StartPfn == lastPfn + 1;
                if (nextPresent)
                {
                    Assert.Equal(AddressKind.Page, info.Kind);
                    Assert.Equal(lastPfn + 1, info.Pfn);
                    Assert.Equal(lastPfn + 1, m.PageToPfn(next).Value);
                }
                else
                {
                    Assert.Equal(AddressKind.Unmapped, info.Kind);
                }
            }
            else if (info.Kind == AddressKind.Page)
            {
                // Classic SPARSEMEM page_to_pfn reads the section from page->flags: a valid (maybe wrong) struct
                // page yields its own pfn.
                Assert.Equal(info.Pfn, m.PageToPfn(next).Value);
            }
        }
    }

    // (P3) on VMEMMAP and FLATMEM page + k is never a wrong-but-valid page.
    [Fact]
    public void P3_VmemmapAndFlatmem_PagePlusKIsNeverWrong()
    {
        var gen = Gen.Select(
            GenMachine(model => model is MemoryModel.SparsememVmemmap or MemoryModel.Flatmem),
            Gen.Double[0, 1].Array[8]);
        int ran = 0;
        gen.Sample((r, fractions) =>
        {
            Interlocked.Increment(ref ran);
            var m = r.Boot();
            ulong minPfn = m.MinPfn, maxPfn = m.MaxPfn, span = maxPfn - minPfn;
            for (int i = 0; i + 1 < fractions.Length; i += 2)
            {
                ulong pfn = minPfn + Math.Min(span - 1, (ulong)(fractions[i] * span));
                ulong target = minPfn + Math.Min(span - 1, (ulong)(fractions[i + 1] * span));
                if (!m.IsRam(pfn << m.Arch.PageShift)) continue;
                long k = (long)target - (long)pfn;
                foreach (long kk in new[] { k, k + 1, -k })
                {
                    var p = m.PageAdd(m.PfnToPage(Pfn.FromUInt64(pfn)), kk);
                    var info = m.Describe(p);
                    ulong want = unchecked(pfn + (ulong)kk);
                    bool inSpan = want >= minPfn && want < maxPfn;
                    if (m.Model == MemoryModel.Flatmem && inSpan)
                    {
                        // One mem_map covers the whole node span, holes included.
                        Assert.Equal(AddressKind.Page, info.Kind);
                        Assert.Equal(want, info.Pfn);
                    }
                    else if (inSpan)
                    {
                        Assert.True(info.Kind == AddressKind.Unmapped || (info.Kind == AddressKind.Page && info.Pfn == want),
                            $"{r}: pfn {pfn} + {kk}: got {info.Kind} pfn {info.Pfn}, want {want} or Unmapped");
                        if (info.Kind == AddressKind.Page) Assert.Equal(want, m.PageToPfn(p).Value);
                        if (m.IsRam(want << m.Arch.PageShift)) Assert.Equal(AddressKind.Page, info.Kind);
                    }
                    else
                    {
                        // Outside the span: never a struct page of another pfn.
                        Assert.False(info.Kind == AddressKind.Misaligned || (info.Kind == AddressKind.Page && info.Pfn != want),
                            $"{r}: pfn {pfn} + {kk}: got {info.Kind} pfn {info.Pfn}");
                    }
                }
            }
        }, iter: Iter);
        Assert.True(ran >= Iter, $"only {ran} samples ran");
    }
}

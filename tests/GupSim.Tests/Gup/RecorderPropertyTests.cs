using CsCheck;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim.Tests.Gup;

/// <summary>
/// Property tests of the recorders over random machines — every arch's memory models (FLATMEM, DISCONTIGMEM with
/// one or two nodes, classic SPARSEMEM with boot-buffer or scattered memmaps, SPARSEMEM_VMEMMAP), RAM with holes,
/// hot-added sections — and random heads, offsets and batch lengths: section-run records exactly
/// <c>pfn_to_page(head_pfn + offset + i)</c> for every entry, counts one pfn_to_page per section run (one per call
/// where the memmap is virtually contiguous), and nothing else.
/// </summary>
public class RecorderPropertyTests
{
    private const int Iter = 40;
    private const int SpansPerMachine = 12;

    private static readonly (string Arch, KernelVersion Version)[] Profiles =
    [
        ("x86_64", KernelVersion.V5_11), ("x86_64", KernelVersion.V6_1),
        ("arm64-4k", KernelVersion.V5_11), ("arm64-64k", KernelVersion.V5_12),
        ("riscv64", KernelVersion.V5_11), ("ppc64", KernelVersion.V5_11),
        ("i386", KernelVersion.V5_11), ("i386-pae", KernelVersion.V5_11), ("i386", KernelVersion.V6_1),
        ("armhf", KernelVersion.V5_11), ("sh", KernelVersion.V5_11),
    ];

    /// <summary>Every (arch, version, model) the profiles offer.</summary>
    private static readonly (string Arch, KernelVersion Version, MemoryModel Model)[] Configs =
        [.. Profiles.SelectMany(p => ArchProfiles.Get(p.Arch, p.Version).Models.Select(m => (p.Arch, p.Version, m)))];

    /// <summary>A random machine, printable so a failing sample says how to rebuild it.</summary>
    public sealed record RandomMachine(string Arch, KernelVersion Version, MemoryModel Model, MemmapPlacement Placement,
        (int Nid, ulong StartSection, ulong Sections)[] Ranges, (ulong StartSection, ulong Sections)? Hotplug, ulong Seed)
    {
        public ArchProfile Profile => ArchProfiles.Get(Arch, Version);

        public Machine Boot()
        {
            var p = Profile;
            int shift = p.SectionSizeBits;
            var nodes = Ranges.GroupBy(r => r.Nid).Select(g => new NodeRam(g.Key,
                [.. g.Select(r => PhysRange.FromStartEnd(r.StartSection << shift, (r.StartSection + r.Sections) << shift))]));
            return Machine.Boot(new MachineSpec
            {
                Arch = p,
                Model = Model,
                Placement = Placement,
                Ram = new RamLayout([.. nodes], "recorder property"),
                Seed = Seed,
                Hotplug = Hotplug is { } h ? [PhysRange.FromStartEnd(h.StartSection << shift, (h.StartSection + h.Sections) << shift)] : [],
            });
        }

        public override string ToString() =>
            $"{Arch} v{Version} {Model.ToName()} placement={Placement} seed={Seed} ram(sections)=" +
            string.Join(",", Ranges.Select(r => $"n{r.Nid}[{r.StartSection},{r.StartSection + r.Sections})")) +
            (Hotplug is { } h ? $" hotplug=[{h.StartSection},{h.StartSection + h.Sections})" : "");
    }

    private static readonly Gen<RandomMachine> GenMachine =
        Gen.Select(
            Gen.Int[0, Configs.Length - 1],
            Gen.OneOf(MemmapPlacement.BootBuffer, MemmapPlacement.Scattered),
            Gen.Select(Gen.ULong[0, 6], Gen.ULong[1, 24]).Array[1, 3],
            Gen.Bool,
            Gen.Select(Gen.ULong[0, 4], Gen.ULong[1, 3], Gen.Int[0, 3]),
            Gen.ULong[1, 1UL << 40],
            (configIx, placement, pieces, twoNodes, hot, seed) =>
            {
                var (arch, version, model) = Configs[configIx];
                var p = ArchProfiles.Get(arch, version);
                int shift = p.SectionSizeBits;
                // 32-bit machines keep their RAM below the lowmem limit; 64-bit ones stay under 64 GiB of sections.
                ulong limit = p.BitsPerLong == 32 ? Math.Max(1, Math.Min(p.LowmemBytes, 768UL << 20) >> shift) : 64UL << 30 >> shift;
                ulong minFirst = (2 * p.KernelImageBytes + (1UL << shift) - 1) >> shift;
                ulong next = p.DefaultRamStart >> shift;
                var ranges = new List<(int, ulong, ulong)>();
                bool discontig = model == MemoryModel.Discontigmem;
                bool flat = model == MemoryModel.Flatmem;
                foreach (var (gap, len) in flat ? pieces.Take(1) : pieces)
                {
                    ulong start = next + (ranges.Count == 0 ? 0 : gap);
                    ulong used = start - (p.DefaultRamStart >> shift);
                    if (used >= limit) break;
                    ulong sections = Math.Min(ranges.Count == 0 ? Math.Max(minFirst, len) : len, limit - used);
                    if (discontig && twoNodes && ranges.Count == 0) sections = Math.Max(minFirst, Math.Min(sections, limit / 2));
                    // DISCONTIGMEM: a second node when asked (one range per node), else everything on node 0.
                    int nid = discontig && twoNodes && ranges.Count > 0 ? 1 : 0;
                    if (discontig && ranges.Count > 0 && !twoNodes) break;
                    ranges.Add((nid, start, sections));
                    next = start + sections;
                    if (discontig && ranges.Count == 2) break;
                }
                if (ranges.Count == 0) return null;
                (ulong, ulong)? hotplug = model is MemoryModel.Sparsemem or MemoryModel.SparsememVmemmap && p.BitsPerLong == 64 && hot.Item3 > 0
                    ? (next + hot.Item1, hot.Item2)
                    : null;
                return new RandomMachine(arch, version, model, placement, [.. ranges], hotplug, seed);
            })
        .Where(r => r is not null)
        .Select(r => r!);

    /// <summary>RAM pfn ranges [start, end) of one node each: boot ranges and the hot-added one.</summary>
    private static List<(ulong Start, ulong End)> RamPfnRanges(Machine m) =>
        [.. m.Ram.Select(r => (r.Start >> m.Arch.PageShift, r.End >> m.Arch.PageShift))];

    [Fact]
    public void SectionRun_RecordsPfnToPageOfEveryEntry_WithOneLookupPerRun()
    {
        GenMachine.Sample(r =>
        {
            var m = r.Boot();
            Assert.Equal(r.Model, m.Model);
            if (r.Hotplug is { } hot) Assert.Contains(m.Ram, x => x.Start == hot.StartSection << m.Arch.SectionSizeBits);
            if (r.Hotplug is not null && r.Model == MemoryModel.Sparsemem) Assert.Contains(m.PresentSections, s => s.Placement == MemmapPlacement.Hotplug);
            var rng = new Random((int)(r.Seed % int.MaxValue));
            var ranges = RamPfnRanges(m);
            ulong pps = m.Arch.PagesPerSection;
            bool contiguous = m.Model is MemoryModel.SparsememVmemmap or MemoryModel.Flatmem;
            for (int k = 0; k < SpansPerMachine; k++)
            {
                var (start, end) = ranges[rng.Next(ranges.Count)];
                // A head (aligned to a random power of two, as huge pages are), an offset into it and a batch, all
                // inside one RAM range; batches up to three sections long so they cross boundaries.
                ulong span = end - start;
                int order = rng.Next(0, 63 - System.Numerics.BitOperations.LeadingZeroCount(span) + 1);
                ulong size = 1UL << order;
                ulong head = (start + (ulong)rng.NextInt64(0, (long)(span - size + 1))) & ~(size - 1);
                if (head < start) head += size;
                if (head + size > end) { head = start; size = 1; }
                ulong first = (ulong)rng.NextInt64(0, (long)size);
                ulong maxBatch = Math.Min(end - head - first, 3 * pps + 17);
                int batch = (int)(ulong)rng.NextInt64(1, (long)maxBatch + 1);
                ulong pfn = head + first;

                var pages = new PagePtr[batch];
                var counters = new GupCounters(m.Model == MemoryModel.Sparsemem);
                var ctx = new SubpageRecordContext(m, m.PfnToPage(Pfn.FromUInt64(head)), Pfn.FromUInt64(head), first, counters);
                var before = counters.Snapshot();
                SubpageRecorders.SectionRun.Record(ctx, pages);
                var c = counters.Snapshot() - before;

                string where = $"{r} head=0x{head:x} first={first} batch={batch}";
                for (int i = 0; i < batch; i++)
                {
                    // The placement's address: literal vmemmap base, or the memmap's memblock address via the literal linear map.
                    ulong want = KnownAddresses.StructPageVa(m, pfn + (ulong)i);
                    if (pages[i].Address != want) Assert.Fail($"{where}: pages[{i}] = {pages[i]}, placed at 0x{want:x}");
                }
                // Independently of pfn_to_page: the struct page each sampled entry points to describes its pfn.
                foreach (int i in new[] { 0, batch - 1, (int)Math.Min((ulong)batch - 1, pps - (pfn & (pps - 1))), rng.Next(batch) })
                {
                    var info = m.Describe(pages[i]);
                    Assert.True(info.Kind == AddressKind.Page && info.Pfn == pfn + (ulong)i, $"{where}: pages[{i}] describes {info.Kind} pfn {info.Pfn}");
                }
                long runs = contiguous ? 1 : (long)(((pfn + (ulong)batch - 1) / pps) - (pfn / pps) + 1);
                Assert.Equal(new GupCounterValues(0, 0, runs, 0, m.Model == MemoryModel.Sparsemem ? runs : 0, 0, 0), c);
            }
        }, iter: Iter, threads: 1);
    }

    [Fact]
    public void PagePlusPlus_EqualsSectionRun_WhereTheMemmapIsContiguous()
    {
        GenMachine.Sample(r =>
        {
            var m = r.Boot();
            var rng = new Random((int)(r.Seed % int.MaxValue));
            var ranges = RamPfnRanges(m);
            ulong pps = m.Arch.PagesPerSection;
            for (int k = 0; k < SpansPerMachine; k++)
            {
                var (start, end) = ranges[rng.Next(ranges.Count)];
                ulong head = start + (ulong)rng.NextInt64(0, (long)(end - start));
                // Inside one section on the sectioned models (one memmap array there), anywhere in the range elsewhere.
                ulong limit = m.Model is MemoryModel.SparsememVmemmap or MemoryModel.Flatmem ? end : Math.Min(end, (head / pps + 1) * pps);
                ulong first = (ulong)rng.NextInt64(0, (long)(limit - head));
                int batch = (int)(ulong)rng.NextInt64(1, (long)Math.Min(limit - head - first, 70000) + 1);
                var ctx = new SubpageRecordContext(m, m.PfnToPage(Pfn.FromUInt64(head)), Pfn.FromUInt64(head), first, new GupCounters());
                var a = new PagePtr[batch];
                var b = new PagePtr[batch];
                SubpageRecorders.PagePlusPlus.Record(ctx, a);
                SubpageRecorders.SectionRun.Record(ctx, b);
                Assert.True(a.AsSpan().SequenceEqual(b), $"{r} head=0x{head:x} first={first} batch={batch}");
                var c = ctx.Counters.Snapshot();
                Assert.Equal((0L, 0L, 0L, 0L), (c.Atomics, c.StructPagesTouched, c.PageToPfnCalls, c.PagesWrites));
            }
        }, iter: Iter, threads: 1);
    }

    [Fact]
    public void FillRun_IsStartPlusIStride_ForEveryLengthAndWrap()
    {
        Gen.Select(Gen.Int[0, 80], Gen.ULong, Gen.OneOf(32, 64, 1, 4096)).Sample((n, start, stride) =>
        {
            var pages = new PagePtr[n + 2];
            pages[0] = PagePtr.FromAddress(0xdead);
            pages[^1] = PagePtr.FromAddress(0xbeef);
            SubpageRecorders.FillRun(pages.AsSpan(1, n), start, stride);
            for (int i = 0; i < n; i++) Assert.Equal(unchecked(start + (ulong)i * (ulong)stride), pages[i + 1].Address);
            Assert.Equal(0xdeadUL, pages[0].Address);
            Assert.Equal(0xbeefUL, pages[^1].Address);
        });
    }
}

using BenchmarkDotNet.Attributes;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Benchmarks;

/// <summary>
/// <see cref="RecordSubpagesBenchmarks"/> on the models x86_64 does not offer: i386 v5.11 (32-byte struct page) with
/// FLATMEM, DISCONTIGMEM (two nodes) and classic SPARSEMEM, RAM [0, 768 MiB), <c>hugepagesz=4M hugepages=128</c>
/// and a process with 512 MiB of MAP_HUGETLB anonymous memory, every huge page faulted in for write. The 131072
/// subpages are recorded 32 times over into consecutive slices of the same 32 MiB <c>PagePtr[4194304]</c>
/// <see cref="RecordSubpagesBenchmarks"/> fills, in <c>-n 512</c> batches, so the array and the work per operation
/// are the same. One operation = one subpage.
/// </summary>
[MemoryDiagnoser]
public class RecordSubpages32Benchmarks
{
    private const ulong M = 1UL << 20;
    private const int HugePages = 128;
    private const int SubpagesPerHugePage = 1024; // 4 MiB / 4 KiB
    private const int Passes = 32;
    private const int Batch = 512;
    private const int Subpages = Passes * HugePages * SubpagesPerHugePage; // 4194304

    private Machine _m = null!;
    private Pfn[] _headPfns = null!;
    private PagePtr[] _heads = null!;
    private PagePtr[] _pages = null!;
    private GupCounters _counters = null!;

    [Params(MemoryModel.Flatmem, MemoryModel.Discontigmem, MemoryModel.Sparsemem)]
    public MemoryModel Model { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var ram = Model == MemoryModel.Discontigmem
            ? new RamLayout([new NodeRam(0, [PhysRange.FromStartEnd(0, 384 * M)]), new NodeRam(1, [PhysRange.FromStartEnd(384 * M, 768 * M)])], "bench32")
            : new RamLayout([new NodeRam(0, [PhysRange.FromStartEnd(0, 768 * M)])], "bench32");
        _m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("i386", KernelVersion.V5_11),
            Model = Model,
            Placement = MemmapPlacement.BootBuffer,
            Ram = ram,
            Hugepages = HugepagesCmdline.Parse($"hugepagesz=4M hugepages={HugePages}", null),
        });
        var mm = MmStruct.Create(_m) ?? throw new InvalidOperationException("mm_alloc failed");
        long a = mm.Mmap(0, HugePages * 4 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb);
        if (a <= 0) throw new InvalidOperationException($"mmap of {HugePages} × 4 MiB MAP_HUGETLB failed: {a}");
        _headPfns = new Pfn[HugePages];
        _heads = new PagePtr[HugePages];
        for (int h = 0; h < HugePages; h++)
        {
            ulong va = (ulong)a + (ulong)h * 4 * M;
            var fault = mm.HandleMmFault(va, FaultFlags.Write);
            if (fault != VmFault.None) throw new InvalidOperationException($"fault at {va:x}: {fault}");
            _headPfns[h] = mm.WalkLeaf(va)!.Value.Entry.Pfn;
            _heads[h] = _m.PfnToPage(_headPfns[h]);
        }
        _pages = new PagePtr[Subpages];
        _counters = new GupCounters(Model == MemoryModel.Sparsemem);
        _pages.AsSpan().Fill(PagePtr.FromAddress(1)); // first touch outside the measurement
        foreach (var rec in new[] { SubpageRecorders.PagePlusPlus, SubpageRecorders.SectionRun })
        {
            RecordAll(rec);
            for (int p = 0; p < Passes; p += 7)
                for (int h = 0; h < HugePages; h++)
                    for (int i = 0; i < SubpagesPerHugePage; i += 257)
                    {
                        var want = _m.PfnToPage(_headPfns[h] + (ulong)i);
                        var got = _pages[(p * HugePages + h) * SubpagesPerHugePage + i];
                        if (got != want) throw new InvalidOperationException($"{rec.Name}: pass {p} huge page {h} subpage {i}: {got} != {want}");
                    }
        }
    }

    /// <summary>The floor: the same vectorised fill as <see cref="RecordSubpagesBenchmarks.Fill"/> (32-byte stride here).</summary>
    [Benchmark(OperationsPerInvoke = Subpages)]
    public ulong Fill() => RecordSubpagesBenchmarks.PlainFill(_pages, 32);

    /// <summary>record_subpages() up to v5.17: <c>page++</c> from head + offset.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Subpages)]
    public ulong PagePlusPlus() => RecordAll(SubpageRecorders.PagePlusPlus);

    /// <summary>GupSim's section-run.</summary>
    [Benchmark(OperationsPerInvoke = Subpages)]
    public ulong SectionRun() => RecordAll(SubpageRecorders.SectionRun);

    private ulong RecordAll(ISubpageRecorder recorder)
    {
        var pages = _pages.AsSpan();
        int idx = 0;
        for (int p = 0; p < Passes; p++)
            for (int h = 0; h < HugePages; h++)
            {
                var head = _heads[h];
                var headPfn = _headPfns[h];
                for (int off = 0; off < SubpagesPerHugePage; off += Batch, idx += Batch)
                    recorder.Record(new SubpageRecordContext(_m, head, headPfn, (ulong)off, _counters), pages.Slice(idx, Batch));
            }
        return pages[^1].Address;
    }
}

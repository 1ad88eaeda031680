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
/// The machine both GUP benchmark classes run on: x86_64 v5.11, RAM [0, 3 GiB) + [4 GiB, 22 GiB), boot placement,
/// <c>hugepagesz=1G hugepages=16</c>, and a process with 16 GiB of MAP_HUGETLB 1 GiB anonymous memory, every huge
/// page faulted in for write.
/// </summary>
internal sealed class HugeGigMachine
{
    public const ulong G = 1UL << 30;
    public const int SubpagesPerHugePage = 262144; // 1 GiB / 4 KiB

    private HugeGigMachine(Machine machine, MmStruct mm, ulong addr, int hugePages, Pfn[] headPfns, PagePtr[] heads)
    {
        Machine = machine;
        Mm = mm;
        Addr = addr;
        HugePages = hugePages;
        HeadPfns = headPfns;
        Heads = heads;
    }

    public Machine Machine { get; }
    public MmStruct Mm { get; }
    /// <summary>Start of the mapping.</summary>
    public ulong Addr { get; }
    /// <summary>1 GiB pages mapped and faulted in.</summary>
    public int HugePages { get; }
    public Pfn[] HeadPfns { get; }
    public PagePtr[] Heads { get; }
    public int Subpages => HugePages * SubpagesPerHugePage;

    /// <summary>Boots the machine and maps (and faults in) <paramref name="hugePages"/> GiB of the 16 boot-time 1 GiB pages.</summary>
    public static HugeGigMachine Create(MemoryModel model, int hugePages)
    {
        var arch = ArchProfiles.Get("x86_64", KernelVersion.V5_11);
        var ram = new RamLayout([new NodeRam(0, [PhysRange.FromStartEnd(0, 3 * G), PhysRange.FromStartEnd(4 * G, 22 * G)])], "bench");
        var m = Machine.Boot(new MachineSpec
        {
            Arch = arch,
            Model = model,
            Placement = MemmapPlacement.BootBuffer,
            Ram = ram,
            Hugepages = HugepagesCmdline.Parse("hugepagesz=1G hugepages=16", null),
        });
        var mm = MmStruct.Create(m) ?? throw new InvalidOperationException("mm_alloc failed");
        ulong len = (ulong)hugePages * G;
        long a = mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(G));
        if (a <= 0) throw new InvalidOperationException($"mmap of {hugePages} GiB MAP_HUGETLB 1G failed: {a}");
        var pfns = new Pfn[hugePages];
        var heads = new PagePtr[hugePages];
        for (int h = 0; h < hugePages; h++)
        {
            ulong va = (ulong)a + (ulong)h * G;
            var fault = mm.HandleMmFault(va, FaultFlags.Write);
            if (fault != VmFault.None) throw new InvalidOperationException($"fault at {va:x}: {fault}");
            pfns[h] = mm.WalkLeaf(va)!.Value.Entry.Pfn;
            heads[h] = m.PfnToPage(pfns[h]);
        }
        return new HugeGigMachine(m, mm, (ulong)a, hugePages, pfns, heads);
    }
}

/// <summary>
/// "What does recording 16 GiB of 1 GiB huge pages in <c>-n 512</c> batches cost per strategy": each recorder fills
/// pages[] for the 16 × 262144 subpages, 512 at a time (as gup_test -n 512 asks GUP to), with the context
/// follow_hugetlb_page / gup-fast give it. One operation = one subpage. <c>Fill</c> is the floor: the recorders' own
/// store loop over the whole array in one call, with no machine behind it.
/// </summary>
[MemoryDiagnoser]
public class RecordSubpagesBenchmarks
{
    private const int HugePages = 16;
    private const int Batch = 512;
    private const int Subpages = HugePages * HugeGigMachine.SubpagesPerHugePage; // 4194304

    private HugeGigMachine _hm = null!;
    private PagePtr[] _pages = null!;
    private GupCounters _counters = null!;

    [Params(MemoryModel.SparsememVmemmap, MemoryModel.Sparsemem)]
    public MemoryModel Model { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _hm = HugeGigMachine.Create(Model, HugePages);
        _pages = new PagePtr[Subpages];
        _counters = new GupCounters();
        // Touch the array once so no benchmark pays first-touch faults (dotnet-notes §3).
        Fill();
        // Sanity: every recorder used here records the right struct pages on this (boot-placement) machine.
        foreach (var rec in new[] { SubpageRecorders.PagePlusPlus, SubpageRecorders.MemMapOffsetMerged, SubpageRecorders.NthPage, SubpageRecorders.SectionRun })
        {
            RecordAll(rec);
            var m = _hm.Machine;
            for (int h = 0; h < HugePages; h++)
                for (int i = 0; i < HugeGigMachine.SubpagesPerHugePage; i += 4099)
                {
                    var want = m.PfnToPage(_hm.HeadPfns[h] + (ulong)i);
                    var got = _pages[h * HugeGigMachine.SubpagesPerHugePage + i];
                    if (got != want) throw new InvalidOperationException($"{rec.Name}: huge page {h} subpage {i}: {got} != {want}");
                }
        }
    }

    /// <summary>The floor: <c>pages[i] = base + i × 64</c> over the same 32 MiB array in one call of the recorders' own store loop.</summary>
    [Benchmark(OperationsPerInvoke = Subpages)]
    public ulong Fill() => PlainFill(_pages, 64);

    /// <summary>
    /// <c>pages[i] = base + i × stride</c> over the whole array with <see cref="SubpageRecorders.FillRun"/> (the
    /// store loop page++ and section-run use): no machine, no batches, no recorder call.
    /// </summary>
    internal static ulong PlainFill(PagePtr[] pages, int stride)
    {
        SubpageRecorders.FillRun(pages, 0xffffea0000000000UL, stride);
        return pages[^1].Address;
    }

    /// <summary>record_subpages() up to v5.17: <c>page++</c> from head + offset.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Subpages)]
    public ulong PagePlusPlus() => RecordAll(SubpageRecorders.PagePlusPlus);

    /// <summary>82e5d378b0e4 as merged: <c>mem_map_offset(mem_map_offset(head, offset), nr)</c>.</summary>
    [Benchmark(OperationsPerInvoke = Subpages)]
    public ulong MemMapOffsetMerged() => RecordAll(SubpageRecorders.MemMapOffsetMerged);

    /// <summary><c>nth_page(nth_page(head, offset), nr)</c> (v5.11's nth_page: the pfn round trip).</summary>
    [Benchmark(OperationsPerInvoke = Subpages)]
    public ulong NthPage() => RecordAll(SubpageRecorders.NthPage);

    /// <summary>GupSim's section-run: page++ inside each section, pfn_to_page() at each section boundary.</summary>
    [Benchmark(OperationsPerInvoke = Subpages)]
    public ulong SectionRun() => RecordAll(SubpageRecorders.SectionRun);

    private ulong RecordAll(ISubpageRecorder recorder)
    {
        var pages = _pages.AsSpan();
        var m = _hm.Machine;
        for (int h = 0; h < HugePages; h++)
        {
            var head = _hm.Heads[h];
            var headPfn = _hm.HeadPfns[h];
            int baseIdx = h * HugeGigMachine.SubpagesPerHugePage;
            for (int off = 0; off < HugeGigMachine.SubpagesPerHugePage; off += Batch)
            {
                var ctx = new SubpageRecordContext(m, head, headPfn, (ulong)off, _counters);
                recorder.Record(ctx, pages.Slice(baseIdx + off, Batch));
            }
        }
        return pages[^1].Address;
    }
}

/// <summary>
/// The whole longterm pin: pin_user_pages_remote() of the mapping in 512-page calls, then unpin_user_pages() of each
/// batch, on VMEMMAP, for v5.11's own code vs the merged recorder vs section-run. One operation = one subpage.
/// </summary>
[MemoryDiagnoser]
public class PinLongtermBenchmarks
{
    /// <summary>GiB mapped and pinned per operation (16 in the question; see docs/performance.md).</summary>
    private const int HugePages = 16;
    private const int Batch = 512;
    private const int Subpages = HugePages * HugeGigMachine.SubpagesPerHugePage;

    private HugeGigMachine _hm = null!;
    private PagePtr[] _pages = null!;
    private GetUserPages _v511 = null!, _merged = null!, _sectionRun = null!;

    [GlobalSetup]
    public void Setup()
    {
        _hm = HugeGigMachine.Create(MemoryModel.SparsememVmemmap, HugePages);
        _pages = new PagePtr[Subpages];
        _pages.AsSpan().Fill(PagePtr.FromAddress(1)); // first touch outside the measurement
        var v = _hm.Machine.Version;
        _v511 = new GetUserPages(_hm.Machine, GupStrategy.ForVersion(v));
        _merged = new GetUserPages(_hm.Machine, GupStrategy.Named("merged", v));
        _sectionRun = new GetUserPages(_hm.Machine, GupStrategy.Named("section-run", v));
        foreach (var g in new[] { _v511, _merged, _sectionRun })
        {
            PinUnpinAll(g);
            var m = _hm.Machine;
            for (int h = 0; h < HugePages; h++)
            {
                int i = HugeGigMachine.SubpagesPerHugePage - 1;
                var want = m.PfnToPage(_hm.HeadPfns[h] + (ulong)i);
                if (_pages[h * HugeGigMachine.SubpagesPerHugePage + i] != want) throw new InvalidOperationException($"{g.Strategy.Name}: wrong page");
                if (m.StructPages.CompoundPincount(_hm.Heads[h]) != 0) throw new InvalidOperationException($"{g.Strategy.Name}: pins left");
            }
        }
    }

    /// <summary>v5.11's own code: follow_hugetlb_page() per subpage, mem_map_offset + try_grab_page each.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Subpages)]
    public ulong V511() => PinUnpinAll(_v511);

    /// <summary>82e5d378b0e4's shape with the merged mem_map_offset recorder.</summary>
    [Benchmark(OperationsPerInvoke = Subpages)]
    public ulong Merged() => PinUnpinAll(_merged);

    /// <summary>82e5d378b0e4's shape with section-run.</summary>
    [Benchmark(OperationsPerInvoke = Subpages)]
    public ulong SectionRun() => PinUnpinAll(_sectionRun);

    private ulong PinUnpinAll(GetUserPages gup)
    {
        var pages = _pages.AsSpan();
        for (int i = 0; i < Subpages; i += Batch)
        {
            var batch = pages.Slice(i, Batch);
            long n = gup.PinUserPagesRemote(_hm.Mm, _hm.Addr + ((ulong)i << 12), Batch, FollFlags.Write | FollFlags.Longterm, batch);
            if (n != Batch) throw new InvalidOperationException($"pin_user_pages_remote returned {n} at subpage {i}");
            _hm.Machine.Grab.UnpinUserPages(batch);
        }
        return pages[^1].Address;
    }
}

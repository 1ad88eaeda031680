using BenchmarkDotNet.Attributes;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim.Benchmarks;

/// <summary>
/// pfn ↔ struct page translation per memory model: the cost difference the 2021 thread argued about
/// (classic SPARSEMEM's section-table lookup and page->flags read vs VMEMMAP's add). One operation = one pfn.
/// </summary>
[MemoryDiagnoser]
public class MemMapBenchmarks
{
    private const int Ops = 4096;
    private Machine _machine = null!;
    private PagePtr[] _pages = null!;
    private ulong[] _pfns = null!;

    [Params(MemoryModel.SparsememVmemmap, MemoryModel.Sparsemem)]
    public MemoryModel Model { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var arch = ArchProfiles.Get("x86_64", KernelVersion.V5_11);
        var ram = new RamLayout([new NodeRam(0, [PhysRange.FromStartEnd(0, 3UL << 30), PhysRange.FromStartEnd(4UL << 30, 21UL << 30)])], "bench");
        _machine = Machine.Boot(new MachineSpec { Arch = arch, Model = Model, Ram = ram });
        _pfns = new ulong[Ops];
        _pages = new PagePtr[Ops];
        var rng = new Random(1);
        for (int i = 0; i < Ops; i++)
        {
            _pfns[i] = 0x100000 + (ulong)rng.Next(0, 0x400000);
            _pages[i] = _machine.PfnToPage(Pfn.FromUInt64(_pfns[i]));
        }
    }

    /// <summary>pfn_to_page().</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public ulong PfnToPage()
    {
        ulong acc = 0;
        var m = _machine.MemMap;
        foreach (ulong pfn in _pfns) acc += m.PfnToPage(Pfn.FromUInt64(pfn)).Address;
        return acc;
    }

    /// <summary>page_to_pfn() (reads page->flags on classic SPARSEMEM).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong PageToPfn()
    {
        ulong acc = 0;
        var m = _machine.MemMap;
        foreach (var p in _pages) acc += m.PageToPfn(p).Value;
        return acc;
    }

    /// <summary>nth_page(page, 1000) as v5.11 defines it (always the pfn round trip).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong NthPage()
    {
        ulong acc = 0;
        var m = _machine.MemMap;
        foreach (var p in _pages) acc += m.NthPage(p, 1000).Address;
        return acc;
    }

    /// <summary>nth_page(head, i) for i over one 1 GiB range (sequential, as GUP records subpages).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong NthPageSequential()
    {
        ulong acc = 0;
        var m = _machine.MemMap;
        var head = _pages[0];
        for (uint i = 0; i < Ops; i++) acc += m.NthPage(head, i * 64).Address;
        return acc;
    }

    /// <summary>The kernel's page + 1000: plain pointer arithmetic, for reference.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong PagePlusN()
    {
        ulong acc = 0;
        var m = _machine.MemMap;
        foreach (var p in _pages) acc += m.PageAdd(p, 1000).Address;
        return acc;
    }
}

/// <summary>Booting a large machine: memory grows with what is touched, not with the machine (target: 4 TiB in under 1 s).</summary>
[MemoryDiagnoser]
public class BootBenchmarks
{
    [Params(MemoryModel.SparsememVmemmap, MemoryModel.Sparsemem)]
    public MemoryModel Model { get; set; }

    [Benchmark]
    public int Boot4TiB()
    {
        var arch = ArchProfiles.Get("x86_64", KernelVersion.V5_11);
        var ram = new RamLayout([new NodeRam(0, [PhysRange.FromStartEnd(0, 3UL << 30), PhysRange.FromStartEnd(4UL << 30, 4UL << 40)])], "bench");
        return Machine.Boot(new MachineSpec { Arch = arch, Model = Model, Ram = ram }).PresentSections.Count;
    }
}

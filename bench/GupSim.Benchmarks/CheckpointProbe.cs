using System.Diagnostics;
using System.Globalization;
using GupSim.Config;
using GupSim.Gup;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Benchmarks;

/// <summary>
/// <c>probe-checkpoint [ROUNDS]</c>: what Machine.Checkpoint() / Rollback() cost a <c>gupsim check</c> configuration
/// (docs/performance.md). For each machine: one configuration (pin_user_pages_fast() of the range, then
/// unpin_user_pages() with the oracle's right pages, as <c>gupsim scenario</c> runs it) timed without a checkpoint and
/// with one plus its rollback, interleaved, medians of ROUNDS (default 31); the difference is the checkpoint's cost
/// per configuration (copy-on-first-write of the chunks written, and putting them back).
/// </summary>
internal static class CheckpointProbe
{
    public static int Run(int rounds)
    {
        Probe("1 GiB page, v5.11 sparsemem scattered (trap1: 229376 wrong entries)",
            new MachineOptions { Kernel = "5.11", Model = "sparsemem", Placement = "scattered", Seed = 3, RamSpec = "0-3G,4G-12G", Hugepages = "hugepagesz=1G hugepages=1" }, 1UL << 30, rounds);
        Probe("1 GiB page, v5.18 sparsemem scattered (nth_page: all right)",
            new MachineOptions { Kernel = "5.18", Model = "sparsemem", Placement = "scattered", Seed = 3, RamSpec = "0-3G,4G-12G", Hugepages = "hugepagesz=1G hugepages=1" }, 1UL << 30, rounds);
        Probe("2 MiB page, v5.11 sparsemem",
            new MachineOptions { Kernel = "5.11", Model = "sparsemem", RamSpec = "0-3G,4G-12G", Hugepages = "hugepagesz=2M hugepages=4" }, 2UL << 20, rounds);
        return 0;
    }

    private static void Probe(string what, MachineOptions options, ulong bytes, int rounds)
    {
        var inv = CultureInfo.InvariantCulture;
        // Two identical machines: one runs without a checkpoint, the other keeps one open (as gupsim check does) and
        // rolls back after each run.
        var (plainRun, _) = Setup(options, bytes);
        var (checkedRun, m) = Setup(options, bytes);
        for (int w = 0; w < 3; w++) plainRun(); // JIT
        var sw = Stopwatch.StartNew();
        using var cp = m.Checkpoint();
        double checkpointUs = sw.Elapsed.TotalMicroseconds;
        for (int w = 0; w < 3; w++)
        {
            checkedRun();
            if (!m.Rollback(cp)) throw new InvalidOperationException("probe: rollback refused: " + cp.Refusal);
        }
        var plain = new List<double>();
        var with = new List<double>();
        var rollback = new List<double>();
        int chunks = 0;
        for (int r = 0; r < rounds; r++)
        {
            sw.Restart();
            plainRun();
            plain.Add(sw.Elapsed.TotalMicroseconds);
            sw.Restart();
            checkedRun();
            double run = sw.Elapsed.TotalMicroseconds;
            chunks = m.Store.JournaledChunks;
            sw.Restart();
            if (!m.Rollback(cp)) throw new InvalidOperationException("probe: rollback refused: " + cp.Refusal);
            double back = sw.Elapsed.TotalMicroseconds;
            with.Add(run + back);
            rollback.Add(back);
        }
        double Median(List<double> xs)
        {
            xs.Sort();
            return xs[xs.Count / 2];
        }
        double p = Median(plain), c = Median(with), b = Median(rollback);
        Console.WriteLine(string.Create(inv,
            $"{what}: configuration {p:0} us without a checkpoint, {c:0} us with one + rollback ({c - p:+0;-0} us; rollback alone {b:0} us, {chunks} struct page chunks journaled); Checkpoint() {checkpointUs:0} us"));
    }

    private static (Action Run, Machine M) Setup(MachineOptions options, ulong bytes)
    {
        var m = options.Boot();
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, bytes, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(bytes));
        if (a <= 0 || mm.HandleMmFault((ulong)a, FaultFlags.Write) != VmFault.None) throw new InvalidOperationException("probe: mapping failed");
        ulong addr = (ulong)a;
        int n = (int)(bytes >> m.Arch.PageShift);
        var pages = new PagePtr[n];
        var right = new PagePtr[n];
        PagesOracle.RightPages(mm, addr, right);
        var gup = new GetUserPages(m);
        return (() =>
        {
            gup.PinUserPagesFast(mm, addr, n, FollFlags.Write, pages);
            m.Grab.UnpinUserPages(pages, right);
        }, m);
    }
}

using GupSim.Config;
using GupSim.Gup;
using GupSim.Selftests;

namespace GupSim.Tests.Selftests;

/// <summary>The modelled kernel time: the fit is exact on its three figures and is checked on the others.</summary>
public sealed class KernelCostModelTests
{
    private static GupCounterValues C(long atomics, long lookups, long writes) => new(atomics, 0, lookups, 0, 0, 0, writes);

    [Fact]
    public void Fit_SolvesTheThreeFiguresExactly()
    {
        // Synthetic counters with known costs 10 ns / 1 ns / 1 ns.
        var a = C(8_000_000, 8_000_000, 4_000_000);
        var b = C(16_000, 8_000_000, 4_000_000);
        var c = C(16_000, 16_000, 4_000_000);
        var t = KernelCostModel.Fit(a, b, c);
        Assert.Equal(KernelCostModel.V511Us, t.PredictUs(a), 6);
        Assert.Equal(KernelCostModel.Patch1Us, t.PredictUs(b), 6);
        Assert.Equal(KernelCostModel.V1PagePlusPlusUs, t.PredictUs(c), 6);
    }

    [Fact]
    public void Fit_RefusesCountersThatDoNotDetermineTheCosts()
    {
        var a = C(1, 1, 1);
        Assert.Throws<Core.GupSimException>(() => KernelCostModel.Fit(a, a, a));
    }

    [Fact]
    public void FitAndCheck_OnTheSeedMachine_FitsItsThreeAndReportsTheRest()
    {
        var (table, checks) = KernelCostModel.FitAndCheck(new MachineOptions());
        Assert.True(table.AtomicNs > 0 && table.LookupNs > 0 && table.EntryNs > 0, table.ToString());
        Assert.Equal(3, checks.Count(c => c.Fitted));
        Assert.All(checks.Where(c => c.Fitted), c => Assert.Equal(0, c.Error, 6));
        Assert.Contains(checks, c => !c.Fitted && c.PublishedUs == 5_800);
        Assert.Contains(checks, c => !c.Fitted && c.PublishedUs == 7_800);
        Assert.Contains(checks, c => !c.Fitted && c.PublishedUs == 3_700);
    }
}

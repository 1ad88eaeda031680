using GupSim.Arch;
using GupSim.Check;
using static GupSim.Tests.Check.EngineTestShapes;

namespace GupSim.Tests.Check;

/// <summary>The shrinker: no churn unless needed, deterministic, a pass left as it is, the same kind kept.</summary>
public class ShrinkerTests
{
    /// <summary>Trap 4's configuration (refs = 0, v5.12) on a lived-in machine: cheap (2 MiB pages) and model-independent.</summary>
    private static CheckConfiguration LivedInTrap4() =>
        new CheckConfiguration(new CheckShape("x86_64", V("5.12"), MemoryModel.SparsememVmemmap, CheckPlacement.Boot, 2 * M, 4, 2 * G, 64 * M, 2),
            null, CheckPath.SlowGet, 2047, 1, 1)
        { ByteOffset = 4095 };

    [Fact]
    public void Churn_IsDropped_WhenTheFailureDoesNotNeedIt_AndTheResultIsDeterministic()
    {
        var c = LivedInTrap4();
        var engine = new CheckEngine([]);
        var v = engine.Run(c);
        Assert.Equal(CheckSymptoms.Oops, v.Symptoms);
        var a = new CheckShrinker(engine).Shrink(c, v);
        var b = new CheckShrinker(new CheckEngine([])).Shrink(c, v);
        Assert.Equal(0UL, a.Configuration.Shape.ChurnBytes);
        // The last page of the last huge page, one byte in: subpage 511 of one 2 MiB page (by hand, as trap 4).
        Assert.Equal((1, 511L, 1L, 1L), (a.Configuration.Shape.HugePages, a.Configuration.OffsetPages, a.Configuration.LengthPages, a.Configuration.ByteOffset));
        Assert.Equal("oops", a.Verdict.Symptoms.Kind());
        Assert.Equal(a, b);
    }

    [Fact]
    public void APass_IsReturnedAsItIs_WithAScriptThatExpectsEverythingRight()
    {
        var c = new CheckConfiguration(new CheckShape("x86_64", V("5.14"), MemoryModel.SparsememVmemmap, CheckPlacement.Boot, 2 * M, 1, 256 * M, 0, 1),
            null, CheckPath.SlowPin, 0, 512, 100);
        var engine = new CheckEngine([]);
        var v = engine.Run(c);
        Assert.Equal(CheckVerdict.Pass, v);
        var mc = new CheckShrinker(engine).Shrink(c, v);
        Assert.Equal(c, mc.Configuration);
        var (r, _) = RunScript(mc.Scenario);
        Assert.Equal((5, 0), (r.ExpectationsPassed, r.ExpectationsFailed));
    }
}

using GupSim.Core;
using GupSim.Gup;
using GupSim.Samples.Recorder;
using GupSim.Scenario;

namespace GupSim.Tests.Gup;

public class StrategyAssemblyTests
{
    [Fact]
    public void SampleAssembly_LoadsItsRecorder_AndAScenarioPinsRightWithIt()
    {
        string dll = typeof(PfnEachRecorder).Assembly.Location;
        var recorders = StrategyAssemblies.LoadRecorders(dll);
        Assert.Equal("pfn-each", Assert.Single(recorders).Name);
        var sw = new StringWriter();
        var r = new ScenarioRunner(sw).Run(
            "machine --kernel 5.11 --model sparsemem --placement scattered --seed 3 --ram 0-3G,4G-12G --hugepages \"hugepagesz=1G hugepages=1\"\n" +
            $"strategy-assembly {dll}\n" +
            "mmap A 1G hugetlb=1G\ntouch A write\npin A fast write strategy=pfn-each\nexpect pages-correct\nunpin A\nexpect no-leak\n", "t");
        Assert.Equal(0, r.ExpectationsFailed);
        Assert.Contains("pin-fast A (pfn-each, batch 262144): 262144 of 262144 pages, 0 wrong", sw.ToString());
    }

    [Fact]
    public void NotAnAssembly_IsAOneLineError()
    {
        string path = Path.GetTempFileName();
        File.WriteAllText(path, "not a dll");
        var e = Assert.Throws<GupSimException>(() => StrategyAssemblies.LoadRecorders(path));
        Assert.Equal($"--strategy-assembly {path}: not a .NET assembly (--strategy-assembly wants the .dll that dotnet build makes of a project implementing GupSim.Gup.ISubpageRecorder, e.g. samples/GupSim.Samples.Recorder)", e.Message);
    }
}

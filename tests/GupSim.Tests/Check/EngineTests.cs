using GupSim.Arch;
using GupSim.Check;
using GupSim.Core;
using GupSim.Samples.Recorder;
using static GupSim.Tests.Check.EngineTestShapes;

namespace GupSim.Tests.Check;

/// <summary>The check engine: passing configurations pass, placement emerges (not applicable where it did not), verdicts do not depend on what ran before, user recorders.</summary>
public class EngineTests
{
    // Never wrong (kernel-facts §8): VMEMMAP and FLATMEM are one array (pfn_to_page(p) + k = pfn_to_page(p + k));
    // classic SPARSEMEM's fresh-boot sparsemap_buf carves consecutive sections' memmaps back to back, so page++ off
    // one section's array is accidentally the next one's first struct page (latent); likewise v5.12's fresh hot-add
    // (examples/hotplug-gigantic-v5.11.scenario: the memmaps back to back).
    [Theory]
    [InlineData("x86_64", "5.11", MemoryModel.SparsememVmemmap, CheckPlacement.Scattered, 4UL)]
    [InlineData("riscv64", "5.11", MemoryModel.Flatmem, CheckPlacement.Boot, 4UL)]
    [InlineData("x86_64", "5.11", MemoryModel.Sparsemem, CheckPlacement.Boot, 4UL)]
    [InlineData("x86_64", "5.12", MemoryModel.Sparsemem, CheckPlacement.Hotplug, 2UL)]
    public void NeverWrongConfigurations_Pass(string arch, string kernel, MemoryModel model, CheckPlacement placement, ulong ramGiB)
    {
        var shape = OneGig(kernel, model, placement, arch) with { RamBytes = ramGiB * G };
        var engine = new CheckEngine([]);
        foreach (var path in new[] { CheckPath.FastPin, CheckPath.SlowPin })
            Assert.Equal(CheckVerdict.Pass, engine.Run(new CheckConfiguration(shape, null, path, 0, Pphp1G, 1000)));
    }

    [Fact]
    public void Hotplug_PoolThatCameFromBootMemory_IsNotApplicable_NotAPassOrAFailure()
    {
        // 8 GiB on the PC layout is [0, 3G) + [4G, 9G): the hot range starts at 9G (1 GiB aligned) for one 1 GiB page;
        // with 5 GiB of boot ZONE_NORMAL the allocator finds the gigantic page there first.
        var shape = OneGig("5.12", MemoryModel.Sparsemem, CheckPlacement.Hotplug) with { RamBytes = 8 * G };
        Assert.Equal("hotplug 0x240000000-0x280000000", CheckScenario.SetupLines(shape)[1]);
        var v = new CheckEngine([]).Run(new CheckConfiguration(shape, null, CheckPath.FastPin, 0, 1, 1));
        Assert.False(v.Failed);
        Assert.True(CheckEngine.IsNotApplicable(v));
        Assert.Contains("came from boot memory, not from the hot-added 0x240000000-0x27fffffff", v.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void SetupLines_HotplugBootsWithoutAPool_ThenAddsMemory_ThenWritesThePool()
    {
        var shape = OneGig("5.11", MemoryModel.Sparsemem, CheckPlacement.Hotplug) with { RamBytes = 2 * G, ChurnBytes = 512 * M, HugePages = 2 };
        // 2 GiB on the PC layout is [0, 2G): the hot range is [2G, 4G) for two 1 GiB pages.
        Assert.Equal(
            [
                "machine --arch x86_64 --kernel 5.11 --model sparsemem --placement boot --mem 2G --seed 3 --churn 512M",
                "hotplug 0x80000000-0x100000000",
                "hugepages 1G=2",
                "mmap A 2G hugetlb=1G",
                "touch A write",
            ],
            CheckScenario.SetupLines(shape));
        Assert.Equal(
            "machine --arch x86_64 --kernel 5.12 --model sparsemem-vmemmap --placement scattered --mem 4G --seed 3 --hugepages \"hugepagesz=1G hugepages=1\"",
            CheckScenario.SetupLines(OneGig("5.12", MemoryModel.SparsememVmemmap, CheckPlacement.Scattered))[0]);
    }

    [Fact]
    public void Verdict_DoesNotDependOnWhatRanBefore()
    {
        var shape = OneGig("5.12", MemoryModel.Sparsemem, CheckPlacement.Scattered);
        var probe = new CheckConfiguration(shape, null, CheckPath.SlowPin, 32000, 1000, 1000);
        var fresh = new CheckEngine([]).Run(probe);
        var engine = new CheckEngine([]);
        engine.Run(new CheckConfiguration(shape, null, CheckPath.FastPin, 0, Pphp1G, -1)); // fails: wrong entries released
        engine.Run(new CheckConfiguration(shape, null, CheckPath.SlowGet, 0, 512, 512)); // passes
        engine.Run(new CheckConfiguration(shape with { Kernel = V("6.1") }, null, CheckPath.SlowPin, 0, 2, 2)); // another shape
        Assert.Equal(fresh, engine.Run(probe));
        Assert.Equal(232, fresh.WrongEntries); // 32000 + nr ≥ 32768 for nr 768…999
    }

    [Fact]
    public void UserRecorderFromSamples_ChecksRight_AndItsScriptLoadsTheAssembly()
    {
        var shape = OneGig("5.11", MemoryModel.Sparsemem, CheckPlacement.Scattered);
        var recorder = new PfnEachRecorder();
        var engine = new CheckEngine([recorder]);
        var c = new CheckConfiguration(shape, "pfn-each", CheckPath.FastPin, 32767, 2, 2);
        var v = engine.Run(c);
        Assert.Equal(CheckVerdict.Pass, v);
        // The same call with page++ (v5.11's own gup-fast recorder) is wrong at subpage 32768.
        Assert.Equal(1, engine.Run(c with { Strategy = "page++" }).WrongEntries);
        string script = CheckScenario.Script(c, v, engine.UserRecorders);
        Assert.Contains($"strategy-assembly {typeof(PfnEachRecorder).Assembly.Location}\npin A fast write batch=2 offset=0x7fff000 pages=2 strategy=pfn-each\n", script, StringComparison.Ordinal);
        var (r, _) = RunScript(script);
        Assert.Equal((5, 0), (r.ExpectationsPassed, r.ExpectationsFailed)); // pages-correct, no-oops, no-leak, no-bad-page-state, no-stray-writes
        // Its gup-test line loads the same assembly, so the recorder's name resolves: the whole page in 512-page calls, all right.
        string cmd = CheckScenario.GupTestCommand(c with { OffsetPages = 0, LengthPages = Pphp1G, Batch = 512 }, engine.UserRecorders);
        Assert.Contains($" --strategy-assembly {typeof(PfnEachRecorder).Assembly.Location} --strategy pfn-each ", cmd, StringComparison.Ordinal);
        var g = Cli.CliRun.Run(ShellWords(cmd)[1..]);
        Assert.Equal(0, g.ExitCode);
    }

    [Fact]
    public void UnknownStrategy_IsTheOneLineError_AndARangePastTheMapping_IsNotApplicable()
    {
        var shape = new CheckShape("x86_64", V("5.12"), MemoryModel.SparsememVmemmap, CheckPlacement.Boot, 2 * M, 1, 128 * M, 0, 1);
        var engine = new CheckEngine([]);
        var e = Assert.Throws<GupSimException>(() => engine.Run(new CheckConfiguration(shape, "nope", CheckPath.SlowPin, 0, 1, 1)));
        Assert.StartsWith("unknown strategy 'nope': use one of v5.11, patch1, v1-page++, merged, nth_page, page++, section-run", e.Message, StringComparison.Ordinal);
        var v = engine.Run(new CheckConfiguration(shape, null, CheckPath.SlowPin, 500, 13, 1));
        Assert.True(CheckEngine.IsNotApplicable(v));
        Assert.Equal("not applicable: 13 pages from page 500 (+0 bytes) do not fit in the 1 x 2M mapping", v.Detail);
    }

    [Fact]
    public void GupTestCommand_OfAWholeMappingConfiguration_RunsAndShowsTheFailure()
    {
        var c = new CheckConfiguration(OneGig("5.11", MemoryModel.Sparsemem, CheckPlacement.Scattered), null, CheckPath.FastPin, 0, Pphp1G, 512);
        string cmd = CheckScenario.GupTestCommand(c);
        Assert.Equal(
            "gupsim gup-test --arch x86_64 --kernel 5.11 --model sparsemem --placement scattered --mem 4G --seed 3 --hugepages \"hugepagesz=1G hugepages=1\" --mount /mnt/huge=1G -f /mnt/huge/check -m 1024 -n 512 -w -S -a",
            cmd);
        var r = Cli.CliRun.Run(ShellWords(cmd)[1..]);
        Assert.Equal(1, r.ExitCode); // GupSim's verification failed
        Assert.Contains("gupsim: verification FAILED: 1 of 1 ioctl returned wrong pages[] entries (229376 of 262144;", r.Stderr, StringComparison.Ordinal);
    }
}

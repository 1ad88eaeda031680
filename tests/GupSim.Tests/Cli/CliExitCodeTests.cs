using System.Globalization;
using System.Text.RegularExpressions;
using GupSim.Cli;

namespace GupSim.Tests.Cli;

/// <summary>Exit codes of `scenario` and `page`, and the machine and output options no other CLI test runs.</summary>
public sealed partial class CliExitCodeTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(CultureInfo.InvariantCulture);
        var e = new StringWriter(CultureInfo.InvariantCulture);
        int rc = Program.Run(args, o, e);
        return (rc, o.ToString().ReplaceLineEndings("\n"), e.ToString().ReplaceLineEndings("\n"));
    }

    private static string Script(string text)
    {
        string path = Path.Combine(Path.GetTempPath(), "gupsim-exit-" + Guid.NewGuid().ToString("N") + ".scenario");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Scenario_ExitCodes_Ok_ExpectationFailed_BadInput()
    {
        string ok = Script("machine --ram 0-4G\nexpect no-bad-page-state\n");
        string failed = Script("machine --ram 0-4G\nexpect bad-page-state\n");
        string bad = Script("machine --ram 0-4G\nfrobnicate\n");
        try
        {
            var r = Run("scenario", ok);
            Assert.Equal(ExitCodes.Ok, r.Code);
            Assert.EndsWith("scenario: 1 expectations passed, 0 failed\n", r.Out, StringComparison.Ordinal);
            r = Run("scenario", failed);
            Assert.Equal(ExitCodes.ExpectationFailed, r.Code);
            Assert.Contains("expect bad-page-state: FAILED (0 bad page report(s))\n", r.Out, StringComparison.Ordinal);
            r = Run("scenario", bad);
            Assert.Equal(ExitCodes.BadInput, r.Code);
            Assert.StartsWith($"gupsim: {bad}:2: unknown operation 'frobnicate': use ", r.Err, StringComparison.Ordinal);
            Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            File.Delete(ok);
            File.Delete(failed);
            File.Delete(bad);
        }
    }

    [Fact]
    public void Page_ExitCodes_AndTheStructPageAtAHandComputedAddress()
    {
        // x86_64 VMEMMAP: vmemmap_base 0xffffea0000000000 + pfn 0x10000 × 64 = 0xffffea0000400000.
        var r = Run("page", "0xffffea0000400000");
        Assert.Equal(ExitCodes.Ok, r.Code);
        Assert.StartsWith("address   0xffffea0000400000: struct page of pfn 0x10000\nregion    vmemmap\n", r.Out, StringComparison.Ordinal);
        // A user address: nothing mapped, still a successful answer.
        r = Run("page", "0x100000");
        Assert.Equal(ExitCodes.Ok, r.Code);
        Assert.StartsWith("address   0x100000: nothing mapped: a dereference oopses\n", r.Out, StringComparison.Ordinal);
        r = Run("page", "zzz");
        Assert.Equal(ExitCodes.BadInput, r.Code);
        Assert.Equal("gupsim: 'zzz' is not a hex address\n", r.Err);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void Layout_Hotplug_AddsSection64AtItsVmemmapSlice()
    {
        var r = Run("layout", "--ram", "0-4G", "--hotplug", "8G-9G");
        Assert.Equal(ExitCodes.Ok, r.Code);
        // 8G / 128M = section 64, first pfn 0x200000; its vmemmap slice: 0xffffea0000000000 + 0x200000 × 64.
        Assert.Matches(@"(?m)^\s+64\s+0x200000\s+0\s+0xffffea0008000000\s", r.Out);
        // The hot-added 1 GiB (262144 pages) is all free, as 256 order-10 blocks.
        Assert.Contains("pfn 0x200000-0x240000 present 262144 managed 262144 free 262144  buddy: 0 0 0 0 0 0 0 0 0 0 256", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Layout_Nodes_SplitsTheRamAcrossTwoNodes()
    {
        var r = Run("layout", "--ram", "0-4G", "--nodes", "0:0-2G,1:2G-4G", "--json");
        Assert.Equal(ExitCodes.Ok, r.Code);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Out);
        var sections = doc.RootElement.GetProperty("sections").EnumerateArray().ToList();
        // 4 GiB = 32 sections of 128 MiB: 0…15 on node 0, 16…31 on node 1.
        Assert.Equal(32, sections.Count);
        for (int i = 0; i < 32; i++) Assert.Equal(i < 16 ? 0 : 1, sections[i].GetProperty("node").GetInt32());
    }

    [Fact]
    public void RunVmtests_Dmesg_PrintsDumpPageLinesWhoseAddressIsVmemmapPlusPfnTimes64()
    {
        var r = Run("run-vmtests", "--kernel", "6.6", "--dmesg", "-t", "gup_test");
        Assert.Equal(ExitCodes.Ok, r.Code);
        var lines = r.Out.Split('\n').Where(l => l.StartsWith("# dmesg: page:", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(lines);
        foreach (string l in lines)
        {
            var m = DumpPage().Match(l);
            Assert.True(m.Success, l);
            ulong page = ulong.Parse(m.Groups[1].Value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            ulong pfn = ulong.Parse(m.Groups[2].Value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            Assert.Equal(KnownAddresses.X86_64Vmemmap + pfn * 64, page);
        }
    }

    [Fact]
    public void Bench_CostModel_PrintsThePredictions()
    {
        var r = Run("bench", "--cost-model", "--strategies", "page++", "--rounds", "1", "--json", "-f", "/mnt/huge/file", "-m", "1024", "-a", "-S", "-n", "512", "-w");
        Assert.True(r.Code == ExitCodes.Ok, r.Out + r.Err);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Out);
        string text = doc.RootElement.ToString();
        // merged 82e5d378b0e4: 4400 + 16.40625 µs, worked out in KernelCostModelTests.
        Assert.Contains("4416.40625", text, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^# dmesg: page:([0-9a-f]+) refcount:\d+ mapcount:-?\d+ mapping:[0-9a-f]+ index:0x[0-9a-f]+ pfn:0x([0-9a-f]+)")]
    private static partial Regex DumpPage();
}

using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;
using GupSim.Tests.Cli;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>
/// CONFIG_DEBUG_VM: where it comes from (.config, --debug-vm, default off) and what it gates at free time
/// (free_pages_prepare(), mm/page_alloc.c: free_tail_pages_check() only with DEBUG_VM; check_free_page() always
/// before v6.4, only with DEBUG_VM from v6.4, 700d2e9a36b9; allocator-facts.md §6).
/// </summary>
public sealed class DebugVmTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gupsim-debugvm-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Config(string name, params string[] lines)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllLines(path, ["#", "# Automatically generated file; DO NOT EDIT.", "# Linux/x86 5.11.0 Kernel Configuration", "#", "CONFIG_X86_64=y", "CONFIG_SPARSEMEM_VMEMMAP=y", "CONFIG_SPARSEMEM=y", .. lines]);
        return path;
    }

    [Theory]
    [InlineData(new[] { "CONFIG_DEBUG_KERNEL=y", "CONFIG_DEBUG_VM=y" }, true)]
    [InlineData(new[] { "CONFIG_DEBUG_KERNEL=y", "# CONFIG_DEBUG_VM is not set" }, false)]
    [InlineData(new string[0], false)] // no DEBUG_KERNEL: the symbol has no line at all
    public void ToSpec_FromConfig_TakesTheFilesValue(string[] lines, bool expected)
    {
        var o = new MachineOptions { ConfigFile = Config("a.config", lines), Mem = "1G" };
        Assert.Equal(expected, o.ToSpec().DebugVm);
        Assert.Empty(o.Warnings);
    }

    [Fact]
    public void Derive_DebugVmWithoutDebugKernel_Warns()
    {
        var d = KernelConfig.Parse("# Linux/x86 5.11.0 Kernel Configuration\nCONFIG_X86_64=y\nCONFIG_DEBUG_VM=y\n", "b.config").Derive();
        Assert.True(d.DebugVm);
        Assert.Contains("CONFIG_DEBUG_VM is set without CONFIG_DEBUG_KERNEL (it depends on it); the real Kconfig would not produce this file", d.Warnings);
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("on", true)]
    [InlineData("off", false)]
    [InlineData("ON", true)]
    public void ToSpec_WithoutConfig_TakesTheFlag_DefaultOff(string? flag, bool expected) =>
        Assert.Equal(expected, new MachineOptions { DebugVm = flag, Mem = "1G" }.ToSpec().DebugVm);

    [Fact]
    public void ToSpec_BadValue_OneLine()
    {
        var e = Assert.Throws<GupSimException>(() => new MachineOptions { DebugVm = "x" }.ToSpec());
        Assert.Equal("--debug-vm: expected on or off, got 'x'", e.Message);
    }

    [Fact]
    public void ToSpec_FlagAgreeingWithConfig_IsAccepted_ContradictingIsAnError()
    {
        string on = Config("on.config", "CONFIG_DEBUG_KERNEL=y", "CONFIG_DEBUG_VM=y");
        Assert.True(new MachineOptions { ConfigFile = on, DebugVm = "on", Mem = "1G" }.ToSpec().DebugVm);
        var e = Assert.Throws<GupSimException>(() => new MachineOptions { ConfigFile = on, DebugVm = "off", Mem = "1G" }.ToSpec());
        // Line 9: five header and symbol lines of Config(), SPARSEMEM, DEBUG_KERNEL, then DEBUG_VM.
        Assert.Equal($"--debug-vm off: {on}:9 sets CONFIG_DEBUG_VM=y, and a loaded .config decides CONFIG_DEBUG_VM: drop --debug-vm or edit the file", e.Message);
        string none = Config("none.config");
        var e2 = Assert.Throws<GupSimException>(() => new MachineOptions { ConfigFile = none, DebugVm = "on", Mem = "1G" }.ToSpec());
        Assert.Equal($"--debug-vm on: {none} has no CONFIG_DEBUG_VM (off), and a loaded .config decides CONFIG_DEBUG_VM: drop --debug-vm or edit the file", e2.Message);
    }

    [Fact]
    public void FromArgs_ScenarioMachineLine_TakesDebugVm() =>
        Assert.True(MachineOptions.FromArgs(["--mem", "1G", "--debug-vm", "on"]).ToSpec().DebugVm);

    [Fact]
    public void Cli_BadValue_OneLineOnStderr_Exit1()
    {
        var r = CliRun.Run("layout", "--mem", "1G", "--debug-vm", "x");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("gupsim: --debug-vm: expected on or off, got 'x'", r.Stderr.Trim());
    }

    [Theory]
    [InlineData(null, "debug           # CONFIG_DEBUG_VM is not set")]
    [InlineData("on", "debug           CONFIG_DEBUG_VM=y")]
    public void Cli_Layout_PrintsDebugVm(string? flag, string line)
    {
        var r = flag is null ? CliRun.Run("layout", "--mem", "1G") : CliRun.Run("layout", "--mem", "1G", "--debug-vm", flag);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains(line + "\n", r.Stdout);
    }

    [Theory]
    [InlineData("5.11", false, true)]
    [InlineData("5.11", true, true)]
    [InlineData("6.3", false, true)]
    [InlineData("6.4", false, false)]
    [InlineData("6.4", true, true)]
    [InlineData("6.18", false, false)]
    public void CheckPagesEnabled_IsTheVersionsGate(string version, bool debugVm, bool expected) =>
        Assert.Equal(expected, FreePagesPrepare.CheckPagesEnabled(KernelVersion.Parse(version), debugVm));

    private static Machine OneGig(string version, bool debugVm) => Machine.Boot(new MachineSpec
    {
        Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
        Model = MemoryModel.SparsememVmemmap,
        Ram = Ram((0, G)),
        DebugVm = debugVm,
    });

    /// <summary>prep_compound_page() by hand for an order-2 block, then compound_mapcount left at 0 (mapped, never unmapped).</summary>
    private static PagePtr DirtyOrder2(Machine m, out Pfn pfn)
    {
        var sp = m.StructPages;
        Assert.True(m.TryAllocPages(2, 0, "test", out pfn));
        var head = m.PfnToPage(pfn);
        sp.SetFlag(head, PageFlagBits.Head);
        for (int i = 1; i < 4; i++)
        {
            sp.SetMapping(m.PageAdd(head, i), m.Arch.TailMapping);
            sp.SetCompoundHead(m.PageAdd(head, i), head, 2);
        }
        sp.SetCompoundOrder(head, 2);
        sp.SetCompoundMapcount(head, 0);
        sp.SetRefcount(head, 0);
        return head;
    }

    [Fact]
    public void FreePages_DirtyCompoundMapcount_V5_11_ReportedOnlyWithDebugVm()
    {
        var on = OneGig("5.11", debugVm: true);
        DirtyOrder2(on, out var pfn);
        ulong freeBefore = on.FreePagesTotal;
        Assert.EndsWith("page dumped because: nonzero compound_mapcount", Assert.Single(on.FreePages(pfn, 2)));
        Assert.Equal(freeBefore, on.FreePagesTotal); // bad_page(): the block is leaked

        var off = OneGig("5.11", debugVm: false);
        DirtyOrder2(off, out pfn);
        freeBefore = off.FreePagesTotal;
        Assert.Empty(off.FreePages(pfn, 2));
        Assert.Equal(freeBefore + 4, off.FreePagesTotal); // free_tail_pages_check() checked nothing: 4 pages freed
        Assert.False(off.StructPages.PageTail(off.PageAdd(off.PfnToPage(pfn), 1))); // its out: label still cleared compound_head
        Assert.DoesNotContain(off.KernelLog, l => l.Contains("Bad page state", StringComparison.Ordinal));
    }

    /// <summary>
    /// An order-0 page freed with _mapcount 0 goes to the pcp. 5.11 mm/page_alloc.c: with CONFIG_DEBUG_VM,
    /// free_pcp_prepare() is free_pages_prepare(page, 0, check_free = true) — reported at free — and
    /// bulkfree_pcp_prepare() re-checks only with debug_pagealloc; without DEBUG_VM, free_pcp_prepare() passes
    /// check_free = false and bulkfree_pcp_prepare() is check_free_page(), run by free_pcppages_bulk() when the page
    /// is drained to the buddy — reported then, and the page is leaked (already off the pcp list, pcp->count
    /// decremented). v6.4+ (700d2e9a36b9): no free-time checks without DEBUG_VM. The page is 0x4400 on the 5.11
    /// machine (BuddyTests.AllocPages_UnmovableOrder0_RefillsThePcpFromAStolenBlock has the working).
    /// (Was: [InlineData("5.11", false, true)] expecting the report at free; the kernel's rule is the drain.)
    /// </summary>
    [Theory]
    [InlineData("5.11", false, "drain")]
    [InlineData("5.11", true, "free")]
    [InlineData("6.6", false, "never")]
    [InlineData("6.6", true, "free")]
    public void FreePages_Order0NonzeroMapcount_AsTheVersionGatesIt(string version, bool debugVm, string reportedAt)
    {
        var m = OneGig(version, debugVm);
        var sp = m.StructPages;
        var zone = m.Nodes[0].Zones[1];
        Assert.True(m.TryAllocPages(0, 0, "test", out var pfn));
        var page = m.PfnToPage(pfn);
        sp.SetRefcount(page, 0);
        m.Memory.WriteU32(page.Address + (ulong)m.Layout.Mapcount, 0, "test: _mapcount 0"); // mapped once, never unmapped
        ulong freeBefore = m.FreePagesTotal;
        var reports = m.FreePages(pfn, 0);
        if (reportedAt == "free")
        {
            Assert.EndsWith("page dumped because: nonzero mapcount", Assert.Single(reports));
            Assert.Equal(freeBefore, m.FreePagesTotal); // bad_page(): leaked
        }
        else
        {
            Assert.Empty(reports);
            Assert.Equal(freeBefore + 1, m.FreePagesTotal); // on the pcp list, counted free
        }

        var drainReports = new List<string>();
        m.PageAlloc.DrainZone(zone, drainReports);
        Assert.Equal(0UL, zone.PcpPages);
        if (reportedAt == "drain")
        {
            string r = Assert.Single(drainReports);
            Assert.StartsWith("BUG: Bad page state in process gupsim  pfn:04400\n", r);
            Assert.EndsWith("page dumped because: nonzero mapcount", r);
            Assert.Contains(m.KernelLog, l => l.Contains("nonzero mapcount", StringComparison.Ordinal));
            Assert.Equal(freeBefore, m.FreePagesTotal); // the other 62 pcp pages went to the buddy, this one leaked
        }
        else
        {
            Assert.Empty(drainReports);
            Assert.Equal(reportedAt == "never" ? freeBefore + 1 : freeBefore, m.FreePagesTotal);
        }
    }
}

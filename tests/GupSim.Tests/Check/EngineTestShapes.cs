using System.Globalization;
using GupSim.Arch;
using GupSim.Check;
using GupSim.Scenario;

namespace GupSim.Tests.Check;

/// <summary>Shapes and helpers shared by the engine, shrinker and trap tests.</summary>
internal static class EngineTestShapes
{
    public const ulong M = 1UL << 20, G = 1UL << 30;

    /// <summary>x86_64: PAGES_PER_SECTION (SECTION_SIZE_BITS 27 − PAGE_SHIFT 12 = 15) and 1 GiB / 4 KiB.</summary>
    public const long S = 32768, Pphp1G = 262144;

    public static KernelVersion V(string v) => KernelVersion.Parse(v);

    /// <summary>x86_64, 4 GiB on the PC layout ([0, 3G) and [4G, 5G)), one 1 GiB huge page, seed 3, fresh boot.</summary>
    public static CheckShape OneGig(string kernel, MemoryModel model, CheckPlacement placement, string arch = "x86_64") =>
        new(arch, V(kernel), model, placement, G, 1, 4 * G, 0, 3);

    /// <summary>Runs a script through the scenario runner; returns the result and the runner (for its machine and process).</summary>
    public static (ScenarioResult Result, ScenarioRunner Runner) RunScript(string script)
    {
        var runner = new ScenarioRunner(TextWriter.Null);
        return (runner.Run(script, "minimal.scenario"), runner);
    }

    /// <summary>The pointer of the oracle's "pages[i] = 0x…" in a verdict's detail.</summary>
    public static ulong FirstWrongPointer(CheckVerdict v)
    {
        Assert.NotNull(v.Detail);
        int at = v.Detail.IndexOf("= 0x", StringComparison.Ordinal);
        Assert.True(at >= 0, v.Detail);
        int end = v.Detail.IndexOf(':', at);
        return ulong.Parse(v.Detail.AsSpan(at + 4, end - at - 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    /// <summary>The head pfn mapped at the script's mapping A (from the page table the script built).</summary>
    public static ulong HeadPfn(ScenarioRunner runner)
    {
        Assert.True(runner.TryGetMapping(CheckScenario.MappingName, out ulong addr, out _));
        return runner.Process!.WalkLeaf(addr)!.Value.Entry.Pfn.Value;
    }

    /// <summary>Splits a command line as a shell would (double quotes, a trailing # comment dropped).</summary>
    public static string[] ShellWords(string line)
    {
        var words = new List<string>();
        var cur = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in line)
        {
            if (c == '#' && !quoted && !any) break;
            if (c == '"')
            {
                quoted = !quoted;
                any = true;
            }
            else if (!quoted && c == ' ')
            {
                if (any) words.Add(cur.ToString());
                cur.Clear();
                any = false;
            }
            else
            {
                cur.Append(c);
                any = true;
            }
        }
        if (any) words.Add(cur.ToString());
        return [.. words];
    }
}

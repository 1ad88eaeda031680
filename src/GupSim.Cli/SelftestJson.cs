using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Selftests;

namespace GupSim.Cli;

/// <summary>The JSON documents of gup-test, gup-longterm and scenario (docs/cli.md has each schema).</summary>
public static class SelftestJson
{
    /// <summary>The machine summary every selftest document opens with.</summary>
    public static object Machine(Machine m, string? strategy) => new
    {
        arch = m.Arch.Name,
        kernel = m.Version.ToString(),
        memoryModel = m.Model.ToName(),
        pageSize = m.Arch.PageSize,
        hugepageSizes = m.Hugetlb.Hstates.Select(h => h.Size.Bytes),
        strategy,
    };

    /// <summary>GupSim's verification block (<see cref="SelftestVerification"/>).</summary>
    public static object Verification(SelftestVerification v) => new
    {
        enabled = v.Enabled,
        verified = v.Verified,
        ioctls = v.Ioctls,
        entriesChecked = v.EntriesChecked,
        wrongEntries = v.WrongEntries,
        wrongIoctls = v.WrongIoctls,
        firstWrongIoctl = v.FirstWrongIoctl,
        firstWrongIndex = v.FirstWrongIndex,
        headsChecked = v.HeadsChecked,
        poolsChecked = v.PoolsChecked,
        freePagesChecked = v.FreePagesChecked,
        countDifferences = v.CountDifferences,
        failures = v.Failures,
        line = "gupsim: " + v.Line,
    };

    /// <summary>One gup_test ioctl.</summary>
    public static object Run(GupTestRun run)
    {
        var r = run.Report;
        var o = r?.Oracle;
        var c = r?.GetCounters;
        return new
        {
            thread = run.Thread,
            repeat = run.Repeat,
            cmd = GupTestUapi.Name(run.Cmd),
            cmdNr = (int)run.Cmd,
            status = run.Status,
            error = run.Status < 0 ? Core.ErrnoText.Strerror(run.Status) : null,
            getUs = r?.Args.GetDeltaUsec,
            putUs = r?.Args.PutDeltaUsec,
            getUsExact = r is null ? (double?)null : Math.Round(r.GetMicroseconds, 1),
            putUsExact = r is null ? (double?)null : Math.Round(r.PutMicroseconds, 1),
            addr = r is null ? null : Hex(r.Args.Addr),
            size = r?.SizeAsked,
            sizeWalked = r?.Args.Size,
            truncated = r is not null && r.Args.Size != r.SizeAsked,
            nrPagesPerCall = r?.Args.NrPagesPerCall,
            gupFlags = r is null ? null : Hex(r.Args.GupFlags),
            testFlags = r is null ? null : Hex(r.Args.TestFlags),
            pages = r?.NrPages,
            calls = r?.Calls,
            verified = r is null || o is null ? (bool?)null : r.Verified && r.PutOops is null,
            entriesChecked = o?.Checked,
            wrongEntries = o?.Wrong,
            firstWrongIndex = o is { FirstWrongIndex: >= 0 } ? o.FirstWrongIndex : (long?)null,
            firstWrongCall = r is { FirstWrongCall: >= 0 } ? r.FirstWrongCall : (long?)null,
            firstWrong = o?.FirstWrongText,
            firstWrongFound = o is { FirstWrongIndex: >= 0 } ? o.Found.ToString() : null,
            firstWrongExpectedPfn = o?.ExpectedPfn is ulong p ? Hex(p) : null,
            headsChecked = r?.HeadsChecked,
            poolsChecked = r?.PoolsChecked,
            imbalances = r?.Imbalances,
            putOops = r?.PutOops?.Message,
            counters = c is null ? null : new
            {
                atomics = c.Atomics,
                structPagesTouched = c.StructPagesTouched,
                pfnToPage = c.PfnToPageCalls,
                pageToPfn = c.PageToPfnCalls,
                sectionLookups = c.SectionLookups,
                entriesRead = c.PageTableEntriesRead,
                pagesWrites = c.PagesWrites,
            },
        };
    }

    /// <summary>Splits captured output into lines (no trailing empty line).</summary>
    /// <summary>
    /// A selftest program run for <c>--json</c>: its stdout and stderr captured, an oops in the kernel caught as the
    /// killed run (exit <see cref="ExitCodes.Oops"/>), and the kernel log lines the run added.
    /// </summary>
    public sealed record Captured(int ExitCode, string? Oops, List<string> Output, List<string> Stderr, List<string> Dmesg);

    /// <summary>Runs <paramref name="run"/> with captured streams (see <see cref="Captured"/>).</summary>
    public static Captured Capture(Machine m, Func<TextWriter, TextWriter, int> run)
    {
        var so = new StringWriter(CultureInfo.InvariantCulture);
        var se = new StringWriter(CultureInfo.InvariantCulture);
        int logSeen = m.KernelLog.Count;
        int exit;
        string? oops = null;
        try
        {
            exit = run(so, se);
        }
        catch (KernelOops x)
        {
            oops = x.Message;
            exit = ExitCodes.Oops;
        }
        return new Captured(exit, oops, Lines(so.ToString()), Lines(se.ToString()), m.KernelLog.Skip(logSeen).ToList());
    }

    public static List<string> Lines(string text)
    {
        var lines = new List<string>(text.Replace("\r", "", StringComparison.Ordinal).Split('\n'));
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return lines;
    }

    /// <summary>0x-prefixed lower-case hex (addresses lose precision as JSON numbers above 2^53).</summary>
    public static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);
}

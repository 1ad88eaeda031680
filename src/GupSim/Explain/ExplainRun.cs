using System.Globalization;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Scenario;

namespace GupSim.Explain;

/// <summary>One GUP call as <c>gupsim explain</c> takes it from the command line (docs/cli.md, "explain").</summary>
/// <param name="Pin">FOLL_PIN (pin_user_pages*) rather than FOLL_GET (get_user_pages*).</param>
/// <param name="Fast">The gup-fast entry point.</param>
/// <param name="Write">FOLL_WRITE.</param>
/// <param name="Longterm">FOLL_LONGTERM.</param>
/// <param name="HugePageBytes">The mapping's huge page size (MAP_HUGETLB | MAP_HUGE_*).</param>
/// <param name="MappingBytes">The mapping's length.</param>
/// <param name="OffsetBytes">Where in the mapping the call starts.</param>
/// <param name="Pages">Entries (null: to the end of the mapping).</param>
/// <param name="Batch">Pages per call (-1: all in one call).</param>
/// <param name="Strategy">The recording strategy's name, or null for the kernel version's own code.</param>
/// <param name="UserRecorders">The user recorders the caller loaded (<c>--strategy-assembly</c>, <c>--strategy-c</c>), which <see cref="Strategy"/> may name: handed to the scenario runner as they are, not loaded (or compiled) again.</param>
/// <param name="Release">Put the pages back after the call (unpin_user_pages()/put_page(), as gup_test does), so its stray stores are drawn.</param>
public sealed record ExplainCallSpec(bool Pin, bool Fast, bool Write, bool Longterm, ulong HugePageBytes, ulong MappingBytes,
    ulong OffsetBytes, long? Pages, long Batch, string? Strategy, IReadOnlyList<GupSim.Gup.ISubpageRecorder> UserRecorders, bool Release)
{
    /// <summary>The mapping line (docs/scenarios.md), run alone first so a pool that cannot back it is its own error.</summary>
    public string MmapLine() => string.Create(CultureInfo.InvariantCulture, $"mmap A {MappingBytes} hugetlb={ByteSize.Format(HugePageBytes)} shared");

    /// <summary>The line between the mapping and the call: the touch.</summary>
    public IReadOnlyList<string> SetupLines() => ["touch A write"];

    /// <summary>The call's lines: pin/get, and unpin/put when the pages are put back.</summary>
    public IReadOnlyList<string> CallLines()
    {
        var ci = CultureInfo.InvariantCulture;
        var lines = new List<string>();
        var call = new System.Text.StringBuilder(Pin ? "pin A" : "get A");
        if (Fast) call.Append(" fast");
        if (Write) call.Append(" write");
        if (Longterm) call.Append(" longterm");
        call.Append(ci, $" batch={Batch} offset={OffsetBytes}");
        if (Pages is long n) call.Append(ci, $" pages={n}");
        if (Strategy is not null) call.Append(" strategy=").Append(Strategy);
        lines.Add(call.ToString());
        if (Release) lines.Add(Pin ? "unpin A" : "put A");
        return lines;
    }
}

/// <summary>Runs the call <c>gupsim explain</c> draws, on the scenario runner, and builds its scene.</summary>
public static class ExplainRun
{
    /// <summary>Makes the call <paramref name="spec"/> describes on <paramref name="machine"/> (booted by the caller, huge pages reserved) and builds its scene.</summary>
    /// <exception cref="GupSimException">Thrown on a call the machine cannot make (no pool, a range past the mapping, ...).</exception>
    public static ExplainScene Direct(Machine machine, ExplainCallSpec spec)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(spec);
        var runner = new ScenarioRunner(TextWriter.Null);
        runner.UseMachine(machine);
        foreach (var r in spec.UserRecorders) runner.AddUserRecorder(r);
        // The mapping alone first (a pool that cannot back it is the user's error, not a later line's), then the
        // setup, then the call (and its put-back) with the stray-store log on.
        var mmap = runner.Run(spec.MmapLine(), "explain");
        foreach (var s in mmap.Steps)
            if (s.Result is not (null or "ok"))
                throw new GupSimException($"explain: a {ByteSize.Format(spec.MappingBytes)} mapping of {ByteSize.Format(spec.HugePageBytes)} pages failed with {s.Result}: reserve enough huge pages of that size (--hugepages \"hugepagesz={ByteSize.Format(spec.HugePageBytes)} hugepages=N\") or give a smaller --mapping");
        var setup = runner.Run(string.Join('\n', spec.SetupLines()), "explain");
        foreach (var s in setup.Steps)
            if (s.Result is not (null or "ok"))
                throw new GupSimException($"explain: '{s.Text.Trim()}' failed with {s.Result} before the call: there is no mapping to draw the call over");
        return Call(runner, string.Join('\n', spec.CallLines()), "explain");
    }

    /// <summary>
    /// Runs <paramref name="text"/> up to line <paramref name="line"/> (a <c>pin</c> or <c>get</c> line) and builds
    /// the scene of that step's call.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when the line is not a GUP step or the script fails before it.</exception>
    public static ExplainScene FromScenario(string text, string source, int line)
    {
        ArgumentNullException.ThrowIfNull(text);
        var all = text.Split('\n');
        if (line < 1 || line > all.Length)
            throw new GupSimException(string.Create(CultureInfo.InvariantCulture, $"--step {line}: {source} has {all.Length} lines: give the line number of a pin or get step"));
        string own = all[line - 1];
        if (!IsGupStep(own))
            throw new GupSimException(string.Create(CultureInfo.InvariantCulture, $"--step {line}: line {line} of {source} is '{own.Trim()}', not a pin or get step: give the line number of one"));
        // Line numbers stay the file's: the lines not run yet are blank.
        var before = new string[all.Length];
        var step = new string[all.Length];
        for (int i = 0; i < all.Length; i++)
        {
            before[i] = i < line - 1 ? all[i] : "";
            step[i] = i == line - 1 ? all[i] : "";
        }
        var runner = new ScenarioRunner(TextWriter.Null);
        runner.Run(string.Join('\n', before), source);
        return Call(runner, string.Join('\n', step), source);
    }

    /// <summary>The 1-based line of <paramref name="text"/>'s first <c>pin</c> or <c>get</c> step, 0 when it has none.</summary>
    public static int FirstGupStep(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var all = text.Split('\n');
        for (int i = 0; i < all.Length; i++)
            if (IsGupStep(all[i])) return i + 1;
        return 0;
    }

    /// <summary>Whether a script line is a <c>pin</c> or <c>get</c> step (its first word, comments and case aside).</summary>
    private static bool IsGupStep(string line)
    {
        int hash = line.IndexOf('#', StringComparison.Ordinal);
        string op = (hash >= 0 ? line[..hash] : line).Trim().Split(' ', 2)[0].ToLowerInvariant();
        return op is "pin" or "get";
    }

    private static ExplainScene Call(ScenarioRunner runner, string text, string source)
    {
        var m = runner.Machine ?? throw new GupSimException($"{source}: no machine before the call: start with a 'machine ...' line");
        var log = new List<StrayRange>();
        m.Memory.StrayLog = log;
        m.Memory.StrayLogCapacity = ExplainScene.MaxStrays;
        ScenarioResult r;
        try
        {
            r = runner.Run(text, source);
        }
        finally
        {
            m.Memory.StrayLog = null;
        }
        var gupStep = r.Steps.LastOrDefault(s => s.Gup is not null);
        if (gupStep?.Gup is not { } g || runner.LastGup is not { } last)
        {
            string? oops = r.Steps.Select(s => s.Oops).FirstOrDefault(o => o is not null);
            throw new GupSimException(oops is not null
                ? $"{source}: the call oopsed before it returned ({oops}): there are no pages[] to draw"
                : $"{source}: no pin or get call ran: nothing to draw");
        }
        StrayWrites counts = default;
        string? oopsAfter = null;
        bool after = false;
        foreach (var s in r.Steps)
        {
            if (ReferenceEquals(s, gupStep)) after = true;
            if (!after) continue;
            if (s.StrayWrites is { } w) counts += w;
            oopsAfter ??= s.Oops;
        }
        var strays = log.Select(x => new ExplainStray(x.Start, x.End, x.Count, x.Target)).ToList();
        var ci = CultureInfo.InvariantCulture;
        string call = string.Create(ci,
            $"{(g.Pin ? "pin" : "get")}{(g.Fast ? "-fast" : "")} of {g.Pages} pages at 0x{last.Start:x} in calls of {g.Batch}");
        return ExplainBuilder.Build(runner.Process!, last.Start, last.Pages.AsSpan(0, (int)last.Count), g.Strategy, call, strays, counts, oopsAfter);
    }
}

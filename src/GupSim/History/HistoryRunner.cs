using System.Globalization;
using System.Text;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Memory;
using GupSim.Scenario;

namespace GupSim.History;

/// <summary>A <c>pin</c>/<c>get</c> line of a history side as it ran.</summary>
/// <param name="Line">The script line.</param>
/// <param name="Pages">Entries taken.</param>
/// <param name="Total">Entries asked for.</param>
/// <param name="Wrong">Entries that are not the struct page of the pfn mapped at their address (GupSim's oracle).</param>
/// <param name="FirstWrongIndex">The first wrong entry's index, or null.</param>
/// <param name="FirstWrong">The oracle's words about it, or null.</param>
/// <param name="Result"><c>ok</c> or the errno the calls ended with (<c>ENOMEM</c>, ...).</param>
/// <param name="Migrated">Pages FOLL_LONGTERM migrated.</param>
/// <param name="Unpinnable">Pinned heads left in CMA or ZONE_MOVABLE.</param>
public sealed record HistoryGup(string Line, long Pages, long Total, long Wrong, long? FirstWrongIndex, string? FirstWrong, string Result,
    long Migrated, long Unpinnable);

/// <summary>A compound head of a mapping: its counts before the first GUP line and at the end of the script (null where it was not mapped then).</summary>
/// <param name="Pfn">The head's pfn.</param>
/// <param name="RefcountBefore">page_ref_count() before.</param>
/// <param name="PincountBefore">compound_pincount() before.</param>
/// <param name="RefcountAfter">page_ref_count() at the end.</param>
/// <param name="PincountAfter">compound_pincount() at the end.</param>
public sealed record HistoryHead(ulong Pfn, int? RefcountBefore, int? PincountBefore, int? RefcountAfter, int? PincountAfter)
{
    /// <summary>Whether the counts at the end are those before.</summary>
    public bool Balanced => RefcountBefore == RefcountAfter && PincountBefore == PincountAfter;
}

/// <summary>What one side (buggy or fixed kernel) of a <see cref="HistoryCase"/> did, read from the scenario steps and the machine.</summary>
/// <param name="Kernel">The kernel version it ran.</param>
/// <param name="Model">The memory model it ran.</param>
/// <param name="Script">The script lines it ran.</param>
public sealed record HistoryOutcome(string Kernel, string Model, IReadOnlyList<string> Script)
{
    /// <summary>The one line saying why the machine cannot be built on this kernel (a configuration the kernel refuses), or null.</summary>
    public string? Refused { get; init; }
    /// <summary>The GUP lines.</summary>
    public IReadOnlyList<HistoryGup> Gups { get; init; } = [];
    /// <summary>The first oops, or null.</summary>
    public string? Oops { get; init; }
    /// <summary>The script line that oopsed, or null.</summary>
    public string? OopsLine { get; init; }
    /// <summary>The first soft lockup, or null.</summary>
    public string? SoftLockup { get; init; }
    /// <summary>Every stray store of the script, classified (docs/scenarios.md, "Stray writes").</summary>
    public StrayWrites StrayWrites { get; init; }
    /// <summary>Subpage pointers update_and_free_page() wrote flags through that were not the subpage's struct page.</summary>
    public ulong WrongSubpageWrites { get; init; }
    /// <summary>"BUG: Bad page state" reports.</summary>
    public int BadPageStates { get; init; }
    /// <summary>The mappings' compound heads with their counts before GUP and at the end.</summary>
    public IReadOnlyList<HistoryHead> Heads { get; init; } = [];
    /// <summary>The <c>walk</c> lines' results (<c>walk 0x200000 +32769: 32768 right, 1 wrong</c> and its first wrong step).</summary>
    public IReadOnlyList<string> Walks { get; init; } = [];
    /// <summary>The <c>verify</c> lines' results (<c>verify A S (262144 pages): ok</c>, or how many pages differ).</summary>
    public IReadOnlyList<string> Verifies { get; init; } = [];
    /// <summary>The <c>hugepages</c> lines' results (what the pool reached).</summary>
    public IReadOnlyList<string> Pools { get; init; } = [];
    /// <summary>Kernel log lines that are warnings (WARNING, HugeTLB refusals, BUG lines).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
    /// <summary>Release lines not run because the GUP before them oopsed or locked up (nothing to release).</summary>
    public IReadOnlyList<string> Skipped { get; init; } = [];

    /// <summary>Heads whose counts did not come back.</summary>
    public int UnbalancedHeads
    {
        get
        {
            int n = 0;
            foreach (var h in Heads)
                if (h.RefcountBefore is not null && h.RefcountAfter is not null && !h.Balanced) n++;
            return n;
        }
    }

    /// <summary>One line: what went wrong on this side, or that nothing did.</summary>
    public string Summary()
    {
        if (Refused is not null) return "refused: " + Refused;
        var parts = new List<string>();
        foreach (var g in Gups)
        {
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"{g.Pages} of {g.Total} pages, {g.Wrong} wrong");
            if (g.FirstWrongIndex is long f) sb.Append(CultureInfo.InvariantCulture, $" from pages[{f}]");
            if (g.Result != "ok") sb.Append(", then ").Append(g.Result);
            if (g.Migrated > 0 || g.Unpinnable > 0 || g.Line.Contains("longterm", StringComparison.Ordinal))
                sb.Append(CultureInfo.InvariantCulture, $", {g.Migrated} migrated, {g.Unpinnable} pinned in CMA");
            parts.Add(sb.ToString());
        }
        if (Oops is not null) parts.Add("oops: " + Oops);
        if (SoftLockup is not null) parts.Add(SoftLockup);
        foreach (var w in Walks)
            if (w.StartsWith("walk", StringComparison.Ordinal)) parts.Add(w);
        parts.AddRange(Verifies);
        if (WrongSubpageWrites > 0) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{WrongSubpageWrites} wrong page[i] writes"));
        if (StrayWrites.N > 0) parts.Add(StrayWrites.ToLine());
        foreach (var h in Heads)
            if (h.RefcountBefore is not null && h.RefcountAfter is not null && !h.Balanced)
                parts.Add(string.Create(CultureInfo.InvariantCulture,
                    $"head pfn 0x{h.Pfn:x} refcount {h.RefcountBefore} -> {h.RefcountAfter}, pincount {h.PincountBefore} -> {h.PincountAfter} at the end"));
        if (BadPageStates > 0) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{BadPageStates} BUG: Bad page state"));
        foreach (var w in Warnings)
            if (w.StartsWith("WARNING", StringComparison.Ordinal) || w.StartsWith("HugeTLB", StringComparison.Ordinal)) parts.Add(w);
        if (UnbalancedHeads == 0 && Oops is null && SoftLockup is null && Heads.Count > 0 && Gups.Count > 0) parts.Add("every count back");
        return string.Join("; ", parts);
    }
}

/// <summary>One case of an entry, run on both sides.</summary>
/// <param name="Case">The case.</param>
/// <param name="Buggy">The buggy kernel's run.</param>
/// <param name="Fixed">The fixed kernel's run.</param>
public sealed record HistoryCaseResult(HistoryCase Case, HistoryOutcome Buggy, HistoryOutcome Fixed)
{
    /// <summary>Whether the two sides did something different (a latent bug on this machine: they did not).</summary>
    public bool Differs => Buggy.Summary() != Fixed.Summary();
}

/// <summary>An entry with every case run.</summary>
/// <param name="Entry">The entry.</param>
/// <param name="Cases">Its cases' results, in order.</param>
public sealed record HistoryResult(HistoryEntry Entry, IReadOnlyList<HistoryCaseResult> Cases);

/// <summary>
/// Runs a <see cref="HistoryEntry"/> (GupSim's own glue, not a kernel function): each case's script through
/// <see cref="ScenarioRunner"/>, line by line as a user would type it, once with the buggy kernel and once with the
/// fixed one, then reads what emerged — the GUP lines' wrong entries, oopses, soft lockups, stray stores, wrong
/// subpage writes, bad page reports, the heads' counts before and after, kernel warnings — from the steps and the
/// machine. A release line after a GUP that oopsed is skipped (there is nothing to release). A <c>machine</c> line the
/// kernel version cannot build is the side's <see cref="HistoryOutcome.Refused"/>.
/// </summary>
public static class HistoryRunner
{
    /// <summary>Runs every case of <paramref name="entry"/> on both sides.</summary>
    /// <exception cref="GupSimException">Thrown when a script line other than the machine line is malformed (a broken entry).</exception>
    public static HistoryResult Run(HistoryEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var results = new List<HistoryCaseResult>(entry.Cases.Count);
        foreach (var c in entry.Cases)
        {
            var buggy = RunSide(c, entry.BuggyKernel, c.Model, entry.BuggyStrategy);
            var fixd = RunSide(c, entry.FixedKernel, entry.FixedModel ?? c.Model, entry.FixedStrategy);
            results.Add(new HistoryCaseResult(c, buggy, fixd));
        }
        return new HistoryResult(entry, results);
    }

    /// <summary>
    /// Runs every case of every entry, both sides, the sides in parallel (one machine per side, never shared, as
    /// the check engine's workers do); the results in the entries' order.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when a script line other than the machine line is malformed.</exception>
    public static IReadOnlyList<HistoryResult> RunAll(IReadOnlyList<HistoryEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var jobs = new List<(int E, int C, bool Fixed)>();
        for (int e = 0; e < entries.Count; e++)
            for (int c = 0; c < entries[e].Cases.Count; c++)
            {
                jobs.Add((e, c, false));
                jobs.Add((e, c, true));
            }
        var outcomes = new HistoryOutcome[jobs.Count];
        try
        {
            Parallel.For(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
            {
                var (e, c, fx) = jobs[i];
                var entry = entries[e];
                var @case = entry.Cases[c];
                outcomes[i] = fx
                    ? RunSide(@case, entry.FixedKernel, entry.FixedModel ?? @case.Model, entry.FixedStrategy)
                    : RunSide(@case, entry.BuggyKernel, @case.Model, entry.BuggyStrategy);
            });
        }
        catch (AggregateException ae) when (ae.InnerException is GupSimException g)
        {
            throw g;
        }
        var results = new List<HistoryResult>(entries.Count);
        int k = 0;
        foreach (var entry in entries)
        {
            var cases = new List<HistoryCaseResult>(entry.Cases.Count);
            foreach (var c in entry.Cases)
            {
                cases.Add(new HistoryCaseResult(c, outcomes[k], outcomes[k + 1]));
                k += 2;
            }
            results.Add(new HistoryResult(entry, cases));
        }
        return results;
    }

    /// <summary>Runs one case's script on one kernel version and memory model (and GUP strategy, when the side has one).</summary>
    /// <exception cref="GupSimException">Thrown when a script line other than the machine line is malformed.</exception>
    public static HistoryOutcome RunSide(HistoryCase @case, string kernel, string model, string? strategy = null)
    {
        ArgumentNullException.ThrowIfNull(@case);
        var script = @case.ScriptFor(kernel, model, strategy);
        var runner = new ScenarioRunner(TextWriter.Null);
        var gups = new List<HistoryGup>();
        var walks = new List<string>();
        var pools = new List<string>();
        var verifies = new List<string>();
        var skipped = new List<string>();
        var noRelease = new HashSet<string>(StringComparer.Ordinal);
        var before = new Dictionary<string, PinBalance>(StringComparer.Ordinal);
        var mappings = new List<string>();
        string? oops = null, oopsLine = null, lockup = null;
        var stray = default(StrayWrites);
        for (int i = 0; i < script.Count; i++)
        {
            string line = script[i];
            string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0) continue;
            string op = words[0];
            if (op is "unpin" or "put" && words.Length > 1 && noRelease.Contains(words[1]))
            {
                skipped.Add(line);
                continue;
            }
            if (op is "pin" or "get" && words.Length > 1 && !before.ContainsKey(words[1]) && runner.Process is { } p0
                && runner.TryGetMapping(words[1], out ulong a0, out ulong l0))
                before[words[1]] = PinBalance.Take(p0, a0, l0);
            ScenarioStep step;
            try
            {
                step = runner.Run(line, "gupsim history").Steps[^1];
            }
            catch (GupSimException e) when (op == "machine")
            {
                // The kernel version cannot have this machine (e.g. v6.18: SPARSEMEM_VMEMMAP mandatory on x86_64).
                string msg = e.Message;
                const string prefix = "gupsim history:1: ";
                if (msg.StartsWith(prefix, StringComparison.Ordinal)) msg = msg[prefix.Length..];
                return new HistoryOutcome(kernel, model, script) { Refused = msg };
            }
            if (op == "mmap" && words.Length > 1) mappings.Add(words[1]);
            if (step.StrayWrites is { } sw) stray += sw;
            if (step.Oops is not null && oops is null)
            {
                oops = step.Oops;
                oopsLine = line;
            }
            if (step.SoftLockup is not null) lockup ??= step.SoftLockup;
            if (step.Gup is { } g)
            {
                if (step.Oops is not null || step.SoftLockup is not null) noRelease.Add(g.Mapping);
                else noRelease.Remove(g.Mapping);
                gups.Add(new HistoryGup(line, g.Pages, g.Total, g.Wrong, g.FirstWrongIndex, g.FirstWrong, step.Result ?? "ok", g.Migrated, g.Unpinnable));
            }
            else if (op is "pin" or "get" && words.Length > 1 && (step.Oops is not null || step.SoftLockup is not null))
            {
                noRelease.Add(words[1]);
                gups.Add(new HistoryGup(line, 0, 0, 0, null, null, step.Oops is not null ? "oops" : "soft lockup", 0, 0));
            }
            if (op == "walk") walks.AddRange(step.Output);
            if (op == "hugepages") pools.AddRange(step.Output);
            if (op == "verify") verifies.AddRange(step.Output);
        }
        var m = runner.Machine;
        var heads = new List<HistoryHead>();
        if (m is not null && runner.Process is { } mm)
        {
            // The heads of the mappings GUP ran on (a buffer only written or copied from has no counts to compare).
            foreach (string name in mappings)
            {
                if (!before.ContainsKey(name) || !runner.TryGetMapping(name, out ulong addr, out ulong len)) continue;
                var after = PinBalance.Take(mm, addr, len).Heads;
                var was = before.TryGetValue(name, out var b) ? b.Heads : null;
                var pfns = new SortedSet<ulong>(after.Keys);
                if (was is not null) pfns.UnionWith(was.Keys);
                foreach (ulong pfn in pfns)
                {
                    (int Ref, int Pin)? x = was is not null && was.TryGetValue(pfn, out var bx) ? bx : null;
                    (int Ref, int Pin)? y = after.TryGetValue(pfn, out var ax) ? ax : null;
                    heads.Add(new HistoryHead(pfn, x?.Ref, x?.Pin, y?.Ref, y?.Pin));
                }
            }
        }
        var warnings = new List<string>();
        int bad = 0;
        if (m is not null)
        {
            foreach (string l in m.KernelLog)
            {
                if (l.StartsWith("BUG: Bad page state", StringComparison.Ordinal)) bad++;
                if (l.StartsWith("WARNING", StringComparison.Ordinal) || l.StartsWith("HugeTLB: unsupported", StringComparison.Ordinal)
                    || l.StartsWith("BUG", StringComparison.Ordinal))
                    warnings.Add(l);
            }
        }
        return new HistoryOutcome(kernel, model, script)
        {
            Gups = gups,
            Oops = oops,
            OopsLine = oopsLine,
            SoftLockup = lockup,
            StrayWrites = stray,
            WrongSubpageWrites = m?.Hugetlb.WrongSubpageWritesTotal ?? 0,
            BadPageStates = bad,
            Heads = heads,
            Walks = walks,
            Pools = pools,
            Verifies = verifies,
            Warnings = warnings,
            Skipped = skipped,
        };
    }
}

using System.CommandLine;
using System.Globalization;
using GupSim.History;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim history [NAME]`: each known bug in its buggy and its fixed version (issue 12 §2, docs/cli.md "history"):
/// without NAME a buggy-vs-fixed table of every entry, with NAME one entry in detail. Every figure comes from running
/// the entry's scripts (<see cref="HistoryRunner"/>).
/// </summary>
public static class HistoryCommand
{
    public static Command Create()
    {
        var name = new Argument<string?>("name") { Description = "One entry (gupsim history lists the names)", Arity = ArgumentArity.ZeroOrOne };
        var json = CommonOptions.CreateJsonOption();
        var cmd = new Command("history",
            "Replay each known bug of GUP over huge pages in its buggy and its fixed kernel: what went wrong in pages[], in the counts, and where stray writes landed.");
        cmd.Arguments.Add(name);
        cmd.Options.Add(json);
        cmd.SetAction(pr =>
        {
            string? one = pr.GetValue(name);
            IReadOnlyList<HistoryEntry> entries = one is null ? HistoryEntries.All : [HistoryEntries.Find(one)];
            var results = HistoryRunner.RunAll(entries);
            var o = pr.InvocationConfiguration.Output;
            if (pr.GetValue(json)) o.WriteLine(Json.Serialize(ToJson(results)));
            else if (one is null) WriteTable(o, results);
            else WriteDetail(o, results[0]);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>A commit column: the 12-digit id when the text starts with one, else "-".</summary>
    private static string Commit(string s)
    {
        if (s.Length < 12) return "-";
        for (int i = 0; i < 12; i++)
            if (!char.IsAsciiHexDigitLower(s[i])) return "-";
        return s[..12];
    }

    private static void WriteTable(TextWriter o, IReadOnlyList<HistoryResult> results)
    {
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"NAME",-22} {"BUG",-12}  {"FIX",-12}  {"BUGGY",-6} FIXED"));
        foreach (var r in results)
        {
            var e = r.Entry;
            string fixedSide = "v" + e.FixedKernel + (e.FixedModel is { } fm ? " " + fm : "");
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Name,-22} {Commit(e.BugCommit),-12}  {Commit(e.FixCommit),-12}  v{e.BuggyKernel,-5} {fixedSide}"));
            o.WriteLine("  " + e.Title);
            foreach (var c in r.Cases)
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {c.Case.Name}{(c.Differs ? "" : " (latent here: both sides the same)")}"));
                o.WriteLine("    buggy v" + c.Buggy.Kernel + ": " + c.Buggy.Summary());
                o.WriteLine("    fixed v" + c.Fixed.Kernel + ": " + c.Fixed.Summary());
            }
        }
    }

    private static void WriteDetail(TextWriter o, HistoryResult r)
    {
        var e = r.Entry;
        o.WriteLine($"{e.Name}: {e.Title}");
        o.WriteLine($"  where: {e.Where}");
        o.WriteLine($"  bug:   {e.BugCommit}");
        o.WriteLine($"  fix:   {e.FixCommit}");
        o.WriteLine($"  buggy: v{e.BuggyKernel}{(e.BuggyStrategy is { } bs ? " --strategy " + bs : "")}   fixed: v{e.FixedKernel}{(e.FixedModel is { } fm ? " on " + fm : "")}{(e.FixedStrategy is { } fs ? " --strategy " + fs : "")}");
        foreach (var n in e.Notes) o.WriteLine("  note: " + n);
        foreach (var c in r.Cases)
        {
            o.WriteLine();
            o.WriteLine($"case {c.Case.Name}: {c.Case.Description}{(c.Differs ? "" : " — latent here: both sides the same")}");
            WriteSide(o, "buggy", c.Buggy);
            WriteSide(o, "fixed", c.Fixed);
        }
    }

    private static void WriteSide(TextWriter o, string which, HistoryOutcome s)
    {
        o.WriteLine($"  {which} v{s.Kernel} ({s.Model}):");
        foreach (var l in s.Script) o.WriteLine("    | " + l);
        if (s.Refused is not null)
        {
            o.WriteLine("    refused: " + s.Refused);
            return;
        }
        foreach (var p in s.Pools) o.WriteLine("    " + p.Trim());
        foreach (var w in s.Walks) o.WriteLine("    " + w.Trim());
        foreach (var v in s.Verifies) o.WriteLine("    " + v.Trim());
        foreach (var g in s.Gups)
        {
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {g.Line}: {g.Pages} of {g.Total} pages, {g.Wrong} wrong, {g.Result}"));
            if (g.FirstWrong is not null) o.WriteLine("      first wrong: " + g.FirstWrong);
            if (g.Line.Contains("longterm", StringComparison.Ordinal))
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      longterm: {g.Migrated} migrated, {g.Unpinnable} pinned head(s) in CMA or ZONE_MOVABLE"));
        }
        if (s.Oops is not null) o.WriteLine($"    oops in '{s.OopsLine}': {s.Oops}");
        if (s.SoftLockup is not null) o.WriteLine("    " + s.SoftLockup);
        foreach (var k in s.Skipped) o.WriteLine($"    not run: '{k}' (nothing to release: the GUP before it did not return)");
        foreach (var h in s.Heads)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    head pfn 0x{h.Pfn:x}: refcount {Count(h.RefcountBefore)} -> {Count(h.RefcountAfter)}, pincount {Count(h.PincountBefore)} -> {Count(h.PincountAfter)}{(h.Balanced ? "" : "  (not back)")}"));
        o.WriteLine("    " + s.StrayWrites.ToLine());
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    wrong subpage writes {s.WrongSubpageWrites}, BUG: Bad page state {s.BadPageStates}"));
        foreach (var w in s.Warnings) o.WriteLine("    dmesg: " + w);
    }

    private static string Count(int? n) => n is int v ? v.ToString(CultureInfo.InvariantCulture) : "-";

    /// <summary>The --json document (docs/cli.md, "history").</summary>
    private static object ToJson(IReadOnlyList<HistoryResult> results) => new
    {
        entries = results.Select(r => new
        {
            name = r.Entry.Name,
            title = r.Entry.Title,
            where = r.Entry.Where,
            bugCommit = r.Entry.BugCommit,
            fixCommit = r.Entry.FixCommit,
            buggyKernel = r.Entry.BuggyKernel,
            fixedKernel = r.Entry.FixedKernel,
            fixedModel = r.Entry.FixedModel,
            buggyStrategy = r.Entry.BuggyStrategy,
            fixedStrategy = r.Entry.FixedStrategy,
            notes = r.Entry.Notes,
            cases = r.Cases.Select(c => new
            {
                name = c.Case.Name,
                description = c.Case.Description,
                differs = c.Differs,
                buggy = Side(c.Buggy),
                @fixed = Side(c.Fixed),
            }),
        }),
    };

    private static object Side(HistoryOutcome s) => new
    {
        kernel = s.Kernel,
        model = s.Model,
        script = s.Script,
        refused = s.Refused,
        summary = s.Summary(),
        gups = s.Gups.Select(g => new
        {
            line = g.Line,
            pages = g.Pages,
            total = g.Total,
            wrong = g.Wrong,
            firstWrongIndex = g.FirstWrongIndex,
            firstWrong = g.FirstWrong,
            result = g.Result,
            migrated = g.Migrated,
            unpinnable = g.Unpinnable,
        }),
        oops = s.Oops,
        oopsLine = s.OopsLine,
        softLockup = s.SoftLockup,
        strayWrites = new
        {
            n = s.StrayWrites.N,
            inUse = s.StrayWrites.InUse,
            free = s.StrayWrites.Free,
            pageTables = s.StrayWrites.PageTables,
            slab = s.StrayWrites.Slab,
            other = s.StrayWrites.Other,
            unmapped = s.StrayWrites.Unmapped,
            bitsChanged = s.StrayWrites.BitsChanged,
        },
        wrongSubpageWrites = s.WrongSubpageWrites,
        badPageStates = s.BadPageStates,
        heads = s.Heads.Select(h => new
        {
            pfn = string.Create(CultureInfo.InvariantCulture, $"0x{h.Pfn:x}"),
            refcountBefore = h.RefcountBefore,
            pincountBefore = h.PincountBefore,
            refcountAfter = h.RefcountAfter,
            pincountAfter = h.PincountAfter,
            balanced = h.Balanced,
        }),
        walks = s.Walks,
        pools = s.Pools,
        verifies = s.Verifies,
        warnings = s.Warnings,
        skipped = s.Skipped,
    };
}

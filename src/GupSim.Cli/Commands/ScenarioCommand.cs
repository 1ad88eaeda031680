using System.CommandLine;
using GupSim.Scenario;

namespace GupSim.Cli.Commands;

/// <summary>`gupsim scenario FILE|-`: runs a scenario script (docs/scenarios.md).</summary>
public static class ScenarioCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The script, or - for standard input" };
        var cmd = new Command("scenario", "Run a scenario script of machine operations and expectations; exits 3 when an expectation fails.");
        var json = CommonOptions.CreateJsonOption();
        var trace = CommonOptions.CreateTraceOption("on every machine the script boots, after each step");
        cmd.Arguments.Add(file);
        cmd.Options.Add(json);
        cmd.Options.Add(trace);
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            string? traceEvents = pr.GetValue(trace);
            if (traceEvents is not null) GupSim.Debug.PageRefTrace.CheckEventGroup(traceEvents, "scenario");
            string text = path == "-" ? Console.In.ReadToEnd() : Core.HostFile.ReadAllText(path, "scenario wants a script file (docs/scenarios.md), or - for standard input");
            bool asJson = pr.GetValue(json);
            string source = path == "-" ? "<stdin>" : path;
            var result = new ScenarioRunner(asJson ? TextWriter.Null : pr.InvocationConfiguration.Output) { TracePageRef = traceEvents is not null }.Run(text, source);
            int exit = result.ExpectationsFailed > 0 ? ExitCodes.ExpectationFailed : ExitCodes.Ok;
            if (asJson) pr.InvocationConfiguration.Output.WriteLine(Json.Serialize(ToJson(source, result, exit)));
            return exit;
        });
        return cmd;
    }

    /// <summary>The --json document (docs/cli.md).</summary>
    private static object ToJson(string source, ScenarioResult r, int exit) => new
    {
        source,
        machine = r.Machine is { } m ? new { arch = m.Arch.Name, kernel = m.Version.ToString(), memoryModel = Arch.MemoryModelNames.ToName(m.Model) } : null,
        steps = r.Steps.Select(s => new
        {
            line = s.Line,
            op = s.Op,
            text = s.Text,
            result = s.Result,
            oops = s.Oops,
            softLockup = s.SoftLockup,
            expectation = s.Expectation is { } x ? new { what = x.What, args = x.Args, ok = x.Ok, detail = x.Detail } : null,
            gup = s.Gup is { } g
                ? new
                {
                    mapping = g.Mapping,
                    pin = g.Pin,
                    fast = g.Fast,
                    strategy = g.Strategy,
                    batch = g.Batch,
                    pages = g.Pages,
                    total = g.Total,
                    wrong = g.Wrong,
                    firstWrongIndex = g.FirstWrongIndex,
                    firstWrong = g.FirstWrong,
                    migrated = g.Migrated,
                    unpinnable = g.Unpinnable,
                }
                : null,
            strayWrites = s.StrayWrites is { } w
                ? new
                {
                    n = w.N,
                    inUse = w.InUse,
                    free = w.Free,
                    pageTables = w.PageTables,
                    slab = w.Slab,
                    other = w.Other,
                    unmapped = w.Unmapped,
                    bitsChanged = w.BitsChanged,
                }
                : null,
            output = s.Output,
        }),
        expectationsPassed = r.ExpectationsPassed,
        expectationsFailed = r.ExpectationsFailed,
        exitCode = exit,
    };
}

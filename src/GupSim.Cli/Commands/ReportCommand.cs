using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GupSim.Cli.Report;
using GupSim.Core;
using GupSim.Explain;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim report --out FILE.html`: one self-contained HTML page (issue 13 §2, docs/cli.md "report") with the bench
/// chart, the check summary, an explain picture of each failing check group's minimal case, the audit table and the
/// history replays. Each section
/// comes from its own command's <c>--json</c> output: run here, in this process, with the options below, or read
/// from a file saved earlier (<c>--bench-json</c>, <c>--check-json</c>, …), so the page shows exactly what the
/// commands print.
/// </summary>
public static class ReportCommand
{
    /// <summary>The sections, in page order, that <c>--sections</c> selects from.</summary>
    public static IReadOnlyList<string> SectionNames { get; } = ["bench", "check", "explain", "audit", "history"];

    public static Command Create()
    {
        var output = new Option<string>("--out", "-o") { Description = "The HTML file to write", HelpName = "file.html", Required = true };
        var sections = new Option<string?>("--sections") { Description = "Sections to include (default: bench,check,explain,audit,history; explain pictures check's failing cases)", HelpName = "list" };
        var explainMax = new Option<int>("--explain-max") { Description = "Failing check groups to draw in the explain section (the first N in check's order)", DefaultValueFactory = _ => 6, HelpName = "n" };
        var benchJson = new Option<string?>("--bench-json") { Description = "Use this saved `gupsim bench --json` output instead of running bench", HelpName = "file" };
        var checkJson = new Option<string?>("--check-json") { Description = "Use this saved `gupsim check --json` output instead of running check", HelpName = "file" };
        var historyJson = new Option<string?>("--history-json") { Description = "Use this saved `gupsim history --json` output instead of running history", HelpName = "file" };
        var auditJson = new Option<string?>("--audit-json") { Description = "Use this saved `gupsim audit --json` output instead of running audit", HelpName = "file" };
        var benchRounds = new Option<int>("--bench-rounds") { Description = "Measured rounds of the bench run", DefaultValueFactory = _ => 3, HelpName = "n" };
        var benchWorkload = new Option<string?>("--bench-workload") { Description = "gup_test flags of the bench run, quoted (default: the seed workload)", HelpName = "flags" };
        var budget = new Option<long>("--budget") { Description = "Configurations of the check run", DefaultValueFactory = _ => 1000, HelpName = "n" };
        var history = new Option<string?>("--history") { Description = "History entries to replay, comma-separated (default: all)", HelpName = "names" };
        var config = new Option<string[]>("--config") { Description = "Kernel .config files or folders for the audit section (repeatable)", HelpName = "file|dir", AllowMultipleArgumentsPerToken = false };
        var cmd = new Command("report",
            "Write one self-contained HTML report: the bench chart, the check summary, explain pictures of the failing cases, the audit table and the history replays.");
        foreach (var o in new Option[] { output, sections, benchJson, checkJson, historyJson, auditJson, benchRounds, benchWorkload, budget, history, config, explainMax })
            cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            string file = pr.GetValue(output)!;
            const string advice = "--out wants an .html file in a folder you can write to";
            if (Directory.Exists(file)) throw HostFile.Error("--out " + file, Errno.EISDIR, advice);
            if (!file.EndsWith(".html", StringComparison.OrdinalIgnoreCase) && !file.EndsWith(".htm", StringComparison.OrdinalIgnoreCase))
                throw new GupSimException($"report: --out {file}: give an .html file");
            var wanted = ParseSections(pr.GetValue(sections));
            if (pr.GetValue(benchRounds) < 1) throw new GupSimException("report: --bench-rounds must be at least 1");
            if (pr.GetValue(budget) < 1) throw new GupSimException("report: --budget must be at least 1");
            if (pr.GetValue(explainMax) < 0) throw new GupSimException("report: --explain-max must be 0 or more");
            // Saved inputs are read, and their sections drawn, before anything runs: a missing file or a document of
            // the wrong shape costs nothing.
            var saved = new Dictionary<string, (JsonElement Doc, ReportSection Section)>();
            foreach (var (name, opt) in new[] { ("bench", benchJson), ("check", checkJson), ("history", historyJson), ("audit", auditJson) })
                if (pr.GetValue(opt) is { } path && (wanted.Contains(name) || (name == "check" && wanted.Contains("explain"))))
                {
                    var d = ReadJson(path, "--" + name + "-json");
                    saved[name] = (d, Section(name, d, $"--{name}-json {path}"));
                }
            HostFile.CheckWritable(file, advice, "--out " + file);

            var err = pr.InvocationConfiguration.Error;
            var parts = new List<ReportSection>();
            JsonElement? checkDoc = saved.TryGetValue("check", out var sc) ? sc.Doc : null;
            foreach (string name in wanted)
            {
                if (name == "explain")
                {
                    checkDoc ??= RunJson(CheckArgs(pr.GetValue(budget)), err);
                    var (pictures, failing) = ExplainFailures(checkDoc.Value, pr.GetValue(explainMax), err);
                    parts.Add(ReportSections.Explain(pictures, failing));
                    continue;
                }
                if (saved.TryGetValue(name, out var s))
                {
                    parts.Add(s.Section);
                    continue;
                }
                string[]? args = name switch
                {
                    "bench" => BenchArgs(pr.GetValue(benchRounds), pr.GetValue(benchWorkload)),
                    "check" => CheckArgs(pr.GetValue(budget)),
                    "history" => pr.GetValue(history) is { } h ? ["history", .. Split(h), "--json"] : ["history", "--json"],
                    "audit" => pr.GetValue(config) is { Length: > 0 } cs ? ["audit", .. cs.SelectMany(c => new[] { "--config", c }), "--json"] : null,
                    _ => null,
                };
                if (args is null)
                {
                    parts.Add(new ReportSection(name, "Audit: kernel configs",
                        "<p class=\"muted\">No kernel config given: run <code>gupsim report --config FILE|DIR</code> (or <code>--audit-json FILE</code>) to audit one.</p>"));
                    continue;
                }
                var doc = RunJson(args, err);
                if (name == "check") checkDoc = doc;
                parts.Add(Section(name, doc, "gupsim " + name + " --json"));
            }
            string html = HtmlReport.Render("GupSim report",
                string.Create(CultureInfo.InvariantCulture, $"Written by gupsim {typeof(ReportCommand).Assembly.GetName().Version} on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; sections: {string.Join(", ", wanted)}."),
                parts);
            try
            {
                File.WriteAllText(file, html);
            }
            catch (Exception e) when (HostFile.IsFileError(e))
            {
                throw HostFile.Error("--out " + file, e, advice);
            }
            err.WriteLine($"gupsim: wrote report to {file}");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static string[] CheckArgs(long budget) => ["check", "--budget", budget.ToString(CultureInfo.InvariantCulture), "--json"];

    /// <summary>The section drawn from one command's --json document; a document of another shape is one line.</summary>
    private static ReportSection Section(string name, JsonElement doc, string what)
    {
        try
        {
            return name switch
            {
                "bench" => ReportSections.Bench(doc),
                "check" => ReportSections.Check(doc),
                "history" => ReportSections.History(doc),
                _ => ReportSections.Audit(doc),
            };
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException)
        {
            throw new GupSimException($"report: {what}: not a 'gupsim {name} --json' document (save it with gupsim {name} --json)");
        }
    }

    /// <summary>
    /// The explain picture of each failing check group's minimal case, in check's order, at most
    /// <paramref name="max"/>: its scenario is run up to its first GUP call (<see cref="ExplainRun.FromScenario"/>, as
    /// `gupsim explain --scenario FILE --step LINE` runs it) and drawn as explain's SVG. A case explain cannot draw (an
    /// oops before the call returns) is left out with its reason on stderr.
    /// </summary>
    private static (List<(string Caption, string Svg)> Pictures, int Failing) ExplainFailures(JsonElement check, int max, TextWriter err)
    {
        var pictures = new List<(string, string)>();
        int failing = 0;
        if (!check.TryGetProperty("groups", out var groups) || groups.ValueKind != JsonValueKind.Array) return (pictures, 0);
        foreach (var g in groups.EnumerateArray())
        {
            if (!g.TryGetProperty("minimal", out var m) || m.ValueKind != JsonValueKind.Object) continue;
            if (!m.TryGetProperty("scenario", out var sc) || sc.GetString() is not { } scenario) continue;
            failing++;
            if (pictures.Count >= max) continue;
            string caption = scenario.Split('\n')[0].TrimStart('#', ' ');
            int step = ExplainRun.FirstGupStep(scenario);
            if (step == 0)
            {
                err.WriteLine($"gupsim: report: no picture of '{caption}': its scenario has no pin or get step");
                continue;
            }
            try
            {
                var scene = ExplainRun.FromScenario(scenario, "check's minimal case", step);
                pictures.Add((caption, ExplainSvg.Render(scene, ExplainCommand.DefaultWidth, ExplainCommand.DefaultHeight)));
            }
            catch (GupSimException e)
            {
                err.WriteLine($"gupsim: report: no picture of '{caption}': {e.Message}");
            }
        }
        return (pictures, failing);
    }

    private static string[] BenchArgs(int rounds, string? workload)
    {
        var args = new List<string> { "bench", "--rounds", rounds.ToString(CultureInfo.InvariantCulture), "--json" };
        if (workload is not null) args.AddRange(workload.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        return [.. args];
    }

    private static List<string> ParseSections(string? list)
    {
        if (list is null) return [.. SectionNames];
        var wanted = new List<string>();
        foreach (string s in Split(list))
        {
            if (!SectionNames.Contains(s)) throw new GupSimException($"report: --sections: no section '{s}' (give some of {string.Join(",", SectionNames)})");
            if (!wanted.Contains(s)) wanted.Add(s);
        }
        // Page order, whatever order they were given in.
        wanted.Sort((a, b) => IndexOf(a).CompareTo(IndexOf(b)));
        return wanted;

        static int IndexOf(string s)
        {
            for (int i = 0; i < SectionNames.Count; i++)
                if (SectionNames[i] == s) return i;
            return -1;
        }
    }

    private static string[] Split(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static JsonElement ReadJson(string path, string option)
    {
        string text = HostFile.ReadAllText(path, $"give {option} a file saved from the command's --json output");
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new GupSimException($"report: {option} {path}: not JSON (save it with the command's --json)");
        }
    }

    /// <summary>Runs one gupsim command line in this process and parses what it printed; its own stderr lines pass through.</summary>
    private static JsonElement RunJson(string[] args, TextWriter err)
    {
        err.WriteLine("gupsim: report: running gupsim " + string.Join(' ', args));
        var stdout = new StringWriter(CultureInfo.InvariantCulture);
        var stderr = new StringWriter(CultureInfo.InvariantCulture);
        int rc = Program.Run(args, stdout, stderr);
        string said = stderr.ToString();
        string text = stdout.ToString();
        if (text.TrimStart().StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(text);
                err.Write(said); // its warnings and progress, once it is done
                return doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                // fall through: report what the command said
            }
        }
        string last = said.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? $"exit code {rc}";
        throw new GupSimException($"report: gupsim {args[0]} failed: {(last.StartsWith("gupsim: ", StringComparison.Ordinal) ? last["gupsim: ".Length..] : last)}");
    }
}

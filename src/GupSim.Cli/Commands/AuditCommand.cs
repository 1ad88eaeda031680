using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using GupSim.Check;
using GupSim.Core;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim audit --config FILE|DIR…` (docs/cli.md, "audit"): for each kernel .config, the check sweep restricted to
/// that kernel's machines and the sizes its hstate setup registers, then one verdict per GUP path and huge page size:
/// safe, UNSAFE with the minimal case, or refused. Exit codes as <c>check</c>: 0 nothing unsafe, 1 some line unsafe,
/// 2 bad input.
/// </summary>
public static class AuditCommand
{
    /// <summary>Whether <paramref name="command"/> is <c>audit</c> (whose bad input exits 2, as check's does).</summary>
    public static bool Owns(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return command.Name == "audit";
    }

    /// <summary>The command with the real engine and shrinker.</summary>
    public static Command Create() => Create(() => new CheckEngine([]), runner => new CheckShrinker(runner));

    /// <summary>The command with the given engine and shrinker (tests give fakes).</summary>
    internal static Command Create(Func<ICheckRunner> runnerFactory, Func<ICheckRunner, ICheckShrinker> shrinkerFactory)
    {
        var configs = new Option<string[]>("--config")
        {
            Description = "Kernel .config files (plain or gzipped, told by magic) or folders of them (their *.config, *.gz, config-* files); repeatable, several after one --config",
            HelpName = "file|dir",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var kernel = new Option<string?>("--kernel") { Description = "The release of configs without a '# Linux/<arch> <version> Kernel Configuration' header (others are read as it, with a warning)", HelpName = "version" };
        var budget = new Option<long?>("--budget") { Description = $"Configurations per config, spread over its path × size × placement groups (default {ConfigAuditOptions.DefaultBudget})", HelpName = "n" };
        var seed = new Option<ulong>("--seed")
        {
            Description = "Seed of the first history and of --budget's choice (decimal or 0x hex)",
            DefaultValueFactory = _ => 1UL,
            HelpName = "s",
            CustomParser = r => CommonOptions.ParseUInt64(r, "--seed"),
        };
        var jobs = new Option<int?>("--jobs") { Description = "Threads to run on (default: every core)", HelpName = "n" };
        var json = new Option<bool>("--json") { Description = "Print the verdicts as JSON on stdout (schema in docs/cli.md)" };

        var cmd = new Command("audit",
            "Audit distribution kernels: for each .config, run the checker over that kernel's machines (its arch, release, memory model, "
            + "placements, hot-plug only with CONFIG_MEMORY_HOTPLUG, DEBUG_VM as set, fresh and lived-in) and print per GUP path and huge page size "
            + "safe, UNSAFE with the minimal case, or refused (the hstate/folio setup would not give that size). "
            + "Exit codes: 0 nothing unsafe, 1 some line unsafe, 2 bad input.");
        foreach (var o in new Option[] { configs, kernel, budget, seed, jobs, json })
            cmd.Options.Add(o);

        cmd.SetAction(pr =>
        {
            var stdout = pr.InvocationConfiguration.Output;
            var stderr = pr.InvocationConfiguration.Error;
            string? auditing = null; // the config being audited, for a file error no step named
            try
            {
                if (pr.GetValue(budget) is long b && b < 1) throw new GupSimException($"--budget: {b}: give at least 1 configuration per config");
                if (pr.GetValue(jobs) is int j && j < 1) throw new GupSimException($"--jobs: {j}: give at least 1 thread");
                var options = new ConfigAuditOptions
                {
                    Budget = pr.GetValue(budget) ?? ConfigAuditOptions.DefaultBudget,
                    Seed = pr.GetValue(seed),
                    Kernel = pr.GetValue(kernel),
                };
                // Every file is read and derived before anything runs: bad input is one line, with nothing half done.
                var inputs = new List<AuditInput>();
                foreach (string f in ConfigAudit.ExpandArguments(pr.GetValue(configs) ?? []))
                    inputs.Add(ConfigAudit.Load(f, options));
                int threads = pr.GetValue(jobs) ?? Environment.ProcessorCount;
                var runner = runnerFactory();
                var shrinker = shrinkerFactory(runner);
                var results = new List<AuditConfigResult>();
                var clock = System.Diagnostics.Stopwatch.StartNew();
                for (int k = 0; k < inputs.Count; k++)
                {
                    auditing = inputs[k].File;
                    var r = ConfigAudit.Run(inputs[k], options, space => new CheckSweep(runner, shrinker) { MaxDegreeOfParallelism = threads }.Run(space));
                    stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"gupsim: audit: {k + 1}/{inputs.Count} {inputs[k].File}: {r.Configurations} configurations, {Count(r, "unsafe")} unsafe, {r.ElapsedSeconds:0.0} s"));
                    results.Add(r);
                }
                auditing = null;
                if (pr.GetValue(json)) stdout.WriteLine(ToJson(results));
                else WriteText(results, clock.Elapsed.TotalSeconds, stdout);
                foreach (var r in results)
                    if (Count(r, "unsafe") > 0) return CheckCommand.FailuresFound;
                return ExitCodes.Ok;
            }
            catch (GupSimException e)
            {
                stderr.WriteLine("gupsim: " + e.Message.ReplaceLineEndings(" ").Trim());
                return CheckCommand.BadInput;
            }
            catch (Exception e) when (HostFile.IsFileError(e))
            {
                // A host file access no step turned into its own message (read from a folder's listing): the errno's
                // words, with the file .NET names, else the config being audited when it happened.
                string? file = e is FileNotFoundException { FileName: { } f } ? f : auditing;
                string where = file is null ? "" : file + ": ";
                stderr.WriteLine("gupsim: audit: " + where + ErrnoText.Strerror((int)HostFile.ErrnoOf(e)) + " (audit wants readable kernel .config files or folders of them)");
                return CheckCommand.BadInput;
            }
        });
        return cmd;
    }

    private static int Count(AuditConfigResult r, string verdict)
    {
        int n = 0;
        foreach (var p in r.Paths)
            if (p.Verdict == verdict) n++;
        return n;
    }

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The JSON of docs/cli.md: {configs:[{file, arch, kernel, model, …, paths:[{path, hugepageSize, verdict, minimal, …}]}]}.</summary>
    public static string ToJson(IReadOnlyList<AuditConfigResult> results) => JsonSerializer.Serialize(new { configs = results }, s_json);

    /// <summary>One block per config, one line per path × size, then the totals.</summary>
    public static void WriteText(IReadOnlyList<AuditConfigResult> results, double seconds, TextWriter o)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(o);
        int unsafeLines = 0, refused = 0, lines = 0;
        long configurations = 0;
        foreach (var r in results)
        {
            o.WriteLine($"{r.File}: {r.Arch}, v{r.Kernel}, {r.Model} (hot-plug {(r.Hotplug ? "yes" : "no")}, DEBUG_VM {(r.DebugVm ? "y" : "n")})");
            foreach (string n in r.Notes) o.WriteLine("  note: " + n);
            int width = 0;
            foreach (var p in r.Paths) width = Math.Max(width, p.HugepageSize.Length + 1 + p.Path.Length);
            var warned = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in r.Paths)
            {
                lines++;
                string head = ($"{p.HugepageSize} {p.Path}:").PadRight(width + 2);
                string text = p.Verdict switch
                {
                    "safe" => string.Create(CultureInfo.InvariantCulture, $"safe ({p.Configurations} configuration{(p.Configurations == 1 ? "" : "s")})"),
                    "unsafe" => $"UNSAFE ({p.Minimal!.Kind}, {p.Minimal.GupTest ?? "no gup_test run shows it; scenario: " + p.Minimal.Description})",
                    "refused" => $"refused ({p.Why})",
                    _ => $"not checked ({p.Why})",
                };
                if (p.Verdict == "unsafe") unsafeLines++;
                if (p.Verdict == "refused") refused++;
                o.WriteLine("  " + head + text);
                foreach (string w in p.Warnings)
                    if (warned.Add(w)) o.WriteLine("    warning: " + w);
            }
            configurations += r.Configurations;
            foreach (var p in r.Paths)
            {
                if (p.Minimal is null) continue;
                o.WriteLine($"  {p.HugepageSize} {p.Path}: minimal case: {p.Minimal.Description}, {p.Minimal.WrongEntries} wrong entries");
                foreach (string line in p.Minimal.Scenario.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n')) o.WriteLine("    " + line);
            }
            o.WriteLine();
        }
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"audit: {results.Count} config{(results.Count == 1 ? "" : "s")}, {lines} path × size lines: {lines - unsafeLines - refused} safe or not checked, {unsafeLines} unsafe, {refused} refused; {configurations} configurations in {seconds:0.0} s"));
    }
}

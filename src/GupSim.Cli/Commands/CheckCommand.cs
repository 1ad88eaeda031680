using System.CommandLine;
using System.Globalization;
using System.Text;
using GupSim.Check;
using GupSim.Core;
using GupSim.Gup;
using Spectre.Console;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim check …`: sweeps configurations (arch × kernel or strategy × memory model × placement × history × huge page
/// size × GUP path × offset × length × batch) through the check engine, shrinks each group's first failure to a
/// minimal case and prints the summary (docs/cli.md, "check"); `gupsim check merge FILE…` merges shard JSON files into
/// the summary one run gives. Exit codes: 0 nothing failed, 1 some configuration failed, 2 bad input.
/// </summary>
public static class CheckCommand
{
    /// <summary>Exit code when the sweep ran and some configuration failed.</summary>
    public const int FailuresFound = 1;

    /// <summary>Exit code for bad input (one <c>gupsim: …</c> line on stderr).</summary>
    public const int BadInput = 2;

    /// <summary>Whether <paramref name="command"/> is <c>check</c> or <c>check merge</c> (whose bad input exits 2, not 1).</summary>
    public static bool Owns(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Name == "check") return true;
        return command.Name == "merge" && command.Parents.OfType<Command>().Any(p => p.Name == "check");
    }

    /// <summary>The command with the real engine and shrinker.</summary>
    public static Command Create() => Create(recorders => new CheckEngine(recorders), runner => new CheckShrinker(runner));

    /// <summary>The command with the given engine and shrinker (tests give fakes).</summary>
    internal static Command Create(Func<IReadOnlyList<ISubpageRecorder>, ICheckRunner> runnerFactory, Func<ICheckRunner, ICheckShrinker> shrinkerFactory)
    {
        Option<string?> List(string name, string what, string defaults) => new(name) { Description = $"{what} (comma list; default {defaults})", HelpName = "list" };
        var arch = List("--arch", "Arch profiles", string.Join(",", CheckSpace.DefaultArches));
        var kernel = List("--kernel", "Kernel versions; with --config, the one release a .config without a version header is for", string.Join(",", CheckSpace.DefaultKernels));
        var strategy = List("--strategy", $"Recording strategies instead of the kernel's own code: kernel (the version's own), {string.Join(", ", GupStrategy.Names)}, or recorders from --strategy-assembly and --strategy-c", "kernel; with --strategy-assembly or --strategy-c: their recorders");
        var assemblies = CommonOptions.CreateStrategyAssemblyOption();
        var cFiles = CommonOptions.CreateStrategyCOption();
        cFiles.Description = "A C file defining record_subpages() and GUPSIM_RECORDER(fn, \"name\") against <gupsim/kernel.h> (repeatable; samples/c); swept by its name as --strategy-assembly's recorders are";
        assemblies.Description = "An assembly with ISubpageRecorder implementations (repeatable); without --strategy, every recorder in the assemblies is swept, each by its name (--strategy NAME,… picks some)";
        var model = List("--model", "Memory models: flatmem, discontigmem, sparsemem, sparsemem-vmemmap", "all the arch offers");
        var placement = List("--placement", "Where the memmaps under the huge pages come from: boot (the node's sparse buffer), scattered (per-section fallback), hotplug (hot-added memory), cma (boot memmaps, the pool from hugetlb_cma=; gigantic sizes, asked for by name), hotplug-cma (one gigantic page from hugetlb_cma=, the rest hot-added; asked for by name)", "boot,scattered,hotplug");
        var churn = List("--churn", "Machine histories: a seeded workload of SIZE before the experiment, 0 = a fresh boot", CheckSpace.DefaultChurn);
        var seeds = new Option<int?>("--seeds") { Description = $"Histories (seeds --seed, --seed+1, …) per non-zero --churn size (default {CheckSpace.DefaultSeeds})", HelpName = "n" };
        var sizes = List("--hugepage-size", "Huge page sizes, e.g. 2M,1G, or all", "all the arches have");
        var path = List("--path", "GUP entry points: slow-get, slow-pin, slow-longterm, fast-get, fast-pin, fast-longterm, or slow, fast, all; fast-longterm-umem (an RDMA memory region: released by unpin_user_page_range_dirty_lock() per pfn-contiguous run) by name", "all");
        var offset = List("--offset", "First page asked for, in base pages from the mapping's start: N, boundary-1, boundary, boundary+1 (the first section boundary in the huge page, or the next huge page), random", CheckSpace.DefaultOffsets);
        var length = List("--length", "Pages asked for: N, cross (to one page past the next boundary), huge (a whole huge page), random", CheckSpace.DefaultLengths);
        var batch = List("--batch", "Pages per GUP call (gup_test -n): N, all, random", CheckSpace.DefaultBatches);
        var teardown = List("--teardown", "What runs after the release: keep (nothing), free-pool (munmap, then nr_hugepages 0: update_and_free_page() on every huge page; each such configuration boots its machine again), all", "keep");
        var populate = List("--populate", "How the mapping gets its pages: fault (the user writes each huge page), uffd-copy (userfaultfd: UFFDIO_COPY from a user buffer, then the user compares them; copy_huge_page_from_user()), all", "fault");
        var budget = new Option<long?>("--budget") { Description = "Run at most N configurations, spread over every group (--seed chooses which)", HelpName = "n" };
        var seed = new Option<ulong>("--seed")
        {
            Description = "Seed of the first history, of the random offsets, lengths and batches, and of --budget's choice (decimal or 0x hex)",
            DefaultValueFactory = _ => 1UL,
            HelpName = "s",
            CustomParser = r => CommonOptions.ParseUInt64(r, "--seed"),
        };
        var shard = new Option<string?>("--shard") { Description = "Run shard I of N (0 ≤ I < N; $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX) and write its summary; 'gupsim check merge' joins them", HelpName = "I/N" };
        var jobs = new Option<int?>("--jobs") { Description = "Threads to run on (default: every core)", HelpName = "n" };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON on stdout (progress stays on stderr; schema in docs/cli.md)" };
        var outDir = new Option<string?>("--out") { Description = "Write each group's minimal case as a gupsim scenario file in DIR", HelpName = "dir" };
        var config = new Option<string?>("--config") { Description = "Your machine: check only the kernel of this .config (or /proc/config.gz): its arch, version (or the one --kernel) and memory model; one line per huge page size and GUP path", HelpName = "file" };
        var iomem = new Option<string?>("--iomem") { Description = "Your machine's RAM layout (/proc/iomem), with --config", HelpName = "file" };

        var cmd = new Command("check",
            "Sweep configurations through the real GUP code and say, per arch, kernel, memory model, placement, GUP path and huge page size, "
            + "whether every pages[] entry is right and every count comes back; each group's first failure is shrunk to a minimal gupsim scenario. "
            + "Exit codes: 0 nothing failed, 1 some configuration failed, 2 bad input.");
        foreach (var o in new Option[] { arch, kernel, strategy, assemblies, cFiles, model, placement, churn, seeds, sizes, path, offset, length, batch, teardown, populate, budget, seed, shard, jobs, json, outDir, config, iomem })
            cmd.Options.Add(o);

        cmd.SetAction(pr =>
        {
            var stdout = pr.InvocationConfiguration.Output;
            var stderr = pr.InvocationConfiguration.Error;
            return Guarded(stderr, () =>
            {
                var recorders = StrategySelection.LoadUserRecorders(pr.GetValue(assemblies) ?? [], pr.GetValue(cFiles) ?? []);
                var options = new CheckSpaceOptions
                {
                    Arches = pr.GetValue(arch),
                    Kernels = pr.GetValue(kernel),
                    Strategies = pr.GetValue(strategy),
                    Models = pr.GetValue(model),
                    Placements = pr.GetValue(placement),
                    Churn = pr.GetValue(churn),
                    Seeds = pr.GetValue(seeds),
                    HugepageSizes = pr.GetValue(sizes),
                    Paths = pr.GetValue(path),
                    Offsets = pr.GetValue(offset),
                    Lengths = pr.GetValue(length),
                    Batches = pr.GetValue(batch),
                    Teardowns = pr.GetValue(teardown),
                    Populates = pr.GetValue(populate),
                    Budget = pr.GetValue(budget),
                    Seed = pr.GetValue(seed),
                    ConfigFile = pr.GetValue(config),
                    IomemFile = pr.GetValue(iomem),
                    UserRecorders = recorders.Select(r => r.Name).ToList(),
                };
                if (options.ConfigFile is not null) HostFile.ReadAllBytes(options.ConfigFile, ConfigAdvice);
                var shardSpec = pr.GetValue(shard) is string s ? CheckShardSpec.Parse(s) : null;
                if (pr.GetValue(jobs) is int j && j < 1) throw new GupSimException($"--jobs: {j}: give at least 1 thread");
                string? dir = pr.GetValue(outDir);
                var space = CheckSpace.Build(options);
                if (shardSpec is not null) space = space.ForShard(shardSpec);
                // The folder is made only once the space is known good: bad input leaves nothing behind.
                if (dir is not null) PrepareOutDir(dir);
                foreach (string w in space.Warnings) Program.Warn(stderr, w);
                var runner = runnerFactory(recorders);
                var summary = RunWithProgress(runner, shrinkerFactory(runner), pr.GetValue(jobs) ?? Environment.ProcessorCount, space, stderr);
                if (CheckProfile.Enabled) stderr.Write(CheckProfile.Report());
                if (dir is not null) WriteScenarios(summary, dir);
                if (pr.GetValue(json)) stdout.WriteLine(summary.ToJson());
                else if (options.ConfigFile is not null) WriteYourMachine(summary, options, dir, stdout);
                else WriteText(summary, stdout);
                return summary.Failures > 0 ? FailuresFound : ExitCodes.Ok;
            });
        });

        var files = new Argument<string[]>("files") { Description = "The JSON summaries the shards wrote (gupsim check --shard I/N --json)", Arity = ArgumentArity.OneOrMore };
        var mergeJson = new Option<bool>("--json") { Description = "Print the merged summary as JSON (as one run's --json, elapsedSeconds the sum of the shards')" };
        var merge = new Command("merge", "Merge the JSON summaries of a sweep's shards into the summary one run of it prints (text, or JSON with --json); exit 1 if some configuration failed");
        merge.Arguments.Add(files);
        merge.Options.Add(mergeJson);
        merge.SetAction(pr =>
        {
            var stdout = pr.InvocationConfiguration.Output;
            var stderr = pr.InvocationConfiguration.Error;
            return Guarded(stderr, () =>
            {
                var summaries = new List<CheckSummary>();
                foreach (string f in pr.GetValue(files) ?? [])
                    summaries.Add(CheckSummary.FromJson(HostFile.ReadAllText(f, MergeAdvice), f));
                var merged = CheckSummary.Merge(summaries);
                if (pr.GetValue(mergeJson)) stdout.WriteLine(merged.ToJson());
                else WriteText(merged, stdout);
                return merged.Failures > 0 ? FailuresFound : ExitCodes.Ok;
            });
        });
        cmd.Subcommands.Add(merge);
        return cmd;
    }

    private const string ConfigAdvice = "--config wants a kernel .config: /boot/config-$(uname -r), /proc/config.gz or a build tree's .config";
    private const string MergeAdvice = "check merge wants the JSON files 'gupsim check --shard I/N --json' wrote";
    private const string OutAdvice = "--out wants a folder to write the minimal cases' scenario files in (made if missing)";

    /// <summary>Runs <paramref name="body"/>; bad input becomes one <c>gupsim: …</c> line and exit 2.</summary>
    private static int Guarded(TextWriter stderr, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (GupSimException e)
        {
            stderr.WriteLine("gupsim: " + e.Message.ReplaceLineEndings(" ").Trim());
            if (e is GupSim.Gup.C.CCompileException c) stderr.Write(c.Diagnostics);
            return BadInput;
        }
        catch (Exception e) when (HostFile.IsFileError(e))
        {
            stderr.WriteLine("gupsim: " + ErrnoText.Strerror((int)HostFile.ErrnoOf(e)));
            return BadInput;
        }
    }

    private static void PrepareOutDir(string dir)
    {
        if (File.Exists(dir)) throw HostFile.Error("--out " + dir, Errno.ENOTDIR, OutAdvice);
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (HostFile.IsFileError(e))
        {
            throw HostFile.Error("--out " + dir, e, OutAdvice);
        }
        HostFile.CheckWritable(Path.Combine(dir, ".gupsim-check-probe"), OutAdvice, "--out " + dir);
    }

    /// <summary>The file name of a group's minimal case: arch-vKERNEL[-strategy]-model-placement-path-size.scenario.</summary>
    public static string ScenarioFileName(CheckGroupSummary g)
    {
        ArgumentNullException.ThrowIfNull(g);
        var sb = new StringBuilder();
        foreach (char c in $"{g.Arch}-v{g.Kernel}{(g.Strategy is null ? "" : "-" + g.Strategy)}-{g.Model}-{g.Placement}-{g.Path}-{g.HugepageSize}")
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '+' or '_' ? c : '_');
        return sb.Append(".scenario").ToString();
    }

    private static void WriteScenarios(CheckSummary summary, string dir)
    {
        foreach (var g in summary.Groups)
        {
            if (g.Minimal is null) continue;
            string file = Path.Combine(dir, ScenarioFileName(g));
            try
            {
                File.WriteAllText(file, g.Minimal.Scenario);
            }
            catch (Exception e) when (HostFile.IsFileError(e))
            {
                throw HostFile.Error(file, e, OutAdvice);
            }
        }
    }

    private static CheckSummary RunWithProgress(ICheckRunner runner, ICheckShrinker shrinker, int jobs, CheckSpace space, TextWriter stderr)
    {
        bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        if (terminal)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            CheckSummary? result = null;
            console.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"check: {space.Entries.Count} configurations", maxValue: Math.Max(1, space.Entries.Count));
                    var sweep = new CheckSweep(runner, shrinker)
                    {
                        MaxDegreeOfParallelism = jobs,
                        Progress = p =>
                        {
                            task.Value = p.Done;
                            task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"check: {p.Done}/{p.Total}, {p.Failures} failed"));
                        },
                    };
                    result = sweep.Run(space);
                    task.Value = task.MaxValue;
                });
            return result!;
        }
        // Not a terminal: a plain line at most every 10 seconds, so a log shows the sweep moving without flooding.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double last = 0;
        var plain = new CheckSweep(runner, shrinker)
        {
            MaxDegreeOfParallelism = jobs,
            Progress = p =>
            {
                double now = clock.Elapsed.TotalSeconds;
                if (now - last < 10 || p.Done == p.Total) return;
                last = now;
                stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gupsim: check: {p.Done}/{p.Total} configurations ({100.0 * p.Done / p.Total:0}%), {p.Failures} failed, {now:0} s"));
            },
        };
        return plain.Run(space);
    }

    /// <summary>The text summary: one row per group, then each failing group's minimal case, then the totals.</summary>
    public static void WriteText(CheckSummary summary, TextWriter o)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(o);
        string[] head = ["ARCH", "KERNEL", "MODEL", "PLACEMENT", "PATH", "SIZE", "CONFIGS", "FAILED", "N/A", "HISTORIES", "FIRST"];
        var rows = new List<string[]>();
        foreach (var g in summary.Groups)
            rows.Add([g.Arch, g.Strategy is null ? g.Kernel : g.Kernel + "/" + g.Strategy, g.Model, g.Placement, g.Path, g.HugepageSize,
                g.Configurations.ToString(CultureInfo.InvariantCulture), g.Failures.ToString(CultureInfo.InvariantCulture),
                g.NotApplicable.ToString(CultureInfo.InvariantCulture),
                string.Create(CultureInfo.InvariantCulture, $"{g.ManifestedSeeds}/{g.Seeds}"), g.Minimal?.Kind ?? "-"]);
        var width = new int[head.Length];
        for (int c = 0; c < head.Length; c++)
        {
            width[c] = head[c].Length;
            foreach (var r in rows) width[c] = Math.Max(width[c], r[c].Length);
        }
        void Row(string[] cells)
        {
            var sb = new StringBuilder();
            for (int c = 0; c < cells.Length; c++)
            {
                bool number = c is 6 or 7 or 8 or 9;
                string cell = number ? cells[c].PadLeft(width[c]) : cells[c].PadRight(width[c]);
                sb.Append(cell);
                if (c < cells.Length - 1) sb.Append("  ");
            }
            o.WriteLine(sb.ToString().TrimEnd());
        }
        Row(head);
        foreach (var r in rows) Row(r);
        foreach (var g in summary.Groups)
        {
            if (g.Minimal is not { } m) continue;
            o.WriteLine();
            o.WriteLine($"{GroupTitle(g)}: {m.Kind}, {m.WrongEntries} wrong entries; first failure is configuration #{m.Index}, shrunk to {CheckLine.Describe(m.Configuration)}");
            if (m.Detail is not null) o.WriteLine("  " + m.Detail);
            o.WriteLine("  shown by: " + ShownBy(m));
            foreach (string line in m.Scenario.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n')) o.WriteLine("  " + line);
        }
        o.WriteLine();
        o.WriteLine(Totals(summary));
    }

    private static string I(FormattableString f) => FormattableString.Invariant(f);

    private static string Totals(CheckSummary s) =>
        I($"check: {s.Configurations} configurations in {s.Groups.Count} groups, {s.Failures} failed ({s.Groups.Count(g => g.Failures > 0)} groups)")
        + (s.NotApplicable > 0 ? I($", {s.NotApplicable} not applicable") : "") + "; "
        + I($"{s.SweepConfigurations} in the sweep") + (s.SweepConfigurations < s.SpaceConfigurations ? I($" (--budget, of {s.SpaceConfigurations})") : "")
        + (s.Shard is null ? "" : ", shard " + s.Shard) + I($", {s.Skipped} combinations skipped; {s.ElapsedSeconds:0.0} s")
        + (s.ElapsedSeconds > 0 ? I($" ({s.Configurations / s.ElapsedSeconds * 60:0} configurations/min)") : "");

    private static string ShownBy(CheckMinimalSummary m) =>
        m.GupTest ?? "the scenario only (no gup_test run shows it: gup_test GUPs the whole mapping from its first page in calls at k x n, with a boot-time pool and no fast FOLL_LONGTERM, faults its pages in (no userfaultfd), and never frees the pool)";

    private static string GroupTitle(CheckGroupSummary g) =>
        $"{g.Arch} v{g.Kernel}{(g.Strategy is null ? "" : " --strategy " + g.Strategy)} {g.Model} {g.Placement} {g.Path} {g.HugepageSize}";

    /// <summary>"Your machine": one line per huge page size and GUP path, safe or UNSAFE with the minimal case.</summary>
    private static void WriteYourMachine(CheckSummary summary, CheckSpaceOptions options, string? dir, TextWriter o)
    {
        var first = summary.Groups.Count > 0 ? summary.Groups[0] : null;
        if (first is not null)
            o.WriteLine($"Your machine: {first.Arch}, v{first.Kernel}, {first.Model} (from {options.ConfigFile}{(options.IomemFile is null ? ", the arch's default RAM layout" : ", RAM from " + options.IomemFile)})");
        var lines = CheckLine.Fold(summary.Groups);
        int labelWidth = 0;
        foreach (var l in lines) labelWidth = Math.Max(labelWidth, l.Label.Length);
        var unsafeGroups = new List<CheckGroupSummary>();
        foreach (var line in lines)
        {
            long configs = line.Configurations;
            var bad = line.FirstUnsafe;
            string head = (line.Label + ":").PadRight(labelWidth + 1);
            if (bad is null)
            {
                // Only configurations that ran count towards "safe": one that could not run on its shape checked nothing.
                long na = line.NotApplicable, ran = line.Ran;
                o.WriteLine(ran == 0
                    ? string.Create(CultureInfo.InvariantCulture, $"{head} not checked (all {configs} configuration{(configs == 1 ? "" : "s")} not applicable on this machine's shapes)")
                    : string.Create(CultureInfo.InvariantCulture, $"{head} safe ({ran} configuration{(ran == 1 ? "" : "s")}{(na > 0 ? $"; {na} not applicable" : "")})"));
                continue;
            }
            unsafeGroups.Add(bad);
            var m = bad.Minimal!;
            long failed = line.Failures;
            string where = dir is null ? "script below" : "script in " + Path.Combine(dir, ScenarioFileName(bad));
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{head} UNSAFE: {m.Kind}, {failed} of {configs} configurations failed; minimal case: {CheckLine.Describe(m.Configuration)}, {m.WrongEntries} wrong entries ({where}), shown by: {ShownBy(m)}"));
        }
        foreach (var g in unsafeGroups)
        {
            o.WriteLine();
            o.WriteLine($"{GroupTitle(g)}: minimal case");
            foreach (string line in g.Minimal!.Scenario.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n')) o.WriteLine("  " + line);
        }
        o.WriteLine();
        o.WriteLine(Totals(summary));
    }
}
